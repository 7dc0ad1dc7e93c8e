"""The golden-file workflow in one place.

A golden case is a directory golden/<table>/<case>/ holding
  input.yaml    the description (hand-written; it is documentation)
  expected.aml  what `acpitables build input.yaml` must produce
  expected.txt  what `acpitables decode expected.aml -f text` must print

`pytest --update-goldens` (or ACPITABLES_UPDATE_GOLDENS=1) rewrites the two
expected files from input.yaml; it refuses to run when CI is set. Review
the change with `git diff golden/` (expected.txt is the readable side) and
commit it on its own.
"""
from __future__ import annotations

import os
from pathlib import Path

from acpitables import api
from acpitables.formats import render
from acpitables.formats.diff import explain

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_ROOT = ROOT / "golden"
UPDATE_ENV = "ACPITABLES_UPDATE_GOLDENS"


def cases() -> list[Path]:
    """Every golden/<table>/<case>/ with an input.yaml, in a stable order."""
    return sorted(p.parent for p in GOLDEN_ROOT.glob("*/*/input.yaml"))


def case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


def env_requests_update() -> bool:
    return os.environ.get(UPDATE_ENV, "") not in ("", "0")


def under_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "0", "false")


def text_of(data: bytes) -> str:
    """Our text decode: exactly what `acpitables decode FILE -f text` prints
    for a file holding one table."""
    return render.text(api.decode(data))


def expected_for(case: Path) -> tuple[bytes, str]:
    """(expected.aml, expected.txt) contents computed from input.yaml."""
    blob = api.build(case / "input.yaml").data
    return blob, text_of(blob)


def update(case: Path) -> list[str]:
    """Rewrite a case's expected files; returns the names that changed."""
    blob, text = expected_for(case)
    changed = []
    for name, content in (("expected.aml", blob), ("expected.txt", text.encode())):
        target = case / name
        if not target.exists() or target.read_bytes() != content:
            target.write_bytes(content)
            changed.append(name)
    return changed


def field_diff(expected: bytes, actual: bytes, label: str = "") -> str:
    """The mismatch message: `acpitables diff`'s field-level diff of the two
    tables' text decodes (as QEMU's bios-tables-test shows iasl's)."""
    return explain(expected, actual, f"expected {label}".strip(), f"built {label}".strip())
