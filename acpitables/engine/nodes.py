"""acpitables.engine.nodes -- declared node kinds.

A NodeKind is the one declaration of a node kind: its type code, names,
spec citation, the common node header, the fixed part per node revision
(each field with the revisions that have it), its node-relative arrays
(with the fields holding their count and offset), flags words by name,
references to other nodes, and its Role. Parse, build, layout (counts,
offsets, Length: `place`, the one layout rule), the text rows, the YAML
description and the JSON Schema are all derived from it; a table module
adds only the rules that really are its own (as hooks).
"""
from __future__ import annotations

import struct as _struct
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence

from .fields import Bytes, Construct, Int32ul, Struct, leaf

from ..errors import TableError
from . import description as d
from .flags import FlagSet
from .roles import NO_ROLE, Role
from .table import Node, NodeType, Ref, Table, flat_rows, plain, struct_rows
from .yamlio import Flow, Hex

if TYPE_CHECKING:
    from .table import TableSpec

# A fixed-part field: (first node revision, last node revision or None, subcon).
Field = tuple[int, Optional[int], Construct]
Row = tuple[int, int, str, str, Any]  # (node offset, size, dotted name, label, value)


def since(revision: int, sub: Construct, until: int | None = None) -> Field:
    return (revision, until, sub)


@dataclass(frozen=True)
class Array:
    """A node-relative array. `count` and `offset` name the fields (header
    or fixed part) holding its element count and node offset; None: exactly
    one element / right after the fixed part. `elem` None is a
    NUL-terminated name; a plain integer construct gives a list of ints."""

    key: str
    elem: Construct | None
    count: str | None = None
    offset: str | None = None
    label: str = ""  # text label of a name or of plain-integer elements
    refs: tuple[str, ...] = ()  # element fields that are references to nodes
    flags: tuple[tuple[str, FlagSet], ...] = ()  # element field -> flags word
    always: bool = False  # describe every member, and the list even when empty
    # Description language of the elements when it is not the generic one
    # (fields by name): element -> description item, and back.
    describe: Callable[[dict], dict] | None = None
    compile: Callable[..., dict] | None = None

    @property
    def single(self) -> bool:
        return self.count is None and self.elem is not None

    @cached_property
    def elem_size(self) -> int:
        # sizeof() walks the Struct on every call; the text view and the
        # layout ask per element (issue 11)
        return _sizeof(self.elem) if self.elem is not None else 1

    @property
    def flag_map(self) -> dict[str, FlagSet]:
        return dict(self.flags)


@lru_cache(maxsize=None)
def _sizeof(elem: Construct) -> int:
    return elem.sizeof()


NodeArray = Array  # the name tables/iort.py used


class Block:
    """The text rows of one array of flat structures (ID mappings), kept
    together: formats/render.py formats them column by column from the
    declaration; rows() gives them one by one, as layout() does."""

    __slots__ = ("arr", "items", "base", "last")

    def __init__(self, arr: Array, items: list, base: int):
        self.arr, self.items, self.base = arr, items, base
        # node offset of the last row (every row lies in [base, last])
        self.last = base + (len(items) - 1) * arr.elem_size + max(
            (r[0] for r in flat_rows(arr.elem) or ()), default=0)

    def rows(self) -> list[Row]:
        arr, rows = self.arr, []
        elem: Any = arr.elem  # a Struct: only arrays of flat structures make a Block
        for i, item in enumerate(self.items):
            rows += flag_rows(struct_rows(elem, item, self.base + i * arr.elem_size),
                              arr.flag_map)
        return rows


# --- the bulk path: struct-module formats for plain-integer structures -------

@lru_cache(maxsize=None)
def fast_format(elem: Construct) -> tuple[tuple[str, ...], _struct.Struct] | None:
    """(names, struct-module format) of an element made only of
    little-endian integers (ID mappings, interrupts), or None: the
    declaration's own plan (engine/fields.py), so the format is derived
    in one place."""
    return elem.int_format() if isinstance(elem, Struct) else None


def _field_where(name: str) -> Callable[[int], str]:
    def where_of(i: int) -> str:
        return name
    return where_of


def _element_where(key: str, ref: str) -> Callable[[int], tuple]:
    def where_of(i: int) -> tuple:
        return (key, i, ref)
    return where_of


@lru_cache(maxsize=None)
def _dict_maker(names: tuple[str, ...]) -> Callable[..., dict]:
    """A function of len(names) values giving {name: value}: a dict display
    of constant keys builds an ID mapping in half the time dict(zip(names,
    values)) takes (issue 11: 8,000 of them per large table). The source is
    made from the declaration's field names only, as repr'd constants."""
    args = ", ".join(f"v{i}" for i in range(len(names)))
    body = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(names))
    return eval(f"lambda {args}: {{{body}}}")  # noqa: S307 (declaration names, not input)


def parse_array(elem: Construct, blob: bytes, off: int, n: int, fast: bool = True) -> list:
    """n elements at blob[off:]; the caller has bounds-checked the span."""
    if not n:
        return []
    compiled = fast_format(elem) if fast else None
    if compiled is not None:
        from itertools import starmap  # a C loop calling the maker per element
        names, fmt = compiled
        return list(starmap(_dict_maker(names), fmt.iter_unpack(blob[off:off + n * fmt.size])))
    if fast and leaf(elem) is Int32ul:
        return list(_struct.unpack_from(f"<{n}I", blob, off))
    size = elem.sizeof()
    return [plain(elem.parse(blob[off + i * size:off + (i + 1) * size])) for i in range(n)]


def build_array(elem: Construct, items: Sequence, fast: bool = True) -> bytes:
    compiled = fast_format(elem) if fast else None
    try:
        if compiled is not None:
            names, fmt = compiled
            return b"".join(fmt.pack(*(item[k] for k in names)) for item in items)
        if fast and leaf(elem) is Int32ul:
            return _struct.pack(f"<{len(items)}I", *items)
    except _struct.error as exc:
        raise TableError(f"an array element does not fit its field ({exc})") from None
    return b"".join(elem.build(item) for item in items)


# --- helpers ------------------------------------------------------------------

def align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _put(buf: bytearray, off: int, blob: bytes, what: str, node: Node) -> None:
    if off < 0 or off + len(blob) > len(buf):
        raise TableError(f"{what} [0x{off:X}, 0x{off + len(blob):X}) does not fit the node "
                         f"length 0x{len(buf):X}", node=node.name or None, field=what)
    buf[off:off + len(blob)] = blob


def gaps_of(blob: bytes, covered: list[tuple[int, int]]) -> list[dict]:
    """Non-zero bytes that no field or array covers (zero ones are what a
    build writes anyway; the node Length says how far they go)."""
    gaps = []
    pos = 0
    for start, end in sorted(covered) + [(len(blob), len(blob))]:
        if start > pos and any(blob[pos:start]):
            gaps.append({"offset": pos, "data": blob[pos:start]})
        pos = max(pos, end)
    return gaps


def inner_struct(sub: Construct) -> Struct | None:
    """The structure a field holds (None for a leaf)."""
    inner = leaf(sub)
    return inner if inner is not sub and isinstance(inner, Struct) else None


def _bytes_size(sub: Construct) -> int | None:
    inner = leaf(sub)
    return inner.sizeof() if isinstance(inner, Bytes) else None


def flag_rows(rows: list[Row], flags: Mapping[str, FlagSet]) -> list[Row]:
    """Each row of a flags word followed by its "decoded below" sub-lines."""
    out = []
    for row in rows:
        out.append(row)
        flagset = flags.get(row[2]) or flags.get(row[2].split(".")[-1])
        if flagset is not None and isinstance(row[4], int):
            out += [(row[0], 0, f"{row[2]}.{name}", label, value)
                    for name, label, value in flagset.rows(row[4])]
    return out


def plain_hex(name: str, value: int) -> Any:
    return Hex(value)


# --- the declaration ------------------------------------------------------------

class NodeKind(NodeType):
    """A node kind: the common header, a fixed part whose fields depend on
    the node revision, and node-relative arrays. See the module docstring.

    optional          fixed-part fields a node of a revision that has them
                      may still leave out (the IORT RC Flags word)
    optional_present  (kind, parsed header, node length) -> whether they
                      are there, for decoding
    describe_int      (field, value) -> how an integer is written in YAML
    header_labels     table -> {header field: label} for the text view
    """

    def __init__(self, code: int, kind: str, label: str, *, header: Struct,
                 fixed: Sequence[Field], arrays: Sequence[Array] = (),
                 flags: Mapping[str, FlagSet] | None = None, prefix: str = "node",
                 refs: tuple[str, ...] = (), role: Role = NO_ROLE, source: str = "",
                 optional: tuple[str, ...] = (),
                 optional_present: Callable[["NodeKind", Any, int], bool] | None = None,
                 describe_int: Callable[[str, int], Any] = plain_hex,
                 header_labels: Callable[["Table | None"], dict[str, str]] | None = None,
                 node_align: int = 4, keys: tuple[str, ...] = ()):
        self.header = header
        self.fixed_fields = tuple(fixed)
        self.arrays = tuple(arrays)
        self.flags = dict(flags or {})
        self.prefix = prefix
        self.source = source
        self.optional = optional
        self.optional_present = optional_present
        self.describe_int = describe_int
        self.header_labels = header_labels
        self.node_align = node_align
        self.keys = keys  # description keys a table module adds (compile sugar)
        self.ref_fields = refs
        self.derived = {a.count for a in self.arrays if a.count}
        self.offset_fields = tuple(a.offset for a in self.arrays if a.offset)
        self.header_size = header.sizeof()
        self.length_max = (1 << 8 * _field_size(header, "length")) - 1
        top = max((lo for lo, _, _ in self.fixed_fields), default=0)
        full = Struct("header" / header, *self.body(top).subcons)
        super().__init__(code, kind, label, full, self.header_size + self.body(0).sizeof(),
                         refs=refs, role=role)

    # -- the fixed part per revision ---------------------------------------------

    @lru_cache(maxsize=None)
    def body(self, revision: int, full: bool = True) -> Struct:
        """The fixed part after the node header for one node revision;
        `full` False leaves the optional fields out."""
        return Struct(*[sub for lo, hi, sub in self.fixed_fields
                        if lo <= revision and (hi is None or revision <= hi)
                        and (full or sub.name not in self.optional)])

    def revisions_of(self, name: str) -> tuple[int, int | None] | None:
        for lo, hi, sub in self.fixed_fields:
            if sub.name == name:
                return lo, hi
        return None

    def is_full(self, fields: Mapping[str, Any]) -> bool:
        return not self.optional or all(name in fields for name in self.optional)

    def body_of(self, fields: Mapping[str, Any]) -> Struct:
        return self.body(fields.get("revision", 0), self.is_full(fields))

    @lru_cache(maxsize=None)
    def fixed_bytes(self, revision: int, full: bool = True) -> int:
        return self.header_size + self.body(revision, full).sizeof()

    def min_length(self, spec: "TableSpec", revision: int | None) -> int:
        return self.fixed_bytes(revision or 0, full=False)

    def ref_paths(self, fields: dict) -> tuple[str, ...]:
        paths = list(self.ref_fields)
        for arr in self.arrays:
            for ref in arr.refs:
                paths += [f"{arr.key}.{i}.{ref}" for i in range(len(fields.get(arr.key, ())))]
        return tuple(paths)

    def ref_slots(self, fields: dict) -> Iterable[tuple[Any, Any, Any]]:
        if any("." in name for name in self.ref_fields) or any(
                arr.refs and not isinstance(fields.get(arr.key, ()), (list, tuple))
                for arr in self.arrays):
            yield from super().ref_slots(fields)  # nested or not a list: the generic walk
            return
        for name in self.ref_fields:
            yield fields, name, name
        for arr in self.arrays:
            items = fields.get(arr.key, ())
            for ref in arr.refs:  # ref_paths order: every element for one ref field, then the next
                for i, item in enumerate(items):
                    yield item, ref, (arr.key, i, ref)

    def ref_columns(self, fields: dict) -> Iterable[tuple[list, Any, Callable[[int], Any]]]:
        if any("." in name for name in self.ref_fields) or any(
                arr.refs and not isinstance(fields.get(arr.key, ()), (list, tuple))
                for arr in self.arrays):
            yield from super().ref_columns(fields)  # the generic walk, slot by slot
            return
        for name in self.ref_fields:
            yield [fields], name, _field_where(name)
        for arr in self.arrays:
            items = fields.get(arr.key, ())
            for ref in arr.refs:
                yield list(items), ref, _element_where(arr.key, ref)

    # -- decoding ------------------------------------------------------------------

    def parse(self, blob: bytes, spec: "TableSpec", ctx: dict) -> dict:
        where = ctx["offset"]
        head = self.header.parse(blob)
        if head.length != len(blob):
            raise TableError("the node runs past the table end", offset=where)
        rev = head.get("revision", 0)
        full = True
        if self.optional and self.optional_present is not None:
            full = self.optional_present(self, head, len(blob))
        body = self.body(rev, full)
        fixed = self.header_size + body.sizeof()
        if fixed > len(blob):
            raise TableError(f"node length {len(blob)} is shorter than the {fixed}-byte fixed "
                             f"part of a revision-{rev} {self.label} node", offset=where + 1)
        values = plain(body.parse(blob[self.header_size:fixed]))
        counts: dict[str, int] = {}
        fields: dict = {}
        layout: dict = {}
        for sub in self.header.subcons:
            name = sub.name
            if name == "type":
                continue
            if name in self.derived:
                counts[name] = head[name]
            elif name == "length" or name in self.offset_fields:
                layout[name] = head[name]
            else:
                fields[name] = head[name]
        fields.update(layout)  # values first, then where things are
        for sub in body.subcons:
            if sub.name in self.derived:
                counts[sub.name] = values[sub.name]
            else:
                fields[sub.name] = values[sub.name]
        covered = [(0, fixed)]
        # ctx["partial"]: the fixed part for the checks of a node kept raw;
        # arrays that do not fit are left out and listed, not raised.
        partial = ctx.get("partial", False)
        overruns: list[TableError] = []
        for arr in self.arrays:
            off = fields[arr.offset] if arr.offset else fixed
            if arr.elem is None:
                end = blob.find(b"\0", off)
                if end < 0:
                    exc = TableError(f"{arr.key} has no NUL terminator inside the node",
                                     offset=where + off, field=arr.key)
                    if partial:
                        overruns.append(exc)
                        continue
                    raise exc
                fields[arr.key] = blob[off:end].decode("latin-1")
                covered.append((off, end + 1))
                continue
            n = 1 if arr.count is None else counts[arr.count]
            size = n * arr.elem_size  # bounds-checked before any list is built
            if n and (off < 0 or off + size > len(blob)):
                exc = TableError(f"{n} {arr.key} entries at node offset 0x{off:X} "
                                 f"({size} bytes) run past the node end (0x{len(blob):X})",
                                 offset=where + off, field=arr.offset or arr.key)
                if partial:
                    overruns.append(exc)
                    continue
                raise exc
            items = parse_array(arr.elem, blob, off, n)
            fields[arr.key] = items[0] if arr.single else items
            if size:
                covered.append((off, off + size))
        if partial:
            fields["_counts"], fields["_overruns"] = counts, overruns
            return fields
        gaps = gaps_of(blob, covered)
        if gaps:
            fields["gaps"] = gaps
        return fields

    # -- layout and building -----------------------------------------------------------

    def place(self, fields: Mapping[str, Any]) -> tuple[dict[str, tuple[int, int]], int, int]:
        """The one layout rule: ({array: (node offset, bytes)}, fixed size,
        Length). Default: fixed part, then each array in declaration order
        (names at the fixed end, other arrays aligned, empty counted arrays
        at offset 0); a node ends with its last array, or is padded to the
        alignment. Explicit offsets and length in `fields` win."""
        fixed = self.fixed_bytes(fields.get("revision", 0), self.is_full(fields))
        cursor, out = fixed, {}
        for arr in self.arrays:
            if arr.elem is None:
                size = len(fields.get(arr.key, "")) + 1
            elif arr.single:
                size = arr.elem_size
            else:
                size = len(fields.get(arr.key, ())) * arr.elem_size
            if arr.offset is None:
                off = fixed
            elif arr.offset in fields:
                off = fields[arr.offset]
            elif size == 0 and arr.count is not None:
                off = 0
            else:
                off = align(cursor, self.node_align)
            if size:
                cursor = max(cursor, off + size)
            out[arr.key] = (off, size)
        for gap in fields.get("gaps", ()):
            cursor = max(cursor, gap["offset"] + len(gap["data"]))
        last = out[self.arrays[-1].key] if self.arrays else (0, 0)
        default = cursor if last[1] and cursor == sum(last) else align(cursor, self.node_align)
        return out, fixed, fields.get("length", default)

    def size(self, node: Node, spec: "TableSpec") -> int:
        """Bytes the node occupies, refused before anything is allocated
        when its Length field cannot hold them."""
        return self._check_length(node, self.place(node.fields)[2])

    def _check_length(self, node: Node, length: int) -> int:
        if length > self.length_max:
            arrays = ", ".join(f"{len(node.fields.get(a.key) or ())} {a.key}"
                               for a in self.arrays if a.count)
            raise TableError(f"the {self.label} node needs {length} bytes"
                             + (f" ({arrays})" if arrays else "")
                             + f"; its Length field holds at most {self.length_max}",
                             node=node.name or None, field="length")
        return length

    def build(self, node: Node, resolve: Callable[[Ref], int], spec: "TableSpec") -> bytes:
        f = node.fields
        body = self.body_of(f)
        placed, fixed, length = self.place(f)
        self._check_length(node, length)
        buf = bytearray(length)
        for gap in f.get("gaps", ()):
            _put(buf, gap["offset"], gap["data"], "gap", node)
        values = self._layout_values(f, placed)
        for path in self.ref_fields:
            values[path] = resolve(values[path])
        values.update(type=self.code, length=node.length_override or length)
        head_values = {sub.name: values.get(sub.name, 0) for sub in self.header.subcons}
        _put(buf, 0, self.header.build(head_values) + body.build(values),
             "fixed part", node)
        for arr in self.arrays:
            off, size = placed[arr.key]
            if not size:
                continue
            if arr.elem is None:
                blob = f.get(arr.key, "").encode("latin-1") + b"\0"
            elif arr.single:
                blob = arr.elem.build(f.get(arr.key, {}))
            else:
                items = f.get(arr.key, ())
                if arr.refs:
                    items = [dict(m, **{r: resolve(m[r]) for r in arr.refs}) for m in items]
                blob = build_array(arr.elem, items)
            _put(buf, off, blob, arr.key, node)
        return bytes(buf)

    def _layout_values(self, f: Mapping[str, Any], placed: dict) -> dict:
        values = dict(f)
        for arr in self.arrays:
            if arr.count:
                values[arr.count] = len(f.get(arr.key, ()))
            if arr.offset:
                values[arr.offset] = placed[arr.key][0]
        return values

    # -- text view ---------------------------------------------------------------------

    def layout(self, node: Node, spec: "TableSpec", table: Table | None = None) -> list[Row]:
        rows: list[Row] = []
        for piece in self._layout_pieces(node, table):
            rows += piece.rows() if isinstance(piece, Block) else piece
        return sorted(rows, key=lambda r: r[0])

    def text_rows(self, node: Node, spec: "TableSpec", table: Table | None = None) -> list:
        """layout()'s rows, except that the elements of an array of flat
        structures stay one Block where no other row falls inside its span
        (then the order is the same as sorting its rows in would give)."""
        pieces = self._layout_pieces(node, table)
        blocks = [p for p in pieces if isinstance(p, Block)]
        rows = [r for p in pieces if not isinstance(p, Block) for r in p]
        spans = sorted((b.base, b.last) for b in blocks)
        offsets = sorted(r[0] for r in rows)
        clash = any(a[1] >= b[0] for a, b in zip(spans, spans[1:])) or any(
            bisect_left(offsets, lo) < len(offsets) and offsets[bisect_left(offsets, lo)] <= hi
            for lo, hi in spans)
        if clash:  # overlapping arrays (a hostile table): rows, as layout() gives them
            for b in blocks:
                rows += b.rows()
            return sorted(rows, key=lambda r: r[0])
        return sorted(rows + blocks, key=lambda r: r.base if isinstance(r, Block) else r[0])

    def _layout_pieces(self, node: Node, table: Table | None) -> list:
        """The text rows in the order they are made (header, fixed part,
        each array, gaps), an array of flat structures as one Block."""
        f = node.fields
        body = self.body_of(f)
        placed, fixed, length = self.place(f)
        values = self._layout_values(f, placed)
        values.update(type=self.code, length=length)
        rows = struct_rows(self.header, values, 0)
        if self.header_labels is not None:
            labels = self.header_labels(table)
            rows = [r if r[2] not in labels else (*r[:3], labels[r[2]], r[4]) for r in rows]
        rows += flag_rows(struct_rows(body, values, self.header_size), self.flags)
        pieces: list = [rows]
        for arr in self.arrays:
            off, size = placed[arr.key]
            if arr.elem is None:
                pieces.append([(off, size, arr.key, arr.label, f.get(arr.key, ""))])
                continue
            if not isinstance(arr.elem, Struct):  # plain integers
                width = arr.elem_size
                pieces.append([(off + width * i, width, f"{arr.key}.{i}", arr.label, v)
                               for i, v in enumerate(f.get(arr.key, ()))])
                continue
            items = [f.get(arr.key, {})] if arr.single else f.get(arr.key, ())
            if not arr.single and isinstance(items, list) and items and flat_rows(arr.elem):
                pieces.append(Block(arr, items, off))
                continue
            rows = []
            for i, item in enumerate(items):
                rows += flag_rows(struct_rows(arr.elem, item, off + i * arr.elem_size),
                                  arr.flag_map)
            pieces.append(rows)
        pieces.append([(gap["offset"], len(gap["data"]), "gap", "Padding", gap["data"])
                       for gap in f.get("gaps", ())])
        return pieces

    # -- description (YAML) ----------------------------------------------------------

    def reserved_sizes(self, body: Struct) -> dict[str, int]:
        return dict(_reserved_sizes(body))

    def compile_fixed(self, item: Mapping[str, Any], rev: int, full: bool, p: d.Problems,
                      path: tuple, ref: Callable[[Any, tuple], Ref], used: set) -> dict:
        """The fixed-part fields of a description item (integers, flags by
        name, references by name, nested structures, reserved bytes)."""
        f: dict = {}
        body = self.body(rev, full)
        reserved = item.get("reserved") or {}
        sizes = _reserved_sizes(body)  # read only here
        for key in reserved if isinstance(reserved, dict) else ():
            if key not in sizes:
                p.error(path + ("reserved", key), f"no reserved field {key!r} in a revision-"
                        f"{rev} {self.label} node (known: {', '.join(sizes) or 'none'})",
                        key=True)

        def reserved_bytes(key: str) -> bytes:
            if key not in reserved:
                return bytes(sizes[key])
            raw = d.hex_bytes(reserved[key], p, path + ("reserved", key))
            if len(raw) != sizes[key]:
                p.error(path + ("reserved", key), f"{key} is {sizes[key]} bytes, "
                        f"{len(raw)} given")
                return bytes(sizes[key])
            return raw

        for key, nested in _fields_of(body):
            if key in self.derived:
                continue
            used.add(key)
            if key in self.offset_fields:
                if key in item:
                    f[key] = item[key]
            elif "reserved" in key:
                f[key] = reserved_bytes(key)
            elif nested is not None:
                value = item.get(key) or {}
                out: dict = {}
                for part in nested.subcons:
                    name = part.name
                    if "reserved" in name:
                        out[name] = reserved_bytes(f"{key}.{name}")
                    elif name in self.flags:
                        out[name] = self.flags[name].compile(value.get(name, 0), p,
                                                             path + (key, name))
                    else:
                        out[name] = value.get(name, 0)
                f[key] = out
            elif key in self.ref_fields:
                if key not in item:
                    p.error(path, f"missing required key {key!r}")
                f[key] = ref(item.get(key), path + (key,))
            elif key in self.flags:
                f[key] = self.flags[key].compile(item.get(key, 0), p, path + (key,))
            else:
                f[key] = item.get(key, 0)
        return f

    def compile_arrays(self, item: Mapping[str, Any], p: d.Problems, path: tuple,
                       ref: Callable[[Any, tuple], Ref], used: set) -> dict:
        f: dict = {}
        for arr in self.arrays:
            used.add(arr.key)
            value = item.get(arr.key)
            apath = path + (arr.key,)
            if arr.elem is None:
                if value is None:
                    p.error(path, f"missing required key {arr.key!r}")
                f[arr.key] = _latin1(value or "", p, apath)
            elif not isinstance(arr.elem, Struct):
                f[arr.key] = list(value or [])
            elif arr.compile is not None:
                f[arr.key] = [arr.compile(m, p, apath + (j,), ref)
                              for j, m in enumerate(value or [])]
            elif arr.single:
                f[arr.key] = _compile_elem(arr, value or {}, p, apath, ref)
            else:
                f[arr.key] = [_compile_elem(arr, v, p, apath + (j,), ref)
                              for j, v in enumerate(value or [])]
        return f

    def describe_fields(self, f: Mapping[str, Any], item: dict) -> None:
        """The fixed part and the arrays of a decoded node, as the
        description language writes them (zero values and empty arrays
        left out), then reserved bytes, layout and gaps."""
        body = self.body_of(f)
        reserved = {}
        for sub in body.subcons:
            key = sub.name
            if key in self.derived or key in self.offset_fields:
                continue
            value = f[key]
            if isinstance(value, bytes):
                if any(value):
                    reserved[key] = value.hex()
            elif isinstance(value, dict):
                mem = {}
                for k, v in value.items():
                    if isinstance(v, bytes):
                        if any(v):
                            reserved[f"{key}.{k}"] = v.hex()
                    elif v:
                        mem[k] = self.flags[k].describe(v) if k in self.flags else v
                if mem:
                    item[key] = mem
            elif key in self.ref_fields:
                item[key] = d.describe_ref(value)
            elif value:
                item[key] = (self.flags[key].describe(value) if key in self.flags
                             else self.describe_int(key, value))
        for arr in self.arrays:
            value = f.get(arr.key)
            if value is None:
                continue
            if arr.elem is None:
                item[arr.key] = value
            elif not isinstance(arr.elem, Struct):
                if value:
                    item[arr.key] = Flow(value)
            elif arr.single:
                elem = _describe_elem(arr, value)
                if elem:
                    item[arr.key] = elem
            elif value or arr.always:
                item[arr.key] = (list(map(arr.describe, value)) if arr.describe else
                                 [_describe_elem(arr, e) for e in value])
        if reserved:
            item["reserved"] = reserved
        # Layout: only what differs from the default layout of the same content.
        candidate = {k: v for k, v in f.items() if k not in self.offset_fields and k != "length"}
        for arr in self.arrays:
            if arr.offset and arr.offset in f:
                placed = self.place(candidate)[0]
                if placed[arr.key][0] != f[arr.offset]:
                    candidate[arr.offset] = item[arr.offset] = Hex(f[arr.offset])
        if "length" in f and self.place(candidate)[2] != f["length"]:
            item["length"] = f["length"]
        if f.get("gaps"):
            item["gaps"] = [{"offset": Hex(g["offset"]), "data": g["data"].hex()}
                            for g in f["gaps"]]

    def description_keys(self, common: Iterable[str]) -> list[str]:
        """Every key a description item of this kind may have."""
        keys = set(common) | set(self.keys) | {a.key for a in self.arrays}
        for lo, hi, sub in self.fixed_fields:
            if sub.name not in self.derived and "reserved" not in sub.name:
                keys.add(sub.name)
        return sorted(keys)


@lru_cache(maxsize=None)
def _reserved_sizes(body: Struct) -> dict[str, int]:
    """description.reserved_sizes of a fixed part, worked out once per
    fixed part rather than per node compiled."""
    return d.reserved_sizes(body)


@lru_cache(maxsize=None)
def _fields_of(body: Struct) -> tuple[tuple[str, Struct | None], ...]:
    """(name, nested Struct or None) of each field of a fixed part, once."""
    return tuple((sub.name, inner_struct(sub)) for sub in body.subcons)


def _field_size(st: Struct, name: str) -> int:
    for sub in st.subcons:
        if sub.name == name:
            return sub.sizeof()
    raise KeyError(name)


def _latin1(value: Any, p: d.Problems, path: tuple) -> str:
    text = str(value)
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        p.error(path, f"{text!r} has characters outside latin-1")
        return ""
    if "\0" in text:
        p.error(path, "a device name cannot contain NUL")
    return text


def _compile_elem(arr: Array, value: Any, p: d.Problems, path: tuple,
                  ref: Callable[[Any, tuple], Ref]) -> dict:
    out: dict = {}
    flags = arr.flag_map
    value = value if isinstance(value, dict) else {}
    if not isinstance(arr.elem, Struct):  # a declaration error, not an input one
        raise TypeError(f"{arr.key}: elements are not a Struct")
    for sub in arr.elem.subcons:
        name = sub.name
        size = _bytes_size(sub)
        if size:
            raw = bytes(size) if value.get(name) is None else \
                d.hex_bytes(value[name], p, path + (name,))
            if len(raw) != size:
                p.error(path + (name,), f"{size} bytes are needed, {len(raw)} given")
                raw = bytes(size)
            out[name] = raw
        elif name in flags:
            out[name] = flags[name].compile(value.get(name, 0), p, path + (name,))
        elif name in arr.refs:
            out[name] = ref(value.get(name), path + (name,))
        else:
            out[name] = value.get(name, 0)
    return out


def _describe_elem(arr: Array, elem: Mapping[str, Any]) -> dict:
    out: dict = {}
    flags = arr.flag_map
    for k, v in elem.items():
        if isinstance(v, bytes):
            if any(v):
                out[k] = v.hex()
        elif isinstance(v, Ref):
            out[k] = d.describe_ref(v)
        elif v or arr.always:
            out[k] = flags[k].describe(v) if k in flags else Hex(v)
    return out
