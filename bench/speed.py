"""acpitables against iasl on the same tables: whole-process CPU time and
peak RSS, medians of alternating runs (issue 11's targets).

    python3 bench/speed.py                  # the full set, a few minutes
    python3 bench/speed.py --quick          # small sizes, what CI runs
    python3 bench/speed.py --only decode --runs 9 --json out.json

Each workload is first built by `acpitables build` from a generated
description (bench/tables.py). Before anything is timed:

* build: the iasl source of our table (formats/dsl.to_dsl, what
  `acpitables decode -f dsl` writes, aimed at that iasl's release) is
  compiled by each installed iasl, and iasl's binary must equal
  ours byte for byte apart from the checksum (byte 9) and the creator
  fields (bytes 28-35);
* decode: `iasl -d` of the same file must compile back (same iasl) to that
  table, and its listing must show every ID mapping; our YAML must build
  back to the table, our text must show every ID mapping.

A pair that fails this is not timed; it is listed with the reason (for
example a known iasl bug). Our command failing, or our output failing its
check, stops the run with exit 1: there is nothing honest to report.

Times are the child's user+system CPU time from wait4 (the machine's
other load does not inflate them as much as wall time), the median of
--runs runs taken alternately (ours, theirs, ours, ...), and peak RSS is the
child's ru_maxrss, both reported by a tiny C launcher (built with cc when
there is one) so that the harness's own memory is not counted. Python
children run with -S and cached bytecode (see set_python and PYCACHE).
`python3 -S -c pass` (same interpreter and environment) is the floor that
start-up is measured against. Results of main: bench/RESULTS.md; what to
change: bench/PLAN.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import tables  # noqa: E402  (bench/tables.py)

from acpitables import api  # noqa: E402
from acpitables.engine import yamlio  # noqa: E402
from acpitables.errors import AcpiTablesError  # noqa: E402
from acpitables.formats import dsl  # noqa: E402

# Python processes start with -S and find site-packages through PYTHONPATH:
# .pth start-up hooks then do not run. A machine's .pth hooks (a sandbox's
# certificate hook here imports certifi: +30 ms in every process) are not
# the project's cost and would add the same constant to both sides of the
# start-up ratio; --site keeps them.
import site  # noqa: E402

SITE_DIRS = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]
ENV = dict(os.environ)
PY = [sys.executable, "-S"]
# An installed package runs from bytecode (pip compiles it). With
# PYTHONDONTWRITEBYTECODE set (this machine sets it) every run would compile
# the whole package from source again, so the children write and read their
# bytecode in a private cache; the untimed first run of each workload fills it.
ENV.pop("PYTHONDONTWRITEBYTECODE", None)
PYCACHE = tempfile.TemporaryDirectory(prefix="speed-pycache-")
ENV["PYTHONPYCACHEPREFIX"] = PYCACHE.name


def set_python(keep_site: bool) -> None:
    global PY
    extra = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    PY = [sys.executable] if keep_site else [sys.executable, "-S"]
    ENV["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + extra + ([] if keep_site else SITE_DIRS))
    OURS[:] = PY + ["-c", "from acpitables.cli import run; run()"]
    FLOOR[:] = PY + ["-c", "pass"]
    STRUCT_FLOOR[:] = PY + ["-c", STRUCT_SCRIPT]


OURS: list[str] = []
FLOOR: list[str] = []
# Reads the table and unpacks every IORT ID mapping with struct, printing
# how many: the least a decoder of this table can cost as a whole process.
STRUCT_SCRIPT = """
import struct, sys
b = open(sys.argv[1], 'rb').read()
count, off = struct.unpack_from('<II', b, 36)
n = 0
for _ in range(count):
    length, = struct.unpack_from('<H', b, off + 1)
    maps, moff = struct.unpack_from('<II', b, off + 8)
    n += len(list(struct.iter_unpack('<IIIII', b[off + moff:off + moff + 20 * maps])))
    off += length
print(n)
"""
STRUCT_FLOOR: list[str] = []


class Refused(Exception):
    """A pair that cannot be timed honestly, with the reason."""


class Broken(Exception):
    """Our own command failed or its output is wrong: stop."""


class OursRefused(Exception):
    """A curve size our CLI refuses as input (a limit of the project, which
    is reported as such, not timed)."""


# --- processes -------------------------------------------------------------------

@dataclass
class Run:
    cpu_ms: float
    rss_kib: int
    rc: int
    stderr: str


# A child's ru_maxrss counts the memory of the process it was forked from
# until exec (Linux keeps the old mm's high-water mark), so forked straight
# from this harness -- 30+ MiB with acpitables imported -- every child
# would report at least that. This launcher, a few hundred KiB, forks the
# command instead and reports the child's own rusage from wait4.
LAUNCHER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int status; struct rusage ru; FILE *f; pid_t pid;
    if (argc < 3) return 125;
    pid = fork();
    if (pid < 0) return 126;
    if (pid == 0) { execvp(argv[2], argv + 2); _exit(127); }
    if (wait4(pid, &status, 0, &ru) < 0) return 126;
    f = fopen(argv[1], "w");
    if (!f) return 126;
    fprintf(f, "%ld %ld %ld %d\n", (long)(ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec),
            (long)(ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec), ru.ru_maxrss,
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    fclose(f);
    return 0;
}
"""
LAUNCHER: list[str] = []     # [path] once built; empty: wait4 from here


def build_launcher(tmp: Path) -> str:
    """Compile the launcher with the system C compiler; '' or why not."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return "no C compiler: peak RSS includes this harness's pre-exec footprint"
    (tmp / "launch.c").write_text(LAUNCHER_C)
    r = subprocess.run([cc, "-O2", "-o", str(tmp / "launch"), str(tmp / "launch.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return f"launcher did not compile ({r.stderr.strip()[:200]}): peak RSS includes " \
               "this harness's pre-exec footprint"
    LAUNCHER[:] = [str(tmp / "launch")]
    return ""


def run(argv: list[str], cwd: Path, stdout: Path | None = None) -> Run:
    """One whole process; its own CPU time and peak RSS from wait4."""
    with open(stdout or os.devnull, "wb") as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".ru") as ru_file:
        if LAUNCHER:
            proc = subprocess.run(LAUNCHER + [ru_file.name] + argv, cwd=cwd, stdout=out,
                                  stderr=err, env=ENV, stdin=subprocess.DEVNULL)
            fields = ru_file.read().split()
            if proc.returncode != 0 or len(fields) != 4:
                raise Broken(f"the launcher failed ({proc.returncode}) on {argv[:3]}")
            utime, stime, maxrss, rc = (int(x) for x in fields)
            cpu_ms = (utime + stime) / 1000
        else:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, env=ENV,
                                    stdin=subprocess.DEVNULL)
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            cpu_ms, maxrss = (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss
        err.seek(0)
        text = err.read().decode(errors="replace")
    return Run(cpu_ms, maxrss, rc, text)


def same_table(a: bytes, b: bytes) -> str:
    """'' when a and b are equal apart from the checksum (byte 9) and the
    creator fields (bytes 28-35), else where they first differ."""
    if len(a) != len(b):
        return f"lengths differ: {len(a)} and {len(b)} bytes"
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and i != 9 and not 28 <= i < 36:
            return f"first difference at byte {i} (0x{i:x}): {x:#04x} vs {y:#04x}"
    return ""


# --- the other side --------------------------------------------------------------

@dataclass
class Iasl:
    name: str          # "iasl 20200925"
    argv: list[str]
    release: int


def find_iasls(cache: str | None) -> tuple[list[Iasl], list[str]]:
    """The system iasl and trixie's (unpacked by tools/provision.sh, run as
    tests/guest/tools.py runs it); and why any is missing."""
    if cache:
        os.environ["ACPITABLES_CACHE"] = cache
    sys.path.insert(0, str(ROOT / "tests" / "guest"))
    import tools  # tests/guest/tools.py: the one place that knows how to run trixie's iasl
    found, missing = [], []
    for argv, why in ((tools.system_tool("iasl")[0], tools.system_tool("iasl")[1]),
                      tools.trixie_tool("iasl")):
        if argv is None:
            missing.append(why)
            continue
        argv = [argv] if isinstance(argv, str) else list(argv)
        version = tools.tool_version(argv)
        m = re.search(r"version (\d{8})", version)
        if not m:
            missing.append(f"{argv[-1]}: no release in {version!r}")
            continue
        if all(i.release != int(m.group(1)) for i in found):
            found.append(Iasl(f"iasl {m.group(1)}", argv, int(m.group(1))))
    return found, missing


# --- workloads -------------------------------------------------------------------

@dataclass
class Work:
    key: str                     # short id, for --only and JSON
    label: str                   # the README row
    command: str                 # build | decode | validate
    description: str             # YAML text (bench/tables.py)
    fmt: str = "text"            # for decode
    mappings: int = 0            # ID mappings the table holds (0: a VIOT)
    target: tuple[str, float] | None = None   # ("iasl" | "floor", most ratio allowed)
    iasl: bool = True            # pair with iasl at all
    struct_floor: bool = False   # also time STRUCT_FLOOR


@dataclass
class Pair:
    work: Work
    other: str
    ours_ms: list[float] = field(default_factory=list)
    other_ms: list[float] = field(default_factory=list)
    ours_rss: int = 0
    other_rss: int = 0
    verified: str = ""          # what was checked before timing


def workloads(quick: bool, curve: list[int], iasl_max: int) -> list[Work]:
    nc = [10, 50] if quick else [100, 2000, 4000]
    rc = 100 if quick else 2000
    many = 300 if quick else 8000
    out = []
    for n in nc:
        out.append(Work(f"build-nc-{n}", f"build, {n:,} named components", "build",
                        tables.named_components(n),
                        target=("iasl", 0.3) if n == 2000 else None))
    out.append(Work(f"build-rc-{rc}", f"build, {rc:,} RC mappings", "build",
                    tables.rc_mappings(rc), mappings=rc))
    out.append(Work(f"build-map-{many}", f"build, {many:,} mappings (3 RCs)", "build",
                    tables.rc_mappings(many, 3), mappings=many,
                    target=("iasl", 0.3) if many == 8000 else None))
    for fmt, limit in (("text", 3.0), ("yaml", 4.0)):
        out.append(Work(f"decode-{fmt}-{many}", f"decode --format {fmt}, {many:,} mappings",
                        "decode", tables.rc_mappings(many, 3), fmt=fmt, mappings=many,
                        target=("iasl", limit) if many == 8000 else None,
                        struct_floor=fmt == "text"))
    viot = tables.small_viot()
    for key, label, command, fmt in (("decode-viot", "decode, 88-byte VIOT", "decode", "text"),
                                     ("decode-viot-yaml", "decode --format yaml, 88-byte VIOT",
                                      "decode", "yaml"),
                                     ("build-viot", "build, 88-byte VIOT", "build", "text"),
                                     ("validate-viot", "validate, 88-byte VIOT", "validate",
                                      "text")):
        out.append(Work(key, label, command, viot, fmt=fmt, target=("floor", 6.0),
                        iasl=command == "decode" and fmt == "text"))
    for n in curve:
        desc = tables.rc_mappings(n)
        out.append(Work(f"curve-build-{n}", f"curve: build, {n:,} mappings", "build", desc,
                        mappings=n, iasl=n <= iasl_max))
        # iasl -d itself is linear, but verifying it means compiling its
        # listing back, which is quadratic: pair only up to --iasl-max.
        out.append(Work(f"curve-text-{n}", f"curve: decode --format text, {n:,} mappings",
                        "decode", desc, mappings=n, iasl=n <= iasl_max))
        out.append(Work(f"curve-yaml-{n}", f"curve: decode --format yaml, {n:,} mappings",
                        "decode", desc, fmt="yaml", mappings=n, iasl=False))
    return out


# --- one workload ----------------------------------------------------------------

def _marker_count(text: str, viot: bool) -> int:
    label = "output node" if viot else "output reference"
    return sum(1 for line in text.lower().splitlines() if label in line and ":" in line)


def prepare(work: Work, d: Path, iasls: list[Iasl]) -> tuple[list[str], list[tuple[str, list[str], str, Path]], list[str]]:
    """Our argv, the verified opponents [(name, argv, what was verified, cwd)],
    and the refusals. Raises Broken if our side is wrong."""
    desc = d / "desc.yaml"
    desc.write_text(work.description)
    # In-process and untimed: the table under test. The loader's cap on
    # description values (yamlio.MAX_VALUES, against alias bombs) is lifted
    # here only, so that the curve has tables past it to decode; the timed
    # CLI keeps it (and a build past it is reported as refused).
    saved, yamlio.MAX_VALUES = yamlio.MAX_VALUES, 1 << 40
    try:
        blob = api.build(desc).data
    finally:
        yamlio.MAX_VALUES = saved
    table = d / "table.aml"
    table.write_bytes(blob)
    viot = blob[:4] == b"VIOT"
    opponents, refused = [], []

    if work.command == "build":
        ours = OURS + ["build", "desc.yaml", "-o", "ours.aml", "--force"]
        r = run(ours, d)
        if r.rc != 0 and work.key.startswith("curve"):
            raise OursRefused(_tail(r.stderr))
        if r.rc != 0:
            raise Broken(f"{work.key}: acpitables build failed ({r.rc}): {r.stderr.strip()}")
        if (d / "ours.aml").read_bytes() != blob:
            raise Broken(f"{work.key}: the CLI built other bytes than api.build")
    elif work.command == "decode":
        out = f"ours.{work.fmt}"
        ours = OURS + ["decode", "table.aml", "-f", work.fmt, "-o", out]
        r = run(ours, d)
        if r.rc != 0:
            raise Broken(f"{work.key}: acpitables decode failed ({r.rc}): {r.stderr.strip()}")
        text = (d / out).read_text()
        if work.fmt == "yaml":
            (d / "back.yaml").write_text(text)
            saved, yamlio.MAX_VALUES = yamlio.MAX_VALUES, 1 << 40
            try:
                why = same_table(api.build(d / "back.yaml").data, blob)
            finally:
                yamlio.MAX_VALUES = saved
            if why:
                raise Broken(f"{work.key}: decode -f yaml does not build back: {why}")
        else:
            want = work.mappings or 1
            if _marker_count(text, viot) != want:
                raise Broken(f"{work.key}: decode -f text shows {_marker_count(text, viot)} "
                             f"mappings, the table has {want}")
    else:
        ours = OURS + ["validate", "table.aml"]
        r = run(ours, d)
        if r.rc != 0:
            raise Broken(f"{work.key}: acpitables validate failed ({r.rc}): {r.stderr.strip()}")

    if work.target and work.target[0] == "floor":
        opponents.append(("python3 -c pass", FLOOR, "exit 0", d))
    if work.struct_floor:
        r = run(STRUCT_FLOOR + ["table.aml"], d, d / "struct.out")
        if r.rc != 0 or (d / "struct.out").read_text().strip() != str(work.mappings):
            raise Broken(f"{work.key}: the struct floor script did not see {work.mappings}")
        opponents.append(("struct unpack (floor)", STRUCT_FLOOR + ["table.aml"],
                          f"unpacked all {work.mappings} mappings", d))
    if not work.iasl:
        return ours, opponents, refused

    for iasl in iasls:
        sub = d / f"iasl{iasl.release}"
        sub.mkdir()
        try:
            if work.command == "build":
                try:
                    source = dsl.to_dsl(api.decode(blob), acpica=iasl.release)
                except AcpiTablesError as exc:
                    raise Refused(f"no iasl source for this table: {exc}") from None
                (sub / "src.dsl").write_text(source)
                argv = iasl.argv + ["src.dsl"]
                r = run(argv, sub)
                if r.rc != 0 or not (sub / "src.aml").exists():
                    raise Refused(f"compile failed (exit {r.rc}): " + _tail(r.stderr))
                why = same_table((sub / "src.aml").read_bytes(), blob)
                if why:
                    raise Refused(f"compiles to other bytes than ours: {why}")
                opponents.append((iasl.name, argv, "compiled our to_dsl source to "
                                  "our bytes (checksum, creator apart)", sub))
            elif work.command == "decode":
                shutil.copy(table, sub / "table.aml")
                argv = iasl.argv + ["-d", "table.aml"]
                r = run(argv, sub)
                if r.rc != 0 or not (sub / "table.dsl").exists():
                    raise Refused(f"iasl -d failed (exit {r.rc}): " + _tail(r.stderr))
                listing = (sub / "table.dsl").read_text(errors="replace")
                want = work.mappings or 1
                if _marker_count(listing, viot) != want:
                    raise Refused(f"iasl -d shows {_marker_count(listing, viot)} mappings, "
                                  f"the table has {want}")
                check = sub / "check"
                check.mkdir()
                shutil.copy(sub / "table.dsl", check / "check.dsl")
                r = run(iasl.argv + ["check.dsl"], check)
                if r.rc != 0 or not (check / "check.aml").exists():
                    raise Refused(f"iasl -d output does not compile back (exit {r.rc}): "
                                  + _tail(r.stderr))
                why = same_table((check / "check.aml").read_bytes(), blob)
                if why:
                    raise Refused(f"iasl -d output compiles back to other bytes: {why}")
                opponents.append((iasl.name + " -d", argv, "its listing shows every mapping "
                                  "and compiles back to the table", sub))
        except Refused as exc:
            refused.append(f"{iasl.name}: {exc}")
    return ours, opponents, refused


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-2:])[:300]


def measure(work: Work, iasls: list[Iasl], runs: int, log: Callable[[str], None]) -> tuple[list[Pair], list[str]]:
    with tempfile.TemporaryDirectory(prefix=f"speed-{work.key}-") as tmp:
        d = Path(tmp)
        try:
            ours, opponents, refused = prepare(work, d, iasls)
        except OursRefused as exc:
            why = f"acpitables refuses it: {exc}"
            log(f"  not timed, {work.label}: {why}")
            return [], [why]
        pairs = [Pair(work, name, verified=why) for name, _, why, _ in opponents]
        solo = Pair(work, "", verified="our output checked")
        ours_ms, ours_rss = [], 0
        other = {name: ([], 0) for name, _, _, _ in opponents}
        for _ in range(runs):
            # Alternate: ours, then each opponent, so that drifting load hits both sides.
            r = run(ours, d)
            if r.rc != 0:
                raise Broken(f"{work.key}: our command failed while timed: {r.stderr.strip()}")
            ours_ms.append(r.cpu_ms)
            ours_rss = max(ours_rss, r.rss_kib)
            for name, argv, _, cwd in opponents:
                r = run(argv, cwd, d / "opponent.out")
                if r.rc != 0:
                    raise Broken(f"{work.key}: {name} failed while timed: {_tail(r.stderr)}")
                ms, rss = other[name]
                ms.append(r.cpu_ms)
                other[name] = (ms, max(rss, r.rss_kib))
        for p in pairs:
            p.ours_ms, p.ours_rss = ours_ms, ours_rss
            p.other_ms, p.other_rss = other[p.other]
        if not pairs:
            solo.ours_ms, solo.ours_rss = ours_ms, ours_rss
            pairs = [solo]
        for p in pairs:
            log(row(p))
        for why in refused:
            log(f"  not paired, {work.label}: {why}")
        return pairs, refused


# --- output ----------------------------------------------------------------------

HEAD = ("| work | acpitables CPU ms | against | its CPU ms | ratio | target | "
        "peak RSS MiB (ours / its) |\n|---|---:|---|---:|---:|---|---:|")


def row(p: Pair) -> str:
    ours = statistics.median(p.ours_ms)
    if not p.other:
        return (f"| {p.work.label} | {ours:,.0f} | — | — | — | — | "
                f"{p.ours_rss / 1024:.1f} |")
    theirs = statistics.median(p.other_ms)
    ratio = ours / theirs if theirs else float("inf")
    target = "—"
    t = p.work.target
    if t and (p.other == "python3 -c pass" if t[0] == "floor" else p.other.startswith("iasl")):
        target = f"≤ {t[1]:g}× {'met' if ratio <= t[1] else '**missed**'}"
    return (f"| {p.work.label} | {ours:,.0f} | {p.other} | {theirs:,.1f} | {ratio:.2f}× | "
            f"{target} | {p.ours_rss / 1024:.1f} / {p.other_rss / 1024:.1f} |")


def versions(iasls: list[Iasl]) -> list[str]:
    from importlib.metadata import version
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    deps = ", ".join(f"{p} {version(p)}" for p in ("construct", "PyYAML", "typer", "jsonschema"))
    import yaml
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"acpitables at {rev}",
        f"- machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"load average at start {os.getloadavg()[0]:.2f}",
        f"- Python {platform.python_version()}; {deps}; libyaml "
        f"{'available' if yaml.__with_libyaml__ else 'absent'}",
        "- " + ("; ".join(i.name for i in iasls) if iasls else "no iasl found"),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one run each (CI)")
    ap.add_argument("--runs", type=int, help="runs per side (default 5; --quick: 1)")
    ap.add_argument("--curve", default=None,
                    help="mapping counts of the curve (default 1000,4000,16000,50000,100000)")
    ap.add_argument("--iasl-max", type=int, default=16000,
                    help="largest curve table paired with iasl (its compile, also needed to "
                         "verify its -d listing, is quadratic in the table)")
    ap.add_argument("--only", default="", help="regular expression on the workload keys")
    ap.add_argument("--cache", default=None,
                    help="tools/provision.sh's cache (default: $ACPITABLES_CACHE or "
                         "<repo>/.cache/guest)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--site", action="store_true",
                    help="let Python processes run site's .pth hooks (default: -S)")
    args = ap.parse_args(argv)
    set_python(args.site)
    runs = args.runs or (1 if args.quick else 5)
    curve = [int(x) for x in (args.curve or ("400" if args.quick else
                                             "1000,4000,16000,50000,100000")).split(",") if x]
    iasls, missing = find_iasls(args.cache)
    launcher_dir = tempfile.TemporaryDirectory(prefix="speed-launcher-")
    rss_note = build_launcher(Path(launcher_dir.name))
    if rss_note:
        missing.append(rss_note)
    works = [w for w in workloads(args.quick, curve, args.iasl_max)
             if re.search(args.only, w.key)]

    def log(line: str) -> None:
        print(line, flush=True)

    for line in versions(iasls):
        log(line)
    for why in missing:
        log(f"- missing: {why}")
    log(f"- {runs} run{'s' if runs != 1 else ''} per side, alternating; medians of the "
        "child's user+system CPU time (os.wait4)")
    log(f"- Python processes: {' '.join(PY)}" + ("" if args.site else
        " (site's .pth hooks skipped, site-packages on PYTHONPATH)") +
        "; bytecode cached in a private PYTHONPYCACHEPREFIX\n")
    run(OURS + ["--help"], ROOT)      # fill the bytecode cache
    log(HEAD)
    results, refusals = [], []
    try:
        for work in works:
            pairs, refused = measure(work, iasls, runs, log)
            results += pairs
            refusals += [(work.key, why) for why in refused]
    except Broken as exc:
        log(f"\nstopped: {exc}")
        return 1
    if args.json:
        args.json.write_text(json.dumps({
            "runs": runs, "iasl": [i.name for i in iasls], "missing": missing,
            "pairs": [{"work": p.work.key, "label": p.work.label, "against": p.other,
                       "verified": p.verified, "ours_ms": p.ours_ms, "other_ms": p.other_ms,
                       "ours_rss_kib": p.ours_rss, "other_rss_kib": p.other_rss,
                       "target": p.work.target} for p in results],
            "not_paired": [{"work": k, "why": why} for k, why in refusals]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
