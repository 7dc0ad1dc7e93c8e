"""acpitables: yamlio.py -- loading and writing descriptions with PyYAML.

Loading follows YAML 1.2's core schema, not PyYAML's YAML 1.1 defaults:
"00:02.0" stays a string (1.1 reads base-60 numbers), "010" is ten (1.1
reads octal), only true/false are booleans. Duplicate keys are errors.
Every mapping remembers where its keys and values stand, so messages can
say file:line:col. Only plain data is ever constructed.

A load is one parse: the data is built from libyaml's event stream
(_load_events), bounding nesting as it goes; documents with explicit tags,
errors or anything else for PyYAML's composer and our constructors to
decide take the general path (_load_general), which words and places every
error. Both give the same values and places (tests/test_yamlload.py).

PyYAML is imported on the first load or dump, not with this module: the
description types (Hex, Flow, Mapping, Sequence) are used by every table
declaration, and a decode to text or a validate of a table never reads or
writes YAML (issue 11: start-up).
"""
from __future__ import annotations

import re
import reprlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import DescriptionError, Diagnostic
from . import collector

if TYPE_CHECKING:
    from array import array

    import yaml


# PyYAML's pure-Python Reader compiles one large Unicode character class
# when yaml is imported: 7 ms, a third of the whole import (issue 11). Only
# that Reader uses it, and our loads take libyaml's parser wherever PyYAML
# was built with it; so the pattern is compiled the first time it is used.
_READER_PATTERN = "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]"


class _CompiledOnUse:
    """A regular expression compiled on its first use."""

    def __init__(self, pattern: str, flags: int):
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = re.compile(*self._args)
        setattr(self, name, getattr(compiled, name))  # next time no lookup
        return getattr(compiled, name)


@lru_cache(maxsize=None)
def pyyaml() -> Any:
    """The yaml module, imported on first need with its Reader's pattern
    left to be compiled when used. re.compile is wrapped only while the
    import runs, and only that exact pattern is deferred."""
    import sys
    if "yaml" in sys.modules:
        return sys.modules["yaml"]
    compile_now = re.compile

    def compile_deferring(pattern: Any, flags: int = 0) -> Any:
        if pattern == _READER_PATTERN and not flags:
            return _CompiledOnUse(pattern, flags)
        return compile_now(pattern, flags)

    re.compile = compile_deferring
    try:
        import yaml
    finally:
        re.compile = compile_now
    return yaml


class Mapping(dict):
    """A dict that knows where it and each of its keys/values stand
    (1-based line and column).

    The places are kept compactly (issue 11: as two dicts of tuples per
    mapping they were three quarters of a loaded description's memory): the
    keys as loaded, in order, and one array of packed line/column words --
    the mapping's own place, then each key's and its value's."""

    __slots__ = ("_keys", "_marks")
    _keys: tuple
    _marks: array

    @property
    def mark(self) -> tuple[int, int]:
        marks = getattr(self, "_marks", None)
        return _unpack(marks[0]) if marks else (0, 0)

    def _index(self, key: Any) -> int | None:
        try:  # == as a dict compares keys (True finds 1: a mapping holds one of them)
            return getattr(self, "_keys", ()).index(key)
        except ValueError:
            return None

    def key_mark(self, key: Any) -> tuple[int, int] | None:
        i = self._index(key)
        return None if i is None else _unpack(self._marks[1 + 2 * i])

    def value_mark(self, key: Any) -> tuple[int, int] | None:
        i = self._index(key)
        return None if i is None else _unpack(self._marks[2 + 2 * i])


class Sequence(list):
    """A list that knows where it and each of its items stand: one array of
    packed line/column words, its own place first."""

    __slots__ = ("_marks",)
    _marks: array

    @property
    def mark(self) -> tuple[int, int]:
        marks = getattr(self, "_marks", None)
        return _unpack(marks[0]) if marks else (0, 0)

    def item_mark(self, index: int) -> tuple[int, int] | None:
        marks = getattr(self, "_marks", None)
        if marks is None or not 0 <= index < len(marks) - 1:
            return None
        return _unpack(marks[1 + index])


# A place packed in one unsigned 64-bit word: the 0-based line above bit 32,
# the 0-based column below (a column past 2**32 would need a 4 GiB line).
_SHIFT = 32
_COL = (1 << _SHIFT) - 1


def _unpack(word: int) -> tuple[int, int]:
    return (word >> _SHIFT) + 1, (word & _COL) + 1


class Hex(int):
    """An int that is written as 0x... in YAML output."""


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _packed(node: yaml.Node) -> int:
    return node.start_mark.line << _SHIFT | node.start_mark.column


_REPR = reprlib.Repr()
_REPR.maxstring = 40


def _short(text: str) -> str:
    return _REPR.repr(text)




# The YAML 1.2 core schema's forms; an explicit tag (!!int, !!float ...) must
# hold one too, so that "!!int x" is a located error, not a ValueError.
_CORE_FORMS = {
    "bool": r"^(?:true|True|TRUE|false|False|FALSE)$",
    "null": r"^(?:~|null|Null|NULL|)$",
    "int": r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+)$",
    "float": r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
             r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
}
_FIRST = {"bool": "tTfF", "null": ["~", "n", "N", ""], "int": "-+0123456789",
          "float": "-+0123456789."}
_CORE: dict[str, re.Pattern[str]] = {}  # compiled with the loader


def _core_scalar(loader: yaml.SafeLoader, node: yaml.Node, kind: str) -> str:
    # a located error if node is not a scalar; PyYAML's stub types the
    # parameter as the nodes it succeeds on, not the ones it is given
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    if not _CORE[kind].match(text):
        what = {"int": "an integer", "float": "a number", "bool": "true or false",
                "null": "null"}[kind]
        raise _LoadProblem(f"{_short(text)} is not {what} (tag '!!{kind}')", _pos(node))
    return text


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = _core_scalar(loader, node, "int")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    base = {"0x": 16, "0o": 8, "0b": 2}.get(text[:2].lower(), 10)
    try:
        return sign * int(text[2:] if base != 10 else text, base)
    except ValueError:  # past Python's limit on decimal digits
        raise _LoadProblem(f"a {len(text)}-digit integer is too long", _pos(node)) from None


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = _core_scalar(loader, node, "float").lower()
    if text.endswith(".nan"):
        return float("nan")
    if text.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    return float(text)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    return _core_scalar(loader, node, "bool").lower() == "true"


def _construct_null(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> None:
    _core_scalar(loader, node, "null")


def _kind(node: yaml.Node) -> str:
    yaml = pyyaml()
    return {yaml.ScalarNode: "scalar", yaml.SequenceNode: "sequence",
            yaml.MappingNode: "mapping"}.get(type(node), "node")


def _wrong_kind(node: yaml.Node, tag: str) -> _LoadProblem:
    return _LoadProblem(f"tag '{tag}' on a {_kind(node)}: it belongs on a "
                        f"{'mapping' if tag == '!!map' else 'sequence'}", _pos(node))


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Mapping:
    from array import array  # with the loader: a decode (which only writes) needs neither

    yaml = pyyaml()
    if not isinstance(node, yaml.MappingNode):
        raise _wrong_kind(node, "!!map")
    result = Mapping()
    marks = [_packed(node)]
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, bool)) or key is None:
            raise _LoadProblem("mapping keys must be plain scalars", _pos(key_node))
        if key in result:
            first = list(result).index(key)
            raise _LoadProblem(f"duplicate key {key!r} (first given at line "
                               f"{_unpack(marks[1 + 2 * first])[0]})", _pos(key_node))
        result[key] = loader.construct_object(value_node, deep=True)
        marks += (_packed(key_node), _packed(value_node))
    result._keys, result._marks = tuple(result), array("Q", marks)
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> Sequence:
    from array import array

    yaml = pyyaml()
    if not isinstance(node, yaml.SequenceNode):
        raise _wrong_kind(node, "!!seq")
    result = Sequence(loader.construct_object(child, deep=True) for child in node.value)
    result._marks = array("Q", [_packed(node)] + [_packed(child) for child in node.value])
    return result


def _construct_other(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise _LoadProblem(f"tag {tag!r} is not allowed: a description holds plain data only "
                       "(mappings, lists, strings, numbers, booleans)", _pos(node))


@lru_cache(maxsize=None)
def _loader() -> Any:
    """Our SafeLoader, made (and PyYAML imported) on the first load."""
    yaml = pyyaml()

    # libyaml's parser when PyYAML was built with it (much faster on big
    # descriptions); the constructor and resolver rules are ours either way.
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc, valid-type]
        yaml_implicit_resolvers: dict = {}

    for core, form in _CORE_FORMS.items():
        _CORE[core] = re.compile(form)
        _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{core}", _CORE[core],
                                      list(_FIRST[core]))
    _Loader.add_constructor(None, _construct_other)
    _Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    _Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    _Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
    _Loader.add_constructor("tag:yaml.org,2002:null", _construct_null)
    _Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    _Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
    # YAML 1.1 types PyYAML would otherwise construct from explicit tags (bytes
    # from !!binary are not plain data either).
    for tag in ("tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp",
                "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"):
        _Loader.yaml_constructors.pop(tag, None)
    return _Loader


class _LoadProblem(Exception):
    def __init__(self, message: str, pos: tuple[int, int]):
        super().__init__(message)
        self.message, self.pos = message, pos


# Bounds on what a description may expand to: aliases can make a few lines
# stand for billions of values ("billion laughs"), and deep nesting would
# exhaust the stack of every later pass. MAX_VALUES bounds the values that
# aliases add (every value reached again through an alias, counted as often
# as it is reached), not the values written out: those cost memory in
# proportion to the text, and a valid IORT of 100,000 ID mappings is a
# description of ~600,000 of them.
MAX_DEPTH = 32
MAX_VALUES = 200_000


def _shape(obj: Any, depth: int, memo: dict, aliased: list) -> tuple[int, int]:
    """(values, height) of obj with aliases expanded; shared objects are
    measured once, so this is linear in the document, not in its expansion.
    aliased[0] accumulates the values that repeated (aliased) objects add."""
    if not isinstance(obj, (dict, list)):
        return 1, 0
    if depth > MAX_DEPTH:
        raise _LoadProblem(f"nesting deeper than {MAX_DEPTH} levels", getattr(obj, "mark", (1, 1)))
    if id(obj) in memo:
        values, height = memo[id(obj)]
        aliased[0] += values
    else:
        values, height = 1, 0
        for child in (obj.values() if isinstance(obj, dict) else obj):
            v, h = _shape(child, depth + 1, memo, aliased)
            values, height = values + v, max(height, h + 1)
            if aliased[0] > MAX_VALUES:
                break
        memo[id(obj)] = values, height
    if depth + height > MAX_DEPTH:
        raise _LoadProblem(f"nesting deeper than {MAX_DEPTH} levels", getattr(obj, "mark", (1, 1)))
    return values, height


def _check_nesting(text: str) -> None:
    """Refuse deep nesting from the event stream, before anything recursive
    (libyaml's composer would overflow the C stack) sees it."""
    yaml = pyyaml()
    try:
        _walk_nesting(text, _loader())
    except yaml.MarkedYAMLError as exc:
        # libyaml 0.2.5+ (PyYAML 6.0.4's wheels) stops scanning at its own
        # limit of 1,000 levels, scanning ahead of the events we count: the
        # document is too deep for us too; the pure-Python parser, which
        # has no such limit, finds where it passes ours.
        if "maximum nesting depth" not in str(exc.problem):
            raise
        _walk_nesting(text, yaml.SafeLoader)


def _walk_nesting(text: str, loader: Any) -> None:
    yaml = pyyaml()
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH + 1:
                # PyYAML's stub: Optional, since a hand-built event may lack
                # one; every event the parser yields has its marks
                mark = event.start_mark
                raise _LoadProblem(f"nesting deeper than {MAX_DEPTH} levels",
                                   (mark.line + 1, mark.column + 1))
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


class _General(Exception):
    """The document needs the general path: compose, then construct."""


def _plain_scalar(loader: Any) -> Any:
    """value(text) of a plain, untagged scalar exactly as the loader's
    implicit resolvers and constructors make it (the general path runs them
    per scalar node, in Python: most of its time)."""
    yaml = pyyaml()
    resolvers = type(loader).yaml_implicit_resolvers
    wildcard = resolvers.get(None, [])
    constructors = type(loader).yaml_constructors

    def value(text: str) -> Any:
        if text.isdigit() and text.isascii():  # [0-9]+: the int form, base 10
            return int(text)  # ValueError past Python's digit limit: general path
        for tag, regexp in resolvers.get(text[:1], []) + wildcard:
            if regexp.match(text):
                return constructors[tag](loader, yaml.ScalarNode(tag, text))
        return text
    return value


def _load_events(text: str) -> tuple[Any, bool]:
    """(data, aliased) built straight from the parser's events: the values
    and places that composing a node graph and constructing it give, without
    the graph (most of the load's time and memory) and without recursion;
    nesting is bounded here, in the one parse. Raises _General (or the
    parser's error) where the general path must decide: an explicit tag, an
    undefined, duplicate or recursive alias, a key that is not a plain
    scalar, a duplicate key, nesting past MAX_DEPTH, a second document. Any
    error is then worded and placed exactly as that path does."""
    from array import array

    from yaml.events import (AliasEvent, DocumentEndEvent, DocumentStartEvent,
                             MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
                             SequenceStartEvent, StreamEndEvent, StreamStartEvent)
    loader = _loader()(text)
    try:
        get = loader.get_event
        plain = _plain_scalar(loader)
        memo: dict[str, Any] = {}  # plain scalar text -> its value, for this load
        anchors: dict[str, list] = {}  # name -> [value, place, still open]
        no_key = empty = object()
        # One frame per open collection: [collection, places, the pending key
        # (no_key: a key comes next) or None for a sequence, anchor entry].
        stack: list[list] = []
        top: list | None = None  # stack[-1]
        shift = _SHIFT
        aliased = False
        if type(get()) is not StreamStartEvent:
            raise _General
        event = get()
        if type(event) is StreamEndEvent:
            return None, False
        if type(event) is not DocumentStartEvent:
            raise _General
        root: Any = empty
        while True:
            event = get()
            kind = type(event)
            if kind is ScalarEvent:
                if event.tag is not None:
                    raise _General
                value = event.value
                if event.implicit[0]:
                    try:
                        value = memo[value]
                    except KeyError:
                        value = memo[value] = plain(value)
                mark = event.start_mark
                place = mark.line << shift | mark.column
                if event.anchor is not None:
                    if event.anchor in anchors:
                        raise _General
                    anchors[event.anchor] = [value, place, False]
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.tag is not None or len(stack) > MAX_DEPTH:
                    raise _General
                if top is not None and top[2] is no_key:  # a collection as a key
                    raise _General
                mark = event.start_mark
                place = mark.line << shift | mark.column
                collection = Mapping() if kind is MappingStartEvent else Sequence()
                entry = None
                if event.anchor is not None:
                    if event.anchor in anchors:
                        raise _General
                    entry = anchors[event.anchor] = [collection, place, True]
                top = [collection, [place], no_key if kind is MappingStartEvent else None, entry]
                stack.append(top)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                value, places, _, entry = stack.pop()
                top = stack[-1] if stack else None
                if kind is MappingEndEvent:
                    value._keys = tuple(value)
                value._marks = array("Q", places)
                place = places[0]
                if entry is not None:
                    entry[2] = False
            elif kind is AliasEvent:
                entry = anchors.get(event.anchor)
                if entry is None or entry[2]:  # undefined, or recursive
                    raise _General
                value, place, _ = entry
                aliased = True
            elif kind is DocumentEndEvent:
                break
            else:
                raise _General
            if top is None:
                root = value
                continue
            key = top[2]
            if key is None:
                top[0].append(value)
            elif key is no_key:
                if (not isinstance(value, (str, int, bool)) or value is None
                        or value in top[0]):
                    raise _General
                top[2] = value
            else:
                top[0][key] = value
                top[2] = no_key
            top[1].append(place)
        if root is empty or type(get()) is not StreamEndEvent:  # a second document
            raise _General
        return root, aliased
    finally:
        loader.dispose()


def _load_general(text: str) -> Any:
    """Compose the node graph, then construct it: every rule of the loader,
    and every error worded and placed as PyYAML and our constructors do."""
    yaml = pyyaml()
    _check_nesting(text)
    return yaml.load(text, Loader=_loader())  # noqa: S506 - our loader is a SafeLoader


# What YAML may hold (YAML 1.2, 5.1): tab, LF, CR and the printable
# characters. Lone surrogates stand for bytes that were not UTF-8 (a text
# read with errors="surrogateescape", as Python reads stdin under the C
# locale).
_NOT_PRINTABLE = "[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def decode_text(data: bytes) -> str:
    """Description bytes -> text: UTF-8 (a BOM allowed), or UTF-16/32 with
    a BOM, as YAML 1.2 (5.2) reads them. Bytes that do not decode raise
    DescriptionError-ready _LoadProblem at their line and column."""
    for bom, codec in ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                       (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xef\xbb\xbf", "utf-8")):
        if data.startswith(bom):
            data, encoding = data[len(bom):], codec
            break
    else:
        encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        good = data[:exc.start].decode(encoding, errors="replace")
        raise _LoadProblem(f"byte 0x{data[exc.start]:02X} is not {encoding.upper()} text "
                           f"(byte offset {exc.start})", _line_col(good, len(good))) from None


def _check_characters(text: str) -> None:
    bad = re.search(_NOT_PRINTABLE, text)
    if bad is None:
        return
    char = ord(bad.group())
    if 0xDC80 <= char <= 0xDCFF:
        message = f"byte 0x{char - 0xDC00:02X} is not UTF-8 text"
    elif 0xD800 <= char <= 0xDFFF:
        message = f"character U+{char:04X} (a lone surrogate) is not text"
    else:
        message = f"character U+{char:04X} is not allowed in YAML (control character)"
    raise _LoadProblem(message, _line_col(text, bad.start()))


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    """The parser's words without its position lines (we say file:line:col
    ourselves)."""
    problem = exc.problem or exc.context or str(exc).split("\n", 1)[0]
    if exc.problem and exc.context:
        problem = f"{exc.context}: {problem}"
    return problem


def load(text: str | bytes, filename: str = "<description>") -> Any:
    """Parse YAML text (or bytes, decoded as YAML says) into plain data with
    positions, or raise DescriptionError located at the offending line and
    column."""
    yaml = pyyaml()
    try:
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = decode_text(bytes(text))
        _check_characters(text)
        with collector.paused():  # for the load only (not the whole command: memory)
            try:
                data, aliased = _load_events(text)
            except Exception:  # noqa: BLE001 - the general path decides, and words any error
                data, aliased = _load_general(text), True
        if not aliased:  # the parse bounded the nesting, and nothing repeats
            return data
        aliased_values = [0]
        _shape(data, 0, {}, aliased_values)
        if aliased_values[0] > MAX_VALUES:
            raise _LoadProblem(f"the description expands to more than {MAX_VALUES} values "
                               "(through YAML aliases?)", getattr(data, "mark", (1, 1)))
        return data
    except RecursionError:
        raise DescriptionError([Diagnostic("error", f"nesting deeper than {MAX_DEPTH} levels",
                                           file=filename, line=1, col=1)]) from None
    except _LoadProblem as exc:
        line, col = exc.pos
        raise DescriptionError([Diagnostic("error", exc.message, file=filename, line=line,
                                           col=col)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise DescriptionError([Diagnostic("error", f"YAML: {_yaml_message(exc)}", file=filename,
                                           line=line, col=col)]) from None
    except yaml.YAMLError as exc:
        # Not expected past _check_characters (a ReaderError is about a
        # character); still located, at the start, without PyYAML's
        # position line.
        message = str(exc).split("\n", 1)[0]
        raise DescriptionError([Diagnostic("error", f"YAML: {message}", file=filename,
                                           line=1, col=1)]) from None


def locate(data: Any, path: tuple) -> tuple[int, int]:
    """Line and column of the value at `path` (keys and indices), falling
    back to the nearest enclosing position that is known."""
    pos = getattr(data, "mark", (0, 0))
    node = data
    for part in path:
        if isinstance(node, Mapping) and part in node:
            pos = node.value_mark(part) or pos
            node = node[part]
        elif isinstance(node, Sequence) and isinstance(part, int) and 0 <= part < len(node):
            pos = node.item_mark(part) or pos
            node = node[part]
        else:
            break
    return pos


def locate_key(data: Any, path: tuple) -> tuple[int, int]:
    """Position of the key at the end of `path` (for 'unknown key' errors)."""
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return locate(data, path)
    if isinstance(parent, Mapping) and path:
        pos = parent.key_mark(path[-1])
        if pos is not None:
            return pos
    return locate(data, path)


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Flow(list):
    """A list written in flow style: [a, b]."""


def _represent_hex(dumper: yaml.SafeDumper, value: Hex) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:int", f"0x{int(value):X}")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Quote anything a YAML 1.1 reader could take for a number, bool or date,
    # and anything with spaces at its ends (OEM IDs are space-padded).
    plain_ok = (value and value.strip() == value and value.isprintable()
                and re.fullmatch(r"[A-Za-z_\\][A-Za-z0-9_.\\/-]*", value)
                and value.lower() not in ("yes", "no", "on", "off", "true", "false", "null", "y", "n"))
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if plain_ok else '"')


@lru_cache(maxsize=None)
def _dumper() -> Any:
    """Our SafeDumper, made (and PyYAML imported) on the first dump."""
    yaml = pyyaml()

    # libyaml's emitter when PyYAML has it (the pure-Python one was most of a
    # decode to YAML); the representers are Python and the same either way.
    class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        pass

    _Dumper.add_representer(Hex, _represent_hex)
    _Dumper.add_representer(str, _represent_str)
    _Dumper.add_representer(Mapping, yaml.SafeDumper.represent_dict)
    _Dumper.add_representer(Sequence, yaml.SafeDumper.represent_list)
    _Dumper.add_representer(Flow, lambda d, v: d.represent_sequence(
        "tag:yaml.org,2002:seq", v, flow_style=True))
    return _Dumper


def dump(data: Any, header: str = "") -> str:
    yaml = pyyaml()
    body = yaml.dump(data, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                     allow_unicode=False, width=100)
    return header + body
