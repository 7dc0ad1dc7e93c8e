#!/usr/bin/env python3
"""tools/fuzz.py -- hostile inputs for a given time, on every core.

    python3 tools/fuzz.py --minutes 5                 # all cores, new seed
    python3 tools/fuzz.py --seconds 60 --jobs 1 --seed 1234 --out /tmp/fz

Mutates golden and corpus VIOT/IORT tables (byte flips, interesting
values, truncation, extension, splices, header-length fix-ups) and
descriptions (golden/example YAML and the YAML decode writes for every
table: values, keys, types and YAML tags swapped at random paths; text
flips, truncation, non-UTF-8 and control bytes, deep nesting), and checks
each input against what the project promises (docs/hostile.md):

  untyped     anything but an AcpiTablesError escapes api.build / decode /
              describe, the text/JSON/DSL renderers or the mapper
  unlocated   a DescriptionError problem without file and line, or with
              PyYAML's position line leaking into the message
  roundtrip   a table that decode accepts does not build back byte-exact
              from its own YAML (checksum aside), or what build writes
              decode refuses
  hang        one input took more than --hang seconds of CPU (default 1;
              CPU, not wall time, which on a shared machine counts the
              neighbours too)
  memory      an input ran into the per-worker address-space limit

Every finding is saved under --out (default .cache/fuzz/) as the input
itself plus a .txt with the check, the message and the seed; the summary
prints inputs tried, findings by class (known, i.e. with an xfail
reproducer in tests/test_hostile_*.py, apart from new) and peak RSS.
The same mutators and checks run, briefly, in the test suite.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import math
import multiprocessing
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from acpitables import api  # noqa: E402
from acpitables.engine import yamlio  # noqa: E402
from acpitables.engine.registry import TABLES  # noqa: E402
from acpitables.errors import AcpiTablesError, DescriptionError  # noqa: E402
from acpitables.formats import dsl, render  # noqa: E402
from acpitables.mapping import for_table  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SEED_ENV = "ACPITABLES_FUZZ_SEED"


# --- seeds -----------------------------------------------------------------

def binary_seeds() -> list[bytes]:
    """Golden tables and every corpus file that starts with a registered
    signature."""
    out = [p.read_bytes() for p in sorted(ROOT.glob("golden/*/*/expected.aml"))]
    if CORPUS.is_dir():
        for p in sorted(CORPUS.rglob("*")):
            if p.is_file():
                head = p.open("rb").read(4)
                if head.decode("latin-1") in TABLES:
                    out.append(p.read_bytes())
    return out


def description_seeds(binaries: list[bytes]) -> list[str]:
    """Golden inputs, the examples, and decode's YAML of a sample of the
    binary seeds (so every escape hatch is in play)."""
    out = [p.read_text() for p in sorted(ROOT.glob("golden/*/*/input.yaml"))]
    out += [p.read_text() for p in sorted(ROOT.glob("examples/*.yaml"))]
    for data in binaries[:: max(1, len(binaries) // 40)]:
        try:
            decoded = api.decode(data)
            out.append(render.as_yaml(api.describe(decoded), decoded.spec.schema))
        except AcpiTablesError:
            pass
    return out


def pick(rng: random.Random, seeds: list) -> bytes | str:
    """A seed, small ones more often: most bugs are structural and a small
    table is checked ten times faster than a 5 KB laptop IORT."""
    small = [s for s in seeds if len(s) <= 1200]
    return rng.choice(small if small and rng.random() < 0.7 else seeds)


# --- binary mutators -------------------------------------------------------

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFF0, 0xFFFFFFFF]


def mutate_binary(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        op = rng.randrange(9)
        if not buf:
            buf = bytearray(rng.choice(others)[:36])
        if op == 0:  # bit flip
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # random byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:  # interesting 8/16/32-bit value at an aligned offset
            width = rng.choice((1, 2, 4))
            if len(buf) >= width:
                i = rng.randrange(0, len(buf) - width + 1, width) if rng.random() < 0.8 \
                    else rng.randrange(len(buf) - width + 1)
                value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
                buf[i:i + width] = value.to_bytes(width, "little")
        elif op == 3:  # truncate
            del buf[rng.randrange(len(buf) + 1):]
        elif op == 4:  # extend
            buf += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif op == 5:  # splice a piece of another table
            other = rng.choice(others)
            a = rng.randrange(len(other) + 1)
            b = min(len(other), a + rng.randrange(1, 64))
            at = rng.randrange(len(buf) + 1)
            buf[at:at + (b - a) if rng.random() < 0.5 else at] = other[a:b]
        elif op == 6:  # delete or duplicate a slice
            a = rng.randrange(len(buf))
            b = min(len(buf), a + rng.randrange(1, 32))
            if rng.random() < 0.5:
                del buf[a:b]
            else:
                buf[a:a] = buf[a:b]
        elif op == 7:  # small arithmetic on a 16/32-bit field
            width = rng.choice((2, 4))
            if len(buf) >= width:
                i = rng.randrange(len(buf) - width + 1)
                value = int.from_bytes(buf[i:i + width], "little") + rng.randint(-8, 8)
                buf[i:i + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
        else:  # keep the signature so that the decoder proper is reached
            if len(buf) >= 4 and buf[:4].decode("latin-1") not in TABLES:
                buf[:4] = data[:4]
    # Mostly keep the header's Length right, so the node walk is exercised.
    if len(buf) >= 8 and rng.random() < 0.7:
        buf[4:8] = len(buf).to_bytes(4, "little")
    return bytes(buf)


# --- description mutators --------------------------------------------------

TAGS = ["!!map", "!!seq", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!binary",
        "!!timestamp", "!!set", "!!merge", "!custom", "!!python/object:os.system"]
VALUES = [0, 1, -1, 2, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 0x100000000, 2 ** 64, -2 ** 63,
          0.0, 1.0, 1.5, 1e30, math.inf, -math.inf, math.nan, True, False, None, "", "x",
          "00:02.0", "zz:99.9", "0000:00:01.0", "ffffffff", "0x10", "{", "{segment:>9999}",
          [], [0], [0, 0xFF], [0xFF, 0], {}, {"a": 1}, "é" * 3, "\x01"]


def _paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))


def _plain(obj):
    """yamlio's located types -> plain dict/list (for the dumper)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _names(obj) -> list:
    return [v for p in _paths(obj) for v in [_get(obj, p)] if isinstance(v, str)][:50]


def _get(obj, path):
    for part in path:
        obj = obj[part]
    return obj


def mutate_tree(rng: random.Random, text: str, donors: list[str]) -> str:
    """Change values, keys and types at random paths of a description."""
    try:
        data = _plain(yamlio.load(text))
    except AcpiTablesError:
        return text
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = list(_paths(data))
        path = rng.choice(paths)
        if not path:
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        op = rng.randrange(7)
        if op == 0:  # a copy: VALUES' lists and dicts must never be shared (or made cyclic)
            parent[key] = copy.deepcopy(rng.choice(VALUES))
        elif op == 1:  # delete
            del parent[key]
        elif op == 2:  # a name that exists elsewhere (a wrong reference)
            names = _names(data)
            parent[key] = rng.choice(names) if names else "nowhere"
        elif op == 3 and isinstance(parent, dict):  # rename the key
            value = parent.pop(key)
            parent[rng.choice(["name", "type", "length", "reserved", "node_offset", "data",
                               "lenient", "order", "x" + str(rng.randrange(9)), 7])] = value
        elif op == 4 and isinstance(parent, list):  # duplicate an item
            parent.insert(rng.randrange(len(parent) + 1), parent[key])
        elif op == 5 and isinstance(parent[key], int) and not isinstance(parent[key], bool):
            parent[key] = parent[key] + rng.choice([-1, 1, 0x100, 1 << 16, 1 << 32, -(1 << 40)])
        else:  # graft a value from another description
            donor = rng.choice(donors)
            try:
                other = _plain(yamlio.load(donor))
                parent[key] = _get(other, rng.choice(list(_paths(other))))
            except (AcpiTablesError, KeyError, IndexError, TypeError):
                pass
    try:
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=rng.random() < 0.3)
    except (yaml.YAMLError, ValueError, RecursionError):
        return text


def mutate_text(rng: random.Random, text: str) -> str | bytes:
    """Character-level changes: tags, flips, truncation, bad bytes."""
    op = rng.randrange(8)
    if op <= 2:  # put a YAML tag in front of a random value
        spots = [m.end() for m in re.finditer(r"(?::|-) ", text)]
        if spots:
            at = rng.choice(spots)
            return text[:at] + rng.choice(TAGS) + " " + text[at:]
        return text
    if op == 3:
        return text[:rng.randrange(len(text) + 1)]
    if op == 4:  # non-UTF-8 or control bytes somewhere
        raw = bytearray(text.encode())
        raw.insert(rng.randrange(len(raw) + 1), rng.choice([0xFF, 0xC3, 0x80, 0x00, 0x07, 0x1B]))
        return bytes(raw)
    if op == 5:  # a random printable character replaced or inserted
        i = rng.randrange(len(text) + 1)
        return text[:i] + rng.choice("[]{}:,-&*!|>'\"#%@` \t\n0x") + text[i + rng.randrange(2):]
    if op == 6:  # deep or wide nesting, aliases
        return text + rng.choice(["deep: " + "[" * 200 + "]" * 200 + "\n",
                                  "a: &a [1, 2]\nb: [*a, *a, *a]\n", "c: &c {x: 1}\nd: *c\n",
                                  "<<: {table: IORT}\n"])
    lines = text.splitlines(keepends=True)  # swap or duplicate a line
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i] if rng.random() < 0.5 else lines[i]
    return "".join(lines)


def mutate_description(rng: random.Random, text: str, donors: list[str]) -> str | bytes:
    if rng.random() < 0.6:
        text = mutate_tree(rng, text, donors)
    return mutate_text(rng, text) if rng.random() < 0.6 else text


# --- checks ----------------------------------------------------------------

@dataclass
class Finding:
    kind: str  # untyped | unlocated | roundtrip | hang | memory
    stage: str
    message: str
    table: str = "-"  # the signature, where the input is a table

    def signature(self) -> str:
        """What makes two findings the same bug (for counting classes)."""
        first = self.message.splitlines()[0] if self.message else ""
        text = re.sub(r"0x[0-9A-Fa-f]+|\b(?=\w*\d)[0-9A-Fa-f]+\b|\d+", "N", first)[:120]
        return f"{self.kind} {self.table} {self.stage}: {text}"


def _untyped(stage: str, exc: BaseException) -> Finding:
    if isinstance(exc, MemoryError):
        return Finding("memory", stage, "MemoryError under the address-space limit")
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(tb)
                  if "acpitables" in f.filename), "?")
    return Finding("untyped", stage, f"{type(exc).__name__} at {where}: {exc}")


def check_binary(data: bytes) -> Finding | None:
    """decode; describe -> YAML -> build gives the bytes back; the text,
    JSON and DSL views and the mapper raise nothing untyped."""
    finding = _check_binary(data)
    if finding is not None:
        finding.table = data[:4].decode("latin-1") if data[:4].decode("latin-1") in TABLES else "?"
    return finding


def _check_binary(data: bytes) -> Finding | None:
    try:
        decoded = api.decode(data)
    except AcpiTablesError:
        return None
    except Exception as exc:  # noqa: BLE001 - what we look for
        return _untyped("decode", exc)
    for stage, view in (("text", render.text), ("json", render.as_json), ("dsl", dsl.to_dsl),
                        ("map", lambda d: for_table(d.table).map_all())):
        try:
            view(decoded)
        except AcpiTablesError:
            pass
        except Exception as exc:  # noqa: BLE001
            return _untyped(stage, exc)
    try:
        text = render.as_yaml(api.describe(decoded), decoded.spec.schema)
    except AcpiTablesError as exc:
        return Finding("roundtrip", "describe", str(exc))
    except Exception as exc:  # noqa: BLE001
        return _untyped("describe", exc)
    try:
        rebuilt = api.build(text, "<described>").data
    except AcpiTablesError as exc:
        return Finding("roundtrip", "build", str(exc))
    except Exception as exc:  # noqa: BLE001
        return _untyped("build-described", exc)
    table = data[:decoded.size]
    if rebuilt[:9] + rebuilt[10:] != table[:9] + table[10:]:
        at = next((i for i, (a, b) in enumerate(zip(rebuilt, table)) if a != b),
                  min(len(rebuilt), len(table)))
        return Finding("roundtrip", "bytes", f"rebuilt {len(rebuilt)} bytes for {len(table)}, "
                                             f"first difference at 0x{at:X}")
    return None


def located(exc: DescriptionError) -> str | None:
    """Why a DescriptionError is not located, or None when it is."""
    for problem in exc.problems:
        if not problem.file or not problem.line or problem.line < 1:
            return f"no file:line: {problem}"
        if "\n" in problem.message or "<unicode string>" in problem.message:
            return f"parser position in the message: {problem.message!r}"
    return None


def check_description(text: str | bytes) -> Finding | None:
    """build raises a located DescriptionError or succeeds; what it builds
    decode reads and builds back."""
    try:
        # bytes: a one-line str would name a file (api's rule for a str)
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        built = api.build(raw, "fuzz.yaml")
    except DescriptionError as exc:
        why = located(exc)
        return Finding("unlocated", "build", why) if why else None
    except AcpiTablesError:
        return None
    except Exception as exc:  # noqa: BLE001
        return _untyped("build", exc)
    try:
        api.decode(built.data)
    except AcpiTablesError as exc:
        return Finding("roundtrip", "decode-built", str(exc))
    except Exception as exc:  # noqa: BLE001
        return _untyped("decode-built", exc)
    return check_binary(built.data)


# Classes with an xfail reproducer in tests/test_hostile_*.py, fixed by
# their owner: counted apart from new ones (regexes over Finding.signature()).
# Classes already reported and not fixed yet (signature pattern -> owner and
# why); a finding that matches is counted as known, not new. Empty: every
# class the first campaigns found is fixed (issue 9).
KNOWN: dict[str, str] = {}


def known(finding: Finding) -> str | None:
    sig = finding.signature()
    return next((why for pattern, why in KNOWN.items() if re.search(pattern, sig)), None)


# --- bounds for running hostile inputs --------------------------------------

def _vm_size_mb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@contextlib.contextmanager
def address_space(extra_mb: int):
    """Lower this process's soft address-space limit to its present size
    plus extra_mb while hostile inputs run, so that an input that allocates
    from a number inside it raises MemoryError here (a finding) instead of
    taking the machine's memory; the limit is restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = (_vm_size_mb() + extra_mb) * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_cli(args: list[str], stdin: bytes = b"", memory_mb: int = 1024, timeout: float = 60,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """The command line in a child with a memory limit and a time limit:
    stderr as text (bad bytes replaced), stdout as bytes."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024,
                                                resource.getrlimit(resource.RLIMIT_AS)[1]))
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    done = subprocess.run([sys.executable, "-c", "from acpitables.cli import run; run()", *args],
                          input=stdin, capture_output=True, timeout=timeout, env=child_env,
                          preexec_fn=limit, cwd=str(ROOT))
    done.stderr = done.stderr.decode("utf-8", "replace")
    return done


# --- the long run ----------------------------------------------------------

class Hang(BaseException):
    """Raised by the CPU-time interval timer; a BaseException so that no
    `except Exception` in the code under test swallows it."""


def _on_alarm(signum, frame):
    raise Hang()


def _save(out: Path, payload: bytes, kind: str, finding: Finding, seed: int, index: int) -> str:
    digest = hashlib.sha1(payload).hexdigest()[:12]
    suffix = ".bin" if kind == "binary" else ".yaml"
    path = out / f"{finding.kind}-{digest}{suffix}"
    if not path.exists():
        path.write_bytes(payload)
        path.with_suffix(path.suffix + ".txt").write_text(
            f"{finding.signature()}\n{finding.message}\nseed {seed} input {index}\n")
    return str(path)


def worker(seed: int, deadline: float, out: str, hang: float, mem_mb: int, queue) -> None:
    rng = random.Random(seed)
    out_dir = Path(out)
    limit = mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    signal.signal(signal.SIGPROF, _on_alarm)
    binaries = list(dict.fromkeys(binary_seeds()))
    descriptions = list(dict.fromkeys(description_seeds(binaries)))
    stats = {"binary": 0, "description": 0, "findings": [], "slowest": 0.0, "slowest_wall": 0.0}
    index = 0
    while time.time() < deadline:
        index += 1
        if rng.random() < 0.5:
            kind = "binary"
            payload = mutate_binary(rng, pick(rng, binaries), binaries)
            check = check_binary
        else:
            kind = "description"
            payload = mutate_description(rng, pick(rng, descriptions), descriptions)
            check = check_description
        stats[kind] += 1
        # CPU time of this (single-threaded) worker: on a shared machine wall
        # time measures the neighbours too. The timer also counts CPU time.
        start, wall = time.process_time(), time.perf_counter()
        signal.setitimer(signal.ITIMER_PROF, max(10.0, 10 * hang))
        try:
            finding = check(payload)
        except Hang:
            finding = Finding("hang", kind, f"stopped after {max(10.0, 10 * hang):g} s of CPU")
        except MemoryError:
            finding = Finding("memory", kind, f"MemoryError under a {mem_mb} MB address space")
        except RecursionError as exc:
            finding = _untyped(kind, exc)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        took = time.process_time() - start
        stats["slowest"] = max(stats["slowest"], took)
        stats["slowest_wall"] = max(stats.get("slowest_wall", 0.0), time.perf_counter() - wall)
        if finding is None and took > hang:
            finding = Finding("hang", kind, f"took {took:.2f} s of CPU")
        if finding is not None:
            raw = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogateescape")
            saved = _save(out_dir, raw, kind, finding, seed, index)
            stats["findings"].append((finding.signature(), known(finding), saved))
    stats["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(stats)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=lambda s: int(s, 0),
                    default=int(os.environ.get(SEED_ENV) or str(int.from_bytes(os.urandom(4), "little")), 0))
    ap.add_argument("--out", default=str(ROOT / ".cache" / "fuzz"))
    ap.add_argument("--hang", type=float, default=1.0, help="seconds for one input (default 1)")
    ap.add_argument("--memory-mb", type=int, default=2048,
                    help="address-space limit per worker (default 2048)")
    args = ap.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    print(f"fuzz: seed {args.seed} ({SEED_ENV}={args.seed} or --seed replays), {args.jobs} "
          f"workers, {seconds:.0f} s, findings in {args.out}", flush=True)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    deadline = time.time() + seconds
    procs = [ctx.Process(target=worker, args=(args.seed + i, deadline, args.out, args.hang,
                                              args.memory_mb, queue)) for i in range(args.jobs)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    tried = {k: sum(r[k] for r in results) for k in ("binary", "description")}
    findings = [f for r in results for f in r["findings"]]
    print(f"inputs tried: {sum(tried.values())} ({tried['binary']} binary, "
          f"{tried['description']} description)")
    by_kind: dict[str, int] = {}
    for sig, _, _ in findings:
        by_kind[sig.split()[0]] = by_kind.get(sig.split()[0], 0) + 1
    for kind in ("untyped", "unlocated", "hang", "roundtrip", "memory"):
        n = by_kind.get(kind, 0)
        new = sum(1 for s, k, _ in findings if s.startswith(kind) and k is None)
        label = {"hang": f"hangs over {args.hang:g} s", "roundtrip": "round-trip refusals"}.get(kind, kind)
        print(f"{label}: {n} ({new} new, {n - new} known)")
    classes: dict[str, list] = {}
    for sig, why, saved in findings:
        classes.setdefault(sig, [0, why, saved])[0] += 1
    for sig, (n, why, saved) in sorted(classes.items(), key=lambda kv: -kv[1][0]):
        print(f"  {n:6d}  {sig}\n          {'known: ' + why if why else 'NEW'}; e.g. {saved}")
    print(f"slowest input: {max(r['slowest'] for r in results):.3f} s CPU "
          f"({max(r['slowest_wall'] for r in results):.3f} s wall)")
    print(f"peak RSS: {max(r['rss_mb'] for r in results):.0f} MB (largest worker)")
    return 1 if any(why is None for _, why, _ in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
