"""Start-up (issue 11), structurally: what a command on a small table must
not import, checked on the console entry point in a fresh interpreter, and
that running one command's app prints what the whole app prints. No timing
is asserted here (bench/speed.py measures it)."""
from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import cli
from acpitables.cli import typer_app
from acpitables.cli.params import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
VIOT = ROOT / "golden" / "viot" / "q35-pxb" / "expected.aml"
VIOT_YAML = ROOT / "examples" / "q35-virtio-iommu.yaml"

# Never needed by a command on one VIOT: the other tables' declarations, the
# iasl source writer, JSON Schema (only to explain a failing description),
# the process pool (only for several inputs), pydantic (typer's adapters:
# typer_app.PLAIN_COERCION avoids them), rich (help is plain click) and tempfile
# (-o FILE is replaced atomically through cli.commands._temp_beside).
NEVER = ("acpitables.tables.iort", "acpitables.tables.rimt", "acpitables.tables.dmar",
         "acpitables.tables.ivrs", "acpitables.formats.dsl", "jsonschema", "multiprocessing",
         "concurrent.futures", "pydantic", "rich", "tempfile")

# Runs the console entry point as `acpitables ARGS` would, then lists the
# modules of interest that were imported. -S with site-packages on the path
# (as bench/speed.py runs it): a machine's .pth start-up hooks, which may
# import anything, are not the project's.
# (It imports nothing itself: the names come as one comma-separated word.)
WRAPPER = """
import sys
names = sys.argv[1].split(",")
sys.argv = ["acpitables"] + sys.argv[2:]
from acpitables.cli import run
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
sys.stderr.write("\\nIMPORTED " + ",".join(n for n in names if n in sys.modules) + "\\n")
sys.exit(code)
"""


def imported(args: list[str], names: tuple[str, ...], cwd: Path) -> list[str]:
    dirs = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + dirs))
    env.pop("ACPITABLES_CACHE", None)
    proc = subprocess.run([sys.executable, "-S", "-c", WRAPPER, ",".join(names), *args],
                          capture_output=True, text=True, cwd=cwd, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.split(" ")[0] == "IMPORTED", proc.stderr
    return [n for n in last.partition(" ")[2].split(",") if n]


def test_fixtures_are_what_the_test_says():
    assert VIOT.read_bytes()[:4] == b"VIOT" and VIOT_YAML.read_text().startswith(
        ("table: VIOT", "#")) and "VIOT" in VIOT_YAML.read_text()


def test_decode_of_a_viot_to_text_imports_no_yaml(tmp_path):
    names = NEVER + ("yaml", "json", "acpitables.engine.schemacheck")
    assert imported(["decode", str(VIOT), "-o", "out.txt"], names, tmp_path) == []
    assert "VirtIO-PCI IOMMU" in (tmp_path / "out.txt").read_text()


def test_decode_of_a_viot_to_yaml(tmp_path):
    # formats/yamlemit.py writes a description's plain shapes itself:
    # PyYAML is not needed to write one (only to read one).
    got = imported(["decode", str(VIOT), "-f", "yaml", "-o", "out.yaml"],
                   NEVER + ("yaml",), tmp_path)
    assert got == []
    assert "table: VIOT" in (tmp_path / "out.yaml").read_text()


def test_validate_of_one_table_starts_no_pool_and_reads_no_yaml(tmp_path):
    assert imported(["validate", str(VIOT)], NEVER + ("yaml",), tmp_path) == []


def test_build_of_a_valid_viot_imports_no_jsonschema(tmp_path):
    got = imported(["build", str(VIOT_YAML), "-o", "out.aml"],
                   NEVER + ("acpitables.engine.schemacheck",), tmp_path)
    # The compiled yes/no check answered; jsonschema would only explain a failure.
    assert got == ["acpitables.engine.schemacheck"]
    assert (tmp_path / "out.aml").read_bytes()[:4] == b"VIOT"


def test_a_failing_description_still_gets_jsonschema_messages(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("table: VIOT\nbogus: 1\n")
    result = CliRunner().invoke(cli.app, ["build", str(bad), "-o", str(tmp_path / "x.aml")])
    assert result.exit_code == 1
    assert "unknown key 'bogus'" in result.output


# --- one command's app ------------------------------------------------------------

def _names(app) -> list[str]:
    return [c.name for c in app.registered_commands]


def test_a_command_name_selects_that_command_alone():
    whole = typer_app.make_app()
    assert {"decode", "validate", "build", "map", "export-dt"} <= set(_names(whole))
    assert _names(whole) == list(COMMANDS)
    one = typer_app.app_for(["acpitables", "export-dt", "x"])
    assert _names(one) == ["export-dt"]
    assert one.registered_callback.callback is whole.registered_callback.callback


@pytest.mark.parametrize("argv", [["acpitables"], ["acpitables", "--help"],
                                  ["acpitables", "--version", "decode"],
                                  ["acpitables", "decod"], ["acpitables", "export_dt"]])
def test_anything_but_a_command_name_runs_the_whole_app(argv):
    assert _names(typer_app.app_for(argv)) == list(COMMANDS)


def test_completion_runs_the_whole_app(monkeypatch):
    monkeypatch.setenv("_ACPITABLES_COMPLETE", "complete_bash")
    assert _names(typer_app.app_for(["acpitables", "decode"])) == list(COMMANDS)


@pytest.mark.parametrize("command", ["build", "decode", "validate", "summary", "schema", "map",
                                     "explain", "graph", "agree", "export-dt", "diff",
                                     "reconcile", "snapshot"])
@pytest.mark.parametrize("tail", [["--help"], [], ["--no-such-option"]])
def test_one_command_app_prints_what_the_whole_app_prints(command, tail):
    args = [command, *tail]
    whole = CliRunner().invoke(cli.app, args, prog_name="acpitables")
    one_app = typer_app.app_for(["acpitables", *args])
    assert _names(one_app) == [command]
    one = CliRunner().invoke(one_app, args, prog_name="acpitables")
    assert (one.exit_code, one.output) == (whole.exit_code, whole.output)
    if tail == ["--help"]:
        assert whole.exit_code == 0 and f"Usage: acpitables {command}" in whole.output
