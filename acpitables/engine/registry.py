"""acpitables: registry.py -- signature -> everything about that table.

The one place a table is made known: its TableSpec carries the header and
node declarations, node names, the description compiler and describer, the
semantic checks and the JSON Schema. Adding a table is one line in _MODULES
(signature -> the module whose SPEC declares it); adding a node type is one
entry in that table's NODE_TYPES.

The registry is lazy: a table's module (its declarations are a good part
of start-up) is imported on the first lookup of its signature, so
a command on a VIOT never imports the IORT declarations. Membership tests,
len() and iterating the signatures import nothing.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import InputError
from .roles import NO_ROLE, Role
from .table import TableSpec

# One line per table, in the order messages list them.
_MODULES: dict[str, str] = {
    "VIOT": "acpitables.tables.viot",
    "IORT": "acpitables.tables.iort",
    "RIMT": "acpitables.tables.rimt",
    "DMAR": "acpitables.tables.dmar",
    "IVRS": "acpitables.tables.ivrs",
}


class _Registry(Mapping):
    """signature -> TableSpec, importing a table's module on first use."""

    def __init__(self, modules: dict[str, str]):
        self._modules = modules
        self._specs: dict[str, TableSpec] = {}

    def __getitem__(self, signature: str) -> TableSpec:
        spec = self._specs.get(signature)
        if spec is None:
            name = self._modules[signature]  # KeyError for an unknown table
            spec = importlib.import_module(name).SPEC
            if spec.signature != signature:
                raise RuntimeError(f"{name}.SPEC declares {spec.signature}, not {signature}")
            self._specs[signature] = spec
        return spec

    def __contains__(self, signature: object) -> bool:
        return signature in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __repr__(self) -> str:
        return f"TABLES({', '.join(self._modules)})"


TABLES: Mapping[str, TableSpec] = _Registry(_MODULES)


def spec_for(signature: str | bytes) -> TableSpec:
    if isinstance(signature, bytes):
        signature = signature.decode("latin-1")
    try:
        return TABLES[signature]
    except KeyError:
        raise InputError(f"{signature!r} is not a table this tool knows "
                         f"(known: {', '.join(TABLES)})") from None


def role_of(signature: str, node: Any) -> Role:
    """The role of a node of a table of this signature (NO_ROLE for raw
    nodes and unknown types): the mapper's only way to learn what a node is."""
    spec = TABLES.get(signature)
    if spec is None or getattr(node, "raw", False):
        return NO_ROLE
    ntype = spec.node_types.get(node.type)
    return ntype.role if ntype is not None else NO_ROLE
