"""The argv front (acpitables/cli/argv.py) against typer's own parser.

The front runs plain command lines without importing typer; it must accept
only lines typer accepts, and give each command exactly the values typer
gives it. The oracle is typer (and its click) parsing the same line with
the command's function replaced by a recorder: both read the declarations,
neither shares the other's parser. Random lines change from run to run
(the seed is printed); a list of everyday lines must stay on the fast path.
"""
from __future__ import annotations

import functools
import os
import random
import site
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables.cli import argv, commands, typer_app  # noqa: F401  (commands registers)
from acpitables.cli.params import COMMANDS, Command

ROOT = Path(__file__).resolve().parents[1]
VIOT = ROOT / "golden" / "viot" / "q35-pxb" / "expected.aml"
VIOT_YAML = ROOT / "examples" / "q35-virtio-iommu.yaml"
IORT = ROOT / "golden" / "iort" / "arm-virt-smmuv3" / "expected.aml"


def typer_values(monkeypatch, line: list[str]):
    """What typer passes the command for this line, or None when typer
    refuses it (usage error, help)."""
    name = line[0]
    original = COMMANDS[name]
    seen: list[dict] = []

    @functools.wraps(original.function)
    def record(**kwargs):
        seen.append(kwargs)
    monkeypatch.setitem(COMMANDS, name, Command(name, record, original.settings))
    try:
        result = CliRunner().invoke(typer_app.make_app(name), line, prog_name="acpitables")
    finally:
        monkeypatch.setitem(COMMANDS, name, original)
    if result.exit_code != 0 or not seen:
        return None
    return seen[0]


def check(monkeypatch, line: list[str]) -> bool:
    """Assert the front agrees with typer on `line`; True when the front
    took the line itself."""
    front = argv.parse(line)
    if front is None:
        return False
    function, values = front
    assert function is COMMANDS[line[0]].function
    expected = typer_values(monkeypatch, line)
    assert expected is not None, f"the front took a line typer refuses: {line}"
    assert values == expected, line
    assert [type(v) for v in values.values()] == [type(expected[k]) for k in values], line
    return True


EVERYDAY = [
    ["decode", "t.aml"],
    ["decode", "t.aml", "-f", "yaml", "-o", "t.yaml"],
    ["decode", "--format=json", "a.aml", "b.aml", "--sig", "IORT"],
    ["decode", "-", "-f", "dsl", "--acpica", "20250404", "--strict"],
    ["decode", "/sys/firmware/acpi/tables", "-f", "binary", "-o", "-", "--force"],
    ["build", "d.yaml"],
    ["build", "d.yaml", "-o", "viot.aml", "--force", "--print-qemu-args"],
    ["validate", "t.aml"],
    ["validate", "a.aml", "b.yaml", "-f", "sarif", "--fail-on", "warning", "-j", "2"],
    ["summary", "corpus/"],
    ["schema", "VIOT"],
    ["map", "t.aml", "--rid", "00:01.0"],
    ["map", "t.aml", "--all", "-f", "json", "--segment", "1"],
    ["explain", "t.aml", "--rid", "00:01.0"],
    ["graph", "t.aml", "-o", "t.dot"],
    ["agree", "a.aml", "b.dts"],
    ["export-dt", "t.aml"],
    ["diff", "a.aml", "b.aml", "-U", "5"],
    ["reconcile", "snap.tar.gz", "-f", "json"],
    ["snapshot", "out.tar.gz"],
]


@pytest.mark.parametrize("line", EVERYDAY, ids=" ".join)
def test_everyday_lines_run_without_typer_and_as_typer_runs_them(monkeypatch, line):
    assert check(monkeypatch, line), f"the front gave {line} to typer"


def test_every_command_is_read_by_the_front():
    # A declaration the front cannot read sends the command to typer for
    # good: it would still work, only slower. Say so here instead.
    assert [n for n in COMMANDS if argv.spec(n) is None] == []


# Values chosen to sit on the edges of what either parser does.
VALUES = ["x", "-", "-x", "--force", "", "a=b", "0x10", "12", " 7", "1_0", "\u0663", "-1",
          "text", "yaml", "json", "jsonl", "sarif", "dsl", "warning", "error", "note",
          "linux", "TEXT", "00:01.0", "--", "-h", "--help", "--help=1", "=", "ç"]


def random_line(rnd: random.Random, name: str) -> list[str]:
    operands, options = argv.spec(name)
    names = list(options)
    line = [name]
    for _ in range(rnd.randrange(0, 6)):
        pick = rnd.random()
        if pick < 0.45 and names:
            opt = rnd.choice(names)
            param = options[opt]
            if param.flag:
                line.append(opt if rnd.random() < 0.9 else f"{opt}={rnd.choice(VALUES)}")
            elif opt.startswith("--") and rnd.random() < 0.3:
                line.append(f"{opt}={rnd.choice(VALUES)}")
            elif rnd.random() < 0.95:
                line += [opt, rnd.choice(VALUES)]
            else:
                line.append(opt)  # no value
        elif pick < 0.85:
            line.append(rnd.choice(VALUES) if rnd.random() < 0.3 else rnd.choice(["a", "b.aml", "-"]))
        elif pick < 0.92:
            line.append(rnd.choice(["--no-force", "--formats", "-F", "-fo", "-oout", "--sig=",
                                    "--strictly", "-"]))
        else:
            line.append(rnd.choice(VALUES))
    return line


def test_random_lines_agree_with_typer(monkeypatch):
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"argv front: seed {seed}")
    rnd = random.Random(seed)
    taken = refused = 0
    for _ in range(1500):
        line = random_line(rnd, rnd.choice(list(COMMANDS)))
        if check(monkeypatch, line):
            taken += 1
        else:
            refused += 1
    # Both kinds must occur, or the test says nothing about one of them.
    print(f"argv front: {taken} lines taken (each checked against typer), {refused} left to typer")
    assert taken > 100 and refused > 100, (taken, refused, seed)


# --- the whole process: the same output, status and messages either way --------------

def _site_env() -> dict:
    dirs = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + dirs))
    env.pop("ACPITABLES_CACHE", None)
    return env


FRONT = "from acpitables.cli import run; run()"
TYPER = "from acpitables.cli import app; app(prog_name='acpitables')"
# Runs the command as `acpitables ARGS` does and then names the typer/click
# modules that were imported, however the front leaves (sys.exit, or
# os._exit when it skips the teardown).
PROBE = """
import os, sys
sys.argv = ['acpitables'] + sys.argv[1:]
def report():
    names = sorted(m for m in sys.modules if m == 'typer' or m.startswith(('typer.', 'click')))
    sys.stderr.write('\\nTYPER ' + str(names) + '\\n')
    sys.stderr.flush()
real_exit = os._exit
def _exit(code):
    sys.stderr.write('\\nLEFT BY os._exit\\n')
    report()
    real_exit(code)
os._exit = _exit
from acpitables.cli import run
try:
    run()
except SystemExit as e:
    report()
    raise
"""


def run_both(tmp_path: Path, line: list[str], stdin: bytes = b""):
    out = []
    for code in (FRONT, TYPER):
        for leftover in ("out.txt", "out.aml", "viot.aml"):
            (tmp_path / leftover).unlink(missing_ok=True)
        proc = subprocess.run([sys.executable, "-S", "-c", code, *line], input=stdin,
                              capture_output=True, cwd=tmp_path, env=_site_env(), timeout=120)
        files = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.is_file()}
        out.append((proc.returncode, proc.stdout, proc.stderr, files))
    return out


@pytest.mark.parametrize("line, stdin", [
    (["decode", str(VIOT)], b""),
    (["decode", str(IORT), "-f", "yaml"], b""),
    (["decode", "-", "-f", "json"], VIOT.read_bytes()),
    (["decode", str(VIOT), "-o", "out.txt", "--strict"], b""),
    (["decode", "no-such-file.aml"], b""),
    (["decode", str(VIOT), "-f", "text", "--acpica", "20250404"], b""),  # usage, from the body
    (["decode", str(VIOT), "-f", "binary"], b""),  # binary to a pipe
    (["build", str(VIOT_YAML), "-o", "out.aml", "--print-qemu-args"], b""),
    (["build", str(VIOT_YAML)], b""),
    (["build", "-", "-o", "out.aml"], b"table: VIOT\nbogus: 1\n"),
    (["validate", str(VIOT), str(IORT), "-f", "json"], b""),
    (["map", str(VIOT), "--all"], b""),
    (["diff", str(VIOT), str(IORT)], b""),
])
def test_the_front_and_typer_run_a_line_alike(tmp_path, line, stdin):
    (tmp_path / "d.yaml").write_text(VIOT_YAML.read_text())
    front, typer_run = run_both(tmp_path, line, stdin)
    assert front == typer_run, line


def test_a_plain_viot_decode_imports_neither_typer_nor_click(tmp_path):
    proc = subprocess.run([sys.executable, "-S", "-c", PROBE, "decode", str(VIOT)],
                          capture_output=True, text=True, cwd=tmp_path, env=_site_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [x for x in proc.stderr.splitlines() if x][-2:] == ["LEFT BY os._exit", "TYPER []"]
    # ... while a line for typer still gets it.
    proc = subprocess.run([sys.executable, "-S", "-c", PROBE, "decode", "--help"],
                          capture_output=True, text=True, cwd=tmp_path, env=_site_env(), timeout=120)
    assert proc.returncode == 0 and "Usage: acpitables decode" in proc.stdout
    assert "'typer'" in proc.stderr.strip().splitlines()[-1]


def test_a_closed_pipe_ends_quietly():
    # `acpitables decode t.aml | true`: the reader is gone before the first
    # write; no traceback, status 1, as click's standalone mode ends it.
    for code in (FRONT, TYPER):
        cmd = f"{sys.executable} -S -c \"{code}\" decode {VIOT} | true; echo ${{PIPESTATUS[0]}}"
        proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True,
                              env=_site_env(), timeout=120)
        assert (proc.stderr, proc.stdout) == ("", "1\n"), (code, proc)


def test_exit_handlers_still_run(tmp_path):
    # The front skips the interpreter's teardown only when nothing is left
    # for it: `map -` copies stdin to a temporary folder removed at exit.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(_site_env(), TMPDIR=str(scratch))
    proc = subprocess.run([sys.executable, "-S", "-c", PROBE, "map", "-", "--all"],
                          input=VIOT.read_bytes(), capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.decode().strip().splitlines()
    assert lines[-1] == "TYPER []" and "LEFT BY os._exit" not in lines  # the front, no shortcut
    assert b"viommu" in proc.stdout
    assert list(scratch.iterdir()) == []
