"""summary: per table, nodes by kind, which IOMMU translates which RIDs of
which segment, what bypasses, findings by severity. Expected values are
worked by hand from the examples' descriptions (README.md)."""
from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from acpitables import api
from acpitables.cli import app

from test_validate import unwalkable_table

ROOT = Path(__file__).resolve().parents[1]
Q35 = ROOT / "examples" / "q35-virtio-iommu.yaml"
ARM = ROOT / "examples" / "qemu-virt-iort.yaml"


def summary(*args: str):
    return CliRunner().invoke(app, ["summary", *args], catch_exceptions=False)


def test_viot_summary_json(tmp_path):
    """viommu is 00:02.0 and translates buses 0x00-0x0f and 0x30-0xff; the
    IOMMU itself and buses 0x10-0x2f bypass."""
    table = tmp_path / "viot.aml"
    table.write_bytes(api.build(Q35).data)
    result = summary(str(Q35), str(table), "-f", "json")
    assert result.exit_code == 0
    desc, tab = json.loads(result.stdout)
    assert (desc["kind"], tab["kind"]) == ("description", "table")
    for rec in (desc, tab):
        s = rec["summary"]
        assert s["nodes"] == {"VirtIO-PCI IOMMU": 1, "PCI Range": 2}
        assert s["oem_id"] == "BOCHS" and s["revision"] == 0
        seg = s["segments"]["0"]
        assert seg["translated"] == {"viommu": [{"first": 0x0000, "last": 0x000F},
                                                {"first": 0x0011, "last": 0x0FFF},
                                                {"first": 0x3000, "last": 0xFFFF}]}
        assert seg["bypass"] == [{"first": 0x0010, "last": 0x0010, "reason": "self"},
                                 {"first": 0x1000, "last": 0x2FFF, "reason": "no-match"}]
        assert seg["errors"] == []
        assert sum(rec["counts"].values()) == 1 and rec["counts"]["error"] == 0


def test_viot_summary_text(tmp_path):
    text = summary(str(Q35)).stdout.splitlines()
    assert text[0] == f"{Q35}: VIOT rev 0  OEM 'BOCHS' 'BXPC'"
    assert text[1:6] == [
        "  nodes: 1 VirtIO-PCI IOMMU, 2 PCI Range",
        "  segment 0: viommu translates 00:00.0..00:01.7, 00:02.1..0f:1f.7, buses 30-ff",
        "  segment 0: 00:02.0 bypass (self)",
        "  segment 0: buses 10-2f bypass (no-match)",
        text[5]]
    assert text[5].startswith("  findings: 0 errors, ")


def test_iort_summary_smmu_ranges_and_its_bypass():
    """smmu0 translates RIDs 0x0000-0x02ff and 0x4000-0x41ff; every other RID
    goes to the ITS (bypass_to), i.e. is not behind an IOMMU."""
    [rec] = json.loads(summary(str(ARM), "-f", "json").stdout)
    s = rec["summary"]
    assert s["nodes"] == {"ITS Group": 1, "SMMUv3": 1, "Root Complex": 1}
    seg = s["segments"]["0"]
    assert seg["translated"] == {"smmu0": [{"first": 0x0000, "last": 0x02FF},
                                           {"first": 0x4000, "last": 0x41FF}]}
    assert [(b["first"], b["last"]) for b in seg["bypass"]] == [(0x0300, 0x3FFF),
                                                                 (0x4200, 0xFFFF)]
    assert {b["reason"] for b in seg["bypass"]} == {"not-behind-iommu"}


def test_summary_of_many_inputs_keeps_going_past_a_broken_one(tmp_path):
    broken = tmp_path / "broken.aml"
    broken.write_bytes(unwalkable_table())
    result = summary(str(broken), str(Q35), "-f", "jsonl")
    assert result.exit_code == 1
    records = [json.loads(l) for l in result.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(broken), str(Q35)]
    assert records[0]["status"] == "error" and "summary" not in records[0]
    assert records[1]["summary"]["segments"]["0"]["translated"]
    text = summary(str(broken), str(Q35)).stdout
    assert text.startswith(f"{broken}: VIOT\n  ")
    assert text.splitlines()[1].count(": error[") == 1  # PLACE: severity[CODE]: message
    assert "\n  findings: 1 error, " in text
