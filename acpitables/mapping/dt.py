"""acpitables: dt.py -- Devicetree iommu-map / msi-map, as Linux reads them.

`DtMap` is one host bridge's map property (+ mask) with the phandle targets
it names; `DtMapper` is a set of host bridges (one per PCI segment) and
answers like the ACPI engines (mapping/results.py). Semantics: Linux drivers/of/base.c of_map_id().

    compat="linux-7.2" (default: current Linux)  variable-size entries after
        the target's #iommu-cells / #msi-cells (missing: 1), wrap-safe ends,
        a dangling phandle in ANY visited entry is an error, an empty
        property is zero entries (bypass)
    compat="linux-7.1"  4-cell entries, u32 wrap of base+length (such an
        entry matches nothing), dangling phandle only when it matches, an
        empty property is -EINVAL
    compat="linux-5.2"  as 7.1, but an ID no entry covers is an error
        (-EFAULT) instead of bypass (the gap rule arrived in v5.3)

Common to all: mask first (id & iommu-map-mask, default all ones), entries
scanned in order, first match wins, end exclusive, `id-base & ~mask` on a
visited entry is -EFAULT, a target whose status is not "okay" means no IOMMU.

Files: .dtb through the `fdt` package; .dts is compiled with dtc (Debian's
device-tree-compiler) first. `export_dt()` writes the iommu-map / msi-map
that say what a VIOT or IORT says.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..engine.pci import format_bdf
from ..errors import InputError, TableError
from .results import (U32, RID_MAX, Bypass, BypassReason, IntervalMap, MapError, Mapper,
                      Result, Span, Translated, compact, paint)

COMPATS = ("linux-7.2", "linux-7.1", "linux-5.2")
DEFAULT_COMPAT = "linux-7.2"
FDT_MAGIC = b"\xd0\x0d\xfe\xed"


@dataclass(frozen=True)
class DtTarget:
    """What a phandle points at: a node path (or label), its #iommu-cells
    (or #msi-cells; None when absent) and whether its status is okay."""

    name: str
    cells: int | None = 1
    available: bool = True


# A map entry that matched: (target, out-base cells, id-base).
_Entry = tuple[DtTarget, tuple[int, ...], int]


class DtMap:
    """One map property of one node. `cells` is the property as u32 cells
    (None: the property is absent)."""

    def __init__(self, cells: Sequence[int] | None, mask: int | None = None,
                 targets: dict[int, DtTarget] | None = None, compat: str = DEFAULT_COMPAT,
                 msi: bool = False, owner: str = "host bridge", malformed: str | None = None):
        if compat not in COMPATS:
            raise ValueError(f"unknown compat {compat!r} (known: {', '.join(COMPATS)})")
        self.cells = None if cells is None else [c & U32 for c in cells]
        self.mask = U32 if mask is None else mask & U32
        self.targets = targets or {}
        self.compat, self.msi, self.owner = compat, msi, owner
        self.prop = "msi-map" if msi else "iommu-map"
        self.malformed = malformed           # e.g. a property that is not whole cells
        self._imap: IntervalMap | None = None

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[int, str | int, int, int]],
                     mask: int | None = None, targets: dict[str, DtTarget] | None = None,
                     **kw) -> "DtMap":
        """From (id-base, target, out-base, length) tuples; a target is a
        name (see `targets` for its cells/status; default one cell, okay)."""
        names: dict[str, int] = {}
        by_phandle: dict[int, DtTarget] = {}
        cells: list[int] = []
        for base, target, out, length in entries:
            if isinstance(target, int):
                ph = target
            else:
                ph = names.setdefault(target, len(names) + 1)
                by_phandle[ph] = (targets or {}).get(target, DtTarget(target))
            cells += [base, ph, out, length]
        return cls(cells, mask, by_phandle, **kw)

    # -- compile the whole masked ID space into spans ------------------------
    def id_map(self) -> IntervalMap:
        """Spans over the masked ID space 0..0xFFFFFFFF."""
        if self._imap is None:
            self._imap = IntervalMap(self._compile(), 0, U32)
        return self._imap

    def _everything(self, result) -> list[Span]:
        return [Span(0, U32, result)]

    def _compile(self, trace=None, focus: int = 0) -> list[Span]:
        """The masked ID space as spans; with a trace (explain), the entries
        read for the one masked ID `focus` are recorded as of_map_id reads
        them."""
        legacy = self.compat != "linux-7.2"
        notes: list[tuple[int, str, str]] = []        # (cell, action, text) in entry order
        rule_note: list[int] = []                     # rule -> its note

        def rule(lo: int, hi: int, payload: Result | _Entry, text: str = "") -> None:
            # an entry's note: its range test, or why the entry is bad
            if trace is not None:
                covers = lo <= focus <= hi
                notes.append((entry, "match" if covers else "no-match",
                              text + (f": 0x{lo:X} <= 0x{focus:X} <= 0x{hi:X} "
                                      f"{'holds' if covers else 'fails'}" if text else str(payload))))
            rules.append((lo, hi, payload))
            rule_note.append(len(notes) - 1)
        if self.malformed:
            return self._everything(MapError("EINVAL", f"{self.owner}: {self.prop}: {self.malformed}"))
        if self.cells is None:
            return self._everything(Bypass(BypassReason.NO_DESCRIPTION,
                                           f"{self.owner} has no {self.prop}"))
        c = self.cells
        if legacy and (not c or len(c) % 4):
            return self._everything(MapError("EINVAL", f"{self.owner}: {self.prop} length "
                                             f"{4 * len(c)} bytes is not a multiple of 16"
                                             if c else f"{self.owner}: empty {self.prop}"))
        one_cell = legacy or self._legacy_heuristic()
        rules: list[tuple[int, int, Result | _Entry]] = []   # (lo, hi, Result or entry tuple)
        pos = 0
        while pos < len(c):
            entry = pos
            if pos + 2 > len(c):
                rule(0, U32, MapError("EINVAL", f"{self.owner}: {self.prop} ends in a "
                                                "truncated entry"))
                break
            base, ph = c[pos], c[pos + 1]
            where = f"{self.owner}: {self.prop} entry at cell {pos}"
            if base & ~self.mask & U32:
                rule(0, U32, MapError("EFAULT", f"{where}: id-base 0x{base:X} lies "
                                                f"outside the mask 0x{self.mask:X}"))
                break
            target = self.targets.get(ph)
            ncells = 1
            if not one_cell:
                if target is None:
                    rule(0, U32, MapError("dangling-reference",
                                                    f"{where}: phandle 0x{ph:X} names no node (ENODEV)"))
                    break
                ncells = 1 if target.cells is None else target.cells
                if ncells > 16:
                    rule(0, U32, MapError("EINVAL", f"{where}: {target.name} has "
                                                    f"{ncells} cells (more than 16)"))
                    break
            if pos + 3 + ncells > len(c):
                rule(0, U32, MapError("EINVAL", f"{where}: truncated entry"))
                break
            out = tuple(c[pos + 2:pos + 2 + ncells])
            length = c[pos + 2 + ncells]
            pos += 3 + ncells
            said = "" if trace is None else (
                f"id-base 0x{base:X}, {target.name if target else f'phandle 0x{ph:X}'}, "
                f"out-base {' '.join(f'0x{o:X}' for o in out) or '(none)'}, length 0x{length:X}")
            if length == 0:
                if trace is not None:
                    notes.append((entry, "skip", f"{said}: length 0, skipped"))
                continue
            if legacy:
                if base + length > U32:              # (base + length) mod 2^32 <= base
                    if trace is not None:
                        notes.append((entry, "skip", f"{said}: id-base + length wraps past "
                                      f"2^32: {self.compat} never matches it"))
                    continue
                hi = base + length - 1
            else:
                hi = min(base + length - 1, U32)
            if target is None:                       # 7.1: found only on a match
                rule(base, hi, MapError("dangling-reference",
                                                 f"{where}: phandle 0x{ph:X} names no node"), said)
            elif length > 1 and ncells > 1:
                # of_map_id() refuses this before the IOMMU layer ever
                # looks at the target's status
                rule(base, hi, MapError("EINVAL", f"{where}: a {length}-ID range cannot "
                                                 f"map onto {ncells}-cell specifiers"), said)
            elif not target.available:
                rule(base, hi, Bypass(BypassReason.TARGET_UNAVAILABLE,
                                               f"{target.name} is not available (status)"), said)
            else:
                rule(base, hi, (target, out, base), said + " (range base .. base + length - 1)")
        gap: Result
        if self.compat == "linux-5.2":
            gap = MapError("EFAULT", f"no {self.prop} entry covers the ID (before Linux 5.3 a "
                                     "gap is an error)")
        else:
            gap = Bypass(BypassReason.NO_MATCH, f"no {self.prop} entry of {self.owner} covers it")
        spans: list[Span] = []
        for a, b, win in paint(rules, 0, U32):
            if trace is not None and a <= focus <= b:
                # of_map_id reads the entries in order; the first that covers wins
                upto = rule_note[win] if win is not None else len(notes) - 1
                for cell, action, text in notes[:upto + 1]:
                    trace.add(action, f"entry at cell {cell}: {text}", self.owner, cell=cell)
                won = rules[win][2] if win is not None else None
                if win is None:
                    trace.add("stop", str(gap), self.owner)
                elif not isinstance(won, tuple):
                    trace.add("stop", str(won), self.owner)
                else:
                    target, out, base = won
                    cells = " ".join(f"0x{(focus - base + o) & U32:X}" for o in out) or "(no cells)"
                    trace.add("arithmetic", f"out-base + (0x{focus:X} - id-base 0x{base:X}) = "
                              f"{cells}", self.owner, cell=notes[rule_note[win]][0],
                              input=focus, id_base=base, out_base=list(out))
                    trace.add("stop", f"the target {target.name} is the IOMMU"
                              if not self.msi else f"the target {target.name} is the MSI "
                              "controller", target.name)
            if win is None:
                spans.append(Span(a, b, gap))
                continue
            payload = rules[win][2]
            if not isinstance(payload, tuple):
                spans.append(Span(a, b, payload))
                continue
            target, out, base = payload
            off = a - base
            ids = tuple((off + o) & U32 for o in out)
            if not ids:
                # #iommu-cells = <0>: of_map_id() returns the target with
                # args_count 0 -- translated, with no ID (one IOMMU per
                # master, as single-context IOMMUs are).
                spans.append(Span(a, b, Translated(target.name, 0, (self.owner, target.name),
                                                   id_cells=0), 0))
                continue
            spans.append(Span(a, b, Translated(target.name, ids[0], (self.owner, target.name),
                                               ids if len(ids) > 1 else ())))
        return spans

    def _legacy_heuristic(self) -> bool:
        """v7.2: the first target has 2 cells, the map splits into 4-cell
        entries, all with the same phandle and length 1 -> read as 1-cell."""
        c = self.cells
        if not c or len(c) < 2 or len(c) % 4:
            return False
        first = self.targets.get(c[1])
        if first is None or first.cells != 2:
            return False
        return all(c[i + 1] == c[1] and c[i + 3] == 1 for i in range(0, len(c), 4))

    # -- lookups ---------------------------------------------------------------
    def lookup(self, ident: int) -> Result:
        r = self.id_map().lookup((ident & self.mask) & U32)
        return r

    def rid_map(self, trace=None) -> IntervalMap:
        """The 16-bit RID space: masked IDs looked up (one bisect per span
        when the mask keeps bits 0..15, else per RID). With a trace
        (explain), only the RID trace.focus, compiled with the recorder."""
        if trace is not None:
            rid = trace.focus
            masked = rid & self.mask & U32
            trace.add("mask", f"{self.prop}-mask 0x{self.mask:X}: 0x{rid:04X} & 0x{self.mask:X} "
                      f"= 0x{masked:X}", self.owner, input=rid, mask=self.mask, output=masked)
            r = IntervalMap(self._compile(trace, masked), 0, U32).lookup(masked)
            return IntervalMap([Span(rid, rid, r)])
        if self.mask & RID_MAX == RID_MAX:
            return IntervalMap(list(self.id_map().pieces(0, RID_MAX)))
        spans = [Span(rid, rid, self.lookup(rid)) for rid in range(RID_MAX + 1)]
        return IntervalMap(compact(spans))


# --- a set of host bridges ---------------------------------------------------

@dataclass
class DtHost:
    path: str
    segment: int
    iommu_map: DtMap
    msi_map: DtMap


class DtMapper(Mapper):
    kind = "DT"

    def __init__(self, hosts: Sequence[DtHost]):
        super().__init__()
        self.hosts = list(hosts)

    def segments(self) -> list[int]:
        return sorted({h.segment for h in self.hosts}) or [0]

    def host(self, segment: int) -> DtHost | None:
        for h in self.hosts:
            if h.segment == segment:
                return h
        return None

    def _segment_map(self, segment: int, msi: bool, trace=None) -> IntervalMap:
        h = self.host(segment)
        if h is None:
            if trace is not None:
                trace.add("stop", f"no host bridge for segment {segment}")
            return IntervalMap.undescribed(f"no host bridge for segment {segment}")
        if trace is not None:
            trace.add("start", f"segment {segment}: host bridge {h.path}, its "
                      f"{'msi-map' if msi else 'iommu-map'}", h.path)
        return (h.msi_map if msi else h.iommu_map).rid_map(trace)

    @classmethod
    def from_entries(cls, iommu_map=None, msi_map=None, iommu_map_mask=None, msi_map_mask=None,
                     segment: int = 0, compat: str = DEFAULT_COMPAT,
                     targets: dict[str, DtTarget] | None = None) -> "DtMapper":
        """One host bridge from (id-base, target name, out-base, length)
        tuples (None: property absent)."""
        def one(entries, mask, msi):
            if entries is None:
                return DtMap(None, mask, compat=compat, msi=msi)
            return DtMap.from_entries(entries, mask, targets, compat=compat, msi=msi)
        return cls([DtHost("host bridge", segment, one(iommu_map, iommu_map_mask, False),
                           one(msi_map, msi_map_mask, True))])


_CELL = re.compile(r"\s*(?:(&[A-Za-z_][A-Za-z0-9_]*)|(0[xX][0-9a-fA-F]+|\d+))\s*")


def parse_cells(text: str) -> list[int | str]:
    """A property value as written in .dts, '<0x0 &viommu 0x0 0x8>, <...>'
    -> cells (labels as '&name' strings). Only cell lists: no expressions."""
    out: list[int | str] = []
    for group in re.findall(r"<([^<>]*)>", text):
        pos = 0
        while pos < len(group):
            m = _CELL.match(group, pos)
            if not m or m.end() == pos:
                raise InputError(f"cannot read {group[pos:]!r} as a cell")
            out.append(m.group(1) if m.group(1) else int(m.group(2), 0))
            pos = m.end()
    if not out and re.sub(r"[\s,;]", "", text):
        raise InputError(f"{text!r} is not a cell list like <0x0 &iommu 0x0 0x10000>")
    return out


def map_from_text(text: str | None, mask: int | None = None,
                  targets: dict[str, DtTarget] | None = None, compat: str = DEFAULT_COMPAT,
                  msi: bool = False) -> DtMap:
    """A DtMap from a property value written as in .dts (labels for phandles)."""
    if text is None:
        return DtMap(None, mask, compat=compat, msi=msi)
    names: dict[str, int] = {}
    by_ph: dict[int, DtTarget] = {}
    cells: list[int] = []
    for cell in parse_cells(text):
        if isinstance(cell, str):
            name = cell[1:]
            ph = names.setdefault(name, len(names) + 1)
            by_ph[ph] = (targets or {}).get(name, DtTarget(name))
            cells.append(ph)
        else:
            cells.append(cell)
    return DtMap(cells, mask, by_ph, compat=compat, msi=msi)


# --- files -------------------------------------------------------------------

def dtc_path() -> str | None:
    return shutil.which("dtc")


def read_dtb_bytes(path: str | Path) -> bytes:
    """A .dtb's bytes, or a .dts compiled by dtc."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if data[:4] == FDT_MAGIC:
        return data
    dtc = dtc_path()
    if dtc is None:
        raise InputError(f"{path}: a .dts needs dtc (Debian package device-tree-compiler) "
                         "to compile it; give a .dtb instead")
    try:
        run = subprocess.run([dtc, "-q", "-@", "-I", "dts", "-O", "dtb", "-o", "-", str(p)],
                             capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{path}: dtc failed: {exc}") from None
    if run.returncode != 0:
        raise InputError(f"{path}: dtc: {run.stderr.decode(errors='replace').strip()}")
    return run.stdout


def is_dt(path: str | Path) -> bool:
    p = Path(path)
    if p.suffix in (".dts", ".dtb", ".dtbo", ".dtsi"):
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return head[:4] == FDT_MAGIC or head.startswith(b"/dts-v1/")


def _words(prop) -> list[int] | None | str:
    import fdt  # no stubs: ignore_missing_imports in pyproject.toml
    if isinstance(prop, fdt.PropWords):
        return list(prop.data)
    if isinstance(prop, fdt.PropBytes):
        raw = bytes(prop.data)
        if len(raw) % 4:
            return f"{len(raw)} bytes is not a whole number of cells"
        return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw), 4)]
    if isinstance(prop, fdt.PropStrings):
        return "a string, not cells"
    return []           # an empty property


def _tree_order(node, path: str):
    """(path, properties) of every node, parents first, in file order (fdt's
    own walk() goes backwards)."""
    yield path, list(node.props)
    for child in node.nodes:
        yield from _tree_order(child, path.rstrip("/") + "/" + child.name)


def mapper_from_dtb(data: bytes, compat: str = DEFAULT_COMPAT, node: str | None = None,
                    name: str = "<dtb>") -> DtMapper:
    """Host bridges with iommu-map or msi-map in a flattened tree."""
    import fdt  # no stubs: ignore_missing_imports in pyproject.toml
    try:
        tree = fdt.parse_dtb(data)
    except Exception as exc:  # noqa: BLE001 -- fdt raises plain exceptions on bad blobs
        raise InputError(f"{name}: not a valid .dtb: {exc}") from None
    labels: dict[str, str] = {}
    nodes: list[tuple[str, dict]] = []
    for path, props in _tree_order(tree.root, "/"):
        values = {p.name: p for p in props}
        if path == "/__symbols__":
            for p in props:
                if isinstance(p, fdt.PropStrings) and p.data:
                    labels.setdefault(p.data[0], p.name)
            continue
        nodes.append((path, values))
    phandles: dict[int, tuple[str, dict]] = {}
    for path, values in nodes:
        for key in ("phandle", "linux,phandle"):
            w = _words(values[key]) if key in values else None
            if isinstance(w, list) and w:
                phandles.setdefault(w[0], (path, values))

    def targets(cells_prop: str) -> dict[int, DtTarget]:
        out = {}
        for ph, (path, values) in phandles.items():
            w = _words(values[cells_prop]) if cells_prop in values else None
            cells = w[0] if isinstance(w, list) and w else None
            status = values.get("status")
            ok = status is None or (isinstance(status, fdt.PropStrings) and status.data
                                    and status.data[0] in ("okay", "ok"))
            out[ph] = DtTarget(labels.get(path, path), cells, bool(ok))
        return out

    iommu_targets, msi_targets = targets("#iommu-cells"), targets("#msi-cells")
    hosts: list[DtHost] = []
    used: set[int] = set()
    pending: list[tuple[str, dict]] = []
    for path, values in nodes:
        if node is not None and path != node and labels.get(path) != node:
            continue
        if "iommu-map" not in values and "msi-map" not in values:
            continue
        pending.append((path, values))
    if node is not None and not pending:
        raise InputError(f"{name}: no node {node!r} with iommu-map or msi-map")
    order: list[tuple[str, dict, int | None]] = []
    for path, values in pending:
        w = _words(values["linux,pci-domain"]) if "linux,pci-domain" in values else None
        seg = w[0] if isinstance(w, list) and w else None
        if seg is not None:
            used.add(seg)
        order.append((path, values, seg))
    free = (s for s in range(0x10000) if s not in used)
    for path, values, seg in order:
        if seg is None:
            seg = next(free)
        owner = labels.get(path, path)

        def one(prop: str, mask_prop: str, tg: dict, msi: bool) -> DtMap:
            if prop not in values:
                return DtMap(None, compat=compat, msi=msi, owner=owner)
            w = _words(values[prop])
            mask = None
            if mask_prop in values:
                mw = _words(values[mask_prop])
                mask = mw[0] if isinstance(mw, list) and mw else None
            if isinstance(w, str):
                return DtMap([], mask, tg, compat=compat, msi=msi, owner=owner, malformed=w)
            return DtMap(w, mask, tg, compat=compat, msi=msi, owner=owner)

        hosts.append(DtHost(path, seg, one("iommu-map", "iommu-map-mask", iommu_targets, False),
                            one("msi-map", "msi-map-mask", msi_targets, True)))
    segs = [h.segment for h in hosts]
    dup = sorted({s for s in segs if segs.count(s) > 1})
    if dup:
        raise InputError(f"{name}: several host bridges claim segment {dup[0]} "
                         f"({', '.join(h.path for h in hosts if h.segment == dup[0])}); "
                         "pick one with --node PATH")
    if not hosts:
        raise InputError(f"{name}: no node has an iommu-map or msi-map property")
    return DtMapper(hosts)


def mapper_from_file(path: str | Path, compat: str = DEFAULT_COMPAT,
                     node: str | None = None) -> DtMapper:
    return mapper_from_dtb(read_dtb_bytes(path), compat, node, str(path))


# --- export ------------------------------------------------------------------

def dt_label(name: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return label if label and not label[0].isdigit() else f"_{label}"


@dataclass
class DtExport:
    """Per segment: iommu-map and msi-map entries (id-base, label, out-base,
    length), plus a mask when a whole segment maps onto one ID."""

    segments: dict[int, dict] = field(default_factory=dict)
    iommus: list[str] = field(default_factory=list)
    msi_controllers: list[str] = field(default_factory=list)
    # What the .dts cannot carry: answers resting on an assumption about the
    # PCI topology (DMAR bridge scopes), further IDs a device is seen with
    # (IVRS aliases). Written as comments so a reader knows the map's limits.
    notes: list[str] = field(default_factory=list)

    def mapper(self, compat: str = DEFAULT_COMPAT) -> DtMapper:
        hosts = []
        for seg, props in self.segments.items():
            def one(key: str, msi: bool) -> DtMap:
                if key not in props:
                    return DtMap(None, compat=compat, msi=msi)
                return DtMap.from_entries(props[key], props.get(key + "-mask"), compat=compat,
                                          msi=msi)
            hosts.append(DtHost(f"segment {seg}", seg, one("iommu-map", False), one("msi-map", True)))
        return DtMapper(hosts)


def _entries(imap: IntervalMap, segment: int, prop: str) -> tuple[list[tuple[int, str, int, int]],
                                                                   int | None]:
    """The translated spans of one segment as map entries (id-base, label,
    out-base, length), and a mask when one is needed. Entries are ranges:
    Devicetree maps a range linearly (out = out-base + id - id-base), and
    the mask applies to every entry of the host bridge, so several RIDs
    that share one output ID are expressible only when they are the whole
    segment (mask 0, one entry). Anything else is refused, not written as
    one entry per RID."""
    spans = [(s, s.result) for s in imap.translated() if isinstance(s.result, Translated)]
    if (len(spans) == 1 and spans[0][0].step == 0 and spans[0][0].start == 0
            and spans[0][0].end == RID_MAX):            # one ID for every RID: mask 0
        return [(0, dt_label(spans[0][1].iommu), spans[0][1].output_id, 1)], 0
    out: list[tuple[int, str, int, int]] = []
    for s, r in spans:
        label = dt_label(r.iommu)
        if s.step == 0 and s.end > s.start:
            raise TableError(
                f"segment {segment} RIDs {format_bdf(s.start, segment)}.."
                f"{format_bdf(s.end, segment)} ({s.end - s.start + 1} RIDs) all map to ID "
                f"0x{r.output_id:X} of {r.iommu}: a Devicetree {prop} entry maps "
                f"IDs linearly and {prop}-mask applies to the whole host bridge, so this "
                "constant range (an IORT single mapping that does not cover the whole "
                "segment) has no exact Devicetree form"
                + (f" (via {' -> '.join(r.chain)})" if r.chain else ""),
                node=r.chain[0] if r.chain else None)
        if out and out[-1][1] == label and out[-1][0] + out[-1][3] == s.start \
                and out[-1][2] + out[-1][3] == r.output_id:
            base, _, first_out, n = out[-1]         # continues the previous entry
            out[-1] = (base, label, first_out, n + s.end - s.start + 1)
        else:
            out.append((s.start, label, r.output_id, s.end - s.start + 1))
    return out, None


def export_dt(mapper: Mapper) -> DtExport:
    """What a VIOT / IORT / description says, as iommu-map and msi-map.
    A VIOT IOMMU's own function is a bypass span, so it is left out (the
    one-RID gap QEMU's hw/arm/virt.c writes into its iommu-map)."""
    exp = DtExport()
    for seg in mapper.segments():
        props: dict = {}
        entries, mask = _entries(mapper.segment_map(seg), seg, "iommu-map")
        if entries:
            props["iommu-map"] = entries
            if mask is not None:
                props["iommu-map-mask"] = mask
        m_entries, m_mask = _entries(mapper.segment_map(seg, msi=True), seg, "msi-map")
        if m_entries:                                 # only an IORT says where MSIs go
            props["msi-map"] = m_entries
            if m_mask is not None:
                props["msi-map-mask"] = m_mask
        for key, names in (("iommu-map", exp.iommus), ("msi-map", exp.msi_controllers)):
            for e in props.get(key, ()):
                if e[1] not in names:
                    names.append(e[1])
        exp.segments[seg] = props
        exp.notes += _limits(mapper.segment_map(seg), seg)
    return exp


def _limits(imap, segment: int) -> list[str]:
    """One note per distinct assumption and per span with further IDs."""
    from .pcitopo import assumption_of
    notes: list[str] = []
    for s in imap.spans:
        r = s.result
        where = f"segment {segment} {format_bdf(s.start, segment)}..{format_bdf(s.end, segment)}"
        assumption = assumption_of(r)
        if assumption and not any(n.endswith(f"assumes {assumption}") for n in notes):
            notes.append(f"{where}: the answer assumes {assumption}")
        extra = [i for i in getattr(r, "more_ids", ())
                 if s.end > s.start or i != getattr(r, "output_id", None)]
        if extra:
            notes.append(f"{where}: Linux also sets up ID(s) "
                         f"{', '.join(f'0x{i:x}' for i in extra)}, which iommu-map cannot say")
    return notes


def _cells_text(entries: list[tuple[int, str, int, int]], indent: str) -> str:
    rows = [f"<0x{b:x} &{label} 0x{o:x} 0x{n:x}>" for b, label, o, n in entries]
    return (",\n" + indent).join(rows)


def render_dts(exp: DtExport, source: str = "", standalone: bool = False,
               host_label: str = "pcie{segment}") -> str:
    """The export as .dts text: a fragment of &host-bridge overrides (the
    IOMMU / ITS labels must exist in the including tree), or with
    `standalone` a whole tree with stub IOMMU and MSI controller nodes."""
    lines = [f"/* iommu-map / msi-map generated by acpitables export-dt"
             f"{' from ' + source if source else ''}. */"]
    lines += [f"/* {n.replace('*/', '* /')} */" for n in exp.notes]
    if standalone:
        lines += ["/dts-v1/;", "", "/ {", "\t#address-cells = <2>;", "\t#size-cells = <2>;", ""]
        for label in exp.iommus:
            lines += [f"\t{label}: iommu-{label} {{", "\t\t#iommu-cells = <1>;", "\t};", ""]
        for label in exp.msi_controllers:
            lines += [f"\t{label}: msi-controller-{label} {{", "\t\tmsi-controller;",
                      "\t\t#msi-cells = <1>;", "\t};", ""]
    for seg, props in exp.segments.items():
        label = host_label.format(segment=seg)
        if standalone:
            lines += [f"\t{label}: pcie-{seg} {{", '\t\tdevice_type = "pci";',
                      f"\t\tlinux,pci-domain = <{seg}>;"]
            pre = "\t\t"
        else:
            lines += [f"/* segment {seg}: the PCI host bridge with linux,pci-domain = <{seg}> */",
                      f"&{label} {{"]
            pre = "\t"
        for key in ("iommu-map", "msi-map"):
            if key in props:
                head = f"{pre}{key} = "
                lines.append(head + _cells_text(props[key], pre + "\t") + ";")
            if key + "-mask" in props:
                lines.append(f"{pre}{key}-mask = <0x{props[key + '-mask']:x}>;")
        if not props:
            lines.append(f"{pre}/* nothing is translated: no iommu-map means bypass */")
        lines += [f"{pre[:-1]}}};", ""]
    if standalone:
        lines.append("};")
    return "\n".join(lines).rstrip() + "\n"
