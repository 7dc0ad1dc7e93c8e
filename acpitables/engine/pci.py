"""acpitables: pci.py -- PCI addresses as people write them.

A BDF is written "bb:dd.f" or "ssss:bb:dd.f" (segment first, as lspci -D
does) or given as the 16-bit requester ID (bus << 8 | device << 3 | fn).
"""
from __future__ import annotations

import re

# Compiled on the first parse (re caches it), not at import: a decode only
# formats addresses.
_BDF = (r"^(?:(?P<seg>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):"
        r"(?P<dev>[0-9a-fA-F]{1,2})\.(?P<fn>[0-7])$")


class BdfError(ValueError):
    pass


def parse_bdf(value: object) -> tuple[int | None, int]:
    """(segment or None, RID) from "bb:dd.f", "ssss:bb:dd.f" or an int RID."""
    if isinstance(value, bool):
        raise BdfError(f"{value!r} is not a PCI address")
    if isinstance(value, int):
        if not 0 <= value <= 0xFFFF:
            raise BdfError(f"requester ID 0x{value:X} does not fit 16 bits")
        return None, value
    if not isinstance(value, str):
        raise BdfError(f"{value!r} is not a PCI address (write \"bb:dd.f\" or \"ssss:bb:dd.f\")")
    m = re.match(_BDF, value.strip())
    if not m:
        raise BdfError(f"{value!r} is not a PCI address (write \"bb:dd.f\" or \"ssss:bb:dd.f\")")
    dev = int(m["dev"], 16)
    if dev > 31:
        raise BdfError(f"{value!r}: device number 0x{dev:X} is above 0x1F")
    seg = int(m["seg"], 16) if m["seg"] is not None else None
    return seg, int(m["bus"], 16) << 8 | dev << 3 | int(m["fn"])


def format_bdf(rid: int, segment: int | None = None) -> str:
    text = f"{rid >> 8:02x}:{(rid >> 3) & 0x1F:02x}.{rid & 7}"
    return f"{segment:04x}:{text}" if segment is not None else text
