"""acpitables: api.py -- the documented Python API.

    build(text_or_path)  -> Built     YAML description -> table bytes
    decode(data)         -> Decoded   table bytes -> Table + warnings
    describe(decoded)    -> dict      Decoded -> description (YAML-ready)
    validate(...)        -> list      findings for a description or a table

Errors are raised as DescriptionError, TableError or InputError (all
AcpiTablesError); warnings are returned, never printed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .engine import description as d
from .engine import yamlio
from .errors import DescriptionError, Diagnostic, TableError
from .engine.registry import TABLES, spec_for
from .engine.table import Decoded, Table, decode_table, encode_table

QEMU_ACPITABLE_MAX = 0xFFFF


@dataclass
class Built:
    data: bytes
    table: Table
    warnings: list[Diagnostic]


def load_description(source: str | Path, filename: str | None = None) -> tuple[Any, str]:
    """YAML text (or a path) -> located plain data and the name used in
    messages."""
    if isinstance(source, Path):
        filename = filename or str(source)
        try:
            source = source.read_bytes()  # yamlio decodes, locating bytes that are not text
        except OSError as exc:
            why = getattr(exc, "strerror", None) or exc
            raise DescriptionError([Diagnostic("error", f"cannot read: {why}",
                                               file=filename)]) from None
    return yamlio.load(source, filename or "<description>"), filename or "<description>"


def compile_description(data: Any, filename: str = "<description>") -> tuple[Table, d.Problems]:
    p = d.Problems(data, filename)
    if not isinstance(data, dict):
        p.error((), "a description is a mapping with a 'table' key")
        p.raise_if_errors()
    sig = data.get("table")
    if sig not in TABLES:
        if "table" in data:
            p.error(("table",), f"unknown table {sig!r} (known: {', '.join(TABLES)})")
        else:
            p.error((), f"missing required key 'table' ({' or '.join(TABLES)})")
        p.raise_if_errors()
    spec = spec_for(sig)
    d.schema_problems(data, spec.schema, p)
    if p.errors:
        # Report what the semantic pass finds too; on data the schema
        # rejected it may stop early, and that is all right. A place the
        # schema already flagged is not reported twice.
        schema_errors = list(p.errors)
        try:
            spec.compile(data, p)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            pass
        # A generic schema message ("does not match ...") gives way to the
        # semantic pass's precise one at the same place.
        semantic = p.errors[len(schema_errors):]
        precise = {e.path for e in semantic}
        weak = {id(e) for e in p.weak}
        schema_errors = [e for e in schema_errors if id(e) not in weak or e.path not in precise]
        flagged = {e.path for e in schema_errors}
        p.errors = schema_errors + [e for e in semantic if e.path not in flagged]
        p.raise_if_errors()
    table = spec.compile(data, p)
    p.raise_if_errors()
    findings = spec.check(table)
    if data.get("lenient"):
        # The description asks to build despite errors (decode writes this
        # for tables that have them, so that they round-trip): warnings.
        findings = [replace(f, severity="warning") for f in findings]
    p.from_table(findings, spec.field_keys)
    p.raise_if_errors()
    return table, p


def build(source: str | Path | Any, filename: str | None = None) -> Built:
    """Compile a description (YAML text, a Path, or already-loaded data)
    into table bytes."""
    if isinstance(source, (str, Path)):
        data, filename = load_description(source, filename)
    else:
        data, filename = source, filename or "<description>"
    table, p = compile_description(data, filename)
    spec = spec_for(table.signature)
    try:
        blob = encode_table(table, spec)
    except TableError as exc:
        path = p.node_paths.get(exc.diagnostic.node or "", ())
        p.error(path, exc.diagnostic.message)
        p.raise_if_errors()
        raise
    if len(blob) > QEMU_ACPITABLE_MAX:
        p.warning((), f"the table is {len(blob)} bytes; QEMU's -acpitable takes at most "
                      f"{QEMU_ACPITABLE_MAX}")
    return Built(blob, table, p.warnings)


def decode(data: bytes) -> Decoded:
    """Decode one table (any registered signature) leniently."""
    if len(data) < 4:
        raise TableError(f"{len(data)} byte{'s' if len(data) != 1 else ''} is too short for a "
                         f"table header", offset=0)
    spec = spec_for(bytes(data[:4]))
    decoded = decode_table(bytes(data), spec)
    for diag in spec.check(decoded.table):
        decoded.warnings.append(Diagnostic("warning", diag.message, offset=diag.offset,
                                           node=diag.node, field=diag.field))
    return decoded


def describe(decoded: Decoded) -> dict:
    """The description that builds back to exactly the decoded bytes
    (with a corrected checksum)."""
    return decoded.spec.describe(decoded.table)


def validate_description(source: str | Path | Any, filename: str | None = None) -> list[Diagnostic]:
    """Warnings of a valid description; raises DescriptionError otherwise."""
    return build(source, filename).warnings


def validate_table(data: bytes) -> list[Diagnostic]:
    """Findings for table bytes (warnings); raises TableError when the table
    cannot be walked at all."""
    return decode(data).warnings
