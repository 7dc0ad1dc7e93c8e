"""Dump formats against ACPICA's own tools (Debian acpica-tools).

ACPICA's acpidump and acpixtract are the independent evidence here: our
acpidump-text writer must print exactly what `acpidump -f FILE` prints, and
`acpixtract -a` must turn our text back into the same binaries. Multi-table
dumps and the directory layouts of `acpidump -b`, acpixtract and sysfs are
read the way those tools write them.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables.formats import acpidump
from acpitables.formats import sources
from acpitables.cli import app
from acpitables.engine.registry import TABLES as KNOWN
from guest.tools import CORPUS, REPO, system_tool

ACPIDUMP, WHY_ACPIDUMP = system_tool("acpidump")
ACPIXTRACT, WHY_ACPIXTRACT = system_tool("acpixtract")
needs_acpidump = pytest.mark.skipif(ACPIDUMP is None, reason=WHY_ACPIDUMP)
needs_acpixtract = pytest.mark.skipif(ACPIXTRACT is None, reason=WHY_ACPIXTRACT)


def _tables() -> list[Path]:
    """Every golden and corpus VIOT/IORT binary."""
    found = sorted((REPO / "golden").rglob("*.aml")) if (REPO / "golden").is_dir() else []
    if CORPUS.is_dir():
        for p in sorted(CORPUS.rglob("*")):
            if p.is_file() and p.suffix not in (".md", ".log", ".txt", ".yaml"):
                if p.read_bytes()[:4] in (b"VIOT", b"IORT"):
                    found.append(p)
    # A table whose Length does not fit its file (hw/broken) is refused by
    # acpidump ("Table length ... is too large for input file"): not a dump.
    return [p for p in found if 36 <= struct.unpack_from("<I", p.read_bytes(), 4)[0]
            <= len(p.read_bytes())]


TABLES = _tables()
IDS = [str(p.relative_to(REPO.parent)) if REPO.parent in p.parents else p.name for p in TABLES]


def _sdt(sig: bytes, body: bytes, oem_table_id: bytes = b"TESTTABL") -> bytes:
    """A well-formed table of another signature (AML-like body), made here so
    that multi-table dumps hold tables we do not decode."""
    hdr = struct.pack("<4sIBB6s8sI4sI", sig, 36 + len(body), 2, 0, b"ACPITB", oem_table_id, 1,
                      b"TEST", 1)
    blob = bytearray(hdr + body)
    blob[9] = (-sum(blob)) & 0xFF
    return bytes(blob)


SSDT_A = _sdt(b"SSDT", bytes.fromhex("08414243440a01"), b"SSDTONE ")  # Name (ABCD, 1)
SSDT_B = _sdt(b"SSDT", bytes.fromhex("08454647480a02"), b"SSDTTWO ")  # Name (EFGH, 2)
MCFG = _sdt(b"MCFG", bytes(8) + struct.pack("<QHBBI", 0xB0000000, 0, 0, 0xFF, 0))


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, timeout=60)


def test_there_are_tables_to_check():
    if not CORPUS.is_dir() and not (REPO / "golden").is_dir():
        pytest.skip(f"no corpus at {CORPUS} and no golden/ directory")
    assert TABLES, "the corpus and golden/ hold no VIOT/IORT binary"


@needs_acpidump
@pytest.mark.parametrize("path", TABLES, ids=IDS)
def test_writer_is_byte_identical_to_acpidump_f(path, tmp_path):
    data = path.read_bytes()
    # acpidump -f prints Length bytes of a file; give it exactly one table.
    length = struct.unpack_from("<I", data, 4)[0]
    one = tmp_path / "table.dat"
    one.write_bytes(data[:length])
    got = _run([ACPIDUMP, "-f", str(one)])
    assert got.returncode == 0, got.stderr.decode(errors="replace")
    blob = one.read_bytes()
    assert acpidump.format_table(blob[:4].decode("latin-1"), blob).encode() == got.stdout


@needs_acpixtract
@pytest.mark.parametrize("path", TABLES, ids=IDS)
def test_acpixtract_turns_our_text_back_into_the_binary(path, tmp_path):
    data = path.read_bytes()
    data = data[:struct.unpack_from("<I", data, 4)[0]]
    sig = data[:4].decode()
    (tmp_path / "dump.txt").write_text(acpidump.format_table(sig, data))
    got = _run([ACPIXTRACT, "-a", "dump.txt"], cwd=tmp_path)
    assert got.returncode == 0, got.stdout.decode(errors="replace")
    assert (tmp_path / f"{sig.lower()}.dat").read_bytes() == data


def _ours(pairs: list[tuple[str, bytes]]) -> tuple[list[str], list[bytes], list[str]]:
    """(names picked, blobs picked, names skipped) for (name, blob) pairs by
    the signatures this build of acpitables registers (IORT joins VIOT once
    acpitables/iort.py is registered)."""
    picked = [(n, b) for n, b in pairs if b[:4].decode() in KNOWN]
    return ([n for n, _ in picked], [b for _, b in picked],
            [n for n, b in pairs if b[:4].decode() not in KNOWN])


def _corpus_pair() -> tuple[bytes, bytes]:
    viot = CORPUS / "qemu" / "x86-q35__VIOT.viot"
    iort = CORPUS / "qemu" / "aarch64-virt__IORT"
    if not (viot.exists() and iort.exists()):
        pytest.skip(f"corpus tables {viot.name}/{iort.name} not under {CORPUS}")
    return viot.read_bytes(), iort.read_bytes()


@needs_acpidump
def test_whole_machine_dump_picks_viot_and_iort_and_names_the_rest(tmp_path):
    viot, iort = _corpus_pair()
    files = []
    for name, blob in [("s1.aml", SSDT_A), ("viot.aml", viot), ("s2.aml", SSDT_B),
                       ("iort.aml", iort), ("mcfg.aml", MCFG)]:
        (tmp_path / name).write_bytes(blob)
        files += ["-f", str(tmp_path / name)]
    got = _run([ACPIDUMP, *files])
    assert got.returncode == 0
    dump = tmp_path / "machine.txt"
    dump.write_bytes(got.stdout)

    names, blobs, skipped = _ours([("SSDT", SSDT_A), ("VIOT", viot), ("SSDT2", SSDT_B),
                                   ("IORT", iort), ("MCFG", MCFG)])
    src = sources.read(str(dump))
    assert [blob for _, blob in src.tables] == blobs
    assert src.skipped == skipped
    assert [name.rsplit(":", 1)[1] for name, _ in src.tables] == names
    assert sources.read(str(dump), "VIOT").tables[0][1] == viot

    # decode --format acpidump writes the picked tables exactly as acpidump
    # -f prints them, and says on stderr what it skipped.
    only = _run([ACPIDUMP] + [a for n in names for a in ("-f", str(tmp_path / f"{n.lower()}.aml"))])
    result = CliRunner().invoke(app, ["decode", str(dump), "--format", "acpidump"])
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == only.stdout
    assert f"skipped {', '.join(skipped)}" in result.stderr


@needs_acpixtract
def test_acpixtract_directory_is_read(tmp_path):
    viot, iort = _corpus_pair()
    text = "".join(acpidump.format_table(sig, blob) for sig, blob in
                   [("SSDT", SSDT_A), ("VIOT", viot), ("SSDT", SSDT_B), ("IORT", iort)])
    (tmp_path / "dump.txt").write_text(text)
    out = tmp_path / "x"
    out.mkdir()
    got = _run([ACPIXTRACT, "-a", "../dump.txt"], cwd=out)
    assert got.returncode == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["iort.dat", "ssdt1.dat", "ssdt2.dat", "viot.dat"]  # acpixtract's naming
    _, blobs, skipped = _ours([("iort.dat", iort), ("ssdt1.dat", SSDT_A),
                               ("ssdt2.dat", SSDT_B), ("viot.dat", viot)])
    src = sources.read(str(out))
    assert sorted(blob for _, blob in src.tables) == sorted(blobs)
    assert sorted(src.skipped) == skipped


@needs_acpidump
def test_acpidump_b_directory_is_read(tmp_path):
    viot, iort = _corpus_pair()
    for name, blob in [("viot.aml", viot), ("iort.aml", iort), ("ssdt.aml", SSDT_A)]:
        (tmp_path / name).write_bytes(blob)
    out = tmp_path / "b"
    out.mkdir()
    got = _run([ACPIDUMP, "-b", "-f", "../viot.aml", "-f", "../iort.aml", "-f", "../ssdt.aml"],
               cwd=out)
    assert got.returncode == 0, got.stderr
    assert sorted(p.name for p in out.iterdir()) == ["iort.dat", "ssdt.dat", "viot.dat"]
    # A second instance is numbered from 1 by acpidump -b (ssdt1.dat); we
    # cannot make acpidump write one from files, so place it by that rule.
    (out / "ssdt1.dat").write_bytes(SSDT_B)
    _, blobs, skipped = _ours([("iort.dat", iort), ("ssdt.dat", SSDT_A),
                               ("ssdt1.dat", SSDT_B), ("viot.dat", viot)])
    src = sources.read(str(out))
    assert sorted(blob for _, blob in src.tables) == sorted(blobs)
    assert sorted(src.skipped) == skipped


def test_sysfs_directory_with_numbered_instances_is_read(tmp_path):
    """Linux names repeated tables VIOT1, VIOT2 ... (drivers/acpi/sysfs.c);
    as QEMU appends an -acpitable VIOT after its own, a guest shows two."""
    viot, iort = _corpus_pair()
    second = bytearray(viot)
    second[10:16] = b"OTHER "
    second[9] = 0
    second[9] = (-sum(second)) & 0xFF
    for name, blob in [("VIOT1", viot), ("VIOT2", bytes(second)), ("IORT", iort),
                       ("SSDT1", SSDT_A), ("SSDT2", SSDT_B), ("MCFG", MCFG)]:
        (tmp_path / name).write_bytes(blob)
    (tmp_path / "dynamic").mkdir()
    names, blobs, skipped = _ours([("IORT", iort), ("MCFG", MCFG), ("SSDT1", SSDT_A),
                                   ("SSDT2", SSDT_B), ("VIOT1", viot), ("VIOT2", bytes(second))])
    src = sources.read(str(tmp_path))
    assert sorted(Path(name).name for name, _ in src.tables) == names
    assert sorted(blob for _, blob in src.tables) == sorted(blobs)
    assert sorted(src.skipped) == skipped
    only = sources.read(str(tmp_path), "VIOT")
    assert [blob for _, blob in only.tables] == [viot, bytes(second)]


@needs_acpidump
def test_decode_format_acpidump_of_several_tables_matches_acpidump(tmp_path):
    viot, _ = _corpus_pair()
    second = bytearray(viot)
    second[10:16] = b"OTHER "
    second[9] = 0
    second[9] = (-sum(second)) & 0xFF
    (tmp_path / "VIOT1").write_bytes(viot)
    (tmp_path / "VIOT2").write_bytes(bytes(second))
    want = _run([ACPIDUMP, "-f", str(tmp_path / "VIOT1"), "-f", str(tmp_path / "VIOT2")])
    result = CliRunner().invoke(app, ["decode", str(tmp_path), "--format", "acpidump"])
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == want.stdout
