"""PCI topologies (acpitables/mapping/topology*.py): config-space reading,
Linux's DMA aliases (expected values worked by hand from
pci_for_each_dma_alias in drivers/pci/search.c), sysfs copies and lspci
text, and `map --topology`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from acpitables.errors import InputError
from acpitables.mapping.topology import PciDevice, Topology
from acpitables.mapping.topology_io import pcie_from_config, read_topology

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "topology"
# Taken by tools/iommu-snapshot.sh inside the QEMU 7.2 q35 guest of
# tests/guest/test_guest.py::test_1d (virtio-iommu; pxb-pcie bus 0x40, root
# port 40:00.0 -> bus 0x41, pcie-pci-bridge 41:00.0 -> bus 0x42,
# virtio-rng-pci at 42:01.0).
BRIDGED = DATA / "q35-pcie-pci-bridge.snapshot.tar.gz"


def config(vendor: int, device: int, *, bridge: bool = False, sec: int = 0, sub: int = 0,
           pcie_type: int | None = None, size: int = 256) -> bytes:
    """A configuration space written byte by byte (PCI 3.0 6.1; PCIe 7.5.3)."""
    c = bytearray(size)
    c[0:2], c[2:4] = vendor.to_bytes(2, "little"), device.to_bytes(2, "little")
    c[0x0E] = 1 if bridge else 0
    if bridge:
        c[0x19], c[0x1A] = sec, sub
    if pcie_type is not None:
        c[0x06] |= 0x10                 # Status: capability list
        c[0x34] = 0x50
        c[0x50], c[0x51] = 0x05, 0x60   # an MSI capability first, then ...
        c[0x60], c[0x61] = 0x10, 0x00   # ... PCI Express, last in the list
        c[0x62] = (pcie_type << 4) | 2
    return bytes(c)


def test_config_space_types_and_bus_numbers():
    assert pcie_from_config(config(0x1B36, 0x000E, bridge=True, sec=0x42, sub=0x42,
                                   pcie_type=7)) == ("pcie-to-pci-bridge", 0x42, 0x42)
    assert pcie_from_config(config(0x8086, 1, bridge=True, sec=1, sub=5, pcie_type=4)) == \
        ("root-port", 1, 5)
    assert pcie_from_config(config(0x8086, 2, pcie_type=0)) == ("endpoint", None, None)
    assert pcie_from_config(config(0x8086, 2)) == (None, None, None)
    # the first 64 bytes only (what a non-root reader gets): nothing known
    assert pcie_from_config(config(0x8086, 2)[:0x3F]) == (None, None, None)


def test_capability_loop_ends():
    c = bytearray(config(0x8086, 2, pcie_type=0))
    c[0x50], c[0x51] = 0x05, 0x50       # points at itself, no PCIe capability reached
    assert pcie_from_config(bytes(c)) == (None, None, None)


def topo(*devs: PciDevice) -> Topology:
    t = Topology(devices={d.bdf: d for d in devs})
    t.link_parents()
    return t


def rids(t: Topology, bdf: str) -> list[int]:
    return [a.rid for a in t.dma_aliases(t.devices[bdf])]


def rp(bus_rid: int, sec: int, sub: int) -> PciDevice:
    return PciDevice(0, bus_rid, 0x8086, 0x1234, 0x060400, pcie_type="root-port",
                     secondary=sec, subordinate=sub)


def test_behind_pcie_to_pci_bridge_the_secondary_bus_alias():
    # root port 00:1c.0 -> bus 1; PCIe-to-PCI bridge 01:00.0 -> bus 2;
    # function 02:03.0 = 0x0218: own ID, then bus 2 devfn 0 = 0x0200
    t = topo(rp(0xE0, 1, 2),
             PciDevice(0, 0x0100, 0x1B36, 0x000E, 0x060400, pcie_type="pcie-to-pci-bridge",
                       secondary=2, subordinate=2),
             PciDevice(0, 0x0218, 0x1AF4, 0x1005, 0x00FF00))
    assert rids(t, "0000:02:03.0") == [0x0218, 0x0200]
    assert rids(t, "0000:01:00.0") == [0x0100]      # the ports forward the bridge's own


def test_behind_a_conventional_bridge_the_bridges_own_id():
    # a PCI-to-PCI bridge without a PCIe capability at 00:1e.0 (0x00F0),
    # secondary bus 5: function 05:01.0 = 0x0508 -> then 0x00F0
    t = topo(PciDevice(0, 0xF0, 0x10B5, 0x8111, 0x060400, secondary=5, subordinate=5),
             PciDevice(0, 0x0508, 0x1000, 0x0001, 0x020000))
    assert rids(t, "0000:05:01.0") == [0x0508, 0x00F0]


def test_quirk_bridge_aliases_like_a_pcie_to_pci_bridge():
    # Intel 82801 PCI bridge (8086:244e), no PCIe capability, quirked with
    # PCI_DEV_FLAG_PCIE_BRIDGE_ALIAS: secondary bus 6, devfn 0
    t = topo(PciDevice(0, 0xF0, 0x8086, 0x244E, 0x060401, secondary=6, subordinate=6),
             PciDevice(0, 0x0610, 0x1000, 0x0001, 0x020000))
    assert rids(t, "0000:06:02.0") == [0x0610, 0x0600]


def test_nested_bridges_in_walk_order():
    # root port 00:01.0 -> 1..3; PCIe-to-PCI 01:00.0 -> 2..3; conventional
    # bridge 02:04.0 (0x0220) -> 3; function 03:05.1 = 0x0329
    t = topo(rp(0x08, 1, 3),
             PciDevice(0, 0x0100, 0x1B36, 0x000E, 0x060400, pcie_type="pcie-to-pci-bridge",
                       secondary=2, subordinate=3),
             PciDevice(0, 0x0220, 0x3388, 0x0021, 0x060400, secondary=3, subordinate=3),
             PciDevice(0, 0x0329, 0x1000, 0x0001, 0x020000))
    assert rids(t, "0000:03:05.1") == [0x0329, 0x0220, 0x0200]


def test_pci_to_pcie_bridge_uses_its_own_id():
    t = topo(PciDevice(0, 0x10, 0x8086, 0x9999, 0x060400, pcie_type="pci-to-pcie-bridge",
                       secondary=7, subordinate=7),
             PciDevice(0, 0x0700, 0x1000, 0x0001, 0x020000, pcie_type="endpoint"))
    assert rids(t, "0000:07:00.0") == [0x0700, 0x0010]


def test_function_alias_quirks():
    # Marvell 88SE9230 (1b4b:9230): quirk_dma_func1_alias, 03:00.0 -> 03:00.1
    t = topo(PciDevice(0, 0x0300, 0x1B4B, 0x9230, 0x010601, pcie_type="endpoint"))
    assert rids(t, "0000:03:00.0") == [0x0300, 0x0301]
    # Adaptec 9005:0285: quirk_fixed_dma_alias, devfn 01.0 whatever its own
    t = topo(PciDevice(0, 0x0410, 0x9005, 0x0285, 0x010400))
    assert rids(t, "0000:04:02.0") == [0x0410, 0x0408]


def test_the_guest_snapshot_topology():
    t = read_topology(str(BRIDGED))
    br = t.devices["0000:41:00.0"]
    assert (br.vendor, br.device, br.pcie_type, br.secondary) == (0x1B36, 0x000E,
                                                                 "pcie-to-pci-bridge", 0x42)
    assert t.devices["0000:40:00.0"].pcie_type == "root-port"
    fn = t.devices["0000:42:01.0"]
    assert fn.parent == "0000:41:00.0" and fn.driver == "virtio-pci" and fn.group is None
    assert rids(t, "0000:42:01.0") == [0x4208, 0x4200]
    assert rids(t, "0000:00:02.0") == [0x0010]
    assert not t.notes


def test_the_issue_case_through_lookup_aliases(tmp_path):
    from acpitables import api
    from acpitables.mapping.acpi import for_table
    with tarfile.open(BRIDGED) as tf:
        viot = tf.extractfile("acpitables-snapshot/tables/VIOT").read()
    t = read_topology(str(BRIDGED))
    m = for_table(api.decode(viot).table)
    # The table alone: one ID, the function's own.
    assert m.lookup(0x4208).output_id == 0x4208
    r = t.lookup(m, t.devices["0000:42:01.0"])
    assert (r.output_id, r.more_ids) == (0x4208, (0x4200,))


def test_a_sysfs_copy_as_a_folder(tmp_path):
    base = tmp_path / "devices"
    for bdf, cfg, cls in (("0000:00:1c.0", config(0x8086, 0x1234, bridge=True, sec=1, sub=2,
                                                     pcie_type=4), "0x060400"),
                          ("0000:01:00.0", config(0x1B36, 0x000E, bridge=True, sec=2, sub=2,
                                                  pcie_type=7), "0x060400"),
                          ("0000:02:03.0", config(0x1AF4, 0x1005), "0x00ff00")):
        d = base / bdf
        d.mkdir(parents=True)
        (d / "config").write_bytes(cfg)
        (d / "vendor").write_text(f"0x{cfg[1]:02x}{cfg[0]:02x}\n")
        (d / "device").write_text(f"0x{cfg[3]:02x}{cfg[2]:02x}\n")
        (d / "class").write_text(cls + "\n")
    os.symlink("../../../bus/pci/drivers/virtio-pci", base / "0000:02:03.0" / "driver")
    t = read_topology(str(base))
    assert t.devices["0000:02:03.0"].driver == "virtio-pci"
    assert rids(t, "0000:02:03.0") == [0x0218, 0x0200]


LSPCI_TV = """\
-[0000:00]-+-00.0  Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller
           +-01.0  Red Hat, Inc. Virtio IOMMU
           +-1c.0-[01-02]----00.0-[02]----03.0  Red Hat, Inc. Virtio RNG
           +-1d.0-[03-04]--+-00.0  Red Hat, Inc. Virtio RNG
           |               \\-00.1-[04]----02.0  Red Hat, Inc. Virtio RNG
           \\-1f.3  Intel Corporation 82801I (ICH9 Family) SMBus Controller
"""
LSPCI_VMM_NN = """\
Slot:\t0000:00:1c.0
Class:\tPCI bridge [0604]
Vendor:\tRed Hat, Inc. [1b36]
Device:\tQEMU PCIe Root port [000c]

Slot:\t0000:01:00.0
Class:\tPCI bridge [0604]
Vendor:\tRed Hat, Inc. [1b36]
Device:\tQEMU PCIe-to-PCI bridge [000e]

Slot:\t0000:02:03.0
Class:\tUnclassified device [00ff]
Vendor:\tRed Hat, Inc. [1af4]
Device:\tVirtio RNG [1005]
SVendor:\tRed Hat, Inc. [1af4]
SDevice:\tDevice [0004]
Driver:\tvirtio-pci
"""


def test_lspci_tree_alone(tmp_path):
    p = tmp_path / "tv.txt"
    p.write_text(LSPCI_TV)
    t = read_topology(str(p))
    assert t.devices["0000:02:03.0"].parent == "0000:01:00.0"
    assert t.devices["0000:01:00.0"].parent == "0000:00:1c.0"
    assert t.devices["0000:04:02.0"].parent == "0000:03:00.1"
    assert t.devices["0000:03:00.0"].parent == "0000:00:1d.0"
    assert t.devices["0000:00:1f.3"].parent is None
    assert t.devices["0000:02:03.0"].name == "Red Hat, Inc. Virtio RNG"
    # -tv names no bridge: no alias, and a note saying so
    assert rids(t, "0000:02:03.0") == [0x0218]
    assert any("bridge type not known" in n for n in t.notes)


def test_lspci_vmm_and_tree_together(tmp_path):
    p = tmp_path / "both.txt"
    p.write_text(LSPCI_VMM_NN + "\n" + LSPCI_TV)
    t = read_topology(str(p))
    fn = t.devices["0000:02:03.0"]
    assert (fn.vendor, fn.device, fn.driver, fn.cls) == (0x1AF4, 0x1005, "virtio-pci", 0x00FF00)
    assert t.devices["0000:01:00.0"].pcie_type == "pcie-to-pci-bridge"
    assert rids(t, "0000:02:03.0") == [0x0218, 0x0200]


def test_lspci_vmm_alone_has_no_tree(tmp_path):
    p = tmp_path / "vmm.txt"
    p.write_text(LSPCI_VMM_NN)
    t = read_topology(str(p))
    assert sorted(t.devices) == ["0000:00:1c.0", "0000:01:00.0", "0000:02:03.0"]
    assert rids(t, "0000:02:03.0") == [0x0218]
    assert any("no tree" in n for n in t.notes)


def test_not_a_topology(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello\n")
    with pytest.raises(InputError):
        read_topology(str(p))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        read_topology(str(empty))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from acpitables.cli import run; run()", *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_map_topology_cli(tmp_path):
    with tarfile.open(BRIDGED) as tf:
        (tmp_path / "VIOT").write_bytes(tf.extractfile("acpitables-snapshot/tables/VIOT").read())
    run = cli("map", str(tmp_path / "VIOT"), "--topology", str(BRIDGED), "--rid", "42:01.0",
              "-f", "json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)["devices"][0]
    assert (out["device"], out["output_id"], out["more_ids"]) == ("0000:42:01.0", 0x4208, [0x4200])
    assert [a["rid"] for a in out["dma_aliases"]] == [0x4208, 0x4200]
    run = cli("map", str(tmp_path / "VIOT"), "--topology", str(BRIDGED))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 10
    assert any(l.startswith("0000:42:01.0 [1af4:1005]: translated") and "0x4200" in l
               for l in lines), run.stdout
    run = cli("map", str(tmp_path / "VIOT"), "--topology", str(tmp_path / "nope"))
    assert run.returncode == 1 and "error" in run.stderr
