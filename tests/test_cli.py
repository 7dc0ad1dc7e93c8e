"""The command line: build/decode/validate/schema through typer's CliRunner,
plus the real console script in a subprocess (and on a pseudo-terminal)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import api
from acpitables.formats import acpidump
from acpitables.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "golden" / "viot"
Q35 = GOLDEN / "q35-pxb"
ARM = GOLDEN / "arm-virt"
BAD = "table: VIOT\niommus:\n  - name: v\n    pci: '00:01.0'\nendpoints:\n  - bus: 1\n    iommu: w\n"


def run(*args: str, input: bytes | str | None = None):
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def bad_description(tmp_path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


# --- build -----------------------------------------------------------------------

def test_build_to_file(tmp_path):
    out = tmp_path / "viot.aml"
    result = run("build", str(Q35 / "input.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == (Q35 / "expected.aml").read_bytes()
    assert result.stdout == ""


def test_build_reports_warnings_and_succeeds(tmp_path):
    out = tmp_path / "viot.aml"
    result = run("build", str(ARM / "input.yaml"), "-o", str(out))
    assert result.exit_code == 0
    assert f"{ARM / 'input.yaml'}:18:10: endpoints[0].bus: note[VIOT-RANGE-OWN-IOMMU]: range contains its own " \
           "IOMMU 0000:00:01.0" in result.stderr
    assert out.read_bytes() == (ARM / "expected.aml").read_bytes()


def test_build_default_output_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("build", str(Q35 / "input.yaml")).exit_code == 0
    assert (tmp_path / "viot.aml").read_bytes() == (Q35 / "expected.aml").read_bytes()
    # ... and it is not replaced without --force.
    (tmp_path / "viot.aml").write_bytes(b"keep")
    result = run("build", str(ARM / "input.yaml"))
    assert result.exit_code == 1
    assert "viot.aml exists" in result.stderr
    assert (tmp_path / "viot.aml").read_bytes() == b"keep"
    assert run("build", str(ARM / "input.yaml"), "--force").exit_code == 0
    assert (tmp_path / "viot.aml").read_bytes() == (ARM / "expected.aml").read_bytes()


def test_failed_build_writes_nothing(tmp_path, bad_description):
    out = tmp_path / "out.aml"
    result = run("build", str(bad_description), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == (f"{bad_description}:7:12: endpoints[0].iommu: unknown IOMMU 'w' "
                             "(known: v)\n1 error; nothing written\n")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad_description]  # no temporary files either


def test_failed_build_leaves_existing_output_alone(tmp_path, bad_description):
    out = tmp_path / "out.aml"
    out.write_bytes(b"previous table")
    result = run("build", str(bad_description), "-o", str(out), "--force")
    assert result.exit_code == 1
    assert out.read_bytes() == b"previous table"


def test_every_problem_is_reported(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(BAD + "    colour: red\n  - buses: [4, 2]\n    iommu: v\n")
    result = run("build", str(path), "-o", str(tmp_path / "x.aml"))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}:7:12: endpoints[0].iommu: unknown IOMMU 'w' (known: v)"
    assert lines[1].startswith(f"{path}:8:5: endpoints[0].colour: unknown key 'colour'")
    assert lines[2] == f"{path}:9:12: endpoints[1].buses: bus range 0x4..0x2 is inverted"
    assert lines[3] == "3 errors; nothing written"


def test_build_from_stdin_to_stdout():
    result = CliRunner().invoke(app, ["build", "-", "-o", "-"],
                                input=(Q35 / "input.yaml").read_text())
    assert result.exit_code == 0
    assert result.stdout_bytes == (Q35 / "expected.aml").read_bytes()


def test_build_missing_file():
    result = run("build", "/nonexistent/board.yaml", "-o", "-")
    assert result.exit_code == 1
    assert result.stderr == ("/nonexistent/board.yaml: cannot read: No such file or directory\n"
                             "1 error; nothing written\n")


def test_print_qemu_args_on_stdout_with_an_absolute_path(tmp_path, monkeypatch):
    """`-acpitable $(acpitables build ... --print-qemu-args)` must work: the
    option on stdout, the file absolute (QEMU runs elsewhere), a comma
    doubled (QEMU's option syntax)."""
    monkeypatch.chdir(tmp_path)
    result = run("build", str(Q35 / "input.yaml"), "-o", "v,1.aml", "--print-qemu-args")
    assert result.exit_code == 0
    assert result.stdout == f"-acpitable sig=VIOT,file={tmp_path}/v,,1.aml\n"
    assert (tmp_path / "v,1.aml").read_bytes() == (Q35 / "expected.aml").read_bytes()
    refused = run("build", str(Q35 / "input.yaml"), "-o", "-", "--print-qemu-args")
    assert refused.exit_code == 2


# --- usage errors: exit 2 ----------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["decode", str(Q35 / "expected.aml"), "--bogus"],
    ["decode", str(Q35 / "expected.aml"), "-f", "nope"],
    ["build"],
    ["frobnicate"],
    ["schema", "NOPE"],
])
def test_usage_errors_exit_2(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output


# --- decode: every input kind ---------------------------------------------------------

def test_decode_raw_file_text():
    result = run("decode", str(Q35 / "expected.aml"))
    assert result.exit_code == 0
    assert result.stdout == (Q35 / "expected.txt").read_text()


def test_decode_sysfs_like_directory(tmp_path):
    shutil.copy(Q35 / "expected.aml", tmp_path / "VIOT")
    shutil.copy(ARM / "expected.aml", tmp_path / "VIOT1")
    (tmp_path / "FACP").write_bytes(b"FACP" + bytes(32))
    (tmp_path / "dynamic").mkdir()
    result = run("decode", str(tmp_path), "-f", "json")
    assert result.exit_code == 0
    decoded = json.loads(result.stdout)
    assert [t["header"]["length"] for t in decoded] == [112, 88]
    assert f"{tmp_path}: skipped FACP" in result.stderr
    assert f"{tmp_path / 'VIOT1'}: offset 0x40, ep0, bdf_start: note[" in result.stderr


def test_decode_sysfs_file_directly(tmp_path):
    shutil.copy(ARM / "expected.aml", tmp_path / "VIOT")
    result = run("decode", str(tmp_path / "VIOT"))
    assert result.stdout == (ARM / "expected.txt").read_text()


def test_decode_acpidump_b_directory(tmp_path):
    shutil.copy(Q35 / "expected.aml", tmp_path / "viot.dat")
    (tmp_path / "facp.dat").write_bytes(b"FACP" + bytes(32))
    result = run("decode", str(tmp_path), "-f", "text")
    assert result.exit_code == 0
    assert result.stdout == (Q35 / "expected.txt").read_text()
    assert "skipped facp.dat" in result.stderr


def test_decode_empty_directory(tmp_path):
    result = run("decode", str(tmp_path))
    assert result.exit_code == 1
    assert f"error: {tmp_path}: no VIOT" in result.stderr


def acpidump_text() -> str:
    facp = b"FACP" + (36).to_bytes(4, "little") + bytes(28)
    return (acpidump.format_table("FACP", facp, 0x7FFE0000)
            + acpidump.format_table("VIOT", (Q35 / "expected.aml").read_bytes(), 0x7FFE1000)
            + acpidump.format_table("DSDT", b"DSDT" + bytes(40), 0x7FFE2000))


def test_decode_acpidump_text_skips_other_tables(tmp_path):
    dump = tmp_path / "acpidump.txt"
    dump.write_text(acpidump_text())
    result = run("decode", str(dump))
    assert result.exit_code == 0
    assert result.stdout == (Q35 / "expected.txt").read_text()
    assert result.stderr == f"{dump}: skipped FACP, DSDT\n"


def test_decode_acpidump_text_lowercase_and_sig(tmp_path):
    dump = tmp_path / "acpidump.txt"
    dump.write_text(acpidump_text().replace("56 49 4F 54", "56 49 4f 54"))
    result = run("decode", str(dump), "--sig", "VIOT", "-f", "yaml")
    assert result.exit_code == 0
    assert api.build(result.stdout).data == (Q35 / "expected.aml").read_bytes()


def test_decode_acpidump_text_without_viot(tmp_path):
    dump = tmp_path / "acpidump.txt"
    dump.write_text(acpidump.format_table("FACP", b"FACP" + bytes(32)))
    result = run("decode", str(dump))
    assert result.exit_code == 1
    assert "holds no VIOT" in result.stderr


def test_decode_stdin_raw_and_acpidump_text():
    raw = CliRunner().invoke(app, ["decode", "-"], input=(ARM / "expected.aml").read_bytes())
    assert raw.exit_code == 0
    assert raw.stdout == (ARM / "expected.txt").read_text()
    assert "<stdin>: offset 0x40, ep0, bdf_start: note[" in raw.stderr
    text = CliRunner().invoke(app, ["decode", "-", "-f", "json"], input=acpidump_text())
    assert text.exit_code == 0
    assert json.loads(text.stdout)["header"]["oem_id"] == "BOCHS "


def test_decode_to_file_and_dash_o_dash(tmp_path):
    out = tmp_path / "decoded.txt"
    assert run("decode", str(Q35 / "expected.aml"), "-o", str(out)).exit_code == 0
    assert out.read_text() == (Q35 / "expected.txt").read_text()
    result = run("decode", str(Q35 / "expected.aml"), "-o", "-")
    assert result.stdout == out.read_text()


def test_decode_yaml_builds_back(tmp_path):
    original = ARM / "expected.aml"
    described = tmp_path / "board.yaml"
    assert run("decode", str(original), "-f", "yaml", "-o", str(described)).exit_code == 0
    text = described.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    out = tmp_path / "rebuilt.aml"
    result = run("build", str(described), "-o", str(out))
    assert result.exit_code == 0
    assert out.read_bytes() == original.read_bytes()


def test_decode_json_has_warnings():
    result = run("decode", str(ARM / "expected.aml"), "-f", "json")
    data = json.loads(result.stdout)
    assert data["checksum_ok"] is True
    assert [n["kind"] for n in data["nodes"]] == ["virtio_iommu_pci", "pci_range"]
    [warning] = data["warnings"]
    # QEMU's own-IOMMU range is deliberate: a note, with its code and source.
    assert warning == {"severity": "note", "offset": 0x40, "node": "ep0", "field": "bdf_start",
                       "message": "range contains its own IOMMU 0000:00:01.0; Linux never "
                                  "translates the IOMMU itself", "code": "VIOT-RANGE-OWN-IOMMU",
                       "source": "Linux viot_pci_dev_iommu_init"}


def test_decode_acpidump_format_round_trips():
    result = run("decode", str(Q35 / "expected.aml"), "-f", "acpidump")
    [(sig, blob)] = acpidump.parse(result.stdout)
    assert (sig, blob) == ("VIOT", (Q35 / "expected.aml").read_bytes())
    assert result.stdout.startswith("VIOT @ 0x0000000000000000\n    0000: 56 49 4F 54 70 00")


def test_decode_bad_checksum_warns_and_strict_fails(tmp_path):
    data = bytearray((Q35 / "expected.aml").read_bytes())
    data[9] ^= 0xFF
    path = tmp_path / "VIOT"
    path.write_bytes(bytes(data))
    result = run("decode", str(path))
    assert result.exit_code == 0
    assert f"{path}: offset 0x9, checksum: warning[TABLE-CHECKSUM]: checksum 0xC2 is wrong, should be 0x3D" \
        in result.stderr
    assert run("decode", str(path), "--strict").exit_code == 1


def test_decode_strict_passes_notes():
    # arm-virt's only finding is QEMU's deliberate own-IOMMU range: a note
    result = run("decode", str(ARM / "expected.aml"), "--strict")
    assert result.exit_code == 0 and "note[VIOT-RANGE-OWN-IOMMU]" in result.stderr


@pytest.mark.parametrize("content", [b"", b"VIO", b"VIOT\xff\xff\xff\xff" + bytes(40),
                                     b"\x00" * 100, b"random text\n"])
def test_decode_hostile_files_exit_1_without_traceback(tmp_path, content):
    path = tmp_path / "VIOT"
    path.write_bytes(content)
    result = CliRunner().invoke(app, ["decode", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "error:" in result.stderr


def test_decode_missing_file():
    result = run("decode", "/nonexistent/VIOT")
    assert result.exit_code == 1
    assert "error: /nonexistent/VIOT: No such file or directory" in result.stderr


# --- binary and terminals ------------------------------------------------------------

def test_binary_refused_on_a_terminal(monkeypatch):
    import importlib
    import importlib.util

    import typer.testing

    # The runners' stdout wrappers claim a terminal: typer's own, or click's
    # where this typer version still runs on an installed click.
    modules = [typer.testing]
    if importlib.util.find_spec("click") is not None:
        modules.append(importlib.import_module("click.testing"))
    for module in modules:
        if hasattr(module, "_NamedTextIOWrapper"):
            monkeypatch.setattr(module._NamedTextIOWrapper, "isatty", lambda self: True)
    result = run("build", str(Q35 / "input.yaml"), "-o", "-")
    assert result.exit_code == 2
    assert "refusing to write a binary table to a terminal" in result.stderr
    assert result.stdout_bytes == b""
    # Text is fine on a terminal.
    assert run("decode", str(Q35 / "expected.aml")).exit_code == 0


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_console_script_on_a_real_terminal(tmp_path):
    exe = shutil.which("acpitables") or pytest.skip("console script not installed")
    primary, secondary = os.openpty()
    try:
        proc = subprocess.run([exe, "build", str(Q35 / "input.yaml"), "-o", "-"],
                              stdout=secondary, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(secondary)
    os.close(primary)
    assert proc.returncode == 2
    assert b"refusing to write a binary table to a terminal" in proc.stderr


def test_console_script(tmp_path):
    exe = shutil.which("acpitables") or pytest.skip("console script not installed")
    out = tmp_path / "viot.aml"
    proc = subprocess.run([exe, "build", str(Q35 / "input.yaml"), "-o", str(out)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([exe, "decode", "-", "-f", "text"], input=out.read_bytes(),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.decode() == (Q35 / "expected.txt").read_text()
    proc = subprocess.run([exe, "decode", "-", "--bogus"], capture_output=True, timeout=60)
    assert proc.returncode == 2
    proc = subprocess.run([exe, "decode", "-"], input=b"VIOT\x00", capture_output=True,
                          timeout=60)
    assert proc.returncode == 1
    assert b"Traceback" not in proc.stderr


# --- validate and schema ------------------------------------------------------------------

def test_validate_description_and_table(bad_description):
    ok = run("validate", str(Q35 / "input.yaml"))
    assert ok.exit_code == 0
    assert ok.stdout == f"{Q35 / 'input.yaml'}: ok\n"
    warned = run("validate", str(ARM / "input.yaml"))
    assert warned.exit_code == 0 and "1 note" in warned.stdout
    # QEMU's own-IOMMU range is a note: --strict (warnings) passes, --fail-on note fails.
    assert run("validate", str(ARM / "input.yaml"), "--strict").exit_code == 0
    assert run("validate", str(ARM / "input.yaml"), "--fail-on", "note").exit_code == 1
    assert run("validate", str(ARM / "expected.aml"), "--fail-on", "note").exit_code == 1
    assert run("validate", str(Q35 / "expected.aml")).exit_code == 0
    bad = run("validate", str(bad_description))
    assert bad.exit_code == 1 and "unknown IOMMU 'w'" in bad.stdout


def test_schema_prints_valid_json():
    result = run("schema", "VIOT")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["properties"]["table"]["const"] == "VIOT"
    assert Path(run("schema", "viot", "--path").stdout.strip()).is_file()


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("acpitables ")


def test_decode_acpidump_text_with_a_gap_is_refused(tmp_path):
    lines = acpidump_text().splitlines()
    dump = tmp_path / "acpidump.txt"
    dump.write_text("\n".join(l for l in lines if not l.startswith("    0010: 42 58")) + "\n")
    result = run("decode", str(dump))
    assert result.exit_code == 1
    assert "offset 0x20 does not follow the 16 bytes read so far" in result.stderr


def test_decode_acpidump_text_with_wide_offsets(tmp_path):
    text = acpidump.format_table("VIOT", (Q35 / "expected.aml").read_bytes())
    wide = "\n".join(l.replace("    00", "000000", 1) if l.startswith("    ") else l
                     for l in text.splitlines())
    assert "00000010: " in wide
    dump = tmp_path / "dump.txt"
    dump.write_text(wide + "\n")
    assert run("decode", str(dump)).stdout == (Q35 / "expected.txt").read_text()


def test_acpidump_text_with_trailing_spaces_trimmed(tmp_path):
    """Dumps pasted into bug reports often lose their trailing spaces: the
    last byte of each line (and of a short last line) must still be read."""
    blob = (Q35 / "expected.aml").read_bytes()
    text = acpidump.format_table("VIOT", blob)
    trimmed = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    assert trimmed != text
    dump = tmp_path / "dump.txt"
    dump.write_text(trimmed)
    out = tmp_path / "back.yaml"
    assert run("decode", str(dump), "-f", "yaml", "-o", str(out)).exit_code == 0
    assert api.build(out.read_text()).data == blob


def test_map_says_what_it_expected_for_junk(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(0x80, 0x100)) * 4)
    result = run("map", str(junk), "--all")
    assert result.exit_code == 1
    assert "nor a Devicetree (.dts/.dtb) or a YAML description" in result.stderr
    assert "codec" not in result.stderr


def test_a_description_whose_file_name_holds_a_line_break_is_read_as_a_file(tmp_path):
    # api.build reads a str with a line break as YAML text; a command-line
    # operand is always a file name.
    odd = tmp_path / "odd\nname.yaml"
    odd.write_text((ROOT / "examples" / "q35-virtio-iommu.yaml").read_text())
    out = tmp_path / "out.aml"
    result = CliRunner().invoke(app, ["build", str(odd), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == api.build(odd).data
    result = CliRunner().invoke(app, ["diff", str(odd), str(out)])
    assert result.exit_code == 0, result.output


def test_a_file_name_that_is_not_utf8_comes_out_as_its_bytes(tmp_path):
    # Linux file names are bytes: a sweep over dumps named by some other
    # tool must not stop at one (it was an internal error in validate,
    # summary and decode of several inputs).
    name = os.fsdecode(b"dump\xff.aml")
    (tmp_path / name).write_bytes((ROOT / "golden" / "viot" / "q35-pxb" / "expected.aml").read_bytes())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-c", "from acpitables.cli import run; run()"]
    for args, shown in ((["validate", name], b"dump\xff.aml: ok"),
                        (["summary", name], b"dump\xff.aml: VIOT"),
                        (["decode", name, name], b"==> dump\xff.aml <=="),
                        (["map", name, name, "--all"], b"dump\xff.aml: segment 0")):
        proc = subprocess.run(cli + args, capture_output=True, cwd=tmp_path, env=env, timeout=120)
        assert proc.returncode == 0 and shown in proc.stdout, (args, proc.stderr)
    # A description says where it came from in a comment that stays UTF-8,
    # so that it builds back.
    proc = subprocess.run(cli + ["decode", name, "-f", "yaml", "-o", "d.yaml"], capture_output=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "d.yaml").read_bytes().decode("utf-8")
    assert "from dump\\xff.aml" in text
    assert api.build(tmp_path / "d.yaml").data == (tmp_path / name).read_bytes()
