"""RIMT against ACPICA's iasl 20250404 (trixie's acpica-tools, unpacked by
tools/provision.sh; the system iasl 20200925 predates RIMT):

* `iasl -d` of every golden table agrees with our text view field by
  field, at every offset iasl prints;
* our `decode -f dsl` compiles back with iasl to the same bytes (apart
  from the creator fields and checksum iasl always rewrites): in iasl's
  RIMT syntax where that syntax can express the layout, and in iasl's
  generic syntax (`iasl -G`) where it cannot -- a node after a root
  complex, a platform device or a wired IOMMU, a node array not at 48 --
  with the reason written at the top;
* the iasl behaviour docs/rimt.md section 2 relies on (wires never
  disassembled) still holds, so the reasons stay true."""
from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import api
from acpitables.cli import app
from acpitables.formats import render
from guest.tools import trixie_tool
from test_iort_iasl import fields
import rimt_oracle as o

pytestmark = pytest.mark.iasl
ROOT = Path(__file__).resolve().parents[1]
GOLDENS = sorted(p.parent.name for p in (ROOT / "golden" / "rimt").glob("*/expected.aml"))
# Layouts iasl's RIMT source syntax cannot express (docs/rimt.md section 2).
GENERIC = {"platform-iommu-wires": "interrupt wires",
           "two-segments": "after a root complex",
           "all-node-types": "interrupt wires"}
runner = CliRunner()


@pytest.fixture(scope="module")
def iasl() -> list[str]:
    argv, why = trixie_tool("iasl")
    if argv is None:
        pytest.skip(f"trixie iasl 20250404 (the first with RIMT): {why}")
    return argv


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=60)


def disassemble(iasl: list[str], data: bytes, tmp: Path) -> str:
    (tmp / "t.aml").write_bytes(data)
    run(iasl + ["-d", "t.aml"], tmp)
    return (tmp / "t.dsl").read_text(errors="replace")


def compile_dsl(iasl: list[str], source: str, tmp: Path, generic: bool) -> bytes:
    (tmp / "c.dsl").write_text(source)
    (tmp / "c.aml").unlink(missing_ok=True)
    done = run(iasl + (["-G"] if generic else []) + ["c.dsl"], tmp)
    assert (tmp / "c.aml").exists(), done.stdout + done.stderr
    return (tmp / "c.aml").read_bytes()


def same_but_creator(a: bytes, b: bytes) -> bool:
    # iasl writes its own creator ID / revision (28-35) and so the checksum (9)
    return len(a) == len(b) and a[:9] + a[10:28] + a[36:] == b[:9] + b[10:28] + b[36:]


def dsl_of(data: bytes, tmp: Path) -> str:
    (tmp / "in.aml").write_bytes(data)
    (tmp / "out.dsl").unlink(missing_ok=True)
    r = runner.invoke(app, ["decode", str(tmp / "in.aml"), "-f", "dsl", "-o", str(tmp / "out.dsl")])
    assert r.exit_code == 0, r.output
    return (tmp / "out.dsl").read_text()


def normal(value: str):
    """A field value as iasl or our text view prints it: a hex integer, a
    quoted string (trailing blanks are padding) or bytes ("00 00", little
    endian, as a reserved field may be shown)."""
    value = value.strip()
    quoted = re.match(r'"[^"]*"', value)
    if quoted:                  # our view may annotate: "RIMT"    [RISC-V IO Mapping Table]
        return quoted.group(0)
    value = re.sub(r"\s+\(.*\)$", "", value)     # ... 00000030    (iommu0)
    if re.fullmatch(r"[0-9A-Fa-f]+", value):
        return int(value, 16)
    if re.fullmatch(r"([0-9A-Fa-f]{2} )+[0-9A-Fa-f]{2}", value):
        return int.from_bytes(bytes.fromhex(value), "little")
    return value.rstrip()


@pytest.mark.parametrize("case", GOLDENS)
def test_iasl_disassembly_agrees_field_by_field(case, iasl, tmp_path):
    data = (ROOT / "golden" / "rimt" / case / "expected.aml").read_bytes()
    theirs, ours = fields(disassemble(iasl, data, tmp_path)), fields(render.text(api.decode(data)))
    compared, mismatched = 0, []
    for off, entries in theirs.items():
        for size, label, value in entries:
            if label in ("Checksum", "Raw Table Data"):
                continue
            mine = {s: v for s, _, v in ours.get(off, [])}
            if size not in mine:
                mismatched.append(f"0x{off:X} {label} ({size} bytes): not in our text view")
                continue
            compared += 1
            if normal(value) != normal(mine[size]):
                mismatched.append(f"0x{off:X} {label}: iasl {value}, ours {mine[size]}")
    assert not mismatched, "\n".join(mismatched)
    assert compared >= 20


def test_iasl_disassembly_omits_the_wires_we_show(iasl, tmp_path):
    data = (ROOT / "golden" / "rimt" / "platform-iommu-wires" / "expected.aml").read_bytes()
    theirs = fields(disassemble(iasl, data, tmp_path))
    ours = fields(render.text(api.decode(data)))
    wires = [0x58, 0x60, 0x68, 0x70]          # 48 + 40 + 8 * i
    assert all(off in ours for off in wires)
    assert not any(off in theirs for off in wires)
    # ... so iasl's own .dsl does not compile back: the compiler reads the
    # root complex after the IOMMU as its missing wires
    (tmp_path / "c.dsl").write_text((tmp_path / "t.dsl").read_text())
    done = run(iasl + ["c.dsl"], tmp_path)
    assert 'expected "Interrupt Number"' in done.stdout + done.stderr


def test_iasl_disassembly_of_a_lone_wired_iommu_compiles_silently_without_wires(iasl, tmp_path):
    data = o.table([o.iommu(0, b"RSCV0004", base=0x3010000, wires=[o.wire(36, 3), o.wire(37, 3)])],
                   [48])
    dsl = disassemble(iasl, data, tmp_path)
    (tmp_path / "c.dsl").write_text(dsl)
    done = run(iasl + ["c.dsl"], tmp_path)
    assert "0 Errors, 0 Warnings" in done.stdout, done.stdout
    rebuilt = (tmp_path / "c.aml").read_bytes()
    assert len(rebuilt) == len(data) - 16          # both wires gone ...
    assert rebuilt[50:52] == data[50:52]           # ... under the old Length
    # ours keeps them: RIMT syntax, wires included
    assert same_but_creator(compile_dsl(iasl, dsl_of(data, tmp_path), tmp_path, False), data)


@pytest.mark.parametrize("case", GOLDENS)
def test_our_dsl_compiles_back_to_the_same_bytes(case, iasl, tmp_path):
    data = (ROOT / "golden" / "rimt" / case / "expected.aml").read_bytes()
    source = dsl_of(data, tmp_path)
    generic = case in GENERIC
    head = "\n".join(source.splitlines()[:12])
    if generic:
        assert "iasl -G" in head and GENERIC[case] in head, head
    else:
        assert "iasl -G" not in source
        assert "Number of RIMT Nodes" in source
    assert same_but_creator(compile_dsl(iasl, source, tmp_path, generic), data)


def test_iasl_rimt_syntax_cannot_take_a_node_after_a_root_complex(iasl, tmp_path):
    """The reason the generic syntax exists: iasl's RIMT compiler reads every
    line after a root complex as ID mappings (docs/rimt.md section 2)."""
    data = (ROOT / "golden" / "rimt" / "two-segments" / "expected.aml").read_bytes()
    dsl = disassemble(iasl, data, tmp_path)
    (tmp_path / "c.dsl").write_text(dsl)
    done = run(iasl + ["c.dsl"], tmp_path)
    assert "Source ID Base" in done.stdout + done.stderr


def test_node_array_not_at_48_is_written_generic(iasl, tmp_path):
    # the QEMU table with 4 zero bytes between the header and the nodes
    nodes = o.qemu_virt_pci_iommu()[48:]
    maps = bytearray(nodes)
    maps[-8:-4] = (52).to_bytes(4, "little")        # DestOffset follows the IOMMU node
    data = o.sdt(bytes.fromhex("02000000 34000000 00000000") + bytes(4) + bytes(maps))
    api.decode(data)                                  # a valid table
    source = dsl_of(data, tmp_path)
    assert "iasl -G" in source and "48" in "\n".join(source.splitlines()[:12])
    assert same_but_creator(compile_dsl(iasl, source, tmp_path, generic=True), data)


def test_reserved_node_type_is_written_generic(iasl, tmp_path):
    unknown = bytes.fromhex("07 01 0c 00 00 00 02 00 aa bb cc dd")   # type 7, 12 bytes
    data = o.sdt(struct.pack("<III", 3, 48, 0) + o.qemu_virt_pci_iommu()[48:] + unknown)
    assert api.decode(data).table.nodes[2].raw
    source = dsl_of(data, tmp_path)
    assert "iasl -G" in source
    assert same_but_creator(compile_dsl(iasl, source, tmp_path, generic=True), data)
