"""engine/fields.py against construct, declaration by declaration.

fields.py parses and builds fixed layouts through the struct module and
hands everything else to the construct object a declaration stands for
(`decl.construct`). Its promise: for every input, the answer construct
gives -- the same bytes, the same parsed values (after engine.table.plain,
which drops construct's `_io`), a refusal (fields.ConstructError carrying
construct's message and path) where construct refuses, and the same type
of any other exception. construct is the oracle here: every expectation
below is construct's own answer (or a byte string the test drew), never
one fields.py computed.

What is held: every declaration the package makes, reached from the
registry (the SDT header, each table's header and node header, each node
kind's structure, header, fixed part per revision, array elements and
stream elements, and every field inside those), plus a few hand-made
declarations of this file (VOCABULARY) for the corners of fields.py no
table uses yet. Inputs are drawn anew every run from the seed conftest
prints ("hostile-input seed: N"; replay with ACPITABLES_FUZZ_SEED=N).
"""
from __future__ import annotations

import collections
import copy
import math
import pickle
import random
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import construct
import pytest

from acpitables.engine import fields, nodes, streams, table
from acpitables.engine.fields import (Bytes, Default, GreedyBytes, Int8ul, Int16ul, Int32ul,
                                      Int64ul, PaddedString, Struct)
from acpitables.engine.registry import TABLES
from acpitables.engine.table import plain
from conftest import FUZZ_SEED, FUZZ_SEED_ENV

TESTS = Path(__file__).resolve().parent
REPLAY = f"(seed {FUZZ_SEED}: replay with {FUZZ_SEED_ENV}={FUZZ_SEED})"

# The shared leaves keep their own names in ids, wherever they are reached from.
SINGLETONS = {id(Int8ul): "Int8ul", id(Int16ul): "Int16ul", id(Int32ul): "Int32ul",
              id(Int64ul): "Int64ul", id(GreedyBytes): "GreedyBytes"}


# --- every declaration --------------------------------------------------------------

class Found:
    """Declarations by identity, in the order they were reached: each with
    the id of the first place it was reached from and the tables it is
    reachable from."""

    def __init__(self) -> None:
        self.decls: dict[int, tuple[str, fields.Construct]] = {}
        self.owners: dict[int, set[str]] = collections.defaultdict(set)
        self.ids: set[str] = set()

    def add(self, decl: Any, where: str, owner: str) -> None:
        if decl is None:  # an Array of a NUL-terminated name, an Element without a tail
            return
        assert isinstance(decl, fields.Construct), f"{where}: {decl!r} is not a declaration"
        self.owners[id(decl)].add(owner)
        if id(decl) in self.decls:
            return
        where = SINGLETONS.get(id(decl), where)
        where = next(w for w in (where, *(f"{where}#{i}" for i in range(2, 99)))
                     if w not in self.ids)  # two fields of one name
        self.ids.add(where)
        self.decls[id(decl)] = (where, decl)
        if isinstance(decl, fields.Struct):
            for i, sub in enumerate(decl.subcons):
                self.add(sub, f"{where}.{sub.name or i}", owner)
        elif isinstance(decl, fields.Subconstruct):
            self.add(decl.subcon, f"{where}>{type(decl.subcon).__name__.lstrip('_')}", owner)


def _revisions(spec: Any, kind: nodes.NodeKind) -> range:
    marks = [r for lo, hi, _ in kind.fixed_fields for r in (lo, hi) if r is not None]
    return range(max(marks + list(spec.revisions) + [0]) + 2)  # one past the last change too


def collect() -> Found:
    found = Found()
    found.add(table.SDT_HEADER, "SDT_HEADER", "SDT")
    for sig in TABLES:  # every signature: the registry imports each table's module
        spec = TABLES[sig]
        found.add(spec.header, f"{sig}.header", sig)
        found.add(spec.node_header, f"{sig}.node_header", sig)
        for nt in spec.node_types.values():
            base = f"{sig}.{nt.kind}"
            found.add(nt.struct, f"{base}.struct", sig)
            if isinstance(nt, nodes.NodeKind):
                found.add(nt.header, f"{base}.header", sig)
                for rev in _revisions(spec, nt):
                    # body(rev) and body(rev, True) are two entries of its cache
                    found.add(nt.body(rev), f"{base}.body({rev})", sig)
                    for full in (True, False):
                        found.add(nt.body(rev, full),
                                  f"{base}.body({rev},{'full' if full else 'short'})", sig)
                for arr in nt.arrays:
                    found.add(arr.elem, f"{base}.{arr.key}[]", sig)
            if isinstance(nt, streams.StreamKind):
                stream = nt.stream
                elements = list(stream.kinds.values()) + [stream.default]
                for el in (e for e in elements if e is not None):
                    found.add(el.struct, f"{base}.{stream.key}.{el.kind}", sig)
                    found.add(el.tail_elem, f"{base}.{stream.key}.{el.kind}.{el.tail}[]", sig)
    return found


FOUND = collect()
DECLS = list(FOUND.decls.values())

# Hand-made declarations for what fields.py handles and no table declares
# (yet): each a shape its plan must refuse or treat as construct does.
_VOCABULARY: list[tuple[str, fields.Construct]] = [
    ("named-default", Struct("a" / Int8ul, Default("x" / Int16ul, 7))),
    ("default-of-named-field", Default("x" / Int16ul * "X", 7)),
    ("unnamed-field", Struct("a" / Int8ul, Int16ul, "b" / Bytes(2))),
    ("callable-default", Struct("a" / Default(Int8ul, lambda ctx: 3), "b" / Int16ul)),
    ("nested-no-default", Struct("a" / Int8ul, "n" / Struct("x" / Int16ul, "y" / Bytes(1)))),
    ("nested-all-defaults", Struct("n" / Struct("x" / Default(Int16ul, 5),
                                                "y" / Default(Bytes(1), b"\1")))),
    ("nested-default-not-empty", Struct("n" / Default(Struct("x" / Default(Int8ul, 1)),
                                                      {"x": 2}), "b" / Int8ul)),
    ("doubly-nested", Struct("n" / Struct("m" / Struct("x" / Int8ul)), "b" / Int8ul)),
    ("greedy-no-default", Struct("a" / Int16ul, "t" / GreedyBytes)),
    ("greedy-not-last", Struct("t" / GreedyBytes, "a" / Int8ul)),
    ("nested-greedy", Struct("n" / Struct("t" / GreedyBytes))),
    ("empty-bytes", Struct("a" / Int8ul, "z" / Bytes(0), "b" / Int8ul)),
    ("int-default-for-bytes", Struct("b" / Default(Bytes(2), 0x102), "a" / Default(Int32ul, 9))),
    ("same-name-twice", Struct("a" / Int8ul, "a" / Int16ul)),
    ("default-twice", Struct("a" / Default(Default(Int8ul, 1), 2))),
    ("padded-string", Struct("s" / PaddedString(4, "ascii"), "a" / Int8ul)),
    ("empty-struct", Struct()),
]
VOCAB = Found()
for _name, _decl in _VOCABULARY:
    VOCAB.add(_decl, f"vocabulary:{_name}", "vocabulary")
ALL = DECLS + [d for d in VOCAB.decls.values() if id(d[1]) not in FOUND.decls]
IDS = [where for where, _ in ALL]


def test_the_collection_reaches_every_table_and_every_kind_of_declaration():
    assert len(set(IDS)) == len(IDS)
    by_class = collections.Counter(type(d).__name__ for _, d in DECLS)
    # floors well below what the tables declare (1,011 at this writing): a
    # broken walk (no nested fields, no revisions, a table left out) drops under them
    assert len(DECLS) > 700, by_class
    assert by_class["Struct"] > 250 and by_class["Renamed"] > 350, by_class
    assert by_class["Default"] > 20 and by_class["Bytes"] > 20, by_class
    assert by_class["FormatField"] == 4 and by_class["_GreedyBytes"] == 1, by_class
    assert by_class["PaddedString"] >= 1, by_class
    owners = set().union(*FOUND.owners.values())
    assert owners == {"SDT", *TABLES}
    for sig in TABLES:
        structs = [d for i, (_, d) in FOUND.decls.items()
                   if sig in FOUND.owners[i] and isinstance(d, Struct)]
        assert len(structs) >= 10, sig


_LIVE = """
import gc, sys
sys.path[:0] = [{root!r}, {tests!r}]
import test_fields
from acpitables.engine import fields
reached = set(test_fields.FOUND.decls) | set(test_fields.VOCAB.decls)
for o in gc.get_objects():
    if isinstance(o, fields.Construct) and id(o) not in reached:
        subs = [s.name for s in getattr(o, "subcons", ())]
        print(type(o).__name__, getattr(o, "name", None), subs)
"""


def test_no_declaration_the_package_keeps_is_left_out():
    """In a fresh interpreter that imported every table, every live
    declaration is one the walk reached (a new place declarations are held
    fails here until the walk learns it)."""
    code = _LIVE.format(root=str(TESTS.parent), tests=str(TESTS))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=TESTS.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "", f"declarations the walk does not reach:\n{out.stdout}"


# --- outcomes ----------------------------------------------------------------------

def _norm(value: Any) -> Any:
    """Strict comparison form: key order, containers and leaf types count
    (bytes == bytearray would otherwise pass)."""
    if isinstance(value, dict):
        return ("dict", [(k, _norm(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_norm(v) for v in value])
    return (type(value), value)


def ours(fn: Callable[[Any], Any], arg: Any) -> tuple:
    try:
        return ("value", _norm(plain(fn(arg))))
    except fields.ConstructError as exc:
        return ("refused", isinstance(exc, fields.SizeofError), str(exc), exc.path)
    except Exception as exc:  # construct's own error leaking out lands here and differs
        return ("raised", type(exc))


def theirs(fn: Callable[[Any], Any], arg: Any) -> tuple:
    try:
        return ("value", _norm(plain(fn(arg))))
    except construct.ConstructError as exc:
        return ("refused", isinstance(exc, construct.SizeofError), str(exc), exc.path)
    except Exception as exc:
        return ("raised", type(exc))


def _size(real: Any) -> int | None:
    """construct's size of a declaration, None when it has none."""
    try:
        return real.sizeof()
    except construct.SizeofError:
        return None


def _rng(where: str, what: str) -> random.Random:
    return random.Random(f"{FUZZ_SEED}:{what}:{where}")  # one stream per test and declaration


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


# --- structure ------------------------------------------------------------------------

def _same_shape(o: fields.Construct, c: Any, where: str) -> None:
    """Our declaration and its construct object, class by class (the
    correspondence is written here, not taken from fields.py)."""
    assert (o.name, o.docs) == (c.name, c.docs), where
    if isinstance(o, fields.FormatField):
        assert type(c) is construct.FormatField, where
        assert (o.fmtstr, o.length) == (c.fmtstr, c.length), where
    elif o is GreedyBytes:
        assert c is construct.GreedyBytes, where
    elif type(o) is fields.Bytes:
        assert type(c) is construct.Bytes and o.length == c.length, where
    elif isinstance(o, fields.PaddedString):
        assert type(c) is construct.StringEncoded and c.encoding == o.encoding, where
    elif isinstance(o, fields.Renamed):
        assert type(c) is construct.Renamed, where
        _same_shape(o.subcon, c.subcon, where + ">")
    elif isinstance(o, fields.Default):
        assert type(c) is construct.Default and c.value == o.value, where
        _same_shape(o.subcon, c.subcon, where + ">")
    elif isinstance(o, fields.Struct):
        assert type(c) is construct.Struct and len(o.subcons) == len(c.subcons), where
        for i, (so, sc) in enumerate(zip(o.subcons, c.subcons)):
            _same_shape(so, sc, f"{where}.{so.name or i}")
    else:
        raise AssertionError(f"{where}: a declaration class this test does not know: {o!r}")


@pytest.mark.parametrize("where,decl", ALL, ids=IDS)
def test_structure_is_constructs(where, decl):
    real = decl.construct
    assert isinstance(real, construct.Construct)
    try:
        want: Any = real.sizeof()
    except construct.SizeofError:
        want = "no size"
    try:
        got: Any = decl.sizeof()
    except fields.SizeofError:
        got = "no size"
    assert got == want, where
    if isinstance(decl, Struct):
        assert [(s.name, s.docs) for s in decl.subcons] == \
            [(s.name, s.docs) for s in real.subcons], where
    _same_shape(decl, real, where)


# --- parse ------------------------------------------------------------------------------

PARSES = 80  # random byte strings per declaration, besides the edges and the odd types


def _parse_inputs(rng: random.Random, size: int | None) -> Iterator[Any]:
    top = (size if size is not None else 48) + 16
    lengths = [0, top] + ([size - 1, size, size + 1] if size else [])
    lengths += [rng.randrange(top + 1) for _ in range(PARSES)]
    for n in lengths:
        yield rng.randbytes(n)
    n = size if size is not None else rng.randrange(top + 1)
    yield bytes(n)
    yield b"\xff" * n
    yield bytes(rng.randrange(1, 0x80) for _ in range(n))  # text a string field can decode
    yield bytes(rng.randrange(1, 0x80) for _ in range(n // 2)) + bytes(n - n // 2)
    data = rng.randbytes(n + rng.randrange(4))
    yield bytearray(data)
    yield memoryview(data)
    yield memoryview(b"\0" + data)[1:]
    yield from (None, "", "x" * n, 0, n, [0] * n)


@pytest.mark.parametrize("where,decl", ALL, ids=IDS)
def test_parse_is_constructs(where, decl):
    rng = _rng(where, "parse")
    real = decl.construct
    for data in _parse_inputs(rng, _size(real)):
        want = theirs(real.parse, data)
        assert ours(decl.parse, data) == want, f"{where}: parse({_show(data)}) {REPLAY}"


# --- build --------------------------------------------------------------------------------

def _zoo(size: int | None) -> tuple[list, list]:
    """Values for one field: (the ones every field gets, more to sample
    from) -- right, wrong type, out of range, odd kinds."""
    core: list = [None, -1, 10**30, 1.5, True, "1", 7, b"\x01"]
    more: list = [0, 1, False, 2.0, math.nan, 2**63, 2**64, -(10**30), "", "A\0", "\u00e9",
                  b"", [], [1], {}, object()]
    if size is not None:
        bits = 8 * size
        core += [2**bits, bytes(size + 1), bytearray(b"\xa5" * size), "x" * size]
        more += [2**bits - 1, -(2**(bits - 1)) if bits else -1, bytes(size), b"\xa5" * size,
                 memoryview(b"\xa5" * size), b"\x02" * max(size - 1, 0), "x" * (size + 1),
                 "\u00e9" * size]
    return core, more


def _inner(sub: fields.Construct) -> fields.Construct:
    while isinstance(sub, fields.Subconstruct):
        sub = sub.subcon
    return sub


def _field_paths(decl: Struct) -> list[tuple[tuple[str, ...], fields.Construct]]:
    """(path, declaration) of each named field and of each field of a nested structure."""
    out = []
    for sub in decl.subcons:
        if not sub.name:
            continue
        out.append(((sub.name,), sub))
        inner = _inner(sub)
        if isinstance(inner, Struct):
            out += [((sub.name, s.name), s) for s in inner.subcons if s.name]
    return out


def _with(obj: dict, path: tuple[str, ...], value: Any, remove: bool = False) -> dict:
    out = dict(obj)
    if len(path) == 1:
        if remove:
            out.pop(path[0], None)
        else:
            out[path[0]] = value
        return out
    head = out.get(path[0])
    out[path[0]] = _with(head if isinstance(head, dict) else {}, path[1:], value, remove)
    return out


def _whole_object_changes(obj: dict) -> Iterator[tuple[str, Any]]:
    keys = list(obj)
    yield "as parsed", obj
    yield "extra keys", dict(obj, zzz_unknown=1, _io=None)
    yield "every value None", {k: None for k in obj}
    yield "empty dict", {}
    yield "construct Container", construct.Container(obj)
    yield "fields Container", fields.Container(obj)
    yield "mapping proxy", types.MappingProxyType(obj)
    yield "defaultdict, a key missing", collections.defaultdict(int, {k: obj[k] for k in keys[1:]})
    yield "list of pairs", list(obj.items())
    for other in (None, 0, 5, "abc", b"abc", [], (), 1.5, object()):
        yield f"not a dict: {other!r}", other


NESTED_VALUES = (None, {}, 5, "x", b"", [], [("type", 1)], 1.5)
FIELD_SAMPLE = 6  # more values per field of a structure (the field on its own gets them all)


def _build_objects(rng: random.Random, decl: fields.Construct, real: Any) -> Iterator[tuple[str, Any]]:
    size = _size(real)
    bases = []
    for i in range(6):
        n = size if size is not None else rng.randrange(64)
        # every other one text-like, so that a string field parses too
        data = rng.randbytes(n) if i % 2 else bytes(rng.randrange(1, 0x80) for _ in range(n))
        try:
            parsed = real.parse(data)
        except construct.ConstructError:
            continue
        bases.append((data, parsed))
        yield f"construct's parse of {data.hex()}", parsed
        yield f"plain parse of {data.hex()}", plain(parsed)
        try:
            yield f"our parse of {data.hex()}", decl.parse(data)
        except fields.ConstructError:
            pass
    if not isinstance(decl, Struct):
        for value in sum(_zoo(size), []):
            yield f"value {_show(value)}", value
        return
    obj = plain(bases[0][1]) if bases else {}
    yield from _whole_object_changes(obj)
    for path, sub in _field_paths(decl):
        name = ".".join(path)
        yield f"{name} removed", _with(obj, path, None, remove=True)
        if isinstance(_inner(sub), Struct):
            for value in NESTED_VALUES:
                yield f"{name} = {value!r}", _with(obj, path, value)
            continue
        core, more = _zoo(_size(sub.construct))
        for value in core + rng.sample(more, min(FIELD_SAMPLE, len(more))):
            yield f"{name} = {_show(value)}", _with(obj, path, value)


def _round_trips(rng: random.Random, real: Any) -> Iterator[tuple[bytes, Any]]:
    size = _size(real)
    for _ in range(8):
        data = rng.randbytes((size if size is not None else rng.randrange(64)) + rng.randrange(3))
        try:
            parsed = real.parse(data)
        except construct.ConstructError:
            continue
        yield data, parsed


@pytest.mark.parametrize("where,decl", ALL, ids=IDS)
def test_build_is_constructs(where, decl):
    rng = _rng(where, "build")
    real = decl.construct
    for what, obj in _build_objects(rng, decl, real):
        want = theirs(real.build, obj)
        assert ours(decl.build, obj) == want, f"{where}: build of {what} {REPLAY}"


@pytest.mark.parametrize("where,decl", ALL, ids=IDS)
def test_build_of_a_parse_gives_the_bytes_back(where, decl):
    rng = _rng(where, "round trip")
    real = decl.construct
    size = _size(real)
    for data, parsed in _round_trips(rng, real):
        want = data[:size] if size is not None else data  # a greedy tail takes the rest
        if isinstance(parsed, str):
            continue  # a padded string builds its text NUL-padded, not the bytes it came from
        if where.startswith("vocabulary:") and ours(real.build, parsed)[1:] != (_norm(want),):
            continue  # construct does not round-trip it either (an unnamed field, say)
        assert real.build(parsed) == want, f"{where}: construct itself {data.hex()}"
        assert decl.build(decl.parse(data)) == want, f"{where}: {data.hex()} {REPLAY}"
        assert decl.build(plain(parsed)) == want, f"{where}: {data.hex()} {REPLAY}"


# --- the facade ------------------------------------------------------------------------------

def test_copies_of_a_declaration_are_the_declaration():
    for where, decl in ALL:
        assert copy.copy(decl) is decl, where
        assert copy.deepcopy(decl) is decl, where
        assert copy.deepcopy({"k": [decl]})["k"][0] is decl, where


def test_a_pickled_declaration_parses_and_builds_as_the_original():
    picklable = 0
    for where, decl in ALL:
        real = decl.construct  # made first: a pickle must leave it out (it need not pickle)
        try:
            again = pickle.loads(pickle.dumps(decl))
        except (pickle.PicklingError, AttributeError, TypeError):
            if where.startswith("vocabulary:callable-default"):
                continue  # a lambda does not pickle, in construct either
            raise
        picklable += 1
        rng = _rng(where, "pickle")
        size = _size(real)
        for data in [rng.randbytes(size if size is not None else 20) for _ in range(3)] + [b""]:
            assert ours(again.parse, data) == theirs(real.parse, data), (where, data)
            try:
                obj = real.parse(data)
            except construct.ConstructError:
                continue
            assert ours(again.build, obj) == theirs(real.build, obj), (where, data)
        assert ours(again.build, None) == theirs(real.build, None), where
    assert picklable > 700


def test_shared_leaves_unpickle_as_themselves():
    # The fast paths recognise GreedyBytes and Int32ul by identity.
    for leaf in (fields.GreedyBytes, fields.Int8ul, fields.Int16ul, fields.Int32ul,
                 fields.Int64ul):
        assert pickle.loads(pickle.dumps(leaf)) is leaf
    other = pickle.loads(pickle.dumps(fields.FormatField("<h")))
    assert other.fmtstr == "<h" and other.build(-2) == b"\xfe\xff"
    tail = pickle.loads(pickle.dumps(Struct("a" / fields.Int8ul, "rest" / fields.GreedyBytes)))
    assert tail._plan is not None and tail.parse(b"\x01xy") == {"a": 1, "rest": b"xy"}


RENAMED_FACTS = ("name", "docs", "fmtstr", "length", "value", "encoding", "subcons")


def _fact(value: Any) -> Any:
    if isinstance(value, list):  # subcons: their names and labels
        return [(s.name, s.docs) for s in value]
    return value


def test_renamed_reads_its_fields_facts_as_constructs_does():
    checked = 0
    for where, decl in ALL:
        if not isinstance(decl, fields.Renamed):
            continue
        real = decl.construct
        # construct's Struct also shows its fields as attributes (a header's
        # .length is its Length field); ours does not (nothing uses it)
        facts = ("name", "docs", "subcons") if isinstance(_inner(decl), Struct) else RENAMED_FACTS
        for attr in facts:
            if not hasattr(real, attr):
                continue  # ours may know more (a PaddedString's length); never less
            assert _fact(getattr(decl, attr)) == _fact(getattr(real, attr)), (where, attr)
            if attr not in ("name", "docs"):
                assert getattr(decl, attr) is getattr(decl.subcon, attr), (where, attr)
            checked += 1
        with pytest.raises(AttributeError):
            decl.no_such_attribute
    assert checked > 1000


def test_a_parsed_structure_reads_fields_as_attributes():
    header = table.SDT_HEADER
    data = b"VIOT" + bytes(range(1, 33))
    for parsed in (header.parse(data), header.construct.parse(data)):
        assert parsed.signature == b"VIOT" and parsed["length"] == parsed.length
        assert parsed.oem_id == data[10:16]
        with pytest.raises(AttributeError):
            parsed.no_such_field
    # and a structure with a padded string (RIMT's IOMMU fixed part)
    iommu = TABLES["RIMT"].node_types[0].body(0)
    parsed = iommu.parse(b"RSCV0001" + bytes(iommu.construct.sizeof() - 8))
    assert parsed.hardware_id == "RSCV0001"
    with pytest.raises(AttributeError):
        parsed.no_such_field


def test_a_refused_build_names_the_field_as_construct_does():
    header = table.SDT_HEADER
    good = plain(header.construct.parse(b"VIOT" + bytes(32)))
    for field, value, exc_type in (("revision", 256, construct.FormatFieldError),
                                   ("oem_id", b"short", construct.StreamError),
                                   ("length", -1, construct.FormatFieldError)):
        obj = dict(good, **{field: value})
        with pytest.raises(exc_type) as theirs_exc:
            header.construct.build(obj)
        with pytest.raises(fields.ConstructError) as ours_exc:
            header.build(obj)
        assert field in ours_exc.value.path
        assert ours_exc.value.path == theirs_exc.value.path
        assert str(ours_exc.value) == str(theirs_exc.value)
    with pytest.raises(KeyError):  # a missing field without a default: construct's KeyError
        header.build({k: v for k, v in good.items() if k != "checksum"})
    renamed = header.subcons[2]  # "revision" / Int8ul * "Revision", on its own
    with pytest.raises(fields.ConstructError) as ours_exc:
        renamed.build(300)
    assert "revision" in ours_exc.value.path
    with pytest.raises(fields.ConstructError) as ours_exc:
        renamed.parse(b"")
    assert "revision" in ours_exc.value.path


def test_sizeof_of_a_greedy_structure_is_refused_as_construct_refuses():
    viot = TABLES["VIOT"].node_types[1].struct
    with pytest.raises(construct.SizeofError):
        viot.construct.sizeof()
    with pytest.raises(fields.SizeofError):
        viot.sizeof()


# --- regressions: divergences these tests found -----------------------------------------------

def test_renamed_parse_and_build_refuse_with_the_fields_path():
    """A named field on its own used to refuse with its subcon's path
    ("(building)"), construct says "(building) -> x -> x"."""
    field = "x" / Int8ul * "X"
    assert ours(field.build, 300) == theirs(field.construct.build, 300)
    assert ours(field.parse, b"") == theirs(field.construct.parse, b"")


def test_parse_of_none_is_constructs_empty_stream():
    """construct parses None as an empty stream (a StreamError); the fast
    paths used to raise TypeError from len(None)."""
    for decl in (Int16ul, table.SDT_HEADER, TABLES["VIOT"].node_types[1].struct):
        assert ours(decl.parse, None) == theirs(decl.construct.parse, None)
        assert ours(decl.parse, None)[0] == "refused"


def test_a_default_does_not_take_the_name_of_what_it_wraps():
    """construct's Default is unnamed whatever it wraps, so a Struct skips
    it when parsing; ours used to inherit the inner name and parse it."""
    decl = Struct("a" / Int8ul, Default("x" / Int16ul, 7))
    assert (decl.subcons[1].name, decl.subcons[1].docs) == (None, "")
    assert ours(decl.parse, b"\1\2\3") == theirs(decl.construct.parse, b"\1\2\3")
    assert ours(decl.build, {"a": 1}) == theirs(decl.construct.build, {"a": 1})


def test_an_empty_bytes_field_refuses_what_construct_refuses():
    """Bytes(0) used to join the plan as an integer leaf (its size 0 is the
    plan's mark for one): b"\\x01" packed as "0s" built b"" where construct
    refuses bytes of the wrong length."""
    decl = Struct("a" / Int8ul, "z" / Bytes(0), "b" / Int8ul)
    for obj in ({"a": 1, "z": b"\x01", "b": 2}, {"a": 1, "z": b"", "b": 2}, {"a": 1, "z": 0, "b": 2}):
        assert ours(decl.build, obj) == theirs(decl.construct.build, obj), obj
    assert ours(decl.build, {"a": 1, "z": b"\x01", "b": 2})[0] == "refused"


# --- the fast path -------------------------------------------------------------------------------

def test_the_fixed_layouts_take_the_fast_path():
    structs = [(where, d, FOUND.owners[id(d)]) for where, d in DECLS if isinstance(d, Struct)]
    planned = [where for where, d, _ in structs if d._plan is not None]
    # At this writing 447 of 457 structures are planned; the other 10 are
    # RIMT's IOMMU fixed part (its Hardware ID is a PaddedString) in each
    # revision and the node structure holding it. DMAR's and IVRS's are all planned.
    assert len(planned) > 250
    for where, d, owners in structs:
        if owners & {"SDT", "VIOT", "IORT"}:
            assert d._plan is not None, f"{where} is not planned: construct parses it"
