"""acpitables: diff.py -- a field-level difference of two tables.

QEMU's bios-tables-test compares bytes and, on a mismatch, disassembles both
sides with iasl and shows the text diff. This does the same with our own
text decode, but field-level: lines are matched by node name, field label
and value with the offsets taken out (so a node that moved because an
earlier one grew does not make every later line differ), and references to
other nodes compare by the node's name rather than its byte offset. The
hunks then show each side's real lines, offsets included.
"""
from __future__ import annotations

import difflib
import re

from .. import api
from . import acpidump
from . import render
from ..errors import AcpiTablesError

_PREFIX = re.compile(r"^\[[0-9A-F]+h [0-9]+ [0-9A-F]+h\] ")
_REF = re.compile(r": [0-9A-F]+    \((?P<name>[^)]*)\)$")
_WARN_OFFSET = re.compile(r"offset 0x[0-9A-F]+")


def _key(line: str) -> str:
    """What a line says, without where it is."""
    key = _PREFIX.sub("", line)
    key = _REF.sub(lambda m: f": -> {m['name']}", key)
    return _WARN_OFFSET.sub("offset", key)


def _text(data: bytes) -> list[str]:
    try:
        return render.text(api.decode(data)).splitlines()
    except AcpiTablesError as exc:
        # Not decodable: compare the hex dump, and say why.
        sig = data[:4].decode("latin-1") if len(data) >= 4 else "????"
        return [f"/* cannot decode: {exc} */"] + acpidump.format_table(sig, data).splitlines()


def unified(a: bytes, b: bytes, name_a: str = "a", name_b: str = "b", context: int = 3) -> str:
    """A unified diff of the two tables' text decodes, matched field by
    field; empty when the bytes are identical."""
    if a == b:
        return ""
    ta, tb = _text(a), _text(b)
    ka, kb = [_key(line) for line in ta], [_key(line) for line in tb]
    out = [f"--- {name_a}", f"+++ {name_b}"]
    matcher = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        out.append(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                # Same field and value; show A's line (B's offset too if it moved).
                for ia, ib in zip(range(a1, a2), range(b1, b2)):
                    moved = _PREFIX.match(ta[ia]) and ta[ia] != tb[ib]
                    out.append(" " + ta[ia] + (f"    (at {tb[ib][1:5]} in {name_b})"
                                               if moved else ""))
                continue
            out.extend("-" + line for line in ta[a1:a2])
            out.extend("+" + line for line in tb[b1:b2])
    if len(out) == 2:
        # Decodes say the same (e.g. bytes past Length): show the bytes.
        da = acpidump.format_table(a[:4].decode("latin-1"), a).splitlines()
        db = acpidump.format_table(b[:4].decode("latin-1"), b).splitlines()
        out = list(difflib.unified_diff(da, db, name_a, name_b, lineterm="", n=context))
    return "\n".join(out) + "\n"


def explain(a: bytes, b: bytes, name_a: str = "expected", name_b: str = "actual") -> str:
    """For a test's mismatch message: what differs between two tables, field
    by field (empty string when the bytes are equal)."""
    if a == b:
        return ""
    head = f"{name_a} ({len(a)} bytes) and {name_b} ({len(b)} bytes) differ:\n"
    return head + unified(a, b, name_a, name_b)
