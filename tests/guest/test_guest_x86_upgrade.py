"""Issue 13's last proof: our own DMAR and IVRS, narrowed, handed to a Linux
guest by initrd table upgrade (drivers/acpi/tables.c acpi_table_upgrade:
an uncompressed cpio first in the initrd, tables under
kernel/firmware/acpi/; a table replaces the firmware's one of the same
signature, OEM ID and OEM table ID when its OEM revision is higher), and
the guest follows ours, not QEMU's.

Each case starts from the table QEMU 7.2 generated for a machine of
test_guest_iommus (its reference data), edits entries by hand (the edit is
written out below and in tests/guest/data/<case>/<TABLE>.yaml, which this
checks), boots that machine with our table as an upgrade, and checks

- the guest's /sys/firmware/acpi/tables/<TABLE> is ours, byte for byte;
- which functions have an IOMMU group (and on which IOMMU) is what we
  worked out by hand from the Linux source, and differs from QEMU's
  table's boot exactly for the functions the edit took away;
- which functions share a group is QEMU's boot's partition, cut to the
  functions still translated (grouping is the kernel's, not the table's);
- `acpitables reconcile` on the guest's snapshot finds no disagreement
  (but for a gap a case names), and the mapper, given the guest's PCI
  topology, says the same as the hand-worked answer for every function.

The guest's output is saved in tests/guest/data/<case>/ (written by
`PYTHONPATH=$PWD python3 -m tests.guest.test_guest_x86_upgrade write`),
so the unmarked tests below check the same facts without QEMU.
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from acpitables import api, reconcile
from acpitables.engine.pci import parse_bdf
from acpitables.mapping import for_table
from acpitables.mapping.topology_io import load_tree

from . import harness
from . import test_guest_iommus as iommus

DATA = Path(__file__).parent / "data"
UPGRADE_WORDS = iommus.DMESG_WORDS + ("upgrade", "ivrs", "scope")


@dataclass(frozen=True)
class Case:
    name: str                 # tests/guest/data/<name>/
    base: str                 # the test_guest_iommus machine whose QEMU table we edit
    table: str
    # (QEMU's entry, ours or None: left out), in the description's words
    edits: tuple[tuple[dict, dict | None], ...]
    # Worked by hand from Linux 6.12: BDF -> the /sys/class/iommu unit it is
    # attached to; every other function of the machine has no group.
    translated: dict[str, str]
    iommu_unit: str | None    # the table's name for that unit (the mapper's answer)
    dmesg: tuple[str, ...]    # kernel messages that must appear (regular expressions)
    refused: str = ""         # the mapper's MapError reason when Linux translates nothing
    # Probed functions where reconcile disagrees with the guest because the
    # mapper cannot know better yet (a known gap, named in the case).
    known_gap: tuple[str, ...] = ()

    @property
    def data(self) -> Path:
        return DATA / self.name

    @property
    def machine(self) -> iommus.Machine:
        return iommus.BY_NAME[self.base]

    @property
    def saved(self) -> iommus.Machine:
        """The machine under this case's name, for test_guest_iommus.write."""
        m = self.machine
        return iommus.Machine(self.name, m.arch, m.args, m.table)


CASES = [
    # intel-iommu with interrupt remapping on (QEMU's q35-intel-iommu). The
    # DRHD keeps its IOAPIC scope so that only DMA translation changes:
    # without it the guest still boots (one CPU, xAPIC) but turns remapping
    # off ("ioapic 0 has no mapping iommu, interrupt remapping will be
    # disabled", seen here). No unit has INCLUDE_PCI_ALL, so a function that no
    # scope lists and that no listed bridge is above has no IOMMU
    # (iommu.c device_lookup_iommu returns NULL, intel_iommu_probe_device
    # -ENODEV: no group). 00:04.0 is the root port above 01:00.0.
    Case("q35-intel-iommu-narrowed", "q35-intel-iommu", "DMAR",
         edits=(({"endpoint": "00:03.0"}, None), ({"bridge": "00:04.0"}, None)),
         translated={b: "dmar0" for b in ("0000:00:00.0", "0000:00:05.0", "0000:00:06.0",
                                          "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3",
                                          "0000:02:01.0")},
         iommu_unit="drhd0",
         dmesg=(r"Table Upgrade: override \[DMAR-BOCHS -BXPC    \]",
                r"DMAR-IR: Enabled IRQ remapping")),
    # The same, narrowed the naive way: the pcie-pci-bridge 00:05.0 listed
    # as an ENDPOINT scope ("the bridge, not what is behind it"). Linux's
    # dmar_insert_dev_scope rejects the mismatch ("Device scope type does
    # not match"), dmar_dev_scope_init returns the error and
    # intel_iommu_init gives up: no function is translated and no unit is
    # registered, while interrupt remapping (set up before) stays on.
    Case("q35-intel-iommu-endpoint-bridge", "q35-intel-iommu", "DMAR",
         edits=(({"bridge": "00:05.0"}, {"endpoint": "00:05.0"}),),
         translated={}, iommu_unit=None,
         dmesg=(r"Table Upgrade: override \[DMAR-BOCHS -BXPC    \]",
                r"Device scope type does not match for 0000:00:05\.0",
                r"DMAR-IR: Enabled IRQ remapping"),
         refused="dmar-refused"),
    # The opposite mismatch: the virtio-rng 00:03.0 (normal header, class
    # 00ff00) as a BRIDGE scope. Linux fails it the same way (a normal
    # header passes as a bridge only with a bridge class, 06xxh); the
    # mapper reads the class from the guest's topology.
    Case("q35-intel-iommu-bridge-endpoint", "q35-intel-iommu", "DMAR",
         edits=(({"endpoint": "00:03.0"}, {"bridge": "00:03.0"}),),
         translated={}, iommu_unit=None,
         dmesg=(r"Table Upgrade: override \[DMAR-BOCHS -BXPC    \]",
                r"Device scope type does not match for 0000:00:03\.0"),
         refused="dmar-refused"),
    # amd-iommu: the SELECTs of 00:03.0 and 00:04.0 and the range of bus 1
    # left out. Their device IDs stay below the highest one the IVHD lists
    # (02:1f.7, the alias range kept last), so Linux's per-ID tables cover
    # them: rlookup holds no IOMMU for them, amd iommu.c check_device
    # fails, no group. The IOAPIC's special entry stays, for the same reason
    # as the DMAR's IOAPIC scope (without it: "IOAPIC[0] not in IVRS table",
    # "Disabling interrupt remapping", and the same groups; seen here).
    Case("q35-amd-iommu-narrowed", "q35-amd-iommu", "IVRS",
         edits=(({"select": "00:03.0"}, None), ({"select": "00:04.0"}, None),
                ({"range": ["01:00.0", "01:1f.7"]}, None)),
         translated={b: "ivhd0" for b in ("0000:00:00.0", "0000:00:05.0", "0000:00:1f.0",
                                          "0000:00:1f.2", "0000:00:1f.3", "0000:02:01.0")},
         iommu_unit="iommu0_10h",
         dmesg=(r"Table Upgrade: override \[IVRS-BOCHS -BXPC    \]",
                r"AMD-Vi: Interrupt remapping enabled")),
]
BY_NAME = {c.name: c for c in CASES}
IDS = [c.name for c in CASES]


def _entries(desc: dict) -> list[list[dict]]:
    """The entry lists an edit works on: DMAR scopes, IVRS device entries."""
    if desc["table"] == "DMAR":
        return [s["scopes"] for s in desc["structures"] if "scopes" in s]
    return [s["devices"] for s in desc["subtables"] if "devices" in s]


def edited_qemu_description(case: Case) -> dict:
    """QEMU's table (the base machine's reference data) decoded, with the
    case's edits and OEM revision + 1."""
    qemu = (case.machine.data / f"{case.table}.bin").read_bytes()
    desc = json.loads(json.dumps(api.describe(api.decode(qemu))))
    for old, new in case.edits:
        hits = [(lst, i) for lst in _entries(desc) for i, e in enumerate(lst) if e == old]
        assert len(hits) == 1, f"{case.name}: QEMU's {case.table} has {old} {len(hits)} times"
        lst, i = hits[0]
        if new is None:
            del lst[i]
        else:
            lst[i] = new
    desc["oem_revision"] = desc["oem_revision"] + 1
    return desc


def ours(case: Case) -> api.Built:
    path = case.data / f"{case.table}.yaml"
    return api.build(path.read_text(), filename=str(path))


def _partition(groups: dict[str, str | None]) -> set[frozenset[str]]:
    """Which functions share a group (the kernel's numbers are probe order)."""
    by: dict[str, set[str]] = {}
    for bdf, g in groups.items():
        if g is not None:
            by.setdefault(str(g), set()).add(bdf)
    return {frozenset(s) for s in by.values()}


def check_guest(case: Case, devices: dict, iommu_devices: dict, dmesg: list[str],
                snapshot: bytes, table: bytes) -> list[str]:
    """Every claim of the module docstring about one boot (a live one or
    the saved one); returns the reconcile lines for the record."""
    assert table == ours(case).data, f"{case.name}: the guest did not take our {case.table}"
    for pattern in case.dmesg:
        assert any(re.search(pattern, line) for line in dmesg), \
            f"{case.name}: no kernel message /{pattern}/:\n" + "\n".join(dmesg)
    base = json.loads((case.machine.data / "groups.json").read_text())["devices"]
    assert sorted(devices) == sorted(base), f"{case.name}: the machine's functions changed"
    # The IOMMU's own function (amd-iommu's 00:01.0) has no group in either boot.
    own = {b for b, d in base.items() if d["group"] is None and b in iommu_devices.values()}
    for bdf, seen in devices.items():
        want = case.translated.get(bdf)
        assert (seen["group"] is not None) == (want is not None), (
            f"{case.name}: {bdf} group {seen['group']}, worked out: "
            + (f"translated by {want}" if want else "none"))
        assert seen["iommu"] == want, f"{case.name}: {bdf} on {seen['iommu']}, not {want}"
        # Left to direct DMA, not blocked: the same driver binds as with QEMU's table.
        assert seen["driver"] == base[bdf]["driver"], f"{case.name}: {bdf} {seen}"
    # The edit is visible: every function QEMU's table translated and ours
    # does not is one the edit took away (its group is gone), the rest keep it.
    lost = {b for b, d in base.items() if d["group"] is not None and b not in case.translated}
    assert lost, f"{case.name}: the edit changes nothing the guest shows"
    assert not {b for b in case.translated if base[b]["group"] is None}, case.name
    want_part = _partition({b: base[b]["group"] for b in case.translated})
    got_part = _partition({b: d["group"] for b, d in devices.items()})
    assert got_part == want_part, f"{case.name}: groups {got_part}, QEMU's boot cut: {want_part}"
    if case.iommu_unit is None:
        assert not iommu_devices, f"{case.name}: units registered: {iommu_devices}"
    # reconcile on the guest's own snapshot, and the mapper with its topology.
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as fh:
        fh.write(snapshot)
        fh.flush()
        snap = reconcile.snapshot_from_tree(load_tree(fh.name), case.name)
    assert snap.tables.get(case.table) == table, f"{case.name}: snapshot's {case.table}"
    rec = reconcile.reconcile(snap)
    lines = [f"{c.device}: {c.status}: kernel {c.kernel}; tables {c.tables}" for c in rec.checks]
    assert sorted(c.device for c in rec.disagreements) == sorted(case.known_gap), (
        f"{case.name}:\n" + reconcile.render_text(rec))
    if case.known_gap:
        return lines
    m = for_table(api.decode(table).table, snap.topology)
    for bdf in devices:
        segment, rid = parse_bdf(bdf)
        got = m.lookup(rid, segment or 0)
        if bdf in case.translated:
            assert got.kind == "translated" and got.iommu == case.iommu_unit, (bdf, str(got))
        elif case.refused:
            assert got.kind == "error" and got.reason == case.refused, (bdf, str(got))
        elif bdf in own:
            assert got.kind == "bypass" and got.reason == "self", (bdf, str(got))
        else:
            assert got.kind == "bypass" and got.reason == "no-match", (bdf, str(got))
    return lines


# ---- without QEMU: the descriptions and the saved boots -----------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_our_table_is_qemus_with_the_edit(case):
    """The YAML we hand the guest is QEMU's table with exactly the edit
    written above (same OEM IDs, OEM revision 2 > 1: an upgrade, not an
    addition), and builds to the bytes the guest read back."""
    built = ours(case)
    assert built.data == api.build(edited_qemu_description(case)).data, case.name
    assert built.data[24:28] == (2).to_bytes(4, "little")
    qemu = (case.machine.data / f"{case.table}.bin").read_bytes()
    assert built.data[10:24] == qemu[10:24] and built.data[:4] == qemu[:4]
    saved = case.data / f"{case.table}.aml"
    if not saved.exists():
        pytest.fail(f"no saved boot in {case.data}: run "
                    f"'python3 -m tests.guest.test_guest_x86_upgrade write {case.name}'")
    assert saved.read_bytes() == built.data, f"{saved} is not what {case.table}.yaml builds"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_saved_boot_follows_our_table(case):
    """The saved guest output (tests/guest/data/<case>/) against every claim,
    reconcile and the mapper included."""
    d = case.data
    assert json.loads((d / "qemu-args.json").read_text()) == list(case.machine.args), (
        f"{case.name}: {case.base}'s definition changed; rewrite this case's data")
    saved = json.loads((d / "groups.json").read_text())
    dmesg = (d / "dmesg.txt").read_text().splitlines()
    check_guest(case, saved["devices"], saved["iommus"], dmesg,
                (d / "snapshot.tar.gz").read_bytes(), (d / f"{case.table}.aml").read_bytes())


# The rule the endpoint-bridge guest showed, worked by hand on other tables
# (Linux dmar_pci_bus_add_dev: for each existing device, the scoped units in
# list order -- the later table entry first -- and in each its scopes in
# order; the first scope whose path names the device decides, and a type
# mismatch there fails the whole device scope init). Machine: root port
# 00:1c.0 (secondary bus 1) with 01:00.0 behind it, and 00:02.0.

def _dmar(structures: str, topology=True):
    from acpitables.mapping.dmar import DmarMapper
    from acpitables.mapping.pcitopo import Bridge, Topology
    table, _ = api.compile_description(api.load_description(
        "table: DMAR\nwidth: 0x26\nlenient: true\nstructures:\n" + structures)[0])
    topo = Topology([Bridge(0x1C << 3, 1, 1)], {0: {0x10, 0x1C << 3, 0x100}})
    return DmarMapper(table, topo if topology else None)


@pytest.mark.parametrize("structures, refused", [
    # the bridge as an ENDPOINT scope: VT-d translates nothing
    ("- {type: drhd, name: A, address: 0x1000, scopes: [{endpoint: '00:1c.0'}]}\n", True),
    # the same after a correct scope of another device
    ("- {type: drhd, name: A, address: 0x1000, scopes: [{endpoint: '00:02.0'}, "
     "{endpoint: '00:1c.0'}]}\n", True),
    # a correct scope first in the same unit decides
    ("- {type: drhd, name: A, address: 0x1000, scopes: [{bridge: '00:1c.0'}, "
     "{endpoint: '00:1c.0'}]}\n", False),
    # two units: the later one is searched first and takes the device
    ("- {type: drhd, name: A, address: 0x1000, scopes: [{endpoint: '00:1c.0'}]}\n"
     "- {type: drhd, name: B, address: 0x2000, scopes: [{bridge: '00:1c.0'}]}\n", False),
    ("- {type: drhd, name: A, address: 0x1000, scopes: [{bridge: '00:1c.0'}]}\n"
     "- {type: drhd, name: B, address: 0x2000, scopes: [{endpoint: '00:1c.0'}]}\n", True),
    # a scope naming no device of the machine decides nothing
    ("- {type: drhd, name: A, address: 0x1000, scopes: [{endpoint: '00:1d.0'}, "
     "{bridge: '00:1c.0'}]}\n", False),
])
def test_an_endpoint_scope_naming_a_bridge_turns_vtd_off(structures, refused):
    m = _dmar(structures)
    for rid in (0x10, 0x1C << 3, 0x100):
        got = m.lookup(rid)
        if refused:
            assert got.kind == "error" and got.reason == "dmar-refused", str(got)
            assert "Device scope type does not match" in got.detail
        else:
            assert got.kind != "error", str(got)
    if not refused:
        assert m.lookup(0x100).kind == "translated"     # behind the bridge scope
    # Without a topology nothing says 00:1c.0 is a bridge: no refusal.
    assert _dmar(structures, topology=False).lookup(0x1C << 3).kind != "error"


# ---- with QEMU ---------------------------------------------------------------

def boot(case: Case, workdir: Path) -> harness.GuestView:
    m = case.machine
    return harness.boot(m.arch, list(m.args), workdir=workdir, tables=iommus.TABLES,
                        dmesg_words=UPGRADE_WORDS, modules=[], optional_modules=["ahci"],
                        upgrade_tables={f"{case.table.lower()}.aml": ours(case).data})


@pytest.mark.guest
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_guest_follows_our_table_by_initrd_upgrade(case, tmp_path):
    ready, why = harness.guest_ready(case.machine.arch)
    if not ready:
        pytest.skip(why)
    view = boot(case, tmp_path)
    got = iommus.groups(view)
    assert case.table in view.tables, f"{case.name}: no {case.table}: {sorted(view.tables)}"
    lines = check_guest(case, got["devices"], got["iommus"], view.dmesg, view.snapshot,
                        view.tables[case.table])
    head = _record(case, view, lines)
    # The saved boot is this boot (a QEMU or kernel change shows up here).
    saved = json.loads((case.data / "groups.json").read_text())
    assert _canonical(got) == _canonical(saved), f"{head}: differs from {case.data}"


def _canonical(report: dict) -> dict:
    out = json.loads(json.dumps(report))
    names: dict = {}
    for bdf in sorted(out["devices"]):
        dev = out["devices"][bdf]
        if dev["group"] is not None:
            dev["group"] = names.setdefault(dev["group"], len(names))
    return out


def _record(case: Case, view: harness.GuestView, lines: list[str]) -> str:
    """A paragraph in the guest report, as test_guest._record writes."""
    from .test_guest import REPORT
    head = (f"[13 our {case.table} by initrd upgrade: {case.name}] {case.machine.arch}: "
            f"QEMU {harness.qemu_version(case.machine.arch)}, guest kernel {view.uname}, "
            f"boot {view.seconds:.1f} s")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as fh:
        fh.write(head + "\n" + "".join(f"    {line}\n" for line in lines) + "\n")
    return head


def write(case: Case, view: harness.GuestView) -> None:
    """Save a boot as the case's data: test_guest_iommus.write's files, the
    table as <TABLE>.aml (not .bin: tests/test_guest_tables.py takes every
    .bin for a table QEMU generated) and the guest's snapshot."""
    iommus.write(case.saved, view)
    for blob in case.data.glob("*.bin"):
        blob.rename(blob.with_suffix(".aml"))
    (case.data / "snapshot.tar.gz").write_bytes(view.snapshot)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "write":
        print("usage: python3 -m tests.guest.test_guest_x86_upgrade write [case ...]",
              file=sys.stderr)
        return 2
    for name in argv[1:] or IDS:
        case = BY_NAME[name]
        with tempfile.TemporaryDirectory() as tmp:
            view = boot(case, Path(tmp))
        write(case, view)
        print(f"{name}: {sorted(view.tables)} {view.seconds:.1f} s -> {case.data}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
