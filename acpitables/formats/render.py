"""acpitables: render.py -- a decoded table as text, JSON or YAML.

The text view imitates `iasl -d` (hex offset, decimal offset, length,
label, value) and is generated from the construct declarations; JSON uses
the spec field names; YAML is the description language itself.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from ..engine.description import schema_path
from ..engine.nodes import flag_rows
from ..engine.table import SDT_HEADER, Decoded, Ref, TableSpec, struct_rows
from ..engine.yamlio import dump

LABEL_WIDTH = 34


def _value(value: Any, size: int) -> str:
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return f"{value:0{max(2, size * 2)}X}"
    if isinstance(value, (bytes, bytearray)):
        if size in (4, 6, 8) and all(0x20 <= b <= 0x7E for b in value) and value:
            return f'"{value.decode()}"'
        return " ".join(f"{b:02X}" for b in value)
    return f'"{value}"' if isinstance(value, str) else str(value)


def _line(offset: int, size: int, label: str, value: str) -> str:
    return f"[{offset:03X}h {offset:04d} {size:03X}h] {label:>{LABEL_WIDTH}} : {value}"


def _spec(decoded: Decoded) -> TableSpec:
    if decoded.spec is None:
        raise ValueError("a Decoded without its TableSpec")
    return decoded.spec


def text(decoded: Decoded) -> str:
    spec, table = _spec(decoded), decoded.table
    offsets = {n.name: n.offset for n in table.nodes}
    out = []
    hv = decoded.header_values
    for off, size, name, label, value in struct_rows(SDT_HEADER, hv, 0):
        line = _line(off, size, label, _value(value, size))
        if name == "signature":
            line += f"    [{spec.label}]"
        out.append(line)
    out.append("")
    for off, size, name, label, value in flag_rows(
            struct_rows(spec.header, hv, SDT_HEADER.sizeof()), spec.header_flags):
        if size == 0:  # a flag sub-line of a header flags word (TableSpec.header_flags)
            out.append(f"{'':16}{label:>{LABEL_WIDTH}} : {value}")
            continue
        out.append(_line(off, size, label, _value(value, size)))
    if table.padding:
        out.append(_line(spec.header_size, len(table.padding), "Padding",
                         _value(table.padding, 0)))
    for node in table.nodes:
        out.append("")
        ntype = spec.kind_of(node)
        base = node.offset or 0
        title = ntype.label if ntype is not None else f"Unknown node type {node.type}"
        out.append(f"/* {node.name}: {title} */")
        if ntype is None:
            hdr = spec.node_header.parse(node.fields["data"])
            for off, size, name, label, value in struct_rows(spec.node_header, hdr, base):
                out.append(_line(off, size, name.title(), _value(value, size)))
            body = node.fields["data"][spec.node_header_size:]
            if body:
                out.append(_line(base + spec.node_header_size, len(body), "Data",
                                 _value(body, 0)))
            continue
        for off, size, name, label, value in ntype.layout(node, spec, table):
            if size == 0:  # a flag sub-line, "decoded below" as iasl prints it
                out.append(f"{'':16}{label:>{LABEL_WIDTH}} : {value}")
                continue
            shown = _value(value, size)
            if isinstance(value, Ref):
                target = offsets.get(value.name) if value.name else value.offset
                shown = f"{target:0{size * 2}X}" + (f"    ({value.name})" if value.name else
                                                     "    (no such node)")
            out.append(_line(base + off, size, label, shown))
    if table.trailing:
        start = decoded.size - len(table.trailing)
        out.append("")
        out.append(_line(start, len(table.trailing), "Trailing data", _value(table.trailing, 0)))
    if decoded.warnings:
        out.append("")
        out.extend(f"/* {w} */" for w in decoded.warnings)
    return "\n".join(out) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, Ref):
        return {"name": value.name} if value.name is not None else {"offset": value.offset}
    return value


def as_dict(decoded: Decoded) -> dict:
    spec, table = _spec(decoded), decoded.table
    hv = dict(decoded.header_values)
    for key in ("signature", "oem_id", "oem_table_id", "creator_id"):
        hv[key] = hv[key].decode("latin-1")
    nodes = []
    for node in table.nodes:
        ntype = spec.node_types.get(node.type)
        entry = {"name": node.name, "offset": node.offset, "type": node.type,
                 "kind": ntype.kind if ntype and not node.raw else "unknown"}
        if node.length_override is not None:
            entry["truncated_to"] = len(node.fields.get("data", b"")) or None
        entry["fields"] = _jsonable(node.fields)
        nodes.append(entry)
    return {"signature": table.signature, "header": _jsonable(hv),
            "checksum_ok": sum(decoded.data) & 0xFF == 0, "nodes": nodes,
            "padding": table.padding.hex(), "trailing": table.trailing.hex(),
            "warnings": [w.as_dict() for w in decoded.warnings]}


def as_json(decoded: Decoded | list[Decoded]) -> str:
    import json  # here: a decode to text need not import it (issue 11)
    if isinstance(decoded, list):
        return json.dumps([as_dict(d) for d in decoded], indent=2) + "\n"
    return json.dumps(as_dict(decoded), indent=2) + "\n"


def modeline(schema: str, output: str | None) -> str:
    """yaml-language-server modeline pointing at the shipped schema,
    relative to the output file when there is one."""
    target = schema_path(schema)
    if output and output != "-":
        target = os.path.relpath(target, os.path.dirname(os.path.abspath(output)))
    return f"# yaml-language-server: $schema={target}\n"


def as_yaml(description: dict, schema: str, output: str | None = None,
            comments: Sequence[str] = ()) -> str:
    head = modeline(schema, output) + "".join(f"# {c}\n" for c in comments)
    return dump(description, head)
