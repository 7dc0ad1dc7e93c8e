"""In-process breakdown of the large workloads of bench/speed.py: CPU time
(time.process_time, median of --runs) and traced peak memory (tracemalloc,
one extra run) of each phase, start-up excluded.

    python3 bench/breakdown.py              # 8,000 mappings and 2,000 NCs
    python3 bench/breakdown.py --runs 9 --mappings 100000 --decode-only

The whole-process figures (what the targets of issue 11 are about) come
from bench/speed.py; this says which phase of ours they are made of:
decode (api.decode: the node walk and the checks), the text view, describe,
the YAML writer, and for build the YAML load, the schema check, the
compile, the checks and the encode. Every phase runs on the output of the
one before, exactly as `acpitables decode` / `build` chain them.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import tables  # noqa: E402  (bench/tables.py)

from acpitables import api, formats  # noqa: E402
from acpitables.engine import description, yamlio  # noqa: E402
from acpitables.engine.registry import spec_for  # noqa: E402
from acpitables.engine.table import encode_table  # noqa: E402


def measure(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(median CPU ms, traced peak MiB, result)."""
    times, result = [], None
    for _ in range(runs):
        gc.collect()
        start = time.process_time()
        result = fn()
        times.append((time.process_time() - start) * 1000)
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak, result


def _rcs(n: int) -> int | None:
    # 3 root complexes as bench/speed.py's 8,000; past 9,000 mappings as few
    # as the 16-bit node Length allows (3,000 each)
    return 3 if n <= 3 * tables.PER_RC else None


def decode_rows(n: int, runs: int) -> list[tuple[str, float, float]]:
    blob = api.build(tables.rc_mappings(n, _rcs(n))).data
    out = []
    ms, mib, decoded = measure(lambda: api.decode(blob), runs)
    out.append((f"decode, {n:,} mappings (api.decode)", ms, mib))
    for fmt in ("text", "yaml"):
        ms, mib, _ = measure(lambda: formats.dump([decoded], fmt), runs)
        out.append((f"  render -f {fmt}", ms, mib))
        ms, mib, _ = measure(lambda: formats.dump([api.decode(blob)], fmt), runs)
        out.append((f"  decode + render -f {fmt}", ms, mib))
    ms, mib, _ = measure(lambda: api.describe(decoded), runs)
    out.append(("  of which describe", ms, mib))
    return out


def build_rows(label: str, text: str, runs: int) -> list[tuple[str, float, float]]:
    spec = spec_for("IORT")
    out = []
    ms, mib, data = measure(lambda: yamlio.load(text, "bench.yaml"), runs)
    out.append((f"build, {label}: YAML load", ms, mib))
    ms, mib, _ = measure(lambda: description.schema_problems(
        data, spec.schema, description.Problems(data, "bench.yaml")), runs)
    out.append(("  schema check", ms, mib))
    ms, mib, table = measure(lambda: spec.compile(data, description.Problems(data, "bench.yaml")),
                             runs)
    out.append(("  compile (description -> nodes)", ms, mib))
    ms, mib, _ = measure(lambda: spec.check(table), runs)
    out.append(("  checks", ms, mib))
    ms, mib, _ = measure(lambda: encode_table(table, spec), runs)
    out.append(("  encode", ms, mib))
    ms, mib, _ = measure(lambda: api.build(text), runs)
    out.append(("  api.build, all of it", ms, mib))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mappings", type=int, default=8000)
    ap.add_argument("--ncs", type=int, default=2000)
    ap.add_argument("--decode-only", action="store_true", help="leave the build phases out")
    args = ap.parse_args(argv)
    saved, yamlio.MAX_VALUES = yamlio.MAX_VALUES, 1 << 40  # curve sizes past the alias bound
    try:
        rows = decode_rows(args.mappings, args.runs)
        if not args.decode_only:
            rcs = _rcs(args.mappings)
            rows += build_rows(f"{args.mappings:,} mappings ({rcs or 'fewest'} RCs)",
                               tables.rc_mappings(args.mappings, rcs), args.runs)
            rows += build_rows(f"{args.ncs:,} named components",
                               tables.named_components(args.ncs), args.runs)
    finally:
        yamlio.MAX_VALUES = saved
    print("| phase (in process) | CPU ms | traced peak MiB |\n|---|---:|---:|")
    for label, ms, mib in rows:
        print(f"| {label} | {ms:,.1f} | {mib:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
