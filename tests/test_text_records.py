"""The text view's record path (formats/render._block_chunks: elements as
fixed-width records, value columns written in bulk) against the general
one it shortcuts, the elements' rows formatted one by one
(Block.rows -> render._row_line, the code that ran before any fast path):
on every corpus table, and on random blocks drawn from a printed seed
(replay with ACPITABLES_FUZZ_SEED=<seed>) that cross the offsets' digit
boundaries, mix reference widths and put values off the plan."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from acpitables.engine.fields import Struct

from acpitables import api
from acpitables.engine.nodes import Block, NodeKind
from acpitables.engine.registry import TABLES, spec_for
from acpitables.engine.table import Ref
from acpitables.formats import render
from conftest import FUZZ_SEED, FUZZ_SEED_ENV
from test_fast_paths import _corpus

REPLAY = f"(seed {FUZZ_SEED}: replay with {FUZZ_SEED_ENV}={FUZZ_SEED})"


def _rows_text(block: Block, base: int, offsets: dict) -> str:
    return "".join(render._row_line(r, base, offsets) + "\n" for r in block.rows())


def _fast_text(block: Block, base: int, offsets: dict) -> str:
    return "".join(render._block_chunks(block, base, offsets))


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> list:
    tables = _corpus()
    assert len(tables) > 100
    return tables


def test_corpus_blocks_as_records_are_their_rows(corpus):
    recorded = 0
    for name, dec in corpus:
        offsets = {n.name: n.offset for n in dec.table.nodes}
        for node in dec.table.nodes:
            kind = dec.spec.kind_of(node)
            if kind is None:
                continue
            for piece in kind.text_rows(node, dec.spec, dec.table):
                if isinstance(piece, Block):
                    recorded += render._lines(piece.arr) is not None
                    assert _fast_text(piece, node.offset, offsets) == \
                        _rows_text(piece, node.offset, offsets), (name, node.name)
    assert recorded > 300


def _arrays() -> list:
    out = {}
    for sig in TABLES:
        for kind in spec_for(sig).node_types.values():
            for arr in kind.arrays if isinstance(kind, NodeKind) else ():
                if isinstance(arr.elem, Struct) and not arr.single and \
                        render._lines(arr) is not None:
                    out[id(arr)] = arr
    return list(out.values())


def test_every_flat_array_of_the_registry_has_a_record():
    keys = {a.key for a in _arrays()}
    assert {"mappings", "context_interrupts", "pmu_interrupts"} <= keys


# Node offsets just below the points where an offset gets one more digit
# (hex 0x1000, 0x10000, ...; decimal 10000, 100000, ...) and elsewhere.
_BOUNDS = [0x1000, 10000, 0x10000, 100000, 0x100000, 1000000, 10000000, 0x1000000]


def _random_block(rng: random.Random, arr, names: list[str]) -> tuple[Block, int, list]:
    n = rng.choice([1, 2, 7, 8, 9, 30, 200, 1100, 2500])
    step = arr.elem_size
    if rng.random() < 0.7:
        base = max(0, rng.choice(_BOUNDS) - rng.randrange(0, step * min(n, 300) + 40))
    else:
        base = rng.randrange(0, 1 << rng.choice([8, 12, 16, 20, 24]))
    style = rng.choice(["same", "few", "random", "off-plan"])
    shared = {nm: Ref(name=nm) for nm in names}
    flat = render.flat_rows(arr.elem)
    items = []
    for i in range(n):
        item = {}
        for _, size, name, _ in flat:
            if name in arr.refs:
                if style == "same":
                    item[name] = shared[names[0]]
                elif rng.random() < 0.05:
                    item[name] = Ref(offset=rng.randrange(1 << 32))  # no node start
                else:
                    item[name] = shared[rng.choice(names[:3] if style == "few" else names)]
            else:
                top = (1 << 8 * size) - 1
                item[name] = {"same": 0x1F & top, "few": rng.choice([0, 1, top])}.get(
                    style, rng.randrange(top + 1))
        items.append(item)
    if style == "off-plan" and items:
        j = rng.randrange(n)
        field = rng.choice([f[2] for f in flat])
        items[j] = dict(items[j])
        items[j][field] = rng.choice([True, -1, 1 << 70, None, "x", b"\x01",
                                      (1 << 8 * dict((f[2], f[1]) for f in flat)[field])])
    return Block(arr, items, rng.randrange(0, 64) * 4), base, items


def test_random_blocks_as_records_are_their_rows():
    rng = random.Random(FUZZ_SEED)
    names = ["smmuv3_0", "its0", "smmu12", "node7", "rc0", "a" * 40]
    offsets = {nm: rng.randrange(1 << rng.choice([8, 16, 24, 32])) for nm in names}
    arrays = _arrays()
    for trial in range(120):
        arr = rng.choice(arrays)
        block, base, _ = _random_block(rng, arr, names)
        try:
            want = _rows_text(block, base, offsets)
        except (TypeError, ValueError) as exc:  # a value the rows cannot show either
            with pytest.raises(type(exc)):
                _fast_text(block, base, offsets)
            continue
        assert _fast_text(block, base, offsets) == want, (trial, arr.key, REPLAY)


def test_offset_numerals_in_bulk_are_each_numeral():
    rng = random.Random(FUZZ_SEED ^ 0x5EED)
    for trial in range(400):
        base = rng.choice([10, 16])
        width = rng.randrange(1, 9)
        step = rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 16, 20, 24, 100, 256, 1000, 4096])
        n = rng.choice([1, 2, 3, 10, 99, 1000, 3001])
        top = base ** width - 1 - (n - 1) * step
        if top < 0:
            continue
        first = rng.randrange(top + 1)
        fmt = f"%0{width}{'X' if base == 16 else 'd'}"
        want = [fmt % (first + i * step) for i in range(n)]
        got = [[" "] * width for _ in range(n)]
        for pos, count, digits in render._digits(first, step, n, width, base):
            assert len(digits) == n * count, (trial, REPLAY)
            for i in range(n):
                got[i][pos:pos + count] = digits[i * count:(i + 1) * count].decode()
        assert ["".join(g) for g in got] == want, (trial, first, step, n, width, base, REPLAY)


def test_a_large_table_text_is_the_row_by_row_one(monkeypatch):
    # 3,000 mappings in one node, crossing 0x1000, 10000 and 0x10000
    lines = ["table: IORT", "revision: 0", "lenient: true", "nodes:",
             "- {name: smmu0, type: smmu_v3}", "- {name: its, type: its_group, identifiers: [0]}",
             "- name: rc0", "  type: root_complex", "  mappings:"]
    lines += [f"  - {{input: {i * 16}, count: 16, output: {'smmu0' if i % 5 else 'its'}, "
              f"output_base: {i * 7}}}" for i in range(3000)]
    dec = api.decode(api.build("\n".join(lines) + "\n").data)
    fast = render.text(dec)
    monkeypatch.setattr(NodeKind, "text_rows", NodeKind.layout)
    assert render.text(dec) == fast
