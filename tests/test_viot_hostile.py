"""Malformed VIOTs: every one ends in a typed error (TableError) or in
warnings, never another exception, a hang or a giant allocation. The
whole decode -> text/JSON -> describe -> build chain is exercised."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acpitables import api
from acpitables.formats import render
from acpitables.errors import AcpiTablesError, DescriptionError, InputError, TableError
from acpitables.engine.table import checksum_of
from conftest import CORPUS

ROOT = Path(__file__).resolve().parents[1]
ALL_TYPES = (ROOT / "golden" / "viot" / "all-node-types" / "expected.aml").read_bytes()
# Layout of ALL_TYPES (spec 2.4): PCI range @0x30, MMIO endpoint @0x48,
# virtio-pci IOMMU @0x60, virtio-mmio IOMMU @0x70; Length 0x80.


def corpus_viots() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"VIOT")


VIOTS = corpus_viots()


def fixed(data: bytes | bytearray) -> bytes:
    out = bytearray(data)
    out[9] = checksum_of(bytes(out))
    return bytes(out)


def patched(offset: int, value: int, size: int = 2, base: bytes = ALL_TYPES) -> bytes:
    out = bytearray(base)
    out[offset:offset + size] = value.to_bytes(size, "little")
    return fixed(out)


def exercise(data: bytes) -> api.Decoded | None:
    """Decode and use the result every way the CLI does; return None when the
    table is refused with a TableError. Any other exception fails the test."""
    try:
        decoded = api.decode(data)
    except TableError as exc:
        assert exc.diagnostic.severity == "error" and exc.diagnostic.message
        return None
    except InputError as exc:  # a mutated signature: not a table we know
        assert data[:4] != b"VIOT" and str(exc)
        return None
    render.text(decoded)
    json.loads(render.as_json(decoded))
    text = render.as_yaml(api.describe(decoded), decoded.spec.schema)
    try:
        rebuilt = api.build(text).data
    except DescriptionError:
        return decoded  # a located refusal is fine for hostile bytes
    size = decoded.size
    assert rebuilt[:9] + rebuilt[10:] == data[:9] + data[10:size]
    return decoded


def messages(decoded: api.Decoded) -> list[str]:
    return [w.message for w in decoded.warnings]


def error_of(data: bytes) -> TableError:
    with pytest.raises(TableError) as info:
        api.decode(data)
    return info.value


# --- truncation at every byte -------------------------------------------------

@pytest.mark.parametrize("path", VIOTS, ids=[p.name for p in VIOTS])
def test_truncation_at_every_byte(path):
    data = path.read_bytes()
    for n in range(len(data)):
        err = error_of(data[:n])  # Length still says more than there is
        assert err.diagnostic.message
        # Same prefix, with Length saying the truth: a shorter, walkable or not, table.
        if n >= 8:
            cut = bytearray(data[:n])
            cut[4:8] = n.to_bytes(4, "little")
            exercise(fixed(cut) if n > 9 else bytes(cut))


def test_truncation_messages():
    assert str(error_of(ALL_TYPES[:3])) == "offset 0x0: 3 bytes is too short for a table header"
    assert str(error_of(ALL_TYPES[:20])) == ("offset 0x0: table header [0x0, 0x24) runs past "
                                             "the table end (0x14)")
    assert str(error_of(ALL_TYPES[:100])) == ("offset 0x4, length: Length 128 but only 100 bytes "
                                              "present (truncated)")


# --- checksums ----------------------------------------------------------------

@pytest.mark.parametrize("delta", [1, 0x80, 0xFF])
def test_flipped_checksum_is_a_warning(delta):
    data = bytearray(ALL_TYPES)
    data[9] = (data[9] + delta) & 0xFF
    decoded = exercise(bytes(data))
    assert f"checksum 0x{data[9]:02X} is wrong, should be 0x{ALL_TYPES[9]:02X}" in messages(decoded)


# --- node lengths, counts and offsets -------------------------------------------

def test_node_length_zero():
    err = error_of(patched(0x32, 0))
    assert err.offset == 0x30 and err.diagnostic.field == "length"
    assert "node length 0 is shorter than its 4-byte header; Linux stops parsing here" in str(err)


def test_node_length_ffff():
    # Node 0 claims 0xFFFF bytes: it runs past the table (a warning, kept),
    # and the walk to node 1 then leaves the table (the error).
    err = error_of(patched(0x32, 0xFFFF))
    assert "node 1 of 4: node header [0x1002F, 0x10033) runs past the table end (0x80)" in str(err)


def test_last_node_length_ffff_is_a_warning():
    decoded = exercise(patched(0x72, 0xFFFF))  # node at 0x70: 16 of 65535 bytes present
    assert "node length 65535 runs past the table end (0x80); 65519 bytes are missing" in \
        messages(decoded)


def test_node_count_ffff():
    err = error_of(patched(36, 0xFFFF))
    assert "node 4 of 65535: node header [0x80, 0x84) runs past the table end (0x80)" in str(err)


def test_node_count_zero_keeps_the_bytes():
    decoded = exercise(patched(36, 0))
    assert decoded.table.nodes == []
    assert "80 bytes after the last node are not part of any node" in messages(decoded)


def test_node_offset_past_the_end():
    err = error_of(patched(38, 0x200))
    assert err.diagnostic.field == "node_offset"
    assert "runs past the table end (0x80)" in str(err)


def test_node_offset_at_the_end():
    assert "node 0 of 4: node header [0x80, 0x84) runs past" in str(error_of(patched(38, 0x80)))


@pytest.mark.parametrize("offset", [0, 0x10, 0x2F])
def test_node_offset_into_the_header(offset):
    err = error_of(patched(38, offset))
    assert str(err) == (f"offset 0x24, node_offset: node offset 0x{offset:X} points into the "
                        "48-byte table header")


def test_node_too_short_for_its_type():
    # A PCI range of Length 16 (< 24): Linux stops ("Invalid PCI node size");
    # we keep it as raw bytes with a warning, and the walk then lands inside it.
    data = bytearray(ALL_TYPES)
    data[0x32:0x34] = (16).to_bytes(2, "little")
    data[36:38] = (1).to_bytes(2, "little")  # only that node
    decoded = exercise(fixed(data))
    assert any("PCI Range node cannot be decoded" in m for m in messages(decoded))


@pytest.mark.parametrize("target", [0x1000, 0xFFFF, 0x80])
def test_output_node_outside_the_table(target):
    decoded = exercise(patched(0x40, target))
    assert f"output_node 0x{target:X} points at no node start" in messages(decoded)


def test_output_node_at_a_pci_range_node():
    decoded = exercise(patched(0x40, 0x30))  # the range points at itself
    assert "output_node 0x30 points at a PCI Range node" in messages(decoded)


def test_output_node_at_an_mmio_endpoint():
    decoded = exercise(patched(0x58, 0x48))
    assert "output_node 0x48 points at a MMIO Endpoint node" in messages(decoded)


@pytest.mark.parametrize("target", [0x00, 0x24, 0x64, 0x74])
def test_output_node_into_the_header_or_a_node_middle(target):
    decoded = exercise(patched(0x40, target))
    assert f"output_node 0x{target:X} points at no node start" in messages(decoded)


def test_unknown_node_type_is_kept():
    decoded = exercise(patched(0x30, 7, 1))
    assert "unknown node type 7; kept as raw bytes" in messages(decoded)


def test_table_length_huge_or_tiny():
    assert "Length 4294967295 but only 128 bytes present" in str(error_of(patched(4, 2**32 - 1, 4)))
    assert "Length 40 is shorter than the 48-byte VIOT header" in str(error_of(patched(4, 40, 4)))


def test_trailing_bytes_after_length():
    decoded = exercise(ALL_TYPES + b"\xAA" * 8)
    assert "8 bytes after the table's Length (128) are ignored" in messages(decoded)


def test_not_a_viot():
    with pytest.raises(AcpiTablesError):
        api.decode(b"XXXX" + ALL_TYPES[4:])


# --- random mutations -------------------------------------------------------------

SEEDS = [ALL_TYPES] + [p.read_bytes() for p in VIOTS]


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 255)),
                                        min_size=1, max_size=6), st.booleans())
def test_random_mutations(seed, edits, fix_checksum):
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    exercise(fixed(data) if fix_checksum else bytes(data))


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(st.binary(min_size=0, max_size=200))
def test_random_bytes_after_a_viot_signature(tail):
    exercise(b"VIOT" + tail)


def test_node_offset_alignment_is_per_table():
    """spec 2.5 / 4.2: VIOT node offsets are warned when not 8-aligned (every
    VIOT fixed size is a multiple of 8); 0x34 is 4- but not 8-aligned."""
    from acpitables import build, decode
    text = ("table: VIOT\nnode_offset: 0x34\npadding: '00000000'\n"
            "iommus: [{name: v, pci: '00:01.0'}]\nendpoints: [{bus: 1, iommu: v}]\n")
    warnings = [str(w) for w in decode(build(text).data).warnings]
    assert "offset 0x24, node_offset: warning[TABLE-NODE-ALIGN]: node offset 0x34 is not 8-byte aligned" in warnings


# --- issue 9: every VIOT decode accepts builds back, and build writes only
# what decode reads. Tables assembled here byte by byte (spec 2.4 layouts).

def viot(*nodes: bytes) -> bytes:
    body = b"".join(nodes)
    head = b"VIOT" + (48 + len(body)).to_bytes(4, "little") + bytes([0, 0]) + b"BOCHS " \
        + b"BXPC    " + bytes(4) + b"BXPC" + bytes(4)
    return fixed(head + len(nodes).to_bytes(2, "little") + (48).to_bytes(2, "little")
                 + bytes(8) + body)


def pci_range(first: int, last: int, output: int, endpoint: int = 0) -> bytes:
    return bytes([1, 0]) + (24).to_bytes(2, "little") + endpoint.to_bytes(4, "little") \
        + bytes(4) + first.to_bytes(2, "little") + last.to_bytes(2, "little") \
        + output.to_bytes(2, "little") + bytes(6)


def round_trip(blob: bytes) -> None:
    desc = api.describe(api.decode(blob))
    assert api.build(render.as_yaml(desc, "viot.schema.json")).data == blob


def test_inverted_bdf_range_is_described_lenient_and_builds_back():
    iommu = bytes([3, 0]) + (16).to_bytes(2, "little") + bytes(2) + (0x10).to_bytes(2, "little") \
        + bytes(8)
    blob = viot(iommu, pci_range(0x200, 0x100, 48))
    decoded = api.decode(blob)
    assert [f.code for f in decoded.warnings if f.severity == "error"] == ["VIOT-RANGE-INVERTED"]
    assert api.describe(decoded)["lenient"] is True
    round_trip(blob)


def test_range_whose_iommu_node_is_kept_raw_round_trips():
    """A virtio-pci IOMMU node too short to decode is kept raw; the range
    pointing at it still decodes (no KeyError), and its YAML names the raw
    node and builds back."""
    short_iommu = bytes([3, 0]) + (8).to_bytes(2, "little") + bytes(4)
    blob = viot(short_iommu, pci_range(0, 0xFF, 48))
    decoded = api.decode(blob)
    assert decoded.table.nodes[0].raw
    desc = api.describe(decoded)
    assert desc["endpoints"][0]["iommu"] == desc["other_nodes"][0]["name"]
    round_trip(blob)


def test_build_refuses_a_length_its_decoder_would_refuse():
    text = ("table: VIOT\niommus:\n  - {name: v, pci: '00:01.0'}\nendpoints:\n"
            "  - {bus: 0, iommu: v, length: 2}\n")
    with pytest.raises(DescriptionError) as exc:
        api.build(text, "v.yaml")
    assert str(exc.value).startswith("v.yaml:5:32: endpoints[0].length: the table built would "
                                     "not decode (node 1 of 2: node length 2 is shorter than")
