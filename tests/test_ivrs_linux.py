"""IVRS mapper vs Linux, the cases issue 13 item 2 left open, each worked by
hand from drivers/iommu/amd/init.c and iommu.c (the expected values are
written from the rule in the docstring, not computed by the package):

- what makes early_amd_iommu_init use no AMD IOMMU at all (a MapError for
  every device, and an error finding for validate);
- the same-bus IVRS alias that setup_aliases makes a PCI DMA alias (and so
  a shared IOMMU group), and the device's own ID deciding its IOMMU;
- the ivrs_ioapic / ivrs_hpet / ivrs_acpihid command-line overrides.

Tables are packed by the oracle helpers of test_ivrs.py (struct.pack, no
package code)."""
from __future__ import annotations

import struct

import pytest

from acpitables import api
from acpitables.mapping.ivrs import HidOverride, IvrsMapper, parse_cmdline
from acpitables.mapping.pcitopo import TranslatedIf
from acpitables.mapping.topology import PciDevice, Topology, bdf_key
from test_ivrs import (ALIAS_SELECT, END, SELECT, START, alias, bdf, dev4, hid, ivhd,
                       ivhd10, ivrs, special)


def mapper(data: bytes, **kw) -> IvrsMapper:
    return IvrsMapper(api.decode(data).table, **kw)


def codes(data: bytes) -> dict[str, str]:
    return {f.code: f.severity for f in api.decode(data).warnings}


GOOD = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10)])])


# --- what makes Linux give up -------------------------------------------------------

def test_a_good_table_translates():
    assert mapper(GOOD).lookup(0x10).iommu == "iommu0_10h"
    assert "IVRS-CHECKSUM" not in codes(GOOD)


def test_wrong_checksum_no_amd_iommu_at_all():
    """early_amd_iommu_init -> check_ivrs_checksum: the bytes must sum to 0,
    else -ENODEV ('IVRS invalid checksum') and IOMMU_INIT_ERROR."""
    bad = bytearray(GOOD)
    bad[9] ^= 0x01
    m = mapper(bytes(bad))
    for rid in (0x10, 0x11, 0x2):
        r = m.lookup(rid)
        assert r.kind == "error" and r.reason == "ivrs-refused"
        assert "checksum" in r.detail
    found = [f for f in api.decode(bytes(bad)).warnings if f.code == "IVRS-CHECKSUM"]
    assert len(found) == 1 and found[0].severity == "error" and found[0].offset == 9


def test_a_compiled_table_has_no_checksum_to_be_wrong():
    table, _ = api.compile_description(api.load_description(
        "table: IVRS\nsubtables:\n- {type: ivhd_10h, device: '00:00.2', base_address: 1,"
        " devices: [{select: '00:02.0'}]}\n")[0])
    assert IvrsMapper(table).lookup(0x10).kind == "translated"


def test_a_block_of_the_chosen_type_selecting_no_id_refuses_the_table():
    """find_last_devid_from_ivhd starts at -EINVAL and only ALL, SELECT,
    RANGE END, ALIAS SELECT and EXT SELECT raise it: a chosen-type block with
    only a RANGE START and a SPECIAL entry makes alloc_pci_segment fail."""
    lonely = ivhd10(0, 0x4002, 0x2000, [dev4(START, 0x400), special(4, 0xA0, 1)])
    data = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10)]), lonely])
    r = mapper(data).lookup(0x10)
    assert r.kind == "error" and "iommu1_10h" in r.detail and "-EINVAL" in r.detail
    assert codes(data)["IVRS-NO-SELECTED-ID"] == "error"


def test_only_blocks_of_the_chosen_type_matter():
    """The same lonely block as type 10h while Linux picks 11h (the last
    type of the first DeviceId): init_iommu_all never reads it."""
    data = ivrs(0, [ivhd10(0, 2, 0x1000, []), ivhd(0x11, 0, 2, 0x1000, [dev4(SELECT, 0x10)])])
    m = mapper(data)
    assert m.chosen == 0x11 and m.lookup(0x10).iommu == "iommu0_11h"
    assert "IVRS-NO-SELECTED-ID" not in codes(data)


def test_unknown_special_variety_refuses_the_table():
    """add_special_device returns -EINVAL for a variety other than IOAPIC (1)
    or HPET (2); init_iommu_from_acpi passes it up."""
    data = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10), special(7, 0xA0, 3)])])
    r = mapper(data).lookup(0x10)
    assert r.kind == "error" and "variety 3" in r.detail
    assert codes(data)["IVRS-SPECIAL-VARIETY-FATAL"] == "error"
    other = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10), special(7, 0xA0, 3)]),
                     ivhd(0x11, 0, 2, 0x1000, [dev4(SELECT, 0x10)])])
    assert mapper(other).lookup(0x10).iommu == "iommu0_11h"
    assert codes(other)["IVRS-SPECIAL-VARIETY"] == "warning"


def test_a_zero_length_after_the_subtables_hangs_linux():
    """init_iommu_all: p += h->length; a Length of 0 never advances."""
    data = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10)]), bytes(4)])
    r = mapper(data).lookup(0x10)
    assert r.kind == "error" and "never advances" in r.detail


def test_an_unwalkable_entry_hangs_linux():
    """ivhd_entry_length gives 0 for a type >= 80h other than F0h."""
    data = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10), dev4(0x85, 0x20)])])
    r = mapper(data).lookup(0x10)
    assert r.kind == "error" and "0x85" in r.detail and "never advances" in r.detail


def test_an_ivhd_past_the_table_end():
    """A chosen-type block whose Length runs past the table: Linux walks its
    entries into the memory after the IVRS (init_iommu_all's WARN_ON)."""
    block = bytearray(ivhd10(0, 2, 0x1000, [dev4(SELECT, 0x10)]))
    struct.pack_into("<H", block, 2, len(block) + 8)
    data = ivrs(0, [bytes(block)])
    r = mapper(data).lookup(0x10)
    assert r.kind == "error" and "past the table end" in r.detail
    assert codes(data)["IVRS-IVHD-PAST-END"] == "error"


# --- aliases (amd/iommu.c setup_aliases, clone_aliases) ------------------------------

def machine(*devs: PciDevice) -> Topology:
    return Topology({bdf_key(d.segment, d.rid): d for d in devs})


ROOT_PORT = PciDevice(0, bdf("00:02.0"), pcie_type="root-port", secondary=3, subordinate=4)
# 03:00.0 issues DMA as 03:00.1 (what an IVRS alias tells Linux: "the IVRS
# table may know about a quirk that we don't"); 04:00.0 as 00:14.4.
ALIASED = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, bdf("00:02.0")),
                                           alias(ALIAS_SELECT, 0x300, 0x301),
                                           alias(ALIAS_SELECT, 0x400, 0xA4)])])


def test_same_bus_ivrs_alias_becomes_a_dma_alias_with_a_topology():
    """setup_aliases: 0x301 != 0x300 and bus 3 == bus 3 -> pci_add_dma_alias
    (devfn 1): pci_for_each_dma_alias yields 0x300, then 0x301; the root port
    adds nothing. 03:00.1 is then in 03:00.0's group (get_pci_alias_group)."""
    f0 = PciDevice(0, 0x300, parent="0000:00:02.0", pcie_type="endpoint")
    f1 = PciDevice(0, 0x301, parent="0000:00:02.0", pcie_type="endpoint")
    topo = machine(ROOT_PORT, f0, f1)
    m = IvrsMapper(api.decode(ALIASED).table, topology=topo)
    assert [a.rid for a in topo.dma_aliases(f0, m)] == [0x300, 0x301]
    assert [a.rid for a in topo.dma_aliases(f0)] == [0x300]          # no table, no alias
    r = topo.lookup(m, f0)
    assert (r.iommu, r.output_id, r.more_ids) == ("iommu0_10h", 0x300, (0x301,))
    assert not isinstance(r, TranslatedIf)
    assert [d.bdf for d, _ in topo.alias_partners(f0, m)] == ["0000:03:00.1"]
    assert [d.bdf for d, _ in topo.alias_partners(f1, m)] == ["0000:03:00.0"]
    assert topo.alias_partners(f0) == []


def test_an_alias_on_another_bus_is_no_dma_alias():
    """04:00.0 -> 00:14.4: bus 0 != bus 4, so no pci_add_dma_alias; the
    IVRS alias still gets the device's entry (clone_aliases)."""
    dev = PciDevice(0, 0x400, parent="0000:00:02.0", pcie_type="endpoint")
    topo = machine(ROOT_PORT, dev)
    m = IvrsMapper(api.decode(ALIASED).table, topology=topo)
    assert [a.rid for a in topo.dma_aliases(dev, m)] == [0x400]
    r = topo.lookup(m, dev)
    assert (r.iommu, r.output_id, r.more_ids) == ("iommu0_10h", 0x400, (0xA4,))


def test_without_a_topology_the_same_bus_alias_says_so():
    r = mapper(ALIASED).lookup(0x300)
    assert isinstance(r, TranslatedIf) and r.more_ids == (0x301,)
    assert "PCI DMA alias" in r.assumption


def test_the_devices_own_id_decides_not_its_bridge_alias():
    """rlookup_amd_iommu reads the device's own device ID: 02:01.0 behind a
    PCIe-to-PCI bridge is translated though nothing selects the bridge's
    alias 02:00.0; the alias is set up on the same IOMMU (clone_aliases)."""
    bridge = PciDevice(0, bdf("00:05.0"), pcie_type="pcie-to-pci-bridge", secondary=2,
                       subordinate=2)
    dev = PciDevice(0, bdf("02:01.0"), parent="0000:00:05.0")
    topo = machine(bridge, dev)
    data = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, bdf("00:05.0")),
                                           dev4(SELECT, bdf("02:01.0"))])])
    m = IvrsMapper(api.decode(data).table, topology=topo)
    assert m.lookup(0x200).kind == "bypass"
    r = topo.lookup(m, dev)
    assert (r.iommu, r.output_id, r.more_ids) == ("iommu0_10h", 0x208, (0x200,))


def test_reconcile_wants_alias_partners_in_one_group():
    """The kernel putting 03:00.0 and its IVRS DMA alias 03:00.1 in two
    groups contradicts get_pci_alias_group; one group agrees."""
    from acpitables import reconcile

    def snap(g0: str, g1: str) -> reconcile.Snapshot:
        devs = [PciDevice(0, bdf("00:02.0"), pcie_type="root-port", secondary=3,
                          subordinate=4, driver="pcieport", group="1"),
                PciDevice(0, 0x300, parent="0000:00:02.0", pcie_type="endpoint",
                          driver="x", group=g0),
                PciDevice(0, 0x301, parent="0000:00:02.0", pcie_type="endpoint",
                          driver="x", group=g1)]
        return reconcile.Snapshot(tables={"IVRS": ALIASED}, topology=machine(*devs),
                                  source="hand")
    split = {c.device: c for c in reconcile.reconcile(snap("5", "6")).checks}
    assert split["0000:03:00.0"].status == "disagree"
    assert "one IOMMU group" in split["0000:03:00.0"].why
    assert split["0000:03:00.0"].aliases == [0x300, 0x301]
    assert split["0000:00:02.0"].status == "agree"
    joined = reconcile.reconcile(snap("5", "5"))
    assert joined.ok, reconcile.render_text(joined)


# --- kernel command line --------------------------------------------------------------

def test_parse_cmdline_as_init_c_does():
    c = parse_cmdline("quiet ivrs_ioapic=4@00:14.0 ivrs_hpet[0]=0000:00:14.1 "
                      "ivrs_acpihid=AMDI0020:00@0001:00:14.5 ivrs_acpihid[00:14.6]=AMDI0030:1 "
                      "ivrs_ioapic=bad ivrs_acpihid=NOCOLON@00:01.0")
    assert c.ioapic == [(4, 0, 0xA0)]
    assert c.hpet == [(0, 0, 0xA1)]
    # "AMDI0020:00": leading zeros after ':' dropped (one digit kept)
    assert c.acpihid == [HidOverride("AMDI0020", "0", 1, 0xA5),
                         HidOverride("AMDI0030", "1", 0, 0xA6)]
    assert c.ignored == ["ivrs_ioapic=bad: Invalid command line",
                         "ivrs_acpihid=NOCOLON@00:01.0: hid or uid"]
    many = parse_cmdline(" ".join(f"ivrs_ioapic={i}@00:14.0" for i in range(5)))
    assert [i for i, _, _ in many.ioapic] == [0, 1, 2, 3]     # EARLY_MAP_SIZE 4
    assert many.ignored == ["ivrs_ioapic=4@00:14.0: map overflow (4 at most)"]


# iommu0 (00:00.2) selects 00:14.5 and lists AMDI0020 UID "0" at 00:14.5 and
# PNP0D40 without a UID at 00:08.1; iommu1 (40:00.2), the later block,
# selects 40:00.0.
HIDS = ivrs(0, [ivhd(0x40, 0, 2, 0x1000, [dev4(SELECT, 0xA5), dev4(SELECT, 0x41),
                                          hid(0xA5, b"AMDI0020", b"0", 2),
                                          hid(0x41, b"PNP0D40\0", b"", 0)]),
                ivhd(0x40, 0, 0x4002, 0x2000, [dev4(SELECT, 0x4000)])])


def test_acpi_hid_devices_without_a_command_line():
    m = mapper(HIDS)
    r = m.lookup_device("AMDI0020:0")
    assert (r.iommu, r.output_id) == ("iommu0_40h", 0xA5)
    assert m.lookup_device("AMDI0020:1").kind == "bypass"      # UIDs differ
    # an entry without a UID matches any _UID (acpi_dev_hid_uid_match(.., NULL))
    assert m.lookup_device("PNP0D40:7").output_id == 0x41


def test_ivrs_acpihid_moves_a_hid_device_to_another_iommu():
    """add_acpi_hid_device: the AMDI0020/0 entry takes 40:00.0 from the
    command line; its block points rlookup[0x4000] at iommu0, then iommu1's
    SELECT 40:00.0 (a later block) overwrites it: iommu1 translates it, as
    0x4000. Deprecated and current syntax mean the same."""
    for line in ("ivrs_acpihid=AMDI0020:0@40:00.0", "ivrs_acpihid[40:00.0]=AMDI0020:0"):
        r = mapper(HIDS, cmdline=line).lookup_device("AMDI0020:0")
        assert (r.iommu, r.output_id) == ("iommu1_40h", 0x4000), line
    # a HID only on the command line gets whatever IOMMU its ID has
    m = mapper(HIDS, cmdline="ivrs_acpihid=AMDI0099:5@00:08.1")
    assert (m.lookup_device("AMDI0099:5").iommu, m.lookup_device("AMDI0099:5").output_id) == \
        ("iommu0_40h", 0x41)
    assert m.lookup_device("AMDI0099:6").kind == "bypass"


def test_ivrs_ioapic_points_another_pci_id_at_the_iommu():
    """The SPECIAL entry of IOAPIC 4 (00:14.0) takes the command line's
    00:14.3 (add_special_device), and set_dev_entry_from_acpi points THAT ID
    at the block's IOMMU: 00:14.3 is translated, 00:14.0 no longer."""
    data = ivrs(0, [ivhd10(0, 2, 0x1000, [dev4(SELECT, 0xC0), special(4, 0xA0, 1)])])
    plain = mapper(data)
    assert plain.lookup(0xA0).iommu == "iommu0_10h" and plain.lookup(0xA3).kind == "bypass"
    moved = mapper(data, cmdline="ivrs_ioapic=4@00:14.3")
    assert moved.lookup(0xA3).iommu == "iommu0_10h" and moved.lookup(0xA0).kind == "bypass"
    # an HPET override does not touch an IOAPIC entry of the same number
    assert mapper(data, cmdline="ivrs_hpet=4@00:14.3").lookup(0xA0).iommu == "iommu0_10h"


def test_map_cmdline_on_the_command_line(tmp_path):
    from typer.testing import CliRunner
    from acpitables.cli import app

    path = tmp_path / "IVRS.bin"
    path.write_bytes(HIDS)
    run = CliRunner().invoke
    plain = run(app, ["map", str(path), "--device", "AMDI0020:0"], catch_exceptions=False)
    assert plain.exit_code == 0 and plain.stdout == "AMDI0020:0: translated by iommu0_40h, ID 0xA5\n"
    moved = run(app, ["map", str(path), "--device", "AMDI0020:0", "--cmdline",
                      "ro ivrs_acpihid[40:00.0]=AMDI0020:0"], catch_exceptions=False)
    assert moved.exit_code == 0, moved.output
    assert moved.stdout == "AMDI0020:0: translated by iommu1_40h, ID 0x4000\n"


@pytest.mark.parametrize("bad", [3, b"ivrs_ioapic=1@00:14.0"])
def test_cmdline_must_be_text(bad):
    from acpitables.errors import InputError
    with pytest.raises(InputError):
        mapper(GOOD, cmdline=bad)
