"""Hostile DMARs and IVRSs (the bar of tests/test_iort_hostile.py): every
one ends in a typed error or decodes with coded findings, in bounded time,
whatever decodes builds back byte for byte, and the mapper answers every
RID without an exception."""
from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest

from acpitables import api
from acpitables.engine.table import checksum_of
from acpitables.errors import TableError
from acpitables.mapping.acpi import for_table
from test_dmar import ALL_KINDS as DMAR_ALL, QEMU_Q35, dmar, drhd, scope
from test_ivrs import ALL_KINDS as IVRS_ALL, QEMU_AMD, dev4, ivhd, ivrs

SAMPLES = {"dmar-all": DMAR_ALL, "dmar-qemu": QEMU_Q35, "ivrs-all": IVRS_ALL,
           "ivrs-qemu": QEMU_AMD}
LINUXHW = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "linuxhw"


def fix(data: bytes | bytearray, length: int | None = None) -> bytes:
    out = bytearray(data)
    out[4:8] = struct.pack("<I", len(out) if length is None else length)
    out[9] = checksum_of(bytes(out))
    return bytes(out)


def lossless(data: bytes, mapper: bool = True) -> api.Decoded | None:
    """Decode; if that works, every finding is coded, describe -> build
    gives the same bytes, and the mapper answers."""
    try:
        decoded = api.decode(data)
    except TableError as exc:
        assert exc.diagnostic.message
        return None
    assert all(w.code for w in decoded.warnings), decoded.warnings
    rebuilt = api.build(api.describe(decoded)).data
    table = data[:decoded.size]
    assert rebuilt[:9] + rebuilt[10:] == table[:9] + table[10:]
    if mapper:
        engine = for_table(decoded.table)
        for seg in engine.segments():
            engine.segment_map(seg)
    return decoded


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_truncation_at_every_byte(name):
    data = SAMPLES[name]
    for cut in range(len(data)):
        with pytest.raises(TableError):  # Length says more than is there
            api.decode(data[:cut])
        if cut >= 36:
            lossless(fix(data[:cut]), mapper=cut % 16 == 0)


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("value", [0x00, 0xFF, 0x80])
def test_every_byte_set_is_typed_or_lossless(name, value):
    data = SAMPLES[name]
    # The 11h block of ivrs-all repeats the 10h block's entries: skipped.
    nodes = api.decode(data).table.nodes
    skip = {range(n.offset + 40, n.offset + n.fields["length"]) for n in nodes
            if n.type == 0x11 and not n.raw}
    for i in range(36, len(data)):
        if any(i in r for r in skip):
            continue
        mutated = bytearray(data)
        mutated[i] = value
        lossless(fix(mutated), mapper=i % 16 == 0)


def test_random_mutations_of_corpus_tables():
    files = sorted(LINUXHW.glob("*.bin")) if LINUXHW.is_dir() else []
    if not files:
        pytest.skip("no corpus")
    rng = random.Random(13)
    for path in rng.sample(files, 24):
        data = path.read_bytes()
        for _ in range(20):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 6)):
                mutated[rng.randrange(36, len(data))] = rng.randrange(256)
            lossless(fix(mutated), mapper=rng.random() < 0.2)


def test_zero_length_structure_stops_the_walk_losslessly():
    """Linux: 'Invalid 0-length structure' and the walk stops; we keep the
    rest as trailing bytes, with a finding."""
    data = dmar(0x26, 0, [drhd(1, 0, 0x1000, []), struct.pack("<HH", 1, 0) + bytes(20)])
    decoded = lossless(data)
    assert decoded.table.trailing == struct.pack("<HH", 1, 0) + bytes(20)
    assert "DMAR-ZERO-LENGTH" in {w.code for w in decoded.warnings}


def test_zero_length_ivrs_subtable_is_an_error_finding():
    data = ivrs(0, [ivhd(0x40, 0, 2, 1, [dev4(2, 0)]), struct.pack("<BBH", 0x10, 0, 0)])
    decoded = lossless(data)
    assert "IVRS-ZERO-LENGTH" in {w.code for w in decoded.warnings}


def test_structure_past_the_end_is_typed_and_the_mapper_refuses():
    data = bytearray(dmar(0x26, 0, [drhd(1, 0, 0x1000, [scope(1, 0, [(2, 0)])])]))
    data[50:52] = struct.pack("<H", 0x400)  # DRHD Length far past the table
    decoded = lossless(fix(data))
    assert decoded is not None
    assert for_table(decoded.table).lookup(0x10).kind == "error"


def test_scope_length_zero_and_odd_lengths():
    for tail in (b"\x01\x00", b"\x01\x05\x00\x00\x00\x00", b"\x01\x07\x00\x00\x00\x00\x02\x00\x09",
                 b"\x01\xff\x00\x00\x00\x00"):
        body = struct.pack("<BBHQ", 0, 0, 0, 1) + tail
        lossless(dmar(0x26, 0, [struct.pack("<HH", 0, 4 + len(body)) + body]))


def test_hid_uid_length_past_the_block_and_huge_entry_types():
    for tail in (struct.pack("<BHB8s8sBB", 0xF0, 0, 0, b"AMDI0020", bytes(8), 2, 200),
                 b"\xf0\x00", b"\x90\x00\x00\x00", b"\xc0" + bytes(31), b"\x47\x00\x00\x00"):
        lossless(ivrs(0, [ivhd(0x40, 0, 2, 1, [dev4(2, 0)]) + b"", ]))
        block = ivhd(0x40, 0, 2, 1, [dev4(2, 0)])
        block = block[:2] + struct.pack("<H", len(block) + len(tail)) + block[4:] + tail
        lossless(ivrs(0, [block]))


def test_many_structures_stay_linear():
    few = dmar(0x26, 0, [drhd(0, 0, i + 1, [scope(1, 0, [(2, 0)])]) for i in range(100)])
    many = dmar(0x26, 0, [drhd(0, 0, i + 1, [scope(1, 0, [(2, 0)])]) for i in range(2000)])
    t0 = time.perf_counter()
    lossless(few)
    t1 = time.perf_counter()
    lossless(many)
    t2 = time.perf_counter()
    assert t2 - t1 < max(40 * (t1 - t0), 2.0)


def test_an_ivrs_of_many_segments_is_mapped_segment_by_segment():
    """2000 IVHD blocks in 2000 segments: the mapper keeps compact spans
    per segment, not a 64 Ki-entry table for each."""
    import tracemalloc

    blocks = [ivhd(0x40, 0, 2, 1, [dev4(2, 0x10)], segment=s) for s in range(2000)]
    decoded = api.decode(ivrs(0, blocks))
    engine = for_table(decoded.table)
    tracemalloc.start()
    for seg in engine.segments()[:200]:
        assert engine.lookup(0x10, seg).kind == "translated"
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20, peak
