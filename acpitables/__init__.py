"""acpitables: build, decode and check the ACPI IOMMU tables (VIOT, IORT, RIMT, DMAR, IVRS).

    import acpitables
    built = acpitables.build(Path("board.yaml"))     # -> Built(data, table, warnings)
    decoded = acpitables.decode(built.data)           # -> Decoded(table, warnings, ...)
    acpitables.dump(decoded, "yaml")                  # any registered output format
    acpitables.for_table(decoded.table).lookup(0x10)  # which IOMMU translates RID 0x10

The API lives in acpitables.api (see its docstring for what a str, bytes,
Path or file object means to each function) and is re-exported here; the
mapper names (for_table, for_tables, Translated, Bypass, MapError, Result)
come from acpitables.mapping. Each is imported on first use.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import AcpiTablesError, DescriptionError, Diagnostic, InputError, TableError
    from .api import (Built, Source, build, decode, describe, dump, load_description, validate,
                      validate_description, validate_table)
    from .batch import Policy, Report
    from .engine.table import Decoded, Table
    from .mapping import Bypass, MapError, Result, Translated, for_table, for_tables

__version__ = "0.1.0"

# Imported on first use (PEP 562), so that `import acpitables` -- and so the
# command line, which needs only a few of these for any one command -- does
# not pay for table declarations, YAML or the mapper up front.
_LAZY = {
    **dict.fromkeys(("Built", "Source", "build", "decode", "describe", "dump",
                     "load_description", "validate", "validate_description", "validate_table"),
                    "api"),
    **dict.fromkeys(("AcpiTablesError", "DescriptionError", "Diagnostic", "InputError",
                     "TableError"), "errors"),
    **dict.fromkeys(("Decoded", "Table"), "engine.table"),
    **dict.fromkeys(("Report", "Policy"), "batch"),
    **dict.fromkeys(("Translated", "Bypass", "MapError", "Result", "for_table", "for_tables"),
                    "mapping"),
}

__all__ = ["build", "decode", "describe", "validate", "dump", "load_description",
           "validate_description", "validate_table", "Built", "Decoded", "Table", "Source",
           "AcpiTablesError", "DescriptionError", "Diagnostic", "InputError", "TableError",
           "Report", "Policy", "Translated", "Bypass", "MapError", "Result", "for_table",
           "for_tables", "__version__"]


_SUBPACKAGES = ("api", "cli", "engine", "formats", "mapping", "tables")


def __getattr__(name: str) -> Any:
    import importlib
    if name in _SUBPACKAGES:  # `import acpitables; acpitables.api.build(...)` keeps working
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'acpitables' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
