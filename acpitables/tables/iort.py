"""acpitables: iort.py -- the IORT (Arm IO Remapping Table, DEN 0049).

Layouts after DEN 0049 issues A-E.g as ACPICA actbl2.h, edk2
IoRemappingTable.h and Linux drivers/acpi/arm64/iort.c declare them. Each
node kind is one engine.nodes.NodeKind declaration: its fixed part per
node revision, its arrays (ID mappings, ITS IDs, SMMU interrupts, RMR
descriptors, device names) with the fields holding their count and
offset, its flags words and its Role. What is IORT's own stays here: the
root complex's optional Flags word, the table-revision columns, the ID
mapping description language (with QEMU-style iommu_map/bypass_to sugar),
the checks, and what iasl writes differently (`DIALECT`).
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ..engine.fields import Bytes, Default, Int8ul, Int16ul, Int32ul, Int64ul, Struct

from ..engine import description as d
from ..engine.checks import Findings, rule
from ..engine.flags import FlagSet
from ..engine.nodes import (Array, NodeArray, NodeKind, build_array, flag_rows,  # noqa: F401
                            parse_array, since)
from ..engine.roles import Role, RoleKind
from ..engine.table import Dialect, Node, Ref, Table, TableSpec, node_label, struct_rows
from ..engine.yamlio import Hex
from ..errors import Diagnostic, TableError

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

# --- flag words --------------------------------------------------------------

MAPPING_FLAGS = FlagSet(("single_mapping", 0x1, "Single Mapping"))
HINTS = FlagSet(("transient", 0x1, "Transient"), ("write_allocate", 0x2, "Write Allocate"),
                ("read_allocate", 0x4, "Read Allocate"), ("override", 0x8, "Override"), width=8)
MEMORY_FLAGS = FlagSet(("coherency", 0x1, "Coherency"),
                       ("device_attribute", 0x2, "Device Attribute"),
                       ("canwbs", 0x4, "Ensured Coherency of Accesses"), width=8)
NC_FLAGS = FlagSet(("stall_supported", 0x1, "Stall Supported"),
                   ("pasid_bits", 0x3E, "PASID Bits"))
ATS_ATTRIBUTE = FlagSet(("ats_supported", 0x1, "ATS Supported"),
                        ("pri_supported", 0x2, "PRI Supported"),
                        ("pasid_fwd_supported", 0x4, "PASID Forwarding Supported"))
PASID_CAPABILITIES = FlagSet(("max_pasid_width", 0x1F, "Max PASID Width"), width=16)
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
IRQ_FLAG_FIELDS = (("flags", IRQ_FLAGS), ("nsg_irpt_flags", IRQ_FLAGS),
                   ("nsg_cfg_irpt_flags", IRQ_FLAGS))


# --- the ID mapping description language --------------------------------------

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


def _compile_mapping(m: dict, p: d.Problems, path: tuple, ref: Callable) -> dict:
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
            "output_reference": ref(m.get("output"), path + ("output",)), "flags": flags}


# The ID mapping array every IORT node has: count and offset in the header.
MAPPINGS = Array("mappings", ID_MAPPING, "mapping_count", "mapping_offset",
                 refs=("output_reference",), flags=(("flags", MAPPING_FLAGS),),
                 describe=_describe_mapping, compile=_compile_mapping)


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


# --- what is IORT's own in the node model -------------------------------------

def _rc_flags_present(kind: NodeKind, head: Any, length: int) -> bool:
    """The RC Flags word (node+36, node revision 4+) is missing from many
    revision-4 tables (ACPICA declares the 36-byte form): it is there when
    the ID mappings (or, with none, the node end) start after it."""
    end = kind.fixed_bytes(head.revision)
    return head.mapping_offset >= end if head.mapping_count else length >= end


def _header_labels(table: Table | None) -> dict[str, str]:
    # Up to issue D (table revision 0) the word at +4 is Reserved.
    if table is not None and table.header.get("revision", 0) == 0:
        return {"identifier": "Reserved"}
    return {}


HEX_HINTS = ("address", "base", "gsiv", "span", "irpt")


def _hex(name: str, value: int) -> Any:
    hint = any(h in name for h in HEX_HINTS) and "limit" not in name
    return Hex(value) if hint or value > 0xFFFF else value


def iort_node(code: int, kind: str, label: str, source: str, fixed: list, arrays: tuple,
              flags: dict, prefix: str, role: Role, **kw: Any) -> NodeKind:
    """One IORT node kind: the common header, then its own declaration."""
    return NodeKind(code, kind, label, header=NODE_HEADER, fixed=fixed, arrays=arrays + (MAPPINGS,),
                    flags=flags, prefix=prefix, role=role, source=source, describe_int=_hex,
                    header_labels=_header_labels, **kw)


# One entry per node kind: revision ranges of the fixed-part fields follow
# DEN 0049 (the issue that introduced each is cited).
NODE_TYPES: dict[int, NodeKind] = {t.code: t for t in [
    iort_node(ITS_GROUP, "its_group", "ITS Group", "DEN 0049 issue A, table 11", [
        since(0, "its_count" / Int32ul * "ItsCount"),
    ], (Array("identifiers", Int32ul, "its_count", label="Identifiers"),), {}, "its",
        Role(RoleKind.MSI_CONTROLLER)),
    iort_node(NAMED_COMPONENT, "named_component", "Named Component",
              "DEN 0049 issue D, table 13", [
        since(0, "node_flags" / Int32ul * "Node Flags (decoded below)"),
        since(0, "memory_properties" / MEMORY_ACCESS * "Memory Properties"),
        since(0, "memory_address_limit" / Int8ul * "Memory Size Limit"),
    ], (Array("device_name", None, label="Device Name"),),
        {"node_flags": NC_FLAGS, **MEMORY_ACCESS_FLAGS}, "nc",
        Role(RoleKind.ENDPOINT, _WALK_TARGETS, single_mappings=True, match="device_name")),
    iort_node(ROOT_COMPLEX, "root_complex", "Root Complex", "DEN 0049 issue E.d, table 16", [
        since(0, "memory_properties" / MEMORY_ACCESS * "Memory Properties"),
        since(0, "ats_attribute" / Int32ul * "ATS Attribute (decoded below)"),
        since(0, "pci_segment_number" / Int32ul * "PCI Segment Number"),
        since(1, "memory_address_limit" / Int8ul * "Memory Size Limit"),
        since(1, "pasid_capabilities" / Int16ul * "PASID Capabilities (decoded below)"),
        since(1, "reserved" / Default(Bytes(1), b"\0") * "Reserved"),
        since(4, "flags" / Int32ul * "Flags (decoded below)"),
    ], (), {"ats_attribute": ATS_ATTRIBUTE, "pasid_capabilities": PASID_CAPABILITIES,
            "flags": RC_FLAGS, **MEMORY_ACCESS_FLAGS}, "rc",
        Role(RoleKind.ENDPOINT, _WALK_TARGETS, single_mappings=True, match="pci_segment_number"),
        optional=("flags",), optional_present=_rc_flags_present,
        keys=("iommu_map", "bypass_to", "flags_word")),
    iort_node(SMMU, "smmu", "SMMUv1/v2", "DEN 0049 issue C, table 17", [
        since(0, "base_address" / Int64ul * "Base Address"),
        since(0, "span" / Int64ul * "Span"),
        since(0, "model" / Int32ul * "Model"),
        since(0, "flags" / Int32ul * "Flags (decoded below)"),
        since(0, "global_interrupt_offset" / Int32ul * "Global Interrupt Offset"),
        since(0, "context_interrupt_count" / Int32ul * "Context Interrupt Count"),
        since(0, "context_interrupt_offset" / Int32ul * "Context Interrupt Offset"),
        since(0, "pmu_interrupt_count" / Int32ul * "PMU Interrupt Count"),
        since(0, "pmu_interrupt_offset" / Int32ul * "PMU Interrupt Offset"),
    ], (Array("global_interrupts", SMMU_GLOBAL_INTERRUPTS, None, "global_interrupt_offset",
              flags=IRQ_FLAG_FIELDS),
        Array("context_interrupts", SMMU_INTERRUPT, "context_interrupt_count",
              "context_interrupt_offset", flags=IRQ_FLAG_FIELDS),
        Array("pmu_interrupts", SMMU_INTERRUPT, "pmu_interrupt_count", "pmu_interrupt_offset",
              flags=IRQ_FLAG_FIELDS)),
        {"flags": SMMU_FLAGS}, "smmu", Role(RoleKind.IOMMU, ("its_group",))),
    iort_node(SMMU_V3, "smmu_v3", "SMMUv3", "DEN 0049 issue E.e, table 18", [
        since(0, "base_address" / Int64ul * "Base Address"),
        since(0, "flags" / Int32ul * "Flags (decoded below)"),
        since(0, "reserved" / Default(Bytes(4), bytes(4)) * "Reserved"),
        since(0, "vatos_address" / Int64ul * "VATOS Address"),
        since(0, "model" / Int32ul * "Model"),
        since(0, "event_gsiv" / Int32ul * "Event GSIV"),
        since(0, "pri_gsiv" / Int32ul * "PRI GSIV"),
        since(0, "gerr_gsiv" / Int32ul * "GERR GSIV"),
        since(0, "sync_gsiv" / Int32ul * "Sync GSIV"),
        since(1, "pxm" / Int32ul * "Proximity Domain"),
        since(1, "id_mapping_index" / Int32ul * "Device ID Mapping Index"),
    ], (), {"flags": SMMU_V3_FLAGS}, "smmuv3_",
        Role(RoleKind.IOMMU, ("its_group",), deviceid_index=smmu_v3_deviceid_index)),
    iort_node(PMCG, "pmcg", "PMCG", "DEN 0049 issue D, table 19", [
        since(0, "page0_base_address" / Int64ul * "Page 0 Base Address"),
        since(0, "overflow_gsiv" / Int32ul * "Overflow Interrupt GSIV"),
        since(0, "node_reference" / Int32ul * "Node Reference"),
        since(1, "page1_base_address" / Int64ul * "Page 1 Base Address"),
    ], (), {}, "pmcg",
        Role(RoleKind.BRIDGE, ("its_group",), deviceid_index=pmcg_deviceid_index),
        refs=("node_reference",)),
    iort_node(RMR, "rmr", "RMR", "DEN 0049 issue E.d, table 20", [
        since(0, "flags" / Int32ul * "Flags (decoded below)"),
        since(0, "rmr_count" / Int32ul * "Number of RMR Descriptors"),
        since(0, "rmr_offset" / Int32ul * "RMR Descriptor Offset"),
    ], (Array("rmr_descriptors", RMR_DESCRIPTOR, "rmr_count", "rmr_offset", always=True),),
        {"flags": RMR_FLAGS}, "rmr",
        Role(RoleKind.BRIDGE, ("smmu", "smmu_v3"), table_revisions=(3, 4, 5, 6, 7))),
    iort_node(IWB, "iwb", "IWB", "DEN 0049 issue E.g, IWB node (GICv5)", [
        since(0, "base_address" / Int64ul * "Config Frame base"),
        since(0, "iwb_index" / Int16ul * "IWB Index"),
    ], (Array("device_name", None, label="Device Name"),), {}, "iwb",
        # Linux 7.0 honours single mappings on IWB nodes too (issue 9).
        Role(RoleKind.ENDPOINT, ("its_group",), single_mappings=True, match="device_name",
             match_order=1, msi_only=True, table_revisions=(7,))),
]}
BY_KIND = {t.kind: t for t in NODE_TYPES.values()}
ROLES = {code: t.role for code, t in NODE_TYPES.items()}

# Node revision per table revision (what this tool writes by default);
# table revisions 1/2 (E, E.a) use the E.b column, 4 (E.c) E.d's.
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


def default_revision(kind: NodeKind, column: dict[int, int]) -> int:
    return column.get(kind.code, NODE_REVISIONS[7].get(kind.code, 0))


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


# --- checks: small named rules, shared by decode (findings) and build ---------

R = rule  # the declarations below read as a table
REV_UNKNOWN = R("IORT-REV-UNKNOWN", "warning", "DEN 0049 table 2",
                "Table revision newer than any issue this tool knows")
HDR_RESERVED = R("IORT-HDR-RESERVED", "warning", "DEN 0049 table 2",
                 "Header reserved bytes are not zero")
PADDING = R("IORT-PADDING", "note", "DEN 0049 table 2",
            "Bytes before the first node are not zero")
KIND_REV = R("IORT-KIND-TABLE-REV", "error", "DEN 0049 3.1; Linux iort_init_platform_devices",
             "Node kind that the table revision does not have (RMR before 3, IWB before 7)")
RMR_IGNORED = R("IORT-RMR-IGNORED", "warning", "Linux iort_get_rmrs",
                "RMR node in a table revision Linux does not read RMRs from (3, 4)")
NODE_REV = R("IORT-NODE-REV", "warning", "DEN 0049 3.7",
             "Node revision newer than the table revision knows")
RMR_REV2 = R("IORT-RMR-REV2", "error", "DEN 0049 issue E.d",
             "RMR node revision 2 (issue E.c) is deprecated")
ID_RESERVED = R("IORT-ID-RESERVED", "warning", "DEN 0049 issue D table 3",
                "Non-zero node word +4 (reserved before issue E) in a revision-0 table")
ID_DUPLICATE = R("IORT-ID-DUPLICATE", "error", "DEN 0049 table 3",
                 "Two nodes with the same Identifier (revision 3+)")
ID_DUPLICATE_OLD = R("IORT-ID-DUPLICATE-OLD", "warning", "DEN 0049 table 3",
                     "Two nodes with the same Identifier in a revision 1-2 table")
RESERVED = R("IORT-RESERVED", "warning", "DEN 0049", "Reserved bytes of a node are not zero")
FLAGS_RESERVED = R("IORT-FLAGS-RESERVED", "warning", "DEN 0049",
                   "Reserved bits of a flags word are set")
ARRAY_PAST_END = R("IORT-ARRAY-PAST-END", "error", "DEN 0049 4.3",
                   "An array runs past the node Length")
NODE_SHORT = R("IORT-NODE-SHORT", "error", "DEN 0049 4.3",
               "Node Length shorter than its fixed part")
ARRAY_OVERLAP = R("IORT-ARRAY-OVERLAP", "error", "DEN 0049 4.3",
                  "An array overlaps the fixed part or another array")
MAP_OFFSET_EMPTY = R("IORT-MAP-OFFSET-EMPTY", "note", "ACPICA iasl",
                     "Mapping Offset with no mappings (iasl writes 0)")
MAP_ALIGN = R("IORT-MAP-ALIGN", "warning", "DEN 0049 4.3",
              "ID mapping array not 4-byte aligned")
ITS_MAPPINGS = R("IORT-ITS-MAPPINGS", "error", "DEN 0049 table 11",
                 "ITS group with ID mappings")
MAP_SELF = R("IORT-MAP-SELF", "warning", "DEN 0049 table 4", "Mapping points at its own node")
MAP_TARGET = R("IORT-MAP-TARGET", "error", "DEN 0049 3.1; Linux iort_node_map_id",
               "Mapping to a node kind this node kind cannot map to")
MAP_FLAGS = R("IORT-MAP-FLAGS-RESERVED", "warning", "DEN 0049 table 4",
              "Reserved mapping flag bits are set")
MAP_SINGLE = R("IORT-MAP-SINGLE", "error", "Linux iort_id_map",
               "Single mapping Linux skips (on an ITS group or SMMUv1/v2; on an SMMUv3 or "
               "PMCG unless it is the DeviceID mapping)")
MAP_SINGLE_ODD = R("IORT-MAP-SINGLE-ODD", "warning", "DEN 0049 table 4",
                   "Single mapping on a node kind that does not use one (RMR)")
MAP_WRAP = R("IORT-MAP-WRAP", "error", "Linux iort_id_map",
             "Mapping runs past ID 0xFFFFFFFF")
MAP_COUNT = R("IORT-MAP-COUNT-OFF-BY-ONE", "warning", "Linux iort_id_map (FW_BUG)",
              "Mapping ends where the next starts: a count written where count - 1 belongs")
MAP_OVERLAP = R("IORT-MAP-OVERLAP", "warning", "Linux iort_node_map_id",
                "Mappings of one node overlap; Linux uses the first match")
ITS_EMPTY = R("IORT-ITS-EMPTY", "warning", "DEN 0049 table 11", "ITS group with no ITS IDs")
COHERENCY = R("IORT-CCA", "warning", "DEN 0049 table 5", "Cache coherency neither 0 nor 1")
MEM_ATTR = R("IORT-MEM-ATTR", "warning", "DEN 0049 table 5; fwts IORTMemAttrInvalid",
             "Memory properties that contradict each other (CCA 1 with CPM 0, or CCA 0 with "
             "CPM and DACS 1); Linux takes coherency from _CCA")
ADDR_LIMIT = R("IORT-ADDR-LIMIT-ZERO", "warning", "Linux nc_dma_get_range / rc_dma_get_range",
               "Memory address size limit 0")
NC_PATH_RULE = R("IORT-DEVICE-NAME", "warning", "Linux iort_match_node_callback",
                 "Device name not an absolute ACPI path; Linux never matches it")
NC_MAP0_RANGE = R("IORT-NC-MAP0-RANGE", "warning", "Linux iort_node_get_id",
                  "Named component whose mapping 0 is a range: Linux finds no IOMMU for it as "
                  "a platform device (only a bus that passes an input ID uses ranges)")
NC_MIXED_IOMMUS = R("IORT-NC-MIXED-IOMMUS", "error", "Linux iort_iommu_configure_id",
                    "Single mappings of one named component reach different IOMMUs")
RC_SEGMENT = R("IORT-RC-SEGMENT-DUPLICATE", "warning", "Linux iort_match_node_callback",
               "Two root complexes for one PCI segment; Linux uses the first")
PASID_WIDTH = R("IORT-PASID-WIDTH", "warning", "DEN 0049 table 16",
                "Max PASID width above 20 bits")
# Linux's arm-smmu probe refuses a model it has no case for (-ENODEV): the
# SMMU and every device behind it get no IOMMU. arm-smmu-v3 only picks
# errata options by model and probes any.
SMMU_MODEL = R("IORT-SMMU-MODEL", "error", "DEN 0049 table 17; Linux acpi_smmu_get_data",
               "Unknown SMMUv1/v2 model (Linux's arm-smmu probe fails)")
SMMU_V3_MODEL = R("IORT-SMMUV3-MODEL", "warning", "DEN 0049 table 18; Linux acpi_smmu_get_options",
                  "Unknown SMMUv3 model")
IRQ_FLAGS_RESERVED = R("IORT-IRQ-FLAGS-RESERVED", "warning", "DEN 0049 table 14",
                       "Reserved interrupt flag bits are set")
HTTU = R("IORT-SMMUV3-HTTU", "warning", "DEN 0049 table 18", "HTTU override 3 is reserved")
DEVID_INDEX_SET = R("IORT-SMMUV3-DEVID-INDEX", "warning", "DEN 0049 table 18",
                    "DeviceID mapping index set while DeviceID Valid is clear")
DEVID_OVERFLOW = R("IORT-SMMUV3-DEVID-OVERFLOW", "error", "Linux iort_get_id_mapping_index",
                   "DeviceID mapping index past the mappings")
DEVID_MAPPING = R("IORT-SMMUV3-DEVID-MAPPING", "error", "Linux iort_get_id_mapping_index",
                  "The DeviceID mapping is not a single mapping to an ITS group")
PMCG_REF = R("IORT-PMCG-REFERENCE", "warning", "DEN 0049 table 19",
             "PMCG node reference to a kind a PMCG does not belong to")
PMCG_MAPPINGS = R("IORT-PMCG-MAPPINGS", "error", "DEN 0049 table 19",
                  "PMCG with more than one ID mapping")
PMCG_MSI = R("IORT-PMCG-MSI", "error", "Linux iort_get_id_mapping_index",
             "PMCG with an MSI overflow interrupt and no single mapping to an ITS group")
RMR_NO_DESC = R("IORT-RMR-NO-DESCRIPTORS", "error", "Linux iort_node_get_rmr_info",
                "RMR node with no memory range descriptor")
RMR_NO_MAPS = R("IORT-RMR-NO-MAPPINGS", "error", "Linux iort_node_get_rmr_info",
                "RMR node with no ID mappings")
RMR_ATTRS = R("IORT-RMR-ATTRIBUTES", "warning", "DEN 0049 table 20",
              "Reserved RMR access attributes")
RMR_LENGTH = R("IORT-RMR-LENGTH-ZERO", "error", "Linux iort_node_get_rmr_info",
               "RMR descriptor of length 0")
RMR_ALIGN_RULE = R("IORT-RMR-ALIGN", "warning", "DEN 0049 table 20",
                   "RMR descriptor not 64 KiB aligned")
RMR_OVERLAP = R("IORT-RMR-OVERLAP", "warning", "DEN 0049 table 20",
                "RMR descriptors of one node overlap")
IWB_MAPPINGS = R("IORT-IWB-MAPPINGS", "warning", "DEN 0049 issue E.g",
                 "IWB node without exactly one ID mapping")
IWB_INDEX = R("IORT-IWB-INDEX-DUPLICATE", "error", "Linux iort_iwb_handle",
              "Two IWB nodes with the same IWB index")
CYCLE = R("IORT-MAP-CYCLE", "error", "Linux iort_node_map_id",
          "ID mappings form a cycle (Linux follows it with no hop limit)")

REVISION_ISSUES = {3: "issue E.b", 7: "issue E.g"}
NC_PATH = re.compile(r"\\[A-Z_][A-Z0-9_]{3}(\.[A-Z_][A-Z0-9_]{3})*")
RMR_ALIGN = 0x10000
NodeCheck = Callable[["_Context", Node, dict], None]
KIND_CHECKS: dict[str, list[NodeCheck]] = {}


def checks(*kinds: str) -> Callable[[NodeCheck], NodeCheck]:
    """Attach a node check to node kinds (by declaration name)."""
    def attach(fn: NodeCheck) -> NodeCheck:
        for kind in kinds:
            KIND_CHECKS.setdefault(kind, []).append(fn)
        return fn
    return attach


class _Context:
    """What the node checks share while one table is checked."""

    def __init__(self, table: Table):
        self.table, self.out = table, Findings()
        self.trev = table.header.get("revision", 0)
        self.by_name = {n.name: n for n in table.nodes}
        self.seen: dict[tuple, Node] = {}  # (what, value) -> first node with it

    def target(self, ref: Any) -> Node | None:
        return self.by_name.get(ref.name) if isinstance(ref, Ref) and ref.name else None

    def kind_of(self, node: Node | None) -> NodeKind | None:
        return None if node is None or node.raw else NODE_TYPES.get(node.type)

    def first(self, what: str, value: Any, node: Node) -> Node | None:
        """The earlier node with the same `what`, or None (and remember this one)."""
        other = self.seen.get((what, value))
        self.seen.setdefault((what, value), node)
        return other

    def add(self, r: Any, node: Node | None, field: str | None, message: str) -> None:
        self.out.add(r, node, field, message)


def check(table: Table) -> list[Diagnostic]:
    c = _Context(table)
    trev = c.trev
    if trev > 7:
        c.out.append(REV_UNKNOWN(f"IORT revision {trev} is newer than any issue this tool knows "
                                 "(7 = E.g)", offset=8, field="revision"))
    if any(table.fields.get("reserved", b"")):
        c.out.append(HDR_RESERVED("header reserved bytes are not zero "
                                  f"({table.fields['reserved'].hex()})", offset=44,
                                  field="reserved"))
    if any(table.padding):
        c.out.append(PADDING("padding before the first node is not zero", offset=48,
                             field="padding"))
    for node in table.nodes:
        if node.raw and node.partial is not None and node.type in NODE_TYPES:
            # Arrays past the node Length (reported by the decoder): the fixed
            # part still fits, and Linux and fwts read it. Layout and mapping
            # checks need the arrays; the kind checks skip the ones missing.
            partial_kind = NODE_TYPES[node.type]
            for fn in [_check_common] + KIND_CHECKS.get(partial_kind.kind, []):
                fn(c, node, node.partial)
            continue
        kind = c.kind_of(node)
        if kind is None:
            continue
        for fn in [_check_common, _check_layout, _check_mappings] + KIND_CHECKS.get(kind.kind, []):
            fn(c, node, node.fields)
    _check_cycles(c)
    return list(c.out)


def _check_common(c: _Context, node: Node, f: dict) -> None:
    kind = NODE_TYPES[node.type]
    rev, trev = f.get("revision", 0), c.trev
    allowed = kind.role.table_revisions
    if allowed is not None and trev < allowed[0]:
        need = f"{allowed[0]}" + (" or later" if len(allowed) > 1 else "")
        c.add(KIND_REV, node, "type", f"{kind.label} nodes need IORT revision {need} "
              f"({REVISION_ISSUES[allowed[0]]}); this table is revision {trev}")
    expected = revision_column(trev).get(node.type)
    if expected is not None and rev > expected:
        c.add(NODE_REV, node, "revision", f"node revision {rev} is newer than IORT revision "
              f"{trev} knows for a {kind.label} node ({expected})")
    ident = f.get("identifier", 0)
    if trev == 0:
        if ident:
            c.add(ID_RESERVED, node, "identifier", f"reserved word (Identifier from issue E "
                  f"on) is 0x{ident:X}, not zero, in a revision-0 table")
    else:
        other = c.first("identifier", ident, node)
        if other is not None:
            c.add(ID_DUPLICATE if trev >= 3 else ID_DUPLICATE_OLD, node, "identifier",
                  f"identifier {ident} is also {other.name}'s")
    for path, value in d.reserved_values(kind.body_of(f), f):
        if any(value):
            c.add(RESERVED, node, path, f"reserved bytes are not zero ({value.hex()})")
    for fname, flagset in kind.flags.items():
        word = f.get(fname)
        if word is None and fname in MEMORY_ACCESS_FLAGS:
            word = (f.get("memory_properties") or {}).get(fname)
        if isinstance(word, int) and word & ~flagset.mask:
            c.add(FLAGS_RESERVED, node, fname, f"reserved bits 0x{word & ~flagset.mask:X} of "
                  f"{fname} are set")


def _check_layout(c: _Context, node: Node, f: dict) -> None:
    """Arrays inside the node, not overlapping the fixed part or each other
    (spec 4.3 'mapping array' and SMMU/RMR array rules)."""
    kind = NODE_TYPES[node.type]
    placed, fixed, length = kind.place(f)
    regions = [("fixed part", 0, fixed)]
    for arr in kind.arrays:
        off, size = placed[arr.key]
        if size:
            regions.append((arr.key, off, off + size))
            if off + size > length:
                c.add(ARRAY_PAST_END, node, arr.offset or arr.key, f"{arr.key} [0x{off:X}, "
                      f"0x{off + size:X}) runs past the node length 0x{length:X}")
    if fixed > length:
        c.add(NODE_SHORT, node, "length", f"node length {length} is shorter than the "
              f"{fixed}-byte fixed part")
    regions.sort(key=lambda r: r[1])
    for (name_a, a0, a1), (name_b, b0, b1) in zip(regions, regions[1:]):
        if b0 < a1:
            field = next((a.offset or a.key for a in kind.arrays if a.key == name_b), name_b)
            c.add(ARRAY_OVERLAP, node, field, f"{name_b} at node offset 0x{b0:X} overlaps "
                  f"{name_a} [0x{a0:X}, 0x{a1:X})")
    maps = f.get("mappings", [])
    mo = placed["mappings"][0]
    if not maps and mo:
        c.add(MAP_OFFSET_EMPTY, node, "mapping_offset", f"mapping offset 0x{mo:X} with no "
              "mappings (iasl writes 0)")
    if maps and mo % 4:
        c.add(MAP_ALIGN, node, "mapping_offset", f"ID mapping array at node offset 0x{mo:X} is "
              "not 4-byte aligned")


def _check_mappings(c: _Context, node: Node, f: dict) -> None:
    """The ID mapping rules, each worked out over the mapping columns
    (issue 11: tables of 100,000 mappings are checked twice per decode),
    then reported mapping by mapping in the order the rules are listed."""
    from bisect import bisect_left
    from itertools import accumulate, compress
    from operator import add, itemgetter, le, lt
    kind = NODE_TYPES[node.type]
    role = kind.role
    maps = f.get("mappings", [])
    if not maps:
        return
    refs, flags, first, count, out = ([*map(itemgetter(k), maps)] for k in (
        "output_reference", "flags", "input_base", "id_count", "output_base"))
    found: list = []  # (mapping, rule order, rule, field, message)
    # Targets: each reference object looked up once (decode shares one per
    # target; compile makes one per mapping).
    ids = list(map(id, refs))
    for ref_id, ref in dict(zip(ids, refs)).items():
        target = c.target(ref)
        target_kind = c.kind_of(target)
        if target is node:
            rule, why = MAP_SELF, "points at its own node"
        elif target is not None and target_kind is not None and \
                target_kind.kind not in role.targets:
            names = " or ".join(BY_KIND[t].label for t in role.targets) or "nothing"
            rule, why = MAP_TARGET, (f"goes to {target.name}, a {target_kind.label} node; a "
                                     f"{kind.label} node maps to {names}")
        else:
            continue
        found += [(j, 0, rule, f"mappings.{j}.output_reference", f"mapping {j} {why}")
                  for j, i in enumerate(ids) if i == ref_id]
    flagged = list(compress(range(len(maps)), flags))
    found += [(j, 1, MAP_FLAGS, f"mappings.{j}.flags", f"reserved flag bits "
               f"0x{flags[j] & ~1:X} of mapping {j} are set")
              for j in flagged if flags[j] & ~MAPPING_FLAGS.mask]
    # Single mappings: Linux honours them on endpoints and for the DeviceID.
    single = {j for j in flagged if flags[j] & 1}
    if not role.single_mappings:
        devid = role.deviceid_index(f) if role.deviceid_index is not None else None
        for j in sorted(single):
            if role.deviceid_index is not None:
                # SMMUv3/PMCG: only the DeviceID mapping may be single; Linux
                # skips any other single mapping while translating.
                if j != devid:
                    found.append((j, 2, MAP_SINGLE, f"mappings.{j}.flags", f"single mapping "
                                  f"{j} is not the {kind.label} node's DeviceID mapping "
                                  "(Linux skips it)"))
            elif role.kind in (RoleKind.IOMMU, RoleKind.MSI_CONTROLLER):
                found.append((j, 2, MAP_SINGLE, f"mappings.{j}.flags", f"single mapping {j} "
                              f"is not allowed on a {kind.label} node (Linux skips it)"))
            else:
                found.append((j, 2, MAP_SINGLE_ODD, f"mappings.{j}.flags", f"single mapping "
                              f"{j} on a {kind.label} node"))
    # Ranges (single mappings have none): a range past 32 bits never matches.
    last = list(map(add, first, count))
    ends = list(map(add, out, count))
    wraps = {j for j, (a, b) in enumerate(zip(last, ends))
             if (a > 0xFFFFFFFF or b > 0xFFFFFFFF) and j not in single} \
        if max(last) > 0xFFFFFFFF or max(ends) > 0xFFFFFFFF else set()
    found += [(j, 3, MAP_WRAP, f"mappings.{j}.id_count", f"mapping {j} runs past ID "
               "0xFFFFFFFF (Linux never matches a range that wraps)") for j in sorted(wraps)]
    for j, _, rule, field, message in sorted(found, key=itemgetter(0, 1)):
        c.add(rule, node, field, message)
    # Overlaps, in input order: each range against the one reaching furthest
    # before it (the first of them when two reach as far).
    skip = single | wraps
    order = [j for j in range(len(maps)) if j not in skip] if skip else range(len(maps))
    los = [first[j] for j in order] if skip else first
    his = [last[j] for j in order] if skip else last
    if len(los) < 2:
        return
    if not all(map(lt, los, los[1:])):  # not already in input order: sort
        los, his, order = map(list, zip(*sorted(zip(los, his, order))))
    reach = list(accumulate(his, max))  # the furthest last ID so far
    for k in compress(range(1, len(los)), map(le, los[1:], reach)):
        i = bisect_left(reach, reach[k - 1])  # the first range to reach that far
        lo, hi, j, prev = los[k], his[k], order[k], order[i]
        if lo == his[i] and los[i] < his[i]:
            c.add(MAP_COUNT, node, f"mappings.{j}.input_base", f"mapping {prev} ends at "
                  f"input ID 0x{lo:X} where mapping {j} starts: a count written where "
                  "count - 1 belongs? (Linux logs FW_BUG and prefers the later range)")
        else:
            c.add(MAP_OVERLAP, node, f"mappings.{j}.input_base", f"mapping {j} "
                  f"[0x{lo:X}, 0x{hi:X}] overlaps mapping {prev} "
                  f"[0x{los[i]:X}, 0x{his[i]:X}]; Linux uses the first match")


@checks("its_group")
def _check_its(c: _Context, node: Node, f: dict) -> None:
    # "_counts": a node kept raw, whose arrays may not have been decoded.
    if f.get("mappings") or f.get("_counts", {}).get("mapping_count"):
        c.add(ITS_MAPPINGS, node, "mappings", "an ITS group has no ID mappings")
    if "identifiers" in f and not f["identifiers"]:
        c.add(ITS_EMPTY, node, "identifiers", "ITS group with no ITS identifiers")


@checks("named_component", "root_complex")
def _check_memory(c: _Context, node: Node, f: dict) -> None:
    mem = f.get("memory_properties") or {}
    if mem.get("cache_coherency", 0) not in (0, 1):
        c.add(COHERENCY, node, "memory_properties", f"cache coherency "
              f"{mem['cache_coherency']} is neither 0 nor 1")
    # fwts IORTMemAttrInvalid reads bit 0 of CCA (DEN 0049 table 5's rules).
    cca, mflags = mem.get("cache_coherency", 0) & 1, mem.get("memory_flags", 0)
    cpm, dacs = mflags & 1, (mflags >> 1) & 1
    if cca and not cpm:
        c.add(MEM_ATTR, node, "memory_properties", "memory properties contradict each other: "
              "fully coherent (CCA 1) but the coherent path to memory flag (CPM) is 0")
    elif not cca and cpm and dacs:
        c.add(MEM_ATTR, node, "memory_properties", "memory properties contradict each other: "
              "CPM and DACS are 1 (a coherent path and IWB-OWB-ISH outputs) but CCA is 0")
    if "memory_address_limit" in f and not f["memory_address_limit"]:
        c.add(ADDR_LIMIT, node, "memory_address_limit", "memory address size limit 0: "
              "Linux limits the device's DMA to a 1-byte range")


@checks("named_component", "iwb")
def _check_device_name(c: _Context, node: Node, f: dict) -> None:
    if "device_name" not in f:  # kept raw: its name runs past the node
        return
    name = f["device_name"]
    if not NC_PATH.fullmatch(name):
        c.add(NC_PATH_RULE, node, "device_name", f"device name '{name}' is not an absolute "
              "path of 4-character segments (like \\_SB_.PCI0.DEV0); Linux compares the "
              "full path and would never match it")


@checks("named_component")
def _check_platform_ids(c: _Context, node: Node, f: dict) -> None:
    """A platform device is looked up by mapping index (0, 1, ... each a
    single mapping) when its bus passes no input ID."""
    maps = f.get("mappings")
    if not maps:
        return
    if not maps[0]["flags"] & 1:
        c.add(NC_MAP0_RANGE, node, "mappings.0.flags", "mapping 0 is a range, not a single "
              "mapping: Linux finds no IOMMU for this device as a platform device (unless "
              "its bus passes an input ID)")
    iommus: dict[str, int] = {}
    for j, m in enumerate(maps):
        if not m["flags"] & 1:
            break  # Linux stops at the first index that is no single mapping
        out = c.target(m["output_reference"])
        kind = c.kind_of(out)
        if out is not None and kind is not None and kind.role.kind is RoleKind.IOMMU:
            iommus.setdefault(out.name, j)    # (kind_of(None) is None)
    if len(iommus) > 1:
        names = ", ".join(f"{n} (mapping {j})" for n, j in iommus.items())
        c.add(NC_MIXED_IOMMUS, node, "mappings", f"single mappings reach different IOMMUs: "
              f"{names}; Linux gives a device one IOMMU and fails the others")


@checks("root_complex")
def _check_rc(c: _Context, node: Node, f: dict) -> None:
    seg = f.get("pci_segment_number", 0)
    other = c.first("segment", seg, node)
    if other is not None:
        c.add(RC_SEGMENT, node, "pci_segment_number", f"PCI segment {seg} also has root "
              f"complex {other.name}; Linux uses the first")
    if (f.get("pasid_capabilities", 0) & 0x1F) > 20:
        c.add(PASID_WIDTH, node, "pasid_capabilities", "max PASID width above 20 bits")


@checks("smmu")
def _check_smmu(c: _Context, node: Node, f: dict) -> None:
    if f.get("model", 0) > 5:
        c.add(SMMU_MODEL, node, "model", f"unknown SMMUv1/v2 model {f['model']} (Linux's "
              "arm-smmu probe fails with -ENODEV)")
    irqs = []
    if "global_interrupts" in f:  # absent: kept raw, past the node
        irqs = [("global_interrupts.nsg_irpt_flags", f["global_interrupts"]["nsg_irpt_flags"]),
                ("global_interrupts.nsg_cfg_irpt_flags",
                 f["global_interrupts"]["nsg_cfg_irpt_flags"])]
    for key in ("context_interrupts", "pmu_interrupts"):
        irqs += [(f"{key}.{i}.flags", irq["flags"]) for i, irq in enumerate(f.get(key, ()))]
    for path, value in irqs:
        if value & ~IRQ_FLAGS.mask:
            c.add(IRQ_FLAGS_RESERVED, node, path, f"reserved interrupt flag bits "
                  f"0x{value & ~1:X}")


@checks("smmu_v3")
def _check_smmu_v3(c: _Context, node: Node, f: dict) -> None:
    rev, maps = f.get("revision", 0), f.get("mappings", [])
    flags = f.get("flags", 0)
    if (flags & 0x6) == 0x6:
        c.add(HTTU, node, "flags", "HTTU override 3 is reserved")
    if f.get("model", 0) > 2:
        c.add(SMMU_V3_MODEL, node, "model", f"unknown SMMUv3 model {f['model']}")
    if rev < 1:
        return
    index = f.get("id_mapping_index", 0)
    gsivs = [f.get(k, 0) for k in ("event_gsiv", "pri_gsiv", "gerr_gsiv", "sync_gsiv")]
    meaningful = bool(flags & 0x10) if rev >= 5 else not all(gsivs)
    if rev >= 5 and not flags & 0x10 and index:
        c.add(DEVID_INDEX_SET, node, "id_mapping_index", "DeviceID valid is clear, so the "
              f"DeviceID mapping index should be 0 (it is {index})")
    if not meaningful or "mappings" not in f:  # no mappings decoded: kept raw
        return
    if index >= len(maps):
        c.add(DEVID_OVERFLOW, node, "id_mapping_index", f"DeviceID mapping index {index} but "
              f"only {len(maps)} mappings (Linux: FW_BUG ID mapping index overflows)")
        return
    m = maps[index]
    out = c.kind_of(c.target(m["output_reference"]))
    if not m["flags"] & 1 or out is None or not out.role.is_msi_controller:
        c.add(DEVID_MAPPING, node, "id_mapping_index", f"mapping {index} (the DeviceID "
              "mapping) must be a single mapping to an ITS group (Linux: FW_BUG Invalid MSI "
              "mapping)")


@checks("pmcg")
def _check_pmcg(c: _Context, node: Node, f: dict) -> None:
    maps = f.get("mappings", [])
    ref = c.target(f.get("node_reference"))
    if ref is not None and ref.type not in (SMMU_V3, NAMED_COMPONENT, ROOT_COMPLEX):
        label = NODE_TYPES[ref.type].label if ref.type in NODE_TYPES else "raw"
        c.add(PMCG_REF, node, "node_reference", f"PMCG belongs to {ref.name}, a {label} node")
    if len(maps) > 1:
        c.add(PMCG_MAPPINGS, node, "mappings", f"a PMCG has at most one ID mapping, not "
              f"{len(maps)}")
    if "mappings" not in f:  # kept raw: its mappings run past the node
        return
    if not f.get("overflow_gsiv"):
        m = maps[0] if maps else None
        t = c.kind_of(c.target(m["output_reference"])) if m else None
        if m is None or not m["flags"] & 1 or t is None or not t.role.is_msi_controller:
            c.add(PMCG_MSI, node, "overflow_gsiv", "overflow GSIV 0 means an MSI: the PMCG "
                  "then needs one single mapping to an ITS group")


@checks("rmr")
def _check_rmr(c: _Context, node: Node, f: dict) -> None:
    maps = f.get("mappings", [])
    if c.trev in (3, 4):
        c.add(RMR_IGNORED, node, "type", f"Linux ignores RMR nodes in IORT revision {c.trev} "
              "(it reads them from revision 5, issue E.d, on)")
    if f.get("revision", 0) == 2:
        c.add(RMR_REV2, node, "revision", "RMR node revision 2 (issue E.c) is deprecated and "
              "must not be used")
    descs = f.get("rmr_descriptors", [])
    if not descs and "rmr_descriptors" in f:  # absent: kept raw, past the node
        c.add(RMR_NO_DESC, node, "rmr_descriptors", "an RMR node needs at least one memory "
              "range descriptor (Linux skips the node)")
    if not maps and "mappings" in f:
        c.add(RMR_NO_MAPS, node, "mappings", "an RMR node needs ID mappings naming the stream "
              "IDs (Linux: FW_BUG Invalid ID mapping)")
    if ((f.get("flags", 0) >> 2) & 0xFF) > 5:
        c.add(RMR_ATTRS, node, "flags", f"access attributes {(f['flags'] >> 2) & 0xFF:#x} are "
              "reserved (0-5 are defined)")
    spans = []
    for i, desc in enumerate(descs):
        where = f"rmr_descriptors.{i}"
        base, size = desc["base_address"], desc["length"]
        if not size:
            c.add(RMR_LENGTH, node, f"{where}.length", f"RMR descriptor {i} has length 0")
        elif base % RMR_ALIGN or size % RMR_ALIGN:
            c.add(RMR_ALIGN_RULE, node, f"{where}.base_address", f"RMR descriptor {i} "
                  f"[0x{base:X}, +0x{size:X}) is not 64 KiB aligned (Linux rounds to pages)")
        if any(desc.get("reserved", b"")):
            c.add(RESERVED, node, f"{where}.reserved", f"reserved bytes of RMR descriptor {i} "
                  "are not zero")
        if size:
            spans.append((base, base + size, i))
    spans.sort()
    for (a0, a1, i), (b0, b1, j) in zip(spans, spans[1:]):
        if b0 < a1:
            c.add(RMR_OVERLAP, node, f"rmr_descriptors.{j}.base_address", f"RMR descriptor {j} "
                  f"overlaps descriptor {i}")


@checks("iwb")
def _check_iwb(c: _Context, node: Node, f: dict) -> None:
    maps = f.get("mappings", [])
    if len(maps) != 1 and "mappings" in f:
        c.add(IWB_MAPPINGS, node, "mappings", f"an IWB normally has one ID mapping, not "
              f"{len(maps)}")
    idx = f.get("iwb_index", 0)
    other = c.first("iwb_index", idx, node)
    if other is not None:
        c.add(IWB_INDEX, node, "iwb_index", f"IWB index {idx} is also {other.name}'s")


def _edges(c: _Context) -> dict[str, list[list]]:
    """Each decoded node's mapping targets as runs [target, times]: a
    node's thousands of mappings to one SMMU are one edge, walked once and
    reported as often as it is there. Mappings to the node itself or to no
    node of the table are no edge."""
    from functools import partial
    from itertools import groupby
    from operator import is_not, itemgetter
    by_name = c.by_name
    edges: dict[str, list[list]] = {}
    for node in c.table.nodes:
        if node.raw:
            continue
        refs = list(map(itemgetter("output_reference"), node.fields.get("mappings", ())))
        ids = list(map(id, refs))
        edge = {i: ref.name for i, ref in dict(zip(ids, refs)).items()  # each object once
                if isinstance(ref, Ref) and ref.name in by_name and ref.name != node.name}
        names = filter(partial(is_not, None), map(edge.get, ids))
        edges[node.name] = [[name, len(list(run))] for name, run in groupby(names)]
    return edges


def _check_cycles(c: _Context) -> None:
    """Mapping chains that come back to a node (Linux follows them with no
    hop limit). Iterative colouring: linear in nodes + mappings."""
    by_name = c.by_name
    edges = _edges(c)
    state: dict[str, int] = {}
    for start in edges:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            name, it = stack[-1]
            nxt, times = next(it, (None, 0))
            if nxt is None:
                state[name] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                for _ in range(times):
                    c.add(CYCLE, by_name[name], "mappings", "ID mappings form a cycle: "
                          f"{' -> '.join(cycle)} (Linux would follow it forever)")
            elif not state.get(nxt) and nxt in edges:  # later repeats find it done (2)
                state[nxt] = 1
                stack.append((nxt, iter(edges[nxt])))
                path.append(nxt)


# --- description <-> table ---------------------------------------------------

COMMON_KEYS = ("name", "type", "revision", "identifier", "mappings", "mapping_offset", "length",
               "gaps", "reserved")


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
    ntype = BY_KIND[str(kind)]
    rev = item.get("revision", default_revision(ntype, column))
    f: dict = {"revision": rev, "identifier": item.get("identifier",
                                                      default_identifier(index, trev))}
    used = set(COMMON_KEYS) | set(ntype.keys)
    full = True
    if ntype.optional:  # the RC Flags word
        full = rev >= 4 and item.get("flags_word", True)
        if item.get("flags_word") and rev < 4:
            p.error(path + ("flags_word",), f"the Flags word exists from root complex node "
                    f"revision 4 on; this node is revision {rev}")

    def ref(value: Any, where: tuple) -> Ref:
        return _ref(value, kinds, p, where)

    f.update(ntype.compile_fixed(item, rev, full, p, path, ref, used))
    maps = _iommu_map(item, kinds, p, path) if "iommu_map" in item and ntype.keys else []
    if "bypass_to" in item and "iommu_map" not in item:
        p.error(path + ("bypass_to",), "bypass_to fills the gaps of an iommu_map")
    f.update(ntype.compile_arrays(item, p, path, ref, used))
    f["mappings"] = maps + f["mappings"]
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
    return Node(ntype.code, f, name, kind=ntype)


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
        kind = kinds.get(its, "its_group")
        target = BY_KIND.get(kind) if isinstance(kind, str) else None
        if target is None or not target.role.is_msi_controller:
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
    if rev != default_revision(ntype, column):
        item["revision"] = rev
    if f.get("identifier", 0) != default_identifier(index, trev):
        item["identifier"] = f["identifier"]
    if ntype.optional and rev >= 4 and not ntype.is_full(f):
        item["flags_word"] = False
    ntype.describe_fields(f, item)
    return item


# --- what iasl writes differently (formats/dsl.py reads DIALECT) ---------------

# The fixed part iasl declares for a node type, as the node revision whose
# fixed part it is (iasl has one form per type, whatever the Revision byte).
IASL_FORMS = {ROOT_COMPLEX: 3, SMMU_V3: 1, PMCG: 1}

def _iort_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    """iasl's view of an IORT node: the layout rows in iasl's source order,
    checked to be back to back (which is how iasl places them)."""
    ntype = NODE_TYPES[node.type]
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
        newer = struct_rows(body, body.parse(blob[HEADER_SIZE:full]), HEADER_SIZE)
        newer = flag_rows([r for r in newer if r[0] >= end], ntype.flags)
        rows = [r for r in rows if not (r[2] == "gap" and r[0] < full)] + newer
        for gap in f.get("gaps", ()):  # a gap reaching past the newer fields stays a gap
            if gap["offset"] < full < gap["offset"] + len(gap["data"]):
                cut = full - gap["offset"]
                rows.append((full, len(gap["data"]) - cut, "gap", "Padding", gap["data"][cut:]))
        rows.sort(key=lambda r: r[0])
    if node.type == ROOT_COMPLEX and acpica < 20220331:
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
    if node.type == ROOT_COMPLEX and ntype.is_full(f) and rev >= 4:
        raise TableError(f"revision-{rev} root complex with the 40-byte fixed part: ACPICA "
                         "declares the 36-byte form only, so its Flags word (node+36) cannot "
                         "be written in iasl source", node=where, field="flags")
    if not f.get("mappings") and f.get("mapping_offset"):
        raise TableError(f"Mapping Offset 0x{f['mapping_offset']:X} with no mappings: iasl "
                         "writes 0", node=where, field="mapping_offset")
    placed = ntype.place(f)[0]
    if node.type == SMMU:
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
        if key == "gap" and not (node.type == NAMED_COMPONENT and row[0] == name_end):
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
            if (node.type == NAMED_COMPONENT and cursor == name_end and off > cursor
                    and name not in ("gap", "device_name")):
                placed_rows.append((cursor, off - cursor, "padding", "Padding",
                                    bytes(off - cursor)))
                cursor = off
            elif node.type == IWB and cursor == name_end:
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
        if node.type == NAMED_COMPONENT and not f.get("mappings") and cursor < length:
            final.append((cursor, length - cursor, "padding", "Padding", bytes(length - cursor)))
        else:
            raise TableError(f"node Length 0x{length:X} but its fields end at 0x{cursor:X}: "
                             "iasl computes Length from the fields", node=where, field="length")
    if node.type == IWB and any(r[2] in ("padding", "gap") for r in final):
        raise TableError("IWB node padded after its name: iasl does not pad it", node=where,
                         field="device_name")
    return final


DIALECT = Dialect(
    relabel={"Node Flags (decoded below)": "Node Flags",
             "ATS Attribute (decoded below)": "ATS Attribute",
             "PASID Capabilities (decoded below)": "PASID Capabilities",
             f"Device Name@{IWB}": "IWB Device Name"},
    no_sublines=frozenset({"Node Flags", "ATS Attribute", "PASID Capabilities"}),
    sublines_since={"Ensured Coherency of Accesses": 20240827, "DeviceID Valid": 20221020},
    refused_revisions={1: "issue E", 2: "issue E.a", 4: "issue E.c"},
    node_rows=_iort_rows,
    padding=True,
)

# --- the JSON Schema (schemas/iort.schema.json, generated: engine/schema.py) ----

DOCS = {
    "name": "The node's name, used by other nodes' references.",
    "revision": "Node revision (default: the one spec 3.7 gives for the table revision).",
    "identifier": "Node Identifier (default: node index; 0 in revision-0 tables, where the word is reserved).",
    "mappings": "ID mappings, in table order.",
    "mapping_offset": "Node offset of the ID mappings (default: after the fixed part, arrays and name, 4-byte aligned; 0 when there are none).",
    "length": "Node Length when it is not the computed one (extra bytes are zero unless gaps says otherwise).",
    "gaps": "Non-zero bytes no field covers (padding as found in a table).",
    "reserved": "Reserved fields that are not zero, by field name (e.g. memory_properties.reserved), as hex bytes.",
    "data": "Raw node: the whole node, header included (type is then an integer).",
    "identifiers.item": "GIC ITS ID.",
    "identifiers": "GIC ITS IDs of this group (the MADT GIC ITS structures' IDs).",
    "memory_properties": "Memory access properties (spec 3.5); fields default to 0.",
    "memory_properties.cache_coherency": "CCA: 1 fully coherent, 0 not coherent.",
    "memory_properties.hints": "Allocation hints (AH).",
    "memory_properties.memory_flags": "Memory access flags (MAF).",
    "memory_address_limit": "Memory address size limit in bits (64: no limit; 0 limits DMA to one byte in Linux).",
    "node_flags": "Node Flags.",
    "device_name": "Absolute ACPI namespace path, NUL-terminated in the table; Linux compares the full path with 4-character segments, e.g. \\_SB_.PCI0.DEV0.",
    "pci_segment_number": "PCI segment (must match MCFG).",
    "pasid_capabilities": "PASID Capabilities (node revision 1+, meaningful from 4).",
    "ats_attribute": "ATS Attribute.",
    "model": "Model (SMMUv1/v2: 0-5; SMMUv3: 0 generic, 1 HiSilicon Hi161x, 2 Cavium CN99xx).",
    "span": "Size of the SMMU register frame.",
    "context_interrupt_offset": "Node offset of the context interrupt array (default: computed; 0 when empty).",
    "global_interrupts": "SMMUv1/v2 global interrupt array (one entry).",
    "global_interrupts.nsg_irpt": "Non-secure global fault interrupt GSIV.",
    "global_interrupts.nsg_irpt_flags": "Its flags.",
    "global_interrupts.nsg_cfg_irpt": "Non-secure configuration-access interrupt GSIV.",
    "global_interrupts.nsg_cfg_irpt_flags": "Its flags.",
    "pmu_interrupt_offset": "Node offset of the PMU interrupt array (default: computed; 0 when empty).",
    "context_interrupts": "Context interrupts (GSIV + flags).",
    "context_interrupts.gsiv": "Interrupt GSIV.",
    "context_interrupts.flags": "Interrupt flags.",
    "base_address": "Base address of the register frame.",
    "global_interrupt_offset": "Node offset of the global interrupt array (default: computed).",
    "pmu_interrupts": "PMU interrupts (GSIV + flags).",
    "pmu_interrupts.gsiv": "Interrupt GSIV.",
    "pmu_interrupts.flags": "Interrupt flags.",
    "gerr_gsiv": "Global error GSIV (0: MSI).",
    "sync_gsiv": "CMD_SYNC GSIV (0: MSI).",
    "pxm": "Proximity domain (valid with flags.pxm_valid; node revision 1+).",
    "id_mapping_index": "DeviceID mapping index: which mapping gives the SMMU's own MSI DeviceID (node revision 1+).",
    "vatos_address": "VATOS page base address (0: none).",
    "event_gsiv": "Event queue GSIV (0: MSI).",
    "pri_gsiv": "PRI queue GSIV (0: MSI).",
    "page1_base_address": "Page 1 base address (node revision 1+).",
    "node_reference": "The node this PMCG belongs to (normally an SMMUv3).",
    "overflow_gsiv": "Overflow interrupt GSIV (0: MSI through the single mapping).",
    "page0_base_address": "Page 0 base address.",
    "rmr_descriptors": "Memory ranges (64 KiB aligned) the stream IDs of 'mappings' must keep mapped.",
    "rmr_descriptors.base_address": "Base address of the range.",
    "rmr_descriptors.length": "Length of the range in bytes.",
    "rmr_descriptors.reserved": "The 4 reserved bytes, when not zero.",
    "rmr_offset": "Node offset of the RMR descriptor array (default: computed).",
    "iwb_index": "IWB index (matches the IWB's GSI namespace).",
    "flags": "The node's Flags word: a mapping of flag names (see each node type) or an integer.",
    "iommu_map": "Root complex ID map in Devicetree iommu-map order: RIDs rid_base..rid_base+length-1 go to iommu at iommu_base..; RIDs no entry covers bypass (or go to bypass_to). Written before 'mappings'.",
    "bypass_to": "Root complex with iommu_map: an ITS group that gets every RID of 0..0xFFFF the map leaves out (after the IOMMU mappings), as QEMU does for buses that bypass the SMMU. Without it such RIDs have no mapping (bypass).",
    "flags_word": "Root complex revision 4+: whether the 4-byte Flags word at node+36 is present (default true, as the spec and edk2; false gives ACPICA/iasl's 36-byte form).",
    "root_complex.flags": "RC Flags word (node revision 4+, node+36; see flags_word).",
    "smmu.flags": "SMMUv1/v2 Flags.",
    "smmu_v3.flags": "SMMUv3 Flags.",
    "rmr.flags": "RMR Flags.",
}


def schema_doc() -> dict:
    from ..engine import schema as s  # noqa: PLC0415 -- only the generator needs it

    mapping = {"type": "object", "additionalProperties": False, "required": ["output"],
               "description": "One ID mapping: input IDs input..input+count-1 (or ..last) go to "
                              "output_base.. at the output node. The table's 'number of IDs "
                              "minus one' is computed.",
               "properties": {
                   "input": s.integer(32, "First input ID (InputBase); default 0."),
                   "count": s.integer(32, "How many IDs the range covers (the table stores "
                                      "count - 1).", minimum=1, extra=1),
                   "last": s.integer(32, "Last input ID of the range, inclusive (instead of "
                                     "count)."),
                   "output": s.reference(32, "Output node (Output Reference)."),
                   "output_base": s.integer(32, "Output ID for the input ID 'input' (default: "
                                            "the same as input, an identity mapping)."),
                   "single": {"type": "boolean", "description": "Single mapping (flags bit 0): "
                              "output_base is the node's own ID towards 'output' (its MSI "
                              "DeviceID); input/count are then ignored by Linux."},
                   "flags": s.integer(32, "The whole Flags word, for tables with reserved bits "
                                      "set (bit 0 = single)."),
               }}
    iommu_map = s.iommu_map_entry("SMMU node name.", "StreamID for rid_base.",
                                  "Number of RIDs (exclusive length, as in iommu-map).", extra=1)
    custom: dict[str, dict] = {
        "mappings": {"type": "array", "items": mapping, "description": DOCS["mappings"]},
        "iommu_map": {"type": "array", "description": DOCS["iommu_map"], "items": iommu_map},
        "bypass_to": {"type": "string", "description": DOCS["bypass_to"]},
        "flags_word": {"type": "boolean", "description": DOCS["flags_word"]},
    }
    common: dict[str, dict] = {
        "name": s.name(DOCS["name"]),
        "revision": s.integer(8, DOCS["revision"]),
        "identifier": s.integer(32, DOCS["identifier"]),
        "mappings": custom["mappings"],
        "mapping_offset": s.integer(32, DOCS["mapping_offset"]),
        "length": s.integer(16, DOCS["length"]),
        "gaps": s.gaps(DOCS["gaps"]),
        "reserved": s.reserved_bytes(DOCS["reserved"]),
        "data": s.hex_bytes(DOCS["data"]),
    }
    nodes = s.declared_nodes(NODE_TYPES.values(), common, DOCS, custom, "One IORT node.")
    return s.header(
        SPEC, "Table revision: 0 (issue D layout), 3 (E.b), 5 (E.d), 6 (E.e/E.f) or 7 (E.g); "
        "default 0. 1, 2 and 4 need allow_deprecated_revision.", "acpitables IORT description",
        "An Arm IO Remapping Table: ITS groups, SMMUs, root complexes, named components, PMCGs, "
        "RMRs and IWBs, and the ID mappings between them, in table order. Layout (counts, "
        "offsets, lengths, padding) is computed unless given.",
        {"nodes": {"type": "array", "description": "The nodes in table order.", "items": nodes}},
        before={"allow_deprecated_revision": {
            "type": "boolean", "description": "Build a table revision iasl and edk2 refuse "
            "(1 = E, 2 = E.a, 4 = E.c) or one above 7; decode writes it for such tables."}})


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
    dialect=DIALECT,
    schema_doc=schema_doc,
)
