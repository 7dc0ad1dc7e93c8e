"""acpitables.mapping.dmar -- the DMAR engine (drivers/iommu/intel/dmar.c,
iommu.c device_lookup_iommu).

Linux keeps the remapping units in one list: units with scopes at its head
(so in reverse table order), INCLUDE_PCI_ALL units at its tail (table
order), a unit with a segment and address already seen left out. A PCI
device gets the first unit of its segment that lists it, or lists a bridge
above it (by the bridge's secondary..subordinate bus range), or includes
all PCI devices; else no IOMMU. The output ID is the requester ID (VT-d
source-id).

What a table alone cannot say -- where a multi-hop path ends, which buses
a bridge scope covers -- comes from a Topology; without one the answer
says what it assumes (mapping/pcitopo.py). Without a topology a bridge's
secondary bus is only known to be above the bridge's own bus, so devices
on the root buses get exact answers.

A PCI device listed by two units goes to the one first in that list (the
later in the table): dmar_pci_bus_add_dev records it in the first unit
whose scope matches and stops. INCLUDE_PCI_ALL units' own PCI scopes are
never filled (that loop skips them). RMRR, ATSR, SATC and SIDP structures
do not change which unit translates (device_lookup_iommu walks DRHDs only).
A device's DMA aliases do not either: the unit is the device's own
(`lookup_aliases`).

Linux refuses the whole table (host address width below 12, no DRHD, a
structure past the table end, an unterminated ANDD name) or disables VT-d
(a DRHD at address 0; given a topology, an ENDPOINT scope naming a bridge):
every device is a MapError then, doing direct DMA.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..engine.table import Node, Table
from ..tables import dmar as declared
from .results import (RID_MAX, Bypass, BypassReason, IntervalMap, MapError, Result, Span,
                      TableMapper, Translated, paint)
from .pcitopo import Topology, assuming, bdf, own_id_decides


PCI_BASE_CLASS_BRIDGE = 0x06  # include/linux/pci_ids.h


@dataclass(frozen=True)
class _Caveat:
    rank: int       # rules before this one are not affected
    bus_lo: int     # buses below it cannot be behind the bridge / at the path's end
    text: str


class DmarMapper(TableMapper):
    takes_topology = True  # answers for bridges need the PCI topology
    kind = "DMAR"
    describes_msi = False

    def __init__(self, table: Table, topology: Topology | None = None):
        super().__init__(table)
        self.topology = topology
        self.refused = declared.linux_refusal(table)
        units: list[Node] = []
        seen: set[tuple[int, int]] = set()
        for n in table.nodes:
            if n.raw or not self.role(n).is_iommu:
                continue
            key = (n.fields["segment"], n.fields["address"])
            if key in seen:            # dmar_find_dmaru: the later one is ignored
                continue
            seen.add(key)
            units.append(n)
        scoped = [u for u in units if not declared.is_catch_all(u)]
        self.units = list(reversed(scoped)) + [u for u in units if declared.is_catch_all(u)]
        if self.refused is None and topology is not None:
            self.refused = self._scope_type_mismatch(topology)

    def _scope_type_mismatch(self, topo: Topology) -> str | None:
        """dmar_insert_dev_scope: the first scope (units in list order,
        INCLUDE_PCI_ALL units skipped) whose path names an existing device
        decides; an ENDPOINT scope naming a bridge fails with "Device scope
        type does not match", dmar_dev_scope_init returns the error and
        intel_iommu_init stops: no device is translated (interrupt remapping
        stays). A BRIDGE scope naming a normal-header device also fails
        unless its class is a bridge class (06xxxxh); the topology knows the
        class when its source gives one (sysfs, lspci -vmm), else the scope
        passes."""
        decided: set[tuple[int, int]] = set()
        for unit in self.units:
            if declared.is_catch_all(unit):
                continue
            segment = unit.fields["segment"]
            for scope in unit.fields.get("scopes") or ():
                kind = declared.scope_kind(scope)
                if kind not in ("endpoint", "bridge") or not scope.get("path"):
                    continue
                hops = [(e["device"], e["function"]) for e in scope["path"]]
                rid = topo.route(segment, scope["bus"], hops)
                if rid is None or (segment, rid) in decided \
                        or (topo.bridge(segment, rid) is None and not topo.exists(segment, rid)):
                    continue
                decided.add((segment, rid))
                if kind == "endpoint" and topo.bridge(segment, rid) is not None:
                    return (f"{unit.name}'s scope {declared.format_path(scope)} is an ENDPOINT "
                            f"scope, but {bdf(rid, segment)} is a bridge: Linux's device scope "
                            "check fails (\"Device scope type does not match\") and VT-d "
                            "translates no device")
                cls = topo.class_code(segment, rid)
                if kind == "bridge" and topo.bridge(segment, rid) is None and cls is not None \
                        and cls >> 16 != PCI_BASE_CLASS_BRIDGE:
                    return (f"{unit.name}'s scope {declared.format_path(scope)} is a BRIDGE "
                            f"scope, but {bdf(rid, segment)} is an endpoint of class "
                            f"{cls:06x}: Linux's device scope check fails (\"Device scope "
                            "type does not match\") and VT-d translates no device")
        return None

    def segments(self) -> list[int]:
        return sorted({0} | {u.fields["segment"] for u in self.units})

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        if msi:
            return IntervalMap.undescribed("a DMAR says nothing about MSIs")
        if self.refused:
            return IntervalMap([Span(0, RID_MAX, MapError("dmar-refused", self.refused))])
        units = [u for u in self.units if u.fields["segment"] == segment]
        if not units:
            return IntervalMap.undescribed(f"no DRHD for segment {segment:#x}")
        rules: list[tuple[int, int, Node]] = []
        caveats: list[_Caveat] = []
        topo = self.topology
        for unit in units:
            if declared.is_catch_all(unit):
                # dmar_pci_bus_add_dev skips INCLUDE_PCI_ALL units: their PCI
                # scopes are never filled, the unit only catches the rest.
                rules.append((0, RID_MAX, unit))
                continue
            for scope in unit.fields.get("scopes") or ():
                kind = declared.scope_kind(scope)
                if kind not in ("endpoint", "bridge") or not scope.get("path"):
                    continue
                hops = [(e["device"], e["function"]) for e in scope["path"]]
                where = f"{unit.name}'s scope {declared.format_path(scope)}"
                rid = hops[0][1] | hops[0][0] << 3 | scope["bus"] << 8 if len(hops) == 1 \
                    else topo.route(segment, scope["bus"], hops) if topo is not None else None
                if rid is None:
                    caveats.append(_Caveat(len(rules), scope["bus"] + 1,
                                           f"{where} (a {len(hops)}-hop path) names no device "
                                           "here; only a PCI topology says which"))
                    continue
                rules.append((rid, rid, unit))
                if kind != "bridge":
                    continue
                bridge = topo.bridge(segment, rid) if topo is not None else None
                if bridge is not None:
                    rules.append((bridge.secondary << 8, bridge.subordinate << 8 | 0xFF, unit))
                elif topo is None:
                    caveats.append(_Caveat(len(rules), (rid >> 8) + 1,
                                           f"no device is behind bridge {bdf(rid, segment)} "
                                           f"({where}); a PCI topology says which buses are"))
        spans = []
        points = [c.bus_lo << 8 for c in caveats if c.bus_lo <= 0xFF]
        gap = (f"no DRHD of segment {segment:#x} lists it or a bridge above it, and none has "
               "INCLUDE_PCI_ALL")
        for a, b, win in paint(rules, 0, RID_MAX, points):
            result: Result
            if win is None:
                result = Bypass(BypassReason.NO_MATCH, gap)
            else:
                unit = rules[win][2]
                result = Translated(unit.name, a, (unit.name,))
            rank = len(rules) if win is None else win
            doubts = [c.text for c in caveats if c.rank <= rank and c.bus_lo <= a >> 8]
            if doubts:
                result = assuming(result, "; ".join(doubts))
            spans.append(Span(a, b, result))
        return IntervalMap(spans)

    def lookup_aliases(self, rids: Sequence[int], segment: int = 0) -> Result:
        """A PCI device and its DMA aliases (own RID first): the unit is the
        device's own (device_lookup_iommu matches the device against the
        scopes, not its aliases); domain_context_mapping programs each alias
        on that unit."""
        return own_id_decides(self, rids, segment)

    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """An ACPI namespace device (ANDD) by its path: the first unit in
        Linux's list (scoped units in reverse table order, then the
        INCLUDE_PCI_ALL ones) with a namespace scope of its device number
        (dmar_acpi_insert_dev_scope walks every unit, INCLUDE_PCI_ALL ones
        too); the ID is that scope's bus and first path entry."""
        if self.refused:
            return MapError("dmar-refused", self.refused)
        found = declared.namespace_device(self.table, path)
        if found is None:
            return Bypass(BypassReason.NO_DESCRIPTION, f"no ANDD names {path}")
        declaration, number = found
        for unit in self.units:
            for scope in unit.fields.get("scopes") or ():
                if (declared.scope_kind(scope) == "namespace"
                        and scope["enumeration_id"] == number and scope.get("path")):
                    # The scope's start bus and FIRST path entry, whatever
                    # follows (dmar_acpi_insert_dev_scope reads path->device).
                    hop = scope["path"][0]
                    rid = scope["bus"] << 8 | hop["device"] << 3 | hop["function"]
                    return Translated(unit.name, rid, (declaration.name, unit.name))
        return Bypass(BypassReason.NO_MATCH, f"no namespace scope carries ANDD {number}")
