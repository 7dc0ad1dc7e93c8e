"""acpitables.engine.flags -- named bit fields of one flags word.

One FlagSet serves the description (names <-> bits), the text and dsl
views (one "decoded below" sub-line per field), the JSON Schema and the
reserved-bits checks.
"""
from __future__ import annotations

from typing import Any, TYPE_CHECKING

from .yamlio import Hex

if TYPE_CHECKING:
    from .description import Problems


def _whole(value: Any) -> int | None:
    """An integer (a bool counts as 0/1, a whole finite float as itself),
    or None: never an OverflowError for .inf."""
    if isinstance(value, bool) or isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class FlagSet:
    """Named bit fields of one flags word. A one-bit field is a boolean in
    the description, a wider one an integer; bits no field covers are
    reserved and must be zero."""

    def __init__(self, *fields: tuple[str, int, str], width: int = 32):
        self.fields = fields  # (name, mask, iasl label)
        self.width = width
        self.mask = 0
        for _, mask, _ in fields:
            self.mask |= mask

    @staticmethod
    def _get(value: int, mask: int) -> int:
        return (value & mask) >> ((mask & -mask).bit_length() - 1)

    @staticmethod
    def field_max(mask: int) -> int:
        return mask >> ((mask & -mask).bit_length() - 1)

    def rows(self, value: int) -> list[tuple[str, str, int]]:
        return [(name, label, self._get(value, mask)) for name, mask, label in self.fields]

    def describe(self, value: int) -> Any:
        out: dict = {}
        for name, mask, _ in self.fields:
            field = self._get(value, mask)
            if field:
                out[name] = True if mask & (mask - 1) == 0 else field
        if value & ~self.mask:
            out["reserved"] = Hex(value & ~self.mask)
        return out

    def compile(self, value: Any, p: "Problems", path: tuple) -> int:
        """Description value -> word; every value out of range is a located
        error (never an OverflowError from the encoder)."""
        top = (1 << self.width) - 1
        if isinstance(value, bool):
            p.error(path, "a flags word is a mapping of flag names (or an integer)")
            return 0
        if isinstance(value, (int, float)):
            word = _whole(value)
            if word is None:
                p.error(path, f"{value!r} is not a flags word")
                return 0
            return self._word(word, top, p, path)
        if not isinstance(value, dict):
            p.error(path, "a flags word is a mapping of flag names (or an integer)")
            return 0
        out = 0
        known = {name: mask for name, mask, _ in self.fields}
        for name, field in value.items():
            if name == "reserved":
                bits = _whole(field)
                if bits is None or isinstance(field, bool):
                    p.error(path + (name,), "reserved bits are an integer")
                    continue
                out |= self._word(bits, top, p, path + (name,))
                continue
            mask = known.get(name)
            if mask is None:
                p.error(path + (name,), f"unknown flag {name!r} (known: {', '.join(known)})",
                        key=True)
                continue
            field = _whole(field)
            if field is None:
                p.error(path + (name,), f"{value[name]!r} is not a value of the field {name}")
                continue
            width_max = self.field_max(mask)
            if field < 0 or field > width_max:
                p.error(path + (name,), f"{field} does not fit the {width_max.bit_length()}-bit "
                        f"field {name}")
                continue
            out |= field << ((mask & -mask).bit_length() - 1)
        return out

    def _word(self, value: int, top: int, p: "Problems", path: tuple) -> int:
        if value < 0 or value > top:
            p.error(path, f"{value} does not fit the {self.width}-bit flags word")
            return 0
        return value

    def names(self) -> list[str]:
        return [name for name, _, _ in self.fields]

    def schema(self, description: str) -> dict:
        """The JSON Schema of this word in a description: a mapping of flag
        names, or the whole word as an integer."""
        props: dict = {}
        for name, mask, label in self.fields:
            low = (mask & -mask).bit_length() - 1
            bits = f"bit {low}" if mask & (mask - 1) == 0 else \
                f"bits {mask.bit_length() - 1}:{low}"
            if mask & (mask - 1) == 0:
                props[name] = {"type": "boolean", "description": f"{label} ({bits})."}
            else:
                props[name] = {"type": "integer", "minimum": 0, "maximum": self.field_max(mask),
                               "description": f"{label} ({bits})."}
        top = (1 << self.width) - 1
        props["reserved"] = {"type": "integer", "minimum": 0, "maximum": top,
                             "description": "Reserved bits, as they stand in the word (must be "
                                            "zero; kept for lossless round trips)."}
        return {"description": description, "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": top},
            {"type": "object", "additionalProperties": False, "properties": props}]}
