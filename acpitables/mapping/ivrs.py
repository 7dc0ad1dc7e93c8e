"""acpitables.mapping.ivrs -- the IVRS engine (drivers/iommu/amd/init.c,
iommu.c).

Linux picks ONE IVHD type for the whole system (get_highest_supported_ivhd_type:
the type of the last subtable, before any type above 40h, whose DeviceId is
the first subtable's) and initialises an IOMMU from every block of exactly
that type, in table order. Each block's device entries, in order, point the
16-bit device IDs they select at the block's IOMMU (rlookup; a later block
overwrites an earlier one): SELECT, ranges (START / ALIAS START / EXT START
.. END, the start entry's state surviving across entries), ALIAS SELECT and
alias ranges (the alias itself too), ALL (0 .. the segment's last device
ID), SPECIAL (the IOAPIC/HPET's device ID), ACPI HID (40h blocks only).
Then each IOMMU's own device ID is cleared: the IOMMU never translates
itself. IDs above the highest selected one (find_last_devid_acpi) are
beyond Linux's tables.

The output ID is the device ID; an IVRS alias is the ID the IOMMU sees for
a device whose DMA carries it (behind a PCIe-to-PCI bridge), listed in
`more_ids` -- without a topology the answer says that it assumes the alias
is what the bridge issues.
"""
from __future__ import annotations

from ..engine.pci import format_bdf
from ..engine.table import Node, Table
from ..tables import ivrs as declared
from .results import (RID_MAX, Bypass, BypassReason, IntervalMap, MapError, Result, Span,
                      TableMapper, Translated)
from .pcitopo import Topology, assuming

ID_SPACE = RID_MAX + 1


class IvrsMapper(TableMapper):
    takes_topology = True  # answers for bridges need the PCI topology
    kind = "IVRS"
    describes_msi = False

    def __init__(self, table: Table, topology: Topology | None = None):
        super().__init__(table)
        self.topology = topology
        self.chosen = declared.chosen_ivhd_type(table)
        self.units = [n for n in declared.units(table) if self.role(n).is_iommu]
        self.refused = None
        if not declared.has_ivhd(table):
            self.refused = "no IVHD block: Linux finds no AMD IOMMU"
        elif not self.units:
            self.refused = (f"Linux picks subtable type 0x{self.chosen:02X}, no IVHD type: "
                            "the AMD IOMMU driver fails to initialise")
        # (HID, UID) -> (unit, device ID), first registration kept; the
        # per-segment tables are built per segment map and not kept (a table
        # of many segments must not hold 64 Ki entries for each).
        self.hids: dict[tuple[str, str], tuple[Node, int]] = {}
        for unit in self.units:
            if not declared.takes_hid_entries(unit):
                continue
            for e in unit.fields.get("devices") or ():
                if e["type"] == declared.HID and "data" not in e and e["hid"].strip(b"\0 "):
                    uid = e.get("uid") or b""
                    uid_text = (str(uid[0]) if e["uid_format"] == 1 and uid
                                else uid.decode("latin-1") if e["uid_format"] == 2 else "")
                    self.hids.setdefault((declared.describe_id8(e["hid"]), uid_text),
                                         (unit, e["device_id"]))

    def segments(self) -> list[int]:
        return sorted({0} | {u.fields["pci_segment_group"] for u in self.units})

    def _apply(self, segment: int) -> tuple[list, list, int]:
        """rlookup (unit or None per device ID), alias table, last device ID."""
        units = [u for u in self.units if u.fields["pci_segment_group"] == segment]
        last = max((declared.last_devid(u) for u in units), default=0)
        owner: list = [None] * ID_SPACE
        alias: list = [None] * ID_SPACE

        def put(lo: int, hi: int, unit: Node) -> None:
            hi = min(hi, last)  # Linux's tables end at last; beyond is memory it does not own
            if lo <= hi:
                owner[lo:hi + 1] = [unit] * (hi - lo + 1)

        for unit in units:
            start, to, aliased = 0, 0, False
            for e in unit.fields.get("devices") or ():
                code = e["type"]
                if "data" in e:
                    continue
                dev = e["device_id"]
                if code == declared.ALL:
                    put(0, last, unit)
                elif code in (declared.SELECT, declared.EXT_SELECT):
                    put(dev, dev, unit)
                elif code in (declared.START, declared.EXT_START):
                    start, aliased = dev, False
                elif code == declared.ALIAS_START:
                    start, to, aliased = dev, e["used_id"], True
                elif code == declared.END:
                    if start <= dev:
                        put(start, dev, unit)
                        if aliased:
                            hi = min(dev, last)
                            if start <= hi:
                                alias[start:hi + 1] = [to] * (hi - start + 1)
                            put(to, to, unit)
                elif code == declared.ALIAS_SELECT:
                    to = e["used_id"]
                    if dev <= last:
                        alias[dev] = to
                    put(to, to, unit)
                    put(dev, dev, unit)
                elif code == declared.SPECIAL:
                    put(e["used_id"], e["used_id"], unit)
                elif code == declared.HID and declared.takes_hid_entries(unit) \
                        and e["hid"].strip(b"\0 "):
                    put(dev, dev, unit)
        for unit in units:      # init_iommu_one_late: "this is a lie!"
            owner[unit.fields["device_id"]] = "self"
        return owner, alias, last

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        if msi:
            return IntervalMap.undescribed("an IVRS says nothing about MSI translation")
        if self.refused:
            return IntervalMap([Span(0, RID_MAX, MapError("ivrs-refused", self.refused))])
        if not any(u.fields["pci_segment_group"] == segment for u in self.units):
            return IntervalMap.undescribed(f"no IVHD block of type {self.chosen:02X}h for "
                                           f"segment {segment:#x}")
        owner, alias, last = self._apply(segment)
        spans: list[Span] = []
        i = 0
        while i < ID_SPACE:
            o, a = owner[i], alias[i] if i <= last else None
            j = i
            while j + 1 < ID_SPACE and owner[j + 1] is o and (alias[j + 1] if j + 1 <= last
                                                                 else None) == a \
                    and (j + 1 <= last) == (i <= last):
                j += 1
            spans.append(self._span(i, j, o, a, last, segment))
            i = j + 1
        return IntervalMap(spans)

    def _span(self, lo: int, hi: int, unit: object, alias: int | None, last: int,
              segment: int) -> Span:
        result: Result
        if lo > last:
            result = Bypass(BypassReason.NO_MATCH, f"above the highest device ID "
                            f"{format_bdf(last)} the IVRS selects (Linux's tables end there)")
        elif unit == "self":
            owners = [u.name for u in self.units if u.fields["device_id"] == lo]
            result = Bypass(BypassReason.SELF, f"the function is {owners[0]}'s IOMMU itself")
        elif unit is None:
            result = Bypass(BypassReason.NO_MATCH, f"no device entry of a type "
                            f"{self.chosen:02X}h block selects it")
        else:
            assert isinstance(unit, Node)
            result = Translated(unit.name, lo, (unit.name,))
            if alias is not None and not (lo == hi == alias):
                bridge_known = self.topology is not None
                result = Translated(unit.name, lo, (unit.name,), more_ids=(alias,))
                if not bridge_known:
                    result = assuming(result, f"the IOMMU sees alias {format_bdf(alias)} when "
                                      "the device's DMA carries the alias (behind a "
                                      "PCIe-to-PCI bridge); Linux sets up both IDs")
        return Span(lo, hi, result)

    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """A platform device from an ACPI HID entry, as 'HID:UID' (or 'HID')."""
        if self.refused:
            return MapError("ivrs-refused", self.refused)
        hid, _, uid = path.partition(":")
        hit = self.hids.get((hid, uid))
        if hit is None:
            return Bypass(BypassReason.NO_DESCRIPTION, f"no ACPI HID entry of a type "
                          f"{self.chosen:02X}h block names {path}")
        unit, dev = hit
        return Translated(unit.name, dev, (unit.name,))
