"""DMAR: every structure and scope kind against a hand-written struct.pack
oracle (VT-d chapter 8 layouts, written here from docs/dmar.md and sharing
no code with acpitables), the description language, the real tables of
../shared/corpus/linuxhw, and the mapper worked by hand from Linux's
dmar.c / iommu.c (docs/dmar.md section 3)."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from acpitables import api
from acpitables.errors import DescriptionError
from acpitables.formats import render
from acpitables.mapping.dmar import DmarMapper
from acpitables.mapping.pcitopo import Bridge, Topology, TranslatedIf

ROOT = Path(__file__).resolve().parents[1]
LINUXHW = ROOT.parent / "shared" / "corpus" / "linuxhw"


# --- the oracle: VT-d structures packed by hand -------------------------------

def sdt(sig: bytes, body: bytes, revision: int, oem_id: bytes = b"BOCHS ",
        oem_table_id: bytes = b"BXPC    ", oem_revision: int = 1, creator: bytes = b"BXPC",
        creator_revision: int = 1) -> bytes:
    head = struct.pack("<4sIBB6s8sI4sI", sig, 36 + len(body), revision, 0, oem_id,
                       oem_table_id, oem_revision, creator, creator_revision)
    out = bytearray(head + body)
    out[9] = -sum(out) & 0xFF
    return bytes(out)


def scope(kind: int, bus: int, path: list[tuple[int, int]], enum_id: int = 0,
          flags: int = 0) -> bytes:
    return struct.pack("<6B", kind, 6 + 2 * len(path), flags, 0, enum_id, bus) + \
        b"".join(struct.pack("<BB", d, f) for d, f in path)


def drhd(flags: int, segment: int, address: int, scopes: list[bytes], size: int = 0) -> bytes:
    body = b"".join(scopes)
    return struct.pack("<HHBBHQ", 0, 16 + len(body), flags, size, segment, address) + body


def rmrr(segment: int, base: int, end: int, scopes: list[bytes]) -> bytes:
    body = b"".join(scopes)
    return struct.pack("<HHHHQQ", 1, 24 + len(body), 0, segment, base, end) + body


def atsr(flags: int, segment: int, scopes: list[bytes]) -> bytes:
    body = b"".join(scopes)
    return struct.pack("<HHBBH", 2, 8 + len(body), flags, 0, segment) + body


def rhsa(base: int, domain: int) -> bytes:
    return struct.pack("<HHIQI", 3, 20, 0, base, domain)


def andd(number: int, name: bytes, size: int | None = None) -> bytes:
    tail = name + b"\0"
    tail += bytes((size or 8 + len(tail)) - 8 - len(tail))
    return struct.pack("<HH3sB", 4, 8 + len(tail), bytes(3), number) + tail


def satc(flags: int, segment: int, scopes: list[bytes]) -> bytes:
    body = b"".join(scopes)
    return struct.pack("<HHBBH", 5, 8 + len(body), flags, 0, segment) + body


def sidp(segment: int, scopes: list[bytes]) -> bytes:
    body = b"".join(scopes)
    return struct.pack("<HHHH", 6, 8 + len(body), 0, segment) + body


def dmar(width: int, flags: int, structures: list[bytes], revision: int = 1, **kw) -> bytes:
    return sdt(b"DMAR", struct.pack("<BB10s", width, flags, bytes(10)) + b"".join(structures),
               revision, **kw)


EP, BR, IOAPIC, HPET, NS = 1, 2, 3, 4, 5

# QEMU 7.2 build_dmar_q35 as observed in a guest (docs/dmar.md section 4):
# intremap=on, e1000e 00:03.0, root port 00:04.0, pcie-pci-bridge 00:05.0,
# a pxb-pcie host bridge function at 00:06.0, ICH9 00:1f.0/.2/.3.
QEMU_Q35 = dmar(0x26, 0x01, [drhd(0, 0, 0xFED90000, [
    scope(IOAPIC, 0xFF, [(0, 0)]),
    scope(EP, 0, [(0, 0)]), scope(EP, 0, [(3, 0)]), scope(BR, 0, [(4, 0)]),
    scope(BR, 0, [(5, 0)]), scope(EP, 0, [(6, 0)]), scope(EP, 0, [(0x1F, 0)]),
    scope(EP, 0, [(0x1F, 2)]), scope(EP, 0, [(0x1F, 3)]),
])])

# One of every structure kind and scope kind, as real servers and SoCs
# combine them (docs/dmar.md section 5).
ALL_KINDS = dmar(0x2D, 0x05, [
    drhd(0, 0, 0xFED90000, [scope(EP, 0, [(2, 0)])], size=4),
    drhd(0, 0, 0xFED91000, [scope(BR, 0, [(0x1C, 0)]), scope(EP, 0, [(0x1C, 4), (0, 0)])]),
    drhd(1, 0, 0xFED92000, [scope(IOAPIC, 0xF0, [(0x1F, 0)], enum_id=2),
                            scope(HPET, 0, [(0x1F, 0)]),
                            scope(NS, 0, [(0x15, 0)], enum_id=1)]),
    rmrr(0, 0x3E2E0000, 0x3E2FFFFF, [scope(EP, 0, [(0x14, 0)]), scope(EP, 0, [(0x1A, 0)])]),
    atsr(1, 0, [scope(BR, 0, [(0x1C, 0)])]),
    rhsa(0xFED91000, 1),
    andd(1, rb"\_SB.PCI0.I2C1", size=28),
    satc(1, 0, [scope(EP, 0, [(2, 0)])]),
    sidp(0, [scope(EP, 0, [(2, 0)], flags=0x1F)]),
], revision=2, oem_id=b"INTEL ", oem_table_id=b"EDK2    ", creator=b"INTL",
    creator_revision=0x20200925)

ORACLE = {"qemu-q35": QEMU_Q35, "all-structures": ALL_KINDS}


@pytest.mark.parametrize("case", sorted(ORACLE))
def test_golden_bytes_are_the_oracles(case):
    """golden/dmar/<case>/expected.aml is what the oracle packs; the golden
    suite then checks that input.yaml builds exactly that."""
    assert (ROOT / "golden" / "dmar" / case / "expected.aml").read_bytes() == ORACLE[case]


def build(yaml_text: str) -> bytes:
    return api.build("table: DMAR\nwidth: 0x26\n" + yaml_text).data


def body(table: bytes) -> bytes:
    return table[48:]


@pytest.mark.parametrize("yaml_text, expected", [
    ("structures:\n- {type: drhd, address: 0xfed90000, scopes: [{endpoint: '00:02.0'}]}",
     drhd(0, 0, 0xFED90000, [scope(EP, 0, [(2, 0)])])),
    ("structures:\n- {type: drhd, flags: {include_pci_all: true}, segment: 1, size: 4,"
     " address: 0xfed91000}", drhd(1, 1, 0xFED91000, [], size=4)),
    ("structures:\n- {type: drhd, address: 1, scopes: [{bridge: '00:1c.0'},"
     " {endpoint: '00:1c.4/00.0'}]}",
     drhd(0, 0, 1, [scope(BR, 0, [(0x1C, 0)]), scope(EP, 0, [(0x1C, 4), (0, 0)])])),
    ("lenient: true\nstructures:\n- {type: drhd, address: 1, scopes: [{endpoint: '80:'}]}",
     drhd(0, 0, 1, [scope(EP, 0x80, [])])),
    ("structures:\n- {type: drhd, address: 1, scopes: [{ioapic: 8, path: 'f0:1f.0'},"
     " {hpet: 0, path: '00:1f.0'}, {namespace: 3, path: '00:15.1'},"
     " {type: 7, enumeration_id: 9, path: '01:00.0', flags: 2}]}",
     drhd(0, 0, 1, [scope(IOAPIC, 0xF0, [(0x1F, 0)], 8), scope(HPET, 0, [(0x1F, 0)]),
                    scope(NS, 0, [(0x15, 1)], 3), scope(7, 1, [(0, 0)], 9, flags=2)])),
    ("structures:\n- {type: drhd, name: u, address: 0x1000}\n"
     "- {type: rmrr, base_address: 0x1000, end_address: 0x1fff, scopes: [{endpoint: '00:14.0'}]}",
     drhd(0, 0, 0x1000, []) + rmrr(0, 0x1000, 0x1FFF, [scope(EP, 0, [(0x14, 0)])])),
    ("structures:\n- {type: drhd, address: 1}\n"
     "- {type: atsr, flags: {all_ports: true}, segment: 2}",
     drhd(0, 0, 1, []) + atsr(1, 2, [])),
    ("structures:\n- {type: drhd, name: gfx, address: 0xfed90000}\n"
     "- {type: rhsa, unit: gfx, proximity_domain: 3}",
     drhd(0, 0, 0xFED90000, []) + rhsa(0xFED90000, 3)),
    ("structures:\n- {type: drhd, address: 1}\n- {type: andd, device_number: 1,"
     " object_name: '\\_SB.PCI0.I2C1'}",
     drhd(0, 0, 1, []) + andd(1, rb"\_SB.PCI0.I2C1")),
    ("structures:\n- {type: drhd, address: 1}\n"
     "- {type: satc, flags: {atc_required: true}, scopes: [{endpoint: '00:02.0'}]}\n"
     "- {type: sidp, segment: 1, scopes: [{endpoint: '00:0b.0', flags: 0x1c}]}",
     drhd(0, 0, 1, []) + satc(1, 0, [scope(EP, 0, [(2, 0)])])
     + sidp(1, [scope(EP, 0, [(0xB, 0)], flags=0x1C)])),
])
def test_each_structure_and_scope_kind_builds_the_oracle_bytes(yaml_text, expected):
    table = build(yaml_text)
    assert body(table) == expected
    assert api.build(api.describe(api.decode(table))).data == table


def test_header_fields():
    table = api.build("table: DMAR\nrevision: 2\nwidth: 46\nflags: {intr_remap: true, "
                      "x2apic_opt_out: true, dma_ctrl_platform_opt_in: true}\n"
                      "structures: [{type: drhd, address: 1}]").data
    assert table[8] == 2 and table[36] == 46 and table[37] == 7 and table[38:48] == bytes(10)


def test_raw_structures_and_rest_bytes_round_trip():
    """A reserved structure type is kept raw; scope bytes that no scope
    length covers are kept as rest; both build back byte for byte."""
    odd = struct.pack("<HH", 0, 16 + 8) + struct.pack("<BBHQ", 0, 0, 0, 1) \
        + scope(EP, 0, []) + b"\x00\x05"  # a scope of Length 6, then 2 bytes
    table = dmar(0x26, 0, [drhd(0, 0, 2, []), struct.pack("<HH", 9, 8) + b"\x01\x02\x03\x04",
                           odd])
    decoded = api.decode(table)
    kinds = [n.raw for n in decoded.table.nodes]
    assert kinds == [False, True, False]
    assert decoded.table.nodes[2].fields["rest"] == b"\x00\x05"
    assert api.build(api.describe(decoded)).data == table
    codes = {w.code for w in decoded.warnings}
    assert {"TABLE-NODE-UNKNOWN", "DMAR-SCOPE-UNWALKABLE", "DMAR-SCOPE-NO-PATH"} <= codes


# --- description errors are located -----------------------------------------------

@pytest.mark.parametrize("item, where", [
    ("{type: drhd, address: 1, scopes: [{endpoint: '00:1c'}]}", "structures[0].scopes[0]"),
    ("{type: drhd, address: 1, scopes: [{endpoint: '00:02.0', bridge: '00:1c.0'}]}",
     "structures[0].scopes[0]"),
    ("{type: drhd, address: 1, scopes: [{endpoint: '00:02.0', colour: red}]}",
     "structures[0].scopes[0]"),
    ("{type: rhsa, unit: nowhere, proximity_domain: 0}", "structures[0].unit"),
    ("{type: drhd, address: 1, bogus: 1}", "structures[0]"),
])
def test_description_errors_are_located(item, where):
    with pytest.raises(DescriptionError) as exc:
        build(f"structures:\n- {item}\n")
    assert any(str(d.path).startswith(where) and d.line == 4 for d in exc.value.problems), \
        [str(d) for d in exc.value.problems]


# --- the corpus --------------------------------------------------------------------

FILES = sorted(LINUXHW.glob("*__DMAR.bin")) if LINUXHW.is_dir() else []


def test_the_corpus_is_there():
    if not LINUXHW.is_dir():
        pytest.skip(f"{LINUXHW} not found")
    assert len(FILES) == 270


def _decoded_all() -> list:
    return [api.decode(p.read_bytes()) for p in FILES]


def test_corpus_structure_counts_match_an_independent_walk():
    """Counts from the research walker (docs/dmar.md section 5), not from
    this code: every structure of every real table is decoded, none raw."""
    if not FILES:
        pytest.skip("no DMAR corpus")
    counts: dict[int, int] = {}
    scopes: dict[int, int] = {}
    hops: dict[int, int] = {}
    for dec in _decoded_all():
        assert not dec.table.trailing
        for n in dec.table.nodes:
            assert not n.raw, n.name
            counts[n.type] = counts.get(n.type, 0) + 1
            for s in n.fields.get("scopes") or ():
                scopes[s["entry_type"]] = scopes.get(s["entry_type"], 0) + 1
                hops[len(s["path"])] = hops.get(len(s["path"]), 0) + 1
            assert not n.fields.get("rest")
    assert counts == {0: 544, 1: 449, 2: 15, 3: 9, 4: 70, 5: 6, 6: 6}
    assert scopes == {1: 947, 2: 95, 3: 278, 4: 332, 5: 70}
    assert hops == {1: 1653, 2: 69}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_table_round_trips_and_validates_with_coded_findings(path):
    data = path.read_bytes()
    decoded = api.decode(data)
    text = render.as_yaml(api.describe(decoded), decoded.spec.schema)
    rebuilt = api.build(text, path.name).data
    assert rebuilt == data[:decoded.size] or (
        rebuilt[:9] + rebuilt[10:] == data[:9] + data[10:decoded.size])
    for finding in api.validate_table(data):
        assert finding.code, finding
    render.text(decoded)
    DmarMapper(decoded.table).segment_map(0)


def test_corpus_oddities_are_findings():
    by_name = {p.name.split("__")[0]: p for p in FILES}
    if not by_name:
        pytest.skip("no DMAR corpus")
    zero = api.decode(by_name["lenovo-thinkpad-e15-gen-2-20td0005mh-188eb6"].read_bytes())
    assert "DMAR-DRHD-ADDRESS-ZERO" in {w.code for w in zero.warnings}
    assert api.describe(zero).get("lenient") is True
    rmrr_zero = api.decode(by_name["hp-compaq-6730b-795f37"].read_bytes())
    assert "DMAR-RMRR-RANGE" in {w.code for w in rmrr_zero.warnings}


# --- the mapper, worked by hand from Linux --------------------------------------------
# Topology (docs/dmar.md section 3): root bus 0, root port 00:1c.0 with
# secondary bus 1, device 01:00.0; IGD 00:02.0; unit A scope = endpoint
# (bus 0, path 02.0); unit B INCLUDE_PCI_ALL, segment 0.

A_THEN_B = """
structures:
- {type: drhd, name: A, address: 0xfed90000, scopes: [%s]}
- {type: drhd, name: B, flags: {include_pci_all: true}, address: 0xfed91000}
"""
TOPO = Topology([Bridge(0x1C << 3, 1, 1)])


def mapper(a_scopes: str, topology: Topology | None = TOPO, extra: str = "") -> DmarMapper:
    table, _ = api.compile_description(api.load_description(
        "table: DMAR\nwidth: 0x26\nlenient: true\n" + A_THEN_B % a_scopes + extra)[0])
    return DmarMapper(table, topology)


def rid(text: str) -> int:
    bus, rest = text.split(":")
    dev, fn = rest.split(".")
    return int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn)


def who(m: DmarMapper, text: str, segment: int = 0) -> str:
    r = m.lookup(rid(text), segment)
    return getattr(r, "iommu", None) or r.kind


@pytest.mark.parametrize("a_scopes, device, unit", [
    ("{endpoint: '00:02.0'}", "00:02.0", "A"),                 # endpoint scope
    ("{endpoint: '00:02.0'}", "01:00.0", "B"),                 # not in A: catch-all
    ("{endpoint: '00:02.0'}", "00:1f.3", "B"),
    ("{endpoint: '00:02.0'}, {bridge: '00:1c.0'}", "01:00.0", "A"),   # below A's bridge
    ("{endpoint: '00:02.0'}, {bridge: '00:1c.0'}", "00:1c.0", "A"),   # the bridge itself
    ("{endpoint: '00:02.0'}, {endpoint: '01:00.0'}", "01:00.0", "A"),  # one-hop workaround
    ("{endpoint: '00:02.0'}, {endpoint: '00:1c.0/00.0'}", "01:00.0", "A"),  # two-hop route
])
def test_hand_worked_answers(a_scopes, device, unit):
    m = mapper(a_scopes)
    assert who(m, device) == unit
    r = m.lookup(rid(device))
    assert r.output_id == rid(device) and not isinstance(r, TranslatedIf)


def test_segment_without_unit_has_no_iommu():
    m = mapper("{endpoint: '00:02.0'}")
    r = m.lookup(rid("00:02.0"), segment=1)
    assert r.kind == "bypass" and r.reason.value == "no-description"


def test_address_zero_disables_vtd_for_every_device():
    m = mapper("{endpoint: '00:02.0'}", extra="- {type: drhd, address: 0}\n")
    for device in ("00:02.0", "01:00.0", "00:1f.3"):
        r = m.lookup(rid(device))
        assert r.kind == "error" and "register base 0" in r.detail


def test_scoped_units_are_searched_in_reverse_table_order():
    """dmar_register_drhd_unit list_add()s scoped units at the head: with
    two units listing one device, the LATER one wins."""
    table, _ = api.compile_description(api.load_description(
        "table: DMAR\nwidth: 0x26\nstructures:\n"
        "- {type: drhd, name: first, address: 0x1000, scopes: [{endpoint: '00:02.0'}]}\n"
        "- {type: drhd, name: second, address: 0x2000, scopes: [{endpoint: '00:02.0'}]}\n"
        "- {type: drhd, name: all, flags: {include_pci_all: true}, address: 0x3000}\n")[0])
    assert who(DmarMapper(table), "00:02.0") == "second"


def test_first_catch_all_of_a_segment_wins():
    table, _ = api.compile_description(api.load_description(
        "table: DMAR\nwidth: 0x26\nlenient: true\nstructures:\n"
        "- {type: drhd, name: one, flags: {include_pci_all: true}, address: 0x1000}\n"
        "- {type: drhd, name: two, flags: {include_pci_all: true}, address: 0x2000}\n")[0])
    assert who(DmarMapper(table), "05:00.0") == "one"


def test_no_catch_all_means_no_iommu_outside_the_scopes():
    """QEMU 7.2's DMAR: no INCLUDE_PCI_ALL; root-bus functions are listed,
    bridges as bridge scopes; a bypassing pxb's buses are nobody's."""
    table = api.decode(QEMU_Q35).table
    m = DmarMapper(table, Topology([Bridge(4 << 3, 1, 1), Bridge(5 << 3, 2, 2)]))
    assert who(m, "00:03.0") == "drhd0"
    assert who(m, "01:00.0") == "drhd0" and who(m, "02:01.0") == "drhd0"
    assert who(m, "80:00.0") == "bypass"
    assert who(m, "00:01.0") == "bypass"   # no scope lists it


def test_without_a_topology_the_answer_says_what_it_assumes():
    m = mapper("{endpoint: '00:02.0'}, {bridge: '00:1c.0'}", topology=None)
    root = m.lookup(rid("00:1f.3"))            # bus 0: no bridge can be above it
    assert root.iommu == "B" and not isinstance(root, TranslatedIf)
    below = m.lookup(rid("01:00.0"))
    assert below.iommu == "B" and isinstance(below, TranslatedIf)
    assert "00:1c.0" in below.assumption and "topology" in below.assumption
    assert "assuming" in str(below) and below.as_dict()["assumption"]
    two_hop = mapper("{endpoint: '00:1c.0/00.0'}", topology=None).lookup(rid("01:00.0"))
    assert isinstance(two_hop, TranslatedIf) and "2-hop" in two_hop.assumption


def test_namespace_device_by_acpi_path():
    table = api.decode(ALL_KINDS).table
    r = DmarMapper(table).lookup_device(r"\_SB.PCI0.I2C1")
    assert r.iommu == "drhd2" and r.output_id == rid("00:15.0")
    assert DmarMapper(table).lookup_device(r"\_SB.NONE").kind == "bypass"


def test_topology_from_a_plain_description():
    """A topology read from plain data resolves a two-hop RMRR-style path
    and a bridge's bus range; a hop through no known bridge names nothing."""
    topo = Topology.from_dict({"bridges": [
        {"bdf": "00:1c.4", "secondary": 2, "subordinate": 3},
        {"bdf": "02:00.0", "secondary": 3, "subordinate": 3, "pcie_to_pci": True}]})
    assert topo.route(0, 0, [(0x1C, 4), (0, 0)]) == rid("02:00.0")
    assert topo.route(0, 0, [(0x1D, 0), (0, 0)]) is None
    assert [b.rid for b in topo.upstream(0, rid("03:01.0"))] == [rid("02:00.0"), rid("00:1c.4")]
    m = mapper("{bridge: '00:1c.4'}", topology=topo)
    assert who(m, "03:01.0") == "A" and who(m, "04:00.0") == "B"
    assert not isinstance(m.lookup(rid("04:00.0")), TranslatedIf)
