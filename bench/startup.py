"""Start-up of the library on the common command paths (issue 11), without
the command line: each path is a whole `python3 -S -c SCRIPT` process that
does what the CLI's command does through the library, timed by CPU.

    python3 bench/startup.py                 # every path, 15 runs each
    python3 bench/startup.py --runs 21 --only viot
    python3 bench/startup.py --importtime decode-viot-text   # where it goes
    python3 bench/startup.py --quick         # CI smoke run (tests/test_bench.py)
    python3 bench/startup.py --against /tmp/main-snapshot   # before/after, same run

How it measures (as bench/speed.py does): the children run with -S and
find site-packages through PYTHONPATH (a machine's .pth hooks are not the
project's cost), write and read bytecode in a private PYTHONPYCACHEPREFIX
(an untimed first run of each path fills it), and each run's cost is the
child's user+system CPU time from os.wait4. The paths run alternately,
round after round, so that a change in the machine's load falls on all of
them alike; the medians are printed with `python3 -S -c pass` (the floor)
and each path's ratio to it. Every path's output is checked against what
it must contain before anything is timed.
"""
from __future__ import annotations

import argparse
import os
import re
import site
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import tables  # noqa: E402  (bench/tables.py)

SITE_DIRS = [p for p in site.getsitepackages() + [site.getusersitepackages()] if Path(p).is_dir()]

# The library calls each CLI command makes on one input (cli.py: decode ->
# sources.read, api.decode, formats.dump; build -> api.build; validate ->
# batch.expand/run/validate_item, findings.render_text). argv[1] is the input.
DECODE = ("import sys\n"
          "from acpitables import api, formats\n"
          "d = api.decode(open(sys.argv[1], 'rb').read())\n"
          "sys.stdout.write(formats.dump([d], sys.argv[2]))\n")
DECODE_SOURCES = ("import sys\n"
                  "from acpitables import api, formats\n"
                  "from acpitables.formats import sources\n"
                  "ds = [api.decode(b) for _, b in sources.read(sys.argv[1]).tables]\n"
                  "sys.stdout.write(formats.dump(ds, sys.argv[2]))\n")
BUILD = ("import sys\n"
         "from acpitables import api\n"
         "sys.stdout.buffer.write(api.build(sys.argv[1]).data)\n")
VALIDATE = ("import sys\n"
            "from acpitables import batch\n"
            "from acpitables.formats import findings\n"
            "policy = batch.Policy()\n"
            "reports = [policy.apply(r) for res in batch.run(batch.expand(sys.argv[1:]),\n"
            "           batch.validate_item, None) for r in res]\n"
            "sys.stdout.write(findings.render_text(reports))\n")


@dataclass
class Workload:
    key: str
    script: str
    args: list[str]
    expect: str  # a regular expression the output must match


def paths(d: Path, quick: bool) -> list[Workload]:
    from acpitables import api
    viot_yaml = d / "viot.yaml"
    viot_yaml.write_text(tables.small_viot())
    viot = d / "viot.aml"
    viot.write_bytes(api.build(str(viot_yaml)).data)
    n = 30 if quick else 8000
    iort = d / "iort.aml"
    iort.write_bytes(api.build(tables.rc_mappings(n, 3)).data)
    return [
        Workload("floor", "pass", [], r"^$"),
        Workload("decode-viot-text", DECODE, [str(viot), "text"], r"VirtIO-PCI IOMMU"),
        Workload("decode-viot-text-sources", DECODE_SOURCES, [str(viot), "text"],
              r"VirtIO-PCI IOMMU"),
        Workload("decode-viot-yaml", DECODE, [str(viot), "yaml"], r"(?m)^table: VIOT$"),
        Workload("build-viot", BUILD, [str(viot_yaml)], r"^VIOT"),
        Workload("validate-viot", VALIDATE, [str(viot)], r"viot\.aml: ok"),
        Workload("validate-viot-yaml", VALIDATE, [str(viot_yaml)], r"viot\.yaml: ok"),
        Workload(f"decode-iort{n}-text", DECODE, [str(iort), "text"], r"Output Reference"),
        Workload(f"decode-iort{n}-yaml", DECODE, [str(iort), "yaml"], r"(?m)^table: IORT$"),
    ]


def child_env(pycache: str, tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("ACPITABLES_CACHE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    env["PYTHONPATH"] = os.pathsep.join([str(tree)] + SITE_DIRS)
    return env


def once(p: Workload, env: dict[str, str], cwd: Path, extra: list[str] = ()) -> tuple[float, str, str]:
    """One process: its CPU ms, stdout and stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-S", *extra, "-c", p.script, *p.args],
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd)
        _, status, ru = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("latin-1")
        errors = err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{p.key}: exit {os.waitstatus_to_exitcode(status)}\n{errors[-2000:]}")
    return (ru.ru_utime + ru.ru_stime) * 1000, text, errors


def importtime(p: Workload, env: dict[str, str], cwd: Path, top: int) -> None:
    """`-X importtime` of one path: the modules by their own (self) time,
    and each top-level import's cumulative time (microseconds)."""
    once(p, env, cwd)
    _, _, errors = once(p, env, cwd, ["-X", "importtime"])
    rows = []
    for line in errors.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m[1]), int(m[2]), len(m[3]) // 2, m[4]))
    print(f"{p.key}: {sum(r[0] for r in rows) / 1000:.1f} ms in {len(rows)} imports "
          f"(wall clock of one run, self times summed)")
    print("by self time:")
    for self_us, cum_us, depth, name in sorted(rows, reverse=True)[:top]:
        print(f"  {self_us / 1000:7.2f} ms  {name}")
    print("top-level imports, cumulative:")
    for self_us, cum_us, depth, name in rows:
        if depth == 0:
            print(f"  {cum_us / 1000:7.2f} ms  {name}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per path (default 15)")
    ap.add_argument("--only", default="", help="only paths whose key matches this regex")
    ap.add_argument("--quick", action="store_true", help="CI smoke run: 2 runs, small IORT")
    ap.add_argument("--importtime", metavar="KEY", help="show -X importtime of one path")
    ap.add_argument("--top", type=int, default=25, help="--importtime: modules listed")
    ap.add_argument("--against", metavar="TREE", type=Path,
                    help="another source tree (e.g. a `git archive` of main): each path runs "
                         "on both, alternately, and both columns are printed")
    args = ap.parse_args(argv)
    runs = 2 if args.quick else args.runs
    trees = [ROOT] + ([args.against.resolve()] if args.against else [])
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        d = Path(tmp)
        pycache = d / "pycache"  # keyed by each source's absolute path: one serves both trees
        envs = [child_env(str(pycache), tree) for tree in trees]
        chosen = [p for p in paths(d, args.quick) if p.key == "floor"
                  or re.search(args.only, p.key)]
        if args.importtime:
            match = [p for p in chosen if p.key == args.importtime]
            if not match:
                raise SystemExit(f"no path {args.importtime!r} "
                                 f"(known: {', '.join(p.key for p in chosen)})")
            importtime(match[0], envs[0], d, args.top)
            return 0
        for p in chosen:  # fills the bytecode cache; checks the output
            for tree, env in zip(trees, envs):
                _, text, _ = once(p, env, d)
                if not re.search(p.expect, text):
                    raise SystemExit(f"{p.key} ({tree}): output does not match "
                                     f"{p.expect!r}: {text[:300]!r}")
        times: dict[tuple[str, int], list[float]] = {}
        for _ in range(runs):
            for p in chosen:
                for i, env in enumerate(envs if p.key != "floor" else envs[:1]):
                    times.setdefault((p.key, i), []).append(once(p, env, d)[0])
    floor = statistics.median(times["floor", 0])
    print(f"{runs} runs per path, alternating; medians of the child's user+system CPU "
          f"(os.wait4); {sys.executable} -S, bytecode cached")
    if len(trees) == 1:
        print("| path | CPU ms | over the floor | × floor |\n|---|---:|---:|---:|")
        for p in chosen:
            med = statistics.median(times[p.key, 0])
            print(f"| {p.key} | {med:.1f} | {med - floor:+.1f} | {med / floor:.1f} |")
        return 0
    print(f"this tree: {trees[0]}; against: {trees[1]}")
    print("| path | against, CPU ms | × floor | this tree, CPU ms | × floor | change |\n"
          "|---|---:|---:|---:|---:|---:|")
    for p in chosen:
        new = statistics.median(times[p.key, 0])
        old = statistics.median(times[p.key, 1]) if (p.key, 1) in times else new
        print(f"| {p.key} | {old:.1f} | {old / floor:.1f} | {new:.1f} | {new / floor:.1f} | "
              f"{new - old:+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
