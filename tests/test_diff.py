"""acpitables diff: a field-level difference, like bios-tables-test's iasl diff."""
from __future__ import annotations

from typer.testing import CliRunner

from acpitables import api
from acpitables.formats import acpidump
from acpitables.formats import diff
from acpitables.cli import app

BASE = """\
table: VIOT
oem_id: BOCHS
oem_table_id: BXPC
iommus:
  - name: viommu
    pci: "00:02.0"
endpoints:
  - bus: 0x10
    iommu: viommu
  - bus: 0x30
    iommu: viommu
"""
# One more range in front (every later node moves by 24 bytes) and the last
# range moved to bus 0x31.
CHANGED = BASE.replace("  - bus: 0x10\n", "  - bus: 0x08\n    iommu: viommu\n  - bus: 0x10\n") \
              .replace("bus: 0x30", "bus: 0x31")


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_identical_tables_any_format_exit_0(tmp_path):
    data = api.build(BASE).data
    raw = tmp_path / "viot.aml"
    raw.write_bytes(data)
    dump = _write(tmp_path, "dump.txt", acpidump.format_table("VIOT", data))
    yaml = _write(tmp_path, "viot.yaml", BASE)
    for a, b in [(raw, dump), (dump, yaml), (yaml, raw)]:
        result = CliRunner().invoke(app, ["diff", str(a), str(b)])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
    assert diff.explain(data, data) == ""


def test_moved_nodes_compare_by_field_not_offset(tmp_path):
    a = _write(tmp_path, "a.yaml", BASE)
    b = _write(tmp_path, "b.yaml", CHANGED)
    result = CliRunner().invoke(app, ["diff", "-U", "50", str(a), str(b)])
    assert result.exit_code == 1, result.output
    out = result.stdout.splitlines()
    assert out[:2] == [f"--- {a}", f"+++ {b}"]
    assert any(line.startswith("@@ -") for line in out)
    # Header fields that really differ.
    assert "-[024h 0036 002h]                         Node count : 0003" in out
    assert "+[024h 0036 002h]                         Node count : 0004" in out
    # The bus-0x10 range moved from 0x40 to 0x58 but did not change: it is
    # context, with its new place noted, not a -/+ pair.
    assert (" [04Ch 0076 002h]                      PCI BDF start : 1000    (at 064h in "
            f"{b})") in out
    assert not any(line.startswith(("-", "+")) and "PCI BDF start : 1000" in line for line in out)
    # The references to the IOMMU compare by name: only the new range adds one.
    assert [line[0] for line in out if "Output node" in line] == [" ", "+", " "] or \
        [line[0] for line in out if "Output node" in line] == ["+", " ", " "], out
    # The last range's real change, each side with its own offsets.
    assert "-[064h 0100 002h]                      PCI BDF start : 3000" in out
    assert "+[07Ch 0124 002h]                      PCI BDF start : 3100" in out


def test_explain_for_test_messages():
    a, b = api.build(BASE).data, api.build(CHANGED).data
    text = diff.explain(a, b)
    assert text.startswith(f"expected ({len(a)} bytes) and actual ({len(b)} bytes) differ:\n")
    assert "+[07Ch 0124 002h]                      PCI BDF start : 3100" in text


def test_undecodable_side_falls_back_to_hex_with_the_reason():
    a = api.build(BASE).data
    b = bytearray(a)
    b[36] = 9  # node count 9: the walk runs past the end
    text = diff.unified(a, bytes(b))
    assert "+/* cannot decode:" in text
    assert "+    0020:" in text


def test_bytes_past_length_show_as_hex():
    a = api.build(BASE).data
    text = diff.unified(a, a + b"\x00\x00\x00\x00")
    assert text.startswith("--- a\n+++ b\n")


def test_usage_and_unreadable_input_exit_2(tmp_path):
    a = _write(tmp_path, "a.yaml", BASE)
    result = CliRunner().invoke(app, ["diff", str(a), str(tmp_path / "missing.aml")])
    assert result.exit_code == 2
    data = api.build(BASE).data
    two = _write(tmp_path, "two.txt", acpidump.format_table("VIOT", data) * 2)
    result = CliRunner().invoke(app, ["diff", str(a), str(two)])
    assert result.exit_code == 2
    assert "holds 2 tables" in result.stderr
    assert CliRunner().invoke(app, ["diff", str(a)]).exit_code == 2
