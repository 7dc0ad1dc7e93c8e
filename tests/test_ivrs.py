"""IVRS: every subtable and device entry kind against a hand-written
struct.pack oracle (the AMD IOMMU layouts, written here from docs/ivrs.md
and sharing no code with acpitables), the description language, the real
tables of ../shared/corpus/linuxhw, and the mapper worked by hand from
Linux's amd/init.c (docs/ivrs.md section 2)."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from acpitables import api
from acpitables.errors import DescriptionError
from acpitables.formats import render
from acpitables.mapping.ivrs import IvrsMapper
from acpitables.mapping.pcitopo import TranslatedIf
from test_dmar import sdt

ROOT = Path(__file__).resolve().parents[1]
LINUXHW = ROOT.parent / "shared" / "corpus" / "linuxhw"


# --- the oracle ------------------------------------------------------------------

def dev4(code: int, devid: int, setting: int = 0) -> bytes:
    return struct.pack("<BHB", code, devid, setting)


def alias(code: int, devid: int, to: int, setting: int = 0) -> bytes:
    return struct.pack("<BHBBHB", code, devid, setting, 0, to, 0)


def ext(code: int, devid: int, data: int, setting: int = 0) -> bytes:
    return struct.pack("<BHBI", code, devid, setting, data)


def special(handle: int, used: int, variety: int, setting: int = 0) -> bytes:
    return struct.pack("<BHBBHB", 0x48, 0, setting, handle, used, variety)


def hid(devid: int, hid_: bytes, uid: bytes, fmt: int, cid: bytes = bytes(8),
        setting: int = 0) -> bytes:
    return struct.pack("<BHB8s8sBB", 0xF0, devid, setting, hid_, cid, fmt, len(uid)) + uid


def pad8() -> bytes:
    return struct.pack("<BHB4s", 0x40, 0, 0, bytes(4))


def ivhd10(flags: int, devid: int, base: int, entries: list[bytes], cap: int = 0x40,
           segment: int = 0, info: int = 0, feature: int = 0) -> bytes:
    body = b"".join(entries)
    return struct.pack("<BBHHHQHHI", 0x10, flags, 24 + len(body), devid, cap, base, segment,
                       info, feature) + body


def ivhd(code: int, flags: int, devid: int, base: int, entries: list[bytes], cap: int = 0x40,
         segment: int = 0, info: int = 0, attributes: int = 0, efr: int = 0,
         efr2: int = 0) -> bytes:
    body = b"".join(entries)
    return struct.pack("<BBHHHQHHIQQ", code, flags, 40 + len(body), devid, cap, base, segment,
                       info, attributes, efr, efr2) + body


def ivmd(code: int, flags: int, devid: int, aux: int, start: int, length: int) -> bytes:
    return struct.pack("<BBHHH8sQQ", code, flags, 32, devid, aux, bytes(8), start, length)


def ivrs(info: int, subtables: list[bytes], revision: int = 2, **kw) -> bytes:
    return sdt(b"IVRS", struct.pack("<I8s", info, bytes(8)) + b"".join(subtables), revision,
               **kw)


def bdf(text: str) -> int:
    bus, rest = text.split(":")
    dev, fn = rest.split(".")
    return int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn)


SELECT, START, END, ALIAS_SELECT, ALIAS_START = 2, 3, 4, 0x42, 0x43

# QEMU 7.2 build_amd_iommu as dumped from a guest (docs/ivrs.md section 3).
QEMU_AMD = ivrs(0x00002800, [ivhd10(0xD1, 0x0008, 0xFED80000, [
    dev4(SELECT, bdf("00:00.0")), dev4(SELECT, bdf("00:01.0")), dev4(SELECT, bdf("00:03.0")),
    dev4(SELECT, bdf("00:04.0")), dev4(START, bdf("01:00.0")), dev4(END, bdf("01:1f.7")),
    dev4(SELECT, bdf("00:05.0")), alias(ALIAS_START, bdf("02:00.0"), bdf("02:00.0")),
    dev4(END, bdf("02:1f.7")), dev4(SELECT, bdf("00:06.0")), dev4(SELECT, bdf("00:1f.0")),
    dev4(SELECT, bdf("00:1f.2")), dev4(SELECT, bdf("00:1f.3")),
    special(0, bdf("00:14.0"), 1),
], feature=0x44)], revision=1)

# Every subtable kind and entry kind: one IOMMU described by 10h, 11h and
# 40h blocks (40h with ACPI HID entries, one with a short integer UID),
# IVMDs of the three types, and the undefined type 51h of real Lenovo
# tables (kept raw).
_ENTRIES = [dev4(0, 0), dev4(SELECT, bdf("00:00.0"), 0x01), dev4(START, bdf("00:01.0")),
            dev4(END, bdf("00:1f.7")), alias(ALIAS_SELECT, bdf("03:00.0"), bdf("02:00.0")),
            alias(ALIAS_START, bdf("04:00.0"), bdf("00:14.4")), dev4(END, bdf("04:1f.7")),
            ext(0x46, bdf("05:00.0"), 0x80000000), ext(0x47, bdf("06:00.0"), 0),
            dev4(END, bdf("06:00.7")), special(0x21, bdf("00:14.0"), 1, 0xD7),
            special(0, bdf("00:14.0"), 2), pad8()]
ALL_KINDS = ivrs(0x00203043, [
    ivhd10(0xB0, 0x0002, 0xFD200000, _ENTRIES, feature=0x80048F6E),
    ivhd(0x11, 0xB0, 0x0002, 0xFD200000, _ENTRIES, attributes=0x40200,
         efr=0x246577EFA2254AFA),
    ivhd(0x40, 0xB0, 0x0002, 0xFD200000, _ENTRIES + [
        hid(bdf("00:14.5"), b"AMDI0020", rb"\_SB.FUR0", 2, setting=0x40),
        hid(bdf("00:13.0"), b"MSFT0201", b"\x01\x00", 1),
        hid(bdf("00:08.1"), b"PNP0D40\0", b"", 0),
        dev4(1, 0)], attributes=0x40200, efr=0x246577EFA2254AFA),
    ivmd(0x20, 0x08, 0, 0, 0xCCD42000, 0x26000),
    ivmd(0x21, 0x07, bdf("00:14.0"), 0, 0x9C000000, 0x1000),
    ivmd(0x22, 0x01, bdf("00:12.0"), bdf("00:12.7"), 0x9D000000, 0x2000),
    struct.pack("<BBHH", 0x51, 0x08, 32, bdf("01:00.0")) + bytes(10)
    + struct.pack("<QQ", 0xCCD42000, 0x26000),
], oem_id=b"AMD   ", oem_table_id=b"AmdTable", creator=b"AMD ")

ORACLE = {"qemu-amd-iommu": QEMU_AMD, "all-kinds": ALL_KINDS}


@pytest.mark.parametrize("case", sorted(ORACLE))
def test_golden_bytes_are_the_oracles(case):
    assert (ROOT / "golden" / "ivrs" / case / "expected.aml").read_bytes() == ORACLE[case]


def build(yaml_text: str) -> bytes:
    return api.build("table: IVRS\n" + yaml_text).data


IVHD40 = "subtables:\n- {type: ivhd_40h, device: '00:00.2', base_address: 0x1000, devices: [%s]}"


@pytest.mark.parametrize("entries, expected", [
    ("{select: '00:14.0'}", dev4(SELECT, bdf("00:14.0"))),
    ("{select: '00:14.0', settings: {init_pass: true, sys_mgt: 3, lint1_pass: true}}",
     dev4(SELECT, bdf("00:14.0"), 0xB1)),
    ("{all: true}", dev4(1, 0)),
    ("{pad: 4}, {pad: 8}", dev4(0, 0) + pad8()),
    ("{range: ['00:01.0', 'ff:1f.6']}", dev4(START, 8) + dev4(END, 0xFFFE)),
    ("{range_start: '00:01.0'}, {select: '00:00.0'}, {range_end: '00:02.0'}",
     dev4(START, 8) + dev4(SELECT, 0) + dev4(END, 0x10)),
    ("{alias_range: ['ff:00.0', 'ff:1f.7'], alias: '00:14.5'}",
     alias(ALIAS_START, 0xFF00, 0xA5) + dev4(END, 0xFFFF)),
    ("{alias_select: '03:00.0', alias: '02:00.0'}", alias(ALIAS_SELECT, 0x300, 0x200)),
    ("{ext_select: '05:00.0', extended_data: 0x80000000}", ext(0x46, 0x500, 0x80000000)),
    ("{ext_range: ['06:00.0', '06:00.7'], extended_data: 1, end_settings: 1}",
     ext(0x47, 0x600, 1) + dev4(END, 0x607, 1)),
    ("{ioapic: 33, device: '00:14.0'}, {hpet: 0, device: '00:14.0'}",
     special(33, 0xA0, 1) + special(0, 0xA0, 2)),
    ("{special: 5, variety: 3, device: '00:01.0'}", special(5, 8, 3)),
    ("{acpi_hid: AMDI0020, uid: '\\_SB.FUR0', device: '00:14.5'}",
     hid(0xA5, b"AMDI0020", rb"\_SB.FUR0", 2)),
    ("{acpi_hid: MSFT0201, uid_hex: '0100', device: '00:13.0'}",
     hid(0x98, b"MSFT0201", b"\x01\x00", 1)),
    ("{acpi_hid: PNP0D40, cid: PNP0C02, device: '00:08.1'}",
     hid(0x41, b"PNP0D40\0", b"", 0, cid=b"PNP0C02\0")),
    ("{type: 0x49, data: '49aabbccddeeff00'}", bytes.fromhex("49aabbccddeeff00")),
])
def test_each_entry_kind_builds_the_oracle_bytes(entries, expected):
    # lenient: a block with no selecting entry (or an unknown special
    # variety) is a table Linux refuses; the bytes are what is tested here.
    table = build("lenient: true\n" + IVHD40 % entries)
    assert table[48 + 40:] == expected
    assert api.build(api.describe(api.decode(table))).data == table


@pytest.mark.parametrize("yaml_text, expected", [
    ("subtables:\n- {type: ivhd_10h, flags: {ht_tun_en: true, iotlb_sup: true, ppr_sup: true},"
     " device: '00:00.2', capability_offset: 0x40, base_address: 0xfeb80000,"
     " pci_segment_group: 1, info: {msi_number: 3, unit_id: 2}, feature_reporting: 0x44}",
     ivhd10(0x91, 2, 0xFEB80000, [], segment=1, info=0x203, feature=0x44)),
    ("subtables:\n- {type: ivhd_11h, device: '00:00.2', base_address: 1, attributes: 2,"
     " efr_register_image: 3, efr2_register_image: 4}",
     ivhd(0x11, 0, 2, 1, [], cap=0, attributes=2, efr=3, efr2=4)),
    ("subtables:\n- {type: ivmd_all, flags: {exclusion: true}, start_address: 0x1000,"
     " memory_length: 0x2000}", ivmd(0x20, 8, 0, 0, 0x1000, 0x2000)),
    ("subtables:\n- {type: ivmd_select, flags: {unity: true, read: true, write: true},"
     " device: '00:14.0', start_address: 1, memory_length: 2}",
     ivmd(0x21, 7, 0xA0, 0, 1, 2)),
    ("subtables:\n- {type: ivmd_range, device: '00:12.0', last_device: '00:12.7',"
     " start_address: 1, memory_length: 2}", ivmd(0x22, 0, 0x90, 0x97, 1, 2)),
])
def test_each_subtable_kind_builds_the_oracle_bytes(yaml_text, expected):
    table = build("lenient: true\n" + yaml_text)
    assert table[48:] == expected
    assert api.build(api.describe(api.decode(table))).data == table


def test_header_info_word():
    table = build("lenient: true\nrevision: 1\ninfo: {efr_sup: true, gva_size: 2, pa_size: 48, va_size: 64}\n"
                  "subtables: [{type: ivhd_10h, device: '00:00.2', base_address: 1}]")
    assert table[8] == 1 and struct.unpack_from("<I", table, 36)[0] == 0x203041


@pytest.mark.parametrize("entries, where", [
    ("{select: '00:14'}", "subtables[0].devices[0].select"),
    ("{range: ['00:01.0']}", "subtables[0].devices[0].range"),
    ("{colour: red}", "subtables[0].devices[0]"),
    ("{acpi_hid: TOOLONGHID}", "subtables[0].devices[0].acpi_hid"),
    ("{pad: 5}", "subtables[0].devices[0].pad"),
])
def test_description_errors_are_located(entries, where):
    with pytest.raises(DescriptionError) as exc:
        build(IVHD40 % entries)
    assert any(str(d.path).startswith(where) for d in exc.value.problems), \
        [str(d) for d in exc.value.problems]


def test_unwalkable_entries_and_unknown_subtables_round_trip():
    """An entry type Linux cannot size (80h) ends the walk; the rest is
    kept, and so is a subtable of type 51h."""
    table = ivrs(0, [ivhd(0x40, 0, 2, 1, [dev4(SELECT, 0), b"\x80\x01\x02\x03\x04\x05"]),
                     struct.pack("<BBH", 0x51, 0, 8) + bytes(4)])
    decoded = api.decode(table)
    ivhd_node, raw = decoded.table.nodes
    assert ivhd_node.fields["rest"] == b"\x80\x01\x02\x03\x04\x05" and raw.raw
    assert {"IVRS-ENTRY-UNWALKABLE", "TABLE-NODE-UNKNOWN"} <= {w.code for w in decoded.warnings}
    assert api.build(api.describe(decoded)).data == table


# --- the corpus --------------------------------------------------------------------

FILES = sorted(LINUXHW.glob("*__IVRS.bin")) if LINUXHW.is_dir() else []


def test_the_corpus_is_there():
    if not LINUXHW.is_dir():
        pytest.skip(f"{LINUXHW} not found")
    assert len(FILES) == 94


def test_corpus_counts_match_an_independent_walk():
    """Counts from the research walker (docs/ivrs.md section 4)."""
    if not FILES:
        pytest.skip("no IVRS corpus")
    from acpitables.tables.ivrs import chosen_ivhd_type
    subtables: dict[int, int] = {}
    entries: dict[int, int] = {}
    varieties: dict[int, int] = {}
    chosen: dict[int, int] = {}
    for path in FILES:
        t = api.decode(path.read_bytes()).table
        assert not t.trailing
        for n in t.nodes:
            subtables[n.type] = subtables.get(n.type, 0) + 1
            assert n.raw == (n.type == 0x51)
            assert not n.fields.get("rest")
            for e in n.fields.get("devices") or ():
                entries[e["type"]] = entries.get(e["type"], 0) + 1
                if e["type"] == 0x48:
                    varieties[e["variety"]] = varieties.get(e["variety"], 0) + 1
        c = chosen_ivhd_type(t)
        chosen[c] = chosen.get(c, 0) + 1
    assert subtables == {0x10: 97, 0x11: 90, 0x40: 48, 0x21: 7, 0x22: 5, 0x51: 5}
    assert {k: entries[k] for k in (0x48, 4, 3, 0x43, 0, 0xF0, 2)} == {
        0x48: 684, 4: 480, 3: 254, 0x43: 226, 0: 198, 0xF0: 175, 2: 97}
    assert not set(entries) - {0x48, 4, 3, 0x43, 0, 0xF0, 2}
    assert varieties == {1: 455, 2: 229}
    assert chosen == {0x10: 7, 0x11: 39, 0x40: 48}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_table_round_trips_and_validates_with_coded_findings(path):
    data = path.read_bytes()
    decoded = api.decode(data)
    text = render.as_yaml(api.describe(decoded), decoded.spec.schema)
    rebuilt = api.build(text, path.name).data
    assert rebuilt[:9] + rebuilt[10:] == data[:9] + data[10:decoded.size]
    for finding in api.validate_table(data):
        assert finding.code, finding
    render.text(decoded)
    IvrsMapper(decoded.table).segment_map(0)


def test_short_integer_uid_is_a_note():
    path = next((p for p in FILES if p.name.startswith("asus-zenbook-s-16-um5606wa")), None)
    if path is None:
        pytest.skip("table not in the corpus")
    decoded = api.decode(path.read_bytes())
    notes = [w for w in decoded.warnings if w.code == "IVRS-UID-INTEGER-LENGTH"]
    assert len(notes) == 1 and notes[0].severity == "note" and "UID 1" in notes[0].message


# --- the mapper, worked by hand from amd/init.c ------------------------------------

def who(m: IvrsMapper, text: str, segment: int = 0) -> str:
    r = m.lookup(bdf(text), segment)
    reason = getattr(r, "reason", "")
    return getattr(r, "iommu", None) or f"{r.kind}:{getattr(reason, 'value', reason)}"


def test_qemu_table_by_hand():
    m = IvrsMapper(api.decode(QEMU_AMD).table)
    assert who(m, "00:03.0") == "iommu0_10h"
    assert who(m, "01:05.3") == "iommu0_10h"              # RANGE 01:00.0-01:1f.7
    assert who(m, "00:01.0").endswith("self")            # the IOMMU itself (init_iommu_one_late)
    assert who(m, "00:02.0").endswith("no-match")        # no entry selects it
    assert who(m, "00:14.0") == "iommu0_10h"              # the IOAPIC's special entry
    r = m.lookup(bdf("02:01.0"))                          # behind the pcie-pci-bridge
    assert r.iommu == "iommu0_10h" and r.output_id == bdf("02:01.0")
    assert r.more_ids == (bdf("02:00.0"),) and isinstance(r, TranslatedIf)
    assert who(m, "80:00.0").endswith("no-match")        # above the last device ID 02:1f.7
    assert "above the highest" in m.lookup(bdf("80:00.0")).detail


def _table(*subtables: bytes) -> IvrsMapper:
    return IvrsMapper(api.decode(ivrs(0, list(subtables))).table)


def test_one_ivhd_type_for_the_whole_system():
    """get_highest_supported_ivhd_type: the LAST type listed for the first
    IVHD's DeviceId; an IOMMU without a block of that type is not used."""
    a10 = ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10), dev4(SELECT, 0x20)])
    a11 = ivhd(0x11, 0, 2, 0x1000, [dev4(SELECT, 0x20)])
    b10 = ivhd10(0, 0x4002, 0x2000, [dev4(SELECT, 0x30)])
    m = _table(a10, a11, b10)
    assert m.chosen == 0x11
    assert m.lookup(0x20).iommu == "iommu0_11h"
    assert m.lookup(0x10).kind == "bypass"               # only the 10h block selected it
    assert m.lookup(0x30).kind == "bypass"               # IOMMU B has no 11h block
    assert _table(b10, a10, a11).chosen == 0x10          # first block B: its last type is 10h


def test_a_type_above_40h_stops_the_choice():
    a = [ivhd10(0, 2, 1, [dev4(SELECT, 0x10)]), ivhd(0x11, 0, 2, 1, [dev4(SELECT, 0x10)])]
    raw = struct.pack("<BBHH", 0x51, 0, 8, 2) + bytes(2)
    m = _table(*a, raw, ivhd(0x40, 0, 2, 1, [dev4(SELECT, 0x10)]))
    assert m.chosen == 0x11 and m.lookup(0x10).iommu == "iommu0_11h"


def test_an_ivmd_with_the_first_devid_makes_linux_give_up():
    m = _table(ivhd10(0, 2, 1, [dev4(SELECT, 0x10)]), ivmd(0x21, 1, 2, 0, 0x1000, 0x1000))
    r = m.lookup(0x10)
    assert r.kind == "error" and "0x21" in r.detail


def test_range_state_and_all():
    m = _table(ivhd10(0, 2, 1, [dev4(END, 0x05), dev4(START, 0x100), dev4(SELECT, 0x300),
                                 dev4(END, 0x1FF)]))
    assert m.lookup(0x03).iommu == "iommu0_10h"          # END alone: start 0 (block start)
    assert m.lookup(0x150).iommu == "iommu0_10h"         # a start survives a SELECT
    m = _table(ivhd10(0, 2, 1, [dev4(1, 0)]))
    assert m.lookup(0xFFFF).iommu == "iommu0_10h" and m.lookup(2).kind == "bypass"


def test_alias_select_translates_the_alias_too():
    m = _table(ivhd10(0, 2, 1, [dev4(SELECT, 0x400), alias(ALIAS_SELECT, 0x300, 0x200)]))
    r = m.lookup(0x300)
    assert r.iommu == "iommu0_10h" and r.more_ids == (0x200,)
    assert m.lookup(0x200).iommu == "iommu0_10h"


def test_later_block_overwrites_and_segments_are_separate():
    m = _table(ivhd10(0, 2, 1, [dev4(SELECT, 0x10), dev4(SELECT, 0x20)]),
               ivhd10(0, 0x40, 2, [dev4(SELECT, 0x20)]),
               ivhd10(0, 2, 3, [dev4(SELECT, 0x10)], segment=1))
    assert m.lookup(0x20).iommu == "iommu1_10h"
    assert m.lookup(0x10, segment=1).iommu == "iommu2_10h"
    assert m.segments() == [0, 1]


def test_acpi_hid_device_by_name():
    m = IvrsMapper(api.decode(ALL_KINDS).table)
    assert m.chosen == 0x40
    r = m.lookup_device(r"AMDI0020:\_SB.FUR0")
    assert r.iommu == "iommu0_40h" and r.output_id == bdf("00:14.5")
    assert m.lookup_device("MSFT0201:1").output_id == bdf("00:13.0")   # first UID byte only
    assert m.lookup_device("PNP0D40:").output_id == bdf("00:08.1")
    assert m.lookup_device("NONE0000:x").kind == "bypass"
