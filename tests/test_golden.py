"""Golden files: every golden/<table>/<case>/ (input.yaml, expected.aml,
expected.txt). New tables' cases join without changes here. Regenerate on
purpose with `pytest --update-goldens` (see docs/golden.md).

This file names no case and no path of this repository: docs/golden.md
tells users to copy it (with goldens.py and conftest.py) into their own
project, and tests/test_golden_doc.py does exactly that. Checks about this
repository's own cases are in tests/test_golden_cases.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from acpitables import api
from acpitables.formats import render
from goldens import GOLDEN_ROOT, case_id, cases, expected_for, field_diff, text_of, update

CASES = cases()


@pytest.fixture(params=CASES, ids=[case_id(c) for c in CASES])
def case(request, update_goldens) -> Path:
    if update_goldens:
        changed = update(request.param)
        pytest.skip(f"regenerated {case_id(request.param)}: "
                    f"{', '.join(changed) or 'unchanged'}; review with git diff golden/")
    return request.param


def test_build_matches_expected_aml(case):
    expected = (case / "expected.aml").read_bytes()
    built = api.build(case / "input.yaml").data
    assert built == expected, field_diff(expected, built, case_id(case))


def test_text_decode_matches_expected_txt(case):
    expected = (case / "expected.txt").read_text()
    assert text_of((case / "expected.aml").read_bytes()) == expected


def test_describe_of_decode_builds_back(case):
    expected = (case / "expected.aml").read_bytes()
    decoded = api.decode(expected)
    described = render.as_yaml(api.describe(decoded), decoded.spec.schema)
    rebuilt = api.build(described).data
    assert rebuilt == expected, field_diff(expected, rebuilt, case_id(case))


def test_checksum_sums_to_zero(case):
    data = (case / "expected.aml").read_bytes()
    assert sum(data) % 256 == 0
    assert int.from_bytes(data[4:8], "little") == len(data)


def test_input_has_schema_modeline(case):
    """The first line points editors at the table's schema (relative to the
    case, as `decode -f yaml -o` writes it, or absolute)."""
    first = (case / "input.yaml").read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    target = first[len(prefix):]
    assert Path(target).name == f"{case.parent.name}.schema.json"
    assert (case / target).resolve().is_file()


# --- the regeneration switch --------------------------------------------------

@pytest.mark.skipif(not CASES, reason="no golden case yet")
def test_update_rewrites_expected_files(tmp_path):
    source = CASES[0]
    case = tmp_path / source.parent.name / source.name
    case.mkdir(parents=True)
    (case / "input.yaml").write_text((source / "input.yaml").read_text())
    (case / "expected.aml").write_bytes(b"stale")
    assert update(case) == ["expected.aml", "expected.txt"]
    assert (case / "expected.aml").read_bytes() == (source / "expected.aml").read_bytes()
    assert (case / "expected.txt").read_text() == (source / "expected.txt").read_text()
    assert update(case) == []
    assert expected_for(case)[0] == (source / "expected.aml").read_bytes()


@pytest.mark.parametrize("how", [["--update-goldens"], []])
def test_update_refused_under_ci(how, repo_root):
    env = dict(os.environ, CI="true")
    env.pop("ACPITABLES_UPDATE_GOLDENS", None)
    if not how:
        env["ACPITABLES_UPDATE_GOLDENS"] = "1"
    before = {p: p.read_bytes() for p in GOLDEN_ROOT.rglob("expected.*")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *how, "tests/test_golden.py", "-k", "build_matches"],
                            cwd=repo_root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "refused: CI is set" in result.stderr
    assert {p: p.read_bytes() for p in GOLDEN_ROOT.rglob("expected.*")} == before


def test_expected_txt_is_what_the_cli_prints(case):
    from typer.testing import CliRunner

    from acpitables.cli import app

    result = CliRunner().invoke(app, ["decode", str(case / "expected.aml"), "-f", "text"])
    assert result.exit_code == 0
    assert result.stdout == (case / "expected.txt").read_text()


def test_inputs_are_plain_yaml(case):
    # The description is ordinary YAML any tool can read, not just ours.
    assert yaml.safe_load((case / "input.yaml").read_text())["table"] == case.parent.name.upper()
