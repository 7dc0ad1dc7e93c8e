"""Our IORT decode against ACPICA's `iasl -d`, field by field: every
integer or string field iasl prints at a byte offset must be what our text
view shows at that offset. Two iasls are tried: the system one (Debian
bookworm's 20200925 knows IORT revision 0 only) and trixie's (20250404:
revisions 0, 3, 5, 6) that tools/provision.sh unpacks. Each skips, with
the reason, where it is missing or too old for the table revision."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acpitables import api
from acpitables.formats import render
from conftest import CORPUS
from guest.tools import trixie_tool

pytestmark = pytest.mark.iasl
ROOT = Path(__file__).resolve().parents[1]
# First ACPICA release that disassembles each IORT table revision (spec.md 5.4).
FIRST_RELEASE = {0: 20160318, 3: 20210331, 5: 20220331, 6: 20221020, 7: 20251212}
LINE = re.compile(r"^\[([0-9A-F]+)h \d+\s+([0-9A-F]+h|\d+)\]\s+(.*?)\s+: (.*?)\s*$")


def iasls() -> dict[str, tuple[list[str] | None, str]]:
    system = shutil.which("iasl")
    return {"system": ([system], "") if system else
            (None, "no iasl on PATH (apt-get install acpica-tools)"),
            "trixie": trixie_tool("iasl")}


def iasl_version(argv: list[str]) -> int | None:
    out = subprocess.run(argv + ["-v"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"version (\d{8})", out)
    return int(found.group(1)) if found else None


IASLS = iasls()


def tables() -> list[Path]:
    out = sorted(ROOT.glob("golden/iort/*/expected.aml"))
    if CORPUS.is_dir():
        out += sorted(p for p in CORPUS.rglob("*") if p.is_file() and "broken" not in p.parts
                      and p.read_bytes()[:4] == b"IORT")
    return out


def fields(text: str) -> dict[int, list[tuple[int, str, str]]]:
    """offset -> [(size, label, value)] from `[off dec len] Label : Value` lines."""
    out: dict[int, list] = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            off, size, label, value = m.groups()
            size = int(size[:-1], 16) if size.endswith("h") else int(size)
            out.setdefault(int(off, 16), []).append((size, label, value))
    return out


def ident(path: Path) -> str:
    return str(path.relative_to(CORPUS) if CORPUS in path.parents else path.relative_to(ROOT))


@pytest.mark.parametrize("which", sorted(IASLS))
@pytest.mark.parametrize("path", tables(), ids=ident)
def test_decode_matches_iasl(path, which, tmp_path):
    data = path.read_bytes()
    decoded = api.decode(data)
    revision = decoded.table.header["revision"]
    argv, why = IASLS[which]
    if argv is None:
        pytest.skip(f"{which} iasl: {why}")
    version = iasl_version(argv)
    needed = FIRST_RELEASE.get(revision)
    if needed is None:
        pytest.skip(f"iasl refuses IORT revision {revision} (issues E/E.a/E.c are unsupported)")
    if version is None or version < needed:
        pytest.skip(f"{which} iasl {version} is too old for IORT revision {revision} "
                    f"(needs {needed})")
    aml = tmp_path / "t.aml"
    aml.write_bytes(data[:decoded.size])
    subprocess.run(argv + ["-d", str(aml)], capture_output=True, cwd=tmp_path, timeout=60)
    dsl = (tmp_path / "t.dsl").read_text(errors="replace")
    theirs, ours = fields(dsl), fields(render.text(decoded))
    compared, mismatched = 0, []
    for off, entries in theirs.items():
        for size, label, value in entries:
            if "Padding" in label or label in ("Checksum", "Memory Properties"):
                continue
            mine = {s: v for s, _, v in ours.get(off, [])}
            if re.fullmatch(r"[0-9A-F]+", value) and size <= 8:
                if size in mine and re.fullmatch(r"[0-9A-F]+", mine[size]):
                    got = int(mine[size], 16)
                elif size == 8 and 4 in mine and off + 4 in ours:  # SMMU GSIV | flags << 32
                    high = {s: v for s, _, v in ours[off + 4]}
                    got = int(high[4], 16) << 32 | int(mine[4], 16)
                else:
                    continue
                compared += 1
                if got != int(value, 16):
                    mismatched.append(f"0x{off:X} {label}: iasl {value}, ours {got:X}")
            elif value.startswith('"') and mine.get(size, '').startswith('"'):
                compared += 1
                if mine[size] != value:
                    mismatched.append(f"0x{off:X} {label}: iasl {value}, ours {mine[size]}")
    assert not mismatched, "\n".join(mismatched)
    assert compared >= 10, f"only {compared} fields compared; iasl said:\n{dsl[:2000]}"
