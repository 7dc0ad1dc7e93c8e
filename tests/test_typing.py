"""mypy over the package, with the configuration in pyproject.toml: every
module under acpitables/ must have no error at all (a new module is held to
that from the start)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mypy(cache: Path) -> tuple[int, str]:
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
    return result.returncode, result.stdout + result.stderr


def test_package_is_mypy_clean(tmp_path):
    rc, out = _mypy(tmp_path / "mypy-cache")
    assert rc in (0, 1), out                    # 2: mypy itself failed (bad configuration)
    errors = re.findall(r"^(\S+\.py):\d+: error: .*$", out, re.M)
    assert rc == 0 and not errors, out
    # The package really was checked: pyproject's `files` still names it.
    checked = re.search(r"no issues found in (\d+) source files", out)
    assert checked and int(checked[1]) >= len(list((ROOT / "acpitables").rglob("*.py"))), out
