"""acpitables: dsl.py -- a decoded table as ACPICA data-table source.

`to_dsl(decoded)` writes the `Label : Value` source that `iasl file.dsl`
compiles back into the same table, apart from what iasl always rewrites
(the creator fields, bytes 28-35, and the checksum).

The lines come from the same row walk as the text view (`struct_rows` for
the headers, `NodeType.layout` for the nodes, labels from the declarations'
field docstrings). What iasl wants differently is each table's own fact
and is declared by its table module as a `Dialect` (engine/table.py):
relabelled rows, flag words whose "decoded below" sub-lines iasl lacks,
sub-lines newer than the target iasl (`acpica=` release), table revisions
iasl refuses, whether padding before the first node can be written, and
a per-node row hook that puts the rows in iasl's order (for the target
release: DMAR and IVRS follow each ACPICA release's template) and refuses
a node iasl cannot reproduce. A value the hook has already written as
iasl wants it (`PCI Path : 1C,04`, a NAME8 or UINT64 HID) is an IaslText.

Values iasl recomputes (lengths, counts, array offsets, Node Offset,
checksum, creator fields) are written as found; iasl lays every node out
back to back, in source order, so each node must already be in exactly
that layout. A table iasl cannot reproduce raises TableError (node and
reason), never a silently different source: unknown (raw) or truncated
nodes, bytes after the last node, padding before the first node where the
dialect has none, a refused revision, non-zero Reserved fields, strings
iasl cannot quote, and whatever the dialect's node hook refuses.
"""
from __future__ import annotations

from typing import Any

from ..errors import TableError
from ..engine.table import (SDT_HEADER, SDT_HEADER_SIZE, Decoded, IaslText, Ref, node_label,
                            struct_rows)

LABEL_WIDTH = 34
NEWEST = 20260408  # the newest ACPICA release the iasl source was checked with

Row = tuple  # (node offset, size, dotted name, label, value); size 0: flag sub-line


# --- value formatting -----------------------------------------------------------

def _string(value: bytes | str, size: int | None, where: str, field_name: str) -> str:
    raw = value.encode("latin-1") if isinstance(value, str) else bytes(value)
    text, _, tail = raw.partition(b"\0")
    if any(tail):
        raise TableError(f"{field_name} {raw!r} has bytes after a NUL; an iasl string cannot "
                         "express them", node=where, field=field_name)
    if any(b < 0x20 or b > 0x7E or b == 0x22 for b in text):
        raise TableError(f"{field_name} {raw!r} holds a byte an iasl string cannot quote",
                         node=where, field=field_name)
    return f'"{text.decode()}"'  # iasl NUL-pads a short string to the field size


def _integer(value: Any, size: int) -> str:
    if isinstance(value, (bytes, bytearray)):
        value = int.from_bytes(value, "little")
    return f"{int(value):0{max(2, size * 2)}X}"


def _buffer(value: bytes) -> str:
    return " ".join(f"{b:02X}" for b in value)


def _line(size: int, label: str, value: str) -> str:
    return f"[{size:04X}] {label:>{LABEL_WIDTH}} : {value}"


def _sub(label: str, value: Any) -> str:
    return f"{'':7}{label:>{LABEL_WIDTH}} : {value}"


# --- the writer -------------------------------------------------------------------

def _value(row: Row, where: str) -> str:
    off, size, name, label, value = row
    if isinstance(value, Ref):
        if value.name is not None:
            raise TableError(f"unresolved reference {value}", node=where, field=name)
        value = value.offset
    if isinstance(value, IaslText):
        return value
    if label == "Padding" or label == "Optional Padding":
        return _buffer(value)
    if isinstance(value, (bytes, bytearray)) and size > 8:
        return _buffer(bytes(value))  # iasl has no integer wider than 8 bytes: a byte list (BUF10)
    if isinstance(value, str) and value.startswith("[") and name == "memory_properties":
        return value
    if isinstance(value, str):
        return _string(value, None, where, name)
    return _integer(value, size)


def _reserved(label: str, row: Row, where: str) -> None:
    """iasl refuses a non-zero value in any field labelled Reserved (error
    6308, "Must be zero"); 20200925 silently zeroes the RC's 3-byte one."""
    value = row[4]
    if row[1] > 8:
        return  # a byte list (BUF10): DtCompileBuffer copies it, only integers are checked
    if label == "Reserved" and (any(value) if isinstance(value, (bytes, bytearray)) else value):
        shown = _integer(value, row[1])
        raise TableError(f"{row[2]} is {shown}: iasl writes zero into every field it labels "
                         "Reserved", node=where, field=row[2])


GENERIC_TYPES = {1: "UINT8", 2: "UINT16", 4: "UINT32", 8: "UINT64"}


def to_generic_dsl(decoded: Decoded, reason: str) -> str:
    """The table in iasl's generic data-table syntax (`iasl -G`): the SDT
    header lines, then one UINT8/16/32/64 line per field and a Buffer line
    for everything else (strings, names, padding, raw nodes), read from the
    table's own bytes so that every byte is written exactly once. For
    tables whose own iasl syntax cannot express them (`reason`)."""
    spec, table, data = decoded.spec, decoded.table, decoded.data
    if spec is None:
        raise TableError(f"no iasl source writer for {table.signature}")
    hv = decoded.header_values
    out = [f"/* {spec.label} ({table.signature}) in iasl's generic data-table syntax, written "
           f"by acpitables: {reason}.", " * Compile it with iasl -G; iasl rewrites the creator "
           "fields and the checksum. */", ""]
    for off, size, name, label, value in struct_rows(SDT_HEADER, hv, 0):
        shown = _string(value, size, "header", name) if isinstance(value, bytes) \
            else _integer(value, size)
        out.append(_line(size, label, shown))
    out.append("")

    def emit(start: int, rows: list, end: int) -> None:
        """Bytes start..end of the table as lines, fields where rows say."""
        cursor = start
        for off, size, name, label, value in sorted(rows, key=lambda r: r[0]):
            off += start
            if size == 0 or off < cursor or off + size > end:
                continue  # a flag sub-line, or a field over bytes already written
            if off > cursor:
                out.append(_line(off - cursor, "Buffer", _buffer(data[cursor:off])))
            blob = data[off:off + size]
            kind = GENERIC_TYPES.get(size) if not isinstance(value, (bytes, str)) else None
            note = label.replace(" (decoded below)", "")
            if kind is None:
                out.append(_line(size, "Buffer", _buffer(blob)) + f"  /* {note} */")
            else:
                out.append(_line(size, kind, f"{int.from_bytes(blob, 'little'):0{size * 2}X}")
                           + f"  /* {note} */")
            cursor = off + size
        if cursor < end:
            out.append(_line(end - cursor, "Buffer", _buffer(data[cursor:end])))

    emit(SDT_HEADER_SIZE, [(o - SDT_HEADER_SIZE, *r) for o, *r in
                           struct_rows(spec.header, hv, SDT_HEADER_SIZE)], spec.header_size)
    if table.padding:
        out += ["", "/* padding before the first node */"]
        emit(spec.header_size, [], spec.header_size + len(table.padding))
    for node in table.nodes:
        ntype = spec.kind_of(node)
        start = node.offset or 0      # a decoded node always has its offset
        end = min(start + spec.node_header.parse(data[start:]).length, len(data))
        what = ntype.label if ntype is not None else f"node of type {node.type}, kept raw"
        out += ["", f"/* {node_label(node)}: {what}, at 0x{start:X} */"]
        emit(start, [] if ntype is None else ntype.layout(node, spec, table), end)
    if table.trailing:
        out += ["", "/* bytes after the last node */"]
        emit(decoded.size - len(table.trailing), [], decoded.size)
    return "\n".join(out) + "\n"


def to_dsl(decoded: Decoded, acpica: int | None = None) -> str:
    """ACPICA data-table source for `decoded` that iasl compiles back to the
    same bytes; a table the table's own iasl syntax cannot express is
    written in the generic syntax where its dialect allows that
    (Dialect.generic), and refused with the reason otherwise."""
    spec = decoded.spec
    dialect = spec.dialect if spec is not None else None
    if dialect is None or dialect.generic is None:
        return _table_dsl(decoded, acpica)
    reason = dialect.generic(decoded)
    if reason is None:
        try:
            return _table_dsl(decoded, acpica)
        except TableError as exc:
            reason = (f"iasl {acpica or NEWEST}'s {decoded.table.signature} template cannot "
                      f"express it ({exc})")
    return to_generic_dsl(decoded, reason)


def _table_dsl(decoded: Decoded, acpica: int | None = None) -> str:
    """ACPICA data-table source for `decoded` that iasl compiles back to the
    same bytes (creator fields and checksum apart). `acpica` is the target
    iasl release (YYYYMMDD; default: the newest this was checked with):
    flag sub-lines that release does not know are left out. Raises
    TableError when iasl source cannot express the table (module docstring)."""
    spec, table = decoded.spec, decoded.table
    if spec is None or spec.dialect is None:
        raise TableError(f"no iasl source writer for {table.signature}")
    dialect = spec.dialect
    acpica = acpica or NEWEST
    revision = table.header.get("revision", 0)
    if revision in dialect.refused_revisions:
        raise TableError(f"iasl refuses {table.signature} revision {revision} "
                         f"({dialect.refused_revisions[revision]}): there is no source that "
                         "compiles to it", offset=8, field="revision")
    if table.trailing:
        raise TableError(f"{len(table.trailing)} bytes after the last node: iasl writes nothing "
                         "there", offset=decoded.size - len(table.trailing))
    hv = decoded.header_values
    out = [f"/* {spec.label} ({table.signature}), iasl data-table source (ACPICA {acpica}'s "
           "template) written by acpitables; iasl recomputes lengths, counts, offsets, the "
           "checksum and the creator fields */", ""]
    for off, size, name, label, value in struct_rows(SDT_HEADER, hv, 0):
        if isinstance(value, bytes):
            shown = _string(value, size, "header", name)
        else:
            shown = _integer(value, size)
        out.append(_line(size, label, shown))
    out.append("")
    for row in struct_rows(spec.header, hv, SDT_HEADER_SIZE):
        label = dialect.relabel.get(row[3], row[3])
        _reserved(label, row, "header")
        out.append(_line(row[1], label, _value(row, "header")))
    if table.padding:
        if not dialect.padding:
            raise TableError(f"node offset 0x{hv['node_offset']:X}: iasl always puts the first "
                             f"{table.signature} node right after the header (0x"
                             f"{spec.header_size:X})", offset=SDT_HEADER_SIZE + 2,
                             field="node_offset")
        out.append(_line(len(table.padding), "Optional Padding", _buffer(table.padding)))
    offsets = {n.name: n.offset for n in table.nodes}
    for node in table.nodes:
        where = node_label(node)
        ntype = spec.node_types.get(node.type)
        if node.raw or ntype is None:
            raise TableError(f"node type {node.type} is not decoded (kept as raw bytes): iasl "
                             "source has no way to write an unknown node", node=where,
                             field="type")
        if node.length_override is not None:
            raise TableError("truncated node (its Length runs past the table end): iasl "
                             "computes Length from the fields", node=where, field="length")
        blob = decoded.data[node.offset:]
        blob = blob[:spec.node_header.parse(blob).length]
        rows = ntype.layout(node, spec, table)
        if dialect.node_rows is not None:
            rows = dialect.node_rows(node, rows, blob, acpica)
        out += ["", f"/* {node.name}: {ntype.label} */"]
        skip = False
        for row in rows:
            off, size, name, label, value = row
            if isinstance(value, Ref):
                row = (off, size, name, label,
                       Ref(offset=offsets[value.name] if value.name else value.offset))
            if size == 0:
                if skip or dialect.sublines_since.get(label, 0) > acpica:
                    continue
                out.append(_sub(label, _integer(value, 1) if label == "Access Attributes"
                                else value))
                continue
            label = dialect.relabel.get(f"{label}@{node.type}", dialect.relabel.get(label, label))
            skip = label in dialect.no_sublines
            _reserved(label, row, where)
            out.append(_line(size, label, _value(row, where)))
    return "\n".join(out) + "\n"
