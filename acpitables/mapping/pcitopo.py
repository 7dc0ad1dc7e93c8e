"""acpitables.mapping.pcitopo -- the bridge facts x86 tables need, and
answers that depend on them (mapping/topology.py reads real topologies).

DMAR device scopes are routes from a root bus (a multi-hop path needs each
bridge's secondary bus), and a bridge scope covers whatever is behind the
bridge (its secondary..subordinate bus range); IVRS aliases are what a
device behind a PCIe-to-PCI bridge issues. A table alone cannot say these;
a `Topology` can. Without one, the engines still answer, and every answer
that a topology could change carries an `assumption` saying which.

A Topology is the bridges of each segment (RID, secondary and subordinate
bus) and, optionally, the functions that exist. It is deliberately small:
a richer source (sysfs, lspci) only has to produce these facts.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from ..engine.pci import format_bdf, parse_bdf
from .results import Bypass, BypassReason, Result, Translated


@dataclass(frozen=True)
class Bridge:
    rid: int            # the bridge function itself (bus << 8 | devfn)
    secondary: int
    subordinate: int
    segment: int = 0
    pcie_to_pci: bool = False  # a PCIe-to-PCI(-X) bridge: devices behind it alias to it


class Topology:
    """Bridges (and optionally the existing functions) of PCI segments."""

    def __init__(self, bridges: Iterable[Bridge] = (),
                 devices: Mapping[int, Iterable[int]] | None = None,
                 classes: Mapping[tuple[int, int], int] | None = None):
        self.bridges: dict[tuple[int, int], Bridge] = {(b.segment, b.rid): b for b in bridges}
        self.devices = {seg: set(rids) for seg, rids in (devices or {}).items()}
        # (segment, RID) -> 24-bit class code, where the source gives it
        # (sysfs, lspci -vmm): DMAR's scope type check reads the class.
        self.classes = dict(classes or {})

    @classmethod
    def from_dict(cls, data: Mapping) -> "Topology":
        """{"bridges": [{"bdf": "00:1c.0", "secondary": 1, "subordinate": 1,
        "pcie_to_pci": false}, ...], "devices": ["00:02.0", ...]}
        (a segment may be written "ssss:bb:dd.f")."""
        bridges = []
        for b in data.get("bridges") or ():
            seg, rid = parse_bdf(b["bdf"])
            bridges.append(Bridge(rid, b["secondary"], b["subordinate"], seg or 0,
                                  bool(b.get("pcie_to_pci"))))
        devices: dict[int, set[int]] = {}
        for text in data.get("devices") or ():
            seg, rid = parse_bdf(text)
            devices.setdefault(seg or 0, set()).add(rid)
        for b in bridges:
            devices.setdefault(b.segment, set()).add(b.rid)
        return cls(bridges, devices if data.get("devices") else None)

    @classmethod
    def from_machine(cls, machine: Any) -> "Topology":
        """The bridges and functions of a machine's PCI topology as read by
        mapping.topology_io (a sysfs copy, a snapshot, lspci text)."""
        bridges = [Bridge(d.rid, d.secondary, d.subordinate if d.subordinate is not None
                          else d.secondary, d.segment, d.pcie_type == "pcie-to-pci-bridge")
                   for d in machine if d.secondary is not None]
        devices: dict[int, set[int]] = {}
        for d in machine:
            devices.setdefault(d.segment, set()).add(d.rid)
        classes = {(d.segment, d.rid): d.cls for d in machine if d.cls is not None}
        return cls(bridges, devices, classes)

    def class_code(self, segment: int, rid: int) -> int | None:
        return self.classes.get((segment, rid))

    def bridge(self, segment: int, rid: int) -> Bridge | None:
        return self.bridges.get((segment, rid))

    def exists(self, segment: int, rid: int) -> bool | None:
        """Whether the function exists (None: the topology does not list
        functions)."""
        if not self.devices:
            return None
        return rid in self.devices.get(segment, set())

    def route(self, segment: int, bus: int, hops: list[tuple[int, int]]) -> int | None:
        """The RID a scope path names: the first hop is on `bus`, each further
        hop on the secondary bus of the bridge before it. None when a hop
        is no known bridge."""
        rid = None
        for i, (dev, fn) in enumerate(hops):
            rid = bus << 8 | dev << 3 | fn
            if i + 1 < len(hops):
                b = self.bridge(segment, rid)
                if b is None:
                    return None
                bus = b.secondary
        return rid

    def upstream(self, segment: int, rid: int) -> list[Bridge]:
        """The bridges above a function, nearest first (dev->bus->self)."""
        out: list[Bridge] = []
        bus = rid >> 8
        seen = set()
        while True:
            parent = next((b for b in self.bridges.values() if b.segment == segment
                           and b.secondary == bus and b.rid not in seen), None)
            if parent is None:
                return out
            out.append(parent)
            seen.add(parent.rid)
            bus = parent.rid >> 8


# --- answers that depend on the topology --------------------------------------

@dataclass(frozen=True)
class TranslatedIf(Translated):
    """Translated -- as far as the table says; `assumption` names what a
    PCI topology could change."""

    assumption: str = ""

    def as_dict(self) -> dict:
        return {**super().as_dict(), "assumption": self.assumption}

    def __str__(self) -> str:
        return f"{super().__str__()} (assuming {self.assumption})"


@dataclass(frozen=True)
class BypassIf(Bypass):
    """Bypass -- as far as the table says; see TranslatedIf."""

    assumption: str = ""

    def as_dict(self) -> dict:
        return {**super().as_dict(), "assumption": self.assumption}

    def __str__(self) -> str:
        return f"{super().__str__()} (assuming {self.assumption})"


def assumption_of(result: object) -> str:
    """What a PCI topology could change about an answer ('' when nothing)."""
    return result.assumption if isinstance(result, (TranslatedIf, BypassIf)) else ""


def assuming(result: Translated | Bypass, assumption: str) -> Translated | Bypass:
    """The same answer, with the assumption it rests on."""
    if not assumption:
        return result
    cls = TranslatedIf if isinstance(result, Translated) else \
        BypassIf if isinstance(result, Bypass) else None
    if cls is None:
        return result
    fields = {k: getattr(result, k) for k in result.__dataclass_fields__ if k != "assumption"}
    return cls(**fields, assumption=assumption)


def bdf(rid: int, segment: int = 0) -> str:
    return format_bdf(rid, segment or None)




def own_id_decides(mapper, rids: Sequence[int], segment: int = 0) -> Result:
    """x86's rule for a device with DMA aliases (own RID first): the IOMMU
    is the one of the device itself -- VT-d device_lookup_iommu walks the
    scopes for the device, AMD-Vi rlookup_amd_iommu reads its own device
    ID -- and every alias is programmed on that IOMMU (domain_context_mapping
    / clone_aliases over pci_for_each_dma_alias). So the aliases are further
    IDs of the one answer, never a second opinion as on Arm (IORT/VIOT)."""
    if not rids:
        return Bypass(BypassReason.NO_MATCH, "no RID given")
    r = mapper.lookup(rids[0], segment)
    if not isinstance(r, Translated):
        return r
    ids = [i for i in rids[1:] if i != rids[0]]
    ids += [i for i in r.more_ids if i not in ids and i != rids[0]]
    return replace(r, more_ids=tuple(dict.fromkeys(ids)))
