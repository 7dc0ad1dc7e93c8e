"""acpitables.mapping -- which IOMMU translates a device, and with which ID.

Layers, each a module:

    results  the answers (Translated / Bypass / MapError), spans and
             interval maps, the Mapper interface every engine offers
    iort     the IORT engine (drivers/acpi/arm64/iort.c)
    viot     the VIOT engine (drivers/acpi/viot.c)
    acpi     the ACPI front end: tables combined as drivers/acpi/scan.c
             does, each table's engine found through the table registry
    dt       Devicetree iommu-map / msi-map (drivers/of/base.c) and export
    io       any input opened as a mapper; agree() compares two

Node kinds are never named here: the engines ask each node's declared role.
"""
from .acpi import AcpiMapper, engine_class, for_table, for_tables
from .dt import DtMapper, export_dt, render_dts
from .io import Agreement, Difference, agree, description_mapper, open_and_agree, open_mapper
from .iort import IortMapper
from .results import (Bypass, BypassReason, IntervalMap, MapError, Mapper, Result, Span,
                      Translated, effective_bypass)
from .viot import ViotMapper

__all__ = ["Mapper", "Result", "Translated", "Bypass", "BypassReason", "MapError", "Span",
           "IntervalMap", "effective_bypass", "for_table", "for_tables", "engine_class",
           "AcpiMapper", "IortMapper", "ViotMapper", "DtMapper", "open_mapper",
           "description_mapper", "agree", "open_and_agree", "Agreement", "Difference",
           "export_dt", "render_dts"]
