"""Every table in ../shared/corpus that the registry knows decodes, and
decode -> describe -> YAML -> build gives back its bytes (only the checksum
may change, and then to a correct one). Files join by their signature, so
a newly registered table's corpus is covered without changes here."""
from __future__ import annotations

from pathlib import Path

import pytest

from acpitables import api
from acpitables.formats import render
from acpitables.errors import TableError
from acpitables.engine.registry import TABLES
from conftest import CORPUS
from goldens import field_diff


def corpus_tables() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                head = fh.read(4)
            if head.decode("latin-1") in TABLES:
                out.append(path)
    return out


FILES = corpus_tables()
GOOD = [p for p in FILES if "broken" not in p.relative_to(CORPUS).parts]
BROKEN = [p for p in FILES if "broken" in p.relative_to(CORPUS).parts]


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(CORPUS)) for p in paths]


def roundtrip(data: bytes) -> tuple[bytes, api.Decoded]:
    decoded = api.decode(data)
    text = render.as_yaml(api.describe(decoded), decoded.spec.schema)
    return api.build(text, "<described>").data, decoded


def test_corpus_has_viots(corpus_dir):
    viots = [p for p in FILES if p.read_bytes()[:4] == b"VIOT"]
    assert len(viots) >= 5, ids(viots)  # 3 QEMU (current + history) and 2 fwts


@pytest.mark.parametrize("path", GOOD, ids=ids(GOOD))
def test_decode_describe_build_reproduces(path):
    original = path.read_bytes()
    rebuilt, decoded = roundtrip(original)
    table = original[:decoded.size]
    assert len(rebuilt) == len(table)
    assert rebuilt[:9] + rebuilt[10:] == table[:9] + table[10:], field_diff(table, rebuilt,
                                                                            path.name)
    assert sum(rebuilt) % 256 == 0
    checksum_warnings = [w for w in decoded.warnings if "checksum" in w.message]
    if sum(table) % 256:
        assert checksum_warnings, "a wrong checksum must be reported"
        assert checksum_warnings[0].offset == 9
        assert f"should be 0x{rebuilt[9]:02X}" in checksum_warnings[0].message
    else:
        assert not checksum_warnings
        assert rebuilt == table


@pytest.mark.parametrize("path", GOOD, ids=ids(GOOD))
def test_flipped_checksum_is_reported_and_corrected(path):
    original = bytearray(path.read_bytes())
    size = api.decode(bytes(original)).size
    correct = (-(sum(original[:size]) - original[9])) & 0xFF
    original[9] = (correct + 0x5A) & 0xFF
    rebuilt, decoded = roundtrip(bytes(original))
    [warning] = [w for w in decoded.warnings if w.code == "TABLE-CHECKSUM"]
    assert warning.message == (f"checksum 0x{original[9]:02X} is wrong, should be "
                               f"0x{correct:02X}")
    assert rebuilt[9] == correct
    assert rebuilt[:9] + rebuilt[10:] == bytes(original[:9] + original[10:size])


@pytest.mark.parametrize("path", BROKEN, ids=ids(BROKEN))
def test_broken_tables_fail_typed_or_warn(path):
    try:
        decoded = api.decode(path.read_bytes())
    except TableError as exc:
        assert exc.diagnostic.message
        return
    assert decoded.warnings


def test_fwts_broken_viot_findings(corpus_dir):
    """fwts' deliberately broken VIOT (viot-0002): the findings we must make,
    checked against the bytes by hand (spec 2.2-2.4)."""
    path = corpus_dir / "fwts" / "viot-0001__acpidump-0002__VIOT.bin"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    found = {(w.offset, w.message) for w in api.decode(path.read_bytes()).warnings}
    assert (9, "checksum 0x52 is wrong, should be 0xB0") in found
    assert (0x80, "unknown node type 0; kept as raw bytes") in found
    assert (0x90, "unknown node type 6; kept as raw bytes") in found
    assert (0xA0, "node length 32 runs past the table end (0xB0); 16 bytes are missing") in found
    assert (40, "reserved bytes are not zero (ffffffffffffffff)") in found
