"""acpitables.engine.streams -- nodes whose body ends in a stream of
self-sized elements.

Some tables carry no count for what follows a node's fixed part: the
elements run to the node's end and each one says (by a length byte, or by
its type code) how big it is -- DMAR device scopes (VT-d 8.3.1: type,
length, then path entries), IVRS device entries (4, 8 or 32 bytes by type,
the ACPI HID entry by its UID length). A `Stream` declares the element
kinds once; a `StreamKind` is a NodeKind (fixed part, flags, role,
description of the fixed part, schema) whose node ends in one stream.

Lenient and lossless: the walk stops at the first element whose size
cannot be told or that does not fit the node, and keeps the bytes from
there on verbatim (`rest`); an element of a code no kind declares is kept
as bytes of the size the stream's rule gives it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .fields import ConstructError, Struct

from ..errors import TableError
from .flags import FlagSet
from .nodes import NodeKind, Row, flag_rows
from .table import Node, Ref, plain, struct_rows

if TYPE_CHECKING:
    from .table import Table, TableSpec

REST = "rest"  # node field: bytes after the last element that could be walked


def refuse_unwalked(fields: dict, where: str, element: str, noun: str, plural: str) -> None:
    """For writers that rebuild a stream field by field (iasl's templates):
    bytes after the last element, or bytes no field covers, have no place
    in such a source, so the writer refuses (and the caller falls back)."""
    if fields.get(REST):
        raise TableError(f"{len(fields[REST])} bytes after the last {element} are no "
                         f"{noun}: iasl writes whole {plural} only", node=where, field=REST)
    if fields.get("gaps"):
        raise TableError("bytes no field covers: iasl writes fields back to back", node=where,
                         field="gaps")


@dataclass(frozen=True)
class Element:
    """One element kind of a stream.

    struct        the fixed part, from the element's first byte (its type)
    tail          key of what follows the fixed part up to the element's
                  size: a list of `tail_elem` entries, or bytes when
                  tail_elem is None
    extra         key of bytes a size leaves over after whole tail entries
    length_field  fixed-part field rebuilt as the element's size
    count_field   fixed-part field rebuilt as the tail's length in bytes
    """

    code: int | None  # None: the kind of every code no other kind declares
    kind: str
    label: str
    struct: Struct
    tail: str | None = None
    tail_elem: Struct | None = None
    extra: str | None = None
    length_field: str | None = None
    count_field: str | None = None
    flags: Mapping[str, FlagSet] = field(default_factory=dict)

    @property
    def fixed(self) -> int:
        return self.struct.sizeof()


class Stream:
    """Elements back to back up to the node end.

    size_of(blob, off, end) -> the element's size as its own bytes give it
    (the stream's rule), or None when they cannot tell (too few bytes, a
    zero length). Codes without an Element (and no default) are kept as
    {"type": code, "data": bytes} of that size."""

    def __init__(self, key: str, label: str, elements: Sequence[Element],
                 size_of: Callable[[bytes, int, int], int | None], type_field: str = "type"):
        self.key, self.label = key, label
        self.kinds = {e.code: e for e in elements if e.code is not None}
        self.default = next((e for e in elements if e.code is None), None)
        self.by_kind = {e.kind: e for e in elements}
        self.size_of = size_of
        self.type_field = type_field

    def element(self, code: int) -> Element | None:
        return self.kinds.get(code, self.default)

    # -- decoding -------------------------------------------------------------

    def parse(self, blob: bytes, start: int, where: int) -> tuple[list[dict], bytes]:
        """(elements, rest) of blob[start:]; `where` is the node's table
        offset (for nothing but messages: this never raises on content)."""
        items: list[dict] = []
        off, end = start, len(blob)
        while off < end:
            size = self.size_of(blob, off, end)
            if size is None or size <= 0 or off + size > end:
                break
            code = blob[off]
            kind = self.element(code)
            chunk = blob[off:off + size]
            if kind is None or size < kind.fixed:
                items.append({self.type_field: code, "data": chunk})
            else:
                items.append(self._parse_one(kind, chunk))
            off += size
        return items, blob[off:]

    def _parse_one(self, kind: Element, chunk: bytes) -> dict:
        values = plain(kind.struct.parse(chunk[:kind.fixed]))
        more = chunk[kind.fixed:]
        if kind.tail is not None:
            if kind.tail_elem is not None:
                width = kind.tail_elem.sizeof()
                n = len(more) // width
                values[kind.tail] = [plain(kind.tail_elem.parse(more[i * width:(i + 1) * width]))
                                     for i in range(n)]
                more = more[n * width:]
            else:
                values[kind.tail], more = more, b""
        if more:
            values[kind.extra or "extra"] = more
        return values

    # -- building ----------------------------------------------------------------

    def elem_size(self, item: Mapping[str, Any]) -> int:
        if "data" in item:
            return len(item["data"])
        kind = self.element(item[self.type_field])
        if kind is None:
            raise TableError(f"{self.label} type 0x{item[self.type_field]:X} has no declaration; "
                             "give its bytes as data")
        return kind.fixed + len(self._tail_bytes(kind, item)) + len(self._extra(kind, item))

    def size(self, items: Sequence[Mapping[str, Any]]) -> int:
        return sum(self.elem_size(i) for i in items)

    def _tail_bytes(self, kind: Element, item: Mapping[str, Any]) -> bytes:
        if kind.tail is None:
            return b""
        value = item.get(kind.tail) or (() if kind.tail_elem is not None else b"")
        if kind.tail_elem is not None:
            return b"".join(kind.tail_elem.build(v) for v in value)
        return bytes(value)

    @staticmethod
    def _extra(kind: Element, item: Mapping[str, Any]) -> bytes:
        return bytes(item.get(kind.extra or "extra") or b"")

    def build_one(self, item: Mapping[str, Any]) -> bytes:
        if "data" in item:
            return bytes(item["data"])
        kind = self.element(item[self.type_field])
        assert kind is not None  # elem_size refused it first
        tail, extra = self._tail_bytes(kind, item), self._extra(kind, item)
        values = dict(item)
        if kind.length_field and values.get("_" + kind.length_field) is None:
            values[kind.length_field] = kind.fixed + len(tail) + len(extra)
        elif kind.length_field:
            values[kind.length_field] = values["_" + kind.length_field]
        if kind.count_field:
            values[kind.count_field] = len(tail)
        try:
            return kind.struct.build(values) + tail + extra
        except ConstructError as exc:
            raise TableError(f"cannot encode a {kind.label}: {str(exc).splitlines()[-1]}",
                             field=self.key) from None

    def build(self, items: Sequence[Mapping[str, Any]]) -> bytes:
        return b"".join(self.build_one(i) for i in items)

    # -- text view ------------------------------------------------------------------

    def rows(self, items: Sequence[Mapping[str, Any]], base: int) -> list[Row]:
        rows: list[Row] = []
        off = base
        for i, item in enumerate(items):
            size = self.elem_size(item)
            prefix = f"{self.key}.{i}"
            kind = None if "data" in item else self.element(item[self.type_field])
            if kind is None:
                rows.append((off, 1, f"{prefix}.{self.type_field}", f"{self.label} Type",
                             item[self.type_field]))
                if size > 1:
                    rows.append((off + 1, size - 1, f"{prefix}.data", "Raw data",
                                 bytes(item["data"][1:])))
                off += size
                continue
            values = dict(item)
            tail, extra = self._tail_bytes(kind, item), self._extra(kind, item)
            if kind.length_field:
                values[kind.length_field] = size
            if kind.count_field:
                values[kind.count_field] = len(tail)
            rows += flag_rows(struct_rows(kind.struct, values, off, prefix + "."), kind.flags)
            pos = off + kind.fixed
            if kind.tail is not None and kind.tail_elem is not None:
                width = kind.tail_elem.sizeof()
                for j, entry in enumerate(item.get(kind.tail) or ()):
                    rows += struct_rows(kind.tail_elem, entry, pos, f"{prefix}.{kind.tail}.{j}.")
                    pos += width
            elif kind.tail is not None and tail:
                rows.append((pos, len(tail), f"{prefix}.{kind.tail}", kind.tail.title(),
                             item.get(kind.tail)))
                pos += len(tail)
            if extra:
                rows.append((pos, len(extra), f"{prefix}.{kind.extra or 'extra'}", "Extra data",
                             extra))
            off += size
        return rows


class StreamKind(NodeKind):
    """A NodeKind whose node ends in one Stream (no arrays of its own)."""

    def __init__(self, *args: Any, stream: Stream, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.stream = stream

    def parse(self, blob: bytes, spec: "TableSpec", ctx: dict) -> dict:
        where = ctx["offset"]
        head = self.header.parse(blob)
        if head.length != len(blob):
            raise TableError("the node runs past the table end", offset=where)
        body = self.body(0)
        fixed = self.header_size + body.sizeof()
        if fixed > len(blob):
            raise TableError(f"node length {len(blob)} is shorter than the {fixed}-byte fixed "
                             f"part of a {self.label}", offset=where)
        fields: dict = {sub.name: head[sub.name] for sub in self.header.subcons
                        if sub.name not in ("type", "length")}
        fields.update(plain(body.parse(blob[self.header_size:fixed])))
        fields["length"] = head.length
        items, rest = self.stream.parse(blob, fixed, where)
        fields[self.stream.key] = items
        if rest:
            fields[REST] = rest
        return fields

    def place(self, fields: Mapping[str, Any]) -> tuple[dict[str, tuple[int, int]], int, int]:
        """Fixed part, the stream, the rest; Length from `fields` wins."""
        fixed = self.fixed_bytes(0)
        size = self.stream.size(fields.get(self.stream.key) or ()) + len(fields.get(REST) or b"")
        return {self.stream.key: (fixed, size)}, fixed, fields.get("length", fixed + size)

    def build(self, node: Node, resolve: Callable[[Ref], int], spec: "TableSpec") -> bytes:
        f = node.fields
        length = self.size(node, spec)
        values = dict(f)
        for path in self.ref_fields:
            values[path] = resolve(values[path])
        values.update(type=self.code, length=node.length_override or length)
        head = self.header.build({sub.name: values.get(sub.name, 0)
                                  for sub in self.header.subcons})
        blob = (head + self.body(0).build(values)
                + self.stream.build(f.get(self.stream.key) or ())
                + bytes(f.get(REST) or b""))
        if len(blob) > length:
            raise TableError(f"the {self.label}'s content is {len(blob)} bytes, more than its "
                             f"explicit length {length}", node=node.name or None, field="length")
        return blob + bytes(length - len(blob))

    def layout(self, node: Node, spec: "TableSpec", table: "Table | None" = None) -> list[Row]:
        f = node.fields
        placed, fixed, length = self.place(f)
        values = dict(f, type=self.code, length=length)
        rows = flag_rows(struct_rows(self.header, values, 0), self.flags)
        rows += flag_rows(struct_rows(self.body(0), values, self.header_size), self.flags)
        rows += self.stream.rows(f.get(self.stream.key) or (), fixed)
        rest = f.get(REST) or b""
        if rest:
            rows.append((fixed + placed[self.stream.key][1] - len(rest), len(rest), REST,
                         "Unwalkable data", rest))
        return rows

    def text_rows(self, node: Node, spec: "TableSpec", table: "Table | None" = None) -> list:
        return self.layout(node, spec, table)  # no arrays: NodeKind's Blocks do not apply

    def description_keys(self, common: Any) -> list[str]:
        return sorted(set(super().description_keys(common)) | {self.stream.key, REST})
