"""The tables QEMU generated for the guest suite (tests/guest/data: QEMU 11.1
RIMT, QEMU 7.2 DMAR and IVRS, dumped from /sys/firmware/acpi/tables inside
the guests) decode, and their descriptions build back to the same bytes;
the mapper answers for every function the guest saw, and a translated
function is one the guest put in an IOMMU group (tests/guest compares the
groups themselves with reconcile)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from acpitables import api
from acpitables.mapping import for_table
from acpitables.engine.pci import parse_bdf

DATA = Path(__file__).resolve().parent / "guest" / "data"
TABLES = sorted(DATA.glob("*/*.bin"))


@pytest.mark.parametrize("path", TABLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_qemu_guest_table_round_trips(path):
    data = path.read_bytes()
    decoded = api.decode(data)
    assert decoded.table.signature == path.stem
    assert not [f for f in decoded.warnings if f.severity == "error"], decoded.warnings
    rebuilt = api.build(api.describe(decoded)).data
    assert rebuilt == data


@pytest.mark.parametrize("path", TABLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_translated_functions_have_a_group_in_the_guest(path):
    mapper = for_table(api.decode(path.read_bytes()).table)
    groups = json.loads((path.parent / "groups.json").read_text())["devices"]
    translated = 0
    for bdf, seen in groups.items():
        segment, rid = parse_bdf(bdf)
        result = mapper.lookup(rid, segment or 0)
        if result.kind == "translated" and seen["driver"]:
            translated += 1
            assert seen["group"] is not None, f"{bdf}: {result}, but no group in the guest"
    assert translated, "no probed function is translated: the guest data says nothing"


def test_dmar_bridge_scopes_follow_the_machines_topology():
    """QEMU 7.2's DMAR lists root-bus functions only: 00:04.0 (a root port)
    and 00:05.0 (a pcie-pci-bridge) as BRIDGE scopes. Which buses sit behind
    them only the machine's topology says; given it (as reconcile passes a
    snapshot's), the functions behind them are translated by the unit, as the
    guest's groups show (Linux dmar_find_matched_drhd_unit: a scope device
    whose subordinate range holds the device's bus)."""
    from acpitables.mapping.topology import PciDevice, Topology, bdf_key

    table = api.decode((DATA / "q35-intel-iommu" / "DMAR.bin").read_bytes()).table
    devs = [PciDevice(0, 0x0020, pcie_type="root-port", secondary=1, subordinate=1),
            PciDevice(0, 0x0028, pcie_type="pcie-to-pci-bridge", secondary=2, subordinate=2),
            PciDevice(0, 0x0100, parent="0000:00:04.0"),
            PciDevice(0, 0x0208, parent="0000:00:05.0")]
    machine = Topology({bdf_key(d.segment, d.rid): d for d in devs})
    without, with_topology = for_table(table), for_table(table, machine)
    for rid in (0x0100, 0x0208):
        assert without.lookup(rid).kind != "translated"      # unknown without topology
        assert with_topology.lookup(rid).kind == "translated", with_topology.lookup(rid)
        assert with_topology.lookup(rid).iommu == "drhd0"
    assert with_topology.lookup(0x0300).kind == "bypass"     # bus 3: behind no scope


LSPCI_TV = """\
-[0000:00]-+-00.0  Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller
           +-04.0-[01]----00.0  Red Hat, Inc. Virtio RNG
           +-05.0-[02]----01.0  Red Hat, Inc. Virtio RNG
           \\-1f.0  Intel Corporation 82801IB (ICH9) LPC Interface Controller
"""


def test_map_topology_reaches_the_dmar_engine_from_the_cli(tmp_path):
    """`map --topology` hands the machine to the DMAR engine: behind the
    scoped bridges 00:04.0 and 00:05.0 the guest's functions are translated
    by drhd0 (the guest's groups say so); without it the answer is a bypass
    that says which assumption a topology would change."""
    from typer.testing import CliRunner
    from acpitables.cli import app

    tv = tmp_path / "lspci-tv.txt"
    tv.write_text(LSPCI_TV)
    dmar = str(DATA / "q35-intel-iommu" / "DMAR.bin")
    run = CliRunner().invoke
    both = run(app, ["map", dmar, "--topology", str(tv)], catch_exceptions=False)
    assert both.exit_code == 0, both.output
    lines = dict(line.split(": ", 1) for line in both.stdout.splitlines())
    assert lines["0000:01:00.0 Red Hat, Inc. Virtio RNG"] == "translated by drhd0, ID 0x100"
    assert lines["0000:02:01.0 Red Hat, Inc. Virtio RNG"] == "translated by drhd0, ID 0x208"
    one = run(app, ["map", dmar, "--topology", str(tv), "--rid", "02:01.0"])
    assert "translated by drhd0, ID 0x208" in one.stdout
    alone = run(app, ["map", dmar, "--rid", "02:01.0"])
    assert alone.stdout.startswith("0000:02:01.0 (RID 0x0208): bypass")
    assert "assuming no device is behind bridge 00:04.0" in alone.stdout
    every = run(app, ["map", dmar, "--all"]).stdout.splitlines()
    assert every[-1].split()[:2] == ["0x0100..0xffff", "01:00.0..ff:1f.7"], every[-1]
    assert "(assuming no device is behind bridge 00:04.0" in every[-1]
    assert "no device is behind bridge 00:05.0" in every[-1]


def test_export_dt_says_what_the_map_cannot():
    """iommu-map carries one ID per RID and no assumptions: export-dt of
    QEMU's DMAR notes that buses behind its bridge scopes are taken as
    empty, and of its IVRS that 02:xx (behind the pcie-pci-bridge) is also
    set up with alias 0x200 -- as comments, so the .dts still compiles."""
    from acpitables.mapping import dt

    def notes(name: str) -> list[str]:
        table = api.decode((DATA / name).read_bytes()).table
        return dt.export_dt(for_table(table)).notes

    dmar = notes("q35-intel-iommu/DMAR.bin")
    assert len(dmar) == 1 and dmar[0].startswith("segment 0 0000:01:00.0..0000:ff:1f.7: the "
                                                 "answer assumes no device is behind bridge 00:04.0")
    ivrs = notes("q35-amd-iommu/IVRS.bin")
    assert "segment 0 0000:02:00.1..0000:02:1f.7: Linux also sets up ID(s) 0x200, which " \
           "iommu-map cannot say" in ivrs
    text = dt.render_dts(dt.export_dt(for_table(api.decode(
        (DATA / "q35-intel-iommu/DMAR.bin").read_bytes()).table)), "DMAR.bin")
    assert text.splitlines()[1] == f"/* {dmar[0]} */"


def test_ivrs_alias_range_answers_per_function():
    """QEMU's IVRS aliases 02:00.0..02:1f.7 (behind the pcie-pci-bridge
    00:05.0) to 02:00.0 (ALIAS START/END). 02:00.0 is its own alias: one ID,
    no assumption. The others are set up with their own ID and 0x200, which
    map --all says for the span, with the assumption it rests on."""
    from typer.testing import CliRunner
    from acpitables.cli import app

    ivrs = str(DATA / "q35-amd-iommu" / "IVRS.bin")
    run = CliRunner().invoke
    own = run(app, ["map", ivrs, "--rid", "02:00.0"]).stdout
    assert own == "0000:02:00.0 (RID 0x0200): translated by iommu0_10h, ID 0x200\n"
    other = run(app, ["map", ivrs, "--rid", "02:03.0"]).stdout
    assert other.startswith("0000:02:03.0 (RID 0x0218): translated by iommu0_10h, ID 0x218 "
                            "and 0x200 (assuming the IOMMU sees alias 02:00.0")
    span = [line for line in run(app, ["map", ivrs, "--all"]).stdout.splitlines()
            if line.split()[0] == "0x0201..0x02ff"]
    assert span and span[0].split("  ", 3)[3].startswith(
        "-> iommu0_10h 0x201..0x2ff and 0x200 (assuming the IOMMU sees alias 02:00.0"), span
