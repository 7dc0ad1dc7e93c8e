"""Our DMAR decode against ACPICA's `iasl -d`, field by field: every field
iasl prints (offset, size, value) must start and end on our own field
boundaries, and its value must be what our text view shows for the bytes
it covers (iasl sometimes merges fields ours keep apart: the scope's
Flags+Reserved word, a PCI path's device,function pair). iasl must reach
every structure it knows: bookworm's 20200925 stops at the first SATC or
SIDP ("Unknown DMAR subtable type 0x5"), trixie's 20250404 knows all
seven. Shared with tests/test_ivrs_iasl.py. (decode -f dsl against iasl:
tests/test_x86_dsl.py.)"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acpitables import api
from acpitables.formats import render
from guest.tools import trixie_tool

pytestmark = pytest.mark.iasl
ROOT = Path(__file__).resolve().parents[1]
LINUXHW = ROOT.parent / "shared" / "corpus" / "linuxhw"
LINE = re.compile(r"^\[([0-9A-F]+)h \d+\s+([0-9A-F]+h|\d+)\]\s+(.*?)\s+: (.*?)\s*$")


def iasls() -> dict[str, tuple[list[str] | None, str]]:
    system = shutil.which("iasl")
    return {"system": ([system], "") if system else
            (None, "no iasl on PATH (apt-get install acpica-tools)"),
            "trixie": trixie_tool("iasl")}


IASLS = iasls()


def rows(text: str) -> list[tuple[int, int, str, str]]:
    """(offset, size, label, value) of every `[off dec len] Label : Value` line."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            off, size, label, value = m.groups()
            size = int(size[:-1], 16) if size.endswith("h") else int(size)
            out.append((int(off, 16), size, label, value))
    return out


def value_bytes(value: str, size: int) -> bytes | None:
    """The bytes a printed value stands for, or None when it is no plain
    value (iasl's 'decoded below' words are integers too)."""
    value = re.sub(r"\s*\[.*\]$", "", value)     # "0000 [Hardware Unit Definition]"
    if value.startswith('"') and value.endswith('"'):
        return value[1:-1].encode("latin-1").ljust(size, b"\0")
    if re.fullmatch(r"[0-9A-F]{2}(,[0-9A-F]{2})+", value):   # PCI Path : 1C,04
        return bytes.fromhex(value.replace(",", ""))
    if re.fullmatch(r"[0-9A-F]{2}( [0-9A-F]{2})+", value):
        return bytes.fromhex(value)
    if re.fullmatch(r"[0-9A-F]+", value) and size <= 8:
        return int(value, 16).to_bytes(size, "little")
    return None


def compare(data: bytes, argv: list[str], tmp_path: Path) -> tuple[int, list[str], list]:
    """(fields compared, mismatches, iasl's rows)."""
    decoded = api.decode(data)
    aml = tmp_path / "t.aml"
    aml.write_bytes(data[:decoded.size])
    subprocess.run(argv + ["-d", str(aml)], capture_output=True, cwd=tmp_path, timeout=60)
    theirs = rows((tmp_path / "t.dsl").read_text(errors="replace"))
    ours = [r for r in rows(render.text(decoded)) if r[1]]
    by_start = {}
    for off, size, label, value in ours:
        by_start.setdefault(off, (size, value))
    raw = [(n.offset, n.offset + len(n.fields["data"])) for n in decoded.table.nodes if n.raw]
    compared, bad = 0, []
    for off, size, label, value in theirs:
        if any(lo < off < hi for lo, hi in raw):
            continue                    # a node we keep as bytes: nothing of ours to compare
        if label in ("Checksum", "Asl Compiler ID", "Asl Compiler Revision", "Oem ID") \
                or off < 36:
            continue
        if label == "UID" and by_start.get(off, (size,))[0] < size:
            continue                    # 20250404 reads an integer UID as 8 bytes, whatever
                                        # UID Length says (docs/ivrs.md section 4)
        want = value_bytes(value, size)
        if want is None or len(want) != size:
            continue
        got, pos = b"", off
        while pos < off + size and pos in by_start:
            osize, ovalue = by_start[pos]
            piece = value_bytes(ovalue, osize)
            if piece is None:
                break
            got += piece
            pos += osize
        if pos != off + size:
            bad.append(f"0x{off:X} {label} ({size} bytes): no field of ours ends at "
                       f"0x{off + size:X}")
            continue
        compared += 1
        if got != want:
            bad.append(f"0x{off:X} {label}: iasl {value}, ours {got.hex()}")
    return compared, bad, theirs


def known_to(which: str, signature: str) -> frozenset[int]:
    """Structure types the iasl release disassembles."""
    if signature == "DMAR":
        return frozenset(range(5) if which == "system" else range(7))
    return frozenset({0x10, 0x11, 0x20, 0x21, 0x22} | ({0x40} if which == "trixie" else set()))


def check_table(path: Path, which: str, tmp_path: Path) -> None:
    argv, why = IASLS[which]
    if argv is None:
        pytest.skip(f"{which} iasl: {why}")
    data = path.read_bytes()
    compared, bad, theirs = compare(data, argv, tmp_path)
    assert not bad, "\n".join(bad[:20])
    decoded = api.decode(data)
    starts = {off for off, _, label, _ in theirs if label == "Subtable Type"}
    known = known_to(which, decoded.table.signature)
    for node in decoded.table.nodes:
        if node.raw or node.type not in known:
            break                               # iasl stops at the first it does not know
        assert node.offset in starts, f"iasl did not reach {node.name} at 0x{node.offset:X}"
        if any(e.get("uid_format") == 1 and len(e.get("uid") or b"") < 8
               for e in node.fields.get("devices") or ()):
            break                               # 20250404: "ACPI subtable terminates early"
    assert compared >= 10, f"only {compared} fields compared"


def tables(signature: str) -> list[Path]:
    out = sorted(ROOT.glob(f"golden/{signature.lower()}/*/expected.aml"))
    if LINUXHW.is_dir():
        out += sorted(LINUXHW.glob(f"*__{signature}.bin"))
    return out


def ident(path: Path) -> str:
    return path.name if LINUXHW in path.parents else "/".join(path.parts[-3:-1])


@pytest.mark.parametrize("which", sorted(IASLS))
@pytest.mark.parametrize("path", tables("DMAR"), ids=ident)
def test_decode_matches_iasl(path, which, tmp_path):
    check_table(path, which, tmp_path)
