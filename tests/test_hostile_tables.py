"""Hostile tables (docs/hostile.md): decode raises only TableError or
InputError, the text/JSON/DSL views and the mapper raise nothing untyped,
and every table decode accepts builds back byte-exact from its own YAML.

Mutants of the golden and corpus VIOT/IORT tables are drawn anew every run
from the seed conftest prints ("hostile-input seed: N"; replay with
ACPITABLES_FUZZ_SEED=N). The saved reproducers under tests/data/hostile/
are strict xfails naming the module that owns the fix.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest

from conftest import FUZZ_SEED, FUZZ_SEED_ENV

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import fuzz  # noqa: E402

DATA = ROOT / "tests" / "data" / "hostile"
REPLAY = f"(seed {FUZZ_SEED}: replay with {FUZZ_SEED_ENV}={FUZZ_SEED})"
SEEDS = list(dict.fromkeys(fuzz.binary_seeds()))


def _mutants(signature: bytes, budget_s: float, most: int):
    rng = random.Random(FUZZ_SEED ^ int.from_bytes(signature, "little"))
    seeds = [s for s in SEEDS if s[:4] == signature]
    deadline = time.monotonic() + budget_s
    for i in range(most):
        if time.monotonic() > deadline:
            return
        yield i, fuzz.mutate_binary(rng, fuzz.pick(rng, seeds), SEEDS)


@pytest.mark.parametrize("signature", [b"VIOT", b"IORT"])
def test_mutated_tables_decode_typed_and_round_trip(signature):
    new, known, tried = [], [], 0
    with fuzz.address_space(1024):
        for i, data in _mutants(signature, 3.0, 400):
            tried += 1
            finding = fuzz.check_binary(data)
            if finding is not None:
                (known if fuzz.known(finding) else new).append((i, finding, data))
    print(f"{tried} mutated {signature.decode()} tables, {len(known)} known findings {REPLAY}")
    assert tried >= 20
    assert not new, f"input {new[0][0]} {REPLAY}: {new[0][1]}\n{new[0][2].hex()}"


def test_every_prefix_of_small_tables_is_typed():
    """Truncation at every byte of the smallest golden/corpus table of each
    signature and revision: the walk must stop with a TableError, never
    run past the end."""
    small: dict = {}
    for table in sorted(SEEDS, key=len):
        small.setdefault(table[:4] + table[8:9], table)
    small = list(small.values())
    assert len(small) >= 2
    with fuzz.address_space(1024):
        for data in small:
            for n in range(len(data) + 1):
                prefix = bytearray(data[:n])
                if n >= 8:  # the header says what is there, as a dump tool's file would
                    prefix[4:8] = n.to_bytes(4, "little")
                finding = fuzz.check_binary(bytes(prefix))
                assert finding is None or fuzz.known(finding), (
                    f"{data[:4].decode()} cut to {n} bytes: {finding}\n{bytes(prefix).hex()}")




@pytest.mark.parametrize("name", [
    pytest.param("viot-pci-range-to-raw-iommu.bin"),
    pytest.param("viot-inverted-bdf-range.bin"),
    pytest.param("viot-inverted-segment-range.bin"),
    pytest.param("viot-endpoint-ids-past-32-bits.bin"),
    pytest.param("viot-raw-iommu-referenced.bin"),
])
def test_reproducer_decodes_and_round_trips(name):
    data = (DATA / name).read_bytes()
    with fuzz.address_space(1024):
        assert fuzz.check_binary(data) is None
