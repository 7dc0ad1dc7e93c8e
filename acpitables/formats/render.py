"""acpitables: render.py -- a decoded table as text, JSON or YAML.

The text view imitates `iasl -d` (hex offset, decimal offset, length,
label, value) and is generated from the declarations; JSON uses
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
                buf.writelines(_block_chunks(row, base, offsets))
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
# (tests/test_fast_paths.py checks both on every corpus table); a column
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


# --- the same text, elements as fixed-width records ------------------------------
#
# Formatting 8,000 ID mappings one by one (%-format, 17 values each) costs
# ~20 ms. Within a run of elements whose offsets have the same number of
# digits and whose references show the same width, every element's text is
# one template with the values at fixed places: the template is repeated
# once per run and each value column is written into it with one
# extended-slice assignment per character position, from the column's
# digits made in bulk (struct.pack(...).hex() for the integers, _digits for
# the offsets). What is left over (an element straddling a digit boundary,
# a short run, a column off the plan) goes through _block_lines, element
# for element what _row_line gives (tests/test_text_records.py compares the
# two on every corpus table and on random blocks).

_CHUNK = 1024  # elements per record buffer (~400 KB for ID mappings)
_SHORT = 8  # runs shorter than this are formatted element by element
_DIGIT = bytes.maketrans(bytes(range(10)), b"0123456789")


# struct codes (big-endian, standard sizes) by hex digits of the field; a
# field of another size goes in a "Q" whose leading digits are skipped
_PACK = {2: "B", 4: "H", 8: "I", 16: "Q"}


class _Line(NamedTuple):
    rel: int  # node offset of the field within the element
    const: str  # "SSSh] label : " (offset lines), the whole prefix of a flag sub-line
    kind: str  # "int", "ref" or "flag"
    name: str  # the element field
    width: int  # hex digits of an int; the field size of a ref
    mask: int = 0  # flag sub-field of the int field `name`


@lru_cache(maxsize=None)
def _lines(arr: Array) -> tuple[_Line, ...] | None:
    """_plan's lines as data, or None where the record path does not apply
    (no plan, a label that is not ASCII, a flag sub-field of more than one
    decimal digit, a field wider than 8 bytes)."""
    from ..engine.flags import FlagSet
    if _plan(arr) is None:
        return None
    flags = arr.flag_map
    out: list[_Line] = []
    for off, size, name, label in flat_rows(arr.elem) or ():
        const = f"{size:03X}h] {label:>{LABEL_WIDTH}} : "
        if name in arr.refs:
            out.append(_Line(off, const, "ref", name, size))
            continue
        if size > 8:
            return None
        out.append(_Line(off, const, "int", name, max(2, size * 2)))
        flagset = flags.get(name) or flags.get(name.split(".")[-1])
        for _, mask, sub in flagset.fields if flagset is not None else ():
            if FlagSet.field_max(mask) > 9:  # more than one decimal digit
                return None
            out.append(_Line(off, f"{'':16}{sub:>{LABEL_WIDTH}} : ", "flag", name, 1, mask))
    if not all(line.const.isascii() for line in out):
        return None
    return tuple(out)


class _Record(NamedTuple):
    template: bytes  # one element, values blank, each line ended by "\n"
    size: int
    hex_w: int  # digits of the offsets, hex and decimal
    dec_w: int
    offsets: tuple  # (rel, hex position, decimal position) per offset line
    values: tuple  # (line, position) per int, ref and flag value


@lru_cache(maxsize=64)
def _record(arr: Array, hex_w: int, dec_w: int, ref_w: tuple) -> _Record:
    text, offsets, values = "", [], []
    widths = iter(ref_w)
    for line in _lines(arr) or ():
        if line.kind == "flag":
            text += line.const
            values.append((line, len(text)))
            text += " \n"
            continue
        offsets.append((line.rel, len(text) + 1, len(text) + 3 + hex_w))
        text += f"[{'':{hex_w}}h {'':{dec_w}} {line.const}"
        values.append((line, len(text)))
        text += " " * (line.width if line.kind == "int" else next(widths)) + "\n"
    raw = text.encode("ascii")
    return _Record(raw, len(raw), hex_w, dec_w, tuple(offsets), tuple(values))


def _digits(first: int, step: int, n: int, width: int, base: int) -> list[tuple[int, int, bytes]]:
    """The numerals of first, first + step, ... (n of them, each below
    base**width; base 16 in upper case) zero-padded to `width`, as pieces
    (position in the numeral, characters per numeral, bytes) whose bytes
    hold numeral i's characters at i * characters.

    A progression's low m digits repeat with period M / gcd(step, M)
    (M = base**m) and its high digits change every ~M / step numerals:
    both are formatted once per distinct value, the rest is repetition of
    bytes. m is chosen to make the fewest values (m = 0: format each)."""
    from math import gcd
    spec = "X" if base == 16 else "d"
    best, cost = 0, n
    for m in range(1, width + 1):
        mod = base ** m
        c = mod // gcd(step, mod) + ((n - 1) * step // mod + 2 if m < width else 0)
        if c < cost:
            best, cost = m, c
    if best == 0:
        fmt = f"%0{width}{spec}"
        return [(0, width, "".join(map(fmt.__mod__, range(first, first + n * step, step)))
                 .encode())]
    m, mod = best, base ** best
    period = mod // gcd(step, mod)
    fmt = f"%0{m}{spec}"
    low = "".join([fmt % ((first + i * step) % mod) for i in range(min(period, n))]).encode()
    pieces = [(width - m, m, (low * -(-n // period))[:n * m])]
    if m == width:
        return pieces
    fmt = f"%0{width - m}{spec}"
    q0, q1 = first // mod, (first + (n - 1) * step) // mod

    def count(q: int) -> int:  # numerals whose high digits are q
        return (min(n, -(-((q + 1) * mod - first) // step))
                - max(0, -(-(q * mod - first) // step)))

    if q1 - q0 < 2:
        high = b"".join((fmt % q).encode() * count(q) for q in range(q0, q1 + 1))
    elif mod % step == 0:  # every q between the ends holds mod // step numerals
        each = mod // step
        middle = "".join(map(fmt.__mod__, range(q0 + 1, q1))).encode()
        w = width - m
        high = (fmt % q0).encode() * count(q0) + b"".join(
            [middle[j:j + w] * each for j in range(0, len(middle), w)]) \
            + (fmt % q1).encode() * count(q1)
    else:
        high = b"".join((fmt % q).encode() * count(q) for q in range(q0, q1 + 1))
    pieces.append((0, width - m, high))
    return pieces


def _block_chunks(block: Block, base: int, offsets: dict) -> Iterable[str]:
    """"".join(_block_lines(block, base, offsets, "\n")), made in a few
    large strings where the elements allow (see above)."""
    from operator import itemgetter
    from ..engine.flags import FlagSet
    lines = _lines(block.arr)
    items = block.items
    n = len(items)
    # field -> (values, values) for an int, (ids, shown bytes) for a
    # reference; a column with one value throughout (a mapping's target,
    # its flags) is written into the record once, not element by element.
    columns: dict[str, tuple[list, Any]] = {}
    fixed: dict[str, bytes] = {}
    try:
        for line in lines or ():
            if line.kind == "flag" or line.name in columns:
                continue
            col = list(map(itemgetter(line.name), items))
            if line.kind == "ref":
                if set(map(type, col)) != {Ref}:
                    raise TypeError
                ids = list(map(id, col))
                if ids.count(ids[0]) == n:
                    fixed[line.name] = _ref_shown(col[0], line.width, offsets).encode("ascii")
                    columns[line.name] = (ids, [])
                    continue
                # one Ref per target (decode shares them): each shown once
                text_of = {k: _ref_shown(v, line.width, offsets).encode("ascii")
                           for k, v in dict(zip(ids, col)).items()}
                columns[line.name] = (ids, list(map(text_of.__getitem__, ids)))
            else:
                if set(map(type, col)) != {int}:
                    raise TypeError
                if min(col) < 0 or max(col) >> (4 * line.width):
                    raise OverflowError  # not a value of the field: %X would print otherwise
                columns[line.name] = (col, col)
                if col.count(col[0]) == n:
                    fixed[line.name] = b"%0*X" % (line.width, col[0])
    except (KeyError, TypeError, OverflowError, UnicodeEncodeError, IndexError):
        lines = None
    if lines is None or not n:
        yield from _block_lines(block, base, offsets, "\n")
        return
    constant: dict[_Line, bytes] = {}
    for line in lines:
        if line.name in fixed:
            constant[line] = (b"%d" % FlagSet._get(columns[line.name][0][0], line.mask)
                              if line.kind == "flag" else fixed[line.name])
    widths = [[len(constant[line])] * n if line in constant else
              list(map(len, columns[line.name][1])) for line in lines if line.kind == "ref"]
    step = block.arr.elem_size
    start = base + block.base
    rels = [line.rel for line in lines if line.kind != "flag"]
    lo, hi = min(rels), max(rels)
    i = 0
    while i < n:
        first = start + i * step + lo
        hex_w, dec_w = max(3, len(f"{first:X}")), max(4, len(str(first)))
        bound = min(16 ** hex_w, 10 ** dec_w)  # the next offset with more digits
        end = min(n, (bound - start - hi - 1) // step + 1)
        for w in widths:  # and as far as the references keep their width
            if end > i and w[i:end].count(w[i]) != end - i:
                end = next(j for j in range(i, end) if w[j] != w[i])
        if end - i < _SHORT:  # an element straddling a digit boundary, or a short run
            end = max(end, i + 1)
            part = type(block)(block.arr, items[i:end], block.base + i * step)
            yield from _block_lines(part, base, offsets, "\n")
            i = end
            continue
        rec = _record(block.arr, hex_w, dec_w, tuple(w[i] for w in widths))
        template = bytearray(rec.template)
        todo = []
        for line, at in rec.values:
            if line in constant:
                template[at:at + len(constant[line])] = constant[line]
            else:
                todo.append((line, at, columns[line.name][1]))
        numerals = _offset_numerals(rec, start + i * step, step, end - i)
        for j in range(i, end, _CHUNK):
            k = min(_CHUNK, end - j)
            buf = template * k
            _put_offsets(buf, rec, numerals, j - i, k)
            _put_values(buf, rec.size, todo, j, k)
            yield buf.decode("ascii")
        i = end


def _offset_numerals(rec: _Record, first: int, step: int, n: int) -> list:
    """Per offset line of the record: (hex pieces, decimal pieces, index of
    element 0's numeral, numerals per element) for n elements from node
    offset `first`. The lines' offsets are one progression when they are
    dense in it (ID mappings: every 4th byte), else one per line."""
    from math import gcd
    rels = [rel for rel, _, _ in rec.offsets]
    lo = min(rels)
    g = gcd(step, *(rel - lo for rel in rels))
    span = ((n - 1) * step + max(rels) - lo) // g + 1
    if span <= 2 * len(rels) * n:
        pieces = [_digits(first + lo, g, span, w, b) for w, b in ((rec.hex_w, 16),
                                                                  (rec.dec_w, 10))]
        return [(pieces[0], pieces[1], (rel - lo) // g, step // g) for rel in rels]
    return [(_digits(first + rel, step, n, rec.hex_w, 16),
             _digits(first + rel, step, n, rec.dec_w, 10), 0, 1) for rel in rels]


def _put_offsets(buf: bytearray, rec: _Record, numerals: list, e: int, k: int) -> None:
    """The offsets of a run's elements e .. e+k-1, into k copies of the record."""
    size = rec.size
    for (_, hex_at, dec_at), (hexes, decs, idx, stride) in zip(rec.offsets, numerals):
        for at, pieces in ((hex_at, hexes), (dec_at, decs)):
            for pos, count, digits in pieces:
                first, every = (idx + e * stride) * count, stride * count
                for c in range(count):
                    buf[at + pos + c::size] = digits[first + c:first + c + k * every:every]


def _put_values(buf: bytearray, size: int, todo: list, i: int, k: int) -> None:
    """The values of elements i .. i+k-1 of the block, into k copies of the
    record: (line, position, column) per value that is not the same in all."""
    import struct
    from itertools import repeat
    from operator import rshift
    for line, at, col in todo:
        if line.kind == "ref":
            text = b"".join(col[i:i + k])
            width = len(text) // k
            for c in range(width):
                buf[at + c::size] = text[c::width]
            continue
        part = col[i:i + k]
        if line.kind == "flag":
            shift = (line.mask & -line.mask).bit_length() - 1
            buf[at::size] = bytes(map(rshift, map(line.mask.__and__, part),
                                      repeat(shift))).translate(_DIGIT)
            continue
        code = _PACK.get(line.width, "Q")
        digits = struct.pack(f">{k}{code}", *part).hex().upper().encode()
        every = 2 * struct.calcsize(code)
        skip = every - line.width
        for c in range(line.width):
            buf[at + c::size] = digits[skip + c::every]


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
