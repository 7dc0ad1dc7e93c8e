"""The fast paths of issue 11 agree with the general paths they shortcut,
structure by structure, on every corpus table (and on hand-made cases of
what sends them back to the general path):

* text view: an array of flat structures as one nodes.Block, formatted
  column by column (render._block_text), against its rows one by one
  (Block.rows -> render._row_line) and against layout();
* decode: references resolved through ref_slots, against ref_paths;
* YAML: formats/yamlemit.emit against PyYAML (engine.yamlio.dump);
* encode: a declaration's struct-module build (engine.fields) against
  construct's own build of it.

Each general path is the code that ran before the fast path existed; none
of these expectations is computed by the fast path itself."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
import construct
from hypothesis import given, settings, strategies as st

from acpitables import api
from acpitables.engine import fields, nodes, yamlio
from acpitables.engine.nodes import Block, NodeKind
from acpitables.engine.registry import TABLES, spec_for
from acpitables.engine.table import NodeType, Ref, get_path
from acpitables.errors import AcpiTablesError
from acpitables.formats import render, yamlemit
from conftest import CORPUS


def _corpus() -> list[tuple[str, api.Decoded]]:
    out = []
    if not CORPUS.is_dir():
        return out
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:4].decode("latin-1") not in TABLES:
            continue
        try:
            out.append((str(path.relative_to(CORPUS)), api.decode(data)))
        except AcpiTablesError:  # not walkable: no fast path to compare
            continue
    return out


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> list[tuple[str, api.Decoded]]:
    tables = _corpus()
    assert len(tables) > 100
    return tables


def _kind_nodes(corpus):
    for name, dec in corpus:
        for node in dec.table.nodes:
            kind = dec.spec.kind_of(node)
            if kind is not None:
                yield name, dec, node, kind


# --- text view ------------------------------------------------------------------

def test_text_rows_are_layout_rows_with_blocks_expanded(corpus):
    blocks = 0
    for name, dec, node, kind in _kind_nodes(corpus):
        expanded = []
        for piece in kind.text_rows(node, dec.spec, dec.table):
            if isinstance(piece, Block):
                blocks += 1
                expanded += piece.rows()
            else:
                expanded.append(piece)
        assert expanded == kind.layout(node, dec.spec, dec.table), (name, node.name)
    assert blocks > 300  # the ID mappings of the IORTs and RIMTs at least


def test_block_text_is_its_rows_line_by_line(corpus):
    planned = 0
    for name, dec, node, kind in _kind_nodes(corpus):
        offsets = {n.name: n.offset for n in dec.table.nodes}
        for piece in kind.text_rows(node, dec.spec, dec.table):
            if not isinstance(piece, Block):
                continue
            planned += render._plan(piece.arr) is not None
            want = "\n".join(render._row_line(r, node.offset, offsets) for r in piece.rows())
            assert render._block_text(piece, node.offset, offsets) == want, (name, node.name)
    assert planned > 300


def test_whole_text_view_equals_the_row_by_row_one(corpus, monkeypatch):
    fast = {name: render.text(dec) for name, dec in corpus}
    monkeypatch.setattr(NodeKind, "text_rows", NodeType.text_rows)  # layout() rows only
    for name, dec in corpus:
        assert render.text(dec) == fast[name], name


def _iort_with_mappings(corpus):
    for name, dec, node, kind in _kind_nodes(corpus):
        if dec.table.signature == "IORT" and len(node.fields.get("mappings") or ()) >= 3:
            return dec, node, kind
    pytest.skip("no IORT node with 3 mappings in the corpus")


@pytest.mark.parametrize("change", ["bool", "missing", "ref-in-int", "int-in-ref", "not-a-dict"])
def test_block_columns_off_the_plan_fall_back_to_rows(corpus, change):
    dec, node, kind = _iort_with_mappings(corpus)
    maps = [dict(m) for m in node.fields["mappings"]]
    if change == "bool":
        maps[1]["flags"] = True  # _value writes a bool as 1, not 00000001
    elif change == "missing":
        del maps[2]["output_base"]
    elif change == "ref-in-int":
        maps[0]["input_base"] = Ref(name=node.name)
    elif change == "int-in-ref":
        maps[1]["output_reference"] = 0x30
    else:
        maps[1] = None
    block = Block(next(a for a in kind.arrays if a.key == "mappings"), maps, 0x24)
    offsets = {n.name: n.offset for n in dec.table.nodes}
    want = "\n".join(render._row_line(r, 0x100, offsets) for r in block.rows())
    assert render._block_text(block, 0x100, offsets) == want


def test_array_overlapping_other_rows_is_not_a_block(corpus):
    dec, node, kind = _iort_with_mappings(corpus)
    fields = dict(node.fields, mapping_offset=16)  # the mappings over the fixed part
    hostile = type(node)(node.type, fields, node.name, node.offset, kind=kind)
    pieces = kind.text_rows(hostile, dec.spec, dec.table)
    assert not any(isinstance(p, Block) for p in pieces)
    assert pieces == kind.layout(hostile, dec.spec, dec.table)


# --- references -------------------------------------------------------------------

def test_ref_slots_are_the_ref_paths(corpus):
    for name, dec, node, kind in _kind_nodes(corpus):
        slots = list(kind.ref_slots(node.fields))
        paths = [w if isinstance(w, str) else ".".join(map(str, w)) for _, _, w in slots]
        assert paths == list(kind.ref_paths(node.fields)), (name, node.name)
        for (container, key, _), path in zip(slots, paths):
            assert container[key] is get_path(node.fields, path)


def test_references_to_one_node_share_one_ref(corpus):
    dec, node, kind = _iort_with_mappings(corpus)
    refs = {}
    for m in node.fields["mappings"]:
        ref = m["output_reference"]
        assert refs.setdefault(ref, ref) is ref


# --- YAML -------------------------------------------------------------------------

def test_emitted_descriptions_are_pyyamls(corpus):
    fast = 0
    for name, dec in corpus:
        desc = api.describe(dec)
        text = yamlemit.emit(desc)
        if text is not None:
            fast += 1
            assert text == yamlio.dump(desc), name
    assert fast > 0.9 * len(corpus)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.integers(0, 2**64).map(yamlio.Hex),
    st.text(st.characters(max_codepoint=0x7F), max_size=130),
    st.sampled_from(["", " x", "yes", "No", "null", "00:02.0", "\\_SB_.PCI0", "a b" * 40,
                     "x" * 120, "ACPI  \0", "rc0", "a#b", "-a", "1e3", "~", "é"]),
    st.floats(allow_nan=False))
_keys = st.one_of(st.text(st.characters(max_codepoint=0x7F), min_size=0, max_size=12),
                  st.sampled_from(["name", "type", "mappings", "x" * 130]), st.integers(0, 3))
_docs = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.lists(_scalars, max_size=30).map(yamlio.Flow),
                            st.dictionaries(_keys, inner, max_size=5)),
    max_leaves=40)


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(_keys, _docs, max_size=6))
def test_emit_writes_what_pyyaml_writes_or_declines(doc):
    text = yamlemit.emit(doc)
    if text is not None:
        assert text == yamlio.dump(doc)


# Inside the subset mostly (no floats, keys that can be plain): most are emitted.
_plain_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(0, 2**64).map(yamlio.Hex),
    st.from_regex(r"[A-Za-z_\\][A-Za-z0-9_.\\/-]{0,20}", fullmatch=True),
    st.text(st.characters(max_codepoint=0x7F), max_size=110))
_plain_docs = st.recursive(
    _plain_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.lists(_plain_scalars, max_size=12).map(yamlio.Flow),
                            st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
                                            inner, max_size=5)),
    max_leaves=40)


@settings(max_examples=150, deadline=None, database=None)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), _plain_docs,
                       max_size=6))
def test_emit_writes_plain_documents_as_pyyaml_does(doc):
    text = yamlemit.emit(doc)
    if text is not None:
        assert text == yamlio.dump(doc)


def test_emit_declines_a_container_reached_twice():
    shared = {"input": 1}
    doc = {"a": [shared, shared]}
    assert "&id" in yamlio.dump(doc) and yamlemit.emit(doc) is None


# --- encode -----------------------------------------------------------------------

def _fixed_parts():
    for sig in TABLES:
        spec = spec_for(sig)
        for kind in spec.node_types.values():
            if isinstance(kind, NodeKind):
                top = max((lo for lo, _, _ in kind.fixed_fields), default=0)
                for rev in range(top + 1):
                    for full in (True, False):
                        yield f"{sig}.{kind.kind}.r{rev}{'' if full else '-short'}", \
                            kind, kind.body(rev, full)
                yield f"{sig}.{kind.kind}.header", kind, kind.header


def test_packed_fixed_parts_are_constructs(corpus):
    packed = 0
    for name, dec, node, kind in _kind_nodes(corpus):
        if not hasattr(kind, "body_of"):
            continue
        values = dict(node.fields)
        for arr in kind.arrays:
            if arr.count:
                values[arr.count] = len(node.fields.get(arr.key) or ())
        values = {k: (0 if isinstance(v, Ref) else v) for k, v in values.items()}
        values.update(type=kind.code, length=0)
        for declaration in (kind.header, kind.body_of(node.fields)):
            obj = {s.name: values.get(s.name, 0) for s in kind.header.subcons} \
                if declaration is kind.header else values
            packed += declaration._plan is not None
            assert declaration.build(obj) == declaration.construct.build(obj), (name, node.name)
    assert packed > 500


@pytest.mark.parametrize("name,kind,declaration", list(_fixed_parts()),
                         ids=[x[0] for x in _fixed_parts()])
def test_packer_format_is_the_declaration(name, kind, declaration):
    plan = declaration._plan
    if plan is None:
        return  # construct builds it
    assert plan.fmt.size == declaration.sizeof()
    # every field at 1 (bytes: 0x5A each), nested structures as dicts
    obj: dict = {}
    for parent, field, size, _ in plan.leaves:
        (obj.setdefault(parent[0], {}) if parent else obj)[field] = \
            b"\x5a" * size if size else 1
    assert declaration.build(obj) == declaration.construct.build(obj)


def _smmu_v3_body():
    kind = spec_for("IORT").node_types[4]
    return kind.body(0)


@pytest.mark.parametrize("change", ["missing", "too-big", "float", "short-bytes", "int-bytes",
                                    "nested-none", "none-value"])
def test_build_struct_off_the_plan_is_constructs_build(change):
    body = _smmu_v3_body()
    assert body._plan is not None
    obj = {s.name: 0 for s in body.subcons}
    obj["reserved"] = bytes(4)
    if change == "missing":
        del obj["model"]
    elif change == "too-big":
        obj["model"] = 1 << 32
    elif change == "float":
        obj["model"] = 1.5
    elif change == "short-bytes":
        obj["reserved"] = b"\0"
    elif change == "int-bytes":
        obj["reserved"] = 7
    elif change == "none-value":
        obj["reserved"] = None  # the Default's bytes
    else:
        obj["model"] = None

    def outcome(fn):
        try:
            return fn(obj)
        except (fields.ConstructError, construct.ConstructError):
            return "refused"  # construct's error, carried by ours
        except (KeyError, struct.error) as exc:
            return type(exc)

    assert outcome(body.build) == outcome(body.construct.build)


def test_rc_memory_properties_pack_as_nested(corpus):
    rc = spec_for("IORT").node_types[2]
    body = rc.body(3)
    assert (("memory_properties",), "hints", 0, fields._ABSENT) in body._plan.leaves


# --- checks -----------------------------------------------------------------------

def test_a_cycle_is_reported_once_per_mapping_that_closes_it():
    # rc0's mappings 0, 1 and 3 go back to the SMMU that maps to rc0: three
    # findings, as before the repeated mappings were walked as one edge.
    desc = """table: IORT
revision: 0
lenient: true
nodes:
- {name: smmu0, type: smmu_v3, mappings: [{input: 0, count: 16, output: rc0}]}
- name: rc0
  type: root_complex
  mappings:
  - {input: 0, count: 16, output: smmu0}
  - {input: 16, count: 16, output: smmu0}
  - {input: 32, count: 16, output: its}
  - {input: 48, count: 16, output: smmu0}
- {name: its, type: its_group, identifiers: [0]}
"""
    decoded = api.decode(api.build(desc).data)
    cycles = [w for w in decoded.warnings if w.code == "IORT-MAP-CYCLE"]
    assert [w.node for w in cycles] == ["rc0"] * 3
    assert all("smmuv3_0 -> rc0 -> smmuv3_0" in w.message for w in cycles)


def test_bench_breakdown_runs(capsys):
    # bench/breakdown.py (the in-process phases behind bench/speed.py's
    # figures) must keep working; its numbers are never asserted.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import breakdown
    assert breakdown.main(["--runs", "1", "--mappings", "40", "--ncs", "5"]) == 0
    out = capsys.readouterr().out
    assert "decode + render -f text" in out and "build, 5 named components: YAML load" in out


# --- decode: columns of references, ID mappings built by a dict display -------------

def _corpus_bytes() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted(CORPUS.rglob("*")) if CORPUS.is_dir() else ():
        if path.is_file():
            data = path.read_bytes()
            if data[:4].decode("latin-1") in TABLES:
                out.append((str(path.relative_to(CORPUS)), data))
    return out


def _outcome(data: bytes):
    try:
        dec = api.decode(data)
    except AcpiTablesError as exc:
        return type(exc), str(exc)
    refs = [[(m, k) for m in n.fields.get("mappings") or () if isinstance(m, dict)
             for k, v in m.items() if isinstance(v, Ref)] for n in dec.table.nodes]
    shared = sorted({id(m[k]) for r in refs for m, k in r})  # how many distinct Ref objects
    return (dec.table, [w.as_dict() for w in dec.warnings], len(shared),
            [[list(m) for m, _ in r] for r in refs])


def _slot_by_slot(monkeypatch) -> None:
    monkeypatch.setattr(NodeKind, "ref_columns", NodeType.ref_columns)


def _mutated(rng, data: bytes) -> bytes:
    """The table with a few 32-bit words replaced: by another word of the
    table (often a node offset), a small offset or anything."""
    buf = bytearray(data)
    words = (len(buf) - 48) // 4
    for _ in range(rng.randrange(1, 6)):
        at = 48 + 4 * rng.randrange(max(1, words))
        if at + 4 > len(buf):
            break
        pick = rng.random()
        value = (int.from_bytes(buf[48 + 4 * rng.randrange(words):][:4] or b"\0", "little")
                 if pick < 0.4 else rng.randrange(256) if pick < 0.7 else rng.randrange(1 << 32))
        buf[at:at + 4] = value.to_bytes(4, "little")
    return bytes(buf)


@pytest.mark.parametrize("targets", ["declared", "its-only"])
def test_reference_columns_resolve_as_slot_by_slot(corpus_dir, monkeypatch, targets):
    from conftest import FUZZ_SEED, FUZZ_SEED_ENV
    import random
    rng = random.Random(FUZZ_SEED)
    if targets == "its-only":  # a kind that may name only some kinds (as VIOT's do)
        for kind in spec_for("IORT").node_types.values():
            monkeypatch.setattr(kind, "ref_targets", (0,), raising=False)
    cases = [(name, data) for name, data in _corpus_bytes()]
    cases += [(f"{name} mutated {i}", _mutated(rng, data)) for i, (name, data) in
              enumerate(rng.sample(cases, min(len(cases), 150)))
              for _ in range(2)]
    fast = [_outcome(data) for _, data in cases]
    _slot_by_slot(monkeypatch)
    for (name, data), want in zip(cases, fast):
        assert _outcome(data) == want, (name, f"seed {FUZZ_SEED}: {FUZZ_SEED_ENV}={FUZZ_SEED}")


def test_ref_columns_are_the_ref_slots(corpus):
    for name, dec, node, kind in _kind_nodes(corpus):
        flat = [(c, k, where(i)) for cs, k, where in kind.ref_columns(node.fields)
                for i, c in enumerate(cs)]
        slots = list(kind.ref_slots(node.fields))
        assert [(id(c), k, w) for c, k, w in flat] == [(id(c), k, w) for c, k, w in slots], \
            (name, node.name)


def test_array_elements_are_dicts_of_their_fields(corpus):
    checked = 0
    for name, dec, node, kind in _kind_nodes(corpus):
        for arr in getattr(kind, "arrays", ()):
            compiled = nodes.fast_format(arr.elem) if arr.elem is not None else None
            if compiled is None or arr.single or not node.fields.get(arr.key):
                continue
            names, fmt = compiled
            n = len(node.fields[arr.key])
            blob = fmt.pack(*range(len(names))) * n
            got = nodes.parse_array(arr.elem, blob, 0, n)
            want = [dict(zip(names, vals)) for vals in fmt.iter_unpack(blob)]
            assert [list(d.items()) for d in got] == [list(d.items()) for d in want]
            assert got == [nodes.plain(arr.elem.construct.parse(blob[:fmt.size]))] * n
            checked += 1
    assert checked > 300


# --- YAML: runs of same-keyed flat mappings, column by column ------------------------

def _run_value(rng, style):
    if style == "hex":
        return yamlio.Hex(rng.randrange(1 << rng.choice([4, 16, 32, 64])))
    pool = [0, 7, -3, 1 << 70, True, False, None, yamlio.Hex(0x30), yamlio.Hex(-1), "smmuv3_0",
            "rc0", "yes", "", " x", "a b " * 30, "\\_SB_.PCI0", "é", "ACPI  \0", "x" * 120,
            "00:02.0", 1.5, [1], {"a": 1}, yamlio.Flow([1, 2])]
    return rng.choice(pool[:12] if style == "plain" else pool)


def test_runs_of_flat_mappings_are_pyyamls():
    from conftest import FUZZ_SEED, FUZZ_SEED_ENV
    import random
    rng = random.Random(FUZZ_SEED)
    emitted = 0
    for trial in range(300):
        keys = rng.sample(["input", "count", "output", "output_base", "flags", "single",
                           "x" * rng.choice([5, 60, 130])], rng.randrange(1, 5))
        style = rng.choice(["hex", "hex", "plain", "any"])
        items = [{k: _run_value(rng, style) for k in keys}
                 for _ in range(rng.choice([7, 8, 9, 40, 300]))]
        if rng.random() < 0.2:  # another shape in the middle, or the same dict twice
            items.insert(rng.randrange(len(items)), rng.choice([{"input": 1}, {}, items[0]]))
        doc = {"nodes": [{"name": "rc0", "mappings": items}], "more": [dict(i) for i in items[:3]]}
        if rng.random() < 0.5:
            doc = {"mappings": items}
        text = yamlemit.emit(doc)
        if text is not None:
            emitted += 1
            assert text == yamlio.dump(doc), (trial, f"seed {FUZZ_SEED}: {FUZZ_SEED_ENV}={FUZZ_SEED}")
    assert emitted > 100


# --- the collector paused while a render or a description grows -------------------

@pytest.mark.parametrize("enabled", [True, False])
def test_rendering_leaves_the_collector_as_it_found_it(enabled):
    import gc
    from acpitables import formats
    blob = api.build("table: IORT\nnodes:\n- {name: its, type: its_group, identifiers: [0]}\n"
                     "- {name: rc0, type: root_complex, mappings: "
                     "[{input: 0, count: 16, output: its}]}\n").data
    dec = api.decode(blob)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        for fmt in ("text", "yaml", "json", "dsl"):
            formats.dump(dec, fmt)
            assert gc.isenabled() is enabled, fmt
        api.describe(dec)
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError):
            formats.dump(dec, "binary", acpica=20200925)  # refused before the render
        broken = api.Decoded(dec.table, [], dec.size, None, dec.header_values, dec.data)
        with pytest.raises(AcpiTablesError):
            formats.dump(broken, "yaml")  # raised inside the render
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
