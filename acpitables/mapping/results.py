"""acpitables.mapping.results -- the answers every mapper engine gives, and
the spans they are computed over.

One result type for every firmware format:

    Translated(iommu, output_id, chain)   the IOMMU (or, on the MSI path, the
                                          MSI controller), the endpoint /
                                          stream / device ID, the nodes followed
    Bypass(reason, detail)                not behind an IOMMU (Linux: direct DMA);
                                          on the MSI path: no MSI domain, the ID
                                          passed through unchanged
    MapError(reason, detail)              broken firmware (Linux fails open too:
                                          the device does direct DMA)

An engine precompiles its table into sorted, non-overlapping spans per PCI
segment (`IntervalMap`), so a lookup is one bisect and `segment_map()` is
the whole 16-bit ID space as a compact list of ranges. `Mapper` is what
every engine offers; the engines live in one module per table format
(iort.py, viot.py, dt.py), the ACPI front end in acpi.py.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Iterable, Sequence, Union

from ..engine.registry import TABLES, role_of
from ..engine.roles import NO_ROLE, Role
from ..engine.table import Node, Ref, Table

U32 = 0xFFFFFFFF
RID_MAX = 0xFFFF


# --- results -----------------------------------------------------------------

class BypassReason(str, Enum):
    NO_DESCRIPTION = "no-description"        # no map / no RC node for the segment / no NC
    NO_MATCH = "no-match"                    # a gap: nothing covers the ID
    NOT_BEHIND_IOMMU = "not-behind-iommu"    # IORT walk ends at an ITS or other non-IOMMU node
    TARGET_UNAVAILABLE = "target-unavailable"  # DT target node status != okay
    SELF = "self"                            # VIOT: the device is the IOMMU itself


@dataclass(frozen=True)
class Translated:
    iommu: str                     # the IOMMU's name (the MSI controller's on the MSI path)
    output_id: int                 # endpoint ID / StreamID / DeviceID (first cell)
    chain: tuple[str, ...] = ()    # nodes followed, start first, IOMMU last
    cells: tuple[int, ...] = ()    # DT v7.2 multi-cell specifier (empty: one cell)
    more_ids: tuple[int, ...] = ()  # a platform device: further single-mapping IDs
    id_cells: int = 1              # DT: the target's #iommu-cells; 0 = no ID at all

    kind = "translated"

    def shifted(self, delta: int) -> "Translated":
        if not self.id_cells:          # a 0-cell specifier has no ID to move
            return self
        return replace(self, output_id=(self.output_id + delta) & U32)

    def as_dict(self) -> dict:
        out = {"result": "translated", "iommu": self.iommu, "output_id": self.output_id,
               "chain": list(self.chain)}
        if self.cells:
            out["cells"] = list(self.cells)
        if self.more_ids:
            out["more_ids"] = list(self.more_ids)
        if not self.id_cells:
            out["id_cells"] = 0
        return out

    def __str__(self) -> str:
        text = f"translated by {self.iommu}, ID 0x{self.output_id:X}" if self.id_cells else \
            f"translated by {self.iommu}, no ID (#iommu-cells = <0>)"
        if self.cells:
            text += " (cells " + " ".join(f"0x{c:X}" for c in self.cells) + ")"
        if self.more_ids:
            text += " and " + ", ".join(f"0x{i:X}" for i in self.more_ids)
        if len(self.chain) > 1:
            text += " via " + " -> ".join(self.chain)
        return text


MSI_PASSTHROUGH = "no MSI domain: Linux passes the ID through unchanged"


def _msi_dict(r: "Bypass | MapError") -> dict:
    if not r.msi:
        return {}
    out: dict = {"msi_domain": None, "id_unchanged": True}
    if r.device_id is not None:
        out["device_id"] = r.device_id
    return out


def _msi_text(r: "Bypass | MapError") -> str:
    if not r.msi:
        return ""
    ident = f" (DeviceID 0x{r.device_id:X})" if r.device_id is not None else ""
    return f"; {MSI_PASSTHROUGH}{ident}"


@dataclass(frozen=True)
class Bypass:
    reason: BypassReason
    detail: str = ""
    # The MSI path (iort_msi_map_id / of_msi_xlate): no controller found, so
    # the device gets no MSI domain and its ID goes on unchanged.
    msi: bool = False
    device_id: int | None = None   # that unchanged ID, on a single lookup

    kind = "bypass"

    def as_dict(self) -> dict:
        return {"result": "bypass", "reason": self.reason.value, "detail": self.detail,
                **_msi_dict(self)}

    def __str__(self) -> str:
        return (f"bypass ({self.reason.value}{': ' + self.detail if self.detail else ''})"
                + _msi_text(self))


@dataclass(frozen=True)
class MapError:
    reason: str                    # "dangling-reference", "loop", "malformed", ...
    detail: str = ""
    linux_effect: str = "no-iommu"  # Linux fails open: the device does direct DMA
    msi: bool = False              # as for Bypass
    device_id: int | None = None

    kind = "error"

    def as_dict(self) -> dict:
        return {"result": "error", "reason": self.reason, "detail": self.detail,
                **_msi_dict(self)}

    def __str__(self) -> str:
        return (f"error ({self.reason}{': ' + self.detail if self.detail else ''})"
                + _msi_text(self))


Result = Union[Translated, Bypass, MapError]


def effective_bypass(result: Result) -> bool:
    """What Linux does to the device: anything but Translated is direct DMA."""
    return not isinstance(result, Translated)


# --- spans -------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """IDs start..end (inclusive) give `result`; for a Translated result its
    output_id belongs to `start` and grows by `step` per ID (1: linear,
    0: every ID gets the same output, as with an IORT single mapping)."""

    start: int
    end: int
    result: Result
    step: int = 1

    def at(self, ident: int) -> Result:
        r = self.result
        if isinstance(r, Translated) and self.step and ident != self.start:
            return r.shifted(self.step * (ident - self.start))
        return r

    def as_dict(self) -> dict:
        out = {"first": self.start, "last": self.end, **self.result.as_dict()}
        if isinstance(self.result, Translated):
            out["output_base"] = out.pop("output_id")
            if self.step == 0:
                out["constant"] = True
        return out


def _continues(a: Span, b: Span) -> bool:
    """b directly follows a and says the same thing (so they merge)."""
    if a.end + 1 != b.start or type(a.result) is not type(b.result):
        return False
    if not isinstance(a.result, Translated):
        return a.result == b.result
    return _merged_step(a, b) is not None


def _merged_step(a: Span, b: Span) -> int | None:
    """The step of a+b, or None when they do not continue each other; a
    one-ID span fits either step."""
    if not isinstance(a.result, Translated):
        return a.step
    candidates: tuple[int, ...]
    if a.start == a.end and b.start == b.end:
        candidates = (1, 0)
    elif a.start == a.end:
        candidates = (b.step,)
    elif b.start == b.end or a.step == b.step:
        candidates = (a.step,)
    else:
        return None
    for step in candidates:
        if a.result.shifted(step * (b.start - a.start)) == b.result:
            return step
    return None


def compact(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        if out and _continues(out[-1], s):
            prev = out[-1]
            step = _merged_step(prev, s)     # not None: _continues said so
            out[-1] = Span(prev.start, s.end, prev.result, prev.step if step is None else step)
        else:
            out.append(s)
    return out


class IntervalMap:
    """Sorted, non-overlapping spans covering lo..hi; lookups bisect."""

    def __init__(self, spans: Sequence[Span], lo: int = 0, hi: int = RID_MAX):
        self.lo, self.hi = lo, hi
        self.spans = compact(spans)
        self._starts = [s.start for s in self.spans]

    @classmethod
    def undescribed(cls, why: str) -> "IntervalMap":
        """The whole RID space bypassing: nothing describes this segment/path."""
        return cls([Span(0, RID_MAX, Bypass(BypassReason.NO_DESCRIPTION, why))])

    def span_at(self, ident: int) -> Span:
        i = bisect_right(self._starts, ident) - 1
        if i < 0 or ident > self.spans[i].end:
            raise ValueError(f"ID 0x{ident:X} is outside 0x{self.lo:X}..0x{self.hi:X}")
        return self.spans[i]

    def lookup(self, ident: int) -> Result:
        return self.span_at(ident).at(ident)

    def pieces(self, lo: int, hi: int) -> Iterable[Span]:
        """The spans (clipped) that cover lo..hi."""
        i = max(bisect_right(self._starts, lo) - 1, 0)
        while i < len(self.spans) and self.spans[i].start <= hi:
            s = self.spans[i]
            a, b = max(s.start, lo), min(s.end, hi)
            if a <= b:
                yield Span(a, b, s.at(a), s.step)
            i += 1

    def translated(self) -> list[Span]:
        return [s for s in self.spans if isinstance(s.result, Translated)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalMap) and self.spans == other.spans

    def __repr__(self) -> str:
        return f"IntervalMap({self.spans!r})"


def overlay(primary: IntervalMap, fallback: IntervalMap) -> IntervalMap:
    """primary where it translates, fallback elsewhere (ACPI: IORT, then VIOT)."""
    out: list[Span] = []
    for s in primary.spans:
        if isinstance(s.result, Translated):
            out.append(s)
        else:
            out.extend(fallback.pieces(s.start, s.end))
    return IntervalMap(out, primary.lo, primary.hi)


def paint(rules: Sequence[tuple[int, int, Any]], lo: int, hi: int,
          extra_points: Iterable[int] = ()) -> list[tuple[int, int, int | None]]:
    """Elementary intervals of lo..hi and, for each, the index of the FIRST
    rule (start, end inclusive, payload) that covers it, or None. A sweep with
    a heap keyed on the rule index: O(n log n). `extra_points` are IDs that
    must start an interval of their own."""
    pts = {lo, hi + 1}
    for start, end, _ in rules:
        if start <= hi and end >= lo and start <= end:
            pts.add(max(start, lo))
            pts.add(min(end, hi) + 1)
    cuts = {p for p in extra_points if lo <= p <= hi}
    pts |= cuts
    points = sorted(pts)
    order = sorted((r[0], i) for i, r in enumerate(rules) if r[0] <= r[1])
    heap: list[int] = []
    j = 0
    out: list[tuple[int, int, int | None]] = []
    for k in range(len(points) - 1):
        a, b = points[k], points[k + 1] - 1
        while j < len(order) and order[j][0] <= a:
            heapq.heappush(heap, order[j][1])
            j += 1
        while heap and rules[heap[0]][1] < a:
            heapq.heappop(heap)
        win = heap[0] if heap else None
        if out and out[-1][2] == win and win is None and a not in cuts:
            out[-1] = (out[-1][0], b, None)
        else:
            out.append((a, b, win))
    return out


# --- small helpers -----------------------------------------------------------

def node_label(node: Node) -> str:
    return node.name or (f"node@0x{node.offset:X}" if node.offset is not None else "node")


NULL = "null"   # a reference to table offset 0 (Linux: no parent)


def resolve(table: Table, by_name: dict[str, Node], ref: Any) -> Node | None | str:
    """A reference -> its node; NULL for offset 0; None when it names no node."""
    if isinstance(ref, Ref):
        if ref.name is not None:
            return by_name.get(ref.name)
        ref = ref.offset
    if isinstance(ref, str):
        return by_name.get(ref)
    if isinstance(ref, int):
        if ref == 0:
            return NULL
        for n in table.nodes:
            if n.offset == ref:
                return n
    return None


def is_null(ref: Any) -> bool:
    """An output reference of 0 (table offset 0: Linux's NULL)."""
    return ref == 0 or (isinstance(ref, Ref) and ref.name is None and ref.offset == 0)


class Mapper:
    """What every engine offers. Segment maps are cached.

    describes_msi  the engine's format says where MSIs go (IORT, DT msi-map);
                   for the others the MSI path is undescribed."""

    kind = "mapper"
    describes_msi = True

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], IntervalMap] = {}
        self.skipped: list = []   # Diagnostics: inputs left out (a broken table of a dump)

    def segments(self) -> list[int]:
        raise NotImplementedError

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        raise NotImplementedError

    def segment_map(self, segment: int = 0, msi: bool = False) -> IntervalMap:
        """The whole 16-bit RID space of one PCI segment as compact spans."""
        key = (segment, msi)
        if key not in self._cache:
            imap = self._segment_map(segment, msi)
            if msi:
                imap = _as_msi(imap)
            self._cache[key] = imap
        return self._cache[key]

    def lookup(self, rid: int, segment: int = 0, msi: bool = False) -> Result:
        """One PCI function (RID = bus << 8 | devfn) of a segment."""
        if not 0 <= rid <= RID_MAX:
            raise ValueError(f"RID 0x{rid:X} does not fit 16 bits")
        return with_device_id(self.segment_map(segment, msi).lookup(rid), rid)

    def lookup_aliases(self, rids: Sequence[int], segment: int = 0) -> Result:
        """A device with DMA aliases (own RID first): Linux stops at the
        first alias that does not translate; aliases on different IOMMUs are
        an error (Linux: one device has one IOMMU)."""
        first: Translated | None = None
        ids: list[int] = []
        for rid in rids:
            r = self.lookup(rid, segment)
            if not isinstance(r, Translated):
                return r
            if first is None:
                first = r
            elif r.iommu != first.iommu:
                return MapError("mixed-iommus", f"aliases translated by {first.iommu} and {r.iommu}")
            ids.append(r.output_id)
        if first is None:
            return Bypass(BypassReason.NO_MATCH, "no RID given")
        return replace(first, more_ids=tuple(ids[1:]))

    def map_all(self, msi: bool = False) -> dict[int, list[Span]]:
        return {seg: self.segment_map(seg, msi).spans for seg in self.segments()}


class TableMapper(Mapper):
    """An engine over one decoded (or compiled) table, nodes by name and
    roles through the table registry."""

    def __init__(self, table: Table):
        super().__init__()
        self.table = table
        self.by_name = {n.name: n for n in table.nodes if n.name}
        self.roles = {id(n): role_of(table.signature, n) for n in table.nodes}

    def role(self, node: Node) -> Role:
        return self.roles.get(id(node), NO_ROLE)

    def kind_label(self, node: Node) -> str:
        spec = TABLES.get(self.table.signature)
        ntype = spec.node_types.get(node.type) if spec is not None and not node.raw else None
        return ntype.label if ntype is not None else f"type {node.type} node"

    def resolve(self, ref: Any) -> Node | None | str:
        return resolve(self.table, self.by_name, ref)


def _as_msi(imap: IntervalMap) -> IntervalMap:
    """An MSI-path map: every span that finds no controller says that the
    device has no MSI domain and keeps its ID."""
    spans = [s if isinstance(s.result, Translated) or s.result.msi
             else Span(s.start, s.end, replace(s.result, msi=True), s.step) for s in imap.spans]
    return IntervalMap(spans, imap.lo, imap.hi)


def with_device_id(result: Result, ident: int) -> Result:
    """A single MSI lookup that found no controller: name the ID that goes
    on unchanged."""
    if isinstance(result, (Bypass, MapError)) and result.msi:
        return replace(result, device_id=ident)
    return result
