"""The IORT checks' column-wise shortcuts (tables/iort.py _mappings_clean,
which skips the per-mapping loop of _check_mappings only when that loop
would find nothing, and _target_runs, the cycle check's edges) against the
loops themselves: the findings of every corpus IORT and of seeded random
edits of their mappings (replay with ACPITABLES_FUZZ_SEED=<seed>) are the
same with the shortcuts switched off."""
from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from acpitables.engine.table import Ref
from acpitables.tables import iort
from conftest import FUZZ_SEED, FUZZ_SEED_ENV
from test_fast_paths import _corpus

REPLAY = f"(seed {FUZZ_SEED}: replay with {FUZZ_SEED_ENV}={FUZZ_SEED})"


@pytest.fixture(scope="module")
def iorts(corpus_dir: Path) -> list:
    tables = [(name, dec.table) for name, dec in _corpus() if dec.table.signature == "IORT"]
    assert len(tables) > 50
    return tables


def _findings(table, monkeypatch=None) -> list:
    return [w.as_dict() for w in iort.check(table)]


def _loops_only(monkeypatch) -> None:
    monkeypatch.setattr(iort, "_mappings_clean", lambda *a: False)
    monkeypatch.setattr(iort, "_target_runs", lambda *a: None)


def _edited(rng: random.Random, table):
    """A copy of the table whose mappings are edited: ranges moved onto
    others, counts grown past 0xFFFFFFFF, flag bits set, targets changed to
    another node, the node itself or no node, a mapping duplicated."""
    table = copy.deepcopy(table)
    nodes = [n for n in table.nodes if not n.raw]
    names = [n.name for n in nodes]
    for node in nodes:
        maps = node.fields.get("mappings") or []
        if len(maps) < 2 or rng.random() < 0.3:
            continue
        for _ in range(rng.randrange(1, 4)):
            m = maps[rng.randrange(len(maps))]
            other = maps[rng.randrange(len(maps))]
            what = rng.randrange(8)
            if what == 0:
                m["input_base"] = other["input_base"] + rng.choice([0, 1, other["id_count"],
                                                                    other["id_count"] + 1])
            elif what == 1:
                m["id_count"] = rng.choice([0xFFFFFFFF, 0xFFFFFFFF - m["input_base"],
                                            m["id_count"] + 1])
            elif what == 2:
                m["flags"] = rng.choice([1, 2, 3, 0x80000000])
            elif what == 3:
                m["output_reference"] = Ref(name=rng.choice(names))
            elif what == 4:
                m["output_reference"] = Ref(name=node.name)
            elif what == 5:
                m["output_reference"] = Ref(offset=rng.randrange(1 << 16))
            elif what == 6:
                maps.insert(rng.randrange(len(maps) + 1), dict(m))
            else:
                m["output_base"] = 0xFFFFFFFF - rng.randrange(4)
    return table


def test_corpus_findings_are_the_loops(iorts, monkeypatch):
    fast = [_findings(t) for _, t in iorts]
    _loops_only(monkeypatch)
    for (name, table), want in zip(iorts, fast):
        assert _findings(table) == want, name


def test_clean_mappings_are_found_clean(iorts):
    # the shortcut does run: most corpus nodes with mappings are clean
    clean = total = 0
    for _, table in iorts:
        c = iort._Context(table)
        for node in table.nodes:
            maps = node.fields.get("mappings")
            if not node.raw and isinstance(maps, list) and len(maps) >= 2:
                total += 1
                clean += iort._mappings_clean(c, node, iort.NODE_TYPES[node.type], maps)
    assert total > 20 and clean > total // 2


def test_edited_findings_are_the_loops(iorts, monkeypatch):
    rng = random.Random(FUZZ_SEED)
    cases = [(f"{name} edit {i}", _edited(rng, table)) for name, table in iorts
             for i in range(3)]
    fast = [_findings(t) for _, t in cases]
    assert sum(bool(f) for f in fast) > len(cases) // 3  # the edits do make findings
    _loops_only(monkeypatch)
    for (name, table), want in zip(cases, fast):
        assert _findings(table) == want, (name, REPLAY)


# --- describe: the usual ID mapping's shortcut ---------------------------------------

def _mapping_items(iorts):
    for _, table in iorts:
        for node in table.nodes:
            for m in node.fields.get("mappings") or () if not node.raw else ():
                yield m


def _typed(desc: dict) -> list:
    return [(k, type(v), v) for k, v in desc.items()]


def test_described_mappings_are_the_general_description(iorts):
    rng = random.Random(FUZZ_SEED)
    maps = list(_mapping_items(iorts))
    assert len(maps) > 300
    for _ in range(2000):
        m = dict(rng.choice(maps))
        m["flags"] = rng.choice([0, 0, 1, 2, 5])
        m["output_base"] = rng.choice([m["input_base"], m["input_base"], 0, 7])
        m["input_base"] = rng.choice([m["input_base"], 0])
        m["output_reference"] = rng.choice([m["output_reference"], Ref(offset=0x30),
                                            Ref(name="x"), Ref(), 0x44])
        maps.append(m)
    for m in maps:
        assert _typed(iort._describe_mapping(m)) == _typed(iort._describe_any_mapping(m)), \
            (m, REPLAY)


def test_compiled_tables_findings_are_the_loops(iorts, monkeypatch):
    # compile gives every mapping its own Ref (decode shares one per target)
    from acpitables.engine import description
    from acpitables.engine.registry import spec_for
    from acpitables.errors import AcpiTablesError
    spec = spec_for("IORT")
    rng = random.Random(FUZZ_SEED)
    compiled = []
    for name, table in iorts:
        for edit in (table, _edited(rng, table)):
            desc = spec.describe(edit)
            try:
                compiled.append((name, spec.compile(desc, description.Problems(desc, name))))
            except AcpiTablesError:
                continue
    assert len(compiled) > 50
    fast = [_findings(t) for _, t in compiled]
    _loops_only(monkeypatch)
    for (name, table), want in zip(compiled, fast):
        assert _findings(table) == want, (name, REPLAY)
