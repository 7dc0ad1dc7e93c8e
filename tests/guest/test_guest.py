"""Proof against the real consumer: Linux guests under QEMU (TCG).

Each case boots a stock Debian 6.12 cloud kernel with a busybox initramfs
(tests/guest/harness.py), reads back the guest's own ACPI tables and its
IOMMU view, and compares that with acpitables: the decoded table, and the
mapper's answer for every PCI function the guest probed (translated <-> in
an IOMMU group, or deferred waiting for its IOMMU; bypass <-> neither).

A function the guest never probed (no driver: host bridges, the LPC bridge)
gives no evidence either way and is listed, not compared. Run alone with
`pytest -m guest`. Every case skips with the precise reason when this
machine cannot boot that guest (see tools/provision.sh).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from acpitables import api, reconcile
from acpitables import mapping as mapper
from acpitables.engine.registry import TABLES
from acpitables.mapping.topology_io import load_tree

from . import harness
from .tools import CACHE

pytestmark = pytest.mark.guest

# ACPITABLES_GUEST_REPORT: write the report elsewhere (CACHE may be a shared,
# read-only provisioning directory).
REPORT = Path(os.environ.get("ACPITABLES_GUEST_REPORT") or CACHE / "guest-report.txt")


def _ready(arch: str):
    ready, why = harness.guest_ready(arch)
    if not ready:
        pytest.skip(why)
    return ready


def _record(case: str, arch: str, view: harness.GuestView, lines: list[str]) -> str:
    """One paragraph per boot in $CACHE/guest-report.txt: the QEMU and kernel
    versions, the boot time and the comparison."""
    qemu = harness.qemu_version(harness.QEMU[arch])
    head = (f"[{case}] {arch}: QEMU {qemu}, guest kernel {view.uname}, "
            f"boot {view.seconds:.1f} s")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as fh:
        fh.write(head + "\n" + "".join(f"    {line}\n" for line in lines) + "\n")
    return head


def compare(view: harness.GuestView, m: mapper.Mapper) -> tuple[list[str], list[str], int]:
    """(report lines, mismatches, functions compared), by `acpitables
    reconcile` on the snapshot the guest took with tools/iommu-snapshot.sh.
    `m` is the test's own mapper of the tables it expects: reconcile must
    read the same answer from the guest's tables (for a function without
    DMA aliases, where both ask one ID)."""
    lines, bad, compared = [], [], 0
    rec = reconcile_view(view)
    for c in rec.checks:
        if c.status == "unprobed":
            lines.append(f"{c.device}: not probed by the guest (no driver), tables say {c.tables}")
            continue
        if c.status == "iommu":
            lines.append(f"{c.device}: the IOMMU itself ({c.kernel}); tables {c.tables}")
            continue
        compared += 1
        lines.append(f"{c.device}: {c.status}: guest {c.kernel}; tables {c.tables}"
                     + ("   <-- MISMATCH" if c.status == "disagree" else ""))
        if c.status == "disagree":
            bad.append(f"{c.device}: guest {c.kernel}, tables {c.tables}")
        if len(c.aliases) == 1:
            seg, rid = c.device.split(":", 1)[0], c.aliases[0]
            ours = m.lookup(rid, int(seg, 16)).as_dict()
            # node names differ (a decoded table has made-up ones): the answer
            if [ours.get(k) for k in ("result", "output_id", "reason")] != \
                    [c.result.get(k) for k in ("result", "output_id", "reason")]:
                bad.append(f"{c.device}: reconcile read {c.tables} from the guest's tables, "
                           f"the test's mapper says {ours}")
    return lines, bad, compared


def reconcile_view(view: harness.GuestView):
    """The guest's snapshot through `acpitables reconcile`; it must show the
    same groups as the guest's own listing of /sys (the script is what users
    run, so it is checked here against the direct dump)."""
    assert view.snapshot, "the guest took no snapshot (tools/iommu-snapshot.sh)"
    snap = reconcile.snapshot_from_tree(_tree(view.snapshot), "guest snapshot")
    assert snap.groups == view.groups, f"snapshot groups {snap.groups} != guest {view.groups}"
    assert sorted(d.bdf for d in snap.topology) == sorted(view.pci)
    return reconcile.reconcile(snap)


def _tree(blob: bytes):
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as fh:
        fh.write(blob)
        fh.flush()
        return load_tree(fh.name)


def guest_tables(view: harness.GuestView) -> dict[str, bytes]:
    """The first instance of each signature, as Linux uses it."""
    out: dict[str, bytes] = {}
    for name in sorted(view.tables, key=lambda n: (len(n), n)):
        out.setdefault(name[:4], view.tables[name])
    return out


def decode_guest_tables(view: harness.GuestView) -> list:
    """Decode what the guest shows; a signature this build does not register
    yet is skipped with that reason."""
    decoded = []
    for sig, blob in guest_tables(view).items():
        if sig not in TABLES:
            pytest.skip(f"the guest has an {sig} but acpitables does not register {sig} yet "
                        f"(acpitables/{sig.lower()}.py not in the registry)")
        d = api.decode(blob)
        # A QEMU table decodes cleanly and builds back to the same bytes.
        assert api.build(api.describe(d)).data == blob, f"{sig} does not round-trip"
        decoded.append(d)
    return decoded


# ---- 1c: our VIOT through -acpitable, without QEMU's virtio-iommu -------------

VIOT_1C = """\
table: VIOT
oem_id: ACPITB
oem_table_id: GUEST1C
iommus:
  - name: standin
    pci: "00:03.0"       # a virtio-rng-pci stands in for the IOMMU: Linux needs a
                         # PCI function there to take the fwnode from
endpoints:
  - first: "00:04.0"     # translated: 00:04.0 .. 00:05.7
    last: "00:05.7"
    iommu: standin
"""
DEVICES_1C = [f"virtio-rng-pci,addr={slot}" for slot in (3, 4, 5, 6)]


def test_1c_x86_acpitable_viot_is_used_as_built(tmp_path):
    _ready("amd64")
    built = api.build(VIOT_1C, "1c.yaml")
    table = tmp_path / "viot.aml"
    table.write_bytes(built.data)
    args = ["-M", "q35", "-acpitable", f"file={table}"]
    for dev in DEVICES_1C:
        args += ["-device", dev]
    view = harness.boot("amd64", args, workdir=tmp_path)
    assert not view.insmod_failed, view.insmod_failed

    m = mapper.for_table(built.table)
    lines, bad, compared = compare(view, m)
    covered = sorted(bdf for bdf, fn in view.pci.items()
                     if not mapper.effective_bypass(m.lookup(fn.rid, fn.segment)))
    head = _record("1c", "amd64", view, lines + [f"deferred: {sorted(view.deferred)}",
                                                   f"covered by our ranges: {covered}"])
    # The guest lists exactly our table (QEMU builds no VIOT of its own here).
    assert list(view.tables) == ["VIOT"], head
    assert view.tables["VIOT"] == built.data, f"{head}: the guest's VIOT is not our bytes"
    # No firmware-bug or complaint lines about the VIOT.
    complaints = [line for line in view.dmesg if "viot" in line.lower() and (
        "bug" in line.lower() or "ignor" in line.lower() or "invalid" in line.lower()
        or "could not" in line.lower() or "error" in line.lower())]
    assert not complaints and not view.fw_bugs(), f"{head}: {complaints or view.fw_bugs()}"
    # The devices our ranges cover are the ones the guest defers (the IOMMU
    # stand-in never registers), and nothing else is deferred.
    assert covered == ["0000:00:04.0", "0000:00:05.0"], covered
    assert sorted(view.deferred) == covered, f"{head}: deferred {sorted(view.deferred)}"
    assert not bad, f"{head}: " + "; ".join(bad)
    # Outside the range: bound to their driver at once.
    for bdf in ("0000:00:03.0", "0000:00:06.0"):
        assert view.pci[bdf].driver == "virtio-pci", f"{head}: {bdf} {view.pci[bdf]}"
    assert compared >= 4


# ---- 1a: QEMU's own VIOT (and IORT on arm) with virtio-iommu-pci ---------------

def _devices(*specs: str) -> list[str]:
    return [arg for spec in specs for arg in ("-device", spec)]


# Bus 0, a root port with its own bus (1), and a pxb-pcie at bus 0x20 with
# bypass_iommu=on (left out of QEMU's VIOT; mapped to the ITS in its IORT).
PLATFORM = _devices("virtio-rng-pci,bus=pcie.0",
                    "pcie-root-port,id=rp0,bus=pcie.0,chassis=1", "virtio-rng-pci,bus=rp0",
                    "pxb-pcie,id=pxb20,bus=pcie.0,bus_nr=0x20,bypass_iommu=on",
                    "pcie-root-port,id=rp20,bus=pxb20,chassis=3", "virtio-rng-pci,bus=rp20")
# 1a adds a virtio-iommu and a translated pxb-pcie at bus 0x10.
MIX = _devices("virtio-iommu-pci,bus=pcie.0") + PLATFORM + _devices(
    "pxb-pcie,id=pxb10,bus=pcie.0,bus_nr=0x10",
    "pcie-root-port,id=rp10,bus=pxb10,chassis=2", "virtio-rng-pci,bus=rp10")


@pytest.mark.parametrize("arch,machine", [("amd64", "q35"), ("arm64", "virt")])
def test_1a_qemu_virtio_iommu_groups_match_the_mapper(arch, machine, tmp_path):
    _ready(arch)
    view = harness.boot(arch, ["-M", machine] + MIX, workdir=tmp_path)
    assert not view.insmod_failed, view.insmod_failed
    tables = guest_tables(view)
    assert "VIOT" in tables, f"no VIOT in the guest: {sorted(view.tables)}"
    if arch == "arm64":
        assert "IORT" in tables, f"no IORT in the arm64 guest: {sorted(view.tables)}"
    decoded = decode_guest_tables(view)
    m = mapper.for_tables([d.table for d in decoded])
    lines, bad, compared = compare(view, m)
    head = _record(f"1a {machine}", arch, view, lines + [f"tables: {sorted(view.tables)}"])
    assert view.iommus, f"{head}: the guest registered no IOMMU"
    assert not bad, f"{head}: " + "; ".join(bad)
    # The mix really has both kinds, as the guest saw them.
    assert any(bdf.startswith("0000:21:") for bdf in view.pci), f"{head}: no bypassed device"
    kinds = {line.split(": guest ")[1].split()[0] for line in lines if ": guest " in line}
    assert kinds == {"translated", "bypass"}, f"{head}: {kinds}"
    assert compared >= 6
    planted_disagreements_are_detected(view, tmp_path)


def _edited(blob: bytes, drop: tuple[str, ...] = (), add: dict | None = None) -> bytes:
    """The snapshot archive with members dropped and added (a planted edit)."""
    tree = _tree(blob)
    tree = {k: v for k, v in tree.items() if not any(k.endswith(d) for d in drop)}
    tree.update(add or {})
    return reconcile.tree_to_tar_gz({k.split("/", 1)[1]: v for k, v in tree.items()
                                     if "/" in k})


def _cli(*args: str):
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[2]
    return subprocess.run([sys.executable, "-c", "from acpitables.cli import run; run()", *args],
                          capture_output=True, text=True, cwd=root, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})


def planted_disagreements_are_detected(view: harness.GuestView, tmp_path: Path) -> None:
    """The guest's own snapshot passes `acpitables reconcile`; with a group
    edited out of it (a translated function left without a group) and with
    a bypassed function edited into one, reconcile names that function and
    exits 1."""
    good = tmp_path / "snapshot.tar.gz"
    good.write_bytes(view.snapshot)
    run = _cli("reconcile", str(good))
    assert run.returncode == 0, run.stdout + run.stderr
    victim = next(b for b, g in sorted(view.groups.items()) if b.startswith("0000:00:"))
    gone = _edited(view.snapshot, drop=(f"/devices/{victim}", f"{victim}/iommu_group"))
    (tmp_path / "gone.tar.gz").write_bytes(gone)
    run = _cli("reconcile", str(tmp_path / "gone.tar.gz"))
    assert run.returncode == 1, run.stdout + run.stderr
    bad = [line for line in run.stdout.splitlines() if "DISAGREE" in line]
    assert len(bad) == 1 and bad[0].startswith(f"{victim}: DISAGREE"), run.stdout
    bypassed = "0000:21:00.0"
    assert bypassed in view.pci and bypassed not in view.groups
    added = _edited(view.snapshot, add={f"acpitables-snapshot/iommu_groups/99/devices/{bypassed}": b""})
    (tmp_path / "added.tar.gz").write_bytes(added)
    run = _cli("reconcile", "-f", "json", str(tmp_path / "added.tar.gz"))
    assert run.returncode == 1, run.stdout + run.stderr
    out = json.loads(run.stdout)
    assert [d["device"] for d in out["devices"] if d["status"] == "disagree"] == [bypassed], out


# ---- issue 14: a conventional PCI function behind a pcie-pci-bridge -------------

# A pxb-pcie at bus 0x40 with a root port (bus 0x41) holding the bridge
# (41:00.0, secondary bus 0x42) and a virtio-rng-pci at 42:01.0 (RID 0x4208),
# which QEMU's virtio-iommu knows by the bridge's alias 0x4200.
BRIDGED = _devices("virtio-iommu-pci,bus=pcie.0", "virtio-rng-pci,bus=pcie.0",
                   "pxb-pcie,id=pxb40,bus=pcie.0,bus_nr=0x40",
                   "pcie-root-port,id=rp40,bus=pxb40,chassis=4",
                   "pcie-pci-bridge,id=br,bus=rp40", "virtio-rng-pci,bus=br,addr=1")


def test_1d_bridge_alias_reconcile_names_the_bridged_function(tmp_path):
    """Measured with QEMU 7.2 and the 6.12 guest: the function behind the
    bridge gets no IOMMU group (silently: no 'Adding to IOMMU failed' line at
    the default log level), the bridge itself gets one. The tables cover
    both; with the topology, reconcile gives the function its two DMA
    aliases (own 0x4208, then the bridge's 0x4200, in
    pci_for_each_dma_alias order) and names it as the one disagreement."""
    _ready("amd64")
    view = harness.boot("amd64", ["-M", "q35"] + BRIDGED, workdir=tmp_path)
    rec = reconcile_view(view)
    lines = [f"{c.device}: {c.status}: kernel {c.kernel}; tables {c.tables} {c.why}"
             for c in rec.checks]
    head = _record("1d pcie-pci-bridge", "amd64", view, lines)
    by = {c.device: c for c in rec.checks}
    bridge = by["0000:41:00.0"]
    assert bridge.status == "agree", head
    fn = by["0000:42:01.0"]
    assert fn.aliases == [0x4208, 0x4200], f"{head}: {fn.aliases}"
    assert fn.result["output_id"] == 0x4208 and fn.result["more_ids"] == [0x4200], head
    assert [c.device for c in rec.disagreements] == ["0000:42:01.0"], f"{head}: " + "\n".join(lines)
    assert fn.kernel.startswith("bypass (driver virtio-pci"), f"{head}: {fn.kernel}"
    assert "0x4200" in fn.why and "0000:41:00.0" in fn.why, fn.why
    run = _cli("reconcile", str(_write(tmp_path / "bridged.tar.gz", view.snapshot)))
    assert run.returncode == 1 and "0000:42:01.0: DISAGREE" in run.stdout, run.stdout + run.stderr


def _write(path: Path, blob: bytes) -> Path:
    path.write_bytes(blob)
    return path


# ---- 1b: arm64 virt with SMMUv3: QEMU's IORT, then ours by initrd upgrade -----

SMMU_MIX = PLATFORM


def test_1b_arm64_smmuv3_qemu_iort_and_ours_by_initrd_upgrade(tmp_path):
    _ready("arm64")
    args = ["-M", "virt,iommu=smmuv3"] + SMMU_MIX
    view = harness.boot("arm64", args, workdir=tmp_path)
    tables = guest_tables(view)
    assert "IORT" in tables and "VIOT" not in tables, sorted(view.tables)
    decoded = decode_guest_tables(view)
    qemu_iort = decoded[0]
    m = mapper.for_table(qemu_iort.table)
    lines, bad, compared = compare(view, m)
    head = _record("1b QEMU IORT", "arm64", view, lines)
    assert view.iommus and not bad, f"{head}: " + "; ".join(bad)
    assert compared >= 4

    # The same platform described by acpitables: the description decode
    # gives, with a higher OEM revision so that Linux's initrd table upgrade
    # replaces QEMU's IORT (same OEM ID and OEM table ID).
    desc = api.describe(qemu_iort)
    desc["oem_revision"] = int(desc.get("oem_revision", 1)) + 1
    ours = api.build(desc).data
    assert ours != tables["IORT"]
    upgraded = harness.boot("arm64", args, workdir=tmp_path,
                            upgrade_tables={"iort.aml": ours})
    got = guest_tables(upgraded)
    assert got.get("IORT") == ours, (
        "the guest did not take our IORT by initrd upgrade; it shows "
        + (diff_text(ours, got["IORT"]) if "IORT" in got else "no IORT"))
    lines, bad, compared = compare(upgraded, mapper.for_table(api.decode(ours).table))
    head = _record("1b our IORT (initrd upgrade)", "arm64", upgraded, lines)
    assert upgraded.iommus and not bad, f"{head}: " + "; ".join(bad)


def diff_text(a: bytes, b: bytes) -> str:
    from acpitables.formats import diff
    return diff.explain(a, b, "ours", "guest")


def _narrowed(desc: dict, limit: int = 0x100) -> dict:
    """The description with every root-complex mapping that goes to an SMMU
    cut to requester IDs below `limit` (bus 0 only): the functions behind
    the root port (bus 1) lose their IOMMU."""
    out = json.loads(json.dumps(desc))
    smmus = {n["name"] for n in out["nodes"] if n["type"].startswith("smmu")}
    for node in out["nodes"]:
        if node["type"] != "root_complex":
            continue
        kept = []
        for mp in node["mappings"]:
            if mp["output"] in smmus:
                if mp["input"] >= limit:
                    continue
                mp["count"] = min(mp["count"], limit - mp["input"])
            kept.append(mp)
        node["mappings"] = kept
    out["oem_revision"] = int(out.get("oem_revision", 1)) + 1
    return out


def test_1b_arm64_our_narrower_iort_by_initrd_upgrade(tmp_path):
    _ready("arm64")
    args = ["-M", "virt,iommu=smmuv3"] + SMMU_MIX
    # QEMU's IORT for this platform as the guest sees it, from a first boot.
    first = harness.boot("arm64", args, workdir=tmp_path)
    decoded = decode_guest_tables(first)
    desc = _narrowed(api.describe(decoded[0]))
    ours = api.build(desc)
    m = mapper.for_table(ours.table)
    # The narrower map really changes the answer for the bus-1 function.
    assert mapper.effective_bypass(m.lookup(0x0100)) and not mapper.effective_bypass(m.lookup(0x08))
    view = harness.boot("arm64", args, workdir=tmp_path, upgrade_tables={"iort.aml": ours.data})
    assert guest_tables(view).get("IORT") == ours.data, "the guest did not take our IORT"
    lines, bad, compared = compare(view, m)
    head = _record("1b our narrower IORT (initrd upgrade)", "arm64", view, lines)
    assert not bad, f"{head}: " + "; ".join(bad)
    assert "0000:01:00.0" in view.pci and "0000:01:00.0" not in view.groups, head
    assert "0000:00:01.0" in view.groups, head
