"""acpitables.mapping.acpi -- the ACPI front end: several tables combined
the way Linux combines them (drivers/acpi/scan.c, acpi_iommu_configure_id).

Each table's engine is found through the table registry (TableSpec.mapper,
"module:Class"). For DMA, the tables are tried in the order scan.c tries
them -- IORT, then RIMT, then VIOT -- and the first that translates a
device decides; the others are consulted only where it does not. The MSI
path belongs to the first table whose format describes MSIs.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable

from ..engine.registry import TABLES
from ..engine.table import Table
from ..errors import InputError
from .results import Bypass, BypassReason, IntervalMap, Mapper, Result, overlay

# acpi_iommu_configure_id(): iort_iommu_configure_id, then
# rimt_iommu_configure_id, then viot_iommu_configure. A registered table
# that scan.c does not consult for IOMMUs comes after these.
SCAN_ORDER = ("IORT", "RIMT", "VIOT")


def engine_class(signature: str) -> Callable[[Table], Mapper]:
    """The mapper engine a table's registry entry names."""
    spec = TABLES.get(signature)
    if spec is None or not spec.mapper:
        raise InputError(f"no mapper for {signature} tables")
    module, _, name = spec.mapper.partition(":")
    return getattr(importlib.import_module(module), name)


def for_table(table: Table, topology: Any = None, cmdline: str | None = None) -> Mapper:
    """The engine for one decoded or compiled table; `topology` (a
    mapping.topology.Topology) goes to engines whose answers depend on it
    (DMAR bridge scopes, IVRS ranges), `cmdline` (a kernel command line) to
    engines whose answers it can change (IVRS: ivrs_acpihid, ivrs_ioapic,
    ivrs_hpet)."""
    cls: Any = engine_class(table.signature)
    kw = {"cmdline": cmdline} if cmdline is not None and getattr(cls, "takes_cmdline", False) \
        else {}
    if topology is not None and getattr(cls, "takes_topology", False):
        from .pcitopo import Topology
        return cls(table, Topology.from_machine(topology), **kw)
    return cls(table, **kw)


def _rank(engine: Mapper) -> int:
    table = getattr(engine, "table", None)
    signature = table.signature if table is not None else engine.kind
    return SCAN_ORDER.index(signature) if signature in SCAN_ORDER else len(SCAN_ORDER)


class AcpiMapper(Mapper):
    """Engines of several ACPI tables, in scan.c order; one engine alone
    is simply that engine."""

    kind = "ACPI"

    def __init__(self, *engines: Mapper):
        super().__init__()
        engines = tuple(e for e in engines if e is not None)
        if not engines:
            raise InputError("no table with a mapper (IORT, VIOT, ...)")
        self.engines = sorted(engines, key=_rank)

    def segments(self) -> list[int]:
        segs: set[int] = set()
        for m in self.engines:
            segs.update(m.segments())
        return sorted(segs)

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        if msi:
            for m in self.engines:
                if m.describes_msi:
                    return m.segment_map(segment, True)
            return self.engines[0].segment_map(segment, True)
        imap = self.engines[0].segment_map(segment)
        for m in self.engines[1:]:
            imap = overlay(imap, m.segment_map(segment))
        return imap

    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """A platform device by ACPI path: the first table, in scan order,
        that describes devices by name."""
        for m in self.engines:
            if hasattr(m, "lookup_device"):
                return m.lookup_device(path, input_id, msi)
        return Bypass(BypassReason.NO_DESCRIPTION, "no table names devices by ACPI path",
                      msi=msi)

    def lookup_address(self, base: int) -> Result:
        for m in self.engines:
            if hasattr(m, "lookup_address"):
                return m.lookup_address(base)
        return Bypass(BypassReason.NO_DESCRIPTION, "no table describes MMIO endpoints")


def for_tables(tables: Iterable[Table], topology: Any = None,
               cmdline: str | None = None) -> Mapper:
    """The tables of one machine combined as Linux combines them: the first
    table of each signature that has a mapper (Linux's acpi_get_table(sig,
    0)), in scan order; one table alone gives its own engine."""
    seen: dict[str, Mapper] = {}
    for t in tables:
        spec = TABLES.get(t.signature)
        if spec is None or not spec.mapper or t.signature in seen:
            continue
        seen[t.signature] = for_table(t, topology, cmdline)
    if not seen:
        raise InputError("no table with a mapper (IORT, VIOT, ...)")
    if len(seen) == 1:
        return next(iter(seen.values()))
    return AcpiMapper(*seen.values())
