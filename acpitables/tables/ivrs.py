"""acpitables: ivrs.py -- the IVRS (AMD I/O Virtualization Reporting Structure).

Layout after the AMD IOMMU specification as ACPICA (actbl2.h,
ACPI_TABLE_IVRS / ACPI_IVRS_*) and Linux (drivers/iommu/amd/init.c)
declare it; docs/ivrs.md has the layout, Linux's rules and the corpus
statistics. The header holds the IVinfo word, not a subtable count:
subtables (type u8, flags u8, length u16) run to the table's Length. An
IVHD block (types 10h, 11h, 40h) ends in a stream of device entries whose
size the type code gives (4 or 8 bytes; the ACPI HID entry 22 + its UID
length) -- a StreamKind each; IVMD blocks are fixed. Unknown subtable types
(0x51 in real Lenovo tables) stay raw.
"""
from __future__ import annotations

from typing import Any

from ..engine.fields import Bytes, Default, Int8ul, Int16ul, Int32ul, Int64ul, Struct

from ..engine import description as d
from ..engine.checks import Findings, rule
from ..engine.flags import FlagSet
from ..engine.nodes import NodeKind, since
from ..engine.pci import BdfError, format_bdf, parse_bdf
from ..engine.roles import Role, RoleKind
from ..engine.streams import REST, Element, Stream, StreamKind, refuse_unwalked
from ..engine.table import Dialect, IaslText, Node, Table, TableSpec, node_label
from ..engine.yamlio import Flow, Hex
from ..errors import Diagnostic, TableError

IVINFO = FlagSet(("efr_sup", 0x1, "EFRSup"), ("dma_remap", 0x2, "DMA remap support"),
                 ("gva_size", 0xE0, "GVA size"), ("pa_size", 0x7F00, "PA size"),
                 ("va_size", 0x3F8000, "VA size"), ("ht_ats_reserved", 0x400000,
                                                   "HT ATS reserved"), width=32)
IVRS_HEADER = Struct(
    "info" / Int32ul * "Virtualization Info",
    "reserved" / Default(Bytes(8), bytes(8)) * "Reserved",
)

NODE_HEADER = Struct("type" / Int8ul * "Subtable Type", "flags" / Int8ul * "Flags",
                     "length" / Int16ul * "Length")

IVHD_FLAGS = FlagSet(("ht_tun_en", 0x1, "HtTunEn"), ("pass_pw", 0x2, "PassPW"),
                     ("res_pass_pw", 0x4, "ResPassPW"), ("isoc", 0x8, "Isoc Control"),
                     ("iotlb_sup", 0x10, "Iotlb Support"), ("coherent", 0x20, "Coherent"),
                     ("pref_sup", 0x40, "Prefetch Support"), ("ppr_sup", 0x80, "PPR Support"),
                     width=8)
IVMD_FLAGS = FlagSet(("unity", 0x1, "Unity"), ("read", 0x2, "Readable"),
                     ("write", 0x4, "Writeable"), ("exclusion", 0x8, "Exclusion Range"),
                     width=8)
IVHD_INFO = FlagSet(("msi_number", 0x1F, "MSI Number"), ("unit_id", 0x1F00, "UnitID"),
                    width=16)
SETTINGS = FlagSet(("init_pass", 0x1, "INITPass"), ("eint_pass", 0x2, "EIntPass"),
                   ("nmi_pass", 0x4, "NMIPass"), ("sys_mgt", 0x30, "SysMgt"),
                   ("lint0_pass", 0x40, "Lint0Pass"), ("lint1_pass", 0x80, "Lint1Pass"),
                   width=8)

# --- device entries (ACPI_IVRS_DEVICE4 / 8A / 8B / 8C / HID) ----------------

PAD4, ALL, SELECT, START, END = 0, 1, 2, 3, 4
PAD8, ALIAS_SELECT, ALIAS_START, EXT_SELECT, EXT_START, SPECIAL = 0x40, 0x42, 0x43, 0x46, 0x47, 0x48
HID = 0xF0
HID_FIXED = 22

_HEAD = ("type" / Int8ul * "Entry Type", "device_id" / Int16ul * "Device ID",
         "data_setting" / Int8ul * "Data Setting (decoded below)")
DEV4 = Struct(*_HEAD)
DEV8_PAD = Struct(*_HEAD, "reserved" / Default(Bytes(4), bytes(4)) * "Reserved")
DEV8_ALIAS = Struct(*_HEAD, "reserved1" / Default(Bytes(1), b"\0") * "Reserved",
                    "used_id" / Int16ul * "Source Used Device ID",
                    "reserved2" / Default(Bytes(1), b"\0") * "Reserved")
DEV8_EXT = Struct(*_HEAD, "extended_data" / Int32ul * "Extended Data")
DEV8_SPECIAL = Struct(*_HEAD, "handle" / Int8ul * "Handle",
                      "used_id" / Int16ul * "Source Used Device ID",
                      "variety" / Int8ul * "Variety")
DEV_HID = Struct(*_HEAD, "hid" / Bytes(8) * "ACPI HID", "cid" / Bytes(8) * "ACPI CID",
                 "uid_format" / Int8ul * "UID Format", "uid_length" / Int8ul * "UID Length")
ENTRY_FLAGS = {"data_setting": SETTINGS}


def _entry_size(blob: bytes, off: int, end: int) -> int | None:
    """Linux ivhd_entry_length: below 80h the top two type bits give 4 << n
    bytes; F0h is 22 + its UID length; other types have no size Linux (or
    this tool) can tell."""
    code = blob[off]
    if code < 0x80:
        return 4 << (code >> 6)
    if code == HID and off + HID_FIXED <= end:
        return HID_FIXED + blob[off + HID_FIXED - 1]
    return None


def _entry(code: int, kind: str, label: str, struct: Struct, **kw: Any) -> Element:
    return Element(code, kind, label, struct, flags=ENTRY_FLAGS, **kw)


ENTRIES = Stream("devices", "Device Entry", [
    _entry(PAD4, "pad4", "Padding (4 bytes)", DEV4),
    _entry(ALL, "all", "All devices", DEV4),
    _entry(SELECT, "select", "Select", DEV4),
    _entry(START, "range_start", "Range Start", DEV4),
    _entry(END, "range_end", "Range End", DEV4),
    _entry(PAD8, "pad8", "Padding (8 bytes)", DEV8_PAD),
    _entry(ALIAS_SELECT, "alias_select", "Alias Select", DEV8_ALIAS),
    _entry(ALIAS_START, "alias_range_start", "Alias Range Start", DEV8_ALIAS),
    _entry(EXT_SELECT, "ext_select", "Extended Select", DEV8_EXT),
    _entry(EXT_START, "ext_range_start", "Extended Range Start", DEV8_EXT),
    _entry(SPECIAL, "special", "Special Device", DEV8_SPECIAL),
    _entry(HID, "acpi_hid", "ACPI HID Device", DEV_HID, tail="uid", count_field="uid_length"),
], _entry_size)

# --- subtables -----------------------------------------------------------------

IVHD_10, IVHD_11, IVHD_40 = 0x10, 0x11, 0x40
IVMD_ALL, IVMD_SELECT, IVMD_RANGE = 0x20, 0x21, 0x22
IVHD_TYPES = (IVHD_10, IVHD_11, IVHD_40)

IVHD_COMMON = [
    since(0, "device_id" / Int16ul * "DeviceId"),
    since(0, "capability_offset" / Int16ul * "Capability Offset"),
    since(0, "base_address" / Int64ul * "Base Address"),
    since(0, "pci_segment_group" / Int16ul * "PCI Segment Group"),
    since(0, "info" / Int16ul * "Virtualization Info (decoded below)"),
]
IVHD_EFR = [
    since(0, "attributes" / Int32ul * "Attributes"),
    since(0, "efr_register_image" / Int64ul * "EFR Image"),
    since(0, "efr2_register_image" / Int64ul * "EFR2 Image"),
]
UNIT_ROLE = Role(RoleKind.IOMMU, match="device_entries")


def _hex(name: str, value: int) -> Any:
    return Hex(value)


def _ivhd(code: int, kind: str, label: str, fixed: list, source: str) -> StreamKind:
    return StreamKind(code, kind, label, header=NODE_HEADER, fixed=IVHD_COMMON + fixed,
                      flags={"flags": IVHD_FLAGS, "info": IVHD_INFO}, prefix="ivhd",
                      role=UNIT_ROLE, source=source, describe_int=_hex, stream=ENTRIES,
                      keys=("device",))


def _ivmd(code: int, kind: str, label: str) -> NodeKind:
    return NodeKind(code, kind, label, header=NODE_HEADER, fixed=[
        since(0, "device_id" / Int16ul * "DeviceId"),
        since(0, "aux_data" / Int16ul * "Auxiliary Data"),
        since(0, "reserved" / Default(Bytes(8), bytes(8)) * "Reserved"),
        since(0, "start_address" / Int64ul * "Start Address"),
        since(0, "memory_length" / Int64ul * "Memory Length"),
    ], flags={"flags": IVMD_FLAGS}, prefix="ivmd", role=Role(RoleKind.OTHER),
        source="AMD IOMMU IVMD; Linux init_unity_map_range", describe_int=_hex,
        keys=("device", "last_device"))


NODE_TYPES: dict[int, NodeKind] = {t.code: t for t in [
    _ivhd(IVHD_10, "ivhd_10h", "I/O Virtualization Hardware Definition (10h)", [
        since(0, "feature_reporting" / Int32ul * "Feature Reporting"),
    ], "AMD IOMMU IVHD type 10h; Linux init_iommu_one"),
    _ivhd(IVHD_11, "ivhd_11h", "I/O Virtualization Hardware Definition (11h)", IVHD_EFR,
          "AMD IOMMU IVHD type 11h; Linux init_iommu_one"),
    _ivhd(IVHD_40, "ivhd_40h", "I/O Virtualization Hardware Definition (40h)", IVHD_EFR,
          "AMD IOMMU IVHD type 40h; Linux init_iommu_one"),
    _ivmd(IVMD_ALL, "ivmd_all", "I/O Virtualization Memory Definition (all devices)"),
    _ivmd(IVMD_SELECT, "ivmd_select", "I/O Virtualization Memory Definition (one device)"),
    _ivmd(IVMD_RANGE, "ivmd_range", "I/O Virtualization Memory Definition (device range)"),
]}
BY_KIND = {t.kind: t for t in NODE_TYPES.values()}
HEADER_FLAGS = {"info": IVINFO}


# --- Linux's choice of IVHD type ------------------------------------------------

def chosen_ivhd_type(table: Table) -> int | None:
    """Linux get_highest_supported_ivhd_type: from the first subtable on,
    while the type is <= 40h, the type of the last subtable whose DeviceId
    equals the first one's. One type for the whole system."""
    if not table.nodes:
        return None
    first = _device_id(table.nodes[0])
    last = table.nodes[0].type
    for node in table.nodes:
        if node.type > IVHD_40:
            break
        if _device_id(node) == first:
            last = node.type
    return last


def _device_id(node: Node) -> int | None:
    if not node.raw:
        return node.fields.get("device_id")
    data = node.fields.get("data") or b""
    return int.from_bytes(data[4:6], "little") if len(data) >= 6 else None


def units(table: Table) -> list[Node]:
    """The IVHD blocks Linux initialises an IOMMU from: every block of the
    chosen type (init_iommu_all), none when the choice is no IVHD type."""
    chosen = chosen_ivhd_type(table)
    if chosen not in IVHD_TYPES:
        return []
    return [n for n in table.nodes if n.type == chosen and not n.raw]


def has_ivhd(table: Table) -> bool:
    """Whether any subtable has an IVHD type (init_iommu_all goes by the type
    byte: a block kept raw here still is one to Linux)."""
    return any(n.type in IVHD_TYPES for n in table.nodes)


def chosen_blocks(table: Table) -> list[Node]:
    """Every subtable of the chosen IVHD type, raw ones too: what
    init_iommu_all hands to init_iommu_one."""
    chosen = chosen_ivhd_type(table)
    return [n for n in table.nodes if n.type == chosen] if chosen in IVHD_TYPES else []


def takes_hid_entries(node: Node) -> bool:
    """Linux init_iommu_from_acpi honours ACPI HID entries in 40h blocks only."""
    return node.type == IVHD_40


def last_devid(node: Node) -> int:
    """Linux find_last_devid_from_ivhd for one block: ALL -> 0xFFFF, else the
    highest SELECT / RANGE END / ALIAS SELECT / EXT SELECT device ID."""
    last = 0
    for e in node.fields.get("devices") or ():
        code = e["type"]
        if code == ALL:
            last = 0xFFFF
        elif code in (SELECT, END, ALIAS_SELECT, EXT_SELECT) and "data" not in e:
            last = max(last, e["device_id"])
    return last


# --- what makes Linux use no AMD IOMMU at all -------------------------------------
# early_amd_iommu_init (drivers/iommu/amd/init.c) fails, or never returns,
# on these; the state machine then ends in IOMMU_INIT_ERROR and no device
# is translated (each does direct DMA). The mapper answers MapError with
# linux_refusal's reason; check() reports each as an error finding.

SELECTING = (ALL, SELECT, END, ALIAS_SELECT, EXT_SELECT)  # find_last_devid_from_ivhd's types


def checksum_wrong(table: Table) -> bool:
    """Whether the table's bytes do not sum to zero (check_ivrs_checksum).
    A decoded table keeps the checksum it was found with; building it back
    gives the right one (a compiled table has none: building computes it)."""
    if table.checksum is None:
        return False
    from ..engine.table import TableError, encode_table  # noqa: PLC0415 -- cycle via SPEC
    try:
        right = encode_table(table, SPEC)[9]
    except TableError:
        return False
    return right != table.checksum


def selects_no_id(node: Node) -> bool:
    """find_last_devid_from_ivhd (Linux 6.0+) starts at -EINVAL and only an
    ALL, SELECT, RANGE END, ALIAS SELECT or EXTENDED SELECT entry raises it:
    a block without one makes find_last_devid_acpi fail, so alloc_pci_segment
    returns NULL and init_iommu_one -ENOMEM."""
    return not any(e["type"] in SELECTING and "data" not in e
                   for e in node.fields.get("devices") or ())


def _trailing_walk(trailing: bytes) -> str | None:
    """What Linux's subtable walk (p += h->length) does in bytes after the
    last subtable: never advances (Length 0), or reads a header past the
    table end; None when it lands on the end."""
    off = 0
    while off < len(trailing):
        if off + 4 > len(trailing):
            return "reads a subtable header past the table end"
        length = int.from_bytes(trailing[off + 2:off + 4], "little")
        if length == 0:
            return "meets a subtable Length of 0 and never advances (the boot hangs)"
        off += length
    return None


def _unit_trouble(node: Node) -> str | None:
    rest = node.fields.get(REST) or b""
    if node.length_override is not None:
        return (f"{node.name} (type {node.type:02X}h) runs past the table end (Length "
                f"{node.length_override}): Linux reads its device entries from the memory "
                "after the IVRS")
    if node.raw:
        return (f"{node.name} (type {node.type:02X}h) cannot be decoded, yet Linux reads it "
                "as an IVHD block: what it selects is not in the table's terms")
    if rest and rest[0] >= 0x80 and rest[0] != HID:
        return (f"{node.name} has a device entry of type 0x{rest[0]:02X}, whose size "
                "ivhd_entry_length gives as 0: Linux's entry walk never advances (the boot "
                "hangs)")
    if rest:
        return (f"{node.name}'s last device entry runs past the block end: Linux reads it "
                "from the bytes that follow")
    for e in node.fields.get("devices") or ():
        if e["type"] == SPECIAL and "data" not in e and e["variety"] not in (1, 2):
            return (f"{node.name} has a special entry of variety {e['variety']}: "
                    "add_special_device gives -EINVAL, init_iommu_from_acpi fails and Linux "
                    "uses no AMD IOMMU")
    if selects_no_id(node):
        return (f"{node.name} has no ALL, SELECT, RANGE END, ALIAS SELECT or EXTENDED SELECT "
                "entry: find_last_devid_from_ivhd gives -EINVAL, alloc_pci_segment fails and "
                "Linux uses no AMD IOMMU")
    return None


def linux_refusal(table: Table) -> str | None:
    """Why Linux's AMD IOMMU driver uses no IOMMU at all with this table,
    in the order early_amd_iommu_init meets it, or None."""
    if checksum_wrong(table):
        return "wrong checksum: Linux refuses the IVRS ('IVRS invalid checksum', " \
               "check_ivrs_checksum) and uses no AMD IOMMU"
    if not has_ivhd(table):
        return "no IVHD block: Linux finds no AMD IOMMU"
    chosen = chosen_ivhd_type(table)
    if chosen not in IVHD_TYPES:
        return (f"Linux picks subtable type 0x{chosen:02X}, no IVHD type "
                "(get_highest_supported_ivhd_type): init_iommu_one fails and no AMD IOMMU "
                "is used")
    if table.trailing:
        why = _trailing_walk(table.trailing)
        if why is not None:
            return f"after the last subtable Linux's IVRS walk {why}"
    for node in chosen_blocks(table):
        why = _unit_trouble(node)
        if why is not None:
            return why
    return None


# --- names for decoded nodes ------------------------------------------------------

def name_nodes(table: Table) -> None:
    """IVHD blocks are named by IOMMU (its segment and DeviceId, in order of
    first appearance) and type: iommu0_40h; IVMDs ivmd0...; raw node0..."""
    iommus: dict[tuple, int] = {}
    counters: dict[str, int] = {}
    for node in table.nodes:
        if node.type in IVHD_TYPES and not node.raw:
            key = (node.fields["pci_segment_group"], node.fields["device_id"])
            index = iommus.setdefault(key, len(iommus))
            node.name = f"iommu{index}_{node.type:02x}h"
            continue
        stem = "ivmd" if node.type in NODE_TYPES and not node.raw else "node"
        node.name = f"{stem}{counters.get(stem, 0)}"
        counters[stem] = counters.get(stem, 0) + 1
    seen: dict[str, int] = {}
    for node in table.nodes:  # two blocks of one type for one IOMMU: keep names unique
        if node.name in seen:
            seen[node.name] += 1
            node.name = f"{node.name}_{seen[node.name]}"
        else:
            seen[node.name] = 0


# --- checks: named rules, shared by decode (findings) and build ---------------

R = rule
RESERVED = R("IVRS-RESERVED", "warning", "AMD IOMMU IVRS", "Reserved bytes are not zero")
NO_IVHD = R("IVRS-NO-IVHD", "error", "Linux init_iommu_all", "No IVHD block: no AMD IOMMU")
CHOSEN_IVMD = R("IVRS-CHOSEN-NOT-IVHD", "error", "Linux get_highest_supported_ivhd_type",
                "Linux's IVHD type choice lands on an IVMD (a later IVMD with the first "
                "IVHD's DeviceId): no IOMMU initialises")
NOT_USED = R("IVRS-IOMMU-NOT-USED", "warning", "Linux init_iommu_all",
             "IOMMU described only by IVHD types other than the one Linux picks (not used)")
SCAN_STOP = R("IVRS-SCAN-STOPPED", "warning", "Linux get_highest_supported_ivhd_type",
              "Subtable of a type above 40h before IVHD blocks: Linux's type choice stops there")
STOPPED = R("IVRS-ZERO-LENGTH", "error", "Linux init_iommu_all",
            "Subtable length below 4: Linux's walk never advances (hangs) or stops")
UNWALKABLE = R("IVRS-ENTRY-UNWALKABLE", "error", "Linux ivhd_entry_length",
               "Device entry of a type >= 80h other than F0h, or one past the block end: "
               "Linux cannot walk on")
ENTRY_TYPE = R("IVRS-ENTRY-TYPE", "warning", "Linux init_iommu_from_acpi",
               "Device entry of a reserved type (Linux ignores it)")
HID_TYPE = R("IVRS-HID-OUTSIDE-40H", "warning", "Linux init_iommu_from_acpi (FW_BUG)",
             "ACPI HID entry in an IVHD block other than 40h (Linux skips it)")
HID_EMPTY = R("IVRS-HID-EMPTY", "warning", "Linux init_iommu_from_acpi (FW_BUG)",
              "ACPI HID entry with an empty HID (Linux skips it)")
UID_FORMAT = R("IVRS-UID-FORMAT", "warning", "Linux init_iommu_from_acpi (FW_BUG)",
               "UID format 0 (none) with a UID length, or an unknown UID format")
UID_INTEGER = R("IVRS-UID-INTEGER-LENGTH", "note", "Linux init_iommu_from_acpi",
                "Integer UID longer than one byte: Linux reads only the first byte")
RANGE_END = R("IVRS-RANGE-END-ALONE", "warning", "Linux init_iommu_from_acpi",
              "RANGE END without a range start in its block (Linux uses a stale start)")
RANGE_OPEN = R("IVRS-RANGE-UNCLOSED", "warning", "Linux init_iommu_from_acpi",
               "Range start not closed by a RANGE END before the next start or the block end")
RANGE_INVERTED = R("IVRS-RANGE-INVERTED", "warning", "Linux init_iommu_from_acpi",
                   "RANGE END below its start (Linux sets no device)")
PAST_LAST = R("IVRS-ID-PAST-LAST", "warning", "Linux find_last_devid_acpi",
              "Alias, special or ACPI HID device ID above the highest selected ID: Linux "
              "sizes its tables by the latter")
EFR_MISMATCH = R("IVRS-EFR-MISMATCH", "warning", "Linux get_global_efr (FW_BUG)",
                 "EFR images differ between IOMMUs")
IVMD_INVERTED = R("IVRS-IVMD-RANGE", "warning", "AMD IOMMU IVMD type 22h",
               "IVMD range whose last device ID is below its first")
SPECIAL_VARIETY = R("IVRS-SPECIAL-VARIETY", "warning", "AMD IOMMU IVHD special entry",
                    "Special entry variety other than 1 (IOAPIC) or 2 (HPET)")
CHECKSUM = R("IVRS-CHECKSUM", "error", "Linux check_ivrs_checksum (FW_BUG)",
             "Wrong checksum: Linux's AMD IOMMU driver refuses the IVRS (no AMD IOMMU)")
NO_SELECTED_ID = R("IVRS-NO-SELECTED-ID", "error",
                   "Linux find_last_devid_from_ivhd, alloc_pci_segment",
                   "IVHD block of the chosen type with no ALL, SELECT, RANGE END, ALIAS SELECT "
                   "or EXTENDED SELECT entry: Linux (6.0+) uses no AMD IOMMU")
SPECIAL_FATAL = R("IVRS-SPECIAL-VARIETY-FATAL", "error", "Linux add_special_device",
                  "Special entry variety other than 1 (IOAPIC) or 2 (HPET) in a block of the "
                  "chosen type: -EINVAL from init_iommu_from_acpi, Linux uses no AMD IOMMU")
UNIT_TRUNCATED = R("IVRS-IVHD-PAST-END", "error", "Linux init_iommu_all (WARN_ON)",
                   "IVHD block of the chosen type running past the table end: Linux reads "
                   "device entries from the memory after the IVRS")


def _entry_at(node: Node, index: int) -> int | None:
    if node.offset is None:
        return None
    kind = NODE_TYPES[node.type]
    off = node.offset + kind.fixed_bytes(0)
    for e in (node.fields.get("devices") or ())[:index]:
        off += ENTRIES.elem_size(e)
    return off


def check(table: Table) -> list[Diagnostic]:
    out = Findings()

    def at(rule_: Any, node: Node, index: int, message: str) -> None:
        out.append(rule_(message, offset=_entry_at(node, index), node=node.name,
                         field=f"devices.{index}"))

    if any(table.fields.get("reserved", b"")):
        out.append(RESERVED(f"header reserved bytes are not zero "
                            f"({table.fields['reserved'].hex()})", offset=40, field="reserved"))
    if table.trailing:
        out.append(STOPPED(f"{len(table.trailing)} bytes at the end are no subtable (a length "
                           "below 4): Linux's walk does not advance past them"))
    ivhds = [n for n in table.nodes if n.type in IVHD_TYPES and not n.raw]
    if not has_ivhd(table):
        out.append(NO_IVHD("no IVHD block: Linux finds no AMD IOMMU", offset=48))
    chosen = chosen_ivhd_type(table)
    if has_ivhd(table) and chosen not in IVHD_TYPES:
        out.append(CHOSEN_IVMD(f"Linux picks subtable type 0x{chosen:02X} (the last one with "
                               "the first subtable's DeviceId); no IOMMU is initialised",
                               offset=48))
    scanned = True
    for node in table.nodes:
        if node.type > IVHD_40:
            if any(n.type in IVHD_TYPES for n in table.nodes[table.nodes.index(node):]):
                out.add(SCAN_STOP, node, "type", f"type 0x{node.type:02X} before further IVHD "
                        "blocks: Linux's type choice does not look past it")
            break
    del scanned
    if chosen in IVHD_TYPES:
        used = {(n.fields["pci_segment_group"], n.fields["device_id"]) for n in ivhds
                if n.type == chosen}
        for node in ivhds:
            key = (node.fields["pci_segment_group"], node.fields["device_id"])
            if key not in used:
                out.add(NOT_USED, node, "type", f"IOMMU {format_bdf(key[1], key[0])} has no "
                        f"type {chosen:02X}h block; Linux uses only those and ignores it")
                used.add(key)
        efrs = {(n.fields["efr_register_image"], n.fields["efr2_register_image"])
                for n in ivhds if n.type == chosen and n.type != IVHD_10}
        if len(efrs) > 1:
            out.add(EFR_MISMATCH, [n for n in ivhds if n.type == chosen][-1],
                    "efr_register_image", "the IOMMUs' EFR images differ; Linux reports "
                    "'Found inconsistent EFR/EFR2'")
    chosen_units = units(table)
    for node in table.nodes:
        if node.raw:
            continue
        f = node.fields
        if any(f.get("reserved", b"")):
            out.add(RESERVED, node, "reserved", f"reserved bytes are not zero "
                    f"({f['reserved'].hex()})")
        if node.type == IVMD_RANGE and f["aux_data"] < f["device_id"]:
            out.add(IVMD_INVERTED, node, "aux_data", f"device range {format_bdf(f['device_id'])}"
                    f"..{format_bdf(f['aux_data'])} is inverted")
        if node.type not in IVHD_TYPES:
            continue
        if f.get(REST):
            out.add(UNWALKABLE, node, REST, f"{len(f[REST])} bytes after the last device entry "
                    f"cannot be walked (entry type 0x{f[REST][0]:02X})")
        _check_entries(node, at, any(node is u for u in chosen_units))
    _check_refusals(table, out)
    return list(out)


def _check_refusals(table: Table, out: Findings) -> None:
    """The findings of linux_refusal's conditions that no rule above reports."""
    if checksum_wrong(table):
        out.append(CHECKSUM(f"checksum 0x{table.checksum:02X} is wrong: Linux reports 'IVRS "
                            "invalid checksum' and uses no AMD IOMMU", offset=9,
                            field="checksum"))
    for node in chosen_blocks(table):
        if node.length_override is not None:
            out.add(UNIT_TRUNCATED, node, "length", f"Length {node.length_override} runs past "
                    "the table end; Linux reads the rest of the block from beyond it")
        if not node.raw and selects_no_id(node):
            out.add(NO_SELECTED_ID, node, "devices", "no entry selects a device ID: Linux's "
                    "find_last_devid_from_ivhd gives -EINVAL and no AMD IOMMU is used")


def _check_entries(node: Node, at: Any, chosen: bool = False) -> None:
    entries = node.fields.get("devices") or []
    last = last_devid(node)
    start: int | None = None
    for i, e in enumerate(entries):
        code = e["type"]
        if "data" in e:
            at(ENTRY_TYPE, node, i, f"device entry type 0x{code:02X} is reserved; Linux "
               "ignores it")
            continue
        for key in ("reserved", "reserved1", "reserved2"):
            if any(e.get(key, b"")):
                at(RESERVED, node, i, f"{key} of a {ENTRIES.kinds[code].label} entry is not "
                   "zero")
        if code in (START, ALIAS_START, EXT_START):
            if start is not None:
                at(RANGE_OPEN, node, i - 1 if i else i, "a range start is replaced by the "
                   "next one before a RANGE END")
            start = e["device_id"]
        elif code == END:
            if start is None:
                at(RANGE_END, node, i, "RANGE END without a start entry before it")
            elif e["device_id"] < start:
                at(RANGE_INVERTED, node, i, f"range {format_bdf(start)}.."
                   f"{format_bdf(e['device_id'])} is inverted")
            start = None
        if code in (ALIAS_SELECT, ALIAS_START) and e["used_id"] > last:
            at(PAST_LAST, node, i, f"alias {format_bdf(e['used_id'])} is above the highest "
               f"selected device ID {format_bdf(last)}")
        if code in (SPECIAL, HID) and e.get("used_id", e["device_id"]) > last:
            ident = e.get("used_id", e["device_id"])
            at(PAST_LAST, node, i, f"device ID {format_bdf(ident)} is above the highest "
               f"selected device ID {format_bdf(last)}")
        if code == SPECIAL and e["variety"] not in (1, 2):
            if chosen:
                at(SPECIAL_FATAL, node, i, f"special entry variety {e['variety']}: Linux's "
                   "add_special_device gives -EINVAL and no AMD IOMMU is used")
            else:
                at(SPECIAL_VARIETY, node, i, f"special entry variety {e['variety']}")
        if code == HID:
            if node.type != IVHD_40:
                at(HID_TYPE, node, i, f"ACPI HID entry in a type {node.type:02X}h block; Linux "
                   "reports 'Invalid IVHD device type 0xf0' and skips it")
            if not e["hid"][:1].strip(b"\0"):   # Linux tests the first byte only
                at(HID_EMPTY, node, i, "empty ACPI HID; Linux reports 'Invalid HID.'")
            fmt, uid = e["uid_format"], e.get("uid") or b""
            if (fmt == 0 and uid) or fmt > 2:
                at(UID_FORMAT, node, i, f"UID format {fmt} with {len(uid)} UID bytes")
            elif fmt == 1 and len(uid) > 1:
                at(UID_INTEGER, node, i, f"integer UID of {len(uid)} bytes; Linux reads "
                   f"only the first (UID {uid[0]})")
    if start is not None:
        at(RANGE_OPEN, node, len(entries) - 1, "the last range start has no RANGE END")


# --- description <-> table ---------------------------------------------------

COMMON_KEYS = ("name", "type", "flags", "length", "reserved", "devices", REST, "gaps",
               "device")


def compile_ivrs(desc: dict, p: d.Problems) -> Table:
    table = d.new_table("IVRS", desc, p)
    table.header["revision"] = desc.get("revision", 2)
    table.fields["info"] = IVINFO.compile(desc.get("info", 0), p, ("info",))
    table.fields.setdefault("reserved", bytes(8))
    names: set[str] = set()
    for i, item in enumerate(desc.get("subtables") or []):
        path = ("subtables", i)
        node = _compile_subtable(item, i, p, path)
        if node.name in names:
            p.error(path + ("name",), f"name {node.name!r} is used twice")
        names.add(node.name)
        table.nodes.append(node)
        p.node_paths.setdefault(node.name, path)
    return table


def _bdf(value: Any, p: d.Problems, path: tuple) -> int:
    try:
        seg, rid = parse_bdf(value)
    except BdfError as exc:
        p.error(path, str(exc))
        return 0
    if seg is not None:
        p.error(path, "a device ID has no segment here (the block's pci_segment_group says it)")
    return rid


def _compile_subtable(item: dict, index: int, p: d.Problems, path: tuple) -> Node:
    name = item.get("name") or f"subtables[{index}]"
    kind_name = item.get("type")
    if isinstance(kind_name, int):
        node = d.raw_node(item, p, path)
        node.name = name
        return node
    kind = BY_KIND[str(kind_name)]
    used = set(COMMON_KEYS)
    item = dict(item)
    for key, field in (("device", "device_id"), ("last_device", "aux_data")):
        if key in item and key in kind.keys:
            item[field] = _bdf(item.pop(key), p, path + (key,))
    f: dict = {"flags": kind.flags["flags"].compile(item.get("flags", 0), p, path + ("flags",))}
    f.update(kind.compile_fixed(item, 0, True, p, path, lambda v, w: v, used))
    if isinstance(kind, StreamKind):
        f["devices"] = _compile_entries(item.get("devices") or [], p, path + ("devices",))
    if REST in item:
        f[REST] = d.hex_bytes(item[REST], p, path + (REST,))
    if "length" in item:
        f["length"] = item["length"]
    if "gaps" in item:
        f["gaps"] = [{"offset": g["offset"], "data": d.hex_bytes(g["data"], p,
                                                                 path + ("gaps", j, "data"))}
                     for j, g in enumerate(item["gaps"])]
    for key in item:
        if key not in used and key not in ("device_id", "aux_data"):
            p.error(path + (key,), f"{key!r} is not a field of a {kind.label}", key=True)
    return Node(kind.code, f, name, kind=kind)


# Entry sugar: key -> (start code, end code or None). A two-element value
# of a range key is [first, last]; a range whose END is not next to its
# start is written as the separate *_start / range_end entries.
SINGLE = {"all": ALL, "select": SELECT, "range_start": START, "range_end": END,
          "alias_select": ALIAS_SELECT, "alias_range_start": ALIAS_START,
          "ext_select": EXT_SELECT, "ext_range_start": EXT_START}
RANGES = {"range": START, "alias_range": ALIAS_START, "ext_range": EXT_START}
ENTRY_KEYS = {"settings", "end_settings", "alias", "extended_data", "device", "ioapic", "hpet",
              "special", "variety", "acpi_hid", "cid", "uid", "uid_hex", "uid_format", "pad",
              "type", "data", "device_id"} | set(SINGLE) | set(RANGES)


def _compile_entries(items: list, p: d.Problems, path: tuple) -> list[dict]:
    out: list[dict] = []
    for j, item in enumerate(items):
        where = path + (j,)
        if not isinstance(item, dict):
            p.error(where, "a device entry is a mapping (select: 00:14.0, ...)")
            continue
        for key in item:
            if key not in ENTRY_KEYS:
                p.error(where + (key,), f"{key!r} is not a device entry key", key=True)
        out += _compile_entry(item, p, where)
    return out


def _settings(item: dict, key: str, p: d.Problems, path: tuple) -> int:
    return SETTINGS.compile(item.get(key, 0), p, path + (key,))


def _compile_entry(item: dict, p: d.Problems, path: tuple) -> list[dict]:
    if "data" in item:
        raw = d.hex_bytes(item["data"], p, path + ("data",))
        if not raw or item.get("type", raw[:1][0] if raw else 0) != raw[0]:
            p.error(path + ("data",), "a raw entry's data starts with its type byte")
            return []
        return [{"type": raw[0], "data": raw}]
    settings = _settings(item, "settings", p, path)
    head = lambda code, dev: {"type": code, "device_id": dev, "data_setting": settings}  # noqa: E731
    if "pad" in item:
        if item["pad"] not in (4, 8):
            p.error(path + ("pad",), "padding entries are 4 or 8 bytes")
        e = head(PAD8 if item["pad"] == 8 else PAD4, 0)
        return [dict(e, reserved=bytes(4)) if e["type"] == PAD8 else e]
    for key, code in RANGES.items():
        if key in item:
            span = item[key]
            if not isinstance(span, list) or len(span) != 2:
                p.error(path + (key,), "a range is [first, last]")
                return []
            first = _bdf(span[0], p, path + (key, 0))
            last = _bdf(span[1], p, path + (key, 1))
            start = _extend(head(code, first), item, p, path)
            end = {"type": END, "device_id": last,
                   "data_setting": _settings(item, "end_settings", p, path)}
            return [start, end]
    for key, code in SINGLE.items():
        if key in item:
            value = item[key]
            dev = 0 if value is True else _bdf(value, p, path + (key,))
            return [_extend(head(code, dev), item, p, path)]
    for key, variety in (("ioapic", 1), ("hpet", 2), ("special", None)):
        if key in item:
            return [{**head(SPECIAL, item.get("device_id", 0)), "handle": item[key],
                     "used_id": _bdf(item.get("device", 0), p, path + ("device",)),
                     "variety": variety if variety is not None else item.get("variety", 0)}]
    if "acpi_hid" in item:
        e = head(HID, _bdf(item.get("device", 0), p, path + ("device",)))
        e["hid"] = _id8(item["acpi_hid"], p, path + ("acpi_hid",))
        e["cid"] = _id8(item.get("cid", ""), p, path + ("cid",))
        if "uid" in item:
            uid = str(item["uid"]).encode("latin-1", "replace")
            fmt = 2
        elif "uid_hex" in item:
            uid, fmt = d.hex_bytes(item["uid_hex"], p, path + ("uid_hex",)), 1
        else:
            uid, fmt = b"", 0
        e["uid_format"] = item.get("uid_format", fmt)
        if len(uid) > 0xFF:
            p.error(path, "a UID holds at most 255 bytes")
            uid = uid[:0xFF]
        e["uid"] = uid
        return [e]
    p.error(path, "a device entry needs one of: " + ", ".join(
        [*SINGLE, *RANGES, "ioapic", "hpet", "special", "acpi_hid", "pad", "data"]))
    return []


def _extend(e: dict, item: dict, p: d.Problems, path: tuple) -> dict:
    code = e["type"]
    if code in (ALIAS_SELECT, ALIAS_START):
        e.update(reserved1=b"\0", reserved2=b"\0",
                 used_id=_bdf(item.get("alias", 0), p, path + ("alias",)))
    elif code in (EXT_SELECT, EXT_START):
        e["extended_data"] = item.get("extended_data", 0)
    return e


def _id8(value: Any, p: d.Problems, path: tuple) -> bytes:
    """An 8-byte HID/CID: a string of at most 8 characters (NUL-padded) or
    hex bytes written 'hex:...'."""
    text = str(value)
    if text.startswith("hex:"):
        raw = d.hex_bytes(text[4:], p, path)
    else:
        raw = text.encode("latin-1", "replace")
    if len(raw) > 8:
        p.error(path, f"{text!r} is longer than 8 bytes")
    return raw[:8].ljust(8, b"\0")


def describe_id8(raw: bytes) -> str:
    text = raw.rstrip(b"\0")
    if all(0x20 <= b < 0x7F for b in text) and not text.startswith(b"hex:"):
        return text.decode()
    return "hex:" + raw.hex()


def describe_ivrs(table: Table) -> dict:
    desc = d.describe_header(table)
    desc.pop("info", None)
    if table.fields.get("info"):
        desc["info"] = IVINFO.describe(table.fields["info"])
    if any(x.severity == "error" for x in check(table)):
        desc["lenient"] = True
    desc["subtables"] = [_describe_subtable(n) for n in table.nodes]
    return desc


def _describe_subtable(node: Node) -> dict:
    if node.raw:
        return d.describe_raw(node)
    kind, f = NODE_TYPES[node.type], node.fields
    item: dict = {"name": node.name, "type": kind.kind}
    if f["flags"]:
        item["flags"] = kind.flags["flags"].describe(f["flags"])
    if node.type in IVHD_TYPES or node.type != IVMD_ALL or f["device_id"]:
        item["device"] = format_bdf(f["device_id"])
    g = dict(f, device_id=0)
    if node.type == IVMD_RANGE:
        item["last_device"] = format_bdf(f["aux_data"])
        g["aux_data"] = 0
    kind.describe_fields(g, item)
    if isinstance(kind, StreamKind):
        item.pop("devices", None)
        entries = _describe_entries(f.get("devices") or [])
        if entries:
            item["devices"] = entries
        if f.get(REST):
            item[REST] = f[REST].hex()
    if "length" in item:
        item["length"] = item.pop("length")
    return item


def _canonical(e: dict) -> bool:
    """Whether the sugar form writes this entry back exactly."""
    return not any(any(e.get(k, b"")) for k in ("reserved", "reserved1", "reserved2", "extra"))


def _describe_entries(entries: list[dict]) -> list[dict]:
    out: list[dict] = []
    i = 0
    while i < len(entries):
        e = entries[i]
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        code = e["type"]
        if "data" in e or not _canonical(e):
            out.append({"type": code, "data": ENTRIES.build_one(e).hex()})
            i += 1
            continue
        item: dict = {}
        if code in (START, ALIAS_START, EXT_START) and nxt is not None and nxt["type"] == END \
                and "data" not in nxt:
            key = {START: "range", ALIAS_START: "alias_range", EXT_START: "ext_range"}[code]
            item[key] = Flow([format_bdf(e["device_id"]), format_bdf(nxt["device_id"])])
            _describe_extension(e, item)
            _put_settings(item, "settings", e["data_setting"])
            _put_settings(item, "end_settings", nxt["data_setting"])
            out.append(item)
            i += 2
            continue
        if code in (PAD4, PAD8) and not e["device_id"] and not e["data_setting"]:
            out.append({"pad": 8 if code == PAD8 else 4})
            i += 1
            continue
        if code == SPECIAL:
            name = {1: "ioapic", 2: "hpet"}.get(e["variety"], "special")
            item[name] = e["handle"]
            item["device"] = format_bdf(e["used_id"])
            if name == "special":
                item["variety"] = e["variety"]
            if e["device_id"]:
                item["device_id"] = Hex(e["device_id"])
        elif code == HID:
            item["acpi_hid"] = describe_id8(e["hid"])
            if any(e["cid"]):
                item["cid"] = describe_id8(e["cid"])
            uid, fmt = e.get("uid") or b"", e["uid_format"]
            text_ok = all(0x20 <= b < 0x7F for b in uid)
            if uid and fmt == 2 and text_ok:
                item["uid"] = uid.decode()
            elif uid:
                item["uid_hex"] = uid.hex()
            default = 2 if "uid" in item else (1 if uid else 0)
            if fmt != default:
                item["uid_format"] = fmt
            item["device"] = format_bdf(e["device_id"])
        elif code in (PAD4, PAD8):
            out.append({"type": code, "data": ENTRIES.build_one(e).hex()})
            i += 1
            continue
        else:
            key = ENTRIES.kinds[code].kind
            item[key] = True if code == ALL and not e["device_id"] else format_bdf(e["device_id"])
            _describe_extension(e, item)
        _put_settings(item, "settings", e["data_setting"])
        out.append(item)
        i += 1
    return out


def _describe_extension(e: dict, item: dict) -> None:
    if e["type"] in (ALIAS_SELECT, ALIAS_START):
        item["alias"] = format_bdf(e["used_id"])
    elif e["type"] in (EXT_SELECT, EXT_START) and e["extended_data"]:
        item["extended_data"] = Hex(e["extended_data"])


def _put_settings(item: dict, key: str, value: int) -> None:
    if value:
        item[key] = SETTINGS.describe(value)


FIELD_KEYS = {"device_id": "device", "aux_data": "last_device"}


def schema_doc() -> dict:
    from ..engine import schema as s  # noqa: PLC0415 -- only the generator needs it

    bdf = {"type": "string", "pattern": r"^[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7]$",
           "description": "A 16-bit device ID as bus:device.function."}
    span = {"type": "array", "minItems": 2, "maxItems": 2, "items": bdf,
            "description": "[first, last] device IDs: a start entry and a RANGE END."}
    settings = SETTINGS.schema("Data setting byte (interrupt pass-through, SysMgt).")
    entry = {"type": "object", "additionalProperties": False, "description":
             "One device entry: one of the kind keys, with its options.",
             "properties": {
                 "all": {"oneOf": [{"const": True}, bdf], "description": "ALL (01h): every "
                         "device ID."},
                 "select": dict(bdf, description="SELECT (02h): one device ID."),
                 "range": dict(span, description="RANGE START (03h) + RANGE END (04h)."),
                 "alias_select": dict(bdf, description="ALIAS SELECT (42h): the device; "
                                      "'alias' is the ID the IOMMU sees."),
                 "alias_range": dict(span, description="ALIAS RANGE START (43h) + RANGE END; "
                                     "'alias' is the ID the IOMMU sees for all of them."),
                 "ext_select": dict(bdf, description="EXTENDED SELECT (46h)."),
                 "ext_range": dict(span, description="EXTENDED RANGE START (47h) + RANGE END."),
                 "range_start": dict(bdf, description="A RANGE START whose END is not next."),
                 "range_end": dict(bdf, description="A RANGE END not right after its start."),
                 "alias_range_start": dict(bdf, description="An ALIAS RANGE START alone."),
                 "ext_range_start": dict(bdf, description="An EXTENDED RANGE START alone."),
                 "alias": dict(bdf, description="Alias device ID (alias entries)."),
                 "extended_data": s.integer(32, "Extended data (extended entries)."),
                 "ioapic": s.integer(8, "SPECIAL (48h), variety IOAPIC: the IOAPIC ID."),
                 "hpet": s.integer(8, "SPECIAL (48h), variety HPET: the HPET number."),
                 "special": s.integer(8, "SPECIAL (48h) of another variety: its handle."),
                 "variety": s.integer(8, "The variety of a 'special' entry."),
                 "device": dict(bdf, description="SPECIAL / ACPI HID: the device ID it uses."),
                 "device_id": s.integer(16, "SPECIAL: the entry's own (unused) DeviceId, when "
                                        "not zero."),
                 "acpi_hid": {"type": "string", "maxLength": 68, "description": "ACPI HID "
                              "(F0h): up to 8 characters, or 'hex:' and 8 bytes."},
                 "cid": {"type": "string", "maxLength": 68, "description": "ACPI CID, as "
                         "acpi_hid (default: zero)."},
                 "uid": {"type": "string", "maxLength": 255, "description": "String UID "
                         "(format 2)."},
                 "uid_hex": s.hex_bytes("UID bytes (format 1: integer; or other formats)."),
                 "uid_format": s.integer(8, "UID format (0 none, 1 integer, 2 string; "
                                         "default from uid / uid_hex)."),
                 "pad": {"enum": [4, 8], "description": "A padding entry (00h or 40h)."},
                 "settings": settings,
                 "end_settings": dict(settings, description="Data setting of the RANGE END "
                                      "entry, when not zero."),
                 "type": s.integer(8, "Type code of a raw entry (with data)."),
                 "data": s.hex_bytes("A raw entry: all its bytes, type byte first."),
             }}
    docs = {
        "name": "Subtable name (decode writes iommu0_40h, ivmd0, ...).",
        "flags": "Subtable flags byte.",
        "device": "DeviceId: the IOMMU's own PCI function (IVHD) or the device (IVMD).",
        "last_device": "IVMD range: the last device ID.",
        "capability_offset": "Offset of the IOMMU capability block in its config space.",
        "base_address": "IOMMU MMIO register base.",
        "pci_segment_group": "PCI segment of the IOMMU and its devices.",
        "info": "IVHD info: MSI number and UnitID.",
        "feature_reporting": "IVHD 10h feature reporting word.",
        "attributes": "IVHD 11h/40h attributes.",
        "efr_register_image": "Copy of the EFR register (MMIO offset 30h).",
        "efr2_register_image": "Copy of the EFR2 register.",
        "start_address": "IVMD start address.", "memory_length": "IVMD length in bytes.",
        "aux_data": "IVMD auxiliary data.",
        "devices": "Device entries, in order.",
    }
    common = {
        "name": s.name(docs["name"]),
        "flags": {"description": "Subtable flags: a mapping of flag names, or the byte.",
                  "oneOf": [s.integer(8), {"type": "object"}]},
        "device": dict(bdf, description=docs["device"]),
        "length": s.integer(16, "Explicit subtable Length (default: computed)."),
        "reserved": {"type": "object", "description": "Reserved fields that are not zero, as "
                     "hex bytes.", "additionalProperties": {"type": "string",
                                                            "pattern": s.HEX_PATTERN}},
        "devices": {"type": "array", "items": entry, "description": docs["devices"]},
        REST: s.hex_bytes("Bytes after the last device entry that cannot be walked (lossless "
                          "escape for broken tables)."),
        "gaps": s.gaps("Non-zero bytes no field covers.", "Subtable offset."),
        "data": s.hex_bytes("All the bytes of a subtable kept raw, its header first."),
    }
    custom = {"last_device": dict(bdf, description=docs["last_device"]),
              "device": common["device"]}
    subtables = s.declared_nodes(NODE_TYPES.values(), common, docs, custom,
                                 "One IVHD or IVMD subtable.")
    return s.header(
        SPEC, "Table revision (1 or 2; default 2).", "acpitables IVRS description",
        "An AMD I/O Virtualization Reporting Structure: IVHD blocks (types 10h, 11h, 40h) "
        "whose device entries select, range and alias 16-bit device IDs, special IOAPIC/HPET "
        "and ACPI HID entries; IVMD memory definitions; in table order.",
        {"subtables": {"type": "array", "description": "The subtables in table order.",
                       "items": subtables}},
        before={"info": IVINFO.schema("IVinfo word.")},
        reserved="The 8 reserved header bytes, when not zero.")


# --- what iasl writes differently (formats/dsl.py reads DIALECT) ---------------
# iasl's IVRS template (ACPICA dmtbinfo2.c AcpiDmTableInfoIvrs*, compiled by
# dttable1.c DtCompileIvrs) is our layout with other labels; the rows come
# from the declarations above, and these are the release facts that change
# them. 20210604 rewrote it: before, a subtable's Flags has no sub-lines,
# device entries start with "Entry Type" and have no Data Setting sub-lines,
# and there is no IVHD type 40h and no ACPI HID entry ("Unknown IVRS
# subtable type"); from then on every entry starts with "Subtable Type",
# the subtable Flags words are built from their sub-lines (DT_FLAG), and a
# type-40h code always opens an IVHD block, so the 8-byte padding entry
# (also 40h) has no source.
IASL_NEW_FORM = 20210604
IASL_LABELS = {"Flags": "Flags (decoded below)", "Entry Type": "Subtable Type", "Uid": "UID",
               "Virtualization Info (decoded below)": "Virtualization Info",
               "EFR2 Image": "Reserved"}  # iasl labels EFR2 Reserved (zeroes a non-zero one)
IASL_OLD_LABELS = {"Flags": "Flags", "Entry Type": "Entry Type",
                   "Data Setting (decoded below)": "Data Setting"}
# Data Setting's sub-lines as iasl names them; a bit no FlagSet field covers
# is iasl's "Reserved" sub-line (bit 3).
IASL_SETTING_LABELS = {"SysMgt": "System MGMT", "Lint0Pass": "LINT0 Pass",
                       "Lint1Pass": "LINT1 Pass"}


def _is_id_integer(text: bytes) -> bool:
    """ACPICA UtIsIdInteger: an ID is an integer unless its first three
    characters are letters (both the disassembler and DtCompileIvrs ask)."""
    return not all(chr(b).isascii() and chr(b).isalpha() for b in text[:3])


def _iasl_id(value: bytes, where: str, field: str) -> IaslText:
    """An ACPI HID/CID as iasl writes it: a NAME8 string or a UINT64."""
    if not _is_id_integer(value):
        text, _, tail = value.partition(b"\0")
        if any(tail) or any(b < 0x20 or b > 0x7E or b == 0x22 for b in text):
            raise TableError(f"{field} {value!r}: iasl's 8-character name cannot hold it",
                             node=where, field=field)
        return IaslText(f'"{text.decode()}"')
    shown = f"{int.from_bytes(value, 'little'):016X}"
    if not _is_id_integer(shown.encode()):
        raise TableError(f"{field} 0x{shown}: iasl reads a value starting with three letters "
                         "as a name", node=where, field=field)
    return IaslText(shown)


def _settings_sublines(off: int, prefix: str, value: int) -> list:
    """Data Setting's sub-lines in iasl's order: SETTINGS' fields, and a
    Reserved line for each run of bits between them."""
    out, bit = [], 0
    for name, mask, label in sorted(SETTINGS.fields, key=lambda f: f[1]):
        low = (mask & -mask).bit_length() - 1
        if low > bit:
            gap = ((1 << low) - 1) & ~((1 << bit) - 1)
            out.append((off, 0, f"{prefix}.reserved", "Reserved",
                        IaslText(f"{(value & gap) >> bit:X}")))
        out.append((off, 0, f"{prefix}.{name}", IASL_SETTING_LABELS.get(label, label),
                    IaslText(f"{(value & mask) >> low:X}")))
        bit = mask.bit_length()
    return out


def _iasl_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    """iasl's rows for one IVRS subtable in release `acpica`'s template, or
    TableError (node, reason) when that template cannot reproduce it."""
    where = node_label(node)
    new = acpica >= IASL_NEW_FORM
    f = node.fields
    if node.type == IVHD_40 and not new:
        raise TableError(f"iasl {acpica} has no IVHD type 40h (DtCompileIvrs knows it from "
                         f"ACPICA {IASL_NEW_FORM})", node=where, field="type")
    refuse_unwalked(f, where, "device entry", "entry", "entries")
    if new and node.type not in IVHD_TYPES and f.get("flags", 0) & ~IVMD_FLAGS.mask:
        raise TableError(f"IVMD flags 0x{f['flags']:02X}: iasl builds the word from its four "
                         "flag sub-lines, so bits 4-7 are lost", node=where, field="flags")
    labels = {**IASL_LABELS, **IASL_OLD_LABELS} if not new else IASL_LABELS
    devices = f.get("devices") or ()
    out: list = []
    for off, size, name, label, value in rows:
        parts = name.split(".")
        entry: dict = devices[int(parts[1])] if parts[0] == "devices" else {}
        if "data" in entry:
            raise TableError(f"device entry {parts[1]} of type 0x{entry['type']:02X} is kept raw: "
                             "iasl has no template for it", node=where, field=f"devices.{parts[1]}")
        code = entry.get("type")
        if code == HID and not new:
            raise TableError(f"iasl {acpica} has no ACPI HID device entry (DtCompileIvrs knows "
                             f"it from ACPICA {IASL_NEW_FORM})", node=where, field=f"devices.{parts[1]}")
        if code == PAD8 and new:
            raise TableError(f"device entry {parts[1]} is an 8-byte padding entry (type 40h): "
                             f"iasl {acpica} reads type 40h as an IVHD block", node=where,
                             field=f"devices.{parts[1]}")
        if size == 0:
            continue                    # the flags words' sub-lines: below, or none
        if code == PAD8 and parts[-1] == "reserved":
            label = "Extended Data"     # before 20210604 the 8-byte padding entry is 8b's form
            value = int.from_bytes(value, "little")
        elif code == HID and parts[-1] in ("hid", "cid"):
            value = _iasl_id(value, where, name)
        elif code == HID and parts[-1] == "uid":
            value = _iasl_uid(entry, where, name)
        out.append((off, size, name, labels.get(label, label), value))
        if new and parts[-1] == "data_setting":
            out += _settings_sublines(off, name, value)
        if new and name == "flags":     # DT_FLAG: iasl builds the word from these
            out += [(off, 0, f"flags.{key}", flag, v)
                    for key, flag, v in NODE_TYPES[node.type].flags["flags"].rows(value)]
        if code == HID and parts[-1] == "uid_length" and not entry.get("uid"):
            raise TableError(f"ACPI HID entry {parts[1]} without a UID: DtCompileIvrs reads the "
                             "next line as its UID Format", node=where, field=name)
    end = sum(r[1] for r in out)
    if end != len(blob):
        raise TableError(f"subtable Length 0x{len(blob):X} but its fields end at 0x{end:X}: "
                         "iasl computes Length from the fields", node=where, field="length")
    return out


def _iasl_uid(entry: dict, where: str, field: str) -> IaslText:
    """The UID as DtCompileIvrs reads it: a string of exactly UID Length
    characters (format 2), or always a UINT64 (format 1)."""
    uid, fmt = bytes(entry.get("uid") or b""), entry["uid_format"]
    if fmt == 2 and not any(b < 0x20 or b > 0x7E or b == 0x22 for b in uid):
        return IaslText(f'"{uid.decode()}"')
    if fmt == 1 and len(uid) == 8:
        return IaslText(f"{int.from_bytes(uid, 'little'):016X}")
    why = {1: f"an integer UID of {len(uid)} bytes: iasl writes 8",
           2: "a string UID with a byte iasl cannot quote (or a NUL)"}.get(
        fmt, f"UID format {fmt}: DtCompileIvrs knows formats 1 and 2 with a UID")
    raise TableError(why, node=where, field=field)


# Any table iasl's template cannot reproduce (an undecoded subtable or entry,
# bytes after the last one, a release without 40h blocks or HID entries, a
# non-zero field the release labels Reserved) is written in the generic
# syntax, with the reason.
DIALECT = Dialect(node_rows=_iasl_rows, generic=lambda decoded: None)

SPEC = TableSpec(
    signature="IVRS",
    spec_name="AMD IOMMU IVRS",
    header=IVRS_HEADER,
    node_header=NODE_HEADER,
    node_types=NODE_TYPES,
    name_nodes=name_nodes,
    describe=describe_ivrs,
    compile=compile_ivrs,
    check=check,
    schema="ivrs.schema.json",
    revisions=(1, 2),
    label="I/O Virtualization Reporting Structure",
    field_keys=FIELD_KEYS,
    node_alignment=1,
    mapper="acpitables.mapping.ivrs:IvrsMapper",
    schema_doc=schema_doc,
    dialect=DIALECT,
    header_flags=HEADER_FLAGS,
)
