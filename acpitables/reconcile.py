"""acpitables: reconcile.py -- did the kernel do what the firmware tables say?

A snapshot of a running Linux system (taken live from /sys, or read from an
`acpitables snapshot` / tools/iommu-snapshot.sh archive or directory) holds
its ACPI tables, its PCI functions with their config space, its IOMMU
groups and IOMMUs, and the kernel's IOMMU log lines.  Each PCI function's
answer from the tables (over its DMA aliases, mapping/topology.py) is set
against what the kernel did: translated by an IOMMU -> the function is in an
IOMMU group; bypass -> in none.  Layout of a snapshot (docs/reconcile.md):

    acpitables-snapshot/FORMAT            "1"
    acpitables-snapshot/tables/<NAME>     /sys/firmware/acpi/tables/<NAME>
    acpitables-snapshot/pci/devices/<BDF>/{vendor,device,class,config,driver,iommu_group,iommu}
    acpitables-snapshot/iommu_groups/<N>/devices/<BDF>
    acpitables-snapshot/iommu/<NAME>/device
    acpitables-snapshot/dmesg             IOMMU lines of the kernel log
    acpitables-snapshot/deferred          /sys/kernel/debug/devices_deferred, if readable
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from dataclasses import dataclass, field

from .errors import AcpiTablesError, InputError
from .mapping.results import Mapper, Translated
from .mapping.topology import PciDevice, Topology, bdf_key
from .mapping.topology_io import (BDF_NAME, Link, Tree, load_tree, split_bdf,
                                  topology_from_tree)

TOP = "acpitables-snapshot"
SIGNATURE = re.compile(r"^[A-Z0-9_]{4}[0-9]*$")
DMESG_WORDS = re.compile(r"iommu|viot|iort|dmar|ivrs|smmu|fw_bug|dma alias", re.I)
_BDF_IN_LOG = r"([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])"
_GROUP_LINE = re.compile(_BDF_IN_LOG + r": Adding to iommu group (\S+)", re.I)
_FAIL_LINE = re.compile(_BDF_IN_LOG + r": Adding to IOMMU failed: (-?\d+)")


@dataclass
class Snapshot:
    tables: dict[str, bytes] = field(default_factory=dict)
    topology: Topology = field(default_factory=Topology)
    groups: dict[str, str] = field(default_factory=dict)       # bdf -> group
    iommus: dict[str, str | None] = field(default_factory=dict)  # name -> its device
    dmesg: list[str] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)     # device -> reason
    uname: str = ""
    source: str = ""


def _strip_top(tree: Tree) -> Tree:
    """Names relative to the snapshot's folder, with or without its top."""
    for top in (TOP + "/", ""):
        if any(k.startswith(top + "tables/") or k.startswith(top + "pci/") for k in tree):
            return {k[len(top):]: v for k, v in tree.items() if k.startswith(top)}
    raise InputError("not an acpitables snapshot: no tables/ or pci/ folder")


def snapshot_from_tree(tree: Tree, source: str) -> Snapshot:
    try:
        tree = _strip_top(tree)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    snap = Snapshot(source=source)
    for name, v in tree.items():
        head, _, leaf = name.rpartition("/")
        if head == "tables" and isinstance(v, bytes) and SIGNATURE.match(leaf):
            snap.tables[leaf] = v
        m = re.match(r"^iommu_groups/([^/]+)/devices/([^/]+)$", name)
        if m and BDF_NAME.match(m[2]):
            snap.groups[_canon(m[2])] = m[1]
        m = re.match(r"^iommu/([^/]+)$", name)
        if m:
            dev = tree.get(name + "/device")
            snap.iommus[m[1]] = _name(dev)
    if any(k.startswith("pci/devices/") for k in tree):
        snap.topology = topology_from_tree(tree, source, "pci/devices")
    for dev in snap.topology:
        if dev.group is None and dev.bdf in snap.groups:
            dev.group = snap.groups[dev.bdf]
    dm = tree.get("dmesg")
    if isinstance(dm, bytes):
        snap.dmesg = dm.decode("utf-8", "replace").splitlines()
    df = tree.get("deferred")
    if isinstance(df, bytes):
        for line in df.decode("utf-8", "replace").splitlines():
            dev, _, reason = line.partition("\t")
            if dev.strip():
                snap.deferred[dev.strip()] = reason.strip()
    un = tree.get("uname")
    if isinstance(un, bytes):
        snap.uname = un.decode("utf-8", "replace").strip()
    return snap


def _canon(bdf: str) -> str:
    """A BDF as bdf_key writes it (sysfs and logs agree, but be lenient on case)."""
    return split_bdf(bdf)[2]


def _name(v) -> str | None:
    if isinstance(v, bytes):
        return v.decode("ascii", "replace").strip() or None
    if isinstance(v, Link):
        return v.target.rstrip("/").rsplit("/", 1)[-1]
    return None


def read_snapshot(path: str) -> Snapshot:
    return snapshot_from_tree(load_tree(path), path)


# ---- taking one -------------------------------------------------------------

def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None


def _link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def live_tree(root: str = "/", dmesg: bool = True) -> Tree:
    """The running system (or a fake /sys under root) as a snapshot tree,
    the same files tools/iommu-snapshot.sh writes."""
    sysfs = os.path.join(root, "sys")
    tree: Tree = {"FORMAT": b"1\n", "uname": (os.uname().release + "\n").encode()}
    tdir = os.path.join(sysfs, "firmware/acpi/tables")
    for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        full = os.path.join(tdir, name)
        if os.path.isfile(full):
            data = _read(full)
            if data is not None:
                tree[f"tables/{name}"] = data
    pdir = os.path.join(sysfs, "bus/pci/devices")
    for bdf in sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []:
        d = os.path.join(pdir, bdf)
        base = f"pci/devices/{bdf}"
        tree[base] = None
        for attr in ("vendor", "device", "class", "config"):
            data = _read(os.path.join(d, attr))
            if data is not None:
                tree[f"{base}/{attr}"] = data
        for attr in ("driver", "iommu_group"):
            n = _link_name(os.path.join(d, attr))
            if n:
                tree[f"{base}/{attr}"] = (n + "\n").encode()
        n = _link_name(os.path.join(d, "iommu"))    # None unless a symlink
        if n is not None:
            tree[f"{base}/iommu"] = (n + "\n").encode()
    gdir = os.path.join(sysfs, "kernel/iommu_groups")
    for g in sorted(os.listdir(gdir)) if os.path.isdir(gdir) else []:
        devs = os.path.join(gdir, g, "devices")
        for dev in sorted(os.listdir(devs)) if os.path.isdir(devs) else []:
            tree[f"iommu_groups/{g}/devices/{dev}"] = b""
        t = _read(os.path.join(gdir, g, "type"))
        if t is not None:
            tree[f"iommu_groups/{g}/type"] = t
    idir = os.path.join(sysfs, "class/iommu")
    for name in sorted(os.listdir(idir)) if os.path.isdir(idir) else []:
        tree[f"iommu/{name}"] = None
        n = _link_name(os.path.join(idir, name, "device"))
        if n:
            tree[f"iommu/{name}/device"] = (n + "\n").encode()
    deferred = _read(os.path.join(sysfs, "kernel/debug/devices_deferred"))
    if deferred is not None:
        tree["deferred"] = deferred
    if dmesg:
        lines = _dmesg()
        if lines is not None:
            tree["dmesg"] = "".join(l + "\n" for l in lines if DMESG_WORDS.search(l)).encode()
    return tree


def _dmesg() -> list[str] | None:
    """The kernel log, when this user may read it (dmesg_restrict)."""
    try:
        proc = subprocess.run(["dmesg"], capture_output=True, timeout=20,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "replace").splitlines()


def tree_to_tar_gz(tree: Tree) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        names = sorted(tree)
        dirs = {TOP}
        for name in names:
            parts = name.split("/")
            for i in range(1, len(parts)):
                dirs.add(TOP + "/" + "/".join(parts[:i]))
            if tree[name] is None:
                dirs.add(TOP + "/" + name)
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        for name in names:
            v = tree[name]
            if v is None:
                continue
            info = tarfile.TarInfo(f"{TOP}/{name}")
            if isinstance(v, Link):
                info.type, info.linkname = tarfile.SYMTYPE, v.target
                tf.addfile(info)
            else:
                info.size, info.mode = len(v), 0o644
                tf.addfile(info, io.BytesIO(v))
    return buf.getvalue()


# ---- comparing --------------------------------------------------------------

@dataclass
class DeviceCheck:
    device: str
    name: str
    expected: str            # "translated" | "bypass" | "self"
    tables: str              # the mapper's answer, as text
    kernel: str              # what the kernel did, as text
    status: str              # "agree" | "disagree" | "unprobed" | "iommu"
    why: str = ""
    aliases: list[int] = field(default_factory=list)
    group: str | None = None
    result: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"device": self.device, "name": self.name, "status": self.status,
                "expected": self.expected, "tables": self.tables, "kernel": self.kernel,
                "group": self.group, "dma_aliases": self.aliases, "why": self.why,
                "result": self.result}


@dataclass
class Reconciliation:
    checks: list[DeviceCheck]
    source: str
    tables: list[str]
    notes: list[str]

    @property
    def disagreements(self) -> list[DeviceCheck]:
        return [c for c in self.checks if c.status == "disagree"]

    @property
    def ok(self) -> bool:
        return not self.disagreements

    def as_dict(self) -> dict:
        return {"source": self.source, "tables": self.tables, "ok": self.ok,
                "agree": sum(c.status == "agree" for c in self.checks),
                "disagree": len(self.disagreements), "notes": self.notes,
                "devices": [c.as_dict() for c in self.checks]}


def snapshot_mapper(snap: Snapshot) -> tuple[Mapper, list[str], list[str]]:
    """(mapper, tables used, notes): the first instance of each signature
    (Linux's acpi_get_table(sig, 0)) that the project registers."""
    from . import api
    from .engine.registry import TABLES
    from .mapping.acpi import for_tables
    decoded, used, notes = [], [], []
    for name in sorted(snap.tables, key=lambda n: (len(n), n)):
        sig = name[:4]
        spec = TABLES.get(sig)
        if spec is None or not spec.mapper or sig in used:
            continue
        try:
            decoded.append(api.decode(snap.tables[name]).table)
        except AcpiTablesError as exc:
            notes.append(f"{name}: not decoded: {exc}")
            continue
        used.append(sig)
    if not decoded:
        have = ", ".join(sorted(snap.tables)) or "none: the tables are readable by root only"
        raise InputError(f"{snap.source}: no IOMMU table this tool maps (have: {have})")
    return for_tables(decoded, snap.topology), used, notes


def reconcile(snap: Snapshot) -> Reconciliation:
    m, used, notes = snapshot_mapper(snap)
    topo = snap.topology
    notes = notes + topo.notes
    if not topo.devices:
        notes.append("the snapshot has no PCI functions")
    failed = {}
    have_groups = bool(snap.groups) or any(d.group for d in topo)
    for line in snap.dmesg:
        f = _FAIL_LINE.search(line)
        if f:
            failed[_canon(f[1])] = f[2]
        g = _GROUP_LINE.search(line)
        if g and not have_groups:     # the log only stands in for an unreadable sysfs
            snap.groups.setdefault(_canon(g[1]), g[2])
    iommu_devs = {d for d in snap.iommus.values() if d}
    checks = [_check(topo, m, dev, snap, iommu_devs, failed) for dev in topo]
    return Reconciliation(checks, snap.source, used, notes)


def _check(topo: Topology, m: Mapper, dev: PciDevice, snap: Snapshot, iommu_devs: set,
           failed: dict) -> DeviceCheck:
    r = topo.lookup(m, dev)
    aliases = []
    for a in topo.dma_aliases(dev, m):
        if a.rid not in aliases:
            aliases.append(a.rid)
    group = dev.group or snap.groups.get(dev.bdf)
    c = DeviceCheck(dev.bdf, dev.label(), "translated" if isinstance(r, Translated) else "bypass",
                    str(r), "", "", aliases=aliases, group=group, result=r.as_dict())
    is_self = getattr(getattr(r, "reason", None), "value", "") == "self"
    if is_self or dev.bdf in iommu_devs:
        c.expected, c.status = "self", "iommu"
        c.kernel = "is an IOMMU" + (f" (group {group})" if group else "")
        return c
    if group is not None:
        c.kernel = f"translated (iommu group {group}" + (f", IOMMU {dev.iommu})" if dev.iommu else ")")
    elif dev.bdf in snap.deferred:
        # Linux defers a device whose IOMMU has not registered (yet): the
        # tables gave it one.
        c.kernel = "translated (probe deferred: waiting for its IOMMU)"
        group = "deferred"
    elif dev.bdf in failed:
        c.kernel = f"no iommu group: the kernel logged 'Adding to IOMMU failed: {failed[dev.bdf]}'"
    elif dev.driver:
        c.kernel = f"bypass (driver {dev.driver}, no iommu group)"
    else:
        c.kernel = "not probed (no driver, no iommu group)"
        c.status = "unprobed"
        return c
    got = "translated" if group is not None else "bypass"
    c.group = None if group == "deferred" else group
    if got == c.expected and isinstance(r, Translated) and dev.iommu:
        same = same_iommu(m, r.iommu, dev.iommu, snap)
        if same is False:
            c.status = "disagree"
            c.why = (f"the tables name {r.iommu}, the kernel attached the device to the "
                     f"IOMMU {dev.iommu}")
            return c
    if got == c.expected and c.group is not None:
        split = _split_alias_group(topo, m, dev, c.group, snap)
        if split:
            c.status, c.why = "disagree", split
            return c
    if got == c.expected:
        c.status = "agree"
        return c
    c.status = "disagree"
    if c.expected == "translated":
        c.why = "the tables give the device an IOMMU, the kernel put it in no group"
        if len(aliases) > 1:
            bridged = [a for a in topo.dma_aliases(dev, m) if a.via != dev.bdf]
            if bridged:
                b = bridged[-1]
                c.why += (f"; its DMA reaches the IOMMU as 0x{b.rid:04X} ({b.why}, "
                          f"{b.via}) while Linux also hands over its own ID "
                          f"0x{aliases[0]:04X}: an IOMMU that knows the device only by the "
                          "alias refuses it")
    else:
        c.why = "the tables say bypass, yet the kernel put the device in an IOMMU group"
    return c


def _split_alias_group(topo: Topology, m: Mapper, dev: PciDevice, group: str,
                       snap: Snapshot) -> str:
    """Why the kernel's groups contradict a DMA alias the tables and quirks
    give (Linux puts a device and a function at its alias in one group:
    mapping/topology.py alias_partners), or ''."""
    for other, tie in topo.alias_partners(dev, m):
        theirs = other.group or snap.groups.get(other.bdf)
        if theirs is not None and theirs != group:
            return (f"{tie.via} has DMA alias 0x{tie.rid:04X} ({tie.why}), so Linux puts "
                    f"{dev.bdf} and {other.bdf} in one IOMMU group; the kernel has groups "
                    f"{group} and {theirs}")
    return ""


def _node(m: Mapper, name: str):
    for engine in getattr(m, "engines", (m,)):
        node = getattr(engine, "by_name", {}).get(name)
        if node is not None:
            return node
    return None


_SMMU_SYSFS = re.compile(r"^smmu3?\.0x([0-9a-fA-F]+)$")


def same_iommu(m: Mapper, table_name: str, sysfs_name: str, snap: Snapshot) -> bool | None:
    """Is the table's IOMMU node the /sys/class/iommu entry the kernel used?
    None when the names cannot be tied: virtio-iommu registers under its
    PCI function's name (a BDF the VIOT node holds), the Arm SMMU drivers as
    smmu3.<base> / smmu.<base> (%pa of the base the IORT node holds)."""
    node = _node(m, table_name)
    if node is None:
        return None
    f = node.fields
    if "bdf" in f and "segment" in f:
        got = sysfs_name if BDF_NAME.match(sysfs_name) else snap.iommus.get(sysfs_name)
        if not got or not BDF_NAME.match(got):
            return None
        return _canon(got) == bdf_key(f["segment"], f["bdf"])
    base = f.get("base_address")
    mm = _SMMU_SYSFS.match(sysfs_name)
    if isinstance(base, int) and mm:
        return int(mm[1], 16) == base
    return None


def render_text(rec: Reconciliation) -> str:
    lines = [f"{rec.source}: tables {', '.join(rec.tables)}"]
    for c in rec.checks:
        mark = {"agree": "ok", "disagree": "DISAGREE", "unprobed": "unprobed",
                "iommu": "iommu"}[c.status]
        alias = "" if len(c.aliases) < 2 else \
            " [DMA aliases " + ", ".join(f"0x{a:04X}" for a in c.aliases) + "]"
        lines.append(f"{c.device}: {mark}: tables {c.tables}{alias}; kernel {c.kernel}"
                     + (f" -- {c.why}" if c.why else ""))
    for n in rec.notes:
        lines.append(f"note: {n}")
    agree = sum(c.status == "agree" for c in rec.checks)
    lines.append(f"{agree} agree, {len(rec.disagreements)} disagree, "
                 f"{sum(c.status == 'unprobed' for c in rec.checks)} not probed")
    return "\n".join(lines) + "\n"
