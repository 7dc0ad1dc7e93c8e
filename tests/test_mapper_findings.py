"""Every firmware mistake the mapper answers with a no-match or an error
has a validate finding too (issue 9 item 4): for each case, the mapper's
answer and validate's finding, both asked here of the same description."""
from __future__ import annotations

import struct
from pathlib import Path

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


SMMU_SINGLE = HEAD.replace(
    "- {name: smmu1, type: smmu_v3, base_address: 0x9060000, event_gsiv: 1, pri_gsiv: 2,\n"
    "   gerr_gsiv: 3, sync_gsiv: 4, mappings: [{input: 0, count: 0x10000, output: its0}]}",
    "- {name: smmu1, type: smmu_v3, base_address: 0x9060000, event_gsiv: 1, pri_gsiv: 2,\n"
    "   gerr_gsiv: 3, sync_gsiv: 4, mappings: [{single: true, output: its0, output_base: 7}]}")
CYCLE = HEAD.replace(
    "- {name: smmu1, type: smmu_v3, base_address: 0x9060000, event_gsiv: 1, pri_gsiv: 2,\n"
    "   gerr_gsiv: 3, sync_gsiv: 4, mappings: [{input: 0, count: 0x10000, output: its0}]}",
    "- {name: smmu1, type: smmu_v3, base_address: 0x9060000, event_gsiv: 1, pri_gsiv: 2,\n"
    "   gerr_gsiv: 3, sync_gsiv: 4, mappings: [{input: 0, count: 0x10000, output: rc0}]}") + \
    "  mappings: [{single: true, output: smmu1, output_base: 1}]\n" + \
    "- {name: rc0, type: root_complex, memory_address_limit: 48,\n" + \
    "   mappings: [{input: 0, count: 0x10000, output: smmu1}]}\n"

TABLE_CASES = [
    # An SMMUv3 whose GSIVs are all wired has no DeviceID mapping: Linux
    # skips its single mapping, so the MSI walk from it finds no ITS.
    ("SMMUv3 single mapping skipped", SMMU_SINGLE, ["--device", "\\_SB_.DEV0", "--id", "0",
                                                    "--msi"], "bypass", "IORT-MAP-SINGLE"),
    # The IOMMU walk stops at smmu1; the MSI walk goes round rc0 -> smmu1 -> rc0.
    ("mapping cycle", CYCLE, ["--rid", "00:02.0", "--msi"], "loop", "IORT-MAP-CYCLE"),
]


@pytest.mark.parametrize("case, text, args, answer, code", TABLE_CASES,
                         ids=[c[0] for c in TABLE_CASES])
def test_table_mistakes_have_a_mapper_answer_and_a_finding(tmp_path, case, text, args, answer,
                                                            code):
    path = tmp_path / "t.aml"
    path.write_bytes(api.build(text, "<test>").data)
    result = CliRunner().invoke(app, ["map", str(path), *args], catch_exceptions=False)
    assert answer in result.stdout, result.stdout + result.stderr
    [report] = batch.validate(path)
    assert code in {f.code for f in report.findings}, [f.code for f in report.findings]


QEMU_VIOT = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "qemu" / \
    "aarch64-virt__VIOT"


def _patched_viot(tmp_path, at: int, values: tuple[int, ...]) -> Path:
    """QEMU's arm64 VIOT (a virtio-iommu at 0x30 and one PCI range node at
    0x40: bdf_start u16 at +12, bdf_end at +14, output_node at +16, per
    ACPI 6.5 5.2.30.2) with u16 fields overwritten."""
    data = bytearray(QEMU_VIOT.read_bytes())
    struct.pack_into(f"<{len(values)}H", data, 0x40 + at, *values)
    path = tmp_path / "viot.aml"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.skipif(not QEMU_VIOT.is_file(), reason="QEMU corpus not found")
@pytest.mark.parametrize("at, values, answer, code", [
    (12, (0x20, 0x10), "no VIOT PCI range covers it", "VIOT-RANGE-INVERTED"),
    (16, (0x40,), "output node is no VIOT IOMMU node", "TABLE-REF-DANGLING"),
], ids=["inverted range", "output node no IOMMU"])
def test_viot_mistakes_have_a_mapper_answer_and_a_finding(tmp_path, at, values, answer, code):
    path = _patched_viot(tmp_path, at, values)
    result = CliRunner().invoke(app, ["map", str(path), "--rid", "00:02.0"],
                                catch_exceptions=False)
    assert answer in result.stdout, result.stdout + result.stderr
    [report] = batch.validate(path)
    found = [f for f in report.findings if f.code == code]
    assert found and found[0].severity == "error" and found[0].offset == 0x40
