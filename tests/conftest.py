"""Shared fixtures, the golden regeneration switch (see tests/goldens.py
and docs/golden.md), the CI rule for missing tools, and the seed of the
hostile-input tests (docs/hostile.md)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from goldens import UPDATE_ENV, env_requests_update, under_ci
try:
    from guest.tools import missing_tool
except ImportError:  # the golden workflow copied into another project (docs/golden.md)
    def missing_tool(reason: str) -> bool:
        return False

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

# The hostile tests draw new inputs every run from this seed; a failure
# replays with ACPITABLES_FUZZ_SEED=<seed> (printed in the header and in
# every failure message).
FUZZ_SEED_ENV = "ACPITABLES_FUZZ_SEED"
FUZZ_SEED = int(os.environ.get(FUZZ_SEED_ENV) or str(secrets.randbits(32)), 0)


def pytest_report_header(config: pytest.Config) -> str:
    return f"hostile-input seed: {FUZZ_SEED} (replay: {FUZZ_SEED_ENV}={FUZZ_SEED})"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite golden/*/*/expected.{aml,txt} from input.yaml "
                          f"(also: {UPDATE_ENV}=1); refused when CI is set")


def pytest_configure(config: pytest.Config) -> None:
    wanted = config.getoption("--update-goldens") or env_requests_update()
    if wanted and under_ci():
        raise pytest.UsageError("--update-goldens / ACPITABLES_UPDATE_GOLDENS refused: CI is "
                                "set; regenerate golden files locally and commit them")
    config.update_goldens = bool(wanted)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI a test skipped because its tool is missing fails: .ci/run
    installs every tool (tools/provision.sh), so such a skip means the
    install broke, and a green run would hide it. Skips about what a tool
    cannot do stay skips; outside CI every skip stays, with its reason."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and under_ci():
        reason = _skip_reason(report)
        if missing_tool(reason):
            report.outcome = "failed"
            report.longrepr = (f"CI is set and this test's tool is missing: {reason}\n"
                               "(.ci/run installs it through tools/provision.sh; outside CI "
                               "this is a skip)")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return request.config.update_goldens


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (../shared/corpus from the repo root)")
    return CORPUS
