"""Hostile IORTs: every one ends in a typed error or decodes with warnings,
in bounded time and memory, and whatever decodes builds back losslessly."""
from __future__ import annotations

import struct
import time

import pytest

from acpitables import api
from acpitables.errors import TableError
from acpitables.engine.table import checksum_of
from test_iort import SPEC_VECTOR

SMALL_CORPUS = ["qemu/aarch64-virt__IORT.smmuv3-dev", "fwts/iort-0001__acpidump-0001__IORT.bin",
                "hw/arm-morello-fvp__IORT.bin"]


def fix(data: bytes | bytearray, length: int | None = None) -> bytes:
    """Set Length (to the buffer size unless given) and a right checksum."""
    out = bytearray(data)
    out[4:8] = struct.pack("<I", len(out) if length is None else length)
    out[9] = checksum_of(bytes(out))
    return bytes(out)


def lossless(data: bytes) -> None:
    """Decode; if that works, describe -> build must give the same bytes."""
    try:
        decoded = api.decode(data)
    except TableError as exc:
        assert exc.diagnostic.message
        return
    rebuilt = api.build(api.describe(decoded)).data
    table = data[:decoded.size]
    assert rebuilt[:9] + rebuilt[10:] == table[:9] + table[10:]


def corpus_file(corpus_dir, rel):
    path = corpus_dir / rel
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path.read_bytes()


@pytest.mark.parametrize("rel", SMALL_CORPUS)
def test_truncation_at_every_byte(corpus_dir, rel):
    data = corpus_file(corpus_dir, rel)
    for cut in range(len(data)):
        with pytest.raises(TableError):  # Length says more than is there
            api.decode(data[:cut])
        if cut >= 48:  # and with Length patched to the cut: the walk hits the end
            lossless(fix(data[:cut]))


@pytest.mark.parametrize("rel", SMALL_CORPUS[:2])
def test_every_byte_set_to_ff_is_typed_or_lossless(corpus_dir, rel):
    data = corpus_file(corpus_dir, rel)
    for pos in range(48, len(data)):
        mutated = bytearray(data)
        mutated[pos] = 0xFF
        lossless(fix(mutated))


def test_node_length_zero_stops_at_once():
    data = bytearray(SPEC_VECTOR)
    data[0x31:0x33] = b"\0\0"
    start = time.monotonic()
    with pytest.raises(TableError, match="node length 0 is shorter than its 16-byte header"):
        api.decode(fix(data))
    assert time.monotonic() - start < 1


def test_node_count_ffffffff_is_bounded():
    data = bytearray(SPEC_VECTOR)
    data[36:40] = struct.pack("<I", 0xFFFFFFFF)
    start = time.monotonic()
    with pytest.raises(TableError, match="node 3 of 4294967295"):
        api.decode(fix(data))
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("count, offset", [(0xFFFFFFFF, 0x44), (2, 0x44), (1, 0x50),
                                           (1, 0xFFFFFFF0)])
def test_mapping_array_past_the_node_is_kept_raw(count, offset):
    data = bytearray(SPEC_VECTOR)
    data[0x50:0x58] = struct.pack("<II", count, offset)  # SMMUv3 mapping count/offset
    start = time.monotonic()
    decoded = api.decode(fix(data))
    assert time.monotonic() - start < 1
    assert decoded.table.nodes[1].raw
    assert any("run past the node end" in w.message and w.offset >= 0x48
               for w in decoded.warnings)
    lossless(fix(data))


def test_its_count_huge_is_bounded():
    data = bytearray(SPEC_VECTOR)
    data[0x40:0x44] = struct.pack("<I", 0xFFFFFFFF)
    decoded = api.decode(fix(data))
    assert decoded.table.nodes[0].raw
    lossless(fix(data))


@pytest.mark.parametrize("target, message", [
    (0x34, "points at no node start"),      # the middle of the ITS node
    (0x48, "points at its own node"),       # the SMMUv3 itself
    (0x0, "points at no node start"),       # NULL parent reference
    (0xFFFFFF00, "points at no node start"),  # past the table
])
def test_bad_references_warn(target, message):
    data = bytearray(SPEC_VECTOR)
    data[0x98:0x9C] = struct.pack("<I", target)
    decoded = api.decode(fix(data))
    assert any(message in w.message for w in decoded.warnings), decoded.warnings
    lossless(fix(data))


def test_reference_cycle_warns():
    data = bytearray(SPEC_VECTOR)
    data[0x98:0x9C] = struct.pack("<I", 0xA0)  # SMMUv3 -> RC -> SMMUv3
    decoded = api.decode(fix(data))
    assert any("ID mappings form a cycle" in w.message for w in decoded.warnings)
    lossless(fix(data))


def test_mapping_offset_into_the_header_is_lossless_with_an_error_finding():
    data = bytearray(SPEC_VECTOR)
    data[0xAC:0xB0] = struct.pack("<I", 4)  # RC mappings overlap its own header
    decoded = api.decode(fix(data))
    assert any("overlaps fixed part" in w.message for w in decoded.warnings)
    lossless(fix(data))


def test_many_nodes_stay_linear():
    """10,000 tiny ITS nodes: decode and rebuild in well under a few seconds."""
    node = bytes.fromhex("00 18 00 00 00000000 00000000 00000000 01000000 00000000")
    body = node * 10000
    head = bytearray(SPEC_VECTOR[:48])
    head[8] = 0
    head[36:40] = struct.pack("<I", 10000)
    data = fix(bytes(head) + body)
    start = time.monotonic()
    decoded = api.decode(data)
    assert len(decoded.table.nodes) == 10000
    assert api.build(api.describe(decoded)).data == data
    assert time.monotonic() - start < 30


def test_garbage_never_escapes_untyped():
    import random
    rng = random.Random(1234)
    for _ in range(300):
        size = rng.randrange(48, 300)
        blob = bytearray(rng.randbytes(size))
        blob[0:4] = b"IORT"
        blob[36:40] = struct.pack("<I", rng.randrange(0, 12))
        blob[40:44] = struct.pack("<I", 48)
        lossless(fix(blob))  # a TableError is fine; anything else fails the test
