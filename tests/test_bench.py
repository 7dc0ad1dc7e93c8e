"""bench/speed.py must keep working (issue 11): its quick mode runs here so
the benchmark cannot rot. Only that it completes and that every timed pair
was verified is checked -- never a number."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import speed  # noqa: E402


def test_same_table_ignores_only_checksum_and_creator() -> None:
    table = bytes(range(48))
    other = bytearray(table)
    other[9] ^= 0xFF
    other[28:36] = b"INTL\x01\x02\x03\x04"
    assert speed.same_table(table, bytes(other)) == ""
    other[36] ^= 1
    assert "byte 36" in speed.same_table(table, bytes(other))
    assert "lengths differ" in speed.same_table(table, table + b"\0")
    for i in (8, 10, 27):
        changed = bytearray(table)
        changed[i] ^= 1
        assert f"byte {i} " in speed.same_table(table, bytes(changed))


def test_quick_run_completes_and_every_pair_is_verified(tmp_path: Path) -> None:
    out = tmp_path / "speed.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "speed.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    pairs = result["pairs"]
    assert pairs
    for p in pairs:
        assert p["verified"], p
        assert len(p["ours_ms"]) == result["runs"], p
        if p["against"]:
            assert len(p["other_ms"]) == result["runs"], p
    for row in result["not_paired"]:
        assert row["why"], row
    # The printed table carries one line per timed pair.
    assert proc.stdout.count("\n| ") >= len(pairs)
    if shutil.which("iasl"):
        # Debian's iasl compiles and disassembles every IORT workload (all
        # revision 0): each must then have been paired with it.
        for key in {p["work"] for p in pairs}:
            if "viot" in key or key.startswith("curve-yaml"):
                continue
            against = {p["against"] for p in pairs if p["work"] == key}
            assert any(a.startswith("iasl") for a in against), (key, against)
