"""acpitables: dmar.py -- the DMAR (Intel VT-d DMA Remapping Reporting table).

Layout after the Intel VT-d specification chapter 8 as ACPICA (actbl1.h,
ACPI_TABLE_DMAR / ACPI_DMAR_*) and Linux (drivers/iommu/intel/dmar.c)
declare it; docs/dmar.md has the layout, Linux's rules and the corpus
statistics. The header has no structure count: remapping structures (type
u16, length u16) run to the table's Length, and most of them end in a
stream of device scopes (type, length, then (device, function) path
entries) -- a StreamKind each. What is DMAR's own stays here: the scope
path notation, the RHSA's unit by name, the checks.
"""
from __future__ import annotations

import re
from typing import Any

from ..engine.fields import Bytes, Default, Int8ul, Int16ul, Int32ul, Int64ul, Struct

from ..engine import description as d
from ..engine.checks import Findings, rule
from ..engine.flags import FlagSet
from ..engine.nodes import Array, NodeKind, since
from ..engine.roles import Role, RoleKind
from ..engine.streams import REST, Element, Stream, StreamKind, refuse_unwalked
from ..engine.table import Dialect, IaslText, Node, Table, TableSpec, node_label
from ..engine.yamlio import Hex
from ..errors import Diagnostic, TableError

# DMAR header after the SDT header (ACPI_TABLE_DMAR): 48 bytes in all.
DMAR_FLAGS = FlagSet(("intr_remap", 0x1, "Interrupt remapping"),
                     ("x2apic_opt_out", 0x2, "x2APIC opt-out"),
                     ("dma_ctrl_platform_opt_in", 0x4, "DMA control platform opt-in"), width=8)
DMAR_HEADER = Struct(
    "width" / Int8ul * "Host Address Width",
    "flags" / Int8ul * "Flags (decoded below)",
    "reserved" / Default(Bytes(10), bytes(10)) * "Reserved",
)
HEADER_FLAGS = {"flags": DMAR_FLAGS}

# Remapping structure header (ACPI_DMAR_HEADER).
NODE_HEADER = Struct("type" / Int16ul * "Subtable Type", "length" / Int16ul * "Length")

# Device scope (ACPI_DMAR_DEVICE_SCOPE) and its path entries (ACPI_DMAR_PCI_PATH).
SCOPE = Struct(
    "entry_type" / Int8ul * "Device Scope Type",
    "length" / Int8ul * "Entry Length",
    "flags" / Int8ul * "Flags",
    "reserved" / Default(Bytes(1), b"\0") * "Reserved",
    "enumeration_id" / Int8ul * "Enumeration ID",
    "bus" / Int8ul * "PCI Bus Number",
)
PATH_ENTRY = Struct("device" / Int8ul * "PCI Path", "function" / Int8ul * "PCI Path")
SCOPE_SIZE = SCOPE.sizeof()  # 6

# Scope types (ACPI_DMAR_SCOPE_TYPE_*): description key -> code.
SCOPE_ENDPOINT, SCOPE_BRIDGE, SCOPE_IOAPIC, SCOPE_HPET, SCOPE_NAMESPACE = 1, 2, 3, 4, 5
SCOPE_KINDS = {"endpoint": SCOPE_ENDPOINT, "bridge": SCOPE_BRIDGE, "ioapic": SCOPE_IOAPIC,
               "hpet": SCOPE_HPET, "namespace": SCOPE_NAMESPACE}
SCOPE_NAMES = {v: k for k, v in SCOPE_KINDS.items()}
PCI_SCOPES = (SCOPE_ENDPOINT, SCOPE_BRIDGE)  # what dmar_insert_dev_scope matches against PCI devices


def _scope_size(blob: bytes, off: int, end: int) -> int | None:
    """A scope's Length byte; below the 6-byte fixed part nothing can be walked."""
    if off + 2 > end or blob[off + 1] < SCOPE_SIZE:
        return None
    return blob[off + 1]


SCOPES = Stream("scopes", "Device Scope", [
    Element(None, "scope", "Device Scope", SCOPE, tail="path", tail_elem=PATH_ENTRY,
            length_field="length"),
], _scope_size, type_field="entry_type")

DRHD, RMRR, ATSR, RHSA, ANDD, SATC, SIDP = range(7)

DRHD_FLAGS = FlagSet(("include_pci_all", 0x1, "INCLUDE_PCI_ALL"), width=8)
ATSR_FLAGS = FlagSet(("all_ports", 0x1, "ALL_PORTS"), width=8)
SATC_FLAGS = FlagSet(("atc_required", 0x1, "ATC required"), width=8)

UNIT_ROLE = Role(RoleKind.IOMMU, match="device_scope")
OTHER = Role(RoleKind.OTHER)


def _hex(name: str, value: int) -> Any:
    return Hex(value) if "address" in name or value > 0xFFFF else value


def _scoped(code: int, kind: str, label: str, fixed: list, flags: dict, role: Role = OTHER,
            source: str = "") -> StreamKind:
    return StreamKind(code, kind, label, header=NODE_HEADER, fixed=fixed, flags=flags,
                      prefix=kind, role=role, source=source, describe_int=_hex, stream=SCOPES)


NODE_TYPES: dict[int, NodeKind] = {t.code: t for t in [
    _scoped(DRHD, "drhd", "Hardware Unit Definition", [
        since(0, "flags" / Int8ul * "Flags (decoded below)"),
        since(0, "size" / Int8ul * "Size (2^n 4 KiB pages)"),
        since(0, "segment" / Int16ul * "PCI Segment Number"),
        since(0, "address" / Int64ul * "Register Base Address"),
    ], {"flags": DRHD_FLAGS}, UNIT_ROLE, "VT-d 8.3; Linux dmar_parse_one_drhd"),
    _scoped(RMRR, "rmrr", "Reserved Memory Region", [
        since(0, "reserved" / Default(Bytes(2), bytes(2)) * "Reserved"),
        since(0, "segment" / Int16ul * "PCI Segment Number"),
        since(0, "base_address" / Int64ul * "Base Address"),
        since(0, "end_address" / Int64ul * "End Address (limit)"),
    ], {}, source="VT-d 8.4; Linux dmar_parse_one_rmrr"),
    _scoped(ATSR, "atsr", "Root Port ATS Capability", [
        since(0, "flags" / Int8ul * "Flags (decoded below)"),
        since(0, "reserved" / Default(Bytes(1), b"\0") * "Reserved"),
        since(0, "segment" / Int16ul * "PCI Segment Number"),
    ], {"flags": ATSR_FLAGS}, source="VT-d 8.5; Linux dmar_parse_one_atsr"),
    NodeKind(RHSA, "rhsa", "Remapping Hardware Static Affinity", header=NODE_HEADER, fixed=[
        since(0, "reserved" / Default(Bytes(4), bytes(4)) * "Reserved"),
        since(0, "base_address" / Int64ul * "Base Address"),
        since(0, "proximity_domain" / Int32ul * "Proximity Domain"),
    ], prefix="rhsa", role=OTHER, source="VT-d 8.6; Linux dmar_parse_one_rhsa",
        describe_int=_hex, keys=("unit",)),
    NodeKind(ANDD, "andd", "ACPI Namespace Device Declaration", header=NODE_HEADER, fixed=[
        since(0, "reserved" / Default(Bytes(3), bytes(3)) * "Reserved"),
        since(0, "device_number" / Int8ul * "Device Number"),
    ], arrays=(Array("object_name", None, label="Device Name"),), prefix="andd", role=OTHER,
        source="VT-d 8.7; Linux dmar_parse_one_andd", describe_int=_hex),
    _scoped(SATC, "satc", "SoC Integrated Address Translation Cache", [
        since(0, "flags" / Int8ul * "Flags (decoded below)"),
        since(0, "reserved" / Default(Bytes(1), b"\0") * "Reserved"),
        since(0, "segment" / Int16ul * "PCI Segment Number"),
    ], {"flags": SATC_FLAGS}, source="VT-d 8.8; Linux dmar_parse_one_satc"),
    _scoped(SIDP, "sidp", "SoC Integrated Device Property", [
        since(0, "reserved" / Default(Bytes(2), bytes(2)) * "Reserved"),
        since(0, "segment" / Int16ul * "PCI Segment Number"),
    ], {}, source="VT-d 8.9 (Linux has no handler: skipped)"),
]}
BY_KIND = {t.kind: t for t in NODE_TYPES.values()}


def is_catch_all(node: Node) -> bool:
    """A DRHD with INCLUDE_PCI_ALL: every PCI device of its segment that no
    other unit's scope claims (the mapper's one question about a unit)."""
    return bool(node.fields.get("flags", 0) & 0x1)


def scope_kind(scope: dict) -> str | None:
    """endpoint, bridge, ioapic, hpet, namespace -- or None for a reserved type."""
    return SCOPE_NAMES.get(scope["entry_type"])


def linux_refusal(table: Table) -> str | None:
    """Why Linux uses no VT-d at all with this table (parse_dmar_table,
    dmar_walk_remapping_entries, dmar_parse_one_andd, dmar_validate_one_drhd),
    or None."""
    if table.fields.get("width", 0) + 1 < 12:
        return "host address width below 12: Linux rejects the DMAR"
    units = [n for n in table.nodes if not n.raw and n.type == DRHD]
    if not units:
        return "no DRHD: Linux does not enable VT-d"
    if any(n.length_override is not None for n in table.nodes):
        return "a structure runs past the table end: Linux rejects the DMAR"
    if any(n.raw and n.type == ANDD for n in table.nodes):
        return "an ANDD name is not NUL-terminated: Linux rejects the DMAR"
    zero = [n for n in units if n.fields["address"] == 0]
    if zero:
        return f"{zero[0].name} has register base 0: Linux does not use VT-d at all"
    return None


def namespace_device(table: Table, path: str) -> tuple[Node, int] | None:
    """The ANDD declaring the ACPI device `path`, and its device number."""
    for n in table.nodes:
        if n.type == ANDD and not n.raw and n.fields["object_name"] == path:
            return n, n.fields["device_number"]
    return None


# --- names for decoded nodes -------------------------------------------------

def name_nodes(table: Table) -> None:
    counters: dict[str, int] = {}
    for node in table.nodes:
        kind = NODE_TYPES.get(node.type)
        stem = kind.prefix if kind is not None and not node.raw else "node"
        node.name = f"{stem}{counters.get(stem, 0)}"
        counters[stem] = counters.get(stem, 0) + 1


# --- the scope path notation -------------------------------------------------
# "BB:DD.F" is a one-hop path from start bus BB; each further hop is
# "/DD.F" (the device on the secondary bus of the bridge before it):
# "00:1c.4/00.0". "BB:" alone is a scope with no path entries.

PATH_RE = re.compile(r"^\s*([0-9a-fA-F]{1,2}):((?:[0-9a-fA-F]{1,2}\.[0-9a-fA-F]{1,2})(?:/[0-9a-fA-F]{1,2}\.[0-9a-fA-F]{1,2})*)?\s*$")


def format_path(scope: dict) -> str:
    hops = "/".join(f"{e['device']:02x}.{e['function']:x}" for e in scope.get("path") or ())
    return f"{scope['bus']:02x}:{hops}"


def parse_path(text: Any, p: d.Problems, path: tuple) -> tuple[int, list[dict]]:
    m = PATH_RE.match(str(text)) if isinstance(text, str) else None
    if m is None:
        p.error(path, f"{text!r} is not a scope path (bus:dev.fn, then /dev.fn per hop: "
                "'00:1c.4/00.0')")
        return 0, []
    hops = []  # out-of-range numbers are the checks' business (DMAR-SCOPE-PATH)
    for hop in (m.group(2) or "").split("/") if m.group(2) else ():
        dev, fn = hop.split(".")
        hops.append({"device": int(dev, 16), "function": int(fn, 16)})
    return int(m.group(1), 16), hops


# --- checks: named rules, shared by decode (findings) and build ---------------

R = rule
HAW = R("DMAR-HAW", "error", "Linux parse_dmar_table",
        "Host address width below 12 bits (Linux rejects the DMAR)")
RESERVED = R("DMAR-RESERVED", "warning", "VT-d 8", "Reserved bytes are not zero")
FLAGS_RESERVED = R("DMAR-FLAGS-RESERVED", "warning", "VT-d 8", "Reserved flag bits are set")
NO_DRHD = R("DMAR-NO-DRHD", "error", "Linux parse_dmar_table",
            "No DRHD structure (Linux: FW_BUG, no VT-d)")
ADDRESS_ZERO = R("DMAR-DRHD-ADDRESS-ZERO", "error", "Linux dmar_validate_one_drhd",
                 "DRHD with register base 0 (Linux: FW_BUG and VT-d is not used at all)")
DRHD_DUPLICATE = R("DMAR-DRHD-DUPLICATE", "warning", "Linux dmar_parse_one_drhd",
                   "Two DRHDs with one segment and base address (Linux ignores the later)")
CATCH_ALL_DUPLICATE = R("DMAR-INCLUDE-ALL-DUPLICATE", "warning", "VT-d 8.3",
                        "Two INCLUDE_PCI_ALL DRHDs in one segment (Linux uses the first)")
CATCH_ALL_NOT_LAST = R("DMAR-INCLUDE-ALL-NOT-LAST", "note", "VT-d 8.3",
                       "INCLUDE_PCI_ALL DRHD that is not the last DRHD of its segment (Linux "
                       "does not depend on the order)")
STOPPED = R("DMAR-ZERO-LENGTH", "warning", "Linux dmar_walk_remapping_entries",
            "A structure of length below 4 stops the walk: Linux ignores the rest of the table")
SCOPE_TYPE = R("DMAR-SCOPE-TYPE", "warning", "VT-d 8.3.1; Linux dmar_alloc_dev_scope",
               "Device scope of a reserved type (Linux: 'Unsupported device scope', ignored)")
SCOPE_UNWALKABLE = R("DMAR-SCOPE-UNWALKABLE", "error", "VT-d 8.3.1",
                     "Bytes after the last device scope that no scope length covers")
SCOPE_ODD = R("DMAR-SCOPE-ODD-LENGTH", "warning", "VT-d 8.3.1",
              "Device scope length that is not 6 + 2 per path entry")
SCOPE_NO_PATH = R("DMAR-SCOPE-NO-PATH", "error", "VT-d 8.3.1; Linux dmar_match_pci_path",
                  "Device scope without a path entry (matches no device)")
SCOPE_PATH = R("DMAR-SCOPE-PATH", "error", "VT-d 8.3.1",
               "Path entry whose device is above 1Fh or function above 7 (names no PCI "
               "function)")
SCOPE_KIND = R("DMAR-SCOPE-KIND", "warning", "VT-d 8.3.1",
               "SCOPE_IOAPIC, SCOPE_HPET or namespace scope outside a DRHD (Linux ignores it)")
RMRR_RANGE = R("DMAR-RMRR-RANGE", "warning", "Linux dmar_parse_one_rmrr (FW_BUG, still used)",
               "RMRR base not 4 KiB aligned, limit + 1 not aligned, or limit not above base")
RHSA_UNIT = R("DMAR-RHSA-UNIT", "warning", "Linux dmar_parse_one_rhsa (FW_BUG)",
              "RHSA base address of no DRHD")
ANDD_NAME = R("DMAR-ANDD-NAME", "error", "Linux dmar_parse_one_andd",
              "ANDD name not NUL-terminated (Linux rejects the whole DMAR)")
ANDD_UNUSED = R("DMAR-ANDD-UNREFERENCED", "warning", "Linux dmar_acpi_insert_dev_scope",
                "ANDD that no namespace device scope refers to")
NAMESPACE_ANDD = R("DMAR-NAMESPACE-NO-ANDD", "warning", "Linux dmar_acpi_insert_dev_scope",
                   "Namespace device scope whose enumeration ID no ANDD declares")

PAGE = 0x1000


def _end_of_nodes(table: Table) -> int | None:
    last = table.nodes[-1] if table.nodes else None
    if last is None:
        return SPEC.header_size
    if last.offset is None:
        return None
    return last.offset + (len(last.fields["data"]) if last.raw else last.fields["length"])


def check(table: Table) -> list[Diagnostic]:
    out = Findings()
    width = table.fields.get("width", 0)
    if width + 1 < 12:
        out.append(HAW(f"host address width {width + 1} (Width {width}); Linux needs at least "
                       "12", offset=36, field="width"))
    if any(table.fields.get("reserved", b"")):
        out.append(RESERVED(f"header reserved bytes are not zero "
                            f"({table.fields['reserved'].hex()})", offset=38, field="reserved"))
    if table.fields.get("flags", 0) & ~DMAR_FLAGS.mask:
        out.append(FLAGS_RESERVED(f"header flags 0x{table.fields['flags']:02X} set reserved "
                                  "bits", offset=37, field="flags"))
    if table.trailing:
        out.append(STOPPED(f"{len(table.trailing)} bytes from here are no structure (a length "
                           "below 4); Linux stops here without an error",
                           offset=_end_of_nodes(table)))
    units = [n for n in table.nodes if n.type == DRHD and not n.raw]
    if not units:
        out.append(NO_DRHD("no DRHD structure: Linux does not enable VT-d", offset=48))
    seen: dict[tuple, Node] = {}
    catch_all: dict[int, Node] = {}
    andds = {n.fields["device_number"]: n for n in table.nodes if n.type == ANDD and not n.raw}
    used_andds: set[int] = set()
    for node in table.nodes:
        kind = NODE_TYPES.get(node.type)
        if node.raw:
            if node.type == ANDD:
                out.add(ANDD_NAME, node, "object_name", "ANDD whose name is not NUL-terminated "
                        "inside the structure; Linux rejects the whole table")
            continue
        f = node.fields
        for key, value in f.items():
            if "reserved" in key and isinstance(value, bytes) and any(value):
                out.add(RESERVED, node, key, f"reserved bytes are not zero ({value.hex()})")
        for key, flagset in (kind.flags if kind is not None else {}).items():
            if f.get(key, 0) & ~flagset.mask:
                out.add(FLAGS_RESERVED, node, key, f"{key} 0x{f[key]:02X} sets reserved bits")
        if node.type == DRHD:
            key = (f["segment"], f["address"])
            if f["address"] == 0:
                out.add(ADDRESS_ZERO, node, "address", "register base address 0: Linux reports "
                        "'Your BIOS is broken' and does not use VT-d at all")
            if key in seen:
                out.add(DRHD_DUPLICATE, node, "address", f"same segment and address as "
                        f"{seen[key].name}; Linux ignores this unit")
            seen.setdefault(key, node)
            if is_catch_all(node):
                if f["segment"] in catch_all:
                    out.add(CATCH_ALL_DUPLICATE, node, "flags", f"segment {f['segment']} already "
                            f"has INCLUDE_PCI_ALL unit {catch_all[f['segment']].name}")
                catch_all.setdefault(f["segment"], node)
            elif f["segment"] in catch_all:
                out.add(CATCH_ALL_NOT_LAST, catch_all[f["segment"]], "flags",
                        f"INCLUDE_PCI_ALL unit comes before {node.name} of the same segment")
        elif node.type == RMRR:
            base, end = f["base_address"], f["end_address"]
            if base % PAGE or (end + 1) % PAGE or end <= base:
                out.add(RMRR_RANGE, node, "base_address", f"RMRR [0x{base:X}-0x{end:X}]: Linux "
                        "reports 'Your BIOS is broken; bad RMRR' and uses it anyway")
        elif node.type == RHSA:
            if not any(u.fields["address"] == f["base_address"] for u in units):
                out.add(RHSA_UNIT, node, "base_address", f"base address 0x{f['base_address']:X} "
                        "is no DRHD's")
        if not isinstance(kind, StreamKind):
            continue
        if f.get(REST):
            out.add(SCOPE_UNWALKABLE, node, REST, f"{len(f[REST])} bytes after the last device "
                    "scope are no scope (length below 6 or past the structure end)")
        for i, scope in enumerate(f.get("scopes") or ()):
            where = f"scopes.{i}"
            code = scope["entry_type"]
            if code not in SCOPE_NAMES:
                out.add(SCOPE_TYPE, node, where, f"device scope type {code} is reserved; Linux "
                        "ignores it")
            elif code not in PCI_SCOPES and node.type != DRHD:
                out.add(SCOPE_KIND, node, where, f"{SCOPE_NAMES[code]} scope in a "
                        f"{kind.label}; only DRHDs carry them")
            if scope.get("extra"):
                size = SCOPE_SIZE + 2 * len(scope.get("path") or ()) + len(scope["extra"])
                out.add(SCOPE_ODD, node, where, f"scope length {size} leaves "
                        f"{len(scope['extra'])} byte(s) after the path entries")
            if not scope.get("path") and code in SCOPE_NAMES:
                out.add(SCOPE_NO_PATH, node, where, "device scope with no path entry")
            if any(e["device"] > 0x1F or e["function"] > 7 for e in scope.get("path") or ()):
                out.add(SCOPE_PATH, node, where, f"path {format_path(scope)} names no PCI "
                        "function (device above 1f or function above 7)")
            if any(scope.get("reserved", b"")):
                out.add(RESERVED, node, where + ".reserved", "reserved byte is not zero")
            if code == SCOPE_NAMESPACE:
                used_andds.add(scope["enumeration_id"])
                if scope["enumeration_id"] not in andds:
                    out.add(NAMESPACE_ANDD, node, where, f"namespace scope enumeration ID "
                            f"{scope['enumeration_id']} has no ANDD")
    for number, node in andds.items():
        if number not in used_andds:
            out.add(ANDD_UNUSED, node, "device_number", f"ANDD {number} "
                    f"({node.fields['object_name']}) is in no namespace scope")
    return list(out)


# --- description <-> table ---------------------------------------------------

COMMON_KEYS = ("name", "type", "length", "reserved", "scopes", REST, "gaps")
SCOPE_KEYS = set(SCOPE_KINDS) | {"type", "path", "enumeration_id", "flags", "reserved", "extra",
                                 "length"}


def compile_dmar(desc: dict, p: d.Problems) -> Table:
    table = d.new_table("DMAR", desc, p)
    table.header["revision"] = desc.get("revision", 1)
    table.fields["width"] = desc.get("width", 0)
    table.fields["flags"] = DMAR_FLAGS.compile(desc.get("flags", 0), p, ("flags",))
    table.fields.setdefault("reserved", bytes(10))
    items = desc.get("structures") or []
    names: dict[str, dict] = {}
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name"):
            if item["name"] in names:
                p.error(("structures", i, "name"), f"name {item['name']!r} is used twice")
            names[item["name"]] = item
    for i, item in enumerate(items):
        path = ("structures", i)
        node = _compile_structure(item, i, names, p, path)
        table.nodes.append(node)
        p.node_paths.setdefault(node.name, path)
    return table


def _compile_structure(item: dict, index: int, names: dict, p: d.Problems,
                       path: tuple) -> Node:
    name = item.get("name") or f"structures[{index}]"
    kind_name = item.get("type")
    if isinstance(kind_name, int):
        node = d.raw_node(item, p, path)
        node.name = name
        return node
    kind = BY_KIND[str(kind_name)]
    used = set(COMMON_KEYS)
    f: dict = {}
    if kind.code == RHSA and "unit" in item:
        unit = names.get(item["unit"])
        if unit is None or unit.get("type") != "drhd":
            p.error(path + ("unit",), f"{item['unit']!r} is no DRHD of this table")
        elif "base_address" in item:
            p.error(path + ("unit",), "give unit or base_address, not both")
        else:
            item = dict(item, base_address=unit.get("address", 0))
    f.update(kind.compile_fixed(item, 0, True, p, path, lambda v, w: v, used))
    if isinstance(kind, StreamKind):
        f["scopes"] = [_compile_scope(s, p, path + ("scopes", j))
                       for j, s in enumerate(item.get("scopes") or [])]
    else:
        f.update(kind.compile_arrays(item, p, path, lambda v, w: v, used))
    if REST in item:
        f[REST] = d.hex_bytes(item[REST], p, path + (REST,))
    if "length" in item:
        f["length"] = item["length"]
    if "gaps" in item:
        f["gaps"] = [{"offset": g["offset"], "data": d.hex_bytes(g["data"], p,
                                                                 path + ("gaps", j, "data"))}
                     for j, g in enumerate(item["gaps"])]
    for key in item:
        if key not in used and not (key == "unit" and kind.code == RHSA):
            p.error(path + (key,), f"{key!r} is not a field of a {kind.label} structure",
                    key=True)
    return Node(kind.code, f, name, kind=kind)


def _compile_scope(item: Any, p: d.Problems, path: tuple) -> dict:
    if not isinstance(item, dict):
        p.error(path, "a device scope is a mapping (endpoint: 00:02.0, ...)")
        return {"entry_type": 0, "flags": 0, "reserved": b"\0", "enumeration_id": 0, "bus": 0}
    named = [k for k in SCOPE_KINDS if k in item]
    if len(named) + ("type" in item) != 1:
        p.error(path, "a device scope has exactly one of: " + ", ".join(SCOPE_KINDS) + ", type")
    code = SCOPE_KINDS[named[0]] if named else item.get("type", 0)
    if code in PCI_SCOPES and named:
        where, text, ident = path + (named[0],), item[named[0]], item.get("enumeration_id", 0)
    else:
        where, text = path + ("path",), item.get("path", "00:")
        ident = item[named[0]] if named else item.get("enumeration_id", 0)
    bus, hops = parse_path(text, p, where)
    scope = {"entry_type": code, "flags": item.get("flags", 0), "enumeration_id": ident,
             "bus": bus, "path": hops,
             "reserved": d.hex_bytes(item.get("reserved", "00"), p, path + ("reserved",))}
    if len(scope["reserved"]) != 1:
        p.error(path + ("reserved",), "the scope's reserved field is 1 byte")
        scope["reserved"] = b"\0"
    if "extra" in item:
        scope["extra"] = d.hex_bytes(item["extra"], p, path + ("extra",))
    for key in item:
        if key not in SCOPE_KEYS:
            p.error(path + (key,), f"{key!r} is not a device scope key", key=True)
    return scope


def describe_dmar(table: Table) -> dict:
    desc = d.describe_header(table)
    desc.pop("width", None)
    desc.pop("flags", None)
    desc = {**{k: desc.pop(k) for k in list(desc) if k in ("table", "revision")},
            "width": table.fields["width"], **desc}
    if table.fields.get("flags"):
        desc["flags"] = DMAR_FLAGS.describe(table.fields["flags"])
    if any(x.severity == "error" for x in check(table)):
        desc["lenient"] = True
    units: dict[int, list[str]] = {}
    for n in table.nodes:
        if n.type == DRHD and not n.raw:
            units.setdefault(n.fields["address"], []).append(n.name)
    desc["structures"] = [_describe_structure(n, units) for n in table.nodes]
    return desc


def _describe_structure(node: Node, units: dict) -> dict:
    if node.raw:
        return d.describe_raw(node)
    kind, f = NODE_TYPES[node.type], node.fields
    item: dict = {"name": node.name, "type": kind.kind}
    if node.type == RHSA and len(units.get(f["base_address"], ())) == 1:
        f = dict(f, base_address=0)
        item["unit"] = units[node.fields["base_address"]][0]
    kind.describe_fields(f, item)
    if node.type == RHSA and "unit" in item:
        item.pop("base_address", None)
    if isinstance(kind, StreamKind):
        scopes = [_describe_scope(s) for s in f.get("scopes") or ()]
        item.pop("scopes", None)
        if scopes:
            item["scopes"] = scopes
        if f.get(REST):
            item[REST] = f[REST].hex()
    if "length" in item:  # describe_fields puts it where its keys go; keep it last
        item["length"] = item.pop("length")
    return item


def _describe_scope(scope: dict) -> dict:
    code = scope["entry_type"]
    name = SCOPE_NAMES.get(code)
    out: dict = {}
    if code in PCI_SCOPES:
        out[name] = format_path(scope)
        if scope["enumeration_id"]:
            out["enumeration_id"] = scope["enumeration_id"]
    else:
        if name is None:
            out["type"] = code
            if scope["enumeration_id"]:
                out["enumeration_id"] = scope["enumeration_id"]
        else:
            out[name] = scope["enumeration_id"]
        out["path"] = format_path(scope)
    if scope["flags"]:
        out["flags"] = Hex(scope["flags"])
    if any(scope["reserved"]):
        out["reserved"] = scope["reserved"].hex()
    if scope.get("extra"):
        out["extra"] = scope["extra"].hex()
    return out


FIELD_KEYS = {"entry_type": "type", "base_address": ("unit", "base_address")}


def schema_doc() -> dict:
    from ..engine import schema as s  # noqa: PLC0415 -- only the generator needs it

    path = {"type": "string", "pattern": PATH_RE.pattern,
            "description": "Scope path: start bus, then (device.function) per hop -- "
                           "'00:02.0', '00:1c.4/00.0'; '00:' has no path entries."}
    scope = {"type": "object", "additionalProperties": False, "description":
             "One device scope: exactly one of endpoint/bridge (their path), "
             "ioapic/hpet/namespace (the enumeration ID, with path), or type (a raw type code).",
             "properties": {
                 "endpoint": dict(path, description="PCI endpoint scope (type 1): its path."),
                 "bridge": dict(path, description="PCI sub-hierarchy scope (type 2): the "
                                "bridge's path; every device below it is in scope."),
                 "ioapic": s.integer(8, "SCOPE_IOAPIC scope (type 3): the SCOPE_IOAPIC ID."),
                 "hpet": s.integer(8, "MSI-capable SCOPE_HPET scope (type 4): the SCOPE_HPET number."),
                 "namespace": s.integer(8, "ACPI namespace device scope (type 5): the ANDD "
                                        "device number."),
                 "type": s.integer(8, "A scope type code without a name (reserved types)."),
                 "path": path,
                 "enumeration_id": s.integer(8, "Enumeration ID of a PCI or reserved-type "
                                             "scope (normally 0)."),
                 "flags": s.integer(8, "Scope flags byte (SIDP scopes)."),
                 "reserved": s.hex_bytes("The reserved byte, when not zero."),
                 "extra": s.hex_bytes("Bytes after the path entries inside the scope's "
                                      "length (an odd length)."),
             }}
    docs = {
        "name": "Structure name (units are referred to by it; decode writes drhd0, rmrr0, ...).",
        "flags": "Flags byte.", "size": "DRHD Size: register set is 2^size 4 KiB pages.",
        "segment": "PCI segment number.", "address": "Register base address of the unit.",
        "base_address": "Base address (RMRR: of the region; RHSA: the unit's register base).",
        "end_address": "RMRR limit address (inclusive).",
        "proximity_domain": "Proximity domain of the unit.",
        "device_number": "ANDD device number (namespace scopes' enumeration ID).",
        "object_name": "ANDD: the device's ACPI path, e.g. \\_SB.PCI0.I2C0.",
        "drhd.flags": "DRHD flags.", "atsr.flags": "ATSR flags.", "satc.flags": "SATC flags.",
    }
    common = {
        "name": s.name(docs["name"]),
        "length": s.integer(16, "Explicit structure Length (default: computed)."),
        "reserved": {"type": "object", "description": "Reserved fields that are not zero, "
                     "as hex bytes.", "additionalProperties": {"type": "string",
                                                               "pattern": s.HEX_PATTERN}},
        "scopes": {"type": "array", "items": scope, "description": "Device scopes, in order."},
        REST: s.hex_bytes("Bytes after the last device scope that no scope covers (lossless "
                          "escape for broken tables)."),
        "gaps": s.gaps("Non-zero bytes no field covers.", "Structure offset."),
        "data": s.hex_bytes("All the bytes of a structure kept raw, its header first."),
    }
    custom = {"unit": s.name("RHSA: the DRHD (by name) whose register base this is; instead "
                             "of base_address.")}
    structures = s.declared_nodes(NODE_TYPES.values(), common, docs, custom,
                                  "One remapping structure.")
    # Structure types are 16-bit (the declared-node schema assumes 8).
    structures["properties"]["type"]["oneOf"][1] = s.integer(16)
    out = s.header(
        SPEC, "Table revision (1 or 2 in real tables; default 1).",
        "acpitables DMAR description",
        "An Intel VT-d DMA Remapping table: remapping units (DRHD) with their device "
        "scopes, reserved memory (RMRR), ATS root ports (ATSR), affinity (RHSA), ACPI "
        "namespace devices (ANDD), SATC and SIDP structures, in table order.",
        {"structures": {"type": "array", "description": "The remapping structures in table "
                        "order.", "items": structures}},
        before={"width": s.integer(8, "Host Address Width minus one (Linux: haw = width + 1)."),
                "flags": DMAR_FLAGS.schema("DMAR flags.")},
        reserved="The 10 reserved header bytes, when not zero.")
    return out


# --- what iasl writes differently (formats/dsl.py reads DIALECT) ---------------
# iasl's DMAR template (ACPICA dmtbinfo1.c AcpiDmTableInfoDmar*, compiled by
# dttable1.c DtCompileDmar) is our layout with other labels: the rows come
# from the declarations above, and these are the release facts that change
# them. DtCompileDmar walks the scopes and PCI paths by the Length and Entry
# Length values in the source, so every structure must be whole scopes of
# whole path entries, and iasl recomputes nothing else.

# First ACPICA release whose DtCompileDmar knows a structure type (before:
# "Unknown subtable type", a fatal error).
IASL_TYPE_SINCE = {SATC: 20220331, SIDP: 20250404}
# From 20250404 iasl names DRHD Size (with a log2 sub-line) and keeps the
# scope's Flags byte apart from its Reserved byte; before, it labels Size
# "Reserved" and reads Flags+Reserved as one 16-bit "Reserved", so a
# non-zero one is zeroed (dtfield.c DtCompileInteger: "Must be zero").
IASL_SIZE_AND_SCOPE_FLAGS = 20250404
IASL_LABELS = {"Flags (decoded below)": "Flags", "Size (2^n 4 KiB pages)": "Size (decoded below)"}
IASL_OLD_LABELS = {"Size (2^n 4 KiB pages)": "Reserved"}


def _iasl_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    """iasl's rows for one DMAR structure in release `acpica`'s template,
    or TableError (node, reason) when that template cannot reproduce it."""
    where = node_label(node)
    kind = NODE_TYPES[node.type]
    since_release = IASL_TYPE_SINCE.get(node.type, 0)
    if acpica < since_release:
        raise TableError(f"iasl {acpica} has no {kind.label} structure (DMAR type {node.type}; "
                         f"DtCompileDmar knows it from ACPICA {since_release})", node=where,
                         field="type")
    f = node.fields
    refuse_unwalked(f, where, "device scope", "scope", "scopes")
    new = acpica >= IASL_SIZE_AND_SCOPE_FLAGS
    labels = IASL_LABELS if new else {**IASL_LABELS, **IASL_OLD_LABELS}
    out: list = []
    for off, size, name, label, value in rows:
        leaf = name.rsplit(".", 1)[-1]
        if name.endswith(".extra"):
            raise TableError(f"device scope {name.split('.')[1]} has {size} byte(s) after its "
                             "path entries: iasl reads 2-byte PCI paths up to Entry Length",
                             node=where, field=name.rsplit(".", 1)[0])
        if size == 0:
            continue                    # iasl decodes none of the DMAR flags words
        if name.startswith("scopes.") and leaf == "function":
            last = out[-1]              # one "PCI Path : DD,FF" line per path entry
            out[-1] = (last[0], 2, name.rsplit(".", 1)[0], label,
                       IaslText(f"{last[4]:02X},{value:02X}"))
            continue
        if name.startswith("scopes.") and leaf == "reserved" and not new:
            last = out[-1]              # the old 16-bit Reserved: Flags | Reserved << 8
            out[-1] = (last[0], 2, name, "Reserved", last[4] | value[0] << 8)
            continue
        out.append((off, size, name, labels.get(label, label), value))
        if name == "size" and new:
            out.append((off, 0, "size.pages", "Size (pages, log2)", IaslText(f"{value & 0xF:X}")))
    end = sum(r[1] for r in out)
    if end != len(blob):
        raise TableError(f"structure Length 0x{len(blob):X} but its fields end at 0x{end:X}: "
                         "iasl writes a name (with its NUL) and nothing after it", node=where,
                         field="length")
    return out


# Any table iasl's template cannot reproduce (an undecoded structure, bytes
# after the last one, a release without SATC/SIDP, a non-zero field the
# release labels Reserved) is written in the generic syntax, with the reason.
DIALECT = Dialect(relabel={"Flags (decoded below)": "Flags"}, node_rows=_iasl_rows,
                  generic=lambda decoded: None)

SPEC = TableSpec(
    signature="DMAR",
    spec_name="Intel VT-d DMAR",
    header=DMAR_HEADER,
    node_header=NODE_HEADER,
    node_types=NODE_TYPES,
    name_nodes=name_nodes,
    describe=describe_dmar,
    compile=compile_dmar,
    check=check,
    schema="dmar.schema.json",
    revisions=(1, 2),
    label="DMA Remapping table",
    field_keys=FIELD_KEYS,
    node_alignment=1,
    mapper="acpitables.mapping.dmar:DmarMapper",
    schema_doc=schema_doc,
    dialect=DIALECT,
    header_flags=HEADER_FLAGS,
)
