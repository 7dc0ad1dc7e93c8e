"""reconcile and snapshot (acpitables/reconcile.py, tools/iommu-snapshot.sh):
the guest snapshot of tests/data/topology, planted disagreements, and the
two ways of taking a snapshot (the sh script and `acpitables snapshot`'s
reader) against one fake /sys."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from acpitables import reconcile as rec
from acpitables.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
BRIDGED = ROOT / "tests" / "data" / "topology" / "q35-pcie-pci-bridge.snapshot.tar.gz"
SCRIPT = ROOT / "tools" / "iommu-snapshot.sh"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from acpitables.cli import run; run()", *args],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def unpack(tmp_path: Path) -> Path:
    with tarfile.open(BRIDGED) as tf:
        tf.extractall(tmp_path, filter="data")
    return tmp_path / "acpitables-snapshot"


def test_the_guest_snapshot_names_the_bridged_function():
    r = rec.reconcile(rec.read_snapshot(str(BRIDGED)))
    by = {c.device: c for c in r.checks}
    # What the guest did (its own listing, tests/guest): groups for 00:02.0,
    # 00:1f.2, 40:00.0, 41:00.0; 42:01.0 bound to virtio-pci without one.
    assert {d for d, c in by.items() if c.status == "agree"} == {
        "0000:00:02.0", "0000:00:1f.2", "0000:40:00.0", "0000:41:00.0"}
    assert [c.device for c in r.disagreements] == ["0000:42:01.0"]
    assert by["0000:42:01.0"].aliases == [0x4208, 0x4200]
    assert by["0000:00:01.0"].status == "iommu"
    assert by["0000:00:00.0"].status == "unprobed"
    assert r.tables == ["VIOT"] and not r.ok


def test_cli_text_json_and_exit_codes(tmp_path):
    run = cli("reconcile", str(BRIDGED))
    assert run.returncode == 1
    assert "0000:42:01.0: DISAGREE" in run.stdout and "4 agree, 1 disagree" in run.stdout
    run = cli("reconcile", "-f", "json", str(BRIDGED))
    out = json.loads(run.stdout)
    assert run.returncode == 1 and out["disagree"] == 1 and out["agree"] == 4
    # the same snapshot unpacked, with the bridged function's driver edited
    # away: it counts as not probed, and the rest agrees
    snap = unpack(tmp_path)
    (snap / "pci/devices/0000:42:01.0/driver").unlink()
    run = cli("reconcile", str(snap))
    assert run.returncode == 0, run.stdout
    assert "0000:42:01.0: unprobed" in run.stdout
    run = cli("reconcile", str(tmp_path / "missing"))
    assert run.returncode == 1 and "error" in run.stderr


def test_planted_group_edits_are_detected(tmp_path):
    snap = unpack(tmp_path)
    (snap / "pci/devices/0000:42:01.0/driver").unlink()
    # a translated function taken out of its group
    (snap / "iommu_groups/2/devices/0000:00:02.0").unlink()
    (snap / "pci/devices/0000:00:02.0/iommu_group").unlink()
    r = rec.reconcile(rec.read_snapshot(str(snap)))
    assert [c.device for c in r.disagreements] == ["0000:00:02.0"]
    # dmesg still says "Adding to iommu group 2": sysfs, not the log, decides
    assert any("00:02.0: Adding to iommu group 2" in l for l in (snap / "dmesg").read_text()
               .splitlines())


def test_bypass_in_a_group_is_a_disagreement(tmp_path):
    snap = unpack(tmp_path)
    (snap / "pci/devices/0000:42:01.0/driver").unlink()
    # A function at 50:00.0 (RID 0x5000: the guest's VIOT covers 0x0000..0x00FF
    # and 0x4000..0x42FF only) planted with a driver and a group of its own.
    d = snap / "pci/devices/0000:50:00.0"
    shutil.copytree(snap / "pci/devices/0000:00:02.0", d)
    (d / "iommu_group").write_text("9\n")
    (snap / "iommu_groups/9/devices").mkdir(parents=True)
    (snap / "iommu_groups/9/devices/0000:50:00.0").write_bytes(b"")
    r = rec.reconcile(rec.read_snapshot(str(snap)))
    assert [c.device for c in r.disagreements] == ["0000:50:00.0"]
    c = r.disagreements[0]
    assert c.expected == "bypass" and c.group == "9" and "bypass" in c.why
    # without the group it agrees: bypass, bound to its driver
    (d / "iommu_group").unlink()
    shutil.rmtree(snap / "iommu_groups/9")
    assert rec.reconcile(rec.read_snapshot(str(snap))).ok


def test_no_mappable_table(tmp_path):
    snap = unpack(tmp_path)
    (snap / "tables/VIOT").unlink()
    with pytest.raises(InputError, match="no IOMMU table"):
        rec.reconcile(rec.read_snapshot(str(snap)))
    other = tmp_path / "other"
    (other / "stuff").mkdir(parents=True)
    with pytest.raises(InputError, match="not an acpitables snapshot"):
        rec.read_snapshot(str(other))


def fake_sys(root: Path) -> None:
    """A small /sys: two tables, two PCI functions (one in a group, with
    driver and IOMMU links as sysfs has them), one IOMMU."""
    sys_ = root / "sys"
    t = sys_ / "firmware/acpi/tables"
    (t / "dynamic").mkdir(parents=True)
    (t / "VIOT").write_bytes(b"VIOT" + bytes(32))
    (t / "DSDT").write_bytes(b"DSDT" + bytes(32))
    devs = sys_ / "devices/pci0000:00"
    drivers = sys_ / "bus/pci/drivers/virtio-pci"
    drivers.mkdir(parents=True)
    (sys_ / "bus/pci/devices").mkdir(parents=True)
    grp = sys_ / "kernel/iommu_groups/3"
    (grp / "devices").mkdir(parents=True)
    (grp / "type").write_text("DMA-FQ\n")
    iommu = sys_ / "class/iommu/0000:00:01.0"
    iommu.mkdir(parents=True)
    for bdf, cfg in (("0000:00:01.0", b"\xf4\x1a\x57\x10" + bytes(252)),
                     ("0000:00:02.0", b"\xf4\x1a\x05\x10" + bytes(252))):
        d = devs / bdf
        d.mkdir(parents=True)
        (d / "vendor").write_text("0x1af4\n")
        (d / "device").write_text("0x1057\n" if bdf.endswith("1.0") else "0x1005\n")
        (d / "class").write_text("0x00ff00\n")
        (d / "config").write_bytes(cfg)
        os.symlink(os.path.relpath(drivers, d), d / "driver")
        os.symlink(os.path.relpath(d, sys_ / "bus/pci/devices"), sys_ / "bus/pci/devices" / bdf)
    os.symlink(os.path.relpath(devs / "0000:00:01.0", iommu), iommu / "device")
    d2 = devs / "0000:00:02.0"
    os.symlink(os.path.relpath(grp, d2), d2 / "iommu_group")
    os.symlink(os.path.relpath(iommu, d2), d2 / "iommu")
    os.symlink(os.path.relpath(d2, grp / "devices"), grp / "devices/0000:00:02.0")
    (devs / "0000:00:01.0" / "iommu").mkdir()   # the IOMMU's own function: a folder


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar")
def test_script_and_reader_take_the_same_snapshot(tmp_path):
    """tools/iommu-snapshot.sh (sh) and reconcile.live_tree (Python) are two
    writings of one layout: on one fake /sys they must agree file by file."""
    fake_sys(tmp_path / "root")
    out = tmp_path / "s.tar.gz"
    run = subprocess.run(["sh", str(SCRIPT), str(out)], capture_output=True, text=True,
                         env={**os.environ, "SYSFS_ROOT": str(tmp_path / "root")})
    assert run.returncode == 0, run.stderr
    from acpitables.mapping.topology_io import load_tree
    by_script = {k.split("/", 1)[1]: v for k, v in load_tree(str(out)).items() if "/" in k}
    by_python = rec.live_tree(str(tmp_path / "root"), dmesg=False)
    def files(tree):
        return {k: v for k, v in tree.items() if v is not None and k != "uname"}
    assert files(by_script) == files(by_python)
    assert by_script["pci/devices/0000:00:02.0/iommu_group"] == b"3\n"
    assert by_script["pci/devices/0000:00:02.0/iommu"] == b"0000:00:01.0\n"
    assert "pci/devices/0000:00:01.0/iommu" not in by_script
    assert by_script["iommu/0000:00:01.0/device"] == b"0000:00:01.0\n"
    assert "tables/dynamic" not in files(by_script)
    snap = rec.snapshot_from_tree(load_tree(str(out)), "fake")
    assert snap.groups == {"0000:00:02.0": "3"}
    assert snap.iommus == {"0000:00:01.0": "0000:00:01.0"}


def test_tar_round_trip_of_a_tree():
    tree = rec.read_snapshot(str(BRIDGED))
    blob = rec.tree_to_tar_gz({"FORMAT": b"1\n", "tables/VIOT": b"x", "pci/devices": None})
    import io
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        names = sorted(tf.getnames())
    assert names == ["acpitables-snapshot", "acpitables-snapshot/FORMAT",
                     "acpitables-snapshot/pci", "acpitables-snapshot/pci/devices",
                     "acpitables-snapshot/tables", "acpitables-snapshot/tables/VIOT"]
    assert tree.uname.startswith("6.12")


def test_attached_to_another_iommu_is_a_disagreement(tmp_path):
    snap = unpack(tmp_path)
    (snap / "pci/devices/0000:42:01.0/driver").unlink()
    # The guest: 00:02.0 attached to the IOMMU named 0000:00:01.0, the
    # virtio-iommu-pci function the VIOT's PCI IOMMU node gives (BDF 0x0008).
    assert (snap / "pci/devices/0000:00:02.0/iommu").read_text() == "0000:00:01.0\n"
    assert rec.reconcile(rec.read_snapshot(str(snap))).ok
    (snap / "pci/devices/0000:00:02.0/iommu").write_text("0000:00:05.0\n")
    r = rec.reconcile(rec.read_snapshot(str(snap)))
    assert [c.device for c in r.disagreements] == ["0000:00:02.0"]
    assert "0000:00:05.0" in r.disagreements[0].why


def test_hostile_log_and_names(tmp_path):
    snap = unpack(tmp_path)
    (snap / "dmesg").write_text("x:y:00:02.0: Adding to iommu group 4\n"
                                "10000:00:02.0: Adding to IOMMU failed: -19\n")
    vmd = snap / "pci/devices/10000:00:02.0"      # an Intel VMD domain: no ACPI segment
    shutil.copytree(snap / "pci/devices/0000:00:02.0", vmd)
    (vmd / "iommu_group").unlink()
    (vmd / "iommu").unlink()
    r = rec.reconcile(rec.read_snapshot(str(snap)))
    by = {c.device: c for c in r.checks}
    assert "10000:00:02.0" in by and "failed: -19" in by["10000:00:02.0"].kernel
