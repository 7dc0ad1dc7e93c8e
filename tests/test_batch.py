"""Many inputs per run: QEMU's own tables are clean under --strict, and a
sweep over the whole corpus plus one broken table, in parallel, gives
exactly one JSON Lines record per table, in input order."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import batch
from acpitables.cli import app

from test_validate import unwalkable_table

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
QEMU = CORPUS / "qemu"

def qemu_tables() -> list:
    if not QEMU.is_dir():
        return []
    out = []
    for path in sorted(p for p in QEMU.rglob("*") if p.is_file() and p.suffix != ".md"):
        out.append(pytest.param(path, id=str(path.relative_to(QEMU))))
    return out


@pytest.mark.parametrize("path", qemu_tables())
def test_qemu_tables_clean_under_strict(path):
    """No error and no warning (notes are allowed: QEMU's deliberate choices)."""
    result = CliRunner().invoke(app, ["validate", "--strict", str(path), "-f", "json"],
                                catch_exceptions=False)
    [record] = json.loads(result.stdout)["inputs"]
    assert (record["counts"]["error"], record["counts"]["warning"]) == (0, 0), \
        [f["message"] for f in record["findings"]]
    assert result.exit_code == 0 and record["signature"] in ("IORT", "VIOT")


def test_qemu_corpus_is_all_there():
    if not QEMU.is_dir():
        pytest.skip("corpus not found")
    # current, history and unmerged (qemu/SOURCES.md lists them)
    assert {p.parent.name for p in QEMU.rglob("*__*")} == {"qemu", "history", "unmerged"}


def corpus_tables() -> list[tuple[Path, str]]:
    """Every table file in the corpus with the signature its name carries
    (<what>__<SIG>[.variant][__date_commit], <SIG>_empty.bin): file names, not
    our reader, say what is there."""
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.suffix in (".md", ".log", ".txt"):
            continue
        m = re.search(r"(?:^|__)([A-Z]{4})(?:[._]|$)", path.name)
        assert m, path
        out.append((path, m[1]))
    return out


def test_sweep_whole_corpus_plus_a_broken_table_in_parallel(tmp_path):
    if not CORPUS.is_dir():
        pytest.skip("corpus not found")
    broken = tmp_path / "broken__VIOT.bin"
    broken.write_bytes(unwalkable_table())
    expected = corpus_tables()
    assert len(expected) > 400
    result = CliRunner().invoke(app, ["validate", str(CORPUS), str(broken), "-f", "jsonl",
                                      "-j", "2"], catch_exceptions=False)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    # One record per table: the directory walk's, then the file given after it.
    assert sorted(r["input"] for r in records) == sorted([str(p) for p, _ in expected]
                                                          + [str(broken)])
    assert records[-1]["input"] == str(broken)
    assert len(records) == len(expected) + 1
    by_input = {r["input"]: r for r in records}
    for path, sig in expected:
        assert by_input[str(path)]["signature"] == sig
        # DMAR and IVRS are not registered yet: skipped, never failed.
        assert by_input[str(path)]["status"] != "unreadable", path
    assert by_input[str(broken)]["status"] == "error" and by_input[str(broken)]["failed"]
    assert result.exit_code == 1
    for r in records:
        assert set(r) >= {"input", "signature", "status", "counts", "findings"}
        assert sum(r["counts"].values()) == len(r["findings"])


def test_runner_keeps_input_order_and_isolates_failures(tmp_path):
    good = Path(__file__).resolve().parents[1] / "golden" / "viot" / "q35-pxb" / "expected.aml"
    items = []
    for i in range(9):
        p = tmp_path / f"t{i}.aml"
        p.write_bytes(unwalkable_table() if i % 3 == 1 else good.read_bytes())
        items.append(batch.Item(str(p), path=str(p)))
    items.insert(4, batch.Item("nowhere", path=str(tmp_path / "nowhere")))
    seen = []
    results = list(batch.run(items, jobs=2, progress=lambda d, t: seen.append((d, t))))
    names = [r.input for result in results for r in result]
    assert names == [i.name for i in items]
    statuses = [r.status for result in results for r in result]
    assert statuses == ["ok", "error", "ok", "ok", "unreadable", "error", "ok", "ok", "error",
                        "ok"]
    assert seen[-1] == (10, 10) and [d for d, _ in seen] == list(range(1, 11))


def test_expand_walks_directories_in_sysfs_order(tmp_path):
    for name in ("SSDT10", "SSDT2", "SSDT", "SSDT1", "APIC"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dynamic").mkdir()
    (tmp_path / "dynamic" / "SSDT3").write_bytes(b"x")
    names = [Path(i.name).relative_to(tmp_path).as_posix() for i in batch.expand([str(tmp_path)])]
    assert names == ["APIC", "SSDT", "SSDT1", "SSDT2", "SSDT10", "dynamic/SSDT3"]


def test_a_crashing_worker_becomes_a_record_in_place(tmp_path, monkeypatch):
    """A bug met on one input (here: injected) must not end a sweep."""
    good = Path(__file__).resolve().parents[1] / "golden" / "viot" / "q35-pxb" / "expected.aml"
    real = batch._reports_for_bytes

    def flaky(data, name, *args):
        if name.endswith("b.aml"):
            raise RuntimeError("boom")
        return real(data, name, *args)
    monkeypatch.setattr(batch, "_reports_for_bytes", flaky)
    items = []
    for n in ("a", "b", "c"):
        (tmp_path / f"{n}.aml").write_bytes(good.read_bytes())
        items.append(batch.Item(str(tmp_path / f"{n}.aml"), path=str(tmp_path / f"{n}.aml")))
    reports = [r for result in batch.run(items, jobs=1) for r in result]
    assert [r.status for r in reports] == ["ok", "unreadable", "ok"]
    assert reports[1].error.startswith("internal error: RuntimeError: boom")


def test_a_large_file_in_a_directory_that_is_not_ours_is_not_read(tmp_path, monkeypatch):
    (tmp_path / "firmware.img").write_bytes(b"\x7fELF" + bytes(200000))
    good = Path(__file__).resolve().parents[1] / "golden" / "viot" / "q35-pxb" / "expected.aml"
    (tmp_path / "VIOT").write_bytes(good.read_bytes())
    reads: list[tuple[str, int]] = []

    class Counting:
        def __init__(self, path, mode):
            self.path, self.fh = str(path), open(path, mode)

        def read(self, n=-1):
            reads.append((Path(self.path).name, n))
            return self.fh.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
    monkeypatch.setattr(batch, "open", Counting, raising=False)  # shadows the builtin there
    reports = [r for result in batch.run(batch.expand([str(tmp_path)]), jobs=1) for r in result]
    assert [Path(r.input).name for r in reports] == ["VIOT"]
    assert [n for name, n in reads if name == "firmware.img"] == [65536]
    assert [n for name, n in reads if name == "VIOT"] == [65536, -1]
