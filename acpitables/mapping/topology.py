"""acpitables: mapping/topology.py -- a real PCI topology and Linux's DMA aliases.

Tables say which IOMMU translates a requester ID; which requester IDs a
device really emits depends on the bridges above it.  Linux walks them in
pci_for_each_dma_alias (drivers/pci/search.c) and hands every alias to the
firmware lookup (IORT/VIOT); this module does the same walk over a topology
read by topology_io (a sysfs snapshot or lspci text) and answers through
Mapper.lookup_aliases, so a device behind a PCIe-to-PCI bridge comes out
with the IDs Linux gives its IOMMU. An IOMMU driver can add aliases from
its own table (the AMD driver makes a same-bus IVRS alias a PCI DMA alias:
an engine's `pci_dma_aliases`); they join the quirk aliases in the
device's dma_alias_mask, and a function at such an alias shares the
device's IOMMU group (`alias_partners`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..engine.pci import format_bdf
from .results import Mapper, Result

# PCI Express Capabilities register, Device/Port Type (PCIe base spec 7.5.3.2;
# Linux PCI_EXP_TYPE_*).
PCIE_TYPES = {0x0: "endpoint", 0x1: "legacy-endpoint", 0x4: "root-port", 0x5: "upstream-port",
              0x6: "downstream-port", 0x7: "pcie-to-pci-bridge", 0x8: "pci-to-pcie-bridge",
              0x9: "rc-integrated-endpoint", 0xA: "rc-event-collector"}
PORTS = {"root-port", "upstream-port", "downstream-port"}

# DMA alias quirks of drivers/pci/quirks.c, by (vendor, device).  Function
# aliases: the device also issues DMA as another function of its slot
# (quirk_dma_func0_alias / quirk_dma_func1_alias / quirk_fixed_dma_alias).
# Bridge aliases: conventional bridges without a PCIe capability that still
# alias like a PCIe-to-PCI bridge (quirk_use_pcie_bridge_dma_alias sets
# PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS).  Only entries checked against the source.
_MARVELL_EXT, _TTI, _RICOH = 0x1B4B, 0x1103, 0x1180
# Keyed as PciDevice holds (vendor, device): a lookup with an unknown (None) ID misses.
FUNC_ALIAS_QUIRKS: dict[tuple[int | None, int | None], tuple[int, str]] = {
    **{(_RICOH, d): (0, "quirk_dma_func0_alias") for d in (0xE832, 0xE476)},
    **{(_MARVELL_EXT, d): (1, "quirk_dma_func1_alias")
       for d in (0x9120, 0x9123, 0x9125, 0x9128, 0x9130, 0x9170, 0x9172, 0x917A, 0x9182,
                 0x9183, 0x91A0, 0x9215, 0x9220, 0x9230, 0x9235)},
    **{(_TTI, d): (1, "quirk_dma_func1_alias") for d in (0x0642, 0x0645)},
    (0x9005, 0x0285): (1 << 3, "quirk_fixed_dma_alias"),   # Adaptec: PCI_DEVFN(1, 0)
}
BRIDGE_ALIAS_QUIRKS: dict[tuple[int | None, int | None], str] = {
    (0x1B21, 0x1080): "ASMedia ASM1083/1085",
    (0x10E3, 0x8113): "Tundra 8113",
    (0x1283, 0x8892): "ITE 8892",
    (0x1283, 0x8893): "ITE 8893",
    (0x8086, 0x244E): "Intel 82801 PCI bridge",
}


def bdf_key(segment: int, rid: int) -> str:
    return format_bdf(rid, segment)


@dataclass
class PciDevice:
    segment: int
    rid: int                       # bus << 8 | devfn
    vendor: int | None = None
    device: int | None = None
    cls: int | None = None         # 24-bit class code
    name: str = ""                 # lspci's words, when known
    pcie_type: str | None = None   # PCIE_TYPES value; None: no PCIe capability
    pcie_known: bool = True        # False: the source cannot tell (lspci text)
    secondary: int | None = None   # a bridge's secondary bus
    subordinate: int | None = None
    parent: str | None = None      # the upstream bridge's BDF; None on a root bus
    driver: str | None = None
    group: str | None = None       # /sys/kernel/iommu_groups name
    iommu: str | None = None       # /sys/class/iommu name

    @property
    def bdf(self) -> str:
        return bdf_key(self.segment, self.rid)

    @property
    def bus(self) -> int:
        return self.rid >> 8

    @property
    def is_bridge(self) -> bool:
        return self.secondary is not None or (self.cls is not None and self.cls >> 8 == 0x0604)

    def label(self) -> str:
        ids = f"[{self.vendor:04x}:{self.device:04x}]" if self.vendor is not None \
            and self.device is not None else ""
        return " ".join(x for x in (self.bdf, self.name, ids) if x)


@dataclass(frozen=True)
class Alias:
    rid: int
    why: str        # which rule of pci_for_each_dma_alias produced it
    via: str        # the device whose RID or bus gives the alias


@dataclass
class Topology:
    devices: dict[str, PciDevice] = field(default_factory=dict)
    source: str = ""
    notes: list[str] = field(default_factory=list)   # what the source could not tell

    def __iter__(self) -> Iterator[PciDevice]:
        return iter(sorted(self.devices.values(), key=lambda d: (d.segment, d.rid)))

    def get(self, segment: int, rid: int) -> PciDevice | None:
        return self.devices.get(bdf_key(segment, rid))

    def link_parents(self) -> None:
        """Where a source gives no parent, the bridge whose bus range holds
        the device's bus is its parent (the narrowest one)."""
        bridges = [d for d in self.devices.values() if d.secondary is not None]
        for d in self.devices.values():
            if d.parent is not None:
                continue
            best: PciDevice | None = None
            best_sec = 0
            for b in bridges:
                sec = b.secondary            # never None: `bridges` holds only those with one
                if b is d or b.segment != d.segment or sec is None:
                    continue
                hi = b.subordinate if b.subordinate is not None else sec
                if sec <= d.bus <= hi and (best is None or sec > best_sec):
                    best, best_sec = b, sec
            if best is not None:
                d.parent = best.bdf

    def upstream(self, dev: PciDevice) -> Iterator[PciDevice]:
        seen = {dev.bdf}
        while dev.parent is not None and dev.parent in self.devices and dev.parent not in seen:
            dev = self.devices[dev.parent]
            seen.add(dev.bdf)
            yield dev

    def dma_aliases(self, dev: PciDevice, mapper: Mapper | None = None) -> list[Alias]:
        """The requester IDs Linux passes to the firmware lookup, in its order
        (pci_for_each_dma_alias): own RID, the device's dma_alias_mask (quirk
        aliases, and those an IOMMU driver adds from its table when `mapper`
        is given: `firmware_aliases`) in devfn order, then one per bridge on
        the way to the root bus."""
        out = [Alias(dev.rid, "own requester ID", dev.bdf)]
        for a in sorted(self.mask_aliases(dev, mapper), key=lambda a: a.rid):
            if a.rid not in [b.rid for b in out]:
                out.append(a)
        for br in self.upstream(dev):
            if br.pcie_type in PORTS or (not br.pcie_known and br.pcie_type is None):
                continue      # PCIe ports forward the requester ID unchanged
            if br.pcie_type == "pcie-to-pci-bridge" or (
                    br.pcie_type is None and (br.vendor, br.device) in BRIDGE_ALIAS_QUIRKS):
                sec = br.secondary if br.secondary is not None else 0
                why = "PCIe-to-PCI bridge: secondary bus, devfn 0" if br.pcie_type else \
                    f"bridge alias quirk ({BRIDGE_ALIAS_QUIRKS[(br.vendor, br.device)]}): " \
                    "secondary bus, devfn 0"
                out.append(Alias(sec << 8, why, br.bdf))
            elif br.pcie_type == "pci-to-pcie-bridge":
                out.append(Alias(br.rid, "PCI-to-PCIe bridge: the bridge's own requester ID",
                                 br.bdf))
            elif br.pcie_type is None:
                out.append(Alias(br.rid, "conventional PCI bridge: the bridge's own requester ID",
                                 br.bdf))
        return out

    def mask_aliases(self, dev: PciDevice, mapper: Mapper | None = None) -> list[Alias]:
        """The device's dma_alias_mask: same-bus aliases (pci_add_dma_alias)
        from quirks and, with `mapper`, from its IOMMU table."""
        out: list[Alias] = []
        quirk = FUNC_ALIAS_QUIRKS.get((dev.vendor, dev.device))
        if quirk is not None:
            devfn = (dev.rid & 0xF8) | quirk[0] if quirk[1] != "quirk_fixed_dma_alias" else quirk[0]
            out.append(Alias(dev.rid & 0xFF00 | devfn, f"DMA alias quirk ({quirk[1]})", dev.bdf))
        if mapper is not None:
            out += firmware_aliases(mapper, dev)
        return out

    def alias_partners(self, dev: PciDevice,
                       mapper: Mapper | None = None) -> list[tuple[PciDevice, Alias]]:
        """The functions Linux puts in dev's IOMMU group because one is a DMA
        alias of the other (drivers/iommu/iommu.c get_pci_alias_group:
        pci_devs_are_dma_aliases -- same bus, either's dma_alias_mask holds
        the other's devfn), each with the alias that ties them."""
        out: list[tuple[PciDevice, Alias]] = []
        mine = {a.rid: a for a in self.mask_aliases(dev, mapper)}
        for other in self:
            if other is dev or other.segment != dev.segment or other.bus != dev.bus:
                continue
            theirs = {a.rid: a for a in self.mask_aliases(other, mapper)}
            tie = mine.get(other.rid) or theirs.get(dev.rid)
            if tie is not None:
                out.append((other, tie))
        return out

    def lookup(self, mapper: Mapper, dev: PciDevice) -> Result:
        """What the tables give the device, over all its DMA aliases, as Linux
        asks them (the engine decides how: on Arm the first alias that does
        not translate decides, on x86 the device's own ID)."""
        rids: list[int] = []
        for a in self.dma_aliases(dev, mapper):
            if a.rid not in rids:      # Linux asks twice; the fwspec keeps one
                rids.append(a.rid)
        return mapper.lookup_aliases(rids, dev.segment)


def firmware_aliases(mapper: Mapper, dev: PciDevice) -> list[Alias]:
    """The same-bus DMA aliases an IOMMU driver adds to the device from its
    table (an engine's `pci_dma_aliases`: IVRS aliases, amd/iommu.c
    setup_aliases), over the engines of a combined mapper."""
    out: list[Alias] = []
    for engine in getattr(mapper, "engines", (mapper,)):
        hook = getattr(engine, "pci_dma_aliases", None)
        if hook is not None:
            out += [Alias(rid, why, dev.bdf) for rid, why in hook(dev.segment, dev.rid)]
    return out


def device_result(topo: Topology, mapper: Mapper, dev: PciDevice) -> dict:
    """One device as map/explain/reconcile report it (JSON-ready)."""
    r = topo.lookup(mapper, dev)
    return {"device": dev.bdf, "name": dev.label(), **r.as_dict(),
            "dma_aliases": [{"rid": a.rid, "bdf": bdf_key(dev.segment, a.rid), "why": a.why,
                             "via": a.via} for a in topo.dma_aliases(dev, mapper)]}


def alias_text(topo: Topology, dev: PciDevice, mapper: Mapper | None = None) -> str:
    aliases = topo.dma_aliases(dev, mapper)
    if len(aliases) == 1:
        return ""
    # The walk ends at the root bus: its last alias is what the IOMMU sees.
    return "; DMA aliases " + ", ".join(
        f"0x{a.rid:04X} ({a.why}{'' if a.via == dev.bdf else ', ' + a.via})" for a in aliases) \
        + f"; its DMA reaches the root bus as 0x{aliases[-1].rid:04X}"
