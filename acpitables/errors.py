"""acpitables: errors.py -- the exception tree and located diagnostics.

The library never prints or exits; it raises these (or returns Diagnostic
warnings) and the CLI turns them into messages and exit codes.
"""
from __future__ import annotations

from dataclasses import dataclass


class AcpiTablesError(Exception):
    """Base of every error the library raises on bad input."""


@dataclass(frozen=True)
class Diagnostic:
    """One located finding. Table findings carry a byte offset, node and
    field; description findings carry file:line:col and a path."""

    severity: str  # "error" | "warning" | "note"
    message: str
    offset: int | None = None  # byte offset in the table
    node: str | None = None  # node name or "node@0x30"
    field: str | None = None  # spec field name
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    path: str | None = None  # description path, e.g. endpoints[1].iommu
    code: str | None = None  # stable finding code, e.g. "IORT-MAP-OVERLAP"
    source: str | None = None  # spec section or Linux function the rule follows

    def __str__(self) -> str:
        """`PLACE: SEVERITY[CODE]: message`, the place first as compilers
        write it:

            board.yaml:18:10: endpoints[0].bus: warning[CODE]: message
            offset 0x30, rc0, mappings.2: warning[CODE]: message

        `[CODE]` only when the finding has a code. A plain error (no code),
        the form a raised TableError/DescriptionError carries, writes no
        severity word: the CLI says "error:" itself."""
        if self.file is not None or self.path is not None:
            place = f"{self.file or '<description>'}:"
            place += f"{self.line}:{self.col}: " if self.line else " "
            if self.path:
                place += f"{self.path}: "
        else:
            parts = []
            if self.offset is not None:
                parts.append(f"offset 0x{self.offset:X}")
            if self.node:
                parts.append(self.node)
            if self.field:
                parts.append(self.field)
            place = (", ".join(parts) + ": ") if parts else ""
        if self.code:
            label = f"{self.severity}[{self.code}]: "
        else:
            label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{place}{label}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class TableError(AcpiTablesError):
    """A binary table that cannot be decoded (or built): names the byte
    offset, the node and the field."""

    def __init__(self, message: str, offset: int | None = None, node: str | None = None,
                 field: str | None = None):
        self.diagnostic = Diagnostic("error", message, offset=offset, node=node, field=field)
        super().__init__(str(self.diagnostic))

    @property
    def offset(self) -> int | None:
        return self.diagnostic.offset


class DescriptionError(AcpiTablesError):
    """A YAML description with one or more problems, each located as
    file:line:col: path: message. Warnings found on the way ride along."""

    def __init__(self, problems: list[Diagnostic], warnings: list[Diagnostic] | None = None):
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(str(p) for p in problems))


class InputError(AcpiTablesError):
    """An input that is not a table we can read (unknown format, no VIOT or
    IORT in a dump, unreadable file)."""
