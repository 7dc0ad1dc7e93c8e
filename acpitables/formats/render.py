"""acpitables: render.py -- a decoded table as text, JSON or YAML.

The text view imitates `iasl -d` (hex offset, decimal offset, length,
label, value) and is generated from the construct declarations; JSON uses
the spec field names; YAML is the description language itself.
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Sequence

from ..engine.description import schema_path
from ..engine.table import SDT_HEADER, Decoded, Ref, TableSpec, flat_rows, struct_rows
from ..engine.yamlio import dump

if TYPE_CHECKING:  # a VIOT never loads the node model
    from ..engine.nodes import Array, Block

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
    # Written line by line into one buffer: the 8,000 mappings of a large
    # IORT are 3 MB of text, which a list of lines and its join would hold
    # twice (issue 11: peak RSS).
    buf = io.StringIO()
    write = buf.write

    def put(line: str) -> None:
        write(line)
        write("\n")

    hv = decoded.header_values
    for off, size, name, label, value in struct_rows(SDT_HEADER, hv, 0):
        line = _line(off, size, label, _value(value, size))
        if name == "signature":
            line += f"    [{spec.label}]"
        put(line)
    put("")
    rows = struct_rows(spec.header, hv, SDT_HEADER.sizeof())
    if spec.header_flags:           # only then the node model's flag expansion
        from ..engine.nodes import flag_rows
        rows = flag_rows(rows, spec.header_flags)
    for off, size, name, label, value in rows:
        if size == 0:  # a flag sub-line of a header flags word (TableSpec.header_flags)
            put(f"{'':16}{label:>{LABEL_WIDTH}} : {value}")
            continue
        put(_line(off, size, label, _value(value, size)))
    if table.padding:
        put(_line(spec.header_size, len(table.padding), "Padding",
                         _value(table.padding, 0)))
    for node in table.nodes:
        put("")
        ntype = spec.kind_of(node)
        base = node.offset or 0
        title = ntype.label if ntype is not None else f"Unknown node type {node.type}"
        put(f"/* {node.name}: {title} */")
        if ntype is None:
            hdr = spec.node_header.parse(node.fields["data"])
            for off, size, name, label, value in struct_rows(spec.node_header, hdr, base):
                put(_line(off, size, name.title(), _value(value, size)))
            body = node.fields["data"][spec.node_header_size:]
            if body:
                put(_line(base + spec.node_header_size, len(body), "Data",
                                 _value(body, 0)))
            continue
        for row in ntype.text_rows(node, spec, table):
            if not isinstance(row, tuple):  # an engine.nodes.Block
                buf.writelines(_block_lines(row, base, offsets, "\n"))
            else:
                put(_row_line(row, base, offsets))
    if table.trailing:
        start = decoded.size - len(table.trailing)
        put("")
        put(_line(start, len(table.trailing), "Trailing data", _value(table.trailing, 0)))
    if decoded.warnings:
        put("")
        for w in decoded.warnings:
            put(f"/* {w} */")
    return buf.getvalue()


def _row_line(row: tuple, base: int, offsets: dict) -> str:
    off, size, name, label, value = row
    if size == 0:  # a flag sub-line, "decoded below" as iasl prints it
        return f"{'':16}{label:>{LABEL_WIDTH}} : {value}"
    shown = _ref_shown(value, size, offsets) if isinstance(value, Ref) else _value(value, size)
    return _line(base + off, size, label, shown)


def _ref_shown(value: Ref, size: int, offsets: dict) -> str:
    target = offsets.get(value.name) if value.name else value.offset
    return f"{target:0{size * 2}X}" + (f"    ({value.name})" if value.name else
                                       "    (no such node)")


# --- the elements of an array of flat structures, column by column -------------
#
# An ID mapping is five fields and a flag sub-line: six lines, the same
# format for every element. The format and the columns that fill it come
# from the element's declaration (engine.table.flat_rows, the Array's flags
# and refs), once per declaration; each element is then one printf-style
# format of its values. Output is what _row_line gives for Block.rows()
# (tests/test_speed_paths.py checks both on every corpus table); a column
# that is not all plain integers (or all Refs for a reference) sends the
# whole block through _row_line.

class _Plan(NamedTuple):  # not a dataclass: cheaper to make at import (issue 11)
    fmt: str  # the lines of one element, "\n"-joined
    # per format argument: ("offset", node offset of the field, 0),
    # ("int", field, 0), ("ref", field, size) or ("flag", field, (FlagSet, mask))
    args: tuple


@lru_cache(maxsize=None)
def _plan(arr: Array) -> _Plan | None:
    flat = flat_rows(arr.elem)
    if not flat or any(size == 0 for _, size, _, _ in flat):
        return None
    flags = arr.flag_map
    lines: list[str] = []
    args: list[tuple[str, Any, Any]] = []
    for off, size, name, label in flat:
        const = f"{size:03X}h] {label:>{LABEL_WIDTH}} : ".replace("%", "%%")
        if name in arr.refs:
            lines.append(f"[%03Xh %04d {const}%s")
            args += [("offset", off, 0), ("offset", off, 0), ("ref", name, size)]
            continue
        lines.append(f"[%03Xh %04d {const}%0{max(2, size * 2)}X")
        args += [("offset", off, 0), ("offset", off, 0), ("int", name, 0)]
        flagset = flags.get(name) or flags.get(name.split(".")[-1])
        for _, mask, sub in flagset.fields if flagset is not None else ():
            lines.append(f"{'':16}{sub:>{LABEL_WIDTH}} : ".replace("%", "%%") + "%d")
            args.append(("flag", name, (flagset, mask)))
    return _Plan("\n".join(lines), tuple(args))


def _block_text(block: Block, base: int, offsets: dict) -> str:
    return "\n".join(_block_lines(block, base, offsets))


def _block_lines(block: Block, base: int, offsets: dict, end: str = "") -> Iterable[str]:
    """The block's text, one string per element (its lines "\n"-joined,
    then `end`), made as the caller writes them."""
    plan = _plan(block.arr)
    items, step = block.items, block.arr.elem_size
    columns: dict = {}
    try:
        for kind, name, extra in plan.args if plan is not None else ():
            if kind in ("int", "ref") and name not in columns:
                columns[name] = [item[name] for item in items]
    except (KeyError, TypeError):  # not the dicts decode makes
        plan = None
    if plan is not None:
        argv: list = []
        for kind, name, extra in plan.args:
            if kind == "offset":
                start = base + block.base + name
                argv.append(range(start, start + len(items) * step, step))
                continue
            col = columns[name]
            if kind == "int":
                if set(map(type, col)) != {int}:
                    break
                argv.append(col)
            elif kind == "ref":
                if set(map(type, col)) != {Ref}:
                    break
                argv.append([_ref_shown(v, extra, offsets) for v in col])
            else:
                flagset, mask = extra
                get = flagset._get
                argv.append([get(v, mask) for v in col])
        else:
            return map((plan.fmt + end.replace("%", "%%")).__mod__, zip(*argv))
    return (_row_line(row, base, offsets) + end for row in block.rows())


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
    from .yamlemit import emit
    body = emit(description)  # the plain shapes, without PyYAML's representer
    return head + body if body is not None else dump(description, head)
