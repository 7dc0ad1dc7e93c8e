"""acpitables: registry.py -- signature -> everything about that table.

The one place a table is made known: its TableSpec carries the header and
node declarations, node names, the description compiler and describer, the
semantic checks and the JSON Schema. Adding a table is one import and one
entry here; adding a node type is one entry in that table's NODE_TYPES.
"""
from __future__ import annotations

from typing import Any

from ..errors import InputError
from .roles import NO_ROLE, Role
from .table import TableSpec
from ..tables import dmar
from ..tables import iort
from ..tables import ivrs
from ..tables import rimt
from ..tables import viot

TABLES: dict[str, TableSpec] = {spec.signature: spec for spec in (viot.SPEC, iort.SPEC, rimt.SPEC,
                                                                  dmar.SPEC, ivrs.SPEC)}


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
