"""acpitables.mapping.viot -- the VIOT engine (drivers/acpi/viot.c).

Inclusive BDF and segment ranges, endpoint = endpoint_start + ((segment -
segment_start) << 16) + (BDF - bdf_start), the LAST endpoint node wins
(Linux list_add()s each parsed node at the head), no IOMMU for the IOMMU
itself, MMIO endpoints by the base of their first memory resource.

Roles decide which node is what: an endpoint whose role matches
"segment_bdf_range" or "base_address" is where a device's lookup starts, an IOMMU
role ends it; an IOMMU's own match field ("pci_function": segment + bdf, or
"base_address") says which device IS that IOMMU.
"""
from __future__ import annotations

from ..engine.registry import TABLES
from ..engine.roles import NO_ROLE, Role
from ..engine.table import Node, Table
from .results import (RID_MAX, U32, Bypass, BypassReason, IntervalMap, Result, Span,
                      TableMapper, Translated, node_label, paint)

MATCH_PCI_RANGE = "segment_bdf_range"        # segment_start..segment_end x bdf_start..bdf_end
MATCH_ADDRESS = "base_address"       # an MMIO device by its first resource
MATCH_PCI_FUNCTION = "pci_function"  # an IOMMU that is the PCI function segment:bdf


def _declared_role(table: Table, node: Node) -> tuple[Role, int | None]:
    """The role and minimum length of a node's declared type, raw or not
    (Linux sizes a node by its type before it parses it)."""
    spec = TABLES.get(table.signature)
    ntype = spec.node_types.get(node.type) if spec is not None else None
    if spec is None or ntype is None:
        return NO_ROLE, None
    try:
        need = ntype.min_length(spec, None)
    except (TypeError, KeyError, AttributeError):   # a declaration that needs a revision
        need = None
    return ntype.role, need


def _raw_length(node: Node) -> int:
    """The Length field of a node kept as raw bytes."""
    if node.length_override is not None:
        return node.length_override
    data = node.fields.get("data") or b""
    return int.from_bytes(data[2:4], "little") if len(data) >= 4 else len(data)


class ViotMapper(TableMapper):
    kind = "VIOT"
    describes_msi = False

    def __init__(self, table: Table):
        super().__init__(table)
        # (endpoint node, its IOMMU); Linux drops an endpoint whose output
        # node is no IOMMU ("No IOMMU node found") and keeps parsing.
        self.ranges: list[tuple[Node, Node]] = []
        self.by_address: list[tuple[Node, Node]] = []
        self.dropped: list[Node] = []
        for n in table.nodes:
            role = self.role(n)
            if n.raw:
                declared, need = _declared_role(table, n)
                if declared.is_endpoint and need is not None and _raw_length(n) < need:
                    # viot_parse_node: "Invalid PCI/MMIO node size" is
                    # -EINVAL, and acpi_viot_init stops parsing there: no
                    # later endpoint node is registered.
                    break
                continue
            if not role.is_endpoint or role.match not in (MATCH_PCI_RANGE, MATCH_ADDRESS):
                continue
            iommu = self._iommu(n)
            if iommu is None:
                self.dropped.append(n)
            elif role.match == MATCH_PCI_RANGE:
                self.ranges.append((n, iommu))
            else:
                self.by_address.append((n, iommu))
        self.iommus = [n for n in table.nodes if self.role(n).is_iommu]

    def _iommu(self, node: Node) -> Node | None:
        target = self.resolve(node.fields.get("output_node"))
        if isinstance(target, Node) and self.role(target).is_iommu:
            return target
        return None

    # A multi-segment range covers every segment from its first to its last;
    # each is listed while that stays readable. Beyond it, the segments where
    # coverage changes stand for the rest (interior ones answer lookups the
    # same way, endpoint IDs 0x10000 further on per segment).
    LIST_ALL_SEGMENTS = 1024

    def segments(self) -> list[int]:
        segs = {0}
        spans = [(n.fields["segment_start"], n.fields["segment_end"])
                 for n, _ in self.ranges] + [(n.fields["segment_start"], n.fields["segment_end"])
                                             for n in self.dropped
                                             if self.role(n).match == MATCH_PCI_RANGE]
        if sum(max(0, hi - lo + 1) for lo, hi in spans) <= self.LIST_ALL_SEGMENTS:
            segs |= {s for lo, hi in spans if lo <= hi for s in range(lo, hi + 1)}
        else:
            for lo, hi in spans:
                segs.update(s for s in (lo, hi, lo + 1, hi + 1) if s <= 0xFFFF)
        for n in self.iommus:
            if self.role(n).match == MATCH_PCI_FUNCTION:
                segs.add(n.fields["segment"])
        return sorted(segs)

    def _is_self(self, iommu: Node, segment: int, bdf: int) -> bool:
        """viot_dev_iommu_init(): "We're not translating ourself"."""
        return (self.role(iommu).match == MATCH_PCI_FUNCTION
                and iommu.fields["segment"] == segment and iommu.fields["bdf"] == bdf)

    def _segment_map(self, segment: int, msi: bool, trace=None) -> IntervalMap:
        """With a trace (explain), the decisions about the RID trace.focus
        are recorded as they are taken."""
        if msi:
            if trace is not None:
                trace.add("stop", "a VIOT says nothing about MSIs")
            return IntervalMap.undescribed("a VIOT says nothing about MSIs")
        # Rule order = priority: the LAST node in table order first.
        rules = []
        notes: list[tuple[Node, str, bool]] = []     # explain: per node in rule order
        rid = trace.focus if trace is not None else 0
        for n, iommu in reversed(self.ranges):
            f = n.fields
            seg_ok = f["segment_start"] <= segment <= f["segment_end"]
            bdf_ok = f["bdf_start"] <= rid <= f["bdf_end"]
            if trace is not None:
                notes.append((n, f"segment {f['segment_start']}..{f['segment_end']} "
                              f"{'holds' if seg_ok else 'fails'} for {segment}, BDF "
                              f"0x{f['bdf_start']:04X}..0x{f['bdf_end']:04X} "
                              f"{'holds' if bdf_ok else 'fails'} for 0x{rid:04X} (inclusive)",
                              seg_ok and bdf_ok))
            if seg_ok:
                rules.append((f["bdf_start"], f["bdf_end"], (n, iommu)))
        if trace is not None:
            trace.add("start", f"segment {segment}, RID 0x{rid:04X}: the PCI range nodes, the "
                      "last in the table first (viot_pci_dev_iommu_init walks a list built "
                      "with list_add)")
            for n in self.dropped:
                trace.add("skip", "dropped at parse time: its output node is no VIOT IOMMU "
                          "node", node_label(n), n.offset)
        dropped = [node_label(n) for n in self.dropped if self.role(n).match == MATCH_PCI_RANGE
                   and n.fields["segment_start"] <= segment <= n.fields["segment_end"]]
        gap = "no VIOT PCI range covers it"
        if dropped:
            gap += (f" (Linux drops {', '.join(dropped)}: output node is no VIOT IOMMU node)")
        spans: list[Span] = []
        for a, b, win in paint(rules, 0, RID_MAX, self._self_points(segment)):
            here = trace is not None and a <= rid <= b
            if here:
                winner = rules[win][2][0] if win is not None else None
                for n, text, ok in notes:
                    trace.add("match" if ok else "no-match", text, node_label(n), n.offset)
                    if n is winner:
                        break
            if win is None:
                if here:
                    trace.add("stop", "no PCI range node covers it: no IOMMU, direct DMA")
                spans.append(Span(a, b, Bypass(BypassReason.NO_MATCH, gap)))
                continue
            n, iommu = rules[win][2]
            f = n.fields
            if a == b and self._is_self(iommu, segment, a):
                if here:
                    trace.add("self", f"the function {segment:04x}:{a >> 8:02x}:"
                              f"{(a >> 3) & 0x1F:02x}.{a & 7} is the IOMMU itself: \"We're not "
                              "translating ourself\"", node_label(iommu), iommu.offset)
                spans.append(Span(a, b, Bypass(BypassReason.SELF,
                                               f"the function is {node_label(iommu)} itself")))
                continue
            epid = (f["endpoint_start"] + ((segment - f["segment_start"]) << 16)
                    + (a - f["bdf_start"])) & U32
            if here:
                out = (epid + rid - a) & U32         # the span's endpoint ID, at this RID
                trace.add("arithmetic", f"endpoint_start 0x{f['endpoint_start']:X} + ((segment "
                          f"{segment} - segment_start {f['segment_start']}) << 16) + (0x{rid:04X}"
                          f" - bdf_start 0x{f['bdf_start']:04X}) = 0x{out:X}", node_label(n),
                          n.offset, input=rid, output=out)
                trace.add("stop", f"output_node is the IOMMU {node_label(iommu)}: endpoint ID "
                          f"0x{out:X}", node_label(iommu), iommu.offset, id=out)
            spans.append(Span(a, b, Translated(node_label(iommu), epid,
                                               (node_label(n), node_label(iommu)))))
        return IntervalMap(spans)

    def _self_points(self, segment: int) -> list[int]:
        pts = []
        for n in self.iommus:
            if self.role(n).match == MATCH_PCI_FUNCTION and n.fields["segment"] == segment:
                pts += [n.fields["bdf"], n.fields["bdf"] + 1]
        return pts

    def lookup_address(self, base: int, trace=None) -> Result:
        """A platform device by the base of its first memory resource."""
        def note(action: str, text: str, n: Node | None = None) -> None:
            if trace is not None:
                trace.add(action, text, node_label(n) if n is not None else None,
                          n.offset if n is not None else None)
        note("start", f"MMIO base 0x{base:X}: the MMIO endpoint nodes, the last in the "
             "table first")
        for n, iommu in reversed(self.by_address):           # last node wins
            ok = n.fields[MATCH_ADDRESS] == base
            note("match" if ok else "no-match",
                 f"base_address 0x{n.fields[MATCH_ADDRESS]:X} {'==' if ok else '!='} 0x{base:X}", n)
            if ok:
                if (self.role(iommu).match == MATCH_ADDRESS
                        and iommu.fields[MATCH_ADDRESS] == base):
                    note("self", "the device is the IOMMU itself", iommu)
                    return Bypass(BypassReason.SELF, f"the device is {node_label(iommu)} itself")
                note("stop", f"output_node is the IOMMU {node_label(iommu)}: endpoint ID "
                     f"0x{n.fields['endpoint']:X} (the node's endpoint field)", iommu)
                return Translated(node_label(iommu), n.fields["endpoint"],
                                  (node_label(n), node_label(iommu)))
        note("stop", f"no MMIO endpoint node has base_address 0x{base:X}: direct DMA")
        for n in self.iommus:
            if self.role(n).match == MATCH_ADDRESS and n.fields[MATCH_ADDRESS] == base:
                return Bypass(BypassReason.SELF, f"the device is {node_label(n)} itself")
        detail = f"no VIOT MMIO endpoint at 0x{base:X}"
        dropped = [node_label(n) for n in self.dropped
                   if self.role(n).match == MATCH_ADDRESS and n.fields[MATCH_ADDRESS] == base]
        if dropped:
            detail += f" (Linux drops {', '.join(dropped)}: output node is no VIOT IOMMU node)"
        return Bypass(BypassReason.NO_MATCH, detail)
