"""acpitables: rimt.py -- the RIMT (RISC-V IO Mapping Table, spec v1.0).

Layout after the RIMT specification v1.0 (riscv-non-isa/riscv-acpi-rimt,
ratified 2025-03) as ACPICA actbl2.h declares it and Linux
drivers/acpi/riscv/rimt.c reads it (docs/rimt.md part II). Three node
kinds, each one engine.nodes.NodeKind declaration: IOMMU (with its
interrupt wire array), PCIe root complex and platform device (each with
an ID mapping array; the platform device's after its ACPI path). What is
RIMT's own stays here: the ID mapping description language (a plain
count, and iommu_map sugar), the checks (the spec's and Linux's), and
what iasl writes differently (`DIALECT`).
"""
from __future__ import annotations

import heapq
import re
from typing import Any, Callable, Iterable

from ..engine.fields import Bytes, Default, Int8ul, Int16ul, Int32ul, Int64ul, PaddedString, Struct

from ..engine import description as d
from ..engine.checks import Findings, rule
from ..engine.flags import FlagSet
from ..engine.nodes import Array, NodeKind, since
from ..engine.pci import BdfError, format_bdf, parse_bdf
from ..engine.roles import Role, RoleKind
from ..engine.table import Dialect, Node, Ref, Table, TableSpec, node_label
from ..engine.yamlio import Hex
from ..errors import Diagnostic, TableError

IOMMU, PCIE_ROOT_COMPLEX, PLATFORM_DEVICE = 0, 1, 2
REVISION = 1            # the only table and node revision (spec v1.0)
RID_MAX = 0xFFFF
U32 = 0xFFFFFFFF

# RIMT v1.0 table 1: after the SDT header (48 bytes in all).
RIMT_HEADER = Struct(
    "node_count" / Int32ul * "Number of RIMT Nodes",
    "node_offset" / Int32ul * "Offset to RIMT Node Array",
    "reserved" / Default(Bytes(4), bytes(4)) * "Reserved",
)

# RIMT v1.0 table 3: the node header -- type, revision, length, reserved,
# ID (not IORT's order).
NODE_HEADER = Struct(
    "type" / Int8ul * "Type",
    "revision" / Int8ul * "Revision",
    "length" / Int16ul * "Length",
    "reserved" / Default(Bytes(2), bytes(2)) * "Reserved",
    "id" / Int16ul * "ID",
)

# RIMT v1.0 table 8: ID mapping. num_ids is the number of IDs (a plain
# count, unlike IORT's count - 1); dest_offset is the table offset of the
# destination IOMMU node.
ID_MAPPING = Struct(
    "source_id_base" / Int32ul * "Source ID Base",
    "num_ids" / Int32ul * "Number of IDs",
    "dest_id_base" / Int32ul * "Destination Device ID Base",
    "dest_offset" / Int32ul * "Destination IOMMU Offset",
    "flags" / Int32ul * "Flags (decoded below)",
)

# RIMT v1.0 table 5: interrupt wire.
INTERRUPT_WIRE = Struct(
    "irq_num" / Int32ul * "Interrupt Number",
    "flags" / Int32ul * "Flags (decoded below)",
)

# --- flag words (ACPICA names: ACPI_RIMT_IOMMU_FLAGS_*, ACPI_RIMT_PCIE_*,
# ACPI_RIMT_GSI_*; the mapping flags are the spec's) ---------------------------

IOMMU_FLAGS = FlagSet(("pcie", 0x1, "PCIe Device"), ("pxm_valid", 0x2, "Proximity Domain Valid"))
RC_FLAGS = FlagSet(("ats_supported", 0x1, "ATS Supported"), ("pri_supported", 0x2, "PRI Supported"))
MAPPING_FLAGS = FlagSet(("ats_required", 0x1, "ATS Required"), ("pri_required", 0x2, "PRI Required"))
WIRE_FLAGS = FlagSet(("level_triggered", 0x1, "Level Triggered"),
                     ("active_high", 0x2, "Active High"))


# --- the ID mapping description language --------------------------------------

def _describe_mapping(m: dict) -> dict:
    out: dict = {"input": Hex(m["source_id_base"]), "count": Hex(m["num_ids"]),
                 "output": d.describe_ref(m["dest_offset"])}
    if m["dest_id_base"] != m["source_id_base"]:
        out["output_base"] = Hex(m["dest_id_base"])
    if m["flags"]:
        out["flags"] = MAPPING_FLAGS.describe(m["flags"])
    return out


def _compile_mapping(m: dict, p: d.Problems, path: tuple, ref: Callable) -> dict:
    first = m.get("input", 0)
    if "count" in m:
        count = m["count"]
    elif "last" in m:
        count = m["last"] - first + 1
        if count < 1:
            p.error(path + ("last",), f"last ID 0x{m['last']:X} is below input 0x{first:X}")
            count = 0
    else:
        p.error(path, "a mapping needs count: (number of IDs) or last: (last input ID)")
        count = 0
    if count > U32:
        p.error(path + ("last",), f"{count:#x} IDs do not fit the 32-bit Number of IDs")
        count = 0
    return {"source_id_base": first, "num_ids": count, "dest_id_base": m.get("output_base", first),
            "dest_offset": ref(m.get("output"), path + ("output",)),
            "flags": MAPPING_FLAGS.compile(m.get("flags", 0), p, path + ("flags",))}


MAPPINGS = Array("mappings", ID_MAPPING, "num_id_mappings", "id_mapping_offset",
                 refs=("dest_offset",), flags=(("flags", MAPPING_FLAGS),),
                 describe=_describe_mapping, compile=_compile_mapping)

_IOMMU_ONLY = ("iommu",)


def _describe_int(name: str, value: Any) -> Any:
    if isinstance(value, str):          # the hardware ID
        return value
    return Hex(value) if "address" in name or value > 0xFFFF else value


def rimt_node(code: int, kind: str, label: str, source: str, fixed: list, arrays: tuple,
              flags: dict, prefix: str, role: Role, **kw: Any) -> NodeKind:
    return NodeKind(code, kind, label, header=NODE_HEADER, fixed=fixed, arrays=arrays,
                    flags=flags, prefix=prefix, role=role, source=source,
                    describe_int=_describe_int, **kw)


NODE_TYPES: dict[int, NodeKind] = {t.code: t for t in [
    rimt_node(IOMMU, "iommu", "IOMMU", "RIMT v1.0 table 4", [
        since(0, "hardware_id" / PaddedString(8, "ascii") * "Hardware ID"),
        since(0, "base_address" / Int64ul * "Base Address"),
        since(0, "flags" / Int32ul * "Flags (decoded below)"),
        since(0, "proximity_domain" / Int32ul * "Proximity Domain"),
        since(0, "pcie_segment_number" / Int16ul * "PCIe Segment number"),
        since(0, "pcie_bdf" / Int16ul * "PCIe B/D/F"),
        since(0, "num_interrupt_wires" / Int16ul * "Number of interrupt wires"),
        since(0, "interrupt_wire_offset" / Int16ul * "Interrupt wire array offset"),
    ], (Array("interrupt_wires", INTERRUPT_WIRE, "num_interrupt_wires", "interrupt_wire_offset",
              flags=(("flags", WIRE_FLAGS),)),),
        {"flags": IOMMU_FLAGS}, "iommu", Role(RoleKind.IOMMU)),
    rimt_node(PCIE_ROOT_COMPLEX, "pcie_root_complex", "PCIe Root Complex", "RIMT v1.0 table 6", [
        since(0, "flags" / Int32ul * "Flags (decoded below)"),
        # "reserved1": the node header already has a "reserved" (ACPICA
        # numbers a structure's second reserved field so)
        since(0, "reserved1" / Default(Bytes(2), bytes(2)) * "Reserved"),
        since(0, "pcie_segment_number" / Int16ul * "PCIe Segment number"),
        since(0, "id_mapping_offset" / Int16ul * "ID mapping array offset"),
        since(0, "num_id_mappings" / Int16ul * "Number of ID mappings"),
    ], (MAPPINGS,), {"flags": RC_FLAGS}, "rc",
        Role(RoleKind.ENDPOINT, _IOMMU_ONLY, match="pcie_segment_number"), keys=("iommu_map",)),
    rimt_node(PLATFORM_DEVICE, "platform_device", "Platform Device", "RIMT v1.0 table 9", [
        since(0, "id_mapping_offset" / Int16ul * "ID mapping array offset"),
        since(0, "num_id_mappings" / Int16ul * "Number of ID mappings"),
    ], (Array("device_name", None, label="Device Object Name"), MAPPINGS), {}, "dev",
        Role(RoleKind.ENDPOINT, _IOMMU_ONLY, match="device_name")),
]}
BY_KIND = {t.kind: t for t in NODE_TYPES.values()}
ROLES = {code: t.role for code, t in NODE_TYPES.items()}
FIXED_END = {code: t.fixed_bytes(REVISION) for code, t in NODE_TYPES.items()}  # 40, 20, 12


def name_nodes(table: Table) -> None:
    counters: dict[str, int] = {}
    for node in table.nodes:
        ntype = NODE_TYPES.get(node.type)
        stem = ntype.prefix if ntype is not None and not node.raw else "node"
        node.name = f"{stem}{counters.get(stem, 0)}"
        counters[stem] = counters.get(stem, 0) + 1


# --- checks ------------------------------------------------------------------------

R = rule
REV = R("RIMT-REVISION", "warning", "RIMT v1.0 table 1", "Table revision other than 1")
HDR_RESERVED = R("RIMT-HDR-RESERVED", "warning", "RIMT v1.0 table 1",
                 "Header reserved bytes are not zero")
PADDING = R("RIMT-PADDING", "warning", "RIMT v1.0 table 1",
            "Bytes between the header and the first node are not zero")
FEW_NODES = R("RIMT-FEW-NODES", "note", "RIMT v1.0 2; edk2 acpiview",
              "Fewer than two nodes (an IOMMU and what it translates)")
NODE_REV = R("RIMT-NODE-REV", "warning", "RIMT v1.0 table 3", "Node revision other than 1")
ID_DUPLICATE = R("RIMT-ID-DUPLICATE", "warning", "RIMT v1.0 table 3",
                 "Two nodes with the same ID")
RESERVED = R("RIMT-RESERVED", "warning", "RIMT v1.0", "Reserved bytes of a node are not zero")
FLAGS_RESERVED = R("RIMT-FLAGS-RESERVED", "warning", "RIMT v1.0",
                   "Reserved bits of a flags word are set")
ARRAY_PAST_END = R("RIMT-ARRAY-PAST-END", "error", "RIMT v1.0",
                   "An array runs past the node Length")
ARRAY_OVERLAP = R("RIMT-ARRAY-OVERLAP", "error", "RIMT v1.0",
                  "An array overlaps the fixed part or another array")
MAP_ALIGN = R("RIMT-MAP-ALIGN", "warning", "RIMT v1.0 table 9",
              "ID mapping array not 4-byte aligned")
IOMMU_LENGTH = R("RIMT-IOMMU-LENGTH", "warning", "RIMT v1.0 table 4",
                 "IOMMU node Length other than 40 + 8 per interrupt wire")
HID = R("RIMT-HID", "warning", "RIMT v1.0 table 4",
        "Hardware ID that is not 8 printable characters")
PCIE_BASE = R("RIMT-IOMMU-PCIE-BASE", "note", "RIMT v1.0 table 4",
              "PCIe IOMMU with a base address (meaningful for platform IOMMUs only)")
NO_BASE = R("RIMT-IOMMU-NO-BASE", "warning", "Linux rimt_match_node_callback",
            "Platform IOMMU with base address 0: its driver cannot find its node")
PXM = R("RIMT-PXM", "warning", "RIMT v1.0 table 4",
        "Proximity domain set without the Proximity Domain Valid flag")
DEVICE_NAME = R("RIMT-DEVICE-NAME", "warning", "Linux rimt_match_node_callback",
                "Device name not a full ACPI path in 4-character segments; Linux never matches it")
MAP_NULL = R("RIMT-MAP-NULL", "error", "Linux rimt_node_map_id (FW_BUG)",
             "First ID mapping with Destination IOMMU Offset 0: Linux ignores the node")
MAP_TARGET = R("RIMT-MAP-TARGET", "warning", "RIMT v1.0 table 8; Linux rimt_node_map_id",
               "Mapping to a root complex or platform device node (Linux maps again from there)")
MAP_SELF = R("RIMT-MAP-SELF", "error", "Linux rimt_node_map_id",
             "Mapping to its own node: Linux loops for ever")
MAP_CYCLE = R("RIMT-MAP-CYCLE", "error", "Linux rimt_node_map_id",
              "Mappings form a cycle: Linux loops for ever")
MAP_ZERO = R("RIMT-MAP-COUNT-ZERO", "warning", "RIMT v1.0 table 8; Linux rimt_id_map",
             "Mapping with Number of IDs 0 (Linux still maps its first ID)")
MAP_WRAP = R("RIMT-MAP-WRAP", "error", "Linux rimt_id_map",
             "Source ID Base + Number of IDs past 32 bits: Linux's test wraps")
MAP_OUT_WRAP = R("RIMT-MAP-OUTPUT-WRAP", "warning", "RIMT v1.0 table 8",
                 "Destination IDs run past 32 bits")
MAP_OVERLAP = R("RIMT-MAP-OVERLAP", "warning", "RIMT v1.0 table 8; Linux rimt_node_map_id",
                "Mappings overlap (a source range maps to one IOMMU only); Linux uses the first")
ONE_PAST = R("RIMT-LINUX-ONE-PAST", "warning", "Linux rimt_id_map",
             "Linux also maps the ID one past a mapping's count, where the spec does not")
OWN_IOMMU = R("RIMT-MAP-OWN-IOMMU", "warning", "Linux rimt_iommu_configure_id",
              "Root complex mapping covers a PCIe IOMMU's own function and sends it to that "
              "IOMMU: the IOMMU is configured against itself and never probes")
RC_SEGMENT = R("RIMT-RC-SEGMENT-DUPLICATE", "warning", "Linux rimt_match_node_callback",
               "Second root complex of a PCI segment: Linux only uses the first")
PD_MULTI = R("RIMT-PD-MULTI-ID", "warning", "Linux rimt_plat_iommu_map",
             "Platform device mapping with more than one ID: Linux takes its destination base only")
UNREFERENCED = R("RIMT-IOMMU-UNREFERENCED", "note", "RIMT v1.0",
                 "IOMMU that no mapping references")

NC_PATH = re.compile(r"\\[A-Z_][A-Z0-9_]{3}(\.[A-Z_][A-Z0-9_]{3})*")


def first_cover(intervals: list[tuple[int, int]], points: Iterable[int]) -> dict[int, int]:
    """For each point, the index of the FIRST interval (start, end
    inclusive) that contains it: one sweep over the sorted points with a
    heap keyed on the index, O((n + q) log n). An interval that has ended
    before one point has ended before every later one, so it is dropped
    when it reaches the top."""
    order = sorted((s, i) for i, (s, e) in enumerate(intervals) if s <= e)
    heap: list[int] = []
    out: dict[int, int] = {}
    j = 0
    for x in sorted(set(points)):
        while j < len(order) and order[j][0] <= x:
            heapq.heappush(heap, order[j][1])
            j += 1
        while heap and intervals[heap[0]][1] < x:
            heapq.heappop(heap)
        if heap:
            out[x] = heap[0]
    return out


class _Context:
    def __init__(self, table: Table):
        self.table, self.out = table, Findings()
        self.by_name = {n.name: n for n in table.nodes}

    def target(self, ref: Any) -> Node | None:
        return self.by_name.get(ref.name) if isinstance(ref, Ref) and ref.name else None

    def add(self, r: Any, node: Node | None, field: str | None, message: str) -> None:
        self.out.add(r, node, field, message)


def check(table: Table) -> list[Diagnostic]:
    c = _Context(table)
    trev = table.header.get("revision", 0)
    if trev != REVISION:
        c.out.append(REV(f"RIMT revision {trev}; spec v1.0 defines revision 1", offset=8,
                         field="revision"))
    if any(table.fields.get("reserved", b"")):
        c.out.append(HDR_RESERVED(f"header reserved bytes are not zero "
                                  f"({table.fields['reserved'].hex()})", offset=44,
                                  field="reserved"))
    if any(table.padding):
        c.out.append(PADDING("bytes before the first node are not zero", offset=48,
                             field="padding"))
    if len(table.nodes) < 2:
        c.out.append(FEW_NODES(f"{len(table.nodes)} node(s): a RIMT describes at least an "
                               "IOMMU and a device it translates", offset=36, field="node_count"))
    ids: dict[int, Node] = {}
    referenced: set[str] = set()
    segments: dict[int, Node] = {}
    for node in table.nodes:
        if node.raw:
            continue
        kind, f = NODE_TYPES[node.type], node.fields
        if f.get("revision") != REVISION:
            c.add(NODE_REV, node, "revision", f"node revision {f.get('revision')}; spec v1.0 "
                  "defines revision 1")
        other = ids.setdefault(f.get("id", 0), node)
        if other is not node:
            c.add(ID_DUPLICATE, node, "id", f"ID {f.get('id', 0)} is also {other.name}'s")
        for path, value in d.reserved_values(NODE_HEADER, f) + d.reserved_values(kind.body_of(f), f):
            if any(value):
                c.add(RESERVED, node, path, f"reserved bytes are not zero ({value.hex()})")
        for fname, flagset in kind.flags.items():
            word = f.get(fname, 0)
            if isinstance(word, int) and word & ~flagset.mask:
                c.add(FLAGS_RESERVED, node, fname, f"reserved bits 0x{word & ~flagset.mask:X} of "
                      f"{fname} are set")
        _check_layout(c, node, kind, f)
        if node.type == IOMMU:
            _check_iommu(c, node, f)
        elif node.type == PLATFORM_DEVICE:
            name = f.get("device_name", "")
            if not NC_PATH.fullmatch(name):
                c.add(DEVICE_NAME, node, "device_name", f"device name {name!r} is not a full "
                      "ACPI path in 4-character segments (e.g. \\_SB_.DEV0); Linux compares "
                      "acpi_get_name()'s form byte for byte")
        else:
            seg = f.get("pcie_segment_number", 0)
            first = segments.setdefault(seg, node)
            if first is not node:
                c.add(RC_SEGMENT, node, "pcie_segment_number", f"segment {seg} already has "
                      f"{first.name}; Linux only ever consults the first root complex of a segment")
        for m in f.get("mappings") or ():
            t = c.target(m["dest_offset"])
            if t is not None:
                referenced.add(t.name)
        if f.get("mappings"):
            _check_mappings(c, node, f)
    for node in table.nodes:
        if node.type == IOMMU and not node.raw and node.name not in referenced:
            c.add(UNREFERENCED, node, None, "no ID mapping references this IOMMU")
    _check_own_iommu(c, segments)
    _check_cycles(c)
    return list(c.out)


def _check_layout(c: _Context, node: Node, kind: NodeKind, f: dict) -> None:
    placed, fixed, length = kind.place(f)
    regions = [("fixed part", 0, fixed)]
    for arr in kind.arrays:
        off, size = placed[arr.key]
        if size:
            regions.append((arr.key, off, off + size))
            if off + size > length:
                c.add(ARRAY_PAST_END, node, arr.offset or arr.key, f"{arr.key} [0x{off:X}, "
                      f"0x{off + size:X}) runs past the node length 0x{length:X}")
    regions.sort(key=lambda r: r[1])
    for (name_a, a0, a1), (name_b, b0, b1) in zip(regions, regions[1:]):
        if b0 < a1:
            field = next((a.offset or a.key for a in kind.arrays if a.key == name_b), name_b)
            c.add(ARRAY_OVERLAP, node, field, f"{name_b} at node offset 0x{b0:X} overlaps "
                  f"{name_a} [0x{a0:X}, 0x{a1:X})")
    if "mappings" in placed and f.get("mappings") and placed["mappings"][0] % 4:
        c.add(MAP_ALIGN, node, "id_mapping_offset", f"ID mapping array at node offset "
              f"0x{placed['mappings'][0]:X} is not 4-byte aligned")
    if node.type == IOMMU:
        wires = len(f.get("interrupt_wires") or ())
        if length != FIXED_END[IOMMU] + 8 * wires:
            c.add(IOMMU_LENGTH, node, "length", f"IOMMU node Length {length} with {wires} "
                  f"wire(s); the spec's is {FIXED_END[IOMMU] + 8 * wires}")


def _check_iommu(c: _Context, node: Node, f: dict) -> None:
    hid = f.get("hardware_id", "")
    if len(hid) != 8 or not hid.isprintable():
        c.add(HID, node, "hardware_id", f"hardware ID {hid!r} is not 8 printable characters")
    flags = f.get("flags", 0)
    if flags & 1 and f.get("base_address"):
        c.add(PCIE_BASE, node, "base_address", f"PCIe IOMMU with base address "
              f"0x{f['base_address']:X}; Linux finds a PCIe IOMMU by segment and BDF")
    if not flags & 1 and not f.get("base_address"):
        c.add(NO_BASE, node, "base_address", "platform IOMMU with base address 0; Linux matches "
              "a platform IOMMU by the start of its first memory resource")
    if not flags & 2 and f.get("proximity_domain"):
        c.add(PXM, node, "proximity_domain", f"proximity domain {f['proximity_domain']} without "
              "the pxm_valid flag")
    for j, w in enumerate(f.get("interrupt_wires") or ()):
        if w["flags"] & ~WIRE_FLAGS.mask:
            c.add(FLAGS_RESERVED, node, f"interrupt_wires.{j}.flags", f"reserved bits "
                  f"0x{w['flags'] & ~WIRE_FLAGS.mask:X} of wire {j}'s flags are set")


def _check_mappings(c: _Context, node: Node, f: dict) -> None:
    maps = f["mappings"]
    rc = node.type == PCIE_ROOT_COMPLEX
    if _is_null(maps[0]["dest_offset"]):
        c.add(MAP_NULL, node, "mappings.0.dest_offset", "the first ID mapping has Destination "
              "IOMMU Offset 0; Linux logs FW_BUG and maps nothing through this node")
    spec_ranges: list[tuple[int, int]] = []
    linux_ranges: list[tuple[int, int]] = []
    for j, m in enumerate(maps):
        where = f"mappings.{j}"
        base, num = m["source_id_base"], m["num_ids"]
        t = c.target(m["dest_offset"])
        if t is node:
            c.add(MAP_SELF, node, f"{where}.dest_offset", f"mapping {j} points at its own node; "
                  "Linux maps the ID again from there, for ever")
        elif t is not None and not t.raw and t.type != IOMMU:
            c.add(MAP_TARGET, node, f"{where}.dest_offset", f"mapping {j} goes to {t.name}, a "
                  f"{NODE_TYPES[t.type].label} node; the spec wants an IOMMU (Linux maps the ID "
                  "again from there)")
        if m["flags"] & ~MAPPING_FLAGS.mask:
            c.add(FLAGS_RESERVED, node, f"{where}.flags", f"reserved bits "
                  f"0x{m['flags'] & ~MAPPING_FLAGS.mask:X} of mapping {j}'s flags are set")
        if num == 0:
            c.add(MAP_ZERO, node, f"{where}.num_ids", f"mapping {j} has Number of IDs 0 (no ID "
                  f"by the spec; Linux still maps 0x{base:X})")
        if base + num > U32:
            c.add(MAP_WRAP, node, f"{where}.num_ids", f"mapping {j}: 0x{base:X} + 0x{num:X} "
                  "passes 32 bits; Linux's u32 sum wraps and matches nothing past it")
        elif num and m["dest_id_base"] + num - 1 > U32:
            c.add(MAP_OUT_WRAP, node, f"{where}.dest_id_base", f"mapping {j}'s device IDs run "
                  "past 0xFFFFFFFF")
        if not rc and num > 1:
            c.add(PD_MULTI, node, f"{where}.num_ids", f"mapping {j} has {num} IDs; Linux gives "
                  f"the device only its destination base 0x{m['dest_id_base']:X}")
        spec_ranges.append((base, base + num - 1))
        linux_ranges.append((base, base + num) if base + num <= U32 else (1, 0))
    # overlaps, by the spec's reading
    order = sorted((r, j) for j, r in enumerate(spec_ranges) if r[0] <= r[1])
    reach = None
    for (start, end), j in order:
        if reach is not None and start <= reach[0]:
            c.add(MAP_OVERLAP, node, f"mappings.{j}.source_id_base", f"mapping {j} "
                  f"[0x{start:X}, 0x{end:X}] overlaps mapping {reach[1]}; Linux uses the first "
                  "match")
        if reach is None or end > reach[0]:
            reach = (end, j)
    # the ID one past each count: Linux's first match there against the spec's
    limit = RID_MAX if rc else U32
    points = [b + n for b, n in ((m["source_id_base"], m["num_ids"]) for m in maps)
              if b + n <= limit]
    linux = first_cover(linux_ranges, points)
    spec = first_cover(spec_ranges, points)
    for x in sorted(set(points)):
        if x not in linux:
            continue
        i = linux[x]
        if spec_ranges[i][0] <= x <= spec_ranges[i][1]:
            continue          # Linux's choice covers x by the spec too
        k = spec.get(x)
        mi = maps[i]
        if k is not None and _same_answer(mi, maps[k], x):
            continue
        what = "no mapping covers it by the spec" if k is None else \
            f"the spec sends it to mapping {k}"
        how = "Linux also maps" if rc else "with an input ID (rimt_plat_iommu_map_id), Linux also maps"
        c.add(ONE_PAST, node, f"mappings.{i}.num_ids", f"{how} ID 0x{x:X} (one past "
              f"mapping {i}'s count) to 0x{(mi['dest_id_base'] + x - mi['source_id_base']) & U32:X}"
              f"; {what}")


def _same_answer(a: dict, b: dict, x: int) -> bool:
    return (a["dest_offset"] == b["dest_offset"]
            and (a["dest_id_base"] + x - a["source_id_base"]) & U32
            == (b["dest_id_base"] + x - b["source_id_base"]) & U32)


def _check_own_iommu(c: _Context, segments: dict[int, Node]) -> None:
    """A PCIe IOMMU whose own function a root complex mapping sends to it
    (Linux's reading): its driver's probe is deferred for ever."""
    for node in c.table.nodes:
        if node.raw or node.type != IOMMU or not node.fields.get("flags", 0) & 1:
            continue
        rc = segments.get(node.fields.get("pcie_segment_number", 0))
        if rc is None or not rc.fields.get("mappings"):
            continue
        maps = rc.fields["mappings"]
        bdf = node.fields.get("pcie_bdf", 0)
        ranges = [(m["source_id_base"], m["source_id_base"] + m["num_ids"])
                  if m["source_id_base"] + m["num_ids"] <= U32 else (1, 0) for m in maps]
        i = first_cover(ranges, [bdf]).get(bdf)
        if i is not None and c.target(maps[i]["dest_offset"]) is node:
            c.add(OWN_IOMMU, rc, f"mappings.{i}.source_id_base", f"mapping {i} sends "
                  f"{format_bdf(bdf, node.fields.get('pcie_segment_number', 0))}, {node.name}'s "
                  "own function, to it (by Linux's reading of the count); Linux configures the "
                  "IOMMU against itself and defers its probe for ever")


def _check_cycles(c: _Context) -> None:
    edges: dict[str, list[str]] = {}
    for node in c.table.nodes:
        if node.raw or node.type == IOMMU:
            continue
        outs = []
        for m in node.fields.get("mappings") or ():
            t = c.target(m["dest_offset"])
            if t is not None and t is not node and not t.raw and t.type != IOMMU:
                outs.append(t.name)
        edges[node.name] = outs
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        state[start] = 1
        while stack:
            name, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[name] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                c.add(MAP_CYCLE, c.by_name[name], "mappings", f"ID mappings form a cycle "
                      f"through {nxt}; Linux maps for ever")
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(edges.get(nxt, ()))))


def _is_null(ref: Any) -> bool:
    return ref == 0 or (isinstance(ref, Ref) and ref.name is None and ref.offset == 0)


# --- description <-> table ---------------------------------------------------------

COMMON_KEYS = ("name", "type", "revision", "id", "length", "gaps", "reserved")


def compile_rimt(desc: dict, p: d.Problems) -> Table:
    table = d.new_table("RIMT", desc, p)
    table.header["revision"] = desc.get("revision", REVISION)
    items = desc.get("nodes") or []
    kinds: dict[str, Any] = {}
    for i, item in enumerate(items):
        name = item.get("name") or f"nodes[{i}]"
        if name in kinds:
            p.error(("nodes", i, "name"), f"name {name!r} is already used by "
                    f"nodes[{list(kinds).index(name)}]")
        kinds[name] = item.get("type")
    for i, item in enumerate(items):
        path = ("nodes", i)
        node = _compile_node(item, i, kinds, p, path)
        table.nodes.append(node)
        p.node_paths.setdefault(node.name, path)
    return table


def _ref(value: Any, kinds: dict, p: d.Problems, path: tuple) -> Ref:
    if isinstance(value, int) and not isinstance(value, bool):
        p.warning(path, f"raw table offset 0x{value:X} instead of an IOMMU name")
        return Ref(offset=value)
    if value not in kinds:
        p.error(path, f"unknown node {value!r} (known: {', '.join(kinds) or 'none'})")
    elif kinds[value] != "iommu" and not isinstance(kinds[value], int):
        p.error(path, f"{value!r} is a {kinds[value]} node; ID mappings go to an IOMMU node")
    return Ref(name=str(value))


def _compile_node(item: dict, index: int, kinds: dict, p: d.Problems, path: tuple) -> Node:
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
    ntype = BY_KIND[str(kind)]
    rev = item.get("revision", REVISION)
    f: dict = {"revision": rev, "id": item.get("id", index)}
    used = set(COMMON_KEYS) | set(ntype.keys)

    def ref(value: Any, where: tuple) -> Ref:
        return _ref(value, kinds, p, where)

    # The node header's Reserved is described as reserved.reserved; the
    # fixed part's (root complex reserved1) as the engine does it.
    given = item.get("reserved") or {}
    values = dict(item)
    values["reserved"] = {k: v for k, v in given.items() if k != "reserved"}
    if ntype.code == IOMMU:
        values.update(_iommu_values(item, p, path))
    f.update(ntype.compile_fixed(values, rev, True, p, path, ref, used))
    f["reserved"] = bytes(2)
    if "reserved" in given:
        raw = d.hex_bytes(given["reserved"], p, path + ("reserved", "reserved"))
        if len(raw) != 2:
            p.error(path + ("reserved", "reserved"), f"the node header's reserved is 2 bytes, "
                    f"{len(raw)} given")
        else:
            f["reserved"] = raw
    maps = _iommu_map(item, kinds, p, path) if "iommu_map" in item else []
    f.update(ntype.compile_arrays(values, p, path, ref, used))
    if "mappings" in f:
        f["mappings"] = maps + f["mappings"]
    if ntype.code == IOMMU and not f.get("interrupt_wires") and "interrupt_wire_offset" not in item:
        f["interrupt_wire_offset"] = FIXED_END[IOMMU]   # as QEMU and ACPICA's template write it
    if "length" in item:
        f["length"] = item["length"]
    if "gaps" in item:
        f["gaps"] = [{"offset": g["offset"], "data": d.hex_bytes(g["data"], p,
                                                                 path + ("gaps", j, "data"))}
                     for j, g in enumerate(item["gaps"])]
    for key in item:
        if key not in used:
            p.error(path + (key,), f"{key!r} is not a field of a {ntype.label} node", key=True)
    return Node(ntype.code, f, name, kind=ntype)


def _iommu_values(item: dict, p: d.Problems, path: tuple) -> dict:
    out: dict = {}
    hid = item.get("hardware_id")
    if hid is None:
        p.error(path, "missing required key 'hardware_id' (8 characters, e.g. RSCV0004)")
        hid = ""
    hid = str(hid)
    if len(hid) > 8 or not hid.isascii():
        p.error(path + ("hardware_id",), f"hardware ID {hid!r} is not at most 8 ASCII characters")
        hid = ""
    out["hardware_id"] = hid
    if "pcie_bdf" in item:
        try:
            seg, rid = parse_bdf(item["pcie_bdf"])
        except BdfError as exc:
            p.error(path + ("pcie_bdf",), str(exc))
            seg, rid = None, 0
        out["pcie_bdf"] = rid
        if seg is not None:
            if "pcie_segment_number" in item and item["pcie_segment_number"] != seg:
                p.error(path + ("pcie_segment_number",), f"segment "
                        f"{item['pcie_segment_number']:#x} disagrees with pcie_bdf's {seg:#x}")
            out["pcie_segment_number"] = seg
    return out


def _iommu_map(item: dict, kinds: dict, p: d.Problems, path: tuple) -> list[dict]:
    """Devicetree iommu-map order (rid-base, iommu, iommu-base, length) ->
    ID mappings; RIMT's Number of IDs is the length itself. RIDs no entry
    covers have no mapping: they bypass the IOMMU."""
    maps = []
    for j, e in enumerate(item["iommu_map"]):
        where = path + ("iommu_map", j)
        maps.append({"source_id_base": e["rid_base"], "num_ids": e["length"],
                     "dest_id_base": e["iommu_base"],
                     "dest_offset": _ref(e["iommu"], kinds, p, where + ("iommu",)), "flags": 0})
    return maps


def describe_rimt(table: Table) -> dict:
    desc = d.describe_header(table)
    if any(x.severity == "error" for x in check(table)):
        desc["lenient"] = True
    desc["nodes"] = [_describe_node(node, i) for i, node in enumerate(table.nodes)]
    # A destination that is no IOMMU node is written as its table offset:
    # names in `output` are IOMMUs only, and the round trip stays lossless.
    by_name = {n.name: n for n in table.nodes}
    for item in desc["nodes"]:
        for m in item.get("mappings") or ():
            target = by_name.get(m["output"]) if isinstance(m["output"], str) else None
            if target is not None and (target.raw or target.type != IOMMU):
                m["output"] = Hex(target.offset or 0)
    return desc


def _describe_node(node: Node, index: int) -> dict:
    if node.raw:
        return d.describe_raw(node)
    ntype, f = NODE_TYPES[node.type], node.fields
    item: dict = {"name": node.name, "type": ntype.kind}
    if f.get("revision") != REVISION:
        item["revision"] = f.get("revision")
    if f.get("id", 0) != index:
        item["id"] = f.get("id", 0)
    if node.type == IOMMU:
        item["hardware_id"] = f.get("hardware_id", "")
    ntype.describe_fields(f, item)
    if any(f.get("reserved", b"")):
        item["reserved"] = {"reserved": f["reserved"].hex(), **item.get("reserved", {})}
    if node.type == IOMMU:
        if "pcie_bdf" in item:
            item["pcie_bdf"] = format_bdf(f["pcie_bdf"])
        if not f.get("interrupt_wires"):
            # The default for no wires is QEMU's 40, not the engine's 0.
            if f.get("interrupt_wire_offset") == FIXED_END[IOMMU]:
                item.pop("interrupt_wire_offset", None)
            else:
                item["interrupt_wire_offset"] = Hex(f.get("interrupt_wire_offset", 0))
    return item


# --- what iasl writes differently (formats/dsl.py reads DIALECT) -----------------

def _iasl_cannot(decoded: Any) -> str | None:
    """Why iasl's RIMT source syntax cannot express this table (DtCompileRimt,
    docs/rimt.md section 2), or None."""
    table = decoded.table
    if table.node_offset is not None and table.nodes:
        return (f"the node array is at 0x{table.node_offset:X}; iasl's RIMT compiler puts it "
                "at 48, right after the header")
    for node, after in zip(table.nodes, table.nodes[1:]):
        if node.raw:
            return f"{node.name} is of reserved node type {node.type}, which iasl cannot compile"
        if node.type == PCIE_ROOT_COMPLEX:
            return (f"{after.name} comes after a root complex ({node.name}); iasl's RIMT "
                    "compiler reads every line after a root complex as its ID mappings")
        if node.type == PLATFORM_DEVICE:
            return (f"{after.name} comes after a platform device ({node.name}); iasl's RIMT "
                    "compiler reads every line after a platform device as its ID mappings")
        if node.fields.get("interrupt_wires"):
            return (f"{after.name} comes after an IOMMU with interrupt wires ({node.name}); "
                    "iasl's RIMT compiler reads every line after the wires as more wires")
    return None


def _rimt_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    """iasl's view of one RIMT node: it emits the fixed part, then the array
    right after it (wires at 40, root complex mappings at 20, platform
    mappings after zero padding up to the offset written), and copies the
    node Length as written; anything else it cannot reproduce."""
    where = node_label(node)
    kind, f = NODE_TYPES[node.type], node.fields
    if f.get("gaps"):
        raise TableError(f"non-zero bytes at node offset 0x{f['gaps'][0]['offset']:X} belong to "
                         "no field; iasl writes nothing there", node=where, field="gaps")
    placed, fixed, length = kind.place(f)
    arr = kind.arrays[-1]
    off, size = placed[arr.key]
    if node.type == PLATFORM_DEVICE:
        name_end = sum(placed["device_name"])
        if size and off < name_end:
            raise TableError("ID mappings overlap the device name", node=where,
                             field="id_mapping_offset")
        start = off if size else name_end
        if not size and f.get("id_mapping_offset"):
            raise TableError(f"ID mapping array offset 0x{f['id_mapping_offset']:X} with no "
                             "mappings: iasl writes 0", node=where, field="id_mapping_offset")
    elif node.type == PCIE_ROOT_COMPLEX:
        start = fixed
        if (off if size else fixed) != fixed or (not size and f.get("id_mapping_offset")):
            raise TableError(f"ID mapping array offset 0x{f.get('id_mapping_offset', 0):X}: iasl "
                             f"writes {fixed} (0 with no mappings)", node=where,
                             field="id_mapping_offset")
    else:
        start = fixed
        if size and off != fixed:
            raise TableError(f"interrupt wires at node offset 0x{off:X}: iasl emits them at "
                             f"{fixed}", node=where, field="interrupt_wire_offset")
    if length != (off + size if size else start):
        raise TableError(f"node Length 0x{length:X} but its content ends at "
                         f"0x{(off + size if size else start):X}: iasl copies Length and emits "
                         "the content only", node=where, field="length")
    return rows


DIALECT = Dialect(
    relabel={"Flags (decoded below)": "Flags"},
    no_sublines=frozenset({"Flags"}),
    node_rows=_rimt_rows,
    generic=_iasl_cannot,
)


# --- the JSON Schema (schemas/rimt.schema.json, generated: engine/schema.py) ----

DOCS = {
    "name": "The node's name, used by ID mappings' output.",
    "revision": "Node revision (default 1, the only one).",
    "id": "Node ID, unique in the table (default: the node's index).",
    "length": "Node Length when it is not the computed one (extra bytes are zero unless gaps says otherwise).",
    "gaps": "Non-zero bytes no field covers (as found in a table).",
    "reserved": "Reserved fields that are not zero, by field name (reserved: the node header's; reserved1: the root complex's), as hex bytes.",
    "data": "Raw node: the whole node, header included (type is then an integer).",
    "hardware_id": "Hardware ID, 8 characters in _HID form (RSCV0004 for a platform RISC-V IOMMU; a PCIe IOMMU's vendor and device ID).",
    "base_address": "Register base of a platform IOMMU (Linux matches the device's first memory resource).",
    "proximity_domain": "Proximity domain (valid with flags.pxm_valid).",
    "pcie_segment_number": "PCI segment (IOMMU: of its own function; root complex: the one it serves).",
    "pcie_bdf": 'The PCIe IOMMU\'s own function: "bb:dd.f", "ssss:bb:dd.f" (sets pcie_segment_number) or the 16-bit requester ID.',
    "interrupt_wire_offset": "Node offset of the interrupt wire array (default 40, also with no wires, as QEMU writes it).",
    "interrupt_wires": "Wired interrupts (GSIs of a PLIC/APLIC) the IOMMU signals with; none when it uses MSIs only.",
    "interrupt_wires.irq_num": "GSI number.",
    "interrupt_wires.flags": "Trigger mode and polarity.",
    "id_mapping_offset": "Node offset of the ID mapping array (default: after the fixed part or the name, 4-byte aligned; 0 with no mappings).",
    "device_name": "Full path of the device object in the ACPI namespace, in 4-character segments (\\_SB_.DEV0): Linux compares it byte for byte.",
    "mappings": "ID mappings, in table order; Linux uses the first that matches.",
    "iommu_map": "Root complex ID map in Devicetree iommu-map order: RIDs rid_base..rid_base+length-1 go to iommu at iommu_base..; RIDs no entry covers bypass. Written before 'mappings'.",
    "iommu.flags": "IOMMU Flags.",
    "pcie_root_complex.flags": "Root complex Flags.",
}


def schema_doc() -> dict:
    from ..engine import schema as s  # noqa: PLC0415 -- only the generator needs it

    mapping = {"type": "object", "additionalProperties": False, "required": ["output"],
               "description": "One ID mapping: source IDs input..input+count-1 (or ..last) go "
                              "to device IDs output_base.. at the output IOMMU. RIMT stores the "
                              "count itself (not count - 1).",
               "properties": {
                   "input": s.integer(32, "First source ID (Source ID Base); default 0."),
                   "count": s.integer(32, "Number of IDs (stored as it is). Linux also maps "
                                      "the ID one past it."),
                   "last": s.integer(32, "Last source ID of the range, inclusive (instead of "
                                     "count)."),
                   "output": s.reference(32, "Destination IOMMU node."),
                   "output_base": s.integer(32, "Device ID of source ID 'input' (default: "
                                            "input, an identity mapping)."),
                   "flags": MAPPING_FLAGS.schema(f"Mapping flags. {s.FLAGS_DOC}"),
               }}
    iommu_map = s.iommu_map_entry("IOMMU node name.", "Device ID for rid_base.",
                                  "Number of RIDs (exclusive length, as in iommu-map; RIMT's "
                                  "Number of IDs).")
    custom: dict[str, dict] = {
        "mappings": {"type": "array", "items": mapping, "description": DOCS["mappings"]},
        "iommu_map": {"type": "array", "description": DOCS["iommu_map"], "items": iommu_map},
    }
    common: dict[str, dict] = {
        "name": s.name(DOCS["name"]),
        "revision": s.integer(8, DOCS["revision"]),
        "id": s.integer(16, DOCS["id"]),
        "length": s.integer(16, DOCS["length"]),
        "gaps": s.gaps(DOCS["gaps"]),
        "reserved": s.reserved_bytes(DOCS["reserved"]),
        "data": s.hex_bytes(DOCS["data"]),
    }
    nodes = s.declared_nodes(NODE_TYPES.values(), common, DOCS, custom, "One RIMT node.")
    props = nodes["properties"]
    props["hardware_id"] = {"type": "string", "maxLength": 8, "description": DOCS["hardware_id"]}
    props["pcie_bdf"] = {"anyOf": [
        {"type": "string",
         "pattern": r"^([0-9a-fA-F]{1,4}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7]$"},
        s.integer(16)], "description": DOCS["pcie_bdf"]}
    for branch in nodes["allOf"]:
        if branch["if"]["properties"]["type"].get("const") == "iommu":
            branch["then"].setdefault("required", []).append("hardware_id")
    return s.header(
        SPEC, "Table revision (RIMT v1.0: 1, the default).", "acpitables RIMT description",
        "A RISC-V IO Mapping Table: IOMMUs, PCIe root complexes and ACPI platform devices, and "
        "the ID mappings from the latter to the former, in table order. A source ID no mapping "
        "covers bypasses the IOMMU. Layout (counts, offsets, lengths, padding) is computed "
        "unless given.",
        {"nodes": {"type": "array", "description": "The nodes in table order.", "items": nodes}})


FIELD_KEYS = {"dest_offset": "output", "source_id_base": "input", "num_ids": "count",
              "dest_id_base": "output_base", "num_id_mappings": "mappings",
              "num_interrupt_wires": "interrupt_wires"}

SPEC = TableSpec(
    signature="RIMT",
    spec_name="RISC-V IO Mapping Table v1.0",
    header=RIMT_HEADER,
    node_header=NODE_HEADER,
    node_types=NODE_TYPES,
    name_nodes=name_nodes,
    describe=describe_rimt,
    compile=compile_rimt,
    check=check,
    schema="rimt.schema.json",
    revisions=(REVISION,),
    label="RISC-V IO Mapping Table",
    field_keys=FIELD_KEYS,
    mapper="acpitables.mapping.rimt:RimtMapper",
    dialect=DIALECT,
    schema_doc=schema_doc,
)
