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

A table Linux gives up on (tables/ivrs.py linux_refusal: a wrong checksum,
no IVHD type chosen, a block that selects no device ID or cannot be
walked) makes every answer a MapError: no AMD IOMMU, direct DMA.

A PCI device's IOMMU is the rlookup entry of its OWN device ID
(amd_iommu_probe_device -> rlookup_amd_iommu); its DMA aliases and its
IVRS alias get the same device table entry (clone_aliases), so they are
further IDs of the answer, never a second opinion (`lookup_aliases`). An
IVRS alias on the device's own bus also becomes a PCI DMA alias of the
device (setup_aliases -> pci_add_dma_alias), which puts a function at that
ID in the device's IOMMU group; `pci_dma_aliases` hands it to
mapping/topology.py. Without a topology the answer says that it assumes
the alias is what the device's DMA carries.

Kernel command-line overrides (`cmdline`, parse_cmdline): ivrs_acpihid
gives an ACPI HID device another device ID, so another IOMMU can translate
it (add_acpi_hid_device: an IVRS ACPI HID entry of that HID/UID takes the
command line's ID; a HID device only on the command line gets the IOMMU
whose entries select that ID). ivrs_ioapic / ivrs_hpet name the device ID
of an IOAPIC / HPET for interrupt remapping, and add_special_device hands
that ID back to the SPECIAL entry, whose set_dev_entry_from_acpi then
points the command line's ID -- a PCI device ID -- at the block's IOMMU
instead of the table's: so they too can change which IOMMU translates a
PCI function, and the engine applies them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from ..engine.pci import format_bdf
from ..engine.table import Node, Table
from ..errors import InputError
from ..tables import ivrs as declared
from .results import (RID_MAX, Bypass, BypassReason, IntervalMap, MapError, Result, Span,
                      TableMapper, Translated)
from .pcitopo import Topology, assuming, own_id_decides

ID_SPACE = RID_MAX + 1
IOAPIC, HPET = 1, 2   # IVHD_SPECIAL_IOAPIC / IVHD_SPECIAL_HPET


# --- kernel command line (init.c parse_ivrs_ioapic / _hpet / _acpihid) --------

EARLY_MAP_SIZE = 4      # init.c: a fifth override of a kind is ignored ("map overflow")
ACPIHID_HID_LEN, ACPIHID_UID_LEN = 9, 256   # amd_iommu_types.h, with the NUL
ACPIID_LEN = ACPIHID_HID_LEN + ACPIHID_UID_LEN
_X = r"([0-9a-fA-F]+)"
_D = r"([+-]?[0-9]+)"
_BDF = _X + ":" + _X + r"\." + _X        # sscanf "%x:%x.%x"
_SBDF = _X + ":" + _BDF                   # "%x:%x:%x.%x"


@dataclass(frozen=True)
class HidOverride:
    hid: str
    uid: str            # "" matches any UID (add_acpi_hid_device, acpi_dev_hid_uid_match)
    segment: int
    device_id: int


@dataclass
class Cmdline:
    """The IVRS overrides of a kernel command line, in command-line order,
    as Linux keeps them (at most EARLY_MAP_SIZE of each kind)."""

    ioapic: list[tuple[int, int, int]] = field(default_factory=list)  # (id, segment, device ID)
    hpet: list[tuple[int, int, int]] = field(default_factory=list)
    acpihid: list[HidOverride] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # what Linux rejects, with its reason

    def special(self, variety: int, handle: int) -> int | None:
        """The command line's device ID for an IOAPIC / HPET handle: the first
        override of that ID (add_special_device), or None."""
        for ident, _seg, devid in self.ioapic if variety == IOAPIC else \
                self.hpet if variety == HPET else ():
            if ident == handle:
                return devid
        return None

    def hid(self, hid: str, uid: str) -> HidOverride | None:
        """The override an IVRS ACPI HID entry takes (add_acpi_hid_device:
        same HID, and the UIDs equal or either empty)."""
        for o in self.acpihid:
            if o.hid == hid and (not uid or not o.uid or o.uid == uid):
                return o
        return None


def _sbdf(seg: str | int, bus: str, dev: str, fn: str) -> tuple[int, int]:
    """IVRS_GET_SBDF_ID: each part masked to its width."""
    s = int(seg, 16) if isinstance(seg, str) else seg
    return s & 0xFFFF, (int(bus, 16) & 0xFF) << 8 | (int(dev, 16) & 0x1F) << 3 | int(fn, 16) & 7


def _special_arg(arg: str) -> tuple[int, int, int] | None:
    """'=ID@[SEG:]BB:DD.F', or the deprecated '[ID]=[SEG:]BB:DD.F' (the
    sscanf formats of parse_ivrs_ioapic; what follows a match is ignored)."""
    for pattern in ("=" + _D + "@" + _BDF, "=" + _D + "@" + _SBDF,
                    r"\[" + _D + r"\]=" + _BDF, r"\[" + _D + r"\]=" + _SBDF):
        m = re.match(pattern, arg)
        if m:
            g = m.groups()
            seg, devid = _sbdf(*g[1:]) if len(g) == 5 else _sbdf(0, *g[1:])
            return int(g[0]) & 0xFF, seg, devid   # devid_map.id is a u8
    return None


def _acpihid_arg(arg: str) -> tuple[str, int, int] | str:
    """parse_ivrs_acpihid: '=HID:UID@[SEG:]BB:DD.F', or the deprecated
    '[[SEG:]BB:DD.F]=HID:UID' -> (HID:UID, segment, device ID), or why not."""
    at = arg.find("@")
    if at < 0:
        eq = arg.find("=")
        if eq < 0 or len(arg) - eq - 1 > ACPIID_LEN:
            return "Invalid command line"
        for pattern in (r"\[" + _BDF + r"\]=(\S+)", r"\[" + _SBDF + r"\]=(\S+)"):
            m = re.match(pattern, arg)
            if m:
                g = m.groups()
                seg, devid = _sbdf(*g[:-1]) if len(g) == 5 else _sbdf(0, *g[:-1])
                return g[-1], seg, devid
        return "Invalid command line"
    head, addr = arg[:at], arg[at + 1:]
    m = re.match(r"=(\S+)", head)
    if len(head) > ACPIID_LEN or m is None:
        return "Invalid command line"
    for pattern in (_BDF, _SBDF):
        a = re.match(pattern, addr)
        if a:
            g = a.groups()
            seg, devid = _sbdf(*g) if len(g) == 4 else _sbdf(0, *g)
            return m.group(1), seg, devid
    return "Invalid command line"


def parse_cmdline(text: str) -> Cmdline:
    """The ivrs_ioapic, ivrs_hpet and ivrs_acpihid parameters of a kernel
    command line (other words are not the IVRS engine's business). Linux
    ignores a malformed one with 'Invalid command line' and a fifth of a
    kind with 'map overflow'; so does this, listing them in `ignored`."""
    out = Cmdline()
    for word in text.split():
        for prefix, kind in (("ivrs_ioapic", "ioapic"), ("ivrs_hpet", "hpet"),
                             ("ivrs_acpihid", "acpihid")):
            if not word.startswith(prefix):   # __setup matches the name as a prefix
                continue
            arg = word[len(prefix):]
            if kind != "acpihid":
                got = _special_arg(arg)
                if got is None:
                    out.ignored.append(f"{word}: Invalid command line")
                elif len(getattr(out, kind)) == EARLY_MAP_SIZE:
                    out.ignored.append(f"{word}: map overflow ({EARLY_MAP_SIZE} at most)")
                else:
                    getattr(out, kind).append(got)
                break
            parsed = _acpihid_arg(arg)
            if isinstance(parsed, str):
                out.ignored.append(f"{word}: {parsed}")
                break
            if len(out.acpihid) == EARLY_MAP_SIZE:
                out.ignored.append(f"{word}: map overflow ({EARLY_MAP_SIZE} at most)")
                break
            acpiid, seg, devid = parsed
            hid, colon, uid = acpiid.partition(":")
            if not hid or not colon:
                out.ignored.append(f"{word}: hid or uid")
                break
            while uid.startswith("0") and len(uid) > 1:   # AMDI0095:00 matches _UID "0"
                uid = uid[1:]
            if len(hid) >= ACPIHID_HID_LEN or len(uid) >= ACPIHID_UID_LEN:
                out.ignored.append(f"{word}: {'hid' if len(hid) >= ACPIHID_HID_LEN else 'uid'}"
                                   " is too long")
                break
            out.acpihid.append(HidOverride(hid, uid, seg, devid))
            break
    return out


def _as_cmdline(cmdline: str | Cmdline | None) -> Cmdline:
    if cmdline is None:
        return Cmdline()
    if isinstance(cmdline, Cmdline):
        return cmdline
    if not isinstance(cmdline, str):
        raise InputError(f"cmdline: a kernel command line is text, not {type(cmdline).__name__}")
    return parse_cmdline(cmdline)


def _entry_hid(e: dict) -> tuple[str, str] | None:
    """An ACPI HID entry's HID and UID as Linux's strings, or None when it
    skips the entry (an empty HID: first byte NUL)."""
    if not e["hid"][:1].strip(b"\0"):
        return None
    hid = e["hid"].split(b"\0", 1)[0]
    hid_text = declared.describe_id8(hid)
    uid, fmt = e.get("uid") or b"", e["uid_format"]
    if fmt == 1:        # sprintf("%d", e->uid): the first byte
        uid_text = str(uid[0]) if uid else ""
    elif fmt == 2:      # the UID bytes, up to a NUL
        uid_text = uid.split(b"\0", 1)[0].decode("latin-1")
    else:
        uid_text = ""
    return hid_text, uid_text


# --- the engine ----------------------------------------------------------------

class IvrsMapper(TableMapper):
    takes_topology = True  # answers for bridges need the PCI topology
    takes_cmdline = True   # ivrs_acpihid / ivrs_ioapic / ivrs_hpet
    kind = "IVRS"
    describes_msi = False

    def __init__(self, table: Table, topology: Topology | None = None,
                 cmdline: str | Cmdline | None = None):
        super().__init__(table)
        self.topology = topology
        self.cmdline = _as_cmdline(cmdline)
        self.chosen = declared.chosen_ivhd_type(table)
        self.units = [n for n in declared.units(table) if self.role(n).is_iommu]
        self.refused = declared.linux_refusal(table)
        self.hids = self._hid_map()

    def _hid_map(self) -> list[HidOverride]:
        """Linux's acpihid_map in list order: the command line's entries
        first (add_early_maps runs before the first block's entries), then
        each ACPI HID entry of a chosen-type 40h block that no command-line
        entry overrides."""
        out = list(self.cmdline.acpihid)
        for unit in self.units:
            if not declared.takes_hid_entries(unit):
                continue
            for e in unit.fields.get("devices") or ():
                if e["type"] != declared.HID or "data" in e:
                    continue
                names = _entry_hid(e)
                if names is not None and self.cmdline.hid(*names) is None:
                    out.append(HidOverride(names[0], names[1], unit.fields["pci_segment_group"],
                                           e["device_id"]))
        return out

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
                    ident = self._special_id(e)
                    put(ident, ident, unit)
                elif code == declared.HID and declared.takes_hid_entries(unit):
                    hid_id = self._hid_id(e)
                    if hid_id is not None:
                        put(hid_id, hid_id, unit)
        for unit in units:      # init_iommu_one_late: "this is a lie!"
            owner[unit.fields["device_id"]] = "self"
        return owner, alias, last

    def _special_id(self, e: dict) -> int:
        """The ID a SPECIAL entry points at its IOMMU: the command line's for
        that IOAPIC/HPET (add_special_device), else the entry's (the low 16
        bits: set_dev_entry_from_acpi takes a u16)."""
        override = self.cmdline.special(e["variety"], e["handle"])
        return (override if override is not None else e["used_id"]) & 0xFFFF

    def _hid_id(self, e: dict) -> int | None:
        names = _entry_hid(e)
        if names is None:
            return None     # 'Invalid HID.': skipped
        override = self.cmdline.hid(*names)
        return override.device_id if override is not None else e["device_id"]

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
                    and (j + 1 <= last) == (i <= last) and a not in (j, j + 1):
                j += 1          # the alias ID itself is a span of its own: no alias there
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
                    same_bus = "" if lo >> 8 != alias >> 8 or hi >> 8 != alias >> 8 else (
                        "; on the device's bus it is also a PCI DMA alias of the device "
                        "(setup_aliases), so a function there shares its IOMMU group")
                    result = assuming(result, f"the IOMMU sees alias {format_bdf(alias)} when "
                                      "the device's DMA carries the alias (behind a "
                                      "PCIe-to-PCI bridge); Linux sets up both IDs" + same_bus)
        return Span(lo, hi, result)

    # --- a device with its aliases (amd/iommu.c) ---------------------------------

    def lookup_aliases(self, rids: Sequence[int], segment: int = 0) -> Result:
        """A PCI device and its DMA aliases (own RID first): its own device
        ID's rlookup entry decides (rlookup_amd_iommu); the aliases, and the
        IVRS alias, get its device table entry (clone_aliases)."""
        return own_id_decides(self, rids, segment)

    def pci_dma_aliases(self, segment: int, rid: int) -> list[tuple[int, str]]:
        """The PCI DMA alias Linux adds to a translated device from the IVRS
        (setup_aliases: the IVRS alias when it is on the device's bus,
        pci_add_dma_alias) -- as (RID, why)."""
        r = self.lookup(rid, segment)
        if not isinstance(r, Translated):
            return []
        return [(a, "IVRS alias on the device's bus (amd/iommu.c setup_aliases: "
                 "pci_add_dma_alias)") for a in r.more_ids[:1]
                if a != rid and a >> 8 == rid >> 8]

    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """A platform device by 'HID:UID' (or 'HID' for one without _UID):
        the first acpihid_map entry with that HID whose UID is empty or
        equal (get_acpihid_device_id, acpi_dev_hid_uid_match); its device
        ID's rlookup entry is the IOMMU (rlookup_amd_iommu)."""
        if self.refused:
            return MapError("ivrs-refused", self.refused)
        hid, _, uid = path.partition(":")
        for entry in self.hids:
            if entry.hid == hid and (not entry.uid or entry.uid == uid):
                break
        else:
            return Bypass(BypassReason.NO_DESCRIPTION, f"no ACPI HID entry of a type "
                          f"{self.chosen:02X}h block names {path}")
        devid = entry.device_id & 0xFFFF
        r = self.lookup(devid, entry.segment)
        if isinstance(r, Translated):
            return Translated(r.iommu, devid, r.chain)
        return r
