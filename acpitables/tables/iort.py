"""acpitables: iort.py -- the IORT (Arm IO Remapping Table, DEN 0049).

Layouts after DEN 0049 issues A-E.g as ACPICA actbl2.h, edk2
IoRemappingTable.h and Linux drivers/acpi/arm64/iort.c declare them; see
docs/spec.md section 3 in the team's reference. One construct declaration
per structure serves decoding and building; each node's fixed part follows
that node's own Revision byte, and its arrays (ID mappings, ITS IDs, SMMU
interrupts, RMR descriptors, device names) sit at the node offsets the
node gives. Counts, offsets and Length are computed in one place
(`IortNode.place`), unless a description (or a decoded table that differs
from the default layout) gives them.
"""
from __future__ import annotations

import re
import struct as _struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from construct import (Bytes, Construct, Default, FormatField, Int8ul, Int16ul, Int32ul,
                       Int64ul, Struct)

from ..engine import description as d
from ..errors import Diagnostic, TableError
from ..engine.roles import Role, RoleKind
from ..engine.table import Node, NodeType, Ref, Table, TableSpec, plain, struct_rows
from ..engine.yamlio import Flow, Hex

ITS_GROUP, NAMED_COMPONENT, ROOT_COMPLEX, SMMU, SMMU_V3, PMCG, RMR, IWB = range(8)

# DEN 0049 issue E.g, table 2: IORT header after the SDT header (48 bytes in all).
IORT_HEADER = Struct(
    "node_count" / Int32ul * "Node Count",
    "node_offset" / Int32ul * "Node Offset",
    "reserved" / Default(Bytes(4), bytes(4)) * "Reserved",
)

# DEN 0049 issue E.g, table 3: node header. Bytes 4-7 were Reserved up to
# issue D (table revision 0) and are the node Identifier from issue E on.
NODE_HEADER = Struct(
    "type" / Int8ul * "Type",
    "length" / Int16ul * "Length",
    "revision" / Int8ul * "Revision",
    "identifier" / Int32ul * "Identifier",
    "mapping_count" / Int32ul * "Mapping Count",
    "mapping_offset" / Int32ul * "Mapping Offset",
)
HEADER_SIZE = NODE_HEADER.sizeof()  # 16

# DEN 0049 issue E.g, table 4: ID mapping. id_count is "number of IDs - 1".
ID_MAPPING = Struct(
    "input_base" / Int32ul * "Input base",
    "id_count" / Int32ul * "ID Count",
    "output_base" / Int32ul * "Output Base",
    "output_reference" / Int32ul * "Output Reference",
    "flags" / Int32ul * "Flags (decoded below)",
)

# DEN 0049 issue E.f, table 5: memory access properties (NC and RC).
MEMORY_ACCESS = Struct(
    "cache_coherency" / Int32ul * "Cache Coherency",
    "hints" / Int8ul * "Hints (decoded below)",
    "reserved" / Default(Bytes(2), bytes(2)) * "Reserved",
    "memory_flags" / Int8ul * "Memory Flags (decoded below)",
)

# DEN 0049 issue A, table 13: SMMUv1/v2 global interrupt array.
SMMU_GLOBAL_INTERRUPTS = Struct(
    "nsg_irpt" / Int32ul * "NSgIrpt",
    "nsg_irpt_flags" / Int32ul * "NSgIrpt Flags (decoded below)",
    "nsg_cfg_irpt" / Int32ul * "NSgCfgIrpt",
    "nsg_cfg_irpt_flags" / Int32ul * "NSgCfgIrpt Flags (decoded below)",
)

# DEN 0049 issue A, table 14: one SMMUv1/v2 context or PMU interrupt
# (iasl prints each as one 64-bit value, flags << 32 | GSIV).
SMMU_INTERRUPT = Struct(
    "gsiv" / Int32ul * "Interrupt GSIV",
    "flags" / Int32ul * "Interrupt Flags (decoded below)",
)

# DEN 0049 issue E.d, table 20: RMR memory range descriptor.
RMR_DESCRIPTOR = Struct(
    "base_address" / Int64ul * "Base Address of RMR",
    "length" / Int64ul * "Length of RMR",
    "reserved" / Default(Bytes(4), bytes(4)) * "Reserved",
)


# --- flag words: one declaration for YAML names, text view and checks -----

class FlagSet:
    """Named bit fields of one flags word. A one-bit field is a boolean in
    the description, a wider one an integer; bits no field covers are
    reserved and must be zero."""

    def __init__(self, *fields: tuple[str, int, str]):
        self.fields = fields  # (name, mask, iasl label)
        self.mask = 0
        for _, mask, _ in fields:
            self.mask |= mask

    @staticmethod
    def _get(value: int, mask: int) -> int:
        return (value & mask) >> ((mask & -mask).bit_length() - 1)

    def rows(self, value: int) -> list[tuple[str, str, int]]:
        return [(name, label, self._get(value, mask)) for name, mask, label in self.fields]

    def describe(self, value: int) -> Any:
        out: dict = {}
        for name, mask, _ in self.fields:
            field = self._get(value, mask)
            if field:
                out[name] = True if mask & (mask - 1) == 0 else field
        if value & ~self.mask:
            out["reserved"] = Hex(value & ~self.mask)
        return out

    def compile(self, value: Any, p: d.Problems, path: tuple) -> int:
        if isinstance(value, bool):
            p.error(path, "a flags word is a mapping of flag names (or an integer)")
            return 0
        if isinstance(value, int):
            return value
        out = 0
        known = {name: mask for name, mask, _ in self.fields}
        for name, field in (value or {}).items():
            if name == "reserved":
                out |= field
                continue
            mask = known.get(name)
            if mask is None:
                p.error(path + (name,), f"unknown flag {name!r} (known: {', '.join(known)})",
                        key=True)
                continue
            field = int(field)
            width_max = mask >> ((mask & -mask).bit_length() - 1)
            if field < 0 or field > width_max:
                p.error(path + (name,), f"{field} does not fit the {width_max.bit_length()}-bit "
                        f"field {name}")
                continue
            out |= field << ((mask & -mask).bit_length() - 1)
        return out

    def names(self) -> list[str]:
        return [name for name, _, _ in self.fields]


MAPPING_FLAGS = FlagSet(("single_mapping", 0x1, "Single Mapping"))
HINTS = FlagSet(("transient", 0x1, "Transient"), ("write_allocate", 0x2, "Write Allocate"),
                ("read_allocate", 0x4, "Read Allocate"), ("override", 0x8, "Override"))
MEMORY_FLAGS = FlagSet(("coherency", 0x1, "Coherency"),
                       ("device_attribute", 0x2, "Device Attribute"),
                       ("canwbs", 0x4, "Ensured Coherency of Accesses"))
NC_FLAGS = FlagSet(("stall_supported", 0x1, "Stall Supported"),
                   ("pasid_bits", 0x3E, "PASID Bits"))
ATS_ATTRIBUTE = FlagSet(("ats_supported", 0x1, "ATS Supported"),
                        ("pri_supported", 0x2, "PRI Supported"),
                        ("pasid_fwd_supported", 0x4, "PASID Forwarding Supported"))
PASID_CAPABILITIES = FlagSet(("max_pasid_width", 0x1F, "Max PASID Width"))
RC_FLAGS = FlagSet(("pasid_supported", 0x1, "PASID Supported"))
SMMU_FLAGS = FlagSet(("dvm_supported", 0x1, "DVM Supported"),
                     ("coherent_walk", 0x2, "Coherent Walk"))
IRQ_FLAGS = FlagSet(("edge_triggered", 0x1, "Edge Triggered"))
SMMU_V3_FLAGS = FlagSet(("cohacc_override", 0x1, "COHACC Override"),
                        ("httu_override", 0x6, "HTTU Override"),
                        ("pxm_valid", 0x8, "Proximity Domain Valid"),
                        ("deviceid_valid", 0x10, "DeviceID Valid"))
RMR_FLAGS = FlagSet(("remap_permitted", 0x1, "Remapping Permitted"),
                    ("access_privileged", 0x2, "Access Privileged"),
                    ("access_attributes", 0x3FC, "Access Attributes"))

# Flag words inside the shared structures, by field name.
MEMORY_ACCESS_FLAGS = {"hints": HINTS, "memory_flags": MEMORY_FLAGS}


# --- node types ----------------------------------------------------------------

@dataclass(frozen=True)
class NodeArray:
    """A node-relative array: `count` and `offset` name the fixed-part
    fields holding its element count and node offset (None: exactly one
    element / right after the fixed part); `elem` None is a NUL-terminated
    name."""

    key: str
    elem: Construct | None
    count: str | None = None
    offset: str | None = None
    single: bool = False  # exactly one element, kept as a dict

    @property
    def elem_size(self) -> int:
        return self.elem.sizeof() if self.elem is not None else 1


MAPPINGS = NodeArray("mappings", ID_MAPPING, "mapping_count", "mapping_offset")


def _fast_format(st: Struct) -> tuple[tuple[str, ...], _struct.Struct] | None:
    """A struct-module format derived from a declaration made only of
    little-endian integers: the bulk path for long arrays (mappings)."""
    if not isinstance(st, Struct):
        return None
    names, fmt = [], "<"
    for sub in st.subcons:
        inner = sub.subcon
        if not isinstance(inner, FormatField):
            return None
        names.append(sub.name)
        fmt += inner.fmtstr.lstrip("<")
    return tuple(names), _struct.Struct(fmt)


class IortNode(NodeType):
    """An IORT node: the common header, a fixed part whose fields depend on
    the node revision, and node-relative arrays."""

    def __init__(self, code: int, kind: str, label: str,
                 body: list[tuple[int, int | None, Construct]], arrays: tuple[NodeArray, ...],
                 flags: dict[str, FlagSet], prefix: str, refs: tuple[str, ...] = (),
                 ref_fields: tuple[str, ...] = ()):
        self.body_fields = body
        self.arrays = arrays
        self.flags = flags
        self.prefix = prefix
        self.ref_fields = ref_fields  # fixed-part fields that are node references
        self.derived = {a.count for a in arrays if a.count} | {"mapping_offset"}
        self.offset_fields = tuple(a.offset for a in arrays if a.offset)  # incl. mapping_offset
        top = max((lo for lo, _, _ in body), default=0)
        full = Struct("header" / NODE_HEADER, *self.body(top + 10).subcons)
        super().__init__(code, kind, label, full, HEADER_SIZE + self.body(0).sizeof(), refs=refs)

    @lru_cache(maxsize=None)
    def body(self, revision: int, flags_word: bool = True) -> Struct:
        """The fixed part after the node header for one node revision."""
        subs = [sub for lo, hi, sub in self.body_fields
                if lo <= revision and (hi is None or revision <= hi)
                and (flags_word or sub.name != "flags" or self.code != ROOT_COMPLEX)]
        return Struct(*subs)

    def has_flags_word(self, revision: int, fields: dict) -> bool:
        return self.code == ROOT_COMPLEX and revision >= 4 and "flags" in fields

    @lru_cache(maxsize=None)
    def fixed_bytes(self, revision: int, flags_word: bool = True) -> int:
        return HEADER_SIZE + self.body(revision, flags_word).sizeof()

    def min_length(self, spec: TableSpec, revision: int | None) -> int:
        return self.fixed_bytes(revision or 0, flags_word=False)

    def ref_paths(self, fields: dict) -> tuple[str, ...]:
        return self.ref_fields + tuple(f"mappings.{i}.output_reference"
                                       for i in range(len(fields.get("mappings", ()))))

    # -- decoding ------------------------------------------------------------

    def parse(self, blob: bytes, spec: TableSpec, ctx: dict) -> dict:
        where = ctx["offset"]
        head = NODE_HEADER.parse(blob)
        if head.length != len(blob):
            raise TableError("the node runs past the table end", offset=where)
        rev = head.revision
        flags_word = True
        if self.code == ROOT_COMPLEX and rev >= 4:
            end40 = HEADER_SIZE + self.body(rev).sizeof()
            flags_word = (head.mapping_offset >= end40 if head.mapping_count
                          else len(blob) >= end40)
        body = self.body(rev, flags_word)
        fixed = HEADER_SIZE + body.sizeof()
        if fixed > len(blob):
            raise TableError(f"node length {len(blob)} is shorter than the {fixed}-byte fixed "
                             f"part of a revision-{rev} {self.label} node", offset=where + 1)
        values = body.parse(blob[HEADER_SIZE:fixed])
        fields: dict = {"revision": rev, "identifier": head.identifier, "length": head.length,
                        "mapping_offset": head.mapping_offset}
        counts = {"mapping_count": head.mapping_count}
        for sub in body.subcons:
            if sub.name in self.derived:
                counts[sub.name] = values[sub.name]
            else:
                fields[sub.name] = plain(values[sub.name])
        covered = [(0, fixed)]
        for arr in self.arrays:
            off = fields[arr.offset] if arr.offset else fixed
            if arr.elem is None:
                end = blob.find(b"\0", off)
                if end < 0:
                    raise TableError(f"{arr.key} has no NUL terminator inside the node",
                                     offset=where + off, field=arr.key)
                fields[arr.key] = blob[off:end].decode("latin-1")
                covered.append((off, end + 1))
                continue
            n = 1 if arr.count is None else counts[arr.count]
            size = n * arr.elem_size  # bounds-checked before any list is built
            if n and (off < 0 or off + size > len(blob)):
                raise TableError(f"{n} {arr.key} entries at node offset 0x{off:X} "
                                 f"({size} bytes) run past the node end (0x{len(blob):X})",
                                 offset=where + off, field=arr.offset or arr.key)
            items = parse_array(arr.elem, blob, off, n)
            fields[arr.key] = items[0] if arr.count is None else items
            if size:
                covered.append((off, off + size))
        gaps = _gaps(blob, covered)
        if gaps:
            fields["gaps"] = gaps
        return fields

    # -- layout and building ---------------------------------------------------

    def place(self, fields: dict) -> tuple[dict[str, tuple[int, int]], int, int]:
        """The one layout rule: ({array: (node offset, bytes)}, fixed size,
        Length). Default: fixed part, then each array in declaration order
        (names at the fixed end, other arrays 4-byte aligned, empty counted
        arrays at offset 0), Length rounded up to 4; explicit offsets and
        length in `fields` win."""
        rev = fields.get("revision", 0)
        fixed = self.fixed_bytes(rev, self.has_flags_word(rev, fields) or self.code != ROOT_COMPLEX)
        cursor, out = fixed, {}
        for arr in self.arrays:
            if arr.elem is None:
                size = len(fields.get(arr.key, "")) + 1
            elif arr.count is None:
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
                off = _align4(cursor)
            if size:
                cursor = max(cursor, off + size)
            out[arr.key] = (off, size)
        for gap in fields.get("gaps", ()):
            cursor = max(cursor, gap["offset"] + len(gap["data"]))
        off, size = out["mappings"]
        # A node ends with its ID mappings, or is padded to 4 bytes.
        default = cursor if size and cursor == off + size else _align4(cursor)
        return out, fixed, fields.get("length", default)

    def size(self, node: Node, spec: TableSpec) -> int:
        return self.place(node.fields)[2]

    def build(self, node: Node, resolve: Callable[[Ref], int], spec: TableSpec) -> bytes:
        f = node.fields
        rev = f.get("revision", 0)
        body = self.body(rev, self.has_flags_word(rev, f))
        placed, fixed, length = self.place(f)
        buf = bytearray(length)
        for gap in f.get("gaps", ()):
            _put(buf, gap["offset"], gap["data"], "gap", node)
        values = dict(f)
        for arr in self.arrays:
            if arr.count:
                values[arr.count] = len(f.get(arr.key, ()))
            if arr.offset:
                values[arr.offset] = placed[arr.key][0]
        for path in self.ref_fields:
            values[path] = resolve(values[path])
        head = NODE_HEADER.build(dict(values, type=self.code, identifier=f.get("identifier", 0),
                                      revision=rev, length=node.length_override or length))
        _put(buf, 0, head + body.build(values), "fixed part", node)
        for arr in self.arrays:
            off, size = placed[arr.key]
            if arr.elem is None:
                blob = f.get(arr.key, "").encode("latin-1") + b"\0"
            elif arr.count is None:
                blob = arr.elem.build(f.get(arr.key, {}))
            else:
                items = f.get(arr.key, ())
                if arr is MAPPINGS:
                    items = [dict(m, output_reference=resolve(m["output_reference"]))
                             for m in items]
                blob = build_array(arr.elem, items)
            if size:
                _put(buf, off, blob, arr.key, node)
        return bytes(buf)

    # -- text view -----------------------------------------------------------

    def layout(self, node: Node, spec: TableSpec, table: Table | None = None) -> list:
        f = node.fields
        rev = f.get("revision", 0)
        body = self.body(rev, self.has_flags_word(rev, f))
        placed, fixed, length = self.place(f)
        values = dict(f, type=self.code, length=length,
                      mapping_count=len(f.get("mappings", ())))
        for arr in self.arrays:
            if arr.count:
                values[arr.count] = len(f.get(arr.key, ()))
            if arr.offset:
                values[arr.offset] = placed[arr.key][0]
        rows = struct_rows(NODE_HEADER, values, 0)
        if table is not None and table.header.get("revision", 0) == 0:
            rows = [r if r[2] != "identifier" else (*r[:3], "Reserved", r[4]) for r in rows]
        rows += self._flag_rows(struct_rows(body, values, HEADER_SIZE), self.flags)
        for arr in self.arrays:
            off, size = placed[arr.key]
            if arr.elem is None:
                rows.append((off, size, arr.key, "Device Name", f.get(arr.key, "")))
                continue
            if not isinstance(arr.elem, Struct):  # ITS identifiers: plain u32s
                rows += [(off + 4 * i, 4, f"{arr.key}.{i}", "Identifiers", v)
                         for i, v in enumerate(f.get(arr.key, ()))]
                continue
            items = [f.get(arr.key, {})] if arr.count is None else f.get(arr.key, ())
            flags = ({"flags": MAPPING_FLAGS} if arr is MAPPINGS else
                     {"flags": IRQ_FLAGS, "nsg_irpt_flags": IRQ_FLAGS,
                      "nsg_cfg_irpt_flags": IRQ_FLAGS} if arr.key != "rmr_descriptors" else {})
            for i, item in enumerate(items):
                rows += self._flag_rows(struct_rows(arr.elem, item, off + i * arr.elem_size),
                                        flags)
        for gap in f.get("gaps", ()):
            rows.append((gap["offset"], len(gap["data"]), "gap", "Padding", gap["data"]))
        return sorted(rows, key=lambda r: r[0])

    @staticmethod
    def _flag_rows(rows: list, flags: dict) -> list:
        out = []
        for row in rows:
            out.append(row)
            flagset = flags.get(row[2]) or flags.get(row[2].split(".")[-1])
            if flagset is not None and isinstance(row[4], int):
                out += [(row[0], 0, f"{row[2]}.{name}", label, value)
                        for name, label, value in flagset.rows(row[4])]
        return out


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _put(buf: bytearray, off: int, blob: bytes, what: str, node: Node) -> None:
    if off < 0 or off + len(blob) > len(buf):
        raise TableError(f"{what} [0x{off:X}, 0x{off + len(blob):X}) does not fit the node "
                         f"length 0x{len(buf):X}", node=node.name or None, field=what)
    buf[off:off + len(blob)] = blob


def _gaps(blob: bytes, covered: list[tuple[int, int]]) -> list[dict]:
    """Non-zero bytes that no field or array covers (zero ones are what a
    build writes anyway; the node Length says how far they go)."""
    gaps = []
    pos = 0
    for start, end in sorted(covered) + [(len(blob), len(blob))]:
        if start > pos and any(blob[pos:start]):
            gaps.append({"offset": pos, "data": blob[pos:start]})
        pos = max(pos, end)
    return gaps


@lru_cache(maxsize=None)
def _format_of(elem: Construct):
    return _fast_format(elem)


def parse_array(elem: Construct, blob: bytes, off: int, n: int) -> list[dict]:
    fast = _format_of(elem)
    if fast is not None:
        names, fmt = fast
        return [dict(zip(names, vals))
                for vals in fmt.iter_unpack(blob[off:off + n * fmt.size])] if n else []
    if elem is Int32ul:
        return list(_struct.unpack_from(f"<{n}I", blob, off))
    size = elem.sizeof()
    return [plain(elem.parse(blob[off + i * size:off + (i + 1) * size])) for i in range(n)]


def build_array(elem: Construct, items: list) -> bytes:
    fast = _format_of(elem)
    if fast is not None:
        names, fmt = fast
        try:
            return b"".join(fmt.pack(*(item[k] for k in names)) for item in items)
        except _struct.error as exc:
            raise TableError(f"cannot encode: {exc}") from None
    if elem is Int32ul:
        return _struct.pack(f"<{len(items)}I", *items)
    return b"".join(elem.build(item) for item in items)


# One entry per node type: revision ranges of the fixed-part fields follow
# spec.md section 3.6/3.7 (the issue that introduced each is cited).
NODE_TYPES: dict[int, IortNode] = {t.code: t for t in [
    # DEN 0049 issue A, table 11 (ITS group)
    IortNode(ITS_GROUP, "its_group", "ITS Group", [
        (0, None, "its_count" / Int32ul * "ItsCount"),
    ], (NodeArray("identifiers", Int32ul, "its_count"), MAPPINGS), {}, "its"),
    # DEN 0049 issue D, table 13 (named component); name + padding follow
    IortNode(NAMED_COMPONENT, "named_component", "Named Component", [
        (0, None, "node_flags" / Int32ul * "Node Flags (decoded below)"),
        (0, None, "memory_properties" / MEMORY_ACCESS * "Memory Properties"),
        (0, None, "memory_address_limit" / Int8ul * "Memory Size Limit"),
    ], (NodeArray("device_name", None), MAPPINGS),
        {"node_flags": NC_FLAGS, **MEMORY_ACCESS_FLAGS}, "nc"),
    # DEN 0049 issue E.d, table 16 (root complex); 32/36/40-byte fixed part
    IortNode(ROOT_COMPLEX, "root_complex", "Root Complex", [
        (0, None, "memory_properties" / MEMORY_ACCESS * "Memory Properties"),
        (0, None, "ats_attribute" / Int32ul * "ATS Attribute (decoded below)"),
        (0, None, "pci_segment_number" / Int32ul * "PCI Segment Number"),
        (1, None, "memory_address_limit" / Int8ul * "Memory Size Limit"),
        (1, None, "pasid_capabilities" / Int16ul * "PASID Capabilities (decoded below)"),
        (1, None, "reserved" / Default(Bytes(1), b"\0") * "Reserved"),
        (4, None, "flags" / Int32ul * "Flags (decoded below)"),
    ], (MAPPINGS,), {"ats_attribute": ATS_ATTRIBUTE, "pasid_capabilities": PASID_CAPABILITIES,
                     "flags": RC_FLAGS, **MEMORY_ACCESS_FLAGS}, "rc"),
    # DEN 0049 issue C, table 17 (SMMUv1/v2)
    IortNode(SMMU, "smmu", "SMMUv1/v2", [
        (0, None, "base_address" / Int64ul * "Base Address"),
        (0, None, "span" / Int64ul * "Span"),
        (0, None, "model" / Int32ul * "Model"),
        (0, None, "flags" / Int32ul * "Flags (decoded below)"),
        (0, None, "global_interrupt_offset" / Int32ul * "Global Interrupt Offset"),
        (0, None, "context_interrupt_count" / Int32ul * "Context Interrupt Count"),
        (0, None, "context_interrupt_offset" / Int32ul * "Context Interrupt Offset"),
        (0, None, "pmu_interrupt_count" / Int32ul * "PMU Interrupt Count"),
        (0, None, "pmu_interrupt_offset" / Int32ul * "PMU Interrupt Offset"),
    ], (NodeArray("global_interrupts", SMMU_GLOBAL_INTERRUPTS, None, "global_interrupt_offset"),
        NodeArray("context_interrupts", SMMU_INTERRUPT, "context_interrupt_count",
                  "context_interrupt_offset"),
        NodeArray("pmu_interrupts", SMMU_INTERRUPT, "pmu_interrupt_count",
                  "pmu_interrupt_offset"),
        MAPPINGS), {"flags": SMMU_FLAGS}, "smmu"),
    # DEN 0049 issue E.e, table 18 (SMMUv3); Pxm and IdMappingIndex from rev 1
    IortNode(SMMU_V3, "smmu_v3", "SMMUv3", [
        (0, None, "base_address" / Int64ul * "Base Address"),
        (0, None, "flags" / Int32ul * "Flags (decoded below)"),
        (0, None, "reserved" / Default(Bytes(4), bytes(4)) * "Reserved"),
        (0, None, "vatos_address" / Int64ul * "VATOS Address"),
        (0, None, "model" / Int32ul * "Model"),
        (0, None, "event_gsiv" / Int32ul * "Event GSIV"),
        (0, None, "pri_gsiv" / Int32ul * "PRI GSIV"),
        (0, None, "gerr_gsiv" / Int32ul * "GERR GSIV"),
        (0, None, "sync_gsiv" / Int32ul * "Sync GSIV"),
        (1, None, "pxm" / Int32ul * "Proximity Domain"),
        (1, None, "id_mapping_index" / Int32ul * "Device ID Mapping Index"),
    ], (MAPPINGS,), {"flags": SMMU_V3_FLAGS}, "smmuv3_"),
    # DEN 0049 issue D, table 19 (PMCG); page 1 base from rev 1
    IortNode(PMCG, "pmcg", "PMCG", [
        (0, None, "page0_base_address" / Int64ul * "Page 0 Base Address"),
        (0, None, "overflow_gsiv" / Int32ul * "Overflow Interrupt GSIV"),
        (0, None, "node_reference" / Int32ul * "Node Reference"),
        (1, None, "page1_base_address" / Int64ul * "Page 1 Base Address"),
    ], (MAPPINGS,), {}, "pmcg", ref_fields=("node_reference",)),
    # DEN 0049 issue E.d, table 20 (RMR)
    IortNode(RMR, "rmr", "RMR", [
        (0, None, "flags" / Int32ul * "Flags (decoded below)"),
        (0, None, "rmr_count" / Int32ul * "Number of RMR Descriptors"),
        (0, None, "rmr_offset" / Int32ul * "RMR Descriptor Offset"),
    ], (NodeArray("rmr_descriptors", RMR_DESCRIPTOR, "rmr_count", "rmr_offset"), MAPPINGS),
        {"flags": RMR_FLAGS}, "rmr"),
    # DEN 0049 issue E.g (IWB, GICv5); name + padding follow
    IortNode(IWB, "iwb", "IWB", [
        (0, None, "base_address" / Int64ul * "Config Frame base"),
        (0, None, "iwb_index" / Int16ul * "IWB Index"),
    ], (NodeArray("device_name", None), MAPPINGS), {}, "iwb"),
]}
BY_KIND = {t.kind: t for t in NODE_TYPES.values()}


# --- roles: what each kind is to the mapper (engine/roles.py) ---------------

def smmu_v3_deviceid_index(f: Any) -> int | None:
    """Linux iort_get_id_mapping_index() for an SMMUv3 node: the mapping
    that gives the SMMU's own MSI DeviceID (skipped while translating), or
    None. Before node revision 1 there is no index; revisions 1-4 use it
    unless every GSIV is wired; from 5 on DeviceID Valid (flags bit 4) says."""
    rev = f.get("revision", 0)
    if rev < 1:
        return None
    if rev < 5:
        if all(f.get(k, 0) for k in ("event_gsiv", "pri_gsiv", "gerr_gsiv", "sync_gsiv")):
            return None
    elif not f.get("flags", 0) & 0x10:
        return None
    index = f.get("id_mapping_index", 0)
    return index if index < len(f.get("mappings") or ()) else None  # FW_BUG: ignored


def pmcg_deviceid_index(f: Any) -> int | None:
    """Linux: a PMCG whose overflow interrupt is an MSI (GSIV 0) takes its
    DeviceID from mapping 0."""
    if f.get("overflow_gsiv", 0) or not f.get("mappings"):
        return None
    return 0


_WALK_TARGETS = ("its_group", "smmu", "smmu_v3")
ROLES = {
    ITS_GROUP: Role(RoleKind.MSI_CONTROLLER),
    NAMED_COMPONENT: Role(RoleKind.ENDPOINT, _WALK_TARGETS, single_mappings=True,
                          match="device_name"),
    ROOT_COMPLEX: Role(RoleKind.ENDPOINT, _WALK_TARGETS, single_mappings=True,
                       match="pci_segment_number"),
    SMMU: Role(RoleKind.IOMMU, ("its_group",)),
    SMMU_V3: Role(RoleKind.IOMMU, ("its_group",), deviceid_index=smmu_v3_deviceid_index),
    PMCG: Role(RoleKind.BRIDGE, ("its_group",), deviceid_index=pmcg_deviceid_index),
    RMR: Role(RoleKind.BRIDGE, ("smmu", "smmu_v3"), table_revisions=(3, 4, 5, 6, 7)),
    IWB: Role(RoleKind.ENDPOINT, ("its_group",), single_mappings=True, match="device_name",
              match_order=1, msi_only=True, table_revisions=(7,)),
}
for _code, _role in ROLES.items():
    NODE_TYPES[_code].role = _role

# spec.md 3.7: node revision per table revision (what this tool writes by
# default); table revisions 1/2 (E, E.a) use the E.b column, 4 (E.c) E.d's.
NODE_REVISIONS = {
    0: {ITS_GROUP: 0, NAMED_COMPONENT: 2, ROOT_COMPLEX: 1, SMMU: 1, SMMU_V3: 2, PMCG: 1},
    3: {ITS_GROUP: 1, NAMED_COMPONENT: 4, ROOT_COMPLEX: 3, SMMU: 3, SMMU_V3: 4, PMCG: 2, RMR: 1},
    5: {ITS_GROUP: 1, NAMED_COMPONENT: 4, ROOT_COMPLEX: 4, SMMU: 3, SMMU_V3: 4, PMCG: 2, RMR: 3},
    6: {ITS_GROUP: 1, NAMED_COMPONENT: 4, ROOT_COMPLEX: 4, SMMU: 3, SMMU_V3: 5, PMCG: 2, RMR: 3},
    7: {ITS_GROUP: 1, NAMED_COMPONENT: 4, ROOT_COMPLEX: 4, SMMU: 3, SMMU_V3: 5, PMCG: 2, RMR: 3,
        IWB: 1},
}
BUILD_REVISIONS = (0, 3, 5, 6, 7)
DEPRECATED_REVISIONS = (1, 2, 4)


def revision_column(table_revision: int) -> dict[int, int]:
    if table_revision in NODE_REVISIONS:
        return NODE_REVISIONS[table_revision]
    if table_revision in (1, 2):
        return NODE_REVISIONS[3]
    if table_revision == 4:
        return NODE_REVISIONS[5]
    return NODE_REVISIONS[7]


def default_identifier(index: int, table_revision: int) -> int:
    return 0 if table_revision == 0 else index


# --- names for decoded nodes -------------------------------------------------

def name_nodes(table: Table) -> None:
    counters: dict[str, int] = {}
    for node in table.nodes:
        ntype = NODE_TYPES.get(node.type)
        stem = ntype.prefix if ntype is not None and not node.raw else "node"
        node.name = f"{stem}{counters.get(stem, 0)}"
        counters[stem] = counters.get(stem, 0) + 1


# --- semantic checks (spec.md 4.1, 4.3), shared by decode and build ----------

ALLOWED_TARGETS = {
    NAMED_COMPONENT: (ITS_GROUP, SMMU, SMMU_V3), ROOT_COMPLEX: (ITS_GROUP, SMMU, SMMU_V3),
    SMMU: (ITS_GROUP,), SMMU_V3: (ITS_GROUP,), PMCG: (ITS_GROUP,), RMR: (SMMU, SMMU_V3),
    IWB: (ITS_GROUP,), ITS_GROUP: (),
}
NC_PATH = re.compile(r"\\[A-Z_][A-Z0-9_]{3}(\.[A-Z_][A-Z0-9_]{3})*")
RMR_ALIGN = 0x10000


def check(table: Table) -> list[Diagnostic]:
    out: list[Diagnostic] = []

    def note(sev: str, node: Node | None, field: str | None, msg: str) -> None:
        out.append(Diagnostic(sev, msg, offset=node.offset if node else None,
                              node=node.name if node else None, field=field))

    trev = table.header.get("revision", 0)
    if trev > 7:
        out.append(Diagnostic("warning", f"IORT revision {trev} is newer than any issue this "
                              "tool knows (7 = E.g)", offset=8, field="revision"))
    if any(table.fields.get("reserved", b"")):
        out.append(Diagnostic("warning", "header reserved bytes are not zero "
                              f"({table.fields['reserved'].hex()})", offset=44, field="reserved"))
    if any(table.padding):
        out.append(Diagnostic("warning", "padding before the first node is not zero",
                              offset=48, field="padding"))
    column = revision_column(trev)
    by_name = {n.name: n for n in table.nodes}
    identifiers: dict[int, Node] = {}
    segments: dict[int, Node] = {}
    iwb_indexes: dict[int, Node] = {}
    for node in table.nodes:
        if node.raw or node.type not in NODE_TYPES:
            continue
        ntype, f = NODE_TYPES[node.type], node.fields
        rev = f.get("revision", 0)

        def target(ref: Any) -> Node | None:
            return by_name.get(ref.name) if isinstance(ref, Ref) and ref.name else None

        # type and revision against the table revision (spec 3.1, 3.7)
        if node.type == RMR and trev < 3:
            note("error", node, "type", f"RMR nodes need IORT revision 3 or later (issue E.b); "
                 f"this table is revision {trev}")
        elif node.type == RMR and trev < 5:
            note("warning", node, "type", f"Linux ignores RMR nodes in IORT revision {trev} "
                 "(it reads them from revision 5, issue E.d, on)")
        if node.type == IWB and trev < 7:
            note("error", node, "type", f"IWB nodes need IORT revision 7 (issue E.g); this "
                 f"table is revision {trev}")
        expected = column.get(node.type)
        if expected is not None and rev > expected:
            note("warning", node, "revision", f"node revision {rev} is newer than IORT revision "
                 f"{trev} knows for a {ntype.label} node ({expected})")
        if node.type == RMR and rev == 2:
            note("error", node, "revision", "RMR node revision 2 (issue E.c) is deprecated and "
                 "must not be used")
        ident = f.get("identifier", 0)
        if trev == 0:
            if ident:
                note("warning", node, "identifier", f"reserved word (Identifier from issue E "
                     f"on) is 0x{ident:X}, not zero, in a revision-0 table")
        elif ident in identifiers:
            note("error" if trev >= 3 else "warning", node, "identifier",
                 f"identifier {ident} is also {identifiers[ident].name}'s")
        else:
            identifiers[ident] = node
        body = ntype.body(rev, ntype.has_flags_word(rev, f) or node.type != ROOT_COMPLEX)
        for path, value in d.reserved_values(body, f):
            if any(value):
                note("warning", node, path, f"reserved bytes are not zero ({value.hex()})")
        for fname, flagset in ntype.flags.items():
            value = f.get(fname)
            if value is None and fname in MEMORY_ACCESS_FLAGS:
                value = (f.get("memory_properties") or {}).get(fname)
            if isinstance(value, int) and value & ~flagset.mask:
                note("warning", node, fname, f"reserved bits 0x{value & ~flagset.mask:X} of "
                     f"{fname} are set")
        _check_layout(ntype, node, note)
        maps = f.get("mappings", [])
        _check_mappings(ntype, node, maps, target, note)

        if node.type == ITS_GROUP and not f.get("identifiers"):
            note("warning", node, "identifiers", "ITS group with no ITS identifiers")
        if node.type in (NAMED_COMPONENT, ROOT_COMPLEX):
            mem = f.get("memory_properties") or {}
            if mem.get("cache_coherency", 0) not in (0, 1):
                note("warning", node, "memory_properties", f"cache coherency "
                     f"{mem['cache_coherency']} is neither 0 nor 1")
            if (node.type == NAMED_COMPONENT or rev >= 1) and not f.get("memory_address_limit"):
                note("warning", node, "memory_address_limit", "memory address size limit 0: "
                     "Linux limits the device's DMA to a 1-byte range")
        if node.type in (NAMED_COMPONENT, IWB):
            name = f.get("device_name", "")
            if not NC_PATH.fullmatch(name):
                note("warning", node, "device_name", f"device name '{name}' is not an absolute "
                     "path of 4-character segments (like \\_SB_.PCI0.DEV0); Linux compares the "
                     "full path and would never match it")
        if node.type == ROOT_COMPLEX:
            seg = f.get("pci_segment_number", 0)
            if seg in segments:
                note("warning", node, "pci_segment_number", f"PCI segment {seg} also has root "
                     f"complex {segments[seg].name}; Linux uses the first")
            segments.setdefault(seg, node)
            if (f.get("pasid_capabilities", 0) & 0x1F) > 20:
                note("warning", node, "pasid_capabilities", "max PASID width above 20 bits")
        if node.type == SMMU and f.get("model", 0) > 5:
            note("warning", node, "model", f"unknown SMMUv1/v2 model {f['model']}")
        if node.type == SMMU:
            irqs = [("global_interrupts.nsg_irpt_flags", f["global_interrupts"]["nsg_irpt_flags"]),
                    ("global_interrupts.nsg_cfg_irpt_flags",
                     f["global_interrupts"]["nsg_cfg_irpt_flags"])]
            for key in ("context_interrupts", "pmu_interrupts"):
                irqs += [(f"{key}.{i}.flags", irq["flags"]) for i, irq in enumerate(f[key])]
            for path, value in irqs:
                if value & ~IRQ_FLAGS.mask:
                    note("warning", node, path, f"reserved interrupt flag bits 0x{value & ~1:X}")
        if node.type == SMMU_V3:
            _check_smmu_v3(node, f, rev, maps, target, note)
        if node.type == PMCG:
            ref = target(f.get("node_reference"))
            if ref is not None and ref.type not in (SMMU_V3, NAMED_COMPONENT, ROOT_COMPLEX):
                note("warning", node, "node_reference", f"PMCG belongs to {ref.name}, a "
                     f"{NODE_TYPES[ref.type].label if ref.type in NODE_TYPES else 'raw'} node")
            if len(maps) > 1:
                note("error", node, "mappings", f"a PMCG has at most one ID mapping, not "
                     f"{len(maps)}")
            if not f.get("overflow_gsiv"):
                m = maps[0] if maps else None
                t = target(m["output_reference"]) if m else None
                if m is None or not m["flags"] & 1 or t is None or t.type != ITS_GROUP:
                    note("error", node, "overflow_gsiv", "overflow GSIV 0 means an MSI: the "
                         "PMCG then needs one single mapping to an ITS group")
        if node.type == RMR:
            _check_rmr(node, f, maps, note)
        if node.type == IWB:
            if len(maps) != 1:
                note("warning", node, "mappings", f"an IWB normally has one ID mapping, not "
                     f"{len(maps)}")
            idx = f.get("iwb_index", 0)
            if idx in iwb_indexes:
                note("error", node, "iwb_index", f"IWB index {idx} is also "
                     f"{iwb_indexes[idx].name}'s")
            iwb_indexes.setdefault(idx, node)
    _check_cycles(table, by_name, note)
    return out


def _check_layout(ntype: IortNode, node: Node, note: Callable) -> None:
    """Arrays inside the node, not overlapping the fixed part or each other
    (spec 4.3 'mapping array' and SMMU/RMR array rules)."""
    f = node.fields
    placed, fixed, length = ntype.place(f)
    regions = [("fixed part", 0, fixed)]
    for arr in ntype.arrays:
        off, size = placed[arr.key]
        if size:
            regions.append((arr.key, off, off + size))
            if off + size > length:
                note("error", node, arr.offset or arr.key, f"{arr.key} [0x{off:X}, "
                     f"0x{off + size:X}) runs past the node length 0x{length:X}")
    if fixed > length:
        note("error", node, "length", f"node length {length} is shorter than the {fixed}-byte "
             "fixed part")
    regions.sort(key=lambda r: r[1])
    for (name_a, a0, a1), (name_b, b0, b1) in zip(regions, regions[1:]):
        if b0 < a1:
            field = next((a.offset or a.key for a in ntype.arrays if a.key == name_b), name_b)
            note("error", node, field, f"{name_b} at node offset 0x{b0:X} overlaps {name_a} "
                 f"[0x{a0:X}, 0x{a1:X})")
    maps = f.get("mappings", [])
    mo = placed["mappings"][0]
    if not maps and mo:
        note("warning", node, "mapping_offset", f"mapping offset 0x{mo:X} with no mappings "
             "(iasl writes 0)")
    if maps and mo % 4:
        note("warning", node, "mapping_offset", f"ID mapping array at node offset 0x{mo:X} is "
             "not 4-byte aligned")


def _check_mappings(ntype: IortNode, node: Node, maps: list, target: Callable,
                    note: Callable) -> None:
    if node.type == ITS_GROUP and maps:
        note("error", node, "mappings", "an ITS group has no ID mappings")
    allowed = ALLOWED_TARGETS.get(node.type, ())
    ranges = []
    for j, m in enumerate(maps):
        where = f"mappings.{j}"
        out = target(m["output_reference"])
        if out is node:
            note("warning", node, f"{where}.output_reference", f"mapping {j} points at its own "
                 "node")
        elif out is not None and not out.raw and out.type not in allowed:
            names = " or ".join(NODE_TYPES[t].label for t in allowed) or "nothing"
            note("error", node, f"{where}.output_reference", f"mapping {j} goes to "
                 f"{out.name}, a {NODE_TYPES[out.type].label} node; a {ntype.label} node maps "
                 f"to {names}")
        if m["flags"] & ~MAPPING_FLAGS.mask:
            note("warning", node, f"{where}.flags", f"reserved flag bits "
                 f"0x{m['flags'] & ~1:X} of mapping {j} are set")
        if m["flags"] & 1:
            if node.type in (ITS_GROUP, SMMU):
                note("error", node, f"{where}.flags", f"single mapping {j} is not allowed on a "
                     f"{ntype.label} node (Linux skips it)")
            elif node.type in (RMR, IWB):
                note("warning", node, f"{where}.flags", f"single mapping {j} on a {ntype.label} "
                     "node")
            continue
        first, last = m["input_base"], m["input_base"] + m["id_count"]
        if last > 0xFFFFFFFF or m["output_base"] + m["id_count"] > 0xFFFFFFFF:
            note("error", node, f"{where}.id_count", f"mapping {j} runs past ID 0xFFFFFFFF "
                 "(Linux never matches a range that wraps)")
            continue
        ranges.append((first, last, j))
    ranges.sort()
    prev = None
    for first, last, j in ranges:
        if prev is not None and first <= prev[1]:
            if first == prev[1] and prev[0] < prev[1]:
                note("warning", node, f"mappings.{j}.input_base", f"mapping {prev[2]} ends at "
                     f"input ID 0x{first:X} where mapping {j} starts: a count written where "
                     "count - 1 belongs? (Linux logs FW_BUG and prefers the later range)")
            else:
                note("warning", node, f"mappings.{j}.input_base", f"mapping {j} "
                     f"[0x{first:X}, 0x{last:X}] overlaps mapping {prev[2]} "
                     f"[0x{prev[0]:X}, 0x{prev[1]:X}]; Linux uses the first match")
        if prev is None or last > prev[1]:
            prev = (first, last, j)


def _check_smmu_v3(node: Node, f: dict, rev: int, maps: list, target: Callable,
                   note: Callable) -> None:
    flags = f.get("flags", 0)
    if (flags & 0x6) == 0x6:
        note("warning", node, "flags", "HTTU override 3 is reserved")
    if f.get("model", 0) > 2:
        note("warning", node, "model", f"unknown SMMUv3 model {f['model']}")
    if rev < 1:
        return
    index = f.get("id_mapping_index", 0)
    gsivs = [f.get(k, 0) for k in ("event_gsiv", "pri_gsiv", "gerr_gsiv", "sync_gsiv")]
    meaningful = bool(flags & 0x10) if rev >= 5 else not all(gsivs)
    if rev >= 5 and not flags & 0x10 and index:
        note("warning", node, "id_mapping_index", "DeviceID valid is clear, so the DeviceID "
             f"mapping index should be 0 (it is {index})")
    if not meaningful:
        return
    if index >= len(maps):
        note("error", node, "id_mapping_index", f"DeviceID mapping index {index} but only "
             f"{len(maps)} mappings (Linux: FW_BUG ID mapping index overflows)")
        return
    m = maps[index]
    out = target(m["output_reference"])
    if not m["flags"] & 1 or out is None or out.type != ITS_GROUP:
        note("error", node, "id_mapping_index", f"mapping {index} (the DeviceID mapping) must "
             "be a single mapping to an ITS group (Linux: FW_BUG Invalid MSI mapping)")


def _check_rmr(node: Node, f: dict, maps: list, note: Callable) -> None:
    descs = f.get("rmr_descriptors", [])
    if not descs:
        note("error", node, "rmr_descriptors", "an RMR node needs at least one memory range "
             "descriptor (Linux skips the node)")
    if not maps:
        note("error", node, "mappings", "an RMR node needs ID mappings naming the stream IDs "
             "(Linux: FW_BUG Invalid ID mapping)")
    if ((f.get("flags", 0) >> 2) & 0xFF) > 5:
        note("warning", node, "flags", f"access attributes {(f['flags'] >> 2) & 0xFF:#x} are "
             "reserved (0-5 are defined)")
    spans = []
    for i, desc in enumerate(descs):
        where = f"rmr_descriptors.{i}"
        base, size = desc["base_address"], desc["length"]
        if not size:
            note("error", node, f"{where}.length", f"RMR descriptor {i} has length 0")
        elif base % RMR_ALIGN or size % RMR_ALIGN:
            note("warning", node, f"{where}.base_address", f"RMR descriptor {i} "
                 f"[0x{base:X}, +0x{size:X}) is not 64 KiB aligned (Linux rounds to pages)")
        if any(desc.get("reserved", b"")):
            note("warning", node, f"{where}.reserved", f"reserved bytes of RMR descriptor {i} "
                 "are not zero")
        if size:
            spans.append((base, base + size, i))
    spans.sort()
    for (a0, a1, i), (b0, b1, j) in zip(spans, spans[1:]):
        if b0 < a1:
            note("warning", node, f"rmr_descriptors.{j}.base_address", f"RMR descriptor {j} "
                 f"overlaps descriptor {i}")


def _check_cycles(table: Table, by_name: dict, note: Callable) -> None:
    """Mapping chains that come back to a node (Linux follows them with no
    hop limit). Iterative colouring: linear in nodes + mappings."""
    edges: dict[str, list[str]] = {}
    for node in table.nodes:
        if node.raw:
            continue
        outs = []
        for m in node.fields.get("mappings", ()):
            ref = m["output_reference"]
            if isinstance(ref, Ref) and ref.name in by_name and ref.name != node.name:
                outs.append(ref.name)
        edges[node.name] = outs
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[name] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                note("warning", by_name[name], "mappings", "ID mappings form a cycle: "
                     f"{' -> '.join(cycle)} (Linux would follow it forever)")
            elif not state.get(nxt) and nxt in edges:
                state[nxt] = 1
                stack.append((nxt, iter(edges[nxt])))
                path.append(nxt)


# --- description <-> table ---------------------------------------------------

COMMON_KEYS = ("name", "type", "revision", "identifier", "mappings", "mapping_offset", "length",
               "gaps", "reserved")
RC_KEYS = ("iommu_map", "bypass_to", "flags_word")
HEX_HINTS = ("address", "base", "gsiv", "span", "irpt")


def _hex(name: str, value: int) -> int:
    hint = any(h in name for h in HEX_HINTS) and "limit" not in name
    return Hex(value) if hint or value > 0xFFFF else value


def compile_iort(desc: dict, p: d.Problems) -> Table:
    table = d.new_table("IORT", desc, p)
    trev = table.header["revision"]
    if (trev in DEPRECATED_REVISIONS or trev > 7) and not desc.get("allow_deprecated_revision"):
        p.error(("revision",), f"IORT revision {trev} is not built by default (issues E, E.a "
                "and E.c have known issues; iasl and edk2 refuse them, and > 7 is unknown); "
                "set allow_deprecated_revision: true to build it anyway")
    items = desc.get("nodes") or []
    kinds: dict[str, str] = {}
    for i, item in enumerate(items):
        name = item.get("name") or f"nodes[{i}]"
        if name in kinds:
            p.error(("nodes", i, "name"), f"name {name!r} is already used by "
                    f"nodes[{list(kinds).index(name)}]")
        kinds[name] = item.get("type")
    column = revision_column(trev)
    for i, item in enumerate(items):
        path = ("nodes", i)
        node = _compile_node(item, i, trev, column, kinds, p, path)
        table.nodes.append(node)
        p.node_paths.setdefault(node.name, path)
    return table


def _ref(value: Any, kinds: dict, p: d.Problems, path: tuple) -> Ref:
    if isinstance(value, int) and not isinstance(value, bool):
        p.warning(path, f"raw table offset 0x{value:X} instead of a node name")
        return Ref(offset=value)
    if value not in kinds:
        p.error(path, f"unknown node {value!r} (known: {', '.join(kinds) or 'none'})")
    return Ref(name=str(value))


def _compile_node(item: dict, index: int, trev: int, column: dict, kinds: dict,
                  p: d.Problems, path: tuple) -> Node:
    name = item.get("name") or f"nodes[{index}]"
    kind = item.get("type")
    if isinstance(kind, int):
        node = d.raw_node(item, p, path)
        node.name = name
        if "length" in item:
            node.length_override = item["length"]
            p.warning(path + ("length",), f"explicit node length {item['length']} instead of "
                      "the bytes given")
        return node
    ntype = BY_KIND[kind]
    rev = item.get("revision", column.get(ntype.code, NODE_REVISIONS[7].get(ntype.code, 0)))
    f: dict = {"revision": rev, "identifier": item.get("identifier",
                                                      default_identifier(index, trev))}
    used = set(COMMON_KEYS)
    flags_word = True
    if ntype.code == ROOT_COMPLEX:
        used.update(RC_KEYS)
        flags_word = rev >= 4 and item.get("flags_word", True)
        if item.get("flags_word") and rev < 4:
            p.error(path + ("flags_word",), f"the Flags word exists from root complex node "
                    f"revision 4 on; this node is revision {rev}")
    body = ntype.body(rev, flags_word or ntype.code != ROOT_COMPLEX)
    reserved = item.get("reserved") or {}
    sizes = d.reserved_sizes(body)
    for key, value in reserved.items():
        if key not in sizes:
            p.error(path + ("reserved", key), f"no reserved field {key!r} in a revision-{rev} "
                    f"{ntype.label} node (known: {', '.join(sizes) or 'none'})", key=True)

    def reserved_bytes(key: str) -> bytes:
        if key not in reserved:
            return bytes(sizes[key])
        raw = d.hex_bytes(reserved[key], p, path + ("reserved", key))
        if len(raw) != sizes[key]:
            p.error(path + ("reserved", key), f"{key} is {sizes[key]} bytes, {len(raw)} given")
            return bytes(sizes[key])
        return raw

    for sub in body.subcons:
        key = sub.name
        if key in ntype.derived:
            continue
        used.add(key)
        if key in ntype.offset_fields:
            if key in item:
                f[key] = item[key]
        elif "reserved" in key:
            f[key] = reserved_bytes(key)
        elif key == "memory_properties":
            mem = item.get(key) or {}
            f[key] = {"cache_coherency": mem.get("cache_coherency", 0),
                      "reserved": reserved_bytes(f"{key}.reserved")}
            for flag_key, flagset in MEMORY_ACCESS_FLAGS.items():
                f[key][flag_key] = flagset.compile(mem.get(flag_key, 0), p, path + (key, flag_key))
        elif key in ntype.ref_fields:
            if key not in item:
                p.error(path, f"missing required key {key!r}")
            f[key] = _ref(item.get(key), kinds, p, path + (key,))
        elif key in ntype.flags:
            f[key] = ntype.flags[key].compile(item.get(key, 0), p, path + (key,))
        else:
            f[key] = item.get(key, 0)
    for arr in ntype.arrays:
        used.add(arr.key)
        if arr is MAPPINGS:
            continue
        value = item.get(arr.key)
        apath = path + (arr.key,)
        if arr.elem is None:
            if value is None:
                p.error(path, f"missing required key {arr.key!r}")
            f[arr.key] = _latin1(value or "", p, apath)
        elif arr.key == "identifiers":
            f[arr.key] = list(value or [])
        elif arr.key == "global_interrupts":
            f[arr.key] = _irq(value or {}, SMMU_GLOBAL_INTERRUPTS, p, apath)
        elif arr.key == "rmr_descriptors":
            f[arr.key] = [{"base_address": r.get("base_address", 0), "length": r.get("length", 0),
                           "reserved": _sized(r.get("reserved"), 4, p, apath + (j, "reserved"))}
                          for j, r in enumerate(value or [])]
        else:
            f[arr.key] = [_irq(irq, SMMU_INTERRUPT, p, apath + (j,))
                          for j, irq in enumerate(value or [])]
    maps: list = []
    if ntype.code == ROOT_COMPLEX and "iommu_map" in item:
        maps += _iommu_map(item, kinds, p, path)
    elif "bypass_to" in item:
        p.error(path + ("bypass_to",), "bypass_to fills the gaps of an iommu_map")
    maps += [_mapping(m, kinds, p, path + ("mappings", j))
             for j, m in enumerate(item.get("mappings") or [])]
    f["mappings"] = maps
    for key in ("length", "mapping_offset"):
        if key in item:
            f[key] = item[key]
    if "gaps" in item:
        f["gaps"] = [{"offset": g["offset"], "data": d.hex_bytes(g["data"], p,
                                                                 path + ("gaps", j, "data"))}
                     for j, g in enumerate(item["gaps"])]
    for key in item:
        if key not in used:
            p.error(path + (key,), f"{key!r} is not a field of a revision-{rev} {ntype.label} "
                    "node", key=True)
    return Node(ntype.code, f, name)


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


def _sized(value: Any, size: int, p: d.Problems, path: tuple) -> bytes:
    if value is None:
        return bytes(size)
    raw = d.hex_bytes(value, p, path)
    if len(raw) != size:
        p.error(path, f"{size} bytes are needed, {len(raw)} given")
        return bytes(size)
    return raw


def _irq(value: dict, st: Struct, p: d.Problems, path: tuple) -> dict:
    out = {}
    for sub in st.subcons:
        if "flags" in sub.name:
            out[sub.name] = IRQ_FLAGS.compile(value.get(sub.name, 0), p, path + (sub.name,))
        else:
            out[sub.name] = value.get(sub.name, 0)
    return out


def _mapping(m: dict, kinds: dict, p: d.Problems, path: tuple) -> dict:
    single = bool(m.get("single", False))
    flags = m.get("flags", 1 if single else 0)
    if "flags" in m and "single" in m and bool(flags & 1) != single:
        p.error(path + ("flags",), "flags bit 0 (single mapping) disagrees with single:")
    first = m.get("input", 0)
    if "count" in m:
        id_count = m["count"] - 1
    elif "last" in m:
        id_count = m["last"] - first
        if id_count < 0:
            p.error(path + ("last",), f"last ID 0x{m['last']:X} is below input 0x{first:X}")
            id_count = 0
    elif flags & 1:
        id_count = 0
    else:
        p.error(path, "a mapping needs count: (number of IDs) or last: (last input ID)")
        id_count = 0
    if id_count < 0:
        p.error(path + ("count",), "count is at least 1")
        id_count = 0
    return {"input_base": first, "id_count": id_count, "output_base": m.get("output_base", first),
            "output_reference": _ref(m.get("output"), kinds, p, path + ("output",)),
            "flags": flags}


def _iommu_map(item: dict, kinds: dict, p: d.Problems, path: tuple) -> list[dict]:
    """Devicetree iommu-map order (rid-base, iommu, iommu-base, length;
    exclusive length) -> ID mappings; bypass_to: an ITS group gets every RID
    of 0..0xFFFF that no entry covers, after the IOMMU mappings, as QEMU's
    create_rc_its_idmaps does."""
    maps, spans = [], []
    for j, e in enumerate(item["iommu_map"]):
        where = path + ("iommu_map", j)
        if e["length"] < 1:
            p.error(where + ("length",), "length is at least 1")
            continue
        maps.append({"input_base": e["rid_base"], "id_count": e["length"] - 1,
                     "output_base": e["iommu_base"],
                     "output_reference": _ref(e["iommu"], kinds, p, where + ("iommu",)),
                     "flags": 0})
        spans.append((e["rid_base"], e["rid_base"] + e["length"]))
    if "bypass_to" in item:
        its = item["bypass_to"]
        ref = _ref(its, kinds, p, path + ("bypass_to",))
        if kinds.get(its, "its_group") != "its_group":
            p.error(path + ("bypass_to",), f"{its!r} is a {kinds[its]} node; bypassed RIDs go "
                    "to an ITS group")
        cursor = 0
        for start, end in sorted(spans) + [(0x10000, 0x10000)]:
            if start > cursor:
                maps.append({"input_base": cursor, "id_count": start - cursor - 1,
                             "output_base": cursor, "output_reference": ref, "flags": 0})
            cursor = max(cursor, end)
    return maps


def describe_iort(table: Table) -> dict:
    desc = d.describe_header(table)
    trev = table.header["revision"]
    if trev in DEPRECATED_REVISIONS or trev > 7:
        desc["allow_deprecated_revision"] = True
    if any(x.severity == "error" for x in check(table)):
        desc["lenient"] = True
    column = revision_column(trev)
    desc["nodes"] = [_describe_node(node, i, trev, column) for i, node in enumerate(table.nodes)]
    return desc


def _describe_node(node: Node, index: int, trev: int, column: dict) -> dict:
    if node.raw:
        return d.describe_raw(node)
    ntype, f = NODE_TYPES[node.type], node.fields
    rev = f["revision"]
    item: dict = {"name": node.name, "type": ntype.kind}
    if rev != column.get(ntype.code, NODE_REVISIONS[7].get(ntype.code, 0)):
        item["revision"] = rev
    if f.get("identifier", 0) != default_identifier(index, trev):
        item["identifier"] = f["identifier"]
    if ntype.code == ROOT_COMPLEX and rev >= 4 and "flags" not in f:
        item["flags_word"] = False
    body = ntype.body(rev, ntype.has_flags_word(rev, f) or ntype.code != ROOT_COMPLEX)
    reserved = {}
    for sub in body.subcons:
        key = sub.name
        if key in ntype.derived or key in ntype.offset_fields:
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
                    mem[k] = MEMORY_ACCESS_FLAGS[k].describe(v) if k in MEMORY_ACCESS_FLAGS else v
            if mem:
                item[key] = mem
        elif key in ntype.ref_fields:
            item[key] = d.describe_ref(value)
        elif value:
            item[key] = ntype.flags[key].describe(value) if key in ntype.flags else _hex(key, value)
    for arr in ntype.arrays:
        value = f.get(arr.key)
        if arr is MAPPINGS or value is None:
            continue
        if arr.elem is None:
            item[arr.key] = value
        elif arr.key == "identifiers":
            if value:
                item[arr.key] = Flow(value)
        elif arr.key == "rmr_descriptors":
            item[arr.key] = [{"base_address": Hex(r["base_address"]), "length": Hex(r["length"]),
                              **({"reserved": r["reserved"].hex()} if any(r["reserved"]) else {})}
                             for r in value]
        elif arr.count is None:
            irq = _describe_irq(value)
            if irq:
                item[arr.key] = irq
        elif value:
            item[arr.key] = [_describe_irq(irq) for irq in value]
    if f.get("mappings"):
        item["mappings"] = [_describe_mapping(m) for m in f["mappings"]]
    if reserved:
        item["reserved"] = reserved
    # Layout: only what differs from the default layout of the same content.
    candidate = {k: v for k, v in f.items() if k not in ntype.offset_fields and k != "length"}
    for arr in ntype.arrays:
        if arr.offset and arr.offset in f:
            placed = ntype.place(candidate)[0]
            if placed[arr.key][0] != f[arr.offset]:
                candidate[arr.offset] = item[arr.offset] = Hex(f[arr.offset])
    if "length" in f and ntype.place(candidate)[2] != f["length"]:
        item["length"] = f["length"]
    if f.get("gaps"):
        item["gaps"] = [{"offset": Hex(g["offset"]), "data": g["data"].hex()} for g in f["gaps"]]
    return item


def _describe_irq(irq: dict) -> dict:
    out = {}
    for k, v in irq.items():
        if v:
            out[k] = IRQ_FLAGS.describe(v) if "flags" in k else Hex(v)
    return out


def _describe_mapping(m: dict) -> dict:
    out: dict = {}
    single = m["flags"] & 1
    if single:
        out["single"] = True
    if not single or m["input_base"] or m["id_count"]:
        out["input"] = Hex(m["input_base"])
        out["count"] = Hex(m["id_count"] + 1)
    out["output"] = d.describe_ref(m["output_reference"])
    if single or m["output_base"] != m["input_base"]:
        out["output_base"] = Hex(m["output_base"])
    if m["flags"] & ~1:
        out["flags"] = Hex(m["flags"])
    return out


FIELD_KEYS = {"output_reference": "output", "input_base": "input", "id_count": "count",
              "mapping_count": "mappings"}

SPEC = TableSpec(
    signature="IORT",
    spec_name="Arm DEN 0049 IORT",
    header=IORT_HEADER,
    node_header=NODE_HEADER,
    node_types=NODE_TYPES,
    name_nodes=name_nodes,
    describe=describe_iort,
    compile=compile_iort,
    check=check,
    schema="iort.schema.json",
    revisions=BUILD_REVISIONS,
    label="IO Remapping Table",
    field_keys=FIELD_KEYS,
    mapper="acpitables.mapping.iort:IortMapper",
)
