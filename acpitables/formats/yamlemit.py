"""acpitables.formats.yamlemit -- descriptions written without PyYAML's
representer, for the plain shapes decode produces.

Decoding a table of 8,000 ID mappings to YAML spent ~280 ms in PyYAML
(its Python representer and resolver run for every scalar, even with
libyaml's emitter); the description itself is a tree of dicts, lists and
scalars whose YAML is fully determined. `emit` writes that subset exactly
as `engine.yamlio.dump` does (block style, indentless sequences in
mappings, yamlio's scalar rules, libyaml's quoting and escapes) and
returns None for anything outside it -- a float, a list in a list, a
string that is not ASCII, a line libyaml could break at width 100, a
container reached twice (PyYAML would write an anchor) -- so that the
caller falls back to yamlio.dump for the whole document.
tests/test_fast_paths.py checks that both agree on every corpus table
and on generated documents.
"""
from __future__ import annotations

import re
from operator import itemgetter
from typing import Any

from ..engine.yamlio import Flow, Hex, Mapping, Sequence

WIDTH = 100  # yamlio.dump's width: libyaml may break lines past it
SIMPLE_KEY = 128  # libyaml writes longer keys as "? key"

# yamlio._represent_str's rule for writing a string plain (else double-quoted).
_PLAIN = re.compile(r"[A-Za-z_\\][A-Za-z0-9_.\\/-]*")
_WORDS = ("yes", "no", "on", "off", "true", "false", "null", "y", "n")

# libyaml's double-quoted escapes (yaml_emitter_write_double_quoted) for
# the ASCII characters it does not write as themselves.
_ESCAPES = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f",
            0x0D: "r", 0x1B: "e", 0x22: '"', 0x5C: "\\"}
_QUOTE = {c: "\\" + _ESCAPES.get(c, f"x{c:02X}") for c in [*range(0x20), 0x22, 0x5C, 0x7F]}

_DICTS = (dict, Mapping)
_LISTS = (list, Sequence)


class _Refused(Exception):
    """The document leaves the subset: yamlio.dump writes it."""


def _plain_ok(value: str) -> bool:
    return bool(value and value.strip() == value and value.isprintable()
                and _PLAIN.fullmatch(value) and value.lower() not in _WORDS)


def _string(value: str) -> str:
    if _plain_ok(value):
        return value
    if not value.isascii():
        raise _Refused  # libyaml's escapes past ASCII are not written here
    return '"' + value.translate(_QUOTE) + '"'


def _scalar(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is Hex:
        if value < 0:
            raise _Refused
        return f"0x{int(value):X}"
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    raise _Refused


def _key(key: Any) -> str:
    if type(key) is not str or not _plain_ok(key) or len(key) > SIMPLE_KEY:
        raise _Refused
    return key


def _line(out: list, start: str, value: str) -> None:
    # libyaml breaks a line past WIDTH only at a space inside a quoted
    # scalar or between flow items (plain scalars and keys hold no space).
    if len(start) + len(value) > WIDTH and (value[0] == "[" or value[0] == '"' and " " in value):
        raise _Refused
    out.append(start + value)


def _flow(items: list, seen: set) -> str:
    if id(items) in seen:
        raise _Refused
    seen.add(id(items))
    return "[" + ", ".join(_scalar(v) for v in items) + "]"


def _mapping(data: dict, indent: int, lead: str, out: list, seen: set) -> None:
    """A non-empty block mapping whose first line starts with `lead` and the
    others with `indent` spaces."""
    pad = " " * indent
    for key, value in data.items():
        start = f"{lead}{_key(key)}:"
        lead = pad
        kind = type(value)
        if kind is Flow:
            _line(out, start + " ", _flow(value, seen))
        elif kind in _DICTS or kind in _LISTS:
            if id(value) in seen:
                raise _Refused
            seen.add(id(value))
            if not value:
                out.append(f"{start} {{}}" if kind in _DICTS else f"{start} []")
            elif kind in _DICTS:
                out.append(start)
                _mapping(value, indent + 2, " " * (indent + 2), out, seen)
            else:
                out.append(start)
                _sequence(value, indent, out, seen)
        else:
            _line(out, start + " ", _scalar(value))


def _sequence(items: list, indent: int, out: list, seen: set) -> None:
    """A non-empty block sequence at `indent` (indentless in a mapping)."""
    dash = " " * indent + "- "
    if len(items) >= _RUN:
        # Runs of flat mappings with the same keys (ID mappings) column by column
        shapes = list(map(_shape, items))
        i, n = 0, len(items)
        while i < n:
            j = i + 1
            while j < n and shapes[j] == shapes[i]:
                j += 1
            shape = shapes[i]
            if shape is None or j - i < _RUN or not _flat_run(items[i:j], shape, indent, out,
                                                              seen):
                _items(items[i:j], indent, dash, out, seen)
            i = j
        return
    _items(items, indent, dash, out, seen)


def _items(items: list, indent: int, dash: str, out: list, seen: set) -> None:
    for item in items:
        kind = type(item)
        if kind in _DICTS:
            if id(item) in seen:
                raise _Refused
            seen.add(id(item))
            if item:
                _mapping(item, indent + 2, dash, out, seen)
            else:
                out.append(dash + "{}")
        elif kind is Flow:
            _line(out, dash, _flow(item, seen))
        elif kind in _LISTS:
            raise _Refused  # "- - x": not a shape descriptions have
        else:
            _line(out, dash, _scalar(item))


_RUN = 8  # shorter runs of same-keyed mappings are written item by item
_SCALARS = frozenset({str, int, bool, Hex, type(None)})


def _shape(item: Any) -> tuple | None:
    return tuple(item) if type(item) in _DICTS and item else None


def _column(values: list, start: str) -> list[str] | None:
    """The lines `start` + each value's scalar, as _mapping writes them one
    by one, or None when a value is not a plain scalar."""
    kinds = set(map(type, values))
    if not kinds <= _SCALARS:
        return None
    if kinds == {Hex}:
        if min(values) < 0:
            raise _Refused
        return list(map((start + "0x%X").__mod__, values))
    if kinds == {int}:
        return list(map(start.__add__, map(str, values)))
    # strings, or a mixture: each distinct value once (its line's width decided
    # as _line decides it)
    text: dict = {}
    for value in values:
        key = (type(value), value)
        if key not in text:
            lines: list = []
            _line(lines, start, _scalar(value))
            text[key] = lines[0]
    return [text[(type(v), v)] for v in values]


def _flat_run(items: list, keys: tuple, indent: int, out: list, seen: set) -> bool:
    """items (dicts with the same keys, in the same order), each as the
    block mapping _mapping writes, added to out; False (nothing added) when
    a value is not a plain scalar."""
    ids = list(map(id, items))
    if len(set(ids)) != len(ids) or not seen.isdisjoint(ids):
        raise _Refused  # a mapping reached twice: PyYAML writes an anchor
    pad = " " * (indent + 2)
    width = len(keys)
    lines: list = [None] * (len(items) * width)
    for j, key in enumerate(keys):
        start = f"{' ' * indent + '- ' if j == 0 else pad}{_key(key)}: "
        column = _column(list(map(itemgetter(key), items)), start)
        if column is None:
            return False
        lines[j::width] = column
    seen.update(ids)
    out.extend(lines)
    return True


def emit(data: Any) -> str | None:
    """yamlio.dump(data) for a description in the subset, else None."""
    if type(data) not in _DICTS:
        return None
    if not data:
        return "{}\n"
    out: list[str] = []
    try:
        _mapping(data, 0, "", out, {id(data)})
    except _Refused:
        return None
    out.append("")
    return "\n".join(out)
