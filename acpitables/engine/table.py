"""acpitables: table.py -- the table-independent engine.

One SDT header declaration, one bounds helper, one node walk (decode) and
one layout pass (build) shared by every table in the registry. A table
module supplies a TableSpec: its header declaration and its node types.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from .fields import Bytes, Construct, ConstructError, GreedyBytes, Int8ul, Int32ul, Struct, leaf

from ..errors import Diagnostic, TableError
from .checks import Rule, rule
from .roles import NO_ROLE, Role

# Findings of the node walk itself, for every table.
LENGTH_EXCESS = rule("TABLE-LENGTH-EXCESS", "note", "ACPI 6.5 5.2.6",
                     "Input bytes after the table's Length (ignored)")
CHECKSUM = rule("TABLE-CHECKSUM", "warning", "ACPI 6.5 5.2.6; Linux acpi_tb_verify_checksum",
                "Wrong checksum")
REVISION = rule("TABLE-REVISION", "note", "ACPI 6.5 5.2.6",
                "Table revision this tool does not build by default")
NODE_ALIGN = rule("TABLE-NODE-ALIGN", "warning", "table specification",
                  "First node not at the alignment the spec asks for")
NODE_TRUNCATED = rule("TABLE-NODE-TRUNCATED", "error", "table specification",
                      "Node Length runs past the table end")
NODE_UNKNOWN = rule("TABLE-NODE-UNKNOWN", "warning", "table specification",
                    "Unknown node type, kept as raw bytes")
NODE_UNDECODABLE = rule("TABLE-NODE-UNDECODABLE", "error", "table specification",
                        "Node of a known type that cannot be decoded, kept as raw bytes")
NODE_ARRAY_OVERRUN = rule("TABLE-NODE-ARRAY-OVERRUN", "error",
                          "table specification; Linux reads the bytes after the node",
                          "An array runs past the node Length (node kept as raw bytes; "
                          "its fixed part is checked)")
TRAILING = rule("TABLE-TRAILING", "warning", "table specification",
                "Bytes after the last node, inside Length")
REF_DANGLING = rule("TABLE-REF-DANGLING", "error", "table specification",
                    "Reference to no node start, or to a node of a kind it cannot name")

# The largest table build writes: far above any real IORT or VIOT (whose
# node Lengths are 16-bit), and checked before anything is allocated.
MAX_TABLE_SIZE = 1 << 24

# ACPI 6.5 section 5.2.6, System Description Table Header (36 bytes).
SDT_HEADER = Struct(
    "signature" / Bytes(4) * "Signature",
    "length" / Int32ul * "Table Length",
    "revision" / Int8ul * "Revision",
    "checksum" / Int8ul * "Checksum",
    "oem_id" / Bytes(6) * "Oem ID",
    "oem_table_id" / Bytes(8) * "Oem Table ID",
    "oem_revision" / Int32ul * "Oem Revision",
    "creator_id" / Bytes(4) * "Asl Compiler ID",
    "creator_revision" / Int32ul * "Asl Compiler Revision",
)
SDT_HEADER_SIZE = SDT_HEADER.sizeof()  # 36
HEADER_FIELDS = ("revision", "oem_id", "oem_table_id", "oem_revision", "creator_id",
                 "creator_revision")


def check_bounds(offset: int, size: int, limit: int, what: str, node: str | None = None,
                 field: str | None = None) -> None:
    """The one place that decides whether [offset, offset+size) may be read
    from a table of `limit` bytes. Every offset or length taken from a table
    passes through here before it is followed."""
    if offset < 0 or size < 0 or offset + size > limit:
        raise TableError(f"{what} [0x{offset:X}, 0x{offset + size:X}) runs past the table end "
                         f"(0x{limit:X})", offset=offset, node=node, field=field)


def checksum_of(data: bytes) -> int:
    """The byte that makes sum(data) == 0 mod 256, computed with byte 9
    (the checksum itself) taken as zero."""
    return (-(sum(data) - data[9])) & 0xFF


def plain(value: Any) -> Any:
    """Parsed Containers -> plain dicts/lists, dropping construct's
    private keys (its parses carry `_io`)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Ref:
    """A reference from one node to another: by name (descriptions, decoded
    tables whose target is a node start) or, for a target that is no node
    start, the raw table offset so that the round trip stays lossless."""

    name: str | None = None
    offset: int | None = None

    def __str__(self) -> str:
        return self.name if self.name is not None else f"0x{self.offset:X}"


# Node, Table and Decoded carry docstrings, which also spares dataclass the
# inspect.signature() it would write one from at import (issue 11).
@dataclass
class Node:
    """One node of a table: its type code and spec-named fields."""

    type: int
    fields: dict  # spec-named values; references are Ref objects
    name: str = ""
    offset: int | None = None  # where a decoded node was found
    raw: bool = False  # kept as bytes (unknown or unparseable type)
    # A raw node of a known kind whose fixed part fits but whose arrays do
    # not: that fixed part (and the arrays that fit), for the checks only.
    # The bytes in fields["data"] stay what builds, so the round trip holds.
    partial: dict | None = field(default=None, compare=False, repr=False)
    length_override: int | None = None  # Length field that differs from the bytes present
    # The node's declaration (None: raw, or not yet compiled/decoded).
    kind: "NodeType | None" = field(default=None, compare=False, repr=False)


@dataclass
class Table:
    """A table: the SDT header values, its own header fields, its nodes."""

    signature: str
    header: dict  # HEADER_FIELDS values (strings as bytes)
    fields: dict = field(default_factory=dict)  # table-specific header fields (reserved...)
    nodes: list[Node] = field(default_factory=list)
    node_offset: int | None = None  # None: right after the fixed header
    padding: bytes = b""  # bytes between the fixed header and node_offset
    trailing: bytes = b""  # bytes after the last node, inside Length
    checksum: int | None = None  # as found; building always recomputes

    def node(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None


class NodeType:
    """A node type with a fixed-size declaration and optional trailing bytes
    kept verbatim. `struct` is the one declaration used both ways; `refs`
    are dotted field names that hold table offsets of other nodes."""

    role: Role = NO_ROLE  # what the kind is to the mapper and the checks

    def __init__(self, code: int, kind: str, label: str, struct: Struct, fixed_size: int,
                 refs: tuple[str, ...] = (), ref_targets: tuple[int, ...] = (),
                 role: Role = NO_ROLE):
        self.code, self.kind, self.label = code, kind, label
        self.struct, self.fixed_size = struct, fixed_size
        self.refs, self.ref_targets = refs, ref_targets
        self.role = role

    def min_length(self, spec: "TableSpec", revision: int | None) -> int:
        """Smallest node Length this type can have; `revision` is the node
        header's Revision byte when the table's node header has one."""
        return self.fixed_size

    def ref_paths(self, fields: dict) -> tuple[str, ...]:
        """Dotted paths of this node's references to other nodes (a node
        with arrays of references lists one path per element)."""
        return self.refs

    def ref_slots(self, fields: dict) -> Iterable[tuple[Any, Any, Any]]:
        """(container, key, where) of each reference, in ref_paths order:
        decode resolves `container[key]` in place; `where` is the dotted
        path, or its parts (joined only for a message: a table of 8,000 ID
        mappings would build 8,000 path strings to resolve them)."""
        for path in self.ref_paths(fields):
            *parents, last = path.split(".")
            container: Any = fields
            for part in parents:
                container = container[_key(container, part)]
            yield container, _key(container, last), path

    def ref_columns(self, fields: dict) -> Iterable[tuple[list, Any, Callable[[int], Any]]]:
        """ref_slots in groups sharing a key (all the elements of an array
        for one reference field): (containers, key, where of the i-th), in
        ref_slots order, so that decode resolves a column at once."""
        for container, key, where in self.ref_slots(fields):
            yield [container], key, where_always(where)

    def parse(self, blob: bytes, spec: "TableSpec", ctx: dict) -> dict:
        return plain(self.struct.parse(blob))

    def size(self, node: Node, spec: "TableSpec") -> int:
        """Bytes the node occupies, for the layout pass. This default builds
        it once with every reference at 0; node types that know their
        layout answer without building."""
        return len(self.build(node, lambda ref: 0, spec))

    def build(self, node: Node, resolve: Callable[[Ref], int], spec: "TableSpec") -> bytes:
        values = dict(node.fields)
        for path in self.refs:
            set_path(values, path, resolve(get_path(values, path)))
        return self.struct.build(self.finish(node, values))

    def finish(self, node: Node, values: dict) -> dict:
        """The values to build once references are resolved: a kind fills
        in what the layout computes (its header's Type and Length)."""
        return values

    def layout(self, node: Node, spec: "TableSpec",
               table: "Table | None" = None) -> list[tuple[int, int, str, str, Any]]:
        """(node offset, size, dotted name, label, value) rows for the text
        view. A row of size 0 is a "decoded below" sub-line of the row
        before it (flag bits)."""
        return struct_rows(self.struct, node.fields, 0)

    def text_rows(self, node: Node, spec: "TableSpec", table: "Table | None" = None) -> list:
        """layout() for the text view, in the same order, where a kind may
        hand over the rows of a large array as one object that formats them
        all at once (engine.nodes.Block); by default the rows themselves."""
        return self.layout(node, spec, table)


def where_always(where: Any) -> Callable[[int], Any]:
    """ref_columns' `where` of a group of one slot."""
    def where_of(i: int) -> Any:
        return where
    return where_of


def _key(values: Any, part: str) -> Any:
    return int(part) if isinstance(values, list) else part


def get_path(values: dict, path: str) -> Any:
    """Value at a dotted path; a numeric part indexes a list
    ("mappings.3.output_reference")."""
    for part in path.split("."):
        values = values[_key(values, part)]
    return values


def set_path(values: dict, path: str, value: Any) -> None:
    """Set a dotted path, copying the dicts/lists on the way so that the
    caller's originals stay untouched."""
    *parents, last = path.split(".")
    for part in parents:
        key = _key(values, part)
        child = values[key]
        values[key] = list(child) if isinstance(child, list) else dict(child)
        values = values[key]
    values[_key(values, last)] = value


def assign_path(values: dict, path: str, value: Any) -> None:
    """Set a dotted path in place (decode owns the fields it built; copying
    as set_path does would make resolving n references O(n^2))."""
    *parents, last = path.split(".")
    for part in parents:
        values = values[_key(values, part)]
    values[_key(values, last)] = value


def _is_greedy(sub: Construct) -> bool:
    return leaf(sub) is GreedyBytes


@lru_cache(maxsize=None)
def flat_rows(struct: Struct) -> tuple[tuple[int, int, str, str], ...] | None:
    """(offset, size, name, label) of every field of a Struct made only of
    fixed-size leaves, worked out once; None when a field is nested,
    greedy or sized by its value."""
    out, offset = [], 0
    for sub in struct.subcons:
        if sub.name is None or sub.name.startswith("_"):
            continue
        inner = leaf(sub)
        if inner is GreedyBytes or isinstance(inner, Struct):
            return None
        try:
            size = sub.sizeof()
        except ConstructError:
            return None
        out.append((offset, size, sub.name, sub.docs or sub.name))
        offset += size
    return tuple(out)


def struct_rows(struct: Struct, values: dict, base: int, prefix: str = "") -> list:
    """Walk a fixed-layout Struct declaration alongside its values, giving
    one row per leaf field: the text view is generated, never hand-written."""
    flat = flat_rows(struct) if isinstance(struct, Struct) else None
    if flat is not None:  # the common case, and the bulk one (ID mappings)
        get = values.get if isinstance(values, dict) else (lambda name: None)
        return [(base + off, size, prefix + name, label, get(name))
                for off, size, name, label in flat]
    rows = []
    offset = base
    for sub in struct.subcons:
        name = sub.name
        if name is None or name.startswith("_"):
            continue
        value = values.get(name) if isinstance(values, dict) else None
        inner = leaf(sub)
        if inner is not sub and isinstance(inner, Struct):
            sub_rows = struct_rows(inner, value or {}, offset, prefix + name + ".")
            rows.extend(sub_rows)
            offset += sum(r[1] for r in sub_rows)
            continue
        if _is_greedy(sub):
            size = len(value or b"")
            if size:
                rows.append((offset, size, prefix + name, sub.docs or name, value))
            offset += size
            continue
        try:
            size = sub.sizeof()
        except ConstructError:
            size = len(value) if isinstance(value, (bytes, str)) else 0
        rows.append((offset, size, prefix + name, sub.docs or name, value))
        offset += size
    return rows


class IaslText(str):
    """A value a Dialect's node hook has already written as iasl source
    wants it (formats/dsl.py writes it as it stands)."""


@dataclass
class Dialect:
    """What iasl's data-table source wants differently from the text view,
    for one table (formats/dsl.py applies it; the table module declares it)."""

    relabel: dict[str, str] = field(default_factory=dict)  # our label (or label@type) -> iasl's
    no_sublines: frozenset = frozenset()  # iasl labels whose flag sub-lines iasl lacks
    sublines_since: dict[str, int] = field(default_factory=dict)  # sub-line -> first release
    refused_revisions: dict[int, str] = field(default_factory=dict)
    node_rows: Callable[[Node, list, bytes, int], list] | None = None  # node, rows, bytes, release
    padding: bool = False  # iasl can write bytes between the header and the first node
    # Why the table's own iasl syntax cannot express a table (None: it can);
    # with this set, such a table and any node the node hook refuses are
    # written in iasl's generic syntax (iasl -G) instead of refused.
    generic: Callable[[Any], str | None] | None = None


@dataclass
class TableSpec:
    """Everything the engine needs to know about one table signature."""

    signature: str
    spec_name: str  # citation, e.g. "ACPI 6.5 VIOT"
    header: Struct  # fields after the SDT header; must have node_count, node_offset
    node_header: Struct  # common node prefix with at least type and length
    node_types: Mapping[int, NodeType]
    name_nodes: Callable[[Table], None]  # give decoded nodes names
    describe: Callable[..., dict]  # Table -> description dict
    compile: Callable[..., Table]  # description -> Table (with a Locator)
    check: Callable[[Table], list[Diagnostic]]  # semantic validation of a table
    schema: str  # file name under schemas/
    revisions: Iterable[int] = (0,)
    label: str = ""
    field_keys: dict = field(default_factory=dict)  # table field -> description key, for messages
    node_alignment: int = 4  # node offset alignment the spec asks for (warned, never enforced)
    mapper: str = ""  # "module:Class" of the table's mapper engine (imported when first used)
    dialect: Dialect | None = None  # iasl source writer's view (None: no dsl output)
    header_flags: Mapping[str, Any] = field(default_factory=dict)  # header field -> FlagSet
    schema_doc: Callable[[], dict] | None = None  # the JSON Schema (engine/schema.py writes it)

    def kind_of(self, node: Node) -> "NodeType | None":
        """The declaration of a node (None for raw nodes and unknown types)."""
        return None if node.raw else self.node_types.get(node.type)

    @property
    def header_size(self) -> int:
        return SDT_HEADER_SIZE + self.header.sizeof()

    @property
    def node_header_size(self) -> int:
        return self.node_header.sizeof()


def node_label(node: Node) -> str:
    return node.name or (f"node@0x{node.offset:X}" if node.offset is not None else "node")


@dataclass
class Decoded:
    """What decoding a table gives: the Table, its findings and what was read."""

    table: Table
    warnings: list[Diagnostic]
    size: int  # bytes of input that belong to the table (Length)
    spec: "TableSpec | None" = None
    header_values: dict = field(default_factory=dict)  # SDT + table header as found
    data: bytes = b""  # the table's bytes (Length of them)


def decode_table(data: bytes, spec: TableSpec) -> Decoded:
    """Decode one table leniently: everything Linux would accept decodes,
    with warnings; what cannot be walked raises one TableError."""
    warnings: list[Diagnostic] = []

    def warn(r: Rule, message: str, offset: int | None = None, node: str | None = None,
             field: str | None = None) -> None:
        warnings.append(r(message, offset=offset, node=node, field=field))

    check_bounds(0, SDT_HEADER_SIZE, len(data), "table header")
    sdt = SDT_HEADER.parse(data)
    if sdt.signature != spec.signature.encode():
        raise TableError(f"signature {sdt.signature!r} is not {spec.signature!r}", offset=0,
                         field="signature")
    length = sdt.length
    if length < spec.header_size:
        raise TableError(f"Length {length} is shorter than the {spec.header_size}-byte "
                         f"{spec.signature} header", offset=4, field="length")
    if length > len(data):
        raise TableError(f"Length {length} but only {len(data)} bytes present (truncated)",
                         offset=4, field="length")
    if length < len(data):
        warn(LENGTH_EXCESS, f"{len(data) - length} bytes after the table's Length ({length}) are ignored",
             offset=length)
    data = bytes(data[:length])
    if sum(data) & 0xFF:
        warn(CHECKSUM, f"checksum 0x{sdt.checksum:02X} is wrong, should be 0x{checksum_of(data):02X}",
             offset=9, field="checksum")
    if sdt.revision not in spec.revisions:
        warn(REVISION, f"table revision {sdt.revision} is not one this tool builds by default "
             f"({', '.join(map(str, spec.revisions))})", offset=8, field="revision")

    hdr = plain(spec.header.parse(data[SDT_HEADER_SIZE:]))
    header_values = dict(plain(sdt), **hdr)
    # A header without a node count (DMAR, IVRS): the nodes run to Length.
    count = hdr.pop("node_count", None)
    node_offset = hdr.pop("node_offset", spec.header_size)
    table = Table(spec.signature, {k: sdt[k] for k in HEADER_FIELDS}, hdr,
                  checksum=sdt.checksum)
    table.node_offset = node_offset if node_offset != spec.header_size else None
    if count == 0:
        node_offset = spec.header_size  # never followed: what follows the header is trailing
    elif node_offset < spec.header_size:
        raise TableError(f"node offset 0x{node_offset:X} points into the {spec.header_size}-byte "
                         f"table header", offset=SDT_HEADER_SIZE, field="node_offset")
    else:
        check_bounds(spec.header_size, node_offset - spec.header_size, length,
                     "space before the first node", field="node_offset")
        table.padding = data[spec.header_size:node_offset]
        if node_offset % spec.node_alignment:
            warn(NODE_ALIGN, f"node offset 0x{node_offset:X} is not {spec.node_alignment}-byte aligned",
                 offset=SDT_HEADER_SIZE,
                 field="node_offset")
    pos = node_offset
    hsize = spec.node_header_size
    index = 0
    while index < count if count is not None else pos < length:
        where = f"node {index} of {count}" if count is not None else f"node {index}"
        if count is None and (pos + hsize > length
                              or spec.node_header.parse(data[pos:pos + hsize]).length < hsize):
            break  # no node fits here: the rest is kept as trailing bytes
        if pos + hsize > length:
            raise TableError(f"{where}: node header [0x{pos:X}, 0x{pos + hsize:X}) runs past the "
                             f"table end (0x{length:X}); Linux stops parsing here", offset=pos,
                             node=f"node@0x{pos:X}")
        head = spec.node_header.parse(data[pos:pos + hsize])
        ntype, nlen = head.type, head.length
        label = f"node@0x{pos:X}"
        if nlen < hsize:
            raise TableError(f"{where}: node length {nlen} is shorter than its {hsize}-byte "
                             f"header; Linux stops parsing here", offset=pos, node=label,
                             field="length")
        override = None
        avail = nlen
        if pos + nlen > length:
            avail = length - pos
            override = nlen
            warn(NODE_TRUNCATED, f"node length {nlen} runs past the table end (0x{length:X}); "
                 f"{nlen - avail} bytes are missing", offset=pos, node=label, field="length")
        blob = data[pos:pos + avail]
        ntype_spec = spec.node_types.get(ntype)
        node = Node(ntype, {}, offset=pos, length_override=override)
        if ntype_spec is None:
            warn(NODE_UNKNOWN, f"unknown node type {ntype}; kept as raw bytes", offset=pos, node=label,
                 field="type")
            node.raw, node.fields = True, {"data": blob}
        else:
            min_len = ntype_spec.min_length(spec, head.get("revision"))
            try:
                if len(blob) < min_len:
                    raise TableError(f"{len(blob)} bytes is shorter than the {min_len} a "
                                     f"{ntype_spec.label} node needs", offset=pos)
                node.fields = ntype_spec.parse(blob, spec, {"offset": pos, "table": table})
                node.kind = ntype_spec
            except (TableError, ConstructError) as exc:
                node.raw, node.fields = True, {"data": blob}
                node.partial = _fixed_part(ntype_spec, blob, spec, pos, table)
                if node.partial is None:
                    why = exc.diagnostic.message if isinstance(exc, TableError) else str(exc)
                    warn(NODE_UNDECODABLE, f"{ntype_spec.label} node cannot be decoded ({why}); "
                         "kept as raw bytes", offset=pos, node=label)
                else:
                    for over in node.partial.pop("_overruns"):
                        warn(NODE_ARRAY_OVERRUN, f"{ntype_spec.label} node: "
                             f"{over.diagnostic.message}; kept as raw bytes (its fixed part "
                             "is checked)", offset=pos, node=label, field=over.diagnostic.field)
        table.nodes.append(node)
        pos += nlen
        index += 1
    if pos < length:
        table.trailing = data[pos:length]
        warn(TRAILING, f"{length - pos} bytes after the last node are not part of any node",
             offset=pos)

    spec.name_nodes(table)
    by_offset = {n.offset: n for n in table.nodes}
    named: dict[int, Ref] = {}  # one Ref per target (immutable, so shared)
    for node in table.nodes:
        ntype_spec = spec.node_types.get(node.type)
        if node.raw or ntype_spec is None:
            continue
        targets = ntype_spec.ref_targets
        for containers, key, where_of in ntype_spec.ref_columns(node.fields):
            if len(containers) > 1:  # a column (ID mappings): at once when all resolve
                refs = _resolve_column([c[key] for c in containers], by_offset, targets, named)
                if refs is not None:
                    for container, ref in zip(containers, refs):
                        container[key] = ref
                    continue
            for i, container in enumerate(containers):
                target_off = container[key]
                if isinstance(target_off, Ref):
                    continue
                target = by_offset.get(target_off)
                if target is None or (targets and target.type not in targets):
                    where = where_of(i)
                    path = where if isinstance(where, str) else ".".join(map(str, where))
                    what = "no node start" if target is None else f"a {type_name(spec, target)} node"
                    warn(REF_DANGLING, f"{path} 0x{target_off:X} points at {what}",
                         offset=node.offset, node=node.name, field=path)
                    container[key] = Ref(offset=target_off)
                else:
                    ref = named.get(target_off)
                    if ref is None:
                        ref = named[target_off] = Ref(name=target.name)
                    container[key] = ref
    return Decoded(table, warnings, length, spec, header_values, data)


def _resolve_column(offsets: list, by_offset: dict, targets: tuple,
                    named: dict) -> list | None:
    """The shared Ref of each table offset in `offsets`, when every one is
    an int naming a node start of an allowed type (else None: the caller
    resolves slot by slot, with a finding per dangling reference)."""
    if set(map(type, offsets)) != {int}:
        return None
    for off in set(offsets):
        if off in named:
            continue
        target = by_offset.get(off)
        if target is None or (targets and target.type not in targets):
            return None
        named[off] = Ref(name=target.name)
    return list(map(named.__getitem__, offsets))


def _fixed_part(kind: NodeType, blob: bytes, spec: TableSpec, pos: int,
                table: Table) -> dict | None:
    """A node's fixed part when only its arrays overrun its Length (fwts
    still checks that part, Linux still reads it); None otherwise."""
    try:
        fields = kind.parse(blob, spec, {"offset": pos, "table": table, "partial": True})
    except (TableError, ConstructError):
        return None
    return fields if fields.get("_overruns") else None


def type_name(spec: TableSpec, node: Node) -> str:
    t = spec.node_types.get(node.type)
    return t.label if t else f"type-{node.type}"


def encoder_message(exc: ConstructError) -> tuple[str | None, str]:
    """(field, one plain line) for a construct build failure, instead of
    construct's two-line "Error in path ... / struct '<H' error ..."."""
    parts = [p.strip() for p in str(getattr(exc, "path", "") or "").split("->")]
    parts = [p for p in parts if p and not p.startswith("(")]
    field_name = parts[-1] if parts else None
    text = str(exc).splitlines()[-1]
    given = re.search(r"given value (\S+)", text)
    if given:
        return field_name, f"{field_name or 'a field'} cannot hold {given.group(1)}"
    return field_name, text


def encode_table(table: Table, spec: TableSpec) -> bytes:
    """The layout pass: size every node, give each its offset, resolve
    references by name, then fill counts, offsets, Length and Checksum.
    The table's size is known (and refused past MAX_TABLE_SIZE) before
    anything is allocated."""
    start = table.node_offset if table.node_offset is not None else spec.header_size
    if table.nodes and start < spec.header_size:
        raise TableError(f"node offset 0x{start:X} points into the {spec.header_size}-byte "
                         "table header", field="node_offset")

    def failed(node: Node, exc: ConstructError) -> TableError:
        ntype = spec.node_types[node.type]
        field_name, message = encoder_message(exc)
        return TableError(f"cannot encode {ntype.label} node: {message}", node=node_label(node),
                          field=field_name)

    def size(node: Node) -> int:
        if node.raw:
            return len(node.fields["data"])
        try:
            return spec.node_types[node.type].size(node, spec)
        except ConstructError as exc:
            raise failed(node, exc) from None

    sizes = [size(n) for n in table.nodes]
    total = (start if table.nodes else spec.header_size) + sum(sizes) + len(table.trailing)
    if total > MAX_TABLE_SIZE:
        where = "node_offset" if start > MAX_TABLE_SIZE else None
        raise TableError(f"the table would be {total} bytes; this tool builds tables of at most "
                         f"{MAX_TABLE_SIZE} bytes", field=where)
    padding = b""
    if table.nodes:
        padding = table.padding or bytes(start - spec.header_size)
    if table.nodes and len(padding) != start - spec.header_size:
        raise TableError(f"padding of {len(padding)} bytes does not fill the space up to node "
                         f"offset 0x{start:X}", field="node_offset")
    names: dict[str, int] = {}
    pos = start
    for node, node_size in zip(table.nodes, sizes):
        if node.name:
            names[node.name] = pos
        pos += node_size

    def resolve(ref: Ref) -> int:
        if not isinstance(ref, Ref):
            return ref
        if ref.name is None:
            return ref.offset or 0
        if ref.name not in names:
            raise TableError(f"reference to unknown node {ref.name!r}")
        return names[ref.name]

    def build(node: Node) -> bytes:
        if node.raw:
            return node.fields["data"]
        try:
            return spec.node_types[node.type].build(node, resolve, spec)
        except ConstructError as exc:
            raise failed(node, exc) from None

    blobs = [build(n) for n in table.nodes]
    try:
        hdr = spec.header.build(dict(table.fields, node_count=len(table.nodes), node_offset=start))
    except ConstructError as exc:
        field_name, message = encoder_message(exc)
        raise TableError(f"cannot encode the {spec.signature} header: {message}",
                         field=field_name) from None
    body = hdr + padding + b"".join(blobs) + table.trailing
    length = SDT_HEADER_SIZE + len(body)
    sdt = SDT_HEADER.build(dict(table.header, signature=spec.signature.encode(), length=length,
                                checksum=0))
    out = bytearray(sdt + body)
    out[9] = checksum_of(bytes(out))
    if any(n.raw or n.length_override is not None for n in table.nodes):
        # Node boundaries not computed here (raw bytes, an explicit Length):
        # what build writes, decode must read.
        try:
            decode_table(bytes(out), spec)
        except TableError as exc:
            suspects = [n for n in table.nodes if n.raw or n.length_override is not None]
            raise TableError(f"the table built would not decode ({exc.diagnostic.message}); "
                             "check the explicit node lengths and raw node bytes",
                             node=node_label(suspects[0]), field="length") from None
    return bytes(out)
