"""validate as a CI gate: exit codes, select/ignore/fail-on, JSON, many
inputs, stdin, and the validate API that keeps each finding's severity.

The test tables are the golden q35 VIOT (no finding at all) and copies of it
changed so that the expected outcome follows from the severity definitions
(issue 10): non-zero reserved bytes violate the spec but Linux ignores them
(a warning); an inverted BDF range makes Linux match nothing (an error); a
node count past the table end makes Linux stop parsing (an error)."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import batch
from acpitables.cli import app
from acpitables.errors import Diagnostic

ROOT = Path(__file__).resolve().parents[1]
GOOD = ROOT / "golden" / "viot" / "q35-pxb" / "expected.aml"
GOOD_YAML = ROOT / "golden" / "viot" / "q35-pxb" / "input.yaml"


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(app, ["validate", *args], input=input, catch_exceptions=False)


def fix_checksum(data: bytearray) -> bytes:
    data[9] = 0
    data[9] = (-sum(data)) & 0xFF
    return bytes(data)


def viot_nodes(data: bytes) -> list[tuple[int, int]]:
    """(offset, type) of each VIOT node, read from the bytes (VIOT header:
    node count u16 at 36, node offset u16 at 38; node: type u8, length u16
    at +2)."""
    count, pos = struct.unpack_from("<HH", data, 36)
    out = []
    for _ in range(count):
        out.append((pos, data[pos]))
        pos += struct.unpack_from("<H", data, pos + 2)[0]
    return out


def warned_table() -> bytes:
    data = bytearray(GOOD.read_bytes())
    data[40] = 0xFF  # VIOT header Reserved (8 bytes at 40)
    return fix_checksum(data)


def broken_table() -> tuple[bytes, int]:
    """An inverted BDF range in the first PCI range node; returns the bytes
    and that node's offset."""
    data = bytearray(GOOD.read_bytes())
    pos = next(off for off, t in viot_nodes(bytes(data)) if t == 1)
    struct.pack_into("<HH", data, pos + 12, 0x0200, 0x0100)  # BDF start > BDF end
    return fix_checksum(data), pos


def unwalkable_table() -> bytes:
    data = bytearray(GOOD.read_bytes())
    struct.pack_into("<H", data, 36, 200)  # node count: nodes run past the end
    return fix_checksum(data)


@pytest.fixture
def tables(tmp_path) -> dict[str, Path]:
    out = {"good": tmp_path / "good.aml", "warned": tmp_path / "warned.aml",
           "broken": tmp_path / "broken.aml", "unwalkable": tmp_path / "unwalkable.aml"}
    out["good"].write_bytes(GOOD.read_bytes())
    out["warned"].write_bytes(warned_table())
    out["broken"].write_bytes(broken_table()[0])
    out["unwalkable"].write_bytes(unwalkable_table())
    return out


# --- exit codes ---------------------------------------------------------------

def test_exit_codes_follow_severity(tables):
    assert run(str(tables["good"])).exit_code == 0
    assert run(str(tables["good"]), "--strict").exit_code == 0
    assert run(str(tables["warned"])).exit_code == 0
    assert run(str(tables["warned"]), "--strict").exit_code == 1
    assert run(str(tables["warned"]), "--fail-on", "warning").exit_code == 1
    assert run(str(tables["broken"])).exit_code == 1
    assert run(str(tables["unwalkable"])).exit_code == 1


def test_text_output_names_input_severity_place_and_code(tables):
    good = run(str(tables["good"]))
    assert good.stdout == f"{tables['good']}: ok\n"
    _, pos = broken_table()
    bad = run(str(tables["broken"]))
    line = next(l for l in bad.stdout.splitlines() if "inverted" in l)
    # errors.Diagnostic's form, the input's name first: PLACE: severity[CODE]: message
    assert line.startswith(f"{tables['broken']}: offset 0x{pos:X}, ")
    assert ", bdf_end: error[VIOT-RANGE-INVERTED]: BDF range " in line
    assert bad.stdout.splitlines()[-1].startswith(f"{tables['broken']}: 1 error")


def test_json_findings_carry_code_severity_message_offset(tables):
    result = run(str(tables["broken"]), str(tables["good"]), "-f", "json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    broken, good = doc["inputs"]
    assert [broken["input"], good["input"]] == [str(tables["broken"]), str(tables["good"])]
    assert broken["status"] == "error" and broken["failed"] is True
    assert good["status"] == "ok" and good["failed"] is False and good["findings"] == []
    _, pos = broken_table()
    errors = [f for f in broken["findings"] if f["severity"] == "error"]
    assert len(errors) == 1
    f = errors[0]
    assert {"code", "severity", "message", "offset", "node", "field", "source",
            "input"} <= set(f)
    assert f["offset"] == pos and f["field"] == "bdf_end" and f["code"]
    assert broken["counts"]["error"] == 1
    assert doc["totals"]["failed"] == 1


def test_ignore_and_select_by_code(tables):
    doc = json.loads(run(str(tables["broken"]), "-f", "json").stdout)
    code = next(f["code"] for f in doc["inputs"][0]["findings"] if f["severity"] == "error")
    assert run(str(tables["broken"]), "--ignore", code).exit_code == 0
    assert run(str(tables["broken"]), "--select", code).exit_code == 1
    # Selecting only something else hides the error, so the table passes.
    assert run(str(tables["broken"]), "--select", "NO-SUCH-CODE").exit_code == 0
    ignored = json.loads(run(str(tables["broken"]), "--ignore", code, "-f", "json").stdout)
    assert all(f["code"] != code for f in ignored["inputs"][0]["findings"])


def test_fail_on_note_fails_on_any_finding(tables):
    assert run(str(tables["good"]), "--fail-on", "note").exit_code == 0
    assert run(str(tables["warned"]), "--fail-on", "note").exit_code == 1


def test_usage_errors_exit_2(tables):
    assert run(str(tables["good"]), "--fail-on", "fatal").exit_code == 2
    assert run(str(tables["good"]), "--strict", "--fail-on", "error").exit_code == 2
    assert run(str(tables["good"]), "-j", "0").exit_code == 2


# --- code patterns --------------------------------------------------------------

def d(code, severity="error"):
    return Diagnostic(severity, "m", code=code)


def test_code_prefix_matches_at_hyphen_boundaries():
    p = batch.Policy(select=("IORT-MAP",))
    assert p.keeps(d("IORT-MAP")) and p.keeps(d("IORT-MAP-OVERLAP"))
    assert not p.keeps(d("IORT-MAPPING")) and not p.keeps(d("VIOT-RANGE-INVERTED"))
    assert batch.Policy(select=("iort-map",)).keeps(d("IORT-MAP-OVERLAP"))
    both = batch.Policy(select=("IORT-MAP", "VIOT-RANGE-INVERTED"))
    assert both.keeps(d("VIOT-RANGE-INVERTED")) and not both.keeps(d("VIOT-RANGE"))
    assert not batch.Policy(ignore=("VIOT",)).keeps(d("VIOT-RANGE-INVERTED"))
    assert batch.Policy(select=("UNCODED",)).keeps(d(None))
    assert not batch.Policy(ignore=("UNCODED",)).keeps(d(None))


def test_policy_thresholds():
    report = batch.Report("t", findings=[d("X-Y", "warning"), d("X-Z", "note")])
    assert not batch.Policy().fails(report)
    assert batch.Policy(fail_on="warning").fails(report)
    assert not batch.Policy(fail_on="warning", ignore=("X-Y",)).fails(
        batch.Policy(ignore=("X-Y",)).apply(report))
    with pytest.raises(ValueError):
        batch.Policy(fail_on="fatal")


# --- the API keeps severities -----------------------------------------------------

def test_validate_api_keeps_error_severity():
    """(api.decode's warnings list re-wraps every check finding as a
    warning; the Report keeps the check's own severity.)"""
    data, pos = broken_table()
    [report] = batch.validate(data)
    inverted = [f for f in report.findings if f.field == "bdf_end"]
    assert [f.severity for f in inverted] == ["error"] and inverted[0].offset == pos
    assert report.status == "error" and report.input == "<stdin>"


def test_validate_api_unwalkable_table_is_one_located_error():
    [report] = batch.validate(unwalkable_table())
    assert report.status == "error"
    assert [f.severity for f in report.findings] == ["error"]
    assert report.findings[0].offset is not None


def test_validate_api_description(tmp_path):
    [ok] = batch.validate(GOOD_YAML)
    assert ok.kind == "description" and ok.signature == "VIOT" and ok.status == "ok"
    bad = tmp_path / "bad.yaml"
    bad.write_text("table: VIOT\niommus:\n  - name: v\n    pci: '00:01.0'\n"
                   "endpoints:\n  - bus: 1\n    iommu: w\n")
    [report] = batch.validate(bad)
    assert report.status == "error"
    f = next(f for f in report.findings if "'w'" in f.message)
    assert (f.file, f.line, f.severity) == (str(bad), 7, "error")


# --- many inputs --------------------------------------------------------------------

def test_directory_with_a_broken_table_still_reports_the_good_ones(tmp_path):
    """Issue 9: a dump directory holding one broken table printed nothing
    for the good ones, exited 1 and named no file."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "VIOT").write_bytes(GOOD.read_bytes())
    (dump / "VIOT1").write_bytes(unwalkable_table())
    (dump / "VIOT2").write_bytes(warned_table())
    (dump / "README").write_text("not a table\n")
    result = run(str(dump), "-j", "2")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert f"{dump / 'VIOT'}: ok" in lines
    assert any(l.startswith(f"{dump / 'VIOT1'}: ") and ": error[" in l for l in lines)
    assert f"{dump / 'VIOT2'}: 1 warning" in lines
    assert not any("README" in l for l in lines)
    # sysfs order: VIOT, VIOT1, VIOT2
    verdicts = [l for l in lines if l.startswith(str(dump)) and (" ok" in l or l.endswith(("error", "warning")))]
    assert [v.split(":")[0] for v in verdicts] == [str(dump / n) for n in ("VIOT", "VIOT1", "VIOT2")]


def test_globs_files_and_unreadable_inputs(tables, tmp_path):
    missing = tmp_path / "missing.aml"
    result = run(str(tmp_path / "*.aml"), str(missing), "-f", "jsonl")
    assert result.exit_code == 1
    records = [json.loads(l) for l in result.stdout.splitlines()]
    names = [r["input"] for r in records]
    assert names == sorted(str(p) for p in tables.values()) + [str(missing)]
    by_name = {r["input"]: r for r in records}
    assert by_name[str(missing)]["status"] == "unreadable"
    assert by_name[str(tables["good"])]["status"] == "ok"
    assert by_name[str(tables["warned"])]["status"] == "warning"


def test_stdin(tables):
    result = run("-", input=broken_table()[0])
    assert result.exit_code == 1 and result.stdout.startswith("<stdin>: offset 0x")
    assert ": error[VIOT-RANGE-INVERTED]: " in result.stdout
    assert run("-", input=GOOD.read_bytes()).stdout == "<stdin>: ok\n"


def test_acpidump_text_names_every_table(tmp_path):
    from acpitables.formats import acpidump
    text = (acpidump.format_table("FACP", b"FACP" + bytes(40))
            + acpidump.format_table("VIOT", GOOD.read_bytes())
            + acpidump.format_table("VIOT", broken_table()[0]))
    path = tmp_path / "machine.txt"
    path.write_text(text)
    result = run(str(path), "-f", "jsonl")
    records = [json.loads(l) for l in result.stdout.splitlines()]
    assert [(r["input"], r["status"]) for r in records] == [
        (f"{path}:FACP", "skipped"), (f"{path}:VIOT", "ok"), (f"{path}:VIOT2", "error")]
    assert result.exit_code == 1


def test_parallel_and_serial_give_the_same_output(tables):
    args = [str(p) for p in tables.values()] * 3
    serial = run(*args, "-j", "1", "-f", "jsonl")
    parallel = run(*args, "-j", "2", "-f", "jsonl")
    assert serial.stdout == parallel.stdout and len(serial.stdout.splitlines()) == 12


def test_no_progress_bar_when_piped(tables):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", "from acpitables.cli import run; run()",
                           "validate", str(tables["good"]), str(tables["warned"])],
                          capture_output=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                              "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stderr == b""


def test_progress_bar_on_a_terminal(tables):
    import os
    import pty
    import subprocess
    import sys
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-c", "from acpitables.cli import run; run()",
                           "validate", str(tables["good"]), str(tables["warned"]), "-j", "1",
                           "-o", os.devnull], stderr=slave, stdout=subprocess.DEVNULL,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    os.close(slave)
    seen = b""
    try:
        while True:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0
    assert b"2/2" in seen


def test_json_description_findings_carry_line_column_and_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("table: VIOT\niommus:\n  - name: v\n    pci: '00:01.0'\n"
                   "endpoints:\n  - bus: 1\n    iommu: w\n")
    result = run(str(bad), str(GOOD_YAML), "-f", "json")
    assert result.exit_code == 1
    bad_rec, good_rec = json.loads(result.stdout)["inputs"]
    assert (bad_rec["kind"], bad_rec["status"], good_rec["status"]) == \
        ("description", "error", "ok")
    f = next(f for f in bad_rec["findings"] if "'w'" in f["message"])
    assert (f["file"], f["line"], f["path"], f["severity"]) == \
        (str(bad), 7, "endpoints[0].iommu", "error")
    assert f["col"] >= 1 and f["offset"] is None and "code" in f
