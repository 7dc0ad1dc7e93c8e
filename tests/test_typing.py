"""mypy over the package, with the configuration in pyproject.toml.

The public surface (the modules in CLEAN) must have no error at all. The
rest of the package is being typed module by module: its remaining errors
are listed (pytest -rA shows them) and may only go down -- a module joins
CLEAN once it is clean."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CLEAN = {
    "acpitables/__init__.py", "acpitables/__main__.py", "acpitables/api.py",
    "acpitables/cli.py", "acpitables/errors.py", "acpitables/formats/__init__.py",
    "acpitables/formats/sources.py", "acpitables/formats/acpidump.py",
    "acpitables/formats/diff.py",
}


def _mypy(cache: Path) -> list[tuple[str, str]]:
    try:
        import mypy  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "") not in ("", "0", "false"):
            pytest.fail("mypy is not installed (pip install -e '.[test]' brings it)")
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    # A private cache: never --cache-dir /dev/null (mypy 2 replaces it with
    # a regular file when run as root).
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    errors = re.findall(r"^(acpitables/[^:]+):\d+: error: (.*)$", result.stdout, re.M)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy itself failed
    return errors


def test_public_surface_is_mypy_clean(tmp_path):
    errors = _mypy(tmp_path / "mypy-cache")
    ours = [f"{path}: {msg}" for path, msg in errors if path in CLEAN]
    assert not ours, "\n".join(ours)
    rest = Counter(path for path, _ in errors)
    print("remaining mypy errors by file:", dict(sorted(rest.items())) or "none")
