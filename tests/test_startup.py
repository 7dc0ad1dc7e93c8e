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
# the process pool (only for several inputs), typer itself (the argv front
# runs a plain command line), pydantic and rich (typer's, when typer runs)
# and tempfile (-o FILE is replaced atomically through
# cli.commands._temp_beside). Nor construct: a VIOT's fixed layouts parse
# and build from their declarations (engine/fields.py) through the struct
# module. Nor inspect's own imports (ast, dis, tokenize): dataclasses
# imports inspect, the CLI leaves it to load on first use (cli._defer),
# and nothing on these paths uses it.
NEVER = ("acpitables.tables.iort", "acpitables.tables.rimt", "acpitables.tables.dmar",
         "acpitables.tables.ivrs", "acpitables.formats.dsl", "jsonschema", "multiprocessing",
         "concurrent.futures", "pydantic", "rich", "tempfile", "typer", "typer._click",
         "construct", "ast", "dis", "tokenize")

# Runs the console entry point as `acpitables ARGS` would, then lists the
# modules of interest that were imported. -S with site-packages on the path
# (as bench/speed.py runs it): a machine's .pth start-up hooks, which may
# import anything, are not the project's.
# (It imports nothing itself: the names come as one comma-separated word.)
WRAPPER = """
import os, sys
names = sys.argv[1].split(",")
sys.argv = ["acpitables"] + sys.argv[2:]
def report():
    sys.stderr.write("\\nIMPORTED " + ",".join(n for n in names if n in sys.modules) + "\\n")
    sys.stderr.flush()
# The argv front may leave by os._exit (no teardown): report then too.
real_exit = os._exit
def _exit(code):
    report()
    real_exit(code)
os._exit = _exit
from acpitables.cli import run
try:
    run()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
report()
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


# --- the library's own paths (no CLI) -------------------------------------------------
# What a command does through the library, in a fresh interpreter (-S, as
# above), and which of the modules named were imported. The CLI is left
# out: whatever parses the arguments, these are the imports the work costs.
IORT = ROOT / "golden" / "iort" / "qemu-virt-rev5-rmr" / "expected.aml"

LIB_WRAPPER = """
import sys
names = sys.argv[1].split(",")
exec(sys.argv[2], {"__name__": "__main__", "ARGS": sys.argv[3:]})
sys.stderr.write("\\nIMPORTED " + ",".join(n for n in names if n in sys.modules) + "\\n")
"""

DECODE = ("import sys\nfrom acpitables import api, formats\n"
          "d = api.decode(open(ARGS[0], 'rb').read())\n"
          "sys.stdout.write(formats.dump([d], ARGS[1]))\n")
DECODE_SOURCES = ("import sys\nfrom acpitables import api, formats\n"
                  "from acpitables.formats import sources\n"
                  "ds = [api.decode(b) for _, b in sources.read(ARGS[0]).tables]\n"
                  "sys.stdout.write(formats.dump(ds, ARGS[1]))\n")
BUILD = ("import sys\nfrom acpitables import api\n"
         "sys.stdout.buffer.write(api.build(ARGS[0]).data)\n")
# What the CLI's validate runs for one input (cli.validate, _run_batch).
VALIDATE = ("import sys\nfrom acpitables import batch\nfrom acpitables.formats import findings\n"
            "policy = batch.Policy()\n"
            "reports = [policy.apply(r) for res in batch.run(batch.expand(ARGS),\n"
            "           batch.validate_item, None) for r in res]\n"
            "sys.stdout.write(findings.render_text(reports))\n")

# Taken off these paths for issue 11 (a decode of one file reads it with
# open(); the schema generator, findings' JSON/SARIF forms and a directory
# walk import them where they are used), with what they cost: pathlib
# (with urllib.parse and ipaddress) ~4 ms, json ~2 ms, array ~0.3 ms, the
# node model (engine.nodes, with bisect) ~1.5 ms.
NOT_FOR_ONE_FILE = ("pathlib", "urllib.parse", "ipaddress", "json", "jsonschema",
                    "multiprocessing", "concurrent.futures", "tempfile", "typer", "click")
NOT_FOR_A_VIOT = ("acpitables.tables.iort", "acpitables.tables.rimt", "acpitables.tables.dmar",
                  "acpitables.tables.ivrs", "acpitables.engine.nodes", "acpitables.engine.flags",
                  "acpitables.engine.streams", "acpitables.formats.dsl", "acpitables.mapping",
                  "acpitables.cli", "construct")
# Writing: no YAML reader (PyYAML), no loader's arrays, no schema.
NOT_FOR_OUTPUT = ("yaml", "array", "acpitables.engine.schema", "acpitables.engine.schemacheck",
                  "acpitables.batch")


def library_imports(script: str, args: list[str], names: tuple[str, ...], cwd: Path) -> list[str]:
    dirs = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + dirs))
    env.pop("ACPITABLES_CACHE", None)
    proc = subprocess.run([sys.executable, "-S", "-c", LIB_WRAPPER, ",".join(names), script,
                           *args], capture_output=True, cwd=cwd, env=env, check=False)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err
    last = err.strip().splitlines()[-1]
    assert last.split(" ")[0] == "IMPORTED", err
    (cwd / "out").write_bytes(proc.stdout)
    return [n for n in last.partition(" ")[2].split(",") if n]


@pytest.mark.parametrize("fmt", ["text", "yaml"])
@pytest.mark.parametrize("script", [DECODE, DECODE_SOURCES], ids=["bytes", "sources"])
def test_library_decode_of_a_viot(tmp_path, script, fmt):
    names = NOT_FOR_ONE_FILE + NOT_FOR_A_VIOT + NOT_FOR_OUTPUT
    assert library_imports(script, [str(VIOT), fmt], names, tmp_path) == []
    out = (tmp_path / "out").read_text()
    assert ("VirtIO-PCI IOMMU" if fmt == "text" else "table: VIOT") in out


@pytest.mark.parametrize("fmt", ["text", "yaml"])
def test_library_decode_of_an_iort_imports_no_other_table(tmp_path, fmt):
    names = NOT_FOR_ONE_FILE + NOT_FOR_OUTPUT + (
        "acpitables.tables.viot", "acpitables.tables.rimt", "acpitables.tables.dmar",
        "acpitables.tables.ivrs", "acpitables.formats.dsl", "acpitables.mapping")
    assert library_imports(DECODE, [str(IORT), fmt], names, tmp_path) == []
    assert ("Root Complex" if fmt == "text" else "table: IORT") in (tmp_path / "out").read_text()


def test_library_build_of_a_viot(tmp_path):
    names = NOT_FOR_ONE_FILE + NOT_FOR_A_VIOT + ("yaml", "acpitables.engine.schemacheck")
    # PyYAML reads the description; the compiled schema check answers.
    assert library_imports(BUILD, [str(VIOT_YAML)], names, tmp_path) == [
        "yaml", "acpitables.engine.schemacheck"]
    assert (tmp_path / "out").read_bytes()[:4] == b"VIOT"


def test_library_validate_of_a_viot_table(tmp_path):
    names = NOT_FOR_ONE_FILE + NOT_FOR_A_VIOT + NOT_FOR_OUTPUT[:-1]
    assert library_imports(VALIDATE, [str(VIOT)], names, tmp_path) == []
    assert (tmp_path / "out").read_text().endswith(": ok\n")


def test_library_validate_of_a_viot_description(tmp_path):
    names = NOT_FOR_ONE_FILE + NOT_FOR_A_VIOT + ("yaml",)
    assert library_imports(VALIDATE, [str(VIOT_YAML)], names, tmp_path) == ["yaml"]
    # The example's range holds its own virtio-iommu, as QEMU writes it.
    assert (tmp_path / "out").read_text().endswith(f"{VIOT_YAML}: 1 note\n")


def test_the_library_paths_are_those_bench_startup_times():
    # bench/startup.py times these same calls (its scripts read sys.argv).
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import startup
    finally:
        sys.path.remove(str(ROOT / "bench"))
    for ours, bench in [(DECODE, startup.DECODE), (DECODE_SOURCES, startup.DECODE_SOURCES),
                        (BUILD, startup.BUILD), (VALIDATE, startup.VALIDATE)]:
        assert ours.replace("ARGS[0]", "sys.argv[1]").replace("ARGS[1]", "sys.argv[2]") \
            .replace("(ARGS)", "(sys.argv[1:])") == bench


def test_bench_startup_quick_run_completes():
    # bench/startup.py must keep working: its quick mode checks every
    # path's output before timing it. Only that it completes and prints a
    # row per path is asserted, never a number.
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "startup.py"), "--quick"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    keys = [r.split("|")[1].strip() for r in rows[1:]]
    assert keys[0] == "floor" and {"decode-viot-text", "build-viot", "validate-viot",
                                   "decode-iort30-yaml"} <= set(keys), proc.stdout


def test_a_rimt_decode_still_has_construct_where_the_struct_module_cannot(tmp_path):
    # RIMT's hardware IDs are padded strings: construct parses those. This
    # proves the probe sees construct when it is imported.
    rimt = ROOT / "golden" / "rimt"
    table = next(p for p in sorted(rimt.rglob("expected.aml")))
    got = library_imports(DECODE, [str(table), "text"], ("construct",), tmp_path)
    assert got == ["construct"], table


# --- what start-up leaves for later ------------------------------------------------------

PROBE = """
import re, sys
from acpitables.engine import yamlio
yaml = yamlio.pyyaml()
import yaml.reader
pattern = yaml.reader.Reader.NON_PRINTABLE
print(type(pattern).__name__, re.compile.__module__, re.compile.__name__)
print(pattern.search("ok\x07no").start(), pattern.search("all printable é") is None)
try:
    yaml.load("a: b\x07", Loader=yaml.SafeLoader)  # the pure-Python Reader
except yaml.reader.ReaderError as exc:
    print("refused", "#x0007" in str(exc))
"""


def test_pyyaml_reader_pattern_is_compiled_on_first_use():
    dirs = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + dirs))
    proc = subprocess.run([sys.executable, "-S", "-c", PROBE], capture_output=True, text=True,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    # Deferred (with this PyYAML: the pattern is its own), re.compile
    # restored, and the pattern still finds what PyYAML's Reader refuses.
    assert proc.stdout.split("\n")[:3] == ["_CompiledOnUse re compile", "2 True",
                                             "refused True"], proc.stdout


DEFER = """
import sys
from acpitables import cli
cli._defer("inspect")
import dataclasses
@dataclasses.dataclass
class Point:
    \"\"\"A documented data class: dataclasses needs no inspect for it.\"\"\"
    x: int
print("ast" in sys.modules, Point(1))
import inspect
print(str(inspect.signature(lambda a, b=2: a)), sys.modules["inspect"] is not None,
      "ast" in sys.modules, hasattr(inspect, "getsource"), sys.modules["inspect"].signature
      is inspect.signature)
"""


def test_a_deferred_module_loads_on_first_use():
    proc = subprocess.run([sys.executable, "-S", "-c", DEFER], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False Point(x=1)", "(a, b=2) True True True True"], \
        proc.stdout
