"""This repository's own golden cases: which exist, which equal a third
party's bytes, hand-checked bytes, the mismatch message, and the schema
modeline pointing into schemas/. (tests/test_golden.py holds the checks
that apply to any project's golden cases.)"""
from __future__ import annotations


import pytest

from goldens import GOLDEN_ROOT, case_id, cases, field_diff

CASES = cases()


def test_there_are_golden_cases():
    names = {case_id(c) for c in CASES}
    assert {"viot/q35-pxb", "viot/arm-virt", "viot/all-node-types",
            "viot/two-iommus-mmio"} <= names


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


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_modeline_points_into_schemas(case):
    """Hand-written cases point at the repository's schemas/ (three levels
    up from golden/<table>/<case>/), not at an installed copy."""
    first = (case / "input.yaml").read_text().splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../../../schemas/{case.parent.name}.schema.json"
