"""Shared fixtures, and the golden regeneration switch (see tests/goldens.py
and docs/golden.md)."""
from __future__ import annotations

from pathlib import Path

import pytest

from goldens import UPDATE_ENV, env_requests_update, under_ci

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


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
