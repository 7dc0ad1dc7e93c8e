"""acpitables: build, decode and check ACPI VIOT and IORT tables.

    import acpitables
    built = acpitables.build(Path("board.yaml"))     # -> Built(data, table, warnings)
    decoded = acpitables.decode(built.data)           # -> Decoded(table, warnings, ...)
    acpitables.dump(decoded, "yaml")                  # any registered output format
    acpitables.for_table(decoded.table).lookup(0x10)  # which IOMMU translates RID 0x10

The API lives in acpitables.api (see its docstring for what a str, bytes,
Path or file object means to each function) and is re-exported here. The
mapper names (for_table, for_tables, Translated, Bypass, MapError, Result)
come from acpitables.mapping.mapper and are imported on first use, so that
`import acpitables` does not pay for the mapper.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import (Built, Source, build, decode, describe, dump, load_description, validate,
                  validate_description, validate_table)
from .engine.table import Decoded, Table
from .errors import AcpiTablesError, DescriptionError, Diagnostic, InputError, TableError

if TYPE_CHECKING:
    from .mapping.mapper import Bypass, MapError, Result, Translated, for_table, for_tables

__version__ = "0.1.0"

_MAPPER_NAMES = ("Translated", "Bypass", "MapError", "Result", "for_table", "for_tables")

__all__ = ["build", "decode", "describe", "validate", "dump", "load_description",
           "validate_description", "validate_table", "Built", "Decoded", "Table", "Source",
           "AcpiTablesError", "DescriptionError", "Diagnostic", "InputError", "TableError",
           *_MAPPER_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _MAPPER_NAMES:
        from .mapping import mapper
        value = getattr(mapper, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'acpitables' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MAPPER_NAMES))
