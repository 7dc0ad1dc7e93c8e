"""The RIMT mapper against answers worked by hand from Linux's
drivers/acpi/riscv/rimt.c (docs/rimt.md sections 3 and 6): the inclusive
`rid > base + num_ids` test (one ID past the count), first match wins,
gaps bypass, the first root complex of a segment, multi-level walks,
NULL and dangling destinations, platform devices by path (one ID per
mapping, its destination base), and the IOMMU's own BDF.

Every table here is packed by the hand-written oracle (rimt_oracle.py),
not by our builder, so a builder mistake cannot hide a mapper mistake."""
from __future__ import annotations

import pytest

from acpitables import api
from acpitables.mapping import Bypass, MapError, Translated, for_table
from acpitables.mapping.rimt import RimtMapper
import rimt_oracle as o

IOMMU_AT = 48   # every table below starts with its IOMMU node


def mapper(data: bytes, **kw) -> RimtMapper:
    return RimtMapper(api.decode(data).table, **kw)


def pci_iommu_and_rc(maps, bdf=0x0008, segment=0, rc_flags=0) -> bytes:
    return o.table([o.iommu(0, b"1B360014", flags=o.PCIE, segment=segment, bdf=bdf),
                    o.root_complex(1, segment, maps, flags=rc_flags)], [48, 88])


def answer(result):
    """A result as the hand-worked tables write it."""
    if isinstance(result, Translated):
        return result.output_id
    if isinstance(result, MapError):
        return ("error", result.reason)
    return None                             # bypass: no IOMMU


# --- table Q: QEMU 10.1, riscv-iommu-pci at 00:01.0 --------------------------

Q = [(0x0000, None), (0x0007, None), (0x0008, None), (0x0009, 0x0009), (0x0010, 0x0010),
     (0xFFFF, 0xFFFF)]


@pytest.mark.parametrize("rid, want", Q)
def test_qemu_pci_layout(rid, want):
    m = for_table(api.decode(o.qemu_virt_pci_iommu()).table)
    assert answer(m.lookup(rid)) == want


def test_qemu_pci_layout_names_iommu_and_other_segments_bypass():
    m = mapper(o.qemu_virt_pci_iommu())
    r = m.lookup(0x10)
    assert isinstance(r, Translated) and r.chain[-1] == r.iommu
    other = m.lookup(0x10, segment=1)
    assert isinstance(other, Bypass) and other.reason.value == "no-description"


def test_qemu_pci_layout_spans():
    m = mapper(o.qemu_virt_pci_iommu())
    spans = [(s.start, s.end, answer(s.result)) for s in m.segment_map(0).spans]
    assert spans == [(0x0, 0x8, None), (0x9, 0xFFFF, 0x9)]


def test_qemu_platform_layout_takes_ffff_under_linux_only():
    data = o.qemu_virt_iommu_sys()
    assert answer(mapper(data).lookup(0xFFFF)) == 0xFFFF          # 0 + 0xFFFF accepted
    assert answer(mapper(data, reading="spec").lookup(0xFFFF)) is None
    assert answer(mapper(data).lookup(0x0)) == 0x0


# --- table B: two ranges with a gap ------------------------------------------

B = pci_iommu_and_rc([o.mapping(0x0000, 0x100, 0x1000, IOMMU_AT),
                      o.mapping(0x0200, 0x100, 0x2000, IOMMU_AT)], bdf=0xF000)


@pytest.mark.parametrize("rid, linux, spec", [
    (0x0000, 0x1000, 0x1000), (0x00FF, 0x10FF, 0x10FF),
    (0x0100, 0x1100, None),              # one past the count: Linux only
    (0x0101, None, None), (0x0150, None, None), (0x01FF, None, None),   # the gap
    (0x0200, 0x2000, 0x2000), (0x02FF, 0x20FF, 0x20FF),
    (0x0300, 0x2100, None), (0x0301, None, None), (0xFFFF, None, None)])
def test_two_ranges_and_a_gap(rid, linux, spec):
    assert answer(mapper(B).lookup(rid)) == linux
    assert answer(mapper(B, reading="spec").lookup(rid)) == spec


def test_two_ranges_spans_linux():
    spans = [(s.start, s.end, answer(s.result)) for s in mapper(B).segment_map(0).spans]
    assert spans == [(0x0, 0x100, 0x1000), (0x101, 0x1FF, None), (0x200, 0x300, 0x2000),
                     (0x301, 0xFFFF, None)]


def test_gap_is_a_no_match_bypass():
    r = mapper(B).lookup(0x150)
    assert isinstance(r, Bypass) and r.reason.value == "no-match"


# --- table C: adjacent ranges; D: a count of 0 -------------------------------

def test_adjacent_ranges_the_earlier_takes_the_first_id_of_the_next():
    c = pci_iommu_and_rc([o.mapping(0x00, 0x10, 0x100, IOMMU_AT),
                          o.mapping(0x10, 0x10, 0x200, IOMMU_AT)], bdf=0xF000)
    assert answer(mapper(c).lookup(0x10)) == 0x110
    assert answer(mapper(c, reading="spec").lookup(0x10)) == 0x200
    assert answer(mapper(c).lookup(0x11)) == 0x201
    assert answer(mapper(c).lookup(0x20)) == 0x210
    assert answer(mapper(c, reading="spec").lookup(0x20)) is None


def test_count_zero_covers_one_id_under_linux():
    d = pci_iommu_and_rc([o.mapping(0x40, 0, 0x500, IOMMU_AT)], bdf=0xF000)
    assert answer(mapper(d).lookup(0x40)) == 0x500
    assert answer(mapper(d).lookup(0x41)) is None
    assert answer(mapper(d).lookup(0x3F)) is None
    assert answer(mapper(d, reading="spec").lookup(0x40)) is None


def test_overlapping_ranges_first_match_wins():
    t = pci_iommu_and_rc([o.mapping(0x10, 0x10, 0x100, IOMMU_AT),
                          o.mapping(0x00, 0x100, 0x900, IOMMU_AT)], bdf=0xF000)
    assert answer(mapper(t).lookup(0x15)) == 0x105
    assert answer(mapper(t).lookup(0x05)) == 0x905
    assert answer(mapper(t).lookup(0x21)) == 0x921


# --- segments and root complexes ---------------------------------------------

def test_two_segments_golden():
    m = mapper(o.two_segments())
    assert answer(m.lookup(0x0009, segment=0)) == 0x0009
    assert answer(m.lookup(0x0009, segment=1)) == 0x10009
    assert answer(m.lookup(0x0100, segment=1)) == 0x10100     # one past 0x9 + 0xF7
    assert answer(m.lookup(0x0101, segment=1)) is None
    assert answer(m.lookup(0x1000, segment=1)) == 0x11000
    assert answer(m.lookup(0x2000, segment=1)) == 0x12000     # one past again
    assert answer(m.lookup(0x2001, segment=1)) is None
    assert m.lookup(0x9, segment=0).iommu != m.lookup(0x9, segment=1).iommu
    assert m.segments() == [0, 1]
    assert isinstance(m.lookup(0x9, segment=2), Bypass)


def test_only_the_first_root_complex_of_a_segment_is_consulted():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x1000),
                 o.root_complex(1, 0, [o.mapping(0x000, 0x10, 0x000, 48)]),
                 o.root_complex(2, 0, [o.mapping(0x100, 0x10, 0x100, 48)])], [48, 88, 128])
    m = mapper(t)
    assert answer(m.lookup(0x005)) == 0x005
    assert answer(m.lookup(0x105)) is None      # the second RC of segment 0 is never read


def test_root_complex_without_mappings_bypasses():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x1000), o.root_complex(1, 0, [])], [48, 88])
    r = mapper(t).lookup(0)
    assert isinstance(r, Bypass) and r.reason.value == "no-match"


def test_mapping_offset_zero_means_no_mappings():
    data = bytearray(o.qemu_virt_pci_iommu())
    data[88 + 16:88 + 18] = b"\0\0"          # IdMappingOffset 0, count still 1
    data[9] = 0
    data[9] = -sum(data) & 0xFF
    m = for_table(api.decode(bytes(data)).table)
    assert answer(m.lookup(0x10)) is None


# --- destinations ----------------------------------------------------------------

def test_first_mapping_with_null_destination_disables_the_node():
    t = pci_iommu_and_rc([o.mapping(0x0, 0x10, 0x0, 0), o.mapping(0x100, 0x10, 0x100, 48)],
                         bdf=0xF000)
    assert answer(mapper(t).lookup(0x105)) == ("error", "malformed")
    assert answer(mapper(t).lookup(0x5)) == ("error", "malformed")


def test_later_null_destination_is_dangling_for_its_ids_only():
    t = pci_iommu_and_rc([o.mapping(0x0, 0x10, 0x0, 48), o.mapping(0x100, 0x10, 0x100, 0)],
                         bdf=0xF000)
    assert answer(mapper(t).lookup(0x5)) == 0x5
    assert answer(mapper(t).lookup(0x105)) == ("error", "dangling-reference")
    assert answer(mapper(t).lookup(0x200)) is None


@pytest.mark.parametrize("dest", [52, 0x10000, 90])
def test_destination_that_is_no_node_is_dangling(dest):
    t = pci_iommu_and_rc([o.mapping(0x0, 0x10, 0x0, dest)], bdf=0xF000)
    assert answer(mapper(t).lookup(0x5)) == ("error", "dangling-reference")


def test_root_complex_to_platform_device_to_iommu_is_walked():
    # rc 48 (40 bytes) -> platform device 88 (ID + 0x40; 24 + 20 = 44 bytes)
    # -> IOMMU 132 (ID + 0x1000 - 0x40)
    t = o.table([o.root_complex(0, 0, [o.mapping(0x0, 0x100, 0x40, 88)]),
                 o.platform_device(1, b"\\_SB_.BRG0", [o.mapping(0x40, 0x100, 0x1000, 132)]),
                 o.iommu(2, b"RSCV0004", base=0x2000)], [48, 88, 132])
    r = mapper(t).lookup(0x5)
    assert isinstance(r, Translated) and r.output_id == 0x1005
    assert len(r.chain) == 3


def test_mapping_to_its_own_node_is_a_loop():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.root_complex(1, 0, [o.mapping(0x0, 0x100, 0x0, 88)])], [48, 88])
    assert answer(mapper(t).lookup(0x5)) == ("error", "loop")


# --- the IOMMU's own BDF ------------------------------------------------------------

def test_mapping_that_covers_the_iommu_itself_is_an_error():
    # IOMMU at 00:01.0 (RID 8) mapped to itself: Linux configures it against
    # itself and defers its probe for ever
    t = pci_iommu_and_rc([o.mapping(0x0, 0x100, 0x0, IOMMU_AT)], bdf=0x0008)
    assert answer(mapper(t).lookup(0x8)) == ("error", "self")
    assert answer(mapper(t).lookup(0x7)) == 0x7
    assert answer(mapper(t).lookup(0x9)) == 0x9


def test_one_past_the_count_reaches_the_iommu_itself():
    t = pci_iommu_and_rc([o.mapping(0x0, 0x8, 0x0, IOMMU_AT),
                          o.mapping(0x9, 0xFFF7, 0x9, IOMMU_AT)], bdf=0x0008)
    assert answer(mapper(t).lookup(0x8)) == ("error", "self")
    assert answer(mapper(t, reading="spec").lookup(0x8)) is None


def test_iommu_own_bdf_in_another_segment_is_an_ordinary_device():
    t = o.table([o.iommu(0, b"1B360014", flags=o.PCIE, segment=1, bdf=0x0008),
                 o.root_complex(1, 0, [o.mapping(0x0, 0x100, 0x0, 48)])], [48, 88])
    assert answer(mapper(t).lookup(0x8)) == 0x8


def test_platform_iommu_bdf_field_is_not_its_own_function():
    # a platform IOMMU (PCIe flag clear) has BDF 0 in the table; 00:00.0 is
    # still an ordinary device
    assert answer(mapper(o.qemu_virt_iommu_sys()).lookup(0x0)) == 0x0


# --- platform devices --------------------------------------------------------------

def test_platform_device_gets_one_id_per_mapping():
    r = mapper(o.platform_devices()).lookup_device("\\_SB_.DEV0")
    assert isinstance(r, Translated)
    assert (r.output_id, r.more_ids) == (0x20, (0x30,))


def test_platform_device_path_is_compared_byte_for_byte():
    m = mapper(o.platform_devices())
    r = m.lookup_device("\\_SB.DEV0")
    assert isinstance(r, Bypass) and r.reason.value == "no-description"
    assert isinstance(m.lookup_device("\\_SB_.DEV1"), Bypass)


@pytest.mark.parametrize("ident, linux, spec", [(0, 0x20, 0x20), (1, 0x21, 0x30), (2, 0x31, 0x31),
                                                (3, 0x32, None), (4, None, None)])
def test_platform_device_with_an_input_id(ident, linux, spec):
    # mapping 0 is {0, 1 ID -> 0x20}: under Linux it also takes source 1
    assert answer(mapper(o.platform_devices()).lookup_device("\\_SB_.DEV0", ident)) == linux
    assert answer(mapper(o.platform_devices(), reading="spec")
                  .lookup_device("\\_SB_.DEV0", ident)) == spec


def test_platform_device_stops_at_a_null_destination():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.platform_device(1, b"\\_SB_.DEV0", [o.mapping(0, 1, 0x20, 48),
                                                        o.mapping(1, 1, 0x21, 0),
                                                        o.mapping(2, 1, 0x22, 48)])], [48, 88])
    r = mapper(t).lookup_device("\\_SB_.DEV0")
    assert isinstance(r, Translated) and (r.output_id, r.more_ids) == (0x20, ())


def test_platform_device_whose_first_mapping_is_null_has_no_iommu():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.platform_device(1, b"\\_SB_.DEV0", [o.mapping(0, 1, 0x20, 0)])], [48, 88])
    assert effective(mapper(t).lookup_device("\\_SB_.DEV0"))


def test_platform_device_on_two_iommus_is_mixed():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000), o.iommu(1, b"RSCV0004", base=0x3000),
                 o.platform_device(2, b"\\_SB_.DEV0", [o.mapping(0, 1, 0x20, 48),
                                                        o.mapping(1, 1, 0x21, 88)])],
                [48, 88, 128])
    assert answer(mapper(t).lookup_device("\\_SB_.DEV0")) == ("error", "mixed-iommus")


def test_platform_input_id_wraps_32_bits_under_linux():
    # base 0xFFFFFFF0 + 0x20 IDs wraps to 0x10 in Linux's u32 sum: nothing matches
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.platform_device(1, b"\\_SB_.DEV0", [o.mapping(0xFFFFFFF0, 0x20, 0x0, 48)])],
                [48, 88])
    assert answer(mapper(t).lookup_device("\\_SB_.DEV0", 0xFFFFFFF5)) is None
    assert answer(mapper(t, reading="spec").lookup_device("\\_SB_.DEV0", 0xFFFFFFF5)) == 0x5


def test_all_node_types_golden():
    m = mapper(o.all_node_types())
    assert answer(m.lookup(0x000F)) == 0x000F
    assert answer(m.lookup(0x0010)) == 0x0010           # one past 0x10 IDs
    assert answer(m.lookup(0x0018)) is None             # the PCIe IOMMU itself, in no range
    assert answer(m.lookup(0x0150)) == 0x8150
    assert answer(m.lookup(0x00FF, segment=1)) == 0x200FF
    assert m.lookup(0x0, segment=0).iommu != m.lookup(0x0, segment=1).iommu
    uart = m.lookup_device("\\_SB_.UAR0")
    sdhc = m.lookup_device("\\_SB_.PCI0.SDC0")
    assert (uart.output_id, sdhc.output_id, sdhc.more_ids) == (0x40, 0x41, (0x42,))
    assert uart.iommu == sdhc.iommu == m.lookup(0x0, segment=1).iommu


def effective(result) -> bool:
    return not isinstance(result, Translated)


def test_reading_is_checked():
    with pytest.raises(ValueError):
        mapper(o.qemu_virt_pci_iommu(), reading="windows")
