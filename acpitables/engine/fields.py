"""acpitables.engine.fields -- the vocabulary every structure is declared in.

Declarations read as construct declarations (`Struct`, `Int16ul`,
`Bytes(8)`, `Default(...)`, `"name" / field * "Label"`) and are made from
this module. Its objects hold what a declaration says: names, labels,
sizes, struct-module formats and defaults. A fixed-layout structure made of
little-endian integers, fixed-size bytes, one greedy tail and nested such
structures parses and builds through the struct module straight from that;
everything else (a value a field cannot hold, a short input, a padded
string) goes to the construct object the declaration stands for, made the
first time it is needed (`.construct`), which parses, builds or raises as
construct does. So a command on a small table never imports construct
(issue 11: `import construct` alone costs 2-3x an interpreter's start),
and construct still does the work wherever the struct module cannot.

tests/test_fields.py holds every declaration of every table to construct's
own answers, both ways, on random inputs.
"""
from __future__ import annotations

import struct as _struct
from functools import cached_property
from typing import Any

# ACPI structures are little-endian; these are the integer formats we declare.
_FORMATS = ("<B", "<H", "<L", "<Q")  # construct's own fmtstr of Int8ul..Int64ul


class ConstructError(Exception):
    """A parse or build failed. Raised with construct's own message and
    `path` (" -> field -> ..."), so that callers word it as before."""

    def __init__(self, message: str = "", path: str | None = None):
        super().__init__(message)
        self.path = path


class SizeofError(ConstructError):
    """The structure has no fixed size (a greedy tail)."""


_DERIVED = ("construct", "_plan", "_packer")  # cached_property values


def _construct_module() -> Any:
    import construct  # the general codec, loaded on first need
    return construct


def _codec(real: Any, method: str, arg: Any) -> Any:
    c = _construct_module()
    try:
        return getattr(real, method)(arg)
    except c.ConstructError as exc:
        kind = SizeofError if isinstance(exc, c.SizeofError) else ConstructError
        raise kind(str(exc), getattr(exc, "path", None)) from None


class Construct:
    """A declared field or structure. `name` and `docs` (the text label)
    are set by `"name" / x * "Label"`, as in construct."""

    name: Any = None  # the field's name (a str) once named; None for an unnamed one
    docs: str = ""

    # A declaration is a constant shared by everything that reads it: copies
    # are itself, and a pickle leaves out what is derived from it.
    def __copy__(self) -> "Construct":
        return self

    def __deepcopy__(self, memo: dict) -> "Construct":
        return self

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in _DERIVED}

    def __rtruediv__(self, name: str) -> "Renamed":
        return Renamed(self, newname=name)

    def __mul__(self, docs: str) -> "Renamed":
        if not isinstance(docs, str):
            return NotImplemented
        return Renamed(self, newdocs=docs)

    __rmul__ = __mul__

    def sizeof(self) -> int:
        raise SizeofError(f"{type(self).__name__} has no fixed size")

    @cached_property
    def construct(self) -> Any:
        """The construct object this declaration stands for."""
        return self._make(_construct_module())

    def _make(self, c: Any) -> Any:  # pragma: no cover - every class defines it
        raise NotImplementedError

    def parse(self, data: bytes) -> Any:
        return _codec(self.construct, "parse", data)

    def build(self, obj: Any) -> bytes:
        return _codec(self.construct, "build", obj)


class FormatField(Construct):
    """A little-endian integer of the struct module's format `fmtstr`."""

    def __init__(self, fmtstr: str):
        self.fmtstr = fmtstr
        self.length = _struct.calcsize(fmtstr)

    @cached_property
    def _packer(self) -> _struct.Struct:
        return _struct.Struct(self.fmtstr)

    def sizeof(self) -> int:
        return self.length

    def _make(self, c: Any) -> Any:
        return c.FormatField(self.fmtstr[0], self.fmtstr[1:])

    def parse(self, data: bytes) -> Any:
        if data is not None and len(data) >= self.length:  # construct reads None as b""
            return self._packer.unpack_from(data)[0]
        return super().parse(data)

    def build(self, obj: Any) -> bytes:
        try:
            return self._packer.pack(obj)
        except (_struct.error, TypeError, ValueError, OverflowError):
            return super().build(obj)  # construct's error and wording

    def __repr__(self) -> str:
        return f"FormatField({self.fmtstr!r})"

    def __reduce__(self) -> Any:
        # Int8ul..Int64ul unpickle as this module's own (`is Int32ul` checks)
        name = _NAMES.get(self.fmtstr)
        return name if name is not None else (FormatField, (self.fmtstr,))


Int8ul, Int16ul, Int32ul, Int64ul = (FormatField(f) for f in _FORMATS)
_NAMES = dict(zip(_FORMATS, ("Int8ul", "Int16ul", "Int32ul", "Int64ul")))


class Bytes(Construct):
    """`length` bytes, kept as they are."""

    def __init__(self, length: int):
        self.length = length

    def sizeof(self) -> int:
        return self.length

    def _make(self, c: Any) -> Any:
        return c.Bytes(self.length)


class _GreedyBytes(Construct):
    """Every byte that is left."""

    def _make(self, c: Any) -> Any:
        return c.GreedyBytes

    def __repr__(self) -> str:
        return "GreedyBytes"

    def __reduce__(self) -> str:
        return "GreedyBytes"  # unpickles as this module's own (identity checks use it)


GreedyBytes = _GreedyBytes()


class PaddedString(Construct):
    """A string of `length` bytes in `encoding`, NUL-padded (construct's
    PaddedString parses and builds it)."""

    def __init__(self, length: int, encoding: str):
        self.length, self.encoding = length, encoding

    def sizeof(self) -> int:
        return self.length

    def _make(self, c: Any) -> Any:
        return c.PaddedString(self.length, self.encoding)


class Subconstruct(Construct):
    """A wrapper around one declaration."""

    def __init__(self, subcon: Construct):
        self.subcon = subcon  # unnamed, as in construct, whatever it wraps

    def sizeof(self) -> int:
        return self.subcon.sizeof()


class Renamed(Subconstruct):
    """A field's name and label (`"name" / x * "Label"`)."""

    def __init__(self, subcon: Construct, newname: str | None = None,
                 newdocs: str | None = None):
        super().__init__(subcon)
        self.name = newname or subcon.name
        self.docs = newdocs or subcon.docs

    def __getattr__(self, name: str) -> Any:  # as construct's Renamed: the field's own facts
        if name.startswith("__") or name == "subcon":
            raise AttributeError(name)
        return getattr(self.subcon, name)

    def _make(self, c: Any) -> Any:
        return c.Renamed(self.subcon.construct, newname=self.name, newdocs=self.docs or None)

    # The field's own fast path; a refusal is construct's, whose path names this field.
    def parse(self, data: bytes) -> Any:
        try:
            return self.subcon.parse(data)
        except ConstructError:
            return super().parse(data)

    def build(self, obj: Any) -> bytes:
        try:
            return self.subcon.build(obj)
        except ConstructError:
            return super().build(obj)


class Default(Subconstruct):
    """A field that builds as `value` when it is not given."""

    def __init__(self, subcon: Construct, value: Any):
        super().__init__(subcon)
        self.value = value

    def _make(self, c: Any) -> Any:
        return c.Default(self.subcon.construct, self.value)


def leaf(sub: Construct) -> Construct:
    """What a field is, past its name and its default (Renamed, Default):
    the one unwrapping rule every reader of a declaration uses."""
    while isinstance(sub, Subconstruct):
        sub = sub.subcon
    return sub


class Container(dict):
    """A parsed structure: a dict whose fields also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


_ABSENT = object()


class _Plan:
    """A Struct as one struct-module format: its leaves in order, each
    (nesting path, name, bytes size or 0 for an integer, default or
    _ABSENT), and whether the last field is a greedy tail (with its
    default). Made once per Struct, from the declaration only."""

    __slots__ = ("leaves", "fmt", "tail", "tail_default", "shape")

    def __init__(self, leaves: list, fmt: str, tail: str | None, tail_default: Any,
                 shape: list):
        self.leaves, self.fmt = tuple(leaves), _struct.Struct(fmt)
        self.tail, self.tail_default, self.shape = tail, tail_default, shape


def _plan_of(st: "Struct") -> _Plan | None:
    leaves: list = []
    fmt = ["<"]
    tail: list = [None, _ABSENT]

    def walk(struct: Struct, parent: tuple, top: bool) -> list | None:
        """The shape of `struct`'s values: [(name, None | nested shape)]."""
        shape: list = []
        subs = struct.subcons
        for i, sub in enumerate(subs):
            if not sub.name:
                return None
            inner, default = sub, _ABSENT
            while isinstance(inner, Subconstruct):
                if isinstance(inner, Default):
                    if callable(inner.value) or default is not _ABSENT:
                        return None
                    default = inner.value
                inner = inner.subcon
            if isinstance(inner, FormatField) and inner.fmtstr in _FORMATS:
                leaves.append((parent, sub.name, 0, default))
                fmt.append(inner.fmtstr[1:])
                shape.append((sub.name, None))
            elif type(inner) is Bytes and isinstance(inner.length, int) and inner.length > 0:
                # (size 0 marks an integer leaf: an empty field is construct's)
                leaves.append((parent, sub.name, inner.length, default))
                fmt.append(f"{inner.length}s")
                shape.append((sub.name, None))
            elif inner is GreedyBytes and top and i == len(subs) - 1:
                tail[:] = [sub.name, default]
            elif isinstance(inner, Struct) and not parent:
                nested = walk(inner, (sub.name,), False)
                if nested is None or (default is not _ABSENT and default != {}):
                    return None
                shape.append((sub.name, nested))
            else:
                return None
        return shape

    shape = walk(st, (), True)
    if shape is None:
        return None
    return _Plan(leaves, "".join(fmt), tail[0], tail[1], shape)


def _assemble(shape: list, values: Any) -> Container:
    out = Container()
    for name, nested in shape:
        out[name] = next(values) if nested is None else _assemble(nested, values)
    return out


class Struct(Construct):
    """Fields one after another (ACPI structures are packed)."""

    def __init__(self, *subcons: Construct):
        self.subcons = list(subcons)

    def sizeof(self) -> int:
        return sum(sub.sizeof() for sub in self.subcons)

    def _make(self, c: Any) -> Any:
        return c.Struct(*(sub.construct for sub in self.subcons))

    def int_format(self) -> tuple[tuple[str, ...], _struct.Struct] | None:
        """(field names, the struct-module format) when every field is a
        named little-endian integer without a default (ID mappings,
        interrupts: arrays of them are unpacked in bulk), else None."""
        plan = self._plan
        if plan is None or plan.tail is not None or any(
                parent or size or default is not _ABSENT
                for parent, _, size, default in plan.leaves):
            return None
        return tuple(name for _, name, _, _ in plan.leaves), plan.fmt

    @cached_property
    def _plan(self) -> _Plan | None:
        return _plan_of(self)

    def parse(self, data: bytes) -> Any:
        plan = self._plan
        size = plan.fmt.size if plan is not None else 0
        if plan is None or data is None or len(data) < size:  # construct reads None as b""
            return super().parse(data)  # construct parses it, or says why not
        out = _assemble(plan.shape, iter(plan.fmt.unpack_from(data)))
        if plan.tail is not None:
            out[plan.tail] = bytes(data[size:])
        return out

    def build(self, obj: Any) -> bytes:
        plan = self._plan
        if plan is not None and isinstance(obj, dict):
            packed = _pack(plan, obj)
            if packed is not None:
                return packed
        return super().build(obj)  # construct builds it, or raises as it does


def _pack(plan: _Plan, obj: dict) -> bytes | None:
    """The bytes of `obj`, or None where construct must decide (a missing
    field without a default, a value of another type or out of range)."""
    args = []
    for parent, name, size, default in plan.leaves:
        src: Any = obj
        if parent:
            src = obj.get(parent[0])
            if src is None:
                src = {}  # a nested structure left out: its defaults (or construct's error)
            if not isinstance(src, dict):
                return None
        value = src.get(name)
        if value is None:
            if default is _ABSENT:
                return None
            value = default
        if size and (type(value) is not bytes or len(value) != size):
            return None
        args.append(value)
    try:
        head = plan.fmt.pack(*args)
    except (_struct.error, TypeError, ValueError, OverflowError):
        return None
    if plan.tail is None:
        return head
    tail: Any = obj.get(plan.tail)
    if tail is None:
        tail = plan.tail_default
    if type(tail) is not bytes:
        return None
    return head + tail

