"""acpitables.engine.schema -- the JSON Schemas, generated.

schemas/<table>.schema.json is written from the declarations: the SDT
header keys every description has, and each table's own part (for tables
of declared node kinds, `declared_nodes` derives every node key, its
bounds from the field widths, its flag names from the FlagSets, and one
branch per kind of the keys it allows). Draft-07, for editors and for the
located errors of engine.description.schema_problems.

    python3 -m acpitables.engine.schema --write   # regenerate (and docs/findings.md)
    python3 -m acpitables.engine.schema --check   # exit 1 when stale
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .fields import Construct, Struct

if TYPE_CHECKING:
    from pathlib import Path

    from .flags import FlagSet
    from .nodes import Array, NodeKind
    from .table import TableSpec

# A build validates against the schema its table's declarations give, so
# this module is on every build's path: what only the node model's tables
# (engine.nodes) or the file writer (json, pathlib) need is imported where
# it is used, and a VIOT build imports neither (issue 11).

HEX_PATTERN = r"^(\s*[0-9a-fA-F]{2})*\s*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\[\]-]*$"
FLAGS_DOC = "A mapping of flag names, or the whole word as an integer."


def integer(bits: int, description: str | None = None, minimum: int = 0,
            extra: int = 0) -> dict:
    out: dict = {"type": "integer", "minimum": minimum, "maximum": (1 << bits) - 1 + extra}
    if description:
        out["description"] = description
    return out


def hex_bytes(description: str) -> dict:
    return {"type": "string", "pattern": HEX_PATTERN, "description": description}


def name(description: str) -> dict:
    return {"type": "string", "pattern": NAME_PATTERN, "description": description}


def reference(bits: int, description: str) -> dict:
    return {"description": f"{description} A node name (or, lossless escape for broken tables, "
                           "a raw table offset).",
            "oneOf": [{"type": "string", "pattern": NAME_PATTERN}, integer(bits)]}


def gaps(description: str, offset_doc: str = "Node offset.") -> dict:
    """The escape hatch for non-zero bytes no field covers, in every table."""
    return {"type": "array", "description": description, "items": {
        "type": "object", "additionalProperties": False, "required": ["offset", "data"],
        "properties": {"offset": integer(16, offset_doc), "data": hex_bytes("The bytes.")}}}


def reserved_bytes(description: str) -> dict:
    """Non-zero reserved fields by name, as hex bytes."""
    return {"type": "object", "description": description,
            "additionalProperties": {"type": "string", "pattern": HEX_PATTERN}}


def iommu_map_entry(iommu_doc: str, base_doc: str, length_doc: str, extra: int = 0) -> dict:
    """One entry of a root complex's iommu_map (Devicetree iommu-map order:
    exclusive length), for the tables whose descriptions take one."""
    length = integer(32, length_doc, minimum=1, extra=extra)
    return {"type": "object", "additionalProperties": False,
            "required": ["rid_base", "iommu", "iommu_base", "length"], "properties": {
                "rid_base": integer(32, "First requester ID."),
                "iommu": {"type": "string", "description": iommu_doc},
                "iommu_base": integer(32, base_doc),
                "length": length}}


def bits_of(sub: Construct) -> int:
    return 8 * sub.sizeof()


def header(spec: "TableSpec", revision: str, title: str, description: str,
           properties: Mapping[str, Any], before: Mapping[str, Any] | None = None,
           after: Mapping[str, Any] | None = None, definitions: Mapping[str, Any] | None = None,
           reserved: str = "") -> dict:
    """A whole table schema: the SDT header keys every description has,
    the layout escape hatches, then the table's own `properties`."""
    # A header without a node offset (DMAR, IVRS: nodes follow it) has no
    # node_offset / padding keys.
    offset_bits = next((bits_of(s) for s in spec.header.subcons if s.name == "node_offset"), 0)
    reserved_size = next((s.sizeof() for s in spec.header.subcons if s.name == "reserved"), 0)
    props: dict = {
        "table": {"const": spec.signature, "description": "Table signature."},
        "revision": integer(8, revision),
        **(before or {}),
        "lenient": {"type": "boolean", "description": "Build even when the checks find errors "
                    "(reported as warnings); decode writes it for tables that have such errors, "
                    "so that they round-trip."},
        "oem_id": {"type": "string", "maxLength": 6, "description": "OEM ID, padded with spaces "
                   "to 6 characters. For Linux's initrd table upgrade it must match the "
                   "firmware table's."},
        "oem_table_id": {"type": "string", "maxLength": 8, "description": "OEM table ID, padded "
                         "with spaces to 8 characters (initrd upgrade: must match the "
                         "firmware's)."},
        "oem_revision": integer(32, "OEM revision (initrd table upgrade replaces a firmware "
                                "table only with a higher one)."),
        "creator_id": {"type": "string", "maxLength": 4,
                       "description": "Creator ID (ASL compiler ID), 4 characters."},
        "creator_revision": integer(32, "Creator revision."),
        "node_offset": integer(offset_bits, f"Offset of the first node (default: "
                               f"{spec.header_size}, right after the header)."),
        "padding": hex_bytes("Bytes between the header and node_offset."),
        "trailing": hex_bytes("Bytes after the last node, inside the table's Length."),
        "reserved": hex_bytes(reserved or f"The {reserved_size} reserved header bytes, when not "
                              "zero."),
        **(after or {}),
        **properties,
    }
    if not offset_bits:
        del props["node_offset"], props["padding"]
    out: dict = {"$schema": "http://json-schema.org/draft-07/schema#",
                 "$id": f"acpitables:{spec.schema}", "title": title,
                 "description": description, "type": "object", "additionalProperties": False,
                 "required": ["table"], "properties": props}
    if definitions:
        out["definitions"] = dict(definitions)
    return out


# --- tables of declared node kinds -------------------------------------------------

def _field(sub: Construct, flags: Mapping[str, FlagSet], refs: Iterable[str],
           docs: Mapping[str, str]) -> dict:
    key = sub.name
    doc = docs.get(key) or (sub.docs or key).replace(" (decoded below)", "") + "."
    if key in flags:
        return flags[key].schema(f"{doc} {FLAGS_DOC}")
    if key in refs:
        return reference(bits_of(sub), doc)
    from .nodes import inner_struct
    nested = inner_struct(sub)
    if nested is not None:
        inner = {s.name: docs.get(f"{key}.{s.name}", "") for s in nested.subcons}
        return {"type": "object", "additionalProperties": False, "description": doc,
                "properties": {s.name: _field(s, flags, (), inner) for s in nested.subcons
                               if "reserved" not in s.name}}
    return integer(bits_of(sub), doc)


def _element(arr: Array, docs: Mapping[str, str]) -> dict:
    from .nodes import _bytes_size
    if not isinstance(arr.elem, Struct):  # a declaration error
        raise TypeError(f"{arr.key}: elements are not a Struct")
    props = {}
    for sub in arr.elem.subcons:
        if _bytes_size(sub):
            props[sub.name] = hex_bytes(docs.get(f"{arr.key}.{sub.name}", "Hex bytes."))
        else:
            props[sub.name] = _field(sub, arr.flag_map, arr.refs,
                                     {sub.name: docs.get(f"{arr.key}.{sub.name}", "")})
    out: dict = {"type": "object", "additionalProperties": False, "properties": props}
    if arr.always:
        out["required"] = [s.name for s in arr.elem.subcons if not _bytes_size(s)]
    return out


def _array(arr: Array, docs: Mapping[str, str], custom: Mapping[str, dict]) -> dict:
    doc = docs.get(arr.key, arr.label or arr.key)
    if arr.key in custom:
        return custom[arr.key]
    if arr.elem is None:
        return {"type": "string", "description": doc}
    if not isinstance(arr.elem, Struct):
        return {"type": "array", "items": integer(8 * arr.elem_size,
                                                  docs.get(f"{arr.key}.item")),
                "description": doc}
    if arr.single:
        return dict(_element(arr, docs), description=doc)
    return {"type": "array", "description": doc, "items": _element(arr, docs)}


def declared_nodes(kinds: Iterable[NodeKind], common: Mapping[str, dict],
                   docs: Mapping[str, str], custom: Mapping[str, dict],
                   description: str) -> dict:
    """The schema of a list of nodes of declared kinds: one `type` by kind
    name (or an integer for a raw node), every key any kind has, and per
    kind (`if type is K then`) exactly the keys K allows, the keys it
    requires (names, references) and its own flags words where a key
    means different words in different kinds."""
    kinds = list(kinds)
    props: dict = {}
    words: dict[str, set[int]] = {}
    for kind in kinds:
        for lo, hi, sub in kind.fixed_fields:
            if sub.name in kind.flags:
                words.setdefault(sub.name, set()).add(id(kind.flags[sub.name]))
    shared = {k for k, v in words.items() if len(v) > 1}  # e.g. flags: one word per kind
    for kind in kinds:
        for lo, hi, sub in kind.fixed_fields:
            key = sub.name
            if key in kind.derived or "reserved" in key or key in props:
                continue
            if key in shared:
                props[key] = {"description": docs.get(key, key), "oneOf": [
                    integer(bits_of(sub)), {"type": "object"}]}
            else:
                props[key] = _field(sub, kind.flags, kind.ref_fields, docs)
        for arr in kind.arrays:
            if arr.key not in props and arr.key not in common:
                props[arr.key] = _array(arr, docs, custom)
        for key in kind.keys:
            props.setdefault(key, custom[key])
    type_schema = {"description": "Node type by name, or an integer for a node kept as raw "
                                  "bytes (with data).",
                   "oneOf": [{"enum": [k.kind for k in kinds]}, integer(8)]}
    properties = {"name": common["name"], "type": type_schema,
                  **{k: v for k, v in common.items() if k != "name"}, **props}
    branches = []
    for kind in kinds:
        then: dict = {"propertyNames": {"enum": kind.description_keys(
            ["type"] + [k for k in common if k != "data"])}}
        own = {}
        for lo, hi, sub in kind.fixed_fields:
            if sub.name in shared:
                own[sub.name] = _field(sub, kind.flags, (), {
                    sub.name: docs.get(f"{kind.kind}.{sub.name}", "")})
        if own:
            then["properties"] = own
        required = [a.key for a in kind.arrays if a.elem is None] + list(kind.ref_fields)
        if required:
            then["required"] = required
        branches.append({"if": {"properties": {"type": {"const": kind.kind}},
                                "required": ["type"]}, "then": then})
    # A node kept as raw bytes: its bytes, and the Length it claims.
    branches.append({"if": {"properties": {"type": {"type": "integer"}}, "required": ["type"]},
                     "then": {"required": ["data"],
                              "propertyNames": {"enum": ["name", "type", "data", "length"]}}})
    return {"type": "object", "additionalProperties": False, "required": ["type"],
            "properties": properties, "allOf": branches, "description": description}


# --- the files ----------------------------------------------------------------------

def schemas_dir() -> Path:
    from pathlib import Path
    return Path(__file__).resolve().parents[2] / "schemas"


def render(schema: dict) -> str:
    import json
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    """path -> text of every generated file: each registered table's
    schema, and the findings reference page (engine/checks.py)."""
    from .checks import reference_page  # noqa: PLC0415
    from .registry import TABLES  # noqa: PLC0415 -- the registry imports the table modules

    out = {schemas_dir() / spec.schema: render(spec.schema_doc())
           for spec in TABLES.values() if spec.schema_doc is not None}
    out[schemas_dir().parent / "docs" / "findings.md"] = reference_page()
    return out


def stale() -> list[Path]:
    return [path for path, text in generated().items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if argv[1:] == ["--write"]:
        for path, text in generated().items():
            path.write_text(text, encoding="utf-8")
        return 0
    if argv[1:] == ["--check"]:
        files = stale()
        for path in files:
            sys.stderr.write(f"{path} is stale: run python3 -m acpitables.engine.schema "
                             "--write\n")
        return 1 if files else 0
    sys.stderr.write("usage: python3 -m acpitables.engine.schema --write | --check\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
