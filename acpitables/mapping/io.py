"""acpitables.mapping.io -- open any input as a mapper; compare two.

    open_mapper(path)  a YAML description, a table file / directory /
                       acpidump text (IORT and VIOT combined as Linux does),
                       or a .dts / .dtb
    agree(a, b)        do two mappers say the same for every RID of the
                       16-bit space of each segment?

Agreement compares, per RID: translated or not (Bypass and MapError both
mean direct DMA, but an error on one side and a bypass on the other is
reported, as a different kind), the output ID, and the IOMMU. IOMMU names
cannot be related across formats (a VIOT node, an IORT SMMU, a DT phandle),
so by default the PARTITION is compared: the IOMMUs of A and B are paired as
they are met, and a RID whose A-IOMMU is paired with another B-IOMMU is a
difference. `by_name=True` requires equal names instead (a description and
its own built table).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from .. import api
from . import dt
from ..engine.registry import TABLES
from ..engine.table import encode_table
from ..formats import sources
from ..errors import AcpiTablesError, Diagnostic, InputError
from .acpi import for_table, for_tables
from .results import MapError, Mapper, Result, Span, Translated


def open_mapper(path: str, compat: str = dt.DEFAULT_COMPAT, node: str | None = None,
                topology: Any = None, cmdline: str | None = None) -> Mapper:
    """Any input the tool reads, as one mapper; `topology` (a
    mapping.topology.Topology) goes to the engines whose answers depend on
    the PCI topology (DMAR bridge scopes, IVRS aliases).

    A directory or dump holding several tables keeps going past a table
    that does not decode: the mapper is built from the others, and
    `mapper.skipped` lists each broken one as an error Diagnostic naming
    its file (a single broken table is an InputError, as before).
    `cmdline` (a kernel command line) goes to the engines it can change
    (IVRS: ivrs_acpihid / ivrs_ioapic / ivrs_hpet)."""
    if path != "-" and dt.is_dt(path):
        return dt.mapper_from_file(path, compat, node)
    if path != "-" and Path(path).suffix in (".yaml", ".yml"):
        return description_mapper(path, topology, cmdline)
    try:
        src = sources.read(path)
    except InputError as exc:
        if path != "-" and Path(path).is_file() and _is_text(path):
            return description_mapper(path, topology, cmdline)
        raise InputError(f"{exc}; nor a Devicetree (.dts/.dtb) or a YAML description") from None
    tables, skipped = [], []
    for name, data in src.tables:
        try:
            tables.append(api.decode(data).table)
        except AcpiTablesError as exc:
            if len(src.tables) == 1:
                raise
            skipped.append(Diagnostic("error", str(exc), file=name, code="MAP-SKIPPED-TABLE"))
    try:
        m = for_tables(tables, topology, cmdline)
    except InputError as exc:
        why = "; ".join(str(d) for d in skipped)
        raise InputError(f"{path}: {exc}" + (f" (skipped: {why})" if why else "")) from None
    m.skipped = skipped
    return m


def _is_text(path: str) -> bool:
    try:
        Path(path).read_bytes()[:65536].decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return True


def description_mapper(path: str, topology: Any = None, cmdline: str | None = None) -> Mapper:
    data, name = api.load_description(Path(path))
    table, _ = api.compile_description(data, name)
    place_nodes(table)
    return for_table(table, topology, cmdline)


def place_nodes(table) -> None:
    """Give a compiled table's nodes the offsets the build gives them, so a
    reference written as a raw offset (the description's escape hatch)
    finds the node the built table will have there. The layout pass itself
    says where: the table is built and decoded once."""
    spec = TABLES.get(table.signature)
    if spec is None or all(n.offset is not None for n in table.nodes):
        return
    try:
        built = api.decode(encode_table(table, spec)).table
    except AcpiTablesError:
        return          # not buildable: raw offsets stay unresolved (dangling)
    if len(built.nodes) == len(table.nodes):
        for mine, theirs in zip(table.nodes, built.nodes):
            if mine.offset is None:
                mine.offset = theirs.offset


@dataclass(frozen=True)
class Difference:
    segment: int
    first: int
    last: int
    kind: str           # "translation" | "output-id" | "iommu" | "error"
    a: Result           # at `first`
    b: Result

    def as_dict(self) -> dict:
        return {"segment": self.segment, "first": self.first, "last": self.last,
                "kind": self.kind, "a": self.a.as_dict(), "b": self.b.as_dict()}


@dataclass
class Agreement:
    segments: list[int]
    differences: list[Difference] = field(default_factory=list)
    pairs: dict[str, str] = field(default_factory=dict)   # A IOMMU -> B IOMMU
    by_name: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def differing_ids(self) -> int:
        return sum(d.last - d.first + 1 for d in self.differences)

    def as_dict(self) -> dict:
        return {"agree": self.ok, "segments": self.segments, "iommu_pairs": self.pairs,
                "mode": "by-name" if self.by_name else "partition",
                "differing_ids": self.differing_ids,
                "differences": [d.as_dict() for d in self.differences]}


def _pieces(sa: list[Span], sb: list[Span]):
    """Both span lists cut at each other's boundaries."""
    i = j = 0
    while i < len(sa) and j < len(sb):
        a, b = sa[i], sb[j]
        lo, hi = max(a.start, b.start), min(a.end, b.end)
        yield lo, hi, Span(lo, hi, a.at(lo), a.step), Span(lo, hi, b.at(lo), b.step)
        if a.end == hi:
            i += 1
        if b.end == hi:
            j += 1


def _same_at(prev: Result, step: int, first: int, new: Result, new_step: int, at: int) -> bool:
    """Does `new` (a side's result at ID `at`) continue `prev` (that side's
    result at `first`, growing by `step`)? Equal non-translations do;
    translations must be by the same IOMMU with the very ID prev's range
    gives at `at`, and grow alike."""
    if type(prev) is not type(new):
        return False
    if not isinstance(prev, Translated):
        return prev == new
    return (new_step == step or at == first) and prev.shifted(step * (at - first)) == new


def agree(a: Mapper, b: Mapper, segments: list[int] | None = None, msi: bool = False,
          by_name: bool = False) -> Agreement:
    segs = segments if segments is not None else sorted(set(a.segments()) | set(b.segments()))
    out = Agreement(segs, by_name=by_name)
    b2a: dict[str, str] = {}

    # (difference index, A step, B step) of the last difference: a new one
    # extends it only when both sides say exactly what it would say there
    last: list = [None]

    def add(seg: int, lo: int, hi: int, kind: str, pa: Span, pb: Span) -> None:
        ra, rb = pa.result, pb.result
        if last[0] is not None and out.differences:
            prev = out.differences[-1]
            sa, sb = last[0]
            if (prev.segment == seg and prev.kind == kind and prev.last + 1 == lo
                    and _same_at(prev.a, sa, prev.first, ra, pa.step, lo)
                    and _same_at(prev.b, sb, prev.first, rb, pb.step, lo)):
                out.differences[-1] = Difference(seg, prev.first, hi, kind, prev.a, prev.b)
                return
        out.differences.append(Difference(seg, lo, hi, kind, ra, rb))
        last[0] = (pa.step, pb.step)

    for seg in segs:
        ma, mb = a.segment_map(seg, msi), b.segment_map(seg, msi)
        for lo, hi, pa, pb in _pieces(ma.spans, mb.spans):
            ta, tb = isinstance(pa.result, Translated), isinstance(pb.result, Translated)
            if not ta and not tb:
                if isinstance(pa.result, MapError) != isinstance(pb.result, MapError):
                    add(seg, lo, hi, "error", pa, pb)
                continue
            if ta != tb:
                add(seg, lo, hi, "translation", pa, pb)
                continue
            ia, ib = pa.result.iommu, pb.result.iommu
            if by_name:
                same = ia == ib
            else:
                same = out.pairs.setdefault(ia, ib) == ib and b2a.setdefault(ib, ia) == ia
            if not same:
                add(seg, lo, hi, "iommu", pa, pb)
                continue
            # outputs: linear (step 1) or constant (step 0) over lo..hi
            if pa.step == pb.step or hi == lo:
                if pa.result.output_id != pb.result.output_id:
                    add(seg, lo, hi, "output-id", pa, pb)
                continue
            # one linear, one constant: they meet at most at one ID
            lin, const = (pa, pb) if pa.step else (pb, pa)
            meet = lo + ((const.result.output_id - lin.result.output_id) & 0xFFFFFFFF)
            for x0, x1 in ((lo, min(hi, meet - 1)), (max(lo, meet + 1), hi)):
                if x0 <= x1:
                    add(seg, x0, x1, "output-id", Span(x0, x1, pa.at(x0), pa.step),
                        Span(x0, x1, pb.at(x0), pb.step))
    return out


def open_and_agree(path_a: str, path_b: str, **kw) -> Agreement:
    opts = {k: kw.pop(k) for k in ("compat",) if k in kw}
    return agree(open_mapper(path_a, **opts), open_mapper(path_b, **opts), **kw)


__all__ = ["open_mapper", "description_mapper", "agree", "open_and_agree", "Agreement",
           "Difference", "AcpiTablesError"]
