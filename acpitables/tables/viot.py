"""acpitables: viot.py -- the VIOT (Virtual I/O Translation Table).

Layout after ACPI 6.5 section 5.2.30 (VIOT, from the virtio-iommu "code
first" drafts) as ACPICA actbl3.h and Linux drivers/acpi/viot.c declare it.
Every node is fixed-size, so one declaration per node kind (with its
Role) serves decoding, building and the text view; building writes Type
and Length (`ViotNode`). What is VIOT's own stays here: the iommus/endpoints description
shape, the checks, and what iasl writes differently (`DIALECT`).
"""
from __future__ import annotations


from ..errors import Diagnostic, TableError
from ..engine.checks import Findings, rule
from ..engine.fields import Bytes, Default, GreedyBytes, Int8ul, Int16ul, Int32ul, Int64ul, Struct
from ..engine.pci import BdfError, format_bdf, parse_bdf
from ..engine.roles import Role, RoleKind
from ..engine.table import Dialect, Node, NodeType, Ref, Table, TableSpec, node_label
from ..engine import description as d
from ..engine.yamlio import Flow, Hex

# VIOT header after the SDT header (ACPICA ACPI_TABLE_VIOT): 48 bytes in all.
VIOT_HEADER = Struct(
    "node_count" / Int16ul * "Node count",
    "node_offset" / Int16ul * "Node offset",
    "reserved" / Default(Bytes(8), bytes(8)) * "Reserved",
)

# Common node header (ACPI_VIOT_HEADER): what the walk reads first.
VIOT_NODE_HEADER = Struct("type" / Int8ul, "reserved" / Bytes(1), "length" / Int16ul)

PCI_RANGE, MMIO, VIRTIO_IOMMU_PCI, VIRTIO_IOMMU_MMIO = 1, 2, 3, 4
IOMMU_TYPES = (VIRTIO_IOMMU_PCI, VIRTIO_IOMMU_MMIO)


_IOMMU_KINDS = ("virtio_iommu_pci", "virtio_iommu_mmio")


class ViotNode(NodeType):
    """A VIOT node kind: the common header, the kind's own fields, and any
    extra bytes a longer node carries, kept verbatim. Building writes the
    header's Type and its Length: the fixed size plus those extra bytes,
    unless the node asks for another."""

    def finish(self, node: Node, values: dict) -> dict:
        extra = values.get("extra") or b""
        values["header"] = dict(values.get("header") or {}, type=self.code,
                                length=node.length_override or self.fixed_size + len(extra))
        return values


def viot_node(code: int, kind: str, label: str, role: Role, *fields,
              refs: tuple[str, ...] = ()) -> NodeType:
    """One VIOT node kind: the common header, `fields`, the extra bytes."""
    header = Struct(
        "type" / Int8ul * "Type",
        "reserved" / Default(Bytes(1), b"\0") * "Reserved",
        "length" / Int16ul * "Length",
    )
    struct = Struct("header" / Default(header, {}), *fields, "extra" / Default(GreedyBytes, b"") * "Extra data")
    fixed = header.sizeof() + Struct(*fields).sizeof()
    return ViotNode(code, kind, label, struct, fixed, refs=refs, ref_targets=IOMMU_TYPES,
                    role=role)


NODE_TYPES = {t.code: t for t in [
    viot_node(PCI_RANGE, "pci_range", "PCI Range",
              Role(RoleKind.ENDPOINT, _IOMMU_KINDS, match="segment_bdf_range"),
              "endpoint_start" / Int32ul * "Endpoint start",
              "segment_start" / Int16ul * "PCI Segment start",
              "segment_end" / Int16ul * "PCI Segment end",
              "bdf_start" / Int16ul * "PCI BDF start",
              "bdf_end" / Int16ul * "PCI BDF end",
              "output_node" / Int16ul * "Output node",
              "reserved" / Default(Bytes(6), bytes(6)) * "Reserved",
              refs=("output_node",)),
    viot_node(MMIO, "mmio", "MMIO Endpoint",
              Role(RoleKind.ENDPOINT, _IOMMU_KINDS, match="base_address"),
              "endpoint" / Int32ul * "Endpoint",
              "base_address" / Int64ul * "Base address",
              "output_node" / Int16ul * "Output node",
              "reserved" / Default(Bytes(6), bytes(6)) * "Reserved",
              refs=("output_node",)),
    viot_node(VIRTIO_IOMMU_PCI, "virtio_iommu_pci", "VirtIO-PCI IOMMU",
              Role(RoleKind.IOMMU, match="pci_function"),  # the IOMMU is this function
              "segment" / Int16ul * "PCI Segment",
              "bdf" / Int16ul * "PCI BDF number",
              "reserved" / Default(Bytes(8), bytes(8)) * "Reserved"),
    viot_node(VIRTIO_IOMMU_MMIO, "virtio_iommu_mmio", "VirtIO-MMIO IOMMU",
              Role(RoleKind.IOMMU, match="base_address"),
              "reserved" / Default(Bytes(4), bytes(4)) * "Reserved",
              "base_address" / Int64ul * "Base address"),
]}
ROLES = {code: t.role for code, t in NODE_TYPES.items()}


# --- names for decoded nodes -------------------------------------------------

def name_nodes(table: Table) -> None:
    iommus = [n for n in table.nodes if n.type in IOMMU_TYPES and not n.raw]
    for i, node in enumerate(iommus):
        node.name = "viommu" if len(iommus) == 1 else f"viommu{i}"
    counters: dict[str, int] = {}
    for node in table.nodes:
        if node.name:
            continue
        stem = "ep" if node.type in (PCI_RANGE, MMIO) and not node.raw else "node"
        node.name = f"{stem}{counters.get(stem, 0)}"
        counters[stem] = counters.get(stem, 0) + 1


# --- checks: named rules, shared by decode (findings) and build ---------------

REVISION = rule("VIOT-REVISION", "warning", "ACPI 6.5 5.2.30", "VIOT revision other than 0")
HDR_RESERVED = rule("VIOT-HDR-RESERVED", "warning", "ACPI 6.5 5.2.30",
                    "Header reserved bytes are not zero")
RESERVED = rule("VIOT-RESERVED", "warning", "ACPI 6.5 5.2.30",
                "Reserved bytes of a node are not zero")
SEGMENTS_INVERTED = rule("VIOT-SEGMENTS-INVERTED", "error", "Linux viot_parse_node",
                         "PCI range whose segment end is below its start (matches nothing)")
RANGE_INVERTED = rule("VIOT-RANGE-INVERTED", "error", "Linux viot_parse_node",
                      "PCI range whose BDF end is below its start (matches nothing)")
ENDPOINT_OVERFLOW = rule("VIOT-ENDPOINT-OVERFLOW", "error", "Linux viot_pci_dev_iommu_init",
                         "PCI range whose endpoint IDs run past 32 bits")
OWN_IOMMU = rule("VIOT-RANGE-OWN-IOMMU", "note", "Linux viot_pci_dev_iommu_init",
                 "PCI range that contains its own virtio-iommu (Linux skips the IOMMU; QEMU "
                 "writes such ranges on purpose)")
MMIO_DUPLICATE = rule("VIOT-MMIO-DUPLICATE", "warning", "Linux viot_parse_node",
                      "Two MMIO endpoints with one base address; Linux uses the later")
IOMMU_DUPLICATE = rule("VIOT-IOMMU-DUPLICATE", "warning", "ACPI 6.5 5.2.30",
                       "Two nodes describe the same IOMMU")
IOMMU_UNUSED = rule("VIOT-IOMMU-UNREFERENCED", "note", "ACPI 6.5 5.2.30",
                    "IOMMU that no endpoint references")
RANGE_OVERLAP = rule("VIOT-RANGE-OVERLAP", "warning", "Linux viot_parse_node",
                     "PCI ranges overlap; Linux lets the later node win")


def check(table: Table) -> list[Diagnostic]:
    out = Findings()
    if table.header.get("revision", 0) != 0:
        out.append(REVISION(f"VIOT revision {table.header['revision']}; every producer writes "
                            "0", offset=8, field="revision"))
    if any(table.fields.get("reserved", b"")):
        out.append(HDR_RESERVED("reserved bytes are not zero "
                                f"({table.fields['reserved'].hex()})", offset=40,
                                field="reserved"))
    by_name = {n.name: n for n in table.nodes}
    referenced = set()
    ranges = []
    mmio_bases: dict[int, Node] = {}
    iommu_keys: dict[tuple, Node] = {}
    for node in table.nodes:
        if node.raw:
            continue
        f = node.fields
        for path, value in d.reserved_values(NODE_TYPES[node.type].struct, f):
            if any(value):
                out.add(RESERVED, node, path, f"reserved bytes are not zero ({value.hex()})")
        if node.type in (PCI_RANGE, MMIO):
            ref = f["output_node"]
            if isinstance(ref, Ref) and ref.name is not None:
                referenced.add(ref.name)
        if node.type == PCI_RANGE:
            if f["segment_start"] > f["segment_end"]:
                out.add(SEGMENTS_INVERTED, node, "segment_end", f"segment range "
                        f"{f['segment_start']:#x}..{f['segment_end']:#x} is inverted (Linux "
                        "matches nothing)")
            if f["bdf_start"] > f["bdf_end"]:
                out.add(RANGE_INVERTED, node, "bdf_end", f"BDF range {format_bdf(f['bdf_start'])}"
                        f"..{format_bdf(f['bdf_end'])} is inverted (Linux matches nothing)")
            last = (f["endpoint_start"] + ((f["segment_end"] - f["segment_start"]) << 16)
                    + f["bdf_end"] - f["bdf_start"])
            if last > 0xFFFFFFFF:
                out.add(ENDPOINT_OVERFLOW, node, "endpoint_start", f"endpoint IDs run up to "
                        f"0x{last:X}, past 32 bits")
            ranges.append(node)
            iommu = _target(by_name, f["output_node"])
            if (iommu is not None and not iommu.raw and iommu.type == VIRTIO_IOMMU_PCI
                    and f["segment_start"] <= iommu.fields["segment"] <= f["segment_end"]
                    and f["bdf_start"] <= iommu.fields["bdf"] <= f["bdf_end"]):
                out.add(OWN_IOMMU, node, "bdf_start", f"range contains its own IOMMU "
                        f"{format_bdf(iommu.fields['bdf'], iommu.fields['segment'])}; Linux "
                        "never translates the IOMMU itself")
        elif node.type == MMIO:
            base = f["base_address"]
            if base in mmio_bases:
                out.add(MMIO_DUPLICATE, node, "base_address", f"MMIO endpoint base 0x{base:X} is "
                        f"also {mmio_bases[base].name}'s; Linux uses the later node")
            mmio_bases[base] = node
        elif node.type in IOMMU_TYPES:
            key = ((f["segment"], f["bdf"]) if node.type == VIRTIO_IOMMU_PCI
                   else ("mmio", f["base_address"]))
            if key in iommu_keys:
                out.add(IOMMU_DUPLICATE, node, None, f"same IOMMU as {iommu_keys[key].name}")
            iommu_keys[key] = node
    for node in table.nodes:
        if node.type in IOMMU_TYPES and not node.raw and node.name not in referenced:
            out.add(IOMMU_UNUSED, node, None, "IOMMU is not referenced by any endpoint")
    # Overlaps: Linux prepends each node to its list, so the later node wins.
    ordered = sorted(ranges, key=lambda n: n.fields["bdf_start"])
    active: list[Node] = []
    for node in ordered:
        f = node.fields
        active = [a for a in active if a.fields["bdf_end"] >= f["bdf_start"]]
        for other in active:
            g = other.fields
            if g["segment_start"] <= f["segment_end"] and f["segment_start"] <= g["segment_end"]:
                first, later = sorted((other, node), key=table.nodes.index)
                out.add(RANGE_OVERLAP, later, "bdf_start", f"range overlaps {first.name}; Linux "
                        "lets the later node win")
        active.append(node)
    return list(out)


def _target(by_name: dict, ref: object) -> Node | None:
    return by_name.get(ref.name) if isinstance(ref, Ref) and ref.name else None


# --- description <-> table ---------------------------------------------------

# Where a table field stands in the description, for locating messages.
# The first of the keys that the description item has is used.
FIELD_KEYS = {"bdf_start": ("first", "bus", "buses"), "bdf_end": ("last", "count", "bus", "buses"),
              "segment_start": ("segment", "segments"), "segment_end": ("segment", "segments"),
              "endpoint_start": ("endpoint", "first", "bus", "buses"), "output_node": "iommu",
              "base_address": "mmio", "segment": ("segment", "pci"), "bdf": "pci"}


def compile_viot(desc: dict, p: d.Problems) -> Table:
    table = d.new_table("VIOT", desc, p)
    nodes: dict[str, Node] = {}
    iommu_names = set()
    for i, item in enumerate(desc.get("iommus", [])):
        path = ("iommus", i)
        name = item["name"]
        if "pci" in item:
            seg, rid = _bdf(item["pci"], p, path + ("pci",))
            seg = _segment(item, seg, p, path)
            node = Node(VIRTIO_IOMMU_PCI, {"segment": seg, "bdf": rid}, name)
        else:
            node = Node(VIRTIO_IOMMU_MMIO, {"base_address": item["mmio"]}, name)
        d.add_node(nodes, node, p, path, NODE_TYPES)
        iommu_names.add(name)
    # A node kept as raw bytes may be an endpoint's output node (a decoded
    # table whose IOMMU node could not be decoded): it is named like one.
    iommu_names.update(o.get("name") for o in desc.get("other_nodes", [])
                       if isinstance(o, dict) and isinstance(o.get("name"), str))
    for i, item in enumerate(desc.get("endpoints", [])):
        path = ("endpoints", i)
        ref = _iommu_ref(item.get("iommu"), iommu_names, p, path + ("iommu",))
        if "mmio" in item:
            node = Node(MMIO, {"endpoint": item["endpoint"], "base_address": item["mmio"],
                               "output_node": ref}, item.get("name", ""))
        else:
            node = Node(PCI_RANGE, _pci_range(item, p, path), item.get("name", ""))
            node.fields["output_node"] = ref
        d.add_node(nodes, node, p, path, NODE_TYPES)
    for i, item in enumerate(desc.get("other_nodes", [])):
        d.add_node(nodes, d.raw_node(item, p, ("other_nodes", i)), p, ("other_nodes", i),
                   NODE_TYPES)
    table.nodes = d.ordered(nodes, desc, p)
    return table


def _bdf(value: object, p: d.Problems, path: tuple) -> tuple[int | None, int]:
    try:
        return parse_bdf(value)
    except BdfError as exc:
        p.error(path, str(exc))
        return None, 0


def _segment(item: dict, from_bdf: int | None, p: d.Problems, path: tuple) -> int:
    if "segment" in item:
        if from_bdf is not None and from_bdf != item["segment"]:
            p.error(path + ("segment",), f"segment {item['segment']:#x} disagrees with the "
                    f"address's segment {from_bdf:#x}")
        return item["segment"]
    return from_bdf or 0


def _iommu_ref(value: object, names: set, p: d.Problems, path: tuple) -> Ref:
    if isinstance(value, int) and not isinstance(value, bool):
        p.warning(path, f"raw table offset 0x{value:X} instead of an IOMMU name")
        return Ref(offset=value)
    if value is None:  # missing: the schema says so
        return Ref(offset=0)
    if value not in names:
        known = ", ".join(sorted(names)) or "none are described"
        p.error(path, f"unknown IOMMU {value!r} (known: {known})")
    return Ref(name=str(value))


def _pci_range(item: dict, p: d.Problems, path: tuple) -> dict:
    seg_from = None
    if "buses" in item:
        first_bus, last_bus = item["buses"]
        first, last = first_bus << 8, last_bus << 8 | 0xFF
        if first_bus > last_bus:
            p.error(path + ("buses",), f"bus range {first_bus:#x}..{last_bus:#x} is inverted")
    elif "bus" in item:
        first, last = item["bus"] << 8, item["bus"] << 8 | 0xFF
    else:
        seg_from, first = _bdf(item["first"], p, path + ("first",))
        if "last" in item:
            seg_last, last = _bdf(item["last"], p, path + ("last",))
            if seg_last is not None and seg_from is not None and seg_last != seg_from:
                p.error(path + ("last",), "first and last name different segments; use "
                        "segments: [first, last]")
        else:
            count = item["count"]
            last = first + count - 1
            if count < 1 or last > 0xFFFF:
                p.error(path + ("count",), f"{count} IDs from {format_bdf(first)} do not fit the "
                        "16-bit requester-ID space")
                last = min(max(last, first), 0xFFFF)
    if "segments" in item:
        seg_start, seg_end = item["segments"]
    else:
        seg_start = seg_end = _segment(item, seg_from, p, path)
    endpoint = item.get("endpoint", seg_start << 16 | first)
    return {"endpoint_start": endpoint, "segment_start": seg_start, "segment_end": seg_end,
            "bdf_start": first, "bdf_end": last}


def describe_viot(table: Table) -> dict:
    desc = d.describe_header(table)
    if any(x.severity == "error" for x in check(table)):
        desc["lenient"] = True
    lists: dict[str, list] = {"iommus": [], "endpoints": [], "other_nodes": []}
    items: dict[int, dict] = {}
    for node in table.nodes:
        f = node.fields
        if node.raw:
            item, where = d.describe_raw(node), "other_nodes"
        elif node.type == VIRTIO_IOMMU_PCI:
            item = {"name": node.name, "pci": format_bdf(f["bdf"], f["segment"] or None)}
            where = "iommus"
        elif node.type == VIRTIO_IOMMU_MMIO:
            item, where = {"name": node.name, "mmio": Hex(f["base_address"])}, "iommus"
        elif node.type == PCI_RANGE:
            item, where = _describe_range(f), "endpoints"
        else:
            item = {"mmio": Hex(f["base_address"]), "endpoint": Hex(f["endpoint"]),
                    "iommu": d.describe_ref(f["output_node"])}
            where = "endpoints"
        if not node.raw:
            item.update(d.describe_raw_fields(node, NODE_TYPES[node.type]))
        lists[where].append(item)
        items[id(node)] = item
    for key, value in lists.items():
        if value:
            desc[key] = value
    rank = {VIRTIO_IOMMU_PCI: 0, VIRTIO_IOMMU_MMIO: 0, PCI_RANGE: 1, MMIO: 1}
    default = sorted(table.nodes, key=lambda n: 2 if n.raw else rank.get(n.type, 2))
    d.describe_order(table, desc, default, items)
    return desc


def _describe_range(f: dict) -> dict:
    item: dict = {}
    seg_s, seg_e = f["segment_start"], f["segment_end"]
    first, last = f["bdf_start"], f["bdf_end"]
    if first & 0xFF == 0 and last & 0xFF == 0xFF and first == last & 0xFF00:
        item["bus"] = Hex(first >> 8)
    elif first & 0xFF == 0 and last & 0xFF == 0xFF and first <= last:
        item["buses"] = Flow([Hex(first >> 8), Hex(last >> 8)])
    else:
        item["first"], item["last"] = format_bdf(first), format_bdf(last)
    if seg_s != seg_e:
        item["segments"] = Flow([seg_s, seg_e])
    elif seg_s:
        item["segment"] = seg_s
    if f["endpoint_start"] != (seg_s << 16 | first):
        item["endpoint"] = Hex(f["endpoint_start"])
    item["iommu"] = d.describe_ref(f["output_node"])
    return item


# --- what iasl writes differently (formats/dsl.py reads DIALECT) ---------------

def _viot_rows(node: Node, rows: list, blob: bytes, acpica: int) -> list:
    extra = node.fields.get("extra") or b""
    if extra:
        raise TableError(f"{len(extra)} bytes after the node's declared fields: iasl writes "
                         "a fixed-size VIOT node", node=node_label(node), field="extra")
    return rows


DIALECT = Dialect(node_rows=_viot_rows)

# --- the JSON Schema (schemas/viot.schema.json, generated: engine/schema.py) ----

def schema_doc() -> dict:
    """The iommus/endpoints description shape; widths come from the node
    declarations."""
    from ..engine import schema as s  # noqa: PLC0415 -- only the generator needs it

    width = {sub.name: s.bits_of(sub) for t in NODE_TYPES.values() for sub in t.struct.subcons
             if sub.name not in (None, "header", "extra")}
    bdf = {"anyOf": [{"type": "string",
                      "pattern": r"^([0-9a-fA-F]{1,4}:)?[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}\.[0-7]$"},
                     s.integer(width["bdf"])],
           "description": 'PCI function as "bb:dd.f", "ssss:bb:dd.f" or a 16-bit requester ID '
                          '(bus << 8 | dev << 3 | fn).'}
    name = s.name("A name other nodes use to refer to this one.")
    hatches = {
        "reserved": {"type": "object", "description": "Non-zero reserved fields, by spec field "
                     "name, as hex bytes (decode writes them so the round trip is lossless; "
                     "Linux ignores them).", "additionalProperties": s.hex_bytes("Hex bytes.")},
        "extra": s.hex_bytes("Bytes after the node's fixed fields (a longer node than the spec "
                             "defines)."),
        "length": s.integer(16, "Node Length to write instead of the computed one (only for "
                            "reproducing broken tables)."),
    }
    iommu = {"type": "object", "additionalProperties": False, "required": ["name"],
             "description": 'A virtio-iommu: on PCI (pci: "bb:dd.f") or on virtio-mmio (mmio: '
                            'base address).',
             "oneOf": [{"required": ["pci"]}, {"required": ["mmio"]}],
             "properties": {
                 "name": name, "pci": bdf,
                 "segment": s.integer(width["segment"], "PCI segment of the IOMMU function "
                                      "(default 0, or the one in pci)."),
                 "mmio": s.integer(width["base_address"], "Base address of the virtio-mmio "
                                   "IOMMU."),
                 **hatches}}
    bus = s.integer(8, "Bus number.")
    segment = s.integer(width["segment_start"], "Segment.")
    endpoint = {
        "type": "object", "additionalProperties": False, "required": ["iommu"],
        "description": "An endpoint is exactly one of: a PCI range (first + last or count), "
                       "whole buses (bus or buses), or an MMIO endpoint (mmio + endpoint).",
        "oneOf": [{"required": ["first"]}, {"required": ["bus"]}, {"required": ["buses"]},
                  {"required": ["mmio"]}],
        "dependencies": {
            "first": {"oneOf": [{"required": ["last"]}, {"required": ["count"]}],
                      "description": "A range from first needs exactly one of last or count."},
            "last": ["first"], "count": ["first"],
            "mmio": {"required": ["endpoint"],
                     "not": {"anyOf": [{"required": ["segment"]}, {"required": ["segments"]}]},
                     "description": "An MMIO endpoint takes mmio and endpoint (no segment)."},
            "segment": {"not": {"required": ["segments"]},
                        "description": "Give segment or segments, not both."}},
        "properties": {
            "name": name,
            "iommu": {"anyOf": [{"type": "string"}, s.integer(width["output_node"])],
                      "description": "Name of the IOMMU that translates these endpoints (a raw "
                                     "table offset is accepted to reproduce broken tables)."},
            "first": bdf, "last": bdf,
            "count": s.integer(width["bdf_start"], "How many requester IDs from first.",
                               minimum=1, extra=1),
            "bus": s.integer(8, "One whole bus (devices 0-31, all functions)."),
            "buses": {"type": "array", "items": bus, "minItems": 2, "maxItems": 2,
                      "description": "[first bus, last bus], whole buses."},
            "segment": s.integer(width["segment_start"], "PCI segment (default 0)."),
            "segments": {"type": "array", "items": segment, "minItems": 2, "maxItems": 2,
                         "description": "[first, last] segments; each further segment adds "
                                        "0x10000 to the endpoint ID."},
            "endpoint": s.integer(width["endpoint_start"], "Endpoint ID of the first function "
                                  "(default: segment << 16 | first RID, so IDs equal RIDs) or "
                                  "of the MMIO endpoint."),
            "mmio": s.integer(width["base_address"], "Base address of an MMIO endpoint (Linux "
                              "matches the device's first memory resource)."),
            **hatches}}
    other = {"type": "object", "additionalProperties": False, "required": ["type", "data"],
             "properties": {"name": name, "type": s.integer(8, "Node type."),
                            "data": s.hex_bytes("The whole node, header included."),
                            "length": s.integer(16, "Node Length to write instead of the "
                                                "computed one.")}}
    return s.header(
        SPEC, "Table revision (VIOT: 0).", "acpitables VIOT description",
        "A virtio-iommu topology: IOMMUs and the PCI ranges and MMIO endpoints they translate. "
        "A requester ID that no endpoint range covers bypasses the IOMMU.",
        {"iommus": {"type": "array", "description": "virtio-iommu devices.",
                    "items": {"$ref": "#/definitions/iommu"}},
         "endpoints": {"type": "array", "description": "What each IOMMU translates: PCI ranges "
                       "and MMIO endpoints. Later entries win where ranges overlap (as in "
                       "Linux).", "items": {"$ref": "#/definitions/endpoint"}}},
        after={"order": {"type": "array", "items": {"type": "string"}, "description": "Node "
                         "order in the table by name, when it is not the default (IOMMUs, "
                         "endpoints, other nodes)."},
               "other_nodes": {"type": "array", "description": "Nodes of types this tool does "
                               "not know, kept as raw bytes.", "items": other}},
        definitions={"iommu": iommu, "endpoint": endpoint})


SPEC = TableSpec(
    signature="VIOT",
    spec_name="ACPI 6.5 VIOT",
    header=VIOT_HEADER,
    node_header=VIOT_NODE_HEADER,
    node_types=NODE_TYPES,
    name_nodes=name_nodes,
    describe=describe_viot,
    compile=compile_viot,
    check=check,
    schema="viot.schema.json",
    revisions=(0,),
    label="Virtual I/O Translation Table",
    field_keys=FIELD_KEYS,
    mapper="acpitables.mapping.viot:ViotMapper",
    node_alignment=8,  # every fixed size is a multiple of 8
    dialect=DIALECT,
    schema_doc=schema_doc,
)
