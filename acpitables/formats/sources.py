"""acpitables: sources.py -- where tables come from.

A raw table file (.aml, .dat, sysfs), a directory laid out like
/sys/firmware/acpi/tables or acpidump -b / acpixtract output, acpidump
text (possibly a whole machine), or standard input.
"""
from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

from . import acpidump
from ..errors import InputError
from ..engine.registry import TABLES

if TYPE_CHECKING:
    from pathlib import Path


class Source:
    """What one input holds: its tables, and what was seen and is not ours.
    (A plain class: a dataclass costs a decode of one file ~0.4 ms to make.)"""

    __slots__ = ("tables", "skipped")

    def __init__(self, tables: list[tuple[str, bytes]], skipped: list[str] | None = None):
        self.tables = tables  # (where it came from, bytes)
        self.skipped = [] if skipped is None else skipped  # what was seen and not ours

    def __repr__(self) -> str:
        return f"Source(tables={self.tables!r}, skipped={self.skipped!r})"


def is_glob(arg: str) -> bool:
    """A pattern the shell left unexpanded: glob characters in a name no
    file has ('-' is standard input)."""
    return arg != "-" and any(c in arg for c in "*?[") and not os.path.exists(arg)


_FILE_NAME = re.compile(r"^(?P<sig>[A-Za-z0-9]{4})(?P<n>\d*)(?:\.(?:dat|aml|bin))?$")


def read(path: str, signature: str | None = None) -> Source:
    """Tables from `path` ("-" for stdin) that the registry knows, filtered
    by `signature` when given."""
    if path == "-":
        return _from_bytes(sys.stdin.buffer.read(), "<stdin>", signature)
    if os.path.isdir(path):
        from pathlib import Path  # a directory's walk; one file needs no pathlib (issue 11)
        return _from_dir(Path(path), signature)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    return _from_bytes(data, path, signature)


def _wanted(sig: str, signature: str | None) -> bool:
    return sig in TABLES and (signature is None or sig == signature.upper())


def _from_bytes(data: bytes, name: str, signature: str | None) -> Source:
    text = None
    try:
        text = data[:65536].decode("ascii")
    except UnicodeDecodeError:
        pass
    if text is None or not acpidump.looks_like_dump(text):
        head = data[:4].decode("latin-1")
        if head not in TABLES:
            raise InputError(f"{name}: neither a {'/'.join(TABLES)} table nor acpidump text "
                             f"(starts with {data[:4]!r})")
        if not _wanted(head, signature):
            raise InputError(f"{name}: a {head!r} table, not {signature}")
        return Source([(name, data)])
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{name}: acpidump text with non-ASCII bytes") from None
    found = acpidump.parse(text)
    src = Source([])
    counts: dict[str, int] = {}
    for sig, blob in found:
        counts[sig] = counts.get(sig, 0) + 1
        label = f"{name}:{sig}{counts[sig] if counts[sig] > 1 else ''}"
        if _wanted(sig, signature):
            src.tables.append((label, blob))
        else:
            src.skipped.append(f"{sig}{counts[sig] if counts[sig] > 1 else ''}")
    if not src.tables:
        raise InputError(f"{name}: acpidump text holds no {signature or '/'.join(TABLES)} table "
                         f"(found {', '.join(src.skipped) or 'nothing'})")
    return src


def _from_dir(p: Path, signature: str | None) -> Source:
    src = Source([])
    for entry in sorted(p.iterdir(), key=lambda e: (len(e.name), e.name)):
        m = _FILE_NAME.match(entry.name)
        if not entry.is_file() or not m:
            continue
        sig = m["sig"].upper()
        if not _wanted(sig, signature):
            src.skipped.append(entry.name)
            continue
        try:
            data = entry.read_bytes()
        except OSError as exc:
            raise InputError(f"{entry}: {exc.strerror or exc}") from None
        if data[:4].decode("latin-1") != sig:
            src.skipped.append(entry.name)
            continue
        src.tables.append((str(entry), data))
    if not src.tables:
        raise InputError(f"{p}: no {signature or '/'.join(TABLES)} table in this directory")
    return src
