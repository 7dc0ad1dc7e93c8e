"""acpitables: build, decode and check ACPI VIOT and IORT tables.

The public API lives in acpitables.api and is re-exported here.
"""
from .api import Built, build, decode, describe, load_description, validate_description, validate_table
from .errors import AcpiTablesError, DescriptionError, Diagnostic, InputError, TableError

__version__ = "0.1.0"
__all__ = ["build", "decode", "describe", "load_description", "validate_description",
           "validate_table", "Built", "AcpiTablesError", "DescriptionError", "Diagnostic",
           "InputError", "TableError", "__version__"]
