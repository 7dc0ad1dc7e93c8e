"""acpitables.mapping -- which IOMMU translates a device, and with which ID.

Layers, each a module:

    results  the answers (Translated / Bypass / MapError), spans and
             interval maps, the Mapper interface every engine offers
    iort     the IORT engine (drivers/acpi/arm64/iort.c)
    viot     the VIOT engine (drivers/acpi/viot.c)
    rimt     the RIMT engine (drivers/acpi/riscv/rimt.c)
    acpi     the ACPI front end: tables combined as drivers/acpi/scan.c
             does, each table's engine found through the table registry
    dt       Devicetree iommu-map / msi-map (drivers/of/base.c) and export
    io       any input opened as a mapper; agree() compares two

Node kinds are never named here: the engines ask each node's declared role.
"""
from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: `acpitables.mapping.results` alone must not pull in
# the Devicetree reader or every engine (the command line's start-up).
_LAZY = {
    **dict.fromkeys(("AcpiMapper", "engine_class", "for_table", "for_tables"), "acpi"),
    **dict.fromkeys(("DtMapper", "export_dt", "render_dts"), "dt"),
    **dict.fromkeys(("Agreement", "Difference", "agree", "description_mapper",
                     "open_and_agree", "open_mapper"), "io"),
    "IortMapper": "iort",
    "ViotMapper": "viot",
    "RimtMapper": "rimt",
    **dict.fromkeys(("Bypass", "BypassReason", "IntervalMap", "MapError", "Mapper", "Result",
                     "Span", "Translated", "effective_bypass"), "results"),
}
__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
