"""acpitables: acpidump.py -- ACPICA acpidump's text format, both ways.

Writing follows acpidump's own formatter (apdump.c / utbuffer.c): a
"SIG @ 0x<16 hex digits>" line, "%8.4X: " offsets, 16 "%02X " bytes, the
ASCII column, a blank line after each table. Reading is as tolerant as
acpixtract (axutils.c): lowercase hex, wider offsets, any header line
shorter than 49 characters that contains " @ ".
"""
from __future__ import annotations

import re

from ..errors import InputError

_HEADER = re.compile(r"^(?P<sig>[A-Za-z0-9_!]{4}|RSD PTR) @ ")
# Bytes are single-space separated; the ASCII column follows after two or
# more spaces. Trailing spaces may have been trimmed (pasted dumps).
_DATA = re.compile(r"^\s*(?P<off>[0-9A-Fa-f]+):\s?(?P<hex>[0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2}){0,15})(?:\s|$)")


def format_table(signature: str, data: bytes, address: int = 0) -> str:
    lines = [f"{signature:4.4s} @ 0x{address >> 32:08X}{address & 0xFFFFFFFF:08X}"]
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        hexpart = "".join(f"{b:02X} " for b in chunk) + "   " * (16 - len(chunk))
        text = "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in chunk)
        lines.append(f"{off:04X}".rjust(8) + f": {hexpart} {text}")
    return "\n".join(lines) + "\n\n"


def looks_like_dump(text: str) -> bool:
    """True when some early line is an acpidump table header and the text
    has at least one hex data line."""
    lines = text.splitlines()[:4000]
    return (any(_HEADER.match(line) and len(line) < 49 for line in lines)
            and any(_DATA.match(line) for line in lines))


def parse(text: str) -> list[tuple[str, bytes]]:
    """Every table in an acpidump text, as (signature, bytes) in order."""
    tables: list[tuple[str, bytearray]] = []
    current: bytearray | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith((" ", "\t")) and " @ " in line and len(line) < 49:
            m = _HEADER.match(line)
            if not m:
                current = None
                continue
            sig = "RSDP" if m["sig"] == "RSD PTR" else m["sig"]
            current = bytearray()
            tables.append((sig, current))
            continue
        m = _DATA.match(line)
        if m and current is not None:
            off = int(m["off"], 16)
            if off != len(current):
                raise InputError(f"line {number}: offset 0x{off:X} does not follow the "
                                 f"{len(current)} bytes read so far")
            current.extend(bytes.fromhex(m["hex"]))
    if not tables:
        raise InputError("no 'SIG @ 0x...' table header found in the acpidump text")
    return [(sig, bytes(data)) for sig, data in tables]
