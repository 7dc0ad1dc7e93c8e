"""Every firmware mistake the mapper answers with a no-match or an error
has a validate finding too (issue 9 item 4): for each case, the mapper's
answer and validate's finding, both asked here of the same description."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from acpitables import api, batch
from acpitables.cli import app

HEAD = """table: IORT
revision: 6
lenient: true
nodes:
- {name: its0, type: its_group, identifiers: [0]}
- {name: smmu0, type: smmu_v3, base_address: 0x9050000, event_gsiv: 1, pri_gsiv: 2,
   gerr_gsiv: 3, sync_gsiv: 4, mappings: [{input: 0, count: 0x10000, output: its0}]}
- {name: smmu1, type: smmu_v3, base_address: 0x9060000, event_gsiv: 1, pri_gsiv: 2,
   gerr_gsiv: 3, sync_gsiv: 4, mappings: [{input: 0, count: 0x10000, output: its0}]}
- name: nc0
  type: named_component
  device_name: \\_SB_.DEV0
  memory_properties: {cache_coherency: 1, memory_flags: {coherency: true}}
  memory_address_limit: 48
"""

# (case, nc0's mappings, map arguments, the mapper's answer, validate's code)
CASES = [
    ("mapping 0 a range", "[{input: 0, count: 1, output: smmu0, output_base: 0x10}]",
     ["--device", "\\_SB_.DEV0"], "is no single mapping", "IORT-NC-MAP0-RANGE"),
    ("singles to two SMMUs", "[{single: true, output: smmu0, output_base: 1}, "
     "{single: true, output: smmu1, output_base: 2}]",
     ["--device", "\\_SB_.DEV0"], "different IOMMUs", "IORT-NC-MIXED-IOMMUS"),
    ("range past 2^32", "[{input: 0xFFFFFFF0, count: 0x20, output: smmu0}]",
     ["--device", "\\_SB_.DEV0", "--id", "0xFFFFFFF8"], "no ID mapping of nc0 covers it",
     "IORT-MAP-WRAP"),
    ("first mapping's parent NULL", "[{single: true, output: 0, output_base: 1}]",
     ["--device", "\\_SB_.DEV0"], "NULL output reference", "TABLE-REF-DANGLING"),
    ("parent not at a node start", "[{single: true, output: 0x31, output_base: 1}]",
     ["--device", "\\_SB_.DEV0"], "which is no node", "TABLE-REF-DANGLING"),
]


@pytest.mark.parametrize("case, maps, args, answer, code", CASES, ids=[c[0] for c in CASES])
def test_mapper_no_match_has_a_validate_finding(tmp_path, case, maps, args, answer, code):
    # The table's bytes, as firmware ships them (a description's raw offsets
    # are only checked once they are a table).
    path = tmp_path / "t.aml"
    path.write_bytes(api.build(HEAD + f"  mappings: {maps}\n", "<test>").data)
    result = CliRunner().invoke(app, ["map", str(path), *args], catch_exceptions=False)
    assert answer in result.stdout, result.stdout + result.stderr
    [report] = batch.validate(path)
    assert code in {f.code for f in report.findings}, [f.code for f in report.findings]
