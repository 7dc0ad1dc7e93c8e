"""Where the consumer tests find their external tools.

tools/provision.sh installs Debian packages and unpacks guest kernels and
trixie's acpica-tools into $ACPITABLES_CACHE (default <repo>/.cache/guest)
and writes one "name: ok ..." or "name: missing: why" line per item to
$CACHE/status. Every lookup here returns either what was found or the
precise reason it is not there, which the tests pass to pytest.skip.

Under CI (CI set, as .ci/run runs) a missing tool is a failure, not a skip:
.ci/run installs every tool, so a skip there would hide a broken install.
tests/conftest.py turns such skips into failures, using missing_tool()
below to tell them from skips about what a tool cannot do (iasl cannot
express a table, an iasl release predates a revision), which stay skips.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
CACHE = Path(os.environ.get("ACPITABLES_CACHE", REPO / ".cache" / "guest"))


def status(item: str) -> str:
    """The provisioning line for `item`, or why there is none."""
    try:
        for line in (CACHE / "status").read_text().splitlines():
            name, _, rest = line.partition(": ")
            if name == item:
                return rest
    except OSError:
        return f"{CACHE}/status not found: run 'bash tools/provision.sh'"
    return f"{item} not recorded in {CACHE}/status: run 'bash tools/provision.sh'"


# The Debian package tools/provision.sh installs each system tool from.
PACKAGE = {"iasl": "acpica-tools", "acpidump": "acpica-tools", "acpixtract": "acpica-tools",
           "dtc": "device-tree-compiler", "dot": "graphviz",
           "qemu-system-x86_64": "qemu-system-x86", "qemu-system-aarch64": "qemu-system-arm"}


def system_tool(name: str) -> tuple[str | None, str]:
    """(path, '') or (None, reason) for a tool on PATH."""
    path = shutil.which(name)
    if path:
        return path, ""
    package = PACKAGE.get(name, "acpica-tools")
    return None, (f"{name} not installed (Debian {package}; run 'bash tools/provision.sh'; "
                  f"provisioning said: {status(package)})")


# Skip reasons about a tool's abilities, not its presence: they stay skips
# under CI. Checked first, so "iasl cannot express ... missing ..." stays one.
_LIMITATION = re.compile(r"cannot express|cannot compile|too old for|refuses IORT revision|"
                         r"does not register|not registered yet|regenerated |"
                         r"needs a pseudo-terminal", re.I)
# How the suite says a tool, a guest kernel or the corpus is not there
# (this module's reasons, the guest harness's, and the tests' own; an empty
# parameter set is a test whose corpus or golden files are absent).
_MISSING = re.compile(r"not installed|not unpacked|does not run here|missing|not found|"
                      r"not recorded in|no corpus|corpus absent|corpus tables|guest kernel|"
                      r"busybox|cannot build a wheel|got empty parameter set", re.I)


def missing_tool(reason: str) -> bool:
    """Whether a skip reason says a consumer tool (iasl, trixie iasl,
    acpidump/acpixtract, dtc, dot, qemu, guest kernels, the corpus) is not
    there, as opposed to what a present tool cannot do."""
    return not _LIMITATION.search(reason) and bool(_MISSING.search(reason))


@lru_cache(maxsize=None)
def trixie_tool(name: str) -> tuple[list[str] | None, str]:
    """A tool from trixie's acpica-tools, run through trixie's own ld.so
    with --library-path (nothing installed system-wide): (argv prefix, '')
    or (None, reason)."""
    root = CACHE / "trixie" / "root"
    ld = root / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    binary = root / "usr/bin" / name
    if not (ld.exists() and binary.exists()):
        return None, f"trixie acpica-tools not unpacked under {root} ({status('trixie-acpica')})"
    argv = [str(ld), "--library-path",
            f"{root}/usr/lib/x86_64-linux-gnu:{root}/lib/x86_64-linux-gnu", str(binary)]
    try:
        subprocess.run(argv + ["-v"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"trixie {name} does not run here: {exc}"
    return argv, ""


def tool_version(argv: list[str]) -> str:
    out = subprocess.run(argv + ["-v"], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        if "version" in line:
            return line.strip()
    return out.strip().splitlines()[0] if out.strip() else "unknown version"
