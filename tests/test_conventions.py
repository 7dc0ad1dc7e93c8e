"""Command-line conventions (issue 10 item 6) and the public API's input
rules (issue 8 item 6), each checked from the outside: exit status, what
lands on stdout/stderr, file modes, what a library user gets."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import acpitables
from acpitables.engine.registry import TABLES
from acpitables import formats
from acpitables.cli import app

ROOT = Path(__file__).resolve().parents[1]
Q35 = ROOT / "golden" / "viot" / "q35-pxb"
ARM = ROOT / "golden" / "viot" / "arm-virt"
RC = ROOT / "golden" / "iort" / "rc-bypass-to-its"
COMMANDS = ["build", "decode", "validate", "schema", "map", "agree", "export-dt", "diff"]


def run(*args: str, input: bytes | str | None = None):
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def module(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "acpitables", *args], capture_output=True,
                          env=env, timeout=120, **kw)


# --- python -m, -h, metavars ------------------------------------------------------

def test_python_dash_m_runs_the_cli():
    result = module("--version")
    assert result.returncode == 0
    assert result.stdout.decode() == f"acpitables {acpitables.__version__}\n"
    decoded = module("decode", str(Q35 / "expected.aml"))
    assert decoded.returncode == 0
    assert decoded.stdout.decode() == (Q35 / "expected.txt").read_text()


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_dash_h_is_help(command):
    args = [command] if command else []
    short, long = run(*args, "-h"), run(*args, "--help")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout
    assert "Usage: " in short.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_uses_conventional_metavars(command):
    text = run(command, "--help").stdout
    for typed in ("<str>", "<bool>", "<int>", "TEXT", "INTEGER"):
        assert typed not in text, f"{command} --help shows {typed}"
    # Every option that takes a value names it in capitals.
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") and " " in stripped.split("  ")[0]:
            metavar = stripped.split("  ")[0].split(" ", 1)[1]
            assert metavar == metavar.upper(), line


def test_decode_help_lists_every_registered_format():
    text = run("decode", "--help").stdout
    assert "text, yaml, json, acpidump, dsl, binary" in " ".join(text.split())
    assert list(formats.FORMATS) == ["text", "yaml", "json", "acpidump", "dsl", "binary"]


def test_unknown_format_is_a_usage_error():
    result = run("decode", str(Q35 / "expected.aml"), "-f", "xml")
    assert result.exit_code == 2
    assert "unknown format 'xml' (known: text, yaml, json, acpidump, dsl, binary)" in result.stderr


# --- --print-qemu-args -------------------------------------------------------------

def test_qemu_args_capture_in_a_shell(tmp_path):
    """What the README promises: -acpitable "$(... --print-qemu-args)"."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    script = (f'"{sys.executable}" -m acpitables build "{Q35 / "input.yaml"}" -o out.aml '
              '--print-qemu-args')
    out = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"-acpitable sig=VIOT,file={tmp_path / 'out.aml'}\n"


# --- file modes ---------------------------------------------------------------------

@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)
    old = os.umask(0o022)
    os.umask(old)
    yield set_mask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_honour_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert run("build", str(Q35 / "input.yaml"), "-o", str(tmp_path / "t.aml")).exit_code == 0
    assert run("decode", str(Q35 / "expected.aml"), "-o", str(tmp_path / "t.txt")).exit_code == 0
    assert mode(tmp_path / "t.aml") == expected
    assert mode(tmp_path / "t.txt") == expected


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    """libvirt runs QEMU as another user: a 0644 table rebuilt under a
    private umask must stay readable to it."""
    umask(0o077)
    target = tmp_path / "viot.aml"
    target.write_bytes(b"old")
    target.chmod(0o644)
    assert run("build", str(Q35 / "input.yaml"), "-o", str(target)).exit_code == 0
    assert target.read_bytes() == (Q35 / "expected.aml").read_bytes()
    assert mode(target) == 0o644
    target.chmod(0o640)
    assert run("decode", str(Q35 / "expected.aml"), "-f", "binary", "-o",
               str(target)).exit_code == 0
    assert mode(target) == 0o640
    if os.geteuid() == 0:  # root can keep the owner too
        os.chown(target, 12345, 54321)
        assert run("build", str(Q35 / "input.yaml"), "-o", str(target)).exit_code == 0
        assert (target.stat().st_uid, target.stat().st_gid) == (12345, 54321)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_writing_to_a_fifo_does_not_replace_it(tmp_path):
    """-o /dev/stdout, /dev/null or a FIFO is written into: an atomic
    replace would put a regular file there (as root, even at /dev/null)."""
    import threading
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = run("build", str(Q35 / "input.yaml"), "-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received == [(Q35 / "expected.aml").read_bytes()]


# --- the overwrite rule ---------------------------------------------------------------

def test_one_overwrite_rule(tmp_path, monkeypatch):
    """-o FILE replaces FILE for every command that writes; the name build
    picks itself needs --force."""
    monkeypatch.chdir(tmp_path)
    for args in (["build", str(Q35 / "input.yaml")], ["decode", str(Q35 / "expected.aml")],
                 ["export-dt", str(Q35 / "input.yaml")]):
        target = tmp_path / "out"
        target.write_text("old")
        assert run(*args, "-o", str(target)).exit_code == 0, args
        assert target.read_bytes() != b"old"
    (tmp_path / "viot.aml").write_text("old")
    refused = run("build", str(Q35 / "input.yaml"))
    assert refused.exit_code == 1
    assert "viot.aml exists" in refused.stderr
    assert (tmp_path / "viot.aml").read_text() == "old"
    assert run("build", str(Q35 / "input.yaml"), "--force").exit_code == 0
    assert (tmp_path / "viot.aml").read_bytes() == (Q35 / "expected.aml").read_bytes()


# --- '-' is stdin -------------------------------------------------------------------------

def test_build_stdin_non_utf8_is_located():
    result = run("build", "-", "-o", os.devnull, input=b"table: VIOT\niommus: [\xff]\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("<stdin>:2:10: byte 0xFF is not UTF-8 text")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_map_reads_stdin_description_and_table():
    text = (Q35 / "input.yaml").read_text()
    from_file = run("map", str(Q35 / "input.yaml"), "--all")
    assert from_file.exit_code == 0
    assert run("map", "-", "--all", input=text).stdout == from_file.stdout
    table = run("map", "-", "--all", input=(Q35 / "expected.aml").read_bytes())
    assert table.exit_code == 0
    assert table.stdout == run("map", str(Q35 / "expected.aml"), "--all").stdout


def test_map_stdin_errors_name_stdin():
    result = run("map", "-", "--all", input="table: VIOT\nbogus: 1\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("<stdin>:2:1: ")
    assert "acpitables-stdin" not in result.stderr


def test_agree_reads_stdin():
    result = run("agree", "-", str(Q35 / "expected.aml"), "--by-name",
                 input=(Q35 / "input.yaml").read_text())
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("agree: every RID")


def test_export_dt_reads_stdin():
    from_file = run("export-dt", str(Q35 / "input.yaml"))
    piped = run("export-dt", "-", input=(Q35 / "input.yaml").read_text())
    assert piped.exit_code == 0
    assert piped.stdout.replace("<stdin>", "input.yaml") == from_file.stdout


# --- export-dt --host-label ---------------------------------------------------------------

@pytest.mark.parametrize("template,why", [
    ("{", "Single '{'"),
    ("{segment:>99999999}", "a width over 31"),
    ("{segment:099999999}", "a width over 31"),
    ("pcie{bus}", "only {segment} may be replaced"),
    ("pcie{segment!r}", "only {segment} may be replaced"),
    ("{segment}", "not starting with a digit"),
    ("pcie-{segment}", "letters, digits and '_'"),
    ("{segment:x}", "not starting with a digit"),
])
def test_host_label_template_is_checked(template, why):
    result = run("export-dt", str(Q35 / "input.yaml"), "--host-label", template)
    assert result.exit_code == 2
    assert why in result.stderr
    assert result.stdout == ""


def test_host_label_template_that_works():
    result = run("export-dt", str(Q35 / "input.yaml"), "--host-label", "pci_{segment:04x}")
    assert result.exit_code == 0
    assert "&pci_0000 {" in result.stdout


# --- --acpica -----------------------------------------------------------------------------

def fake_iasl(directory: Path, version: str) -> None:
    exe = directory / "iasl"
    exe.write_text(f"#!/bin/sh\necho 'ASL+ Optimizing Compiler/Disassembler version {version}'\n")
    exe.chmod(0o755)


def test_acpica_default_is_the_installed_iasl(tmp_path, monkeypatch):
    """An RC node's flag sub-lines are newer than 20220331: the release
    decides the source, and by default it is the installed iasl's."""
    old = run("decode", str(RC / "expected.aml"), "-f", "dsl", "--acpica", "20200925").stdout
    new = run("decode", str(RC / "expected.aml"), "-f", "dsl", "--acpica", "20260408").stdout
    assert old != new
    fake_iasl(tmp_path, "20200925")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert formats.installed_acpica() == 20200925
    assert run("decode", str(RC / "expected.aml"), "-f", "dsl").stdout == old
    fake_iasl(tmp_path, "20260408")
    assert run("decode", str(RC / "expected.aml"), "-f", "dsl").stdout == new
    (tmp_path / "iasl").unlink()
    assert formats.installed_acpica() is None
    from acpitables.formats import dsl
    assert dsl.NEWEST == 20260408
    assert run("decode", str(RC / "expected.aml"), "-f", "dsl").stdout == new


@pytest.mark.parametrize("args,why", [
    (["-f", "text", "--acpica", "20200925"], "--acpica applies to dsl, not -f text"),
    (["-f", "dsl", "--acpica", "2020"], "is not an ACPICA release"),
    (["-f", "dsl", "--acpica", "20201325"], "is not an ACPICA release"),
])
def test_acpica_usage_errors(args, why):
    result = run("decode", str(RC / "expected.aml"), *args)
    assert result.exit_code == 2
    assert why in result.stderr


# --- the binary format --------------------------------------------------------------------

def test_binary_format_extracts_a_table_from_acpidump_text(tmp_path):
    dump = tmp_path / "machine.txt"
    dump.write_text(acpitables.dump([acpitables.decode(Q35 / "expected.aml"),
                                     acpitables.decode(ARM / "expected.aml")], "acpidump"))
    both = run("decode", str(dump), "-f", "binary", "-o", str(tmp_path / "x"))
    assert both.exit_code == 1
    assert "holds one table; the input has 2" in both.stderr
    out = tmp_path / "viot.bin"
    one = run("decode", str(Q35 / "expected.aml"), "-f", "binary", "-o", str(out))
    assert one.exit_code == 0
    assert out.read_bytes() == (Q35 / "expected.aml").read_bytes()


# --- the API: what a str, a Path, bytes and a file object mean ---------------------------

def test_build_accepts_path_str_bytes_and_files():
    expected = (ARM / "expected.aml").read_bytes()
    path = ARM / "input.yaml"
    text = path.read_text()
    assert acpitables.build(path).data == expected
    assert acpitables.build(str(path)).data == expected  # a str without a line break: a file
    assert acpitables.build(text).data == expected  # with line breaks: YAML text
    assert acpitables.build(text.encode()).data == expected
    with open(path, "rb") as fh:
        assert acpitables.build(fh).data == expected
    with open(path) as fh:
        assert acpitables.build(fh).data == expected
    assert acpitables.build(io.StringIO(text)).data == expected


def test_a_str_that_names_a_file_is_never_parsed_as_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "board.yaml").write_text((ARM / "input.yaml").read_text())
    assert acpitables.build("board.yaml").data == (ARM / "expected.aml").read_bytes()
    with pytest.raises(acpitables.DescriptionError) as info:
        acpitables.build("missing.yaml")
    assert str(info.value) == "missing.yaml: cannot read: No such file or directory"


def test_build_messages_name_the_file_object():
    with open(ARM / "input.yaml", "rb") as fh:
        warnings = acpitables.build(fh).warnings
    assert str(warnings[0]).startswith(f"{ARM / 'input.yaml'}:18:10: endpoints[0].bus: note[VIOT-RANGE-OWN-IOMMU]:")


def test_decode_accepts_bytes_paths_and_binary_files():
    data = (Q35 / "expected.aml").read_bytes()
    for source in (data, bytearray(data), memoryview(data), Q35 / "expected.aml",
                   str(Q35 / "expected.aml"), io.BytesIO(data)):
        assert acpitables.decode(source).data == data
    with open(Q35 / "expected.aml") as text_file, pytest.raises(acpitables.InputError) as info:
        acpitables.decode(text_file)
    assert "open the file in binary mode" in str(info.value)
    with pytest.raises(acpitables.InputError) as info:
        acpitables.decode("/nonexistent/VIOT")
    assert str(info.value) == "/nonexistent/VIOT: cannot read: No such file or directory"


def test_describe_and_validate_take_any_input():
    data = (ARM / "expected.aml").read_bytes()
    assert acpitables.describe(data) == acpitables.describe(acpitables.decode(data))
    assert acpitables.build(acpitables.describe(data)).data == data  # loaded data builds too
    table_findings = acpitables.validate(data)
    description_findings = acpitables.validate(ARM / "input.yaml")
    assert [f.field for f in table_findings] == ["bdf_start"]
    assert [f.path for f in description_findings] == ["endpoints[0].bus"]
    assert acpitables.validate(acpitables.decode(data)) == table_findings


def test_table_key_that_is_not_a_string_is_located():
    for value in ("{a: 1}", "[VIOT]"):
        with pytest.raises(acpitables.DescriptionError) as info:
            acpitables.build(f"table: {value}\n", "d.yaml")
        kind = "a mapping" if value.startswith("{") else "a list"
        known = ", ".join(TABLES)  # every registered table, in registry order
        assert str(info.value) == f"d.yaml:1:8: table: unknown table {kind} (known: {known})"


def test_dump_comes_from_the_registry():
    decoded = acpitables.decode(Q35 / "expected.aml")
    assert acpitables.dump(decoded) == (Q35 / "expected.txt").read_text()
    assert acpitables.dump(decoded, "binary") == (Q35 / "expected.aml").read_bytes()
    assert acpitables.build(acpitables.dump(decoded, "yaml")).data == decoded.data
    with pytest.raises(ValueError, match="takes no acpica option"):
        acpitables.dump(decoded, "text", acpica=20200925)
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        acpitables.dump(decoded, "xml")


def test_mapper_is_exported():
    from acpitables import mapping as mapper
    assert acpitables.for_table is mapper.for_table
    assert acpitables.Translated is mapper.Translated
    result = acpitables.for_table(acpitables.decode(Q35 / "expected.aml").table).lookup(0x10)
    assert isinstance(result, (acpitables.Translated, acpitables.Bypass, acpitables.MapError))
    assert acpitables.api.build is acpitables.build  # submodules stay reachable
    assert set(acpitables.__all__) <= set(dir(acpitables))
    for name in acpitables.__all__:
        getattr(acpitables, name)


# --- start-up: what a small command does not import ---------------------------------------

def test_small_decode_imports_only_what_it_needs():
    """Issue 11: a decode of an 88-byte VIOT pays for neither the schema
    validator, the mapper, rich, nor (where typer allows it) pydantic."""
    from acpitables.cli import typer_app
    result = module("-X", "importtime", "decode", str(ARM / "expected.aml")) if False else \
        subprocess.run([sys.executable, "-X", "importtime", "-m", "acpitables", "decode",
                        str(ARM / "expected.aml")], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    unwanted = {"jsonschema", "rich", "acpitables.mapping.results", "acpitables.formats.dsl"}
    if typer_app.PLAIN_COERCION:
        unwanted.add("pydantic")
    assert not unwanted & imported
