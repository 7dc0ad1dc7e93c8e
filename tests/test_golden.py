"""Golden files: every golden/<table>/<case>/ (input.yaml, expected.aml,
expected.txt). New tables' cases join without changes here. Regenerate on
purpose with `pytest --update-goldens` (see docs/golden.md)."""
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


def test_there_are_golden_cases():
    names = {case_id(c) for c in CASES}
    assert {"viot/q35-pxb", "viot/arm-virt", "viot/all-node-types",
            "viot/two-iommus-mmio"} <= names


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
    first = (case / "input.yaml").read_text().splitlines()[0]
    table = case.parent.name
    assert first == f"# yaml-language-server: $schema=../../../schemas/{table}.schema.json"
    assert (case / first.split("=", 1)[1]).resolve().is_file()


# --- independent evidence: third-party producers' bytes ----------------------

SAME_AS_CORPUS = {
    "q35-pxb": "qemu/x86-q35__VIOT.viot",
    "arm-virt": "qemu/aarch64-virt__VIOT",
    "all-node-types": "fwts/viot-0001__acpidump-0001__VIOT.bin",
}


@pytest.mark.parametrize("name", sorted(SAME_AS_CORPUS))
def test_viot_golden_equals_producer_output(name, corpus_dir):
    """Three goldens describe tables that QEMU and ACPICA's template built:
    our expected.aml must be those very bytes."""
    corpus = corpus_dir / SAME_AS_CORPUS[name]
    expected = (GOLDEN_ROOT / "viot" / name / "expected.aml").read_bytes()
    original = corpus.read_bytes()
    assert expected == original, field_diff(original, expected, name)


def test_two_iommus_endpoint_ids():
    """Hand-checked against spec 2.4 (segment arithmetic) rather than the code."""
    data = (GOLDEN_ROOT / "viot" / "two-iommus-mmio" / "expected.aml").read_bytes()
    # ep1 at 0x68: EndpointStart 0x10000, segments 1..2, BDF 0..0xFFFF, output 0x30.
    assert data[0x68:0x80] == bytes.fromhex("01001800" "00000100" "0100" "0200" "0000" "ffff"
                                             "3000" "000000000000")
    # ep4 at 0xB0: segment 3, 00:00.0 + 256 IDs, endpoint 0x100, to the MMIO IOMMU at 0x40.
    assert data[0xB0:0xC8] == bytes.fromhex("01001800" "00010000" "0300" "0300" "0000" "ff00"
                                             "4000" "000000000000")
    assert data[0x40:0x50] == bytes.fromhex("04001000" "00000000" "0000000a00000000")


# --- the field-level diff on mismatch ----------------------------------------

def test_mismatch_message_is_a_field_diff():
    good = (GOLDEN_ROOT / "viot" / "q35-pxb" / "expected.aml").read_bytes()
    bad = bytearray(good)
    bad[0x4E:0x50] = (0x1FFF).to_bytes(2, "little")  # ep0 PCI BDF end
    bad[9] = 0
    bad[9] = (-sum(bad)) & 0xFF
    message = field_diff(good, bytes(bad), "q35")
    assert "-[04Eh 0078 002h]                        PCI BDF end : 10FF" in message
    assert "+[04Eh 0078 002h]                        PCI BDF end : 1FFF" in message
    assert "bytes differ" not in message


def test_mismatch_message_for_undecodable_side():
    good = (GOLDEN_ROOT / "viot" / "q35-pxb" / "expected.aml").read_bytes()
    message = field_diff(good, good[:40], "q35")
    assert "+/* cannot decode:" in message
    assert "+    0020: 01 00 00 00 03 00 30 00" in message


# --- the regeneration switch --------------------------------------------------

def test_update_rewrites_expected_files(tmp_path):
    source = GOLDEN_ROOT / "viot" / "arm-virt"
    case = tmp_path / "viot" / "arm-virt"
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


def test_expected_txt_is_what_the_cli_prints(repo_root):
    from typer.testing import CliRunner

    from acpitables.cli import app

    case = GOLDEN_ROOT / "viot" / "q35-pxb"
    result = CliRunner().invoke(app, ["decode", str(case / "expected.aml"), "-f", "text"])
    assert result.exit_code == 0
    assert result.stdout == (case / "expected.txt").read_text()


def test_inputs_are_plain_yaml(case):
    # The description is ordinary YAML any tool can read, not just ours.
    assert yaml.safe_load((case / "input.yaml").read_text())["table"] == case.parent.name.upper()
