"""acpitables: mapping/topology_io.py -- reading PCI topologies.

Three sources:
  * a copy of /sys/bus/pci/devices: a directory, or a .tar/.tar.gz of one
    (or an `acpitables snapshot`, whose pci/devices/ is such a copy).  Each
    function is a directory named by its BDF holding vendor, device, class
    and config (the PCI configuration space; bus numbers and the PCIe
    capability come from it), and optionally driver, iommu_group and iommu
    as links or as files holding the name;
  * `lspci -tv` (or -tvnn) text: the tree gives parents and secondary buses;
  * `lspci -vmm -D` (or -vmmnn) text: names and IDs, no tree.
Nothing in an input decides how much is read: members and files are capped.
"""
from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass

from ..engine.pci import BdfError, parse_bdf
from ..errors import InputError
from .topology import PCIE_TYPES, PciDevice, Topology, bdf_key

MAX_MEMBERS = 200_000
MAX_FILE = 1 << 20          # a sysfs attribute or table is far smaller
MAX_TOTAL = 512 << 20

BDF_NAME = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")


@dataclass(frozen=True)
class Link:
    target: str


Tree = dict  # relative path -> bytes | Link | None (a directory)


def load_tree(path: str) -> Tree:
    """A directory or tar archive as {relative path: bytes | Link | None}."""
    if os.path.isdir(path):
        return _dir_tree(path)
    try:
        tf = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{path}: not a directory or tar archive: {exc}") from None
    out: Tree = {}
    total = 0
    with tf:
        for n, m in enumerate(tf):
            if n >= MAX_MEMBERS:
                raise InputError(f"{path}: more than {MAX_MEMBERS} members")
            name = m.name.lstrip("./").rstrip("/")
            if not name:
                continue
            if m.isdir():
                out[name] = None
            elif m.issym() or m.islnk():
                out[name] = Link(m.linkname)
            elif m.isfile():
                f = tf.extractfile(m)
                data = f.read(MAX_FILE) if f else b""
                total += len(data)
                if total > MAX_TOTAL:
                    raise InputError(f"{path}: more than {MAX_TOTAL >> 20} MiB of content")
                out[name] = data
    return out


def _dir_tree(root: str) -> Tree:
    out: Tree = {}
    total = 0
    # followlinks=False: a sysfs copy is full of links back up the tree.
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel + "/"
        for d in list(dirs):
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                out[rel + d] = Link(os.readlink(full))
                dirs.remove(d)
            else:
                out[rel + d] = None
        for f in files:
            full = os.path.join(dirpath, f)
            if len(out) >= MAX_MEMBERS:
                raise InputError(f"{root}: more than {MAX_MEMBERS} files")
            if os.path.islink(full):
                out[rel + f] = Link(os.readlink(full))
                continue
            try:
                with open(full, "rb") as fh:
                    data = fh.read(MAX_FILE)
            except OSError:
                continue        # unreadable sysfs attributes (resource files, ...)
            total += len(data)
            if total > MAX_TOTAL:
                raise InputError(f"{root}: more than {MAX_TOTAL >> 20} MiB of content")
            out[rel + f] = data
    return out


def split_bdf(name: str) -> tuple[int, int, str]:
    """(domain, RID, canonical name) of a sysfs name 'dddd:bb:dd.f'; domains
    above 0xFFFF (Intel VMD) are kept as they are, no ACPI segment has them."""
    dom, bus, devfn = name.rsplit(":", 2)[-3:] if name.count(":") >= 2 else ("0", *name.split(":"))
    dev, fn = devfn.split(".")
    rid = int(bus, 16) << 8 | int(dev, 16) << 3 | int(fn, 16)
    return int(dom, 16), rid, bdf_key(int(dom, 16), rid)


def find_devices_dir(tree: Tree) -> str | None:
    """The folder whose entries are BDF-named: '' (the root), 'devices',
    'pci/devices', with or without one top folder."""
    counts: dict[str, int] = {}
    for name in tree:
        head, _, leaf = name.rpartition("/")
        if BDF_NAME.match(leaf):
            counts[head] = counts.get(head, 0) + 1
    if not counts:
        return None
    # A snapshot also names IOMMUs and group members by BDF: prefer pci/devices.
    return min(counts, key=lambda h: (not (h == "pci/devices" or h.endswith("/pci/devices")),
                                      "iommu" in h, h.count("/"), -counts[h]))


def _text(v) -> str | None:
    if isinstance(v, bytes):
        return v.decode("ascii", "replace").strip()
    if isinstance(v, Link):
        return v.target.rstrip("/").rsplit("/", 1)[-1]
    return None


def _hex(v) -> int | None:
    t = _text(v)
    try:
        return int(t, 16) if t else None
    except ValueError:
        return None


def pcie_from_config(cfg: bytes) -> tuple[str | None, int | None, int | None]:
    """(PCIe port type or None, secondary bus, subordinate bus) from config
    space: the header type says whether there are bus numbers (type 1,
    offsets 0x19/0x1A); the capability list (from 0x34, PCI 3.0 6.7) gives
    the PCI Express capability (ID 0x10), flags at +2, type in bits 7:4."""
    if len(cfg) < 0x40:
        return None, None, None
    sec = sub = None
    if cfg[0x0E] & 0x7F == 1:
        sec, sub = cfg[0x19], cfg[0x1A]
    kind = None
    if cfg[0x06] & 0x10:            # Status: capabilities list
        ptr, seen = cfg[0x34] & 0xFC, set()
        while ptr >= 0x40 and ptr + 4 <= len(cfg) and ptr not in seen:
            seen.add(ptr)
            if cfg[ptr] == 0x10:
                t = cfg[ptr + 2] >> 4
                kind = PCIE_TYPES.get(t, f"type-{t}")
                break
            ptr = cfg[ptr + 1] & 0xFC
    return kind, sec, sub


def topology_from_tree(tree: Tree, source: str, base: str | None = None) -> Topology:
    base = find_devices_dir(tree) if base is None else base
    if base is None:
        raise InputError(f"{source}: no PCI function directories (named like 0000:00:01.0)")
    prefix = base + "/" if base else ""
    topo = Topology(source=source)
    short_cfg = 0
    for name in sorted(tree):
        if not name.startswith(prefix) or "/" in name[len(prefix):]:
            continue
        leaf = name[len(prefix):]
        if not BDF_NAME.match(leaf):
            continue
        seg, rid, _ = split_bdf(leaf)
        attrs = {k[len(name) + 1:]: v for k, v in tree.items() if k.startswith(name + "/")
                 and "/" not in k[len(name) + 1:]}
        dev = PciDevice(segment=seg or 0, rid=rid, vendor=_hex(attrs.get("vendor")),
                        device=_hex(attrs.get("device")), cls=_hex(attrs.get("class")))
        cfg = attrs.get("config")
        if isinstance(cfg, bytes) and len(cfg) >= 0x40:
            dev.pcie_type, dev.secondary, dev.subordinate = pcie_from_config(cfg)
            if len(cfg) <= 0x40:
                short_cfg += 1
                dev.pcie_known = False
        else:
            dev.pcie_known = False
            short_cfg += 1
        for attr in ("driver", "iommu_group", "iommu"):
            v = attrs.get(attr)
            setattr(dev, "group" if attr == "iommu_group" else attr,
                    _text(v) if v is not None else None)
        link = tree.get(name)
        if isinstance(link, Link):      # a raw /sys/bus/pci/devices link: its path is the tree
            parts = [p for p in link.target.split("/") if BDF_NAME.match(p)]
            if len(parts) >= 2:
                dev.parent = split_bdf(parts[-2])[2]
        topo.devices[dev.bdf] = dev
    if short_cfg:
        topo.notes.append(f"{short_cfg} function(s) without the capability part of their "
                          "config space (copied without root?): their bridge types are unknown")
    topo.link_parents()
    return topo


# ---- lspci text -------------------------------------------------------------

_NN = re.compile(r"\s*\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]")
# Words lspci prints for a PCIe-to-PCI bridge (pci.ids names); a bridge
# named otherwise in lspci text is taken as a PCIe port (no alias), as noted.
_PCIE_TO_PCI = re.compile(r"PCI ?-?e(xpress)?[- ]to[- ]PCI(?!\s*-?\s*e)|PCIe-PCI", re.I)
_ROOT_PORT = re.compile(r"root port|PCI Express Port|PCIe Port|downstream|upstream", re.I)


def _named(dev: PciDevice, words: str) -> None:
    m = None
    for m in _NN.finditer(words):
        pass
    if m is not None:
        dev.vendor, dev.device = int(m[1], 16), int(m[2], 16)
        words = words[:m.start()] + words[m.end():]
    dev.name = words.strip()
    if _PCIE_TO_PCI.search(dev.name):
        dev.pcie_type = "pcie-to-pci-bridge"
    elif _ROOT_PORT.search(dev.name):
        dev.pcie_type = "root-port"


_TREE_ROOT = re.compile(r"^[\s|+\\-]*\[(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2})\]")
_TREE_SKIP = re.compile(r"[\s|+\\-]*")
_TREE_NODE = re.compile(r"([0-9a-fA-F]{2})\.([0-7])(?:-\[([0-9a-fA-F]{2})(?:-([0-9a-fA-F]{2}))?\])?")


def parse_lspci_tree(text: str, source: str = "lspci -tv") -> Topology:
    """`lspci -tv` (-tvnn): a root bus prints '-[0000:00]-', each function
    'dd.f', a bridge 'dd.f-[ss]' or 'dd.f-[ss-uu]' followed by its children
    further right; siblings share a column.  A leaf's words follow it (lspci
    names no bridge in this view)."""
    topo = Topology(source=source)
    seg = 0
    stack: list[tuple[int, int, str | None]] = []     # (column, bus, bridge)
    for line in text.splitlines():
        pos = 0
        r = _TREE_ROOT.match(line)
        if r:
            seg = int(r[1], 16) if r[1] else 0
            stack = [(line.index("["), int(r[2], 16), None)]
            pos = r.end()
        while stack:
            skip = _TREE_SKIP.match(line, pos)      # `*`: always matches, maybe empty
            pos = skip.end() if skip else pos
            t = _TREE_NODE.match(line, pos)
            if not t:
                break
            col = t.start()
            while len(stack) > 1 and stack[-1][0] >= col:
                stack.pop()
            _, bus, parent = stack[-1]
            dev = PciDevice(segment=seg, rid=bus << 8 | int(t[1], 16) << 3 | int(t[2]),
                            parent=parent, pcie_known=False)
            topo.devices.setdefault(dev.bdf, dev)
            pos = t.end()
            if t[3]:
                dev.secondary = int(t[3], 16)
                dev.subordinate = int(t[4], 16) if t[4] else dev.secondary
                stack.append((col, dev.secondary, dev.bdf))
                continue
            _named(dev, line[pos:])
            break
    if not topo.devices:
        raise InputError(f"{source}: no PCI functions in this lspci -tv text")
    return topo


def merge(tree: Topology, names: Topology) -> Topology:
    """lspci -tv's tree with lspci -vmm's IDs and names (one text holding
    both outputs): bridges are named only in -vmm."""
    for bdf, d in names.devices.items():
        t = tree.devices.get(bdf)
        if t is None:
            tree.devices[bdf] = d
            continue
        t.vendor, t.device, t.cls, t.driver = d.vendor, d.device, d.cls, d.driver
        t.name = d.name or t.name
        t.pcie_type = d.pcie_type or t.pcie_type
    tree.source = names.source
    return tree


def parse_lspci_vmm(text: str, source: str = "lspci -vmm") -> Topology:
    """`lspci -vmm -D` records: 'Slot:', 'Class:', 'Vendor:', 'Device:'
    lines, a blank line between functions.  No tree: bridges are unknown."""
    topo = Topology(source=source)
    for lineno, block in enumerate(re.split(r"\n\s*\n", text), 1):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            k, sep, v = line.partition(":")
            if sep:
                fields.setdefault(k.strip(), v.strip())
        if "Slot" not in fields:
            continue
        try:
            slot = fields["Slot"]
            seg, rid = split_bdf(slot)[:2] if BDF_NAME.match(slot) else parse_bdf(slot)
        except BdfError as exc:
            raise InputError(f"{source}: record {lineno}: {exc}") from None
        dev = PciDevice(segment=seg or 0, rid=rid, pcie_known=False)
        words = [re.sub(r"\s*\[[0-9a-fA-F]{4}\]$", "", fields.get(k, "")) for k in
                 ("Vendor", "Device")]
        dev.vendor = _id4(fields.get("Vendor", ""))
        dev.device = _id4(fields.get("Device", ""))
        c = re.search(r"\[([0-9a-fA-F]{4})\]", fields.get("Class", ""))
        if c:
            dev.cls = int(c[1], 16) << 8
        dev.name = " ".join(w for w in words if w)
        if _PCIE_TO_PCI.search(dev.name):
            dev.pcie_type = "pcie-to-pci-bridge"
        if "Driver" in fields:
            dev.driver = fields["Driver"]
        topo.devices[dev.bdf] = dev
    if not topo.devices:
        raise InputError(f"{source}: no 'Slot:' records of lspci -vmm")
    return topo


def _noted(topo: Topology) -> Topology:
    """lspci text says what a bridge is only by its name (-vmm): say which
    bridges are taken as PCIe ports for want of a better word."""
    unknown = [d.bdf for d in topo if d.secondary is not None and d.pcie_type is None]
    if unknown:
        topo.notes.append("bridge type not known from lspci text (taken as PCIe ports, no "
                          "alias): " + ", ".join(unknown) + "; a sysfs snapshot is exact")
    return topo


def _id4(value: str) -> int | None:
    m = re.search(r"\[([0-9a-fA-F]{4})\]\s*$", value)
    if m:
        return int(m[1], 16)
    return int(value, 16) if re.fullmatch(r"[0-9a-fA-F]{4}", value) else None


def read_topology(path: str) -> Topology:
    """A topology from a sysfs copy (directory or tar), or lspci text."""
    if os.path.isdir(path) or (os.path.isfile(path) and _is_tar(path)):
        return topology_from_tree(load_tree(path), path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TOTAL)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    text = data.decode("utf-8", "replace")
    has_tree = _TREE_ROOT.search(text) is not None or re.search(r"^\s*-\[", text, re.M)
    if re.search(r"^Slot:", text, re.M):
        names = parse_lspci_vmm(text, path)
        if not has_tree:
            names.notes.append("lspci -vmm text has no tree: DMA aliases from bridges are "
                               "not known (add lspci -tv's output to the file, or give a "
                               "sysfs snapshot)")
            return names
        body = "\n".join(l for l in text.splitlines() if not re.match(r"^\w+:\s", l))
        return _noted(merge(parse_lspci_tree(body, path), names))
    if has_tree:
        return _noted(parse_lspci_tree(text, path))
    raise InputError(f"{path}: not a sysfs copy, nor lspci -vmm or -tv text")


def _is_tar(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


__all__ = ["read_topology", "load_tree", "topology_from_tree", "parse_lspci_tree",
           "parse_lspci_vmm", "pcie_from_config", "Link"]
