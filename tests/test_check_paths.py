"""The IORT mapping checks (tables/iort.py: _check_mappings, worked out
over the mapping columns, and _edges, the cycle check's target runs)
against the per-mapping loops they were first written as, kept below as
the oracle (copied from the package before issue 11's column work; they
share only the rules and the context's target lookup): the findings of
every corpus IORT, of seeded random edits of their mappings (replay with
ACPITABLES_FUZZ_SEED=<seed>) and of their compiled descriptions are the
same either way."""
from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from acpitables.engine.roles import RoleKind
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


# --- the oracle: the per-mapping loops ------------------------------------------------

def _loop_check_mappings(c, node, f) -> None:
    kind = iort.NODE_TYPES[node.type]
    maps = f.get("mappings", [])
    allowed = kind.role.targets
    ranges = []
    devid = kind.role.deviceid_index(f) if kind.role.deviceid_index is not None else None
    for j, m in enumerate(maps):
        out = c.target(m["output_reference"])
        out_kind = c.kind_of(out)
        if out is node:
            c.add(iort.MAP_SELF, node, f"mappings.{j}.output_reference",
                  f"mapping {j} points at its own node")
        elif out is not None and out_kind is not None and out_kind.kind not in allowed:
            names = " or ".join(iort.BY_KIND[t].label for t in allowed) or "nothing"
            c.add(iort.MAP_TARGET, node, f"mappings.{j}.output_reference", f"mapping {j} goes "
                  f"to {out.name}, a {out_kind.label} node; a {kind.label} node maps to {names}")
        if m["flags"] & ~iort.MAPPING_FLAGS.mask:
            c.add(iort.MAP_FLAGS, node, f"mappings.{j}.flags", f"reserved flag bits "
                  f"0x{m['flags'] & ~1:X} of mapping {j} are set")
        if m["flags"] & 1:
            if not kind.role.single_mappings and kind.role.deviceid_index is not None:
                if j != devid:
                    c.add(iort.MAP_SINGLE, node, f"mappings.{j}.flags", f"single mapping {j} "
                          f"is not the {kind.label} node's DeviceID mapping (Linux skips it)")
            elif not kind.role.single_mappings:
                if kind.role.kind in (RoleKind.IOMMU, RoleKind.MSI_CONTROLLER):
                    c.add(iort.MAP_SINGLE, node, f"mappings.{j}.flags", f"single mapping {j} "
                          f"is not allowed on a {kind.label} node (Linux skips it)")
                else:
                    c.add(iort.MAP_SINGLE_ODD, node, f"mappings.{j}.flags", f"single mapping "
                          f"{j} on a {kind.label} node")
            continue
        first, last = m["input_base"], m["input_base"] + m["id_count"]
        if last > 0xFFFFFFFF or m["output_base"] + m["id_count"] > 0xFFFFFFFF:
            c.add(iort.MAP_WRAP, node, f"mappings.{j}.id_count", f"mapping {j} runs past ID "
                  "0xFFFFFFFF (Linux never matches a range that wraps)")
            continue
        ranges.append((first, last, j))
    ranges.sort()
    prev = None
    for first, last, j in ranges:
        if prev is not None and first <= prev[1]:
            if first == prev[1] and prev[0] < prev[1]:
                c.add(iort.MAP_COUNT, node, f"mappings.{j}.input_base", f"mapping {prev[2]} "
                      f"ends at input ID 0x{first:X} where mapping {j} starts: a count written "
                      "where count - 1 belongs? (Linux logs FW_BUG and prefers the later range)")
            else:
                c.add(iort.MAP_OVERLAP, node, f"mappings.{j}.input_base", f"mapping {j} "
                      f"[0x{first:X}, 0x{last:X}] overlaps mapping {prev[2]} "
                      f"[0x{prev[0]:X}, 0x{prev[1]:X}]; Linux uses the first match")
        if prev is None or last > prev[1]:
            prev = (first, last, j)


def _loop_edges(c) -> dict:
    edges = {}
    for node in c.table.nodes:
        if node.raw:
            continue
        outs: list = []
        for m in node.fields.get("mappings", ()):
            ref = m["output_reference"]
            if isinstance(ref, Ref) and ref.name in c.by_name and ref.name != node.name:
                if outs and outs[-1][0] == ref.name:
                    outs[-1][1] += 1
                else:
                    outs.append([ref.name, 1])
        edges[node.name] = outs
    return edges


def _loops_only(monkeypatch) -> None:
    monkeypatch.setattr(iort, "_check_mappings", _loop_check_mappings)
    monkeypatch.setattr(iort, "_edges", _loop_edges)


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
    assert sum(bool(f) for f in fast) > 10  # the corpus has mapping findings to compare
    _loops_only(monkeypatch)
    for (name, table), want in zip(iorts, fast):
        assert _findings(table) == want, name


def test_edited_findings_are_the_loops(iorts, monkeypatch):
    rng = random.Random(FUZZ_SEED)
    cases = [(f"{name} edit {i}", _edited(rng, table)) for name, table in iorts
             for i in range(3)]
    fast = [_findings(t) for _, t in cases]
    assert sum(bool(f) for f in fast) > len(cases) // 3  # the edits do make findings
    _loops_only(monkeypatch)
    for (name, table), want in zip(cases, fast):
        assert _findings(table) == want, (name, REPLAY)


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


def test_edges_are_the_loops(iorts):
    rng = random.Random(FUZZ_SEED)
    cases = [(name, t) for name, t in iorts] + [
        (f"{name} edit {i}", _edited(rng, t)) for name, t in iorts for i in range(2)]
    for name, table in cases:
        c = iort._Context(table)
        assert iort._edges(c) == _loop_edges(c), (name, REPLAY)
