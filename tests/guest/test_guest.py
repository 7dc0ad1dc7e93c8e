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
from pathlib import Path

import pytest

from acpitables import api
from acpitables import mapping as mapper
from acpitables.engine.registry import TABLES

from . import harness
from .tools import CACHE

pytestmark = pytest.mark.guest

REPORT = CACHE / "guest-report.txt"


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
    """(report lines, mismatches, functions compared)."""
    lines, bad, compared = [], [], 0
    for bdf, fn in sorted(view.pci.items()):
        result = m.lookup(fn.rid, fn.segment)
        ours = "translated" if not mapper.effective_bypass(result) else "bypass"
        if bdf in view.groups:
            guest = f"translated (iommu group {view.groups[bdf]})"
        elif bdf in view.deferred:
            guest = "translated (probe deferred: waiting for its IOMMU)"
        elif fn.driver:
            guest = f"bypass (driver {fn.driver}, no iommu group)"
        else:
            lines.append(f"{bdf} class {fn.cls:06X}: not probed by the guest (no driver), "
                         f"mapper says {result}")
            continue
        compared += 1
        same = guest.split()[0] == ours
        lines.append(f"{bdf} class {fn.cls:06X}: guest {guest}; mapper {result}"
                     + ("" if same else "   <-- MISMATCH"))
        if not same:
            bad.append(f"{bdf}: guest {guest}, mapper {result}")
    return lines, bad, compared


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
