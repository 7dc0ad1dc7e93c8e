"""Hostile RIMTs: every one ends in a typed error or decodes with warnings,
in bounded time and memory, and whatever decodes builds back losslessly;
the mapper answers for it without raising."""
from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest

from acpitables import api
from acpitables.errors import TableError
from acpitables.mapping import for_table
import rimt_oracle as o

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = sorted(p.parent.name for p in (ROOT / "golden" / "rimt").glob("*/expected.aml"))
QEMU = o.qemu_virt_pci_iommu()          # IOMMU node at 0x30, root complex at 0x58
RC, MAP = 0x58, 0x6C                    # the root complex and its one mapping


def golden(name: str) -> bytes:
    return (ROOT / "golden" / "rimt" / name / "expected.aml").read_bytes()


def fix(data: bytes | bytearray, length: int | None = None) -> bytes:
    """Length (the buffer size unless given) and a right checksum."""
    out = bytearray(data)
    out[4:8] = struct.pack("<I", len(out) if length is None else length)
    out[9] = 0
    out[9] = -sum(out) & 0xFF
    return bytes(out)


def patched(data: bytes, at: int, fmt: str, *values) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, *values)
    return fix(out)


def lossless(data: bytes):
    """Decode; if that works, describe -> build gives the same bytes, and
    the mapper answers every RID without raising."""
    try:
        decoded = api.decode(data)
    except TableError as exc:
        assert exc.diagnostic.message
        return None
    rebuilt = api.build(api.describe(decoded)).data
    table = data[:decoded.size]
    assert rebuilt[:9] + rebuilt[10:] == table[:9] + table[10:]
    m = for_table(decoded.table)
    for seg in m.segments():
        m.segment_map(seg)
    return decoded


def codes(decoded) -> set[str]:
    return {w.code for w in decoded.warnings}


@pytest.mark.parametrize("case", GOLDENS)
def test_truncation_at_every_byte(case):
    data = golden(case)
    for cut in range(len(data)):
        with pytest.raises(TableError):      # Length says more than is there
            api.decode(data[:cut])
        if cut >= 48:                        # Length patched to the cut: the walk hits the end
            lossless(fix(data[:cut]))


@pytest.mark.parametrize("case", ["all-node-types", "platform-devices"])
@pytest.mark.parametrize("value", [0x00, 0xFF])
def test_every_byte_mutated_is_typed_or_lossless(case, value):
    data = golden(case)
    for pos in range(36, len(data)):
        mutated = bytearray(data)
        mutated[pos] = value
        lossless(fix(mutated))


def test_node_length_zero_stops_at_once():
    start = time.monotonic()
    with pytest.raises(TableError, match="node length 0 is shorter than its 8-byte header"):
        api.decode(patched(QEMU, 0x32, "<H", 0))
    assert time.monotonic() - start < 1


def test_node_count_ffffffff_is_bounded():
    start = time.monotonic()
    with pytest.raises(TableError, match="node 2 of 4294967295"):
        api.decode(patched(QEMU, 36, "<I", 0xFFFFFFFF))
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("offset", [0x0, 0x8, 0x80, 0xFFFFFFF0])
def test_node_offset_into_the_header_or_past_the_table_is_typed(offset):
    with pytest.raises(TableError):
        api.decode(patched(QEMU, 40, "<I", offset))


@pytest.mark.parametrize("count, offset", [(0xFFFF, 0x14), (2, 0x14), (1, 0x20), (1, 0xFFF0)])
def test_mapping_array_past_the_node_is_kept_raw(count, offset):
    data = patched(QEMU, RC + 16, "<HH", offset, count)
    start = time.monotonic()
    decoded = lossless(data)
    assert time.monotonic() - start < 1
    assert decoded.table.nodes[1].raw
    assert any("run past the node end" in w.message for w in decoded.warnings)


@pytest.mark.parametrize("count, offset", [(0xFFFF, 0x28), (1, 0x28), (1, 0xFFFF)])
def test_wire_array_past_the_node_is_kept_raw(count, offset):
    data = patched(QEMU, 0x30 + 36, "<HH", count, offset)
    decoded = lossless(data)
    assert decoded.table.nodes[0].raw


def test_platform_name_without_nul_is_kept_raw():
    data = bytearray(golden("platform-devices"))
    pd = 0x58
    struct.pack_into("<HH", data, pd + 8, 0, 0)              # no mappings
    data[pd + 12:] = b"A" * (len(data) - pd - 12)            # the name fills the node
    decoded = lossless(fix(data))
    assert decoded.table.nodes[1].raw
    assert any("NUL" in w.message for w in decoded.warnings)


@pytest.mark.parametrize("target, what", [
    (0x34, "no node start"),                 # the middle of the IOMMU node
    (RC, "its own node"),                    # the root complex itself
    (0x0, "no node start"),                  # NULL
    (0xFFFFFF00, "no node start"),           # past the table
])
def test_bad_destinations_warn_and_the_mapper_does_not_translate(target, what):
    data = patched(QEMU, MAP + 12, "<I", target)
    decoded = lossless(data)
    assert any(what in w.message for w in decoded.warnings), decoded.warnings
    assert not hasattr(for_table(decoded.table).lookup(0x10), "output_id")


def test_root_complex_to_itself_is_a_loop_not_a_hang():
    data = patched(QEMU, MAP + 12, "<I", RC)
    start = time.monotonic()
    r = for_table(api.decode(data).table).lookup(0x10)
    assert time.monotonic() - start < 1
    assert (r.kind, r.reason) == ("error", "loop")


def test_huge_num_ids_and_wrap_are_bounded():
    data = patched(QEMU, MAP, "<II", 0xFFFFFFF0, 0xFFFFFFFF)
    decoded = lossless(data)
    assert "RIMT-MAP-WRAP" in codes(decoded)


def test_unknown_node_type_is_kept_raw_and_lossless():
    unknown = bytes.fromhex("07 01 0c 00 00 00 02 00 aa bb cc dd")
    data = o.sdt(struct.pack("<III", 3, 48, 0) + QEMU[48:] + unknown)
    decoded = lossless(data)
    assert decoded.table.nodes[2].raw
    assert "TABLE-NODE-UNKNOWN" in codes(decoded)


def test_nonzero_reserved_bytes_round_trip_with_warnings():
    data = bytearray(QEMU)
    data[44] = 1                              # table reserved
    data[0x34] = 2                            # node header reserved
    data[RC + 12] = 3                         # root complex reserved
    struct.pack_into("<I", data, 0x48, 0xF0 | 1)    # IOMMU flags: reserved bits
    decoded = lossless(fix(data))
    assert len(decoded.warnings) >= 4


def test_many_nodes_stay_linear():
    """5,000 IOMMU nodes and a root complex with 3,000 mappings."""
    nodes = [o.iommu(i, b"RSCV0004", base=0x1000 * (i + 1)) for i in range(5000)]
    offsets = [48 + 40 * i for i in range(5000)]
    maps = [o.mapping(i * 16, 16, i * 16, offsets[i]) for i in range(3000)]
    data = o.table(nodes + [o.root_complex(5000, 0, maps)], offsets + [48 + 40 * 5000])
    start = time.monotonic()
    decoded = api.decode(data)
    assert api.build(api.describe(decoded)).data == data
    m = for_table(decoded.table)
    assert m.lookup(0x10).output_id == 0x10
    assert time.monotonic() - start < 30


def test_garbage_never_escapes_untyped():
    rng = random.Random(4321)
    for _ in range(300):
        blob = bytearray(rng.randbytes(rng.randrange(48, 300)))
        blob[0:4] = b"RIMT"
        struct.pack_into("<II", blob, 36, rng.randrange(0, 12), 48)
        lossless(fix(blob))        # a TableError is fine; anything else fails the test
