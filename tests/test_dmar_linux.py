"""DMAR mapper vs Linux, the cases issue 13 item 2 left open, each worked by
hand from drivers/iommu/intel/dmar.c and iommu.c (expected values written
from the rule in the docstring): which unit wins when two list a device,
INCLUDE_PCI_ALL next to scoped units, duplicate units, the structures that
do not choose a unit, ANDD namespace devices, and the device's own ID
deciding. Tables are packed by test_dmar.py's struct.pack helpers."""
from __future__ import annotations

from acpitables import api
from acpitables.mapping.acpi import for_table
from acpitables.mapping.dmar import DmarMapper
from acpitables.mapping.pcitopo import TranslatedIf
from acpitables.mapping.topology import PciDevice, Topology, bdf_key
from test_dmar import andd, atsr, dmar, drhd, rmrr, satc, scope, sidp

ENDPOINT, BRIDGE, NAMESPACE = 1, 2, 5
ALL = 1


def mapper(*structures: bytes, topology=None) -> DmarMapper:
    return DmarMapper(api.decode(dmar(0x26, 0, list(structures))).table, topology)


def who(m: DmarMapper, rid: int) -> str:
    r = m.lookup(rid)
    return getattr(r, "iommu", None) or r.kind


def test_a_device_in_two_units_goes_to_the_later_one():
    """dmar_register_drhd_unit puts scoped units at the list head (reverse
    table order); dmar_pci_bus_add_dev records 00:02.0 in the first unit of
    the list that lists it and stops; device_lookup_iommu finds it there.
    The INCLUDE_PCI_ALL unit, at the tail, takes 00:03.0."""
    m = mapper(drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(2, 0)])]),
               drhd(0, 0, 0x2000, [scope(ENDPOINT, 0, [(2, 0)])]),
               drhd(ALL, 0, 0x3000, []))
    assert who(m, 0x10) == "drhd1"
    assert who(m, 0x18) == "drhd2"


def test_a_catch_all_before_scoped_units_still_comes_last():
    """INCLUDE_PCI_ALL units are list_add_tail'ed: first in the table, still
    asked after every scoped unit."""
    m = mapper(drhd(ALL, 0, 0x3000, []), drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(2, 0)])]))
    assert who(m, 0x10) == "drhd1" and who(m, 0x18) == "drhd0"


def test_a_bridge_scope_of_a_later_unit_beats_an_endpoint_of_an_earlier_one():
    """device_lookup_iommu asks each unit in list order: the later unit's
    bridge 00:1c.0 (buses 1-1) holds 01:00.0 (is_downstream_to_pci_bridge)
    before the earlier unit's endpoint scope is looked at."""
    topo = Topology({bdf_key(0, 0xE0): PciDevice(0, 0xE0, pcie_type="root-port", secondary=1,
                                                 subordinate=1)})
    table = dmar(0x26, 0, [drhd(0, 0, 0x1000, [scope(ENDPOINT, 1, [(0, 0)])]),
                           drhd(0, 0, 0x2000, [scope(BRIDGE, 0, [(0x1C, 0)])])])
    m = for_table(api.decode(table).table, topo)
    assert who(m, 0x100) == "drhd1"


def test_a_duplicate_unit_is_left_out_with_its_scopes():
    """dmar_parse_one_drhd: dmar_find_dmaru finds the segment and address
    already registered and skips the structure, scopes and all: 00:03.0,
    listed only by the duplicate, falls to INCLUDE_PCI_ALL."""
    m = mapper(drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(2, 0)])]),
               drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(3, 0)])]),
               drhd(ALL, 0, 0x2000, []))
    assert who(m, 0x10) == "drhd0" and who(m, 0x18) == "drhd2"
    # another segment, same address: not a duplicate
    m = mapper(drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(2, 0)])]),
               drhd(0, 1, 0x1000, [scope(ENDPOINT, 0, [(3, 0)])]))
    assert m.lookup(0x18, 1).iommu == "drhd1"


def test_rmrr_atsr_satc_sidp_choose_no_unit():
    """device_lookup_iommu walks DRHDs only: scopes of the other structures
    naming 00:03.0 leave it to INCLUDE_PCI_ALL, and 00:02.0 to its unit."""
    on = [scope(ENDPOINT, 0, [(3, 0)])]
    m = mapper(drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(2, 0)])]),
               rmrr(0, 0x10000, 0x1FFFF, on), atsr(0, 0, on), satc(0, 0, on), sidp(0, on),
               drhd(ALL, 0, 0x2000, []))
    assert who(m, 0x18) == "drhd1" and who(m, 0x10) == "drhd0"
    alone = mapper(drhd(0, 0, 0x1000, [scope(ENDPOINT, 0, [(2, 0)])]),
                   rmrr(0, 0x10000, 0x1FFFF, on), satc(0, 0, on))
    assert who(alone, 0x18) == "bypass"


def test_scopes_of_an_include_all_unit_are_never_matched():
    """dmar_pci_bus_add_dev skips INCLUDE_PCI_ALL units: their PCI scopes
    stay empty. A 2-hop scope there therefore raises no doubt about where it
    ends -- the unit takes every device either way."""
    m = mapper(drhd(ALL, 0, 0x1000, [scope(ENDPOINT, 0, [(0x1C, 0), (0, 0)])]))
    r = m.lookup(0x100)
    assert r.iommu == "drhd0" and not isinstance(r, TranslatedIf)


def test_andd_device_takes_the_first_path_entry():
    """dmar_acpi_insert_dev_scope: the namespace scope's bus and its FIRST
    path entry (path->device, path->function) -- 00:15.0 here, not the last
    hop 00.1 -- in the first unit of the list with that enumeration ID,
    INCLUDE_PCI_ALL units included."""
    ns = scope(NAMESPACE, 0, [(0x15, 0), (0x00, 1)], enum_id=7)
    m = mapper(drhd(ALL, 0, 0x1000, [ns]), andd(7, rb"\_SB.PCI0.SPI0"))
    r = m.lookup_device(r"\_SB.PCI0.SPI0")
    assert (r.iommu, r.output_id) == ("drhd0", 0xA8)
    # a scoped unit later in the table is earlier in the list: it wins
    other = scope(NAMESPACE, 0, [(0x16, 0)], enum_id=7)
    m = mapper(drhd(ALL, 0, 0x1000, [ns]), drhd(0, 0, 0x2000, [other]),
               andd(7, rb"\_SB.PCI0.SPI0"))
    r = m.lookup_device(r"\_SB.PCI0.SPI0")
    assert (r.iommu, r.output_id) == ("drhd1", 0xB0)


def test_the_devices_own_id_decides_not_its_bridge_alias():
    """device_lookup_iommu matches the device itself: 02:01.0 listed by a
    unit (a one-hop path on bus 2, dmar_match_pci_path's fallback) behind a
    PCIe-to-PCI bridge no unit lists is translated, and its alias 02:00.0
    programmed on the same unit (domain_context_mapping)."""
    bridge = PciDevice(0, 0x28, pcie_type="pcie-to-pci-bridge", secondary=2, subordinate=2)
    dev = PciDevice(0, 0x208, parent="0000:00:05.0")
    topo = Topology({d.bdf: d for d in (bridge, dev)})
    m = mapper(drhd(0, 0, 0x1000, [scope(ENDPOINT, 2, [(1, 0)])]))
    assert who(m, 0x200) == "bypass"
    r = topo.lookup(m, dev)
    assert (r.iommu, r.output_id, r.more_ids) == ("drhd0", 0x208, (0x200,))
