"""acpitables: dsl.py -- a decoded table as ACPICA data-table source.

`to_dsl(decoded)` writes the `Label : Value` source that `iasl file.dsl`
compiles back into the same table, apart from what iasl always rewrites
(the creator fields, bytes 28-35, and the checksum). See docs/spec.md
section 5 in the team's reference for the format.

The lines come from the same row walk as the text view (`struct_rows` for
the headers, `NodeType.layout` for the nodes, labels from the construct
field docstrings); a small per-table `Dialect` says what iasl wants
differently:

* relabelled rows and flag words whose "decoded below" sub-lines iasl does
  not have (IORT NC `Node Flags`, RC `ATS Attribute`/`PASID Capabilities`),
  sub-lines newer than the target iasl (`acpica=` release), the
  `Memory Properties` line that opens the NC/RC memory access properties,
  SMMUv1/v2 context and PMU interrupts as one 64-bit line each;
* IORT revision 0 names the node word at +4 `Reserved`, not `Identifier`
  (done by the layout rows themselves);
* values iasl recomputes (lengths, counts, array offsets, Node Offset,
  checksum, creator fields) are written as found; the layout check below
  makes sure iasl's recomputation lands on the same bytes.

iasl lays every node out back to back, in source order, and derives every
count and offset from that. So before writing anything, each node is
checked to be in exactly that layout; a table iasl cannot reproduce raises
TableError (node and reason), never a silently different source:

* unknown (raw) or truncated nodes, bytes after the last node;
* VIOT: a node offset other than 48 (padding before the first node), node
  bytes past the declared fields;
* IORT revisions 1, 2 and 4 (iasl refuses issues E, E.a and E.c);
* an IORT array not where iasl would put it (arrays out of iasl's order,
  gaps or overlaps), a Mapping Offset other than 0 with no mappings, an
  SMMUv1/v2 interrupt-array offset other than iasl's position for an empty
  array (iasl writes the position; many firmware tables store 0), bytes
  after the last array (a Length padded past it) -- except the named
  component's padding after Device Name, which iasl takes from an explicit
  `Padding` line;
* the RC Flags word of a 40-byte root complex (node revision >= 4): ACPICA
  declares the 36-byte form only (spec.md 5.1 pitfall c);
* an IWB node padded after its name (iasl does not pad it; pitfall d);
* strings iasl cannot quote (a double quote, a non-printable byte before
  the end, a non-NUL byte after a NUL).

The IWB node (IORT revision 7) is written with the labels ACPICA 20260408
uses; older iasls do not know it. Known iasl bugs are not worked around
here: 20240827-20251212 mis-compile NC nodes (spec.md 5.1 pitfall b).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import TableError
from ..engine.table import SDT_HEADER, SDT_HEADER_SIZE, Decoded, Node, Ref, node_label, struct_rows

LABEL_WIDTH = 34
NEWEST = 20260408  # the ACPICA release spec.md section 5 was verified with

Row = tuple  # (node offset, size, dotted name, label, value); size 0: flag sub-line


@dataclass
class Dialect:
    """What iasl wants differently from the text view, for one table."""

    relabel: dict[str, str] = field(default_factory=dict)  # our label -> iasl label
    no_sublines: frozenset = frozenset()  # iasl labels whose flag sub-lines iasl lacks
    sublines_since: dict[str, int] = field(default_factory=dict)  # sub-line -> first release
    refused_revisions: dict[int, str] = field(default_factory=dict)
    node_rows: Callable[[Node, list, bytes, int], list] | None = None  # node, rows, bytes, release


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


# --- IORT ------------------------------------------------------------------------

# The fixed part iasl declares for a node type, as the node revision whose
# fixed part it is (iasl has one form per type, whatever the Revision byte).
IASL_FORMS = {2: 3, 4: 1, 5: 1}  # root complex, SMMUv3, PMCG


def _iort_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    """iasl's view of an IORT node: the layout rows in iasl's source order,
    checked to be back to back (which is how iasl places them)."""
    from ..tables import iort  # noqa: PLC0415 -- table modules import the engine, not this

    ntype = iort.NODE_TYPES[node.type]
    where = node_label(node)
    f = node.fields
    rev = f.get("revision", 0)
    length = len(blob)
    form = IASL_FORMS.get(node.type, rev)
    if form > rev and ntype.fixed_bytes(form) > ntype.fixed_bytes(rev):
        # A shorter, older fixed part: iasl still writes its own form, so the
        # node's next bytes must be free to hold the newer fields.
        end, full = ntype.fixed_bytes(rev), ntype.fixed_bytes(form)
        first = min((o for o, s in ntype.place(f)[0].values() if s), default=length)
        if first < full or length < full:
            raise TableError(f"revision-{rev} {ntype.label} node with a {end}-byte fixed part "
                             f"(next bytes at node offset 0x{min(first, length):X}): iasl only "
                             f"writes the {full}-byte form", node=where, field="revision")
        body = ntype.body(form)
        newer = struct_rows(body, body.parse(blob[iort.HEADER_SIZE:full]), iort.HEADER_SIZE)
        newer = ntype._flag_rows([r for r in newer if r[0] >= end], ntype.flags)
        rows = [r for r in rows if not (r[2] == "gap" and r[0] < full)] + newer
        for gap in f.get("gaps", ()):  # a gap reaching past the newer fields stays a gap
            if gap["offset"] < full < gap["offset"] + len(gap["data"]):
                cut = full - gap["offset"]
                rows.append((full, len(gap["data"]) - cut, "gap", "Padding", gap["data"][cut:]))
        rows.sort(key=lambda r: r[0])
    if node.type == iort.ROOT_COMPLEX and acpica < 20220331:
        # Before E.d, iasl has one 3-byte Reserved after Memory Size Limit.
        rc_rows: list = []
        pasid = None
        for row in rows:
            if row[2] == "pasid_capabilities":
                pasid = row
                continue
            if pasid is not None and row[1] == 0:
                continue  # its sub-line
            if pasid is not None and row[2] == "reserved":
                row = (pasid[0], 3, "reserved", "Reserved",
                       pasid[4] | int.from_bytes(row[4], "little") << 16)
                pasid = None
            rc_rows.append(row)
        rows = rc_rows
    if node.type == iort.ROOT_COMPLEX and ntype.has_flags_word(rev, f):
        raise TableError(f"revision-{rev} root complex with the 40-byte fixed part: ACPICA "
                         "declares the 36-byte form only, so its Flags word (node+36) cannot "
                         "be written in iasl source", node=where, field="flags")
    if not f.get("mappings") and f.get("mapping_offset"):
        raise TableError(f"Mapping Offset 0x{f['mapping_offset']:X} with no mappings: iasl "
                         "writes 0", node=where, field="mapping_offset")
    placed = ntype.place(f)[0]
    if node.type == iort.SMMU:
        # iasl lays the interrupt arrays out back to back and writes each
        # offset, even for an empty array; a table that stores 0 there (as
        # many firmware tables do) has no iasl source. Seen with 20200925
        # and 20250404.
        cursor = ntype.fixed_bytes(rev)
        for arr in ntype.arrays[:-1]:
            off, size = placed[arr.key]
            if size == 0 and f.get(arr.offset) != cursor:
                raise TableError(f"{arr.offset} 0x{f.get(arr.offset, 0):X} with no {arr.key}: "
                                 f"iasl writes the array's position, 0x{cursor:X}", node=where,
                                 field=arr.offset)
            cursor += size
    regions = [(arr.key, *placed[arr.key]) for arr in ntype.arrays]
    order = {arr.key: i + 1 for i, arr in enumerate(ntype.arrays)}
    name_end = sum(placed.get("device_name", (0, 0)))

    def group(off: int, name: str) -> str:
        if name in ("gap", "device_name"):
            return name
        for key, start, size in regions:
            if size and start <= off < start + size and key != "device_name":
                return key
        return ""

    items: list = []  # (group, [row + its flag sub-lines])
    for row in rows:
        if row[1] == 0 and items:
            items[-1][1].append(row)
            continue
        key = group(row[0], row[2])
        if key == "gap" and not (node.type == iort.NAMED_COMPONENT and row[0] == name_end):
            raise TableError(f"non-zero bytes at node offset 0x{row[0]:X} belong to no field; "
                             "iasl lays fields out back to back", node=where, field="gap")
        items.append((key, [row]))
    rank = dict(order, gap=order.get("device_name", 0) + 0.5)
    items.sort(key=lambda item: rank.get(item[0], 0))  # stable: offsets within a group
    merged: list = []
    for key, item in items:
        row = item[0]
        if key in ("context_interrupts", "pmu_interrupts") and row[3].startswith("Interrupt "):
            # SMMUv1/v2 context and PMU interrupts: one 64-bit line each,
            # flags << 32 | GSIV, without flag sub-lines. (Another array's
            # row inside this one's bytes stays as it is: the back-to-back
            # check below refuses the overlap.)
            start = placed[key][0]
            if (row[0] - start) % 8 == 0:
                label = "Context Interrupt" if key == "context_interrupts" else "PMU Interrupt"
                merged.append((row[0], 8, key, label, row[4]))
                continue
            last = merged[-1] if merged else None
            if last is not None and last[2] == key and last[0] == row[0] - 4:
                merged[-1] = (*last[:4], last[4] | row[4] << 32)
                continue
        merged.extend(item)
    # Memory access properties open with their own line.
    final: list = []
    for row in merged:
        if row[2] == "memory_properties.cache_coherency":
            final.append((row[0], 8, "memory_properties", "Memory Properties",
                          "[IORT Memory Access Properties]"))
        final.append(row)
    # Back to back, as iasl places them; NC padding is the only gap iasl writes.
    cursor = 0
    placed_rows: list = []
    for off, size, name, label, value in final:
        row = (off, size, name, label, value)
        if size == 0 or name == "memory_properties":
            placed_rows.append(row)
            continue
        if off != cursor:
            if (node.type == iort.NAMED_COMPONENT and cursor == name_end and off > cursor
                    and name not in ("gap", "device_name")):
                placed_rows.append((cursor, off - cursor, "padding", "Padding",
                                    bytes(off - cursor)))
                cursor = off
            elif node.type == iort.IWB and cursor == name_end:
                raise TableError(f"IWB node padded after its name (mappings at node offset "
                                 f"0x{off:X}, name ends at 0x{cursor:X}): iasl does not pad "
                                 "an IWB name", node=where, field="device_name")
            else:
                what = "overlaps what comes before it" if off < cursor else "leaves a gap"
                raise TableError(f"{label} ({name}) at node offset 0x{off:X} {what}; iasl "
                                 f"would put it at 0x{cursor:X}, placing the fixed part and "
                                 f"the arrays back to back in its order "
                                 f"({', '.join(a.key for a in ntype.arrays)})",
                                 node=where, field=name.split(".")[0])
        placed_rows.append(row)
        cursor = off + size
    final = placed_rows
    if cursor != length:
        if node.type == iort.NAMED_COMPONENT and not f.get("mappings") and cursor < length:
            final.append((cursor, length - cursor, "padding", "Padding", bytes(length - cursor)))
        else:
            raise TableError(f"node Length 0x{length:X} but its fields end at 0x{cursor:X}: "
                             "iasl computes Length from the fields", node=where, field="length")
    if node.type == iort.IWB and any(r[2] in ("padding", "gap") for r in final):
        raise TableError("IWB node padded after its name: iasl does not pad it", node=where,
                         field="device_name")
    return final


IORT_DIALECT = Dialect(
    relabel={"Node Flags (decoded below)": "Node Flags",
             "ATS Attribute (decoded below)": "ATS Attribute",
             "PASID Capabilities (decoded below)": "PASID Capabilities",
             "Device Name@7": "IWB Device Name"},
    no_sublines=frozenset({"Node Flags", "ATS Attribute", "PASID Capabilities"}),
    sublines_since={"Ensured Coherency of Accesses": 20240827, "DeviceID Valid": 20221020},
    refused_revisions={1: "issue E", 2: "issue E.a", 4: "issue E.c"},
    node_rows=_iort_rows,
)


# --- VIOT ------------------------------------------------------------------------

def _viot_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    where = node_label(node)
    extra = node.fields.get("extra") or b""
    if extra:
        raise TableError(f"{len(extra)} bytes after the node's declared fields: iasl writes "
                         "a fixed-size VIOT node", node=where, field="extra")
    return rows


VIOT_DIALECT = Dialect(node_rows=_viot_rows)

DIALECTS = {"IORT": IORT_DIALECT, "VIOT": VIOT_DIALECT}


# --- the writer -------------------------------------------------------------------

def _value(row: Row, where: str) -> str:
    off, size, name, label, value = row
    if isinstance(value, Ref):
        if value.name is not None:
            raise TableError(f"unresolved reference {value}", node=where, field=name)
        value = value.offset
    if label == "Padding" or label == "Optional Padding":
        return _buffer(value)
    if isinstance(value, str) and value.startswith("[") and name == "memory_properties":
        return value
    if isinstance(value, str):
        return _string(value, None, where, name)
    return _integer(value, size)


def _reserved(label: str, row: Row, where: str) -> None:
    """iasl refuses a non-zero value in any field labelled Reserved (error
    6308, "Must be zero"); 20200925 silently zeroes the RC's 3-byte one."""
    value = row[4]
    if label == "Reserved" and (any(value) if isinstance(value, (bytes, bytearray)) else value):
        shown = _integer(value, row[1])
        raise TableError(f"{row[2]} is {shown}: iasl writes zero into every field it labels "
                         "Reserved", node=where, field=row[2])


def to_dsl(decoded: Decoded, acpica: int | None = None) -> str:
    """ACPICA data-table source for `decoded` that iasl compiles back to the
    same bytes (creator fields and checksum apart). `acpica` is the target
    iasl release (YYYYMMDD; default: the newest this was checked with):
    flag sub-lines that release does not know are left out. Raises
    TableError when iasl source cannot express the table (module docstring)."""
    spec, table = decoded.spec, decoded.table
    if spec is None or table.signature not in DIALECTS:
        raise TableError(f"no iasl source writer for {table.signature}")
    dialect = DIALECTS[table.signature]
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
    out = [f"/* {spec.label} ({table.signature}), iasl data-table source written by "
           "acpitables; iasl recomputes lengths, counts, offsets, the checksum and the "
           "creator fields */", ""]
    for off, size, name, label, value in struct_rows(SDT_HEADER, hv, 0):
        if isinstance(value, bytes):
            shown = _string(value, size, "header", name)
        else:
            shown = _integer(value, size)
        out.append(_line(size, label, shown))
    out.append("")
    for row in struct_rows(spec.header, hv, SDT_HEADER_SIZE):
        _reserved(row[3], row, "header")
        out.append(_line(row[1], row[3], _value(row, "header")))
    if table.padding:
        if table.signature != "IORT":
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
