"""acpitables: mapper.py -- which IOMMU translates a device, and with which ID.

One result type for every firmware format (the shared team reference,
semantics.md section 2.2):

    Translated(iommu, output_id, chain)   the IOMMU (or, on the MSI path, the
                                          ITS group), the endpoint / stream /
                                          device ID, and the nodes followed
    Bypass(reason, detail)                not behind an IOMMU (Linux: direct DMA)
    MapError(reason, detail)              broken firmware (Linux fails open too:
                                          the device does direct DMA)

Engines (each precompiles its table into sorted, non-overlapping spans per
PCI segment, so a lookup is one bisect and `segment_map()` is the whole
16-bit ID space as a compact list of ranges):

    ViotMapper(table)           drivers/acpi/viot.c: inclusive ranges, segment
                                arithmetic, the LAST node wins, no IOMMU for
                                the IOMMU itself, MMIO endpoints by base
    IortMapper(table)           drivers/acpi/arm64/iort.c: inclusive
                                count-minus-one ranges, first match wins with
                                the tentative end-of-range workaround, single
                                mappings (NC/RC only), multi-level walks with
                                the SMMUv3/PMCG DeviceID index skipped, a hop
                                limit of node_count (loops end in MapError)
    AcpiMapper(iort, viot)      drivers/acpi/scan.c: IORT first, VIOT when
                                IORT does not translate
    acpitables.dt.DtMapper      Devicetree iommu-map / msi-map (dt.py)

`reference_viot()` / `reference_iort_walk()` are direct, rule-by-rule
transcriptions of Linux's lookups, used by the tests to check the span
compiler on random tables.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Iterable, Sequence, Union

from ..engine.table import Node, Ref, Table

U32 = 0xFFFFFFFF
RID_MAX = 0xFFFF

# IORT node types (ACPICA enum AcpiIortNodeType); the same numbers as
# acpitables.iort, repeated here so the mapper also works before that
# module exists.
ITS_GROUP, NAMED_COMPONENT, ROOT_COMPLEX, SMMU, SMMU_V3, PMCG, RMR, IWB = range(8)
IORT_TYPE_NAMES = {ITS_GROUP: "ITS group", NAMED_COMPONENT: "named component",
                   ROOT_COMPLEX: "root complex", SMMU: "SMMUv1/v2", SMMU_V3: "SMMUv3",
                   PMCG: "PMCG", RMR: "RMR", IWB: "IWB"}
IORT_IOMMU_TYPES = frozenset({SMMU, SMMU_V3})
IORT_MSI_TYPES = frozenset({ITS_GROUP})
SINGLE_MAPPING = 1
SMMU_V3_DEVICEID_VALID = 1 << 4

# VIOT node types (acpitables.viot)
VIOT_PCI_RANGE, VIOT_MMIO, VIOT_IOMMU_PCI, VIOT_IOMMU_MMIO = 1, 2, 3, 4


# --- results -----------------------------------------------------------------

class BypassReason(str, Enum):
    NO_DESCRIPTION = "no-description"        # no map / no RC node for the segment / no NC
    NO_MATCH = "no-match"                    # a gap: nothing covers the ID
    NOT_BEHIND_IOMMU = "not-behind-iommu"    # IORT walk ends at an ITS or other non-IOMMU node
    TARGET_UNAVAILABLE = "target-unavailable"  # DT target node status != okay
    SELF = "self"                            # VIOT: the device is the IOMMU itself


@dataclass(frozen=True)
class Translated:
    iommu: str                     # the IOMMU's name (the ITS group's on the MSI path)
    output_id: int                 # endpoint ID / StreamID / DeviceID (first cell)
    chain: tuple[str, ...] = ()    # nodes followed, start first, IOMMU last
    cells: tuple[int, ...] = ()    # DT v7.2 multi-cell specifier (empty: one cell)
    more_ids: tuple[int, ...] = ()  # IORT named component: further single-mapping IDs

    kind = "translated"

    def shifted(self, delta: int) -> "Translated":
        return replace(self, output_id=(self.output_id + delta) & U32)

    def as_dict(self) -> dict:
        out = {"result": "translated", "iommu": self.iommu, "output_id": self.output_id,
               "chain": list(self.chain)}
        if self.cells:
            out["cells"] = list(self.cells)
        if self.more_ids:
            out["more_ids"] = list(self.more_ids)
        return out

    def __str__(self) -> str:
        text = f"translated by {self.iommu}, ID 0x{self.output_id:X}"
        if self.cells:
            text += " (cells " + " ".join(f"0x{c:X}" for c in self.cells) + ")"
        if self.more_ids:
            text += " and " + ", ".join(f"0x{i:X}" for i in self.more_ids)
        if len(self.chain) > 1:
            text += " via " + " -> ".join(self.chain)
        return text


@dataclass(frozen=True)
class Bypass:
    reason: BypassReason
    detail: str = ""

    kind = "bypass"

    def as_dict(self) -> dict:
        return {"result": "bypass", "reason": self.reason.value, "detail": self.detail}

    def __str__(self) -> str:
        return f"bypass ({self.reason.value}{': ' + self.detail if self.detail else ''})"


@dataclass(frozen=True)
class MapError:
    reason: str                    # "dangling-reference", "loop", "malformed", ...
    detail: str = ""
    linux_effect: str = "no-iommu"  # Linux fails open: the device does direct DMA

    kind = "error"

    def as_dict(self) -> dict:
        return {"result": "error", "reason": self.reason, "detail": self.detail}

    def __str__(self) -> str:
        return f"error ({self.reason}{': ' + self.detail if self.detail else ''})"


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
            out[-1] = Span(prev.start, s.end, prev.result, _merged_step(prev, s))
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
    pts.update(p for p in extra_points if lo <= p <= hi)
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
        if out and out[-1][2] == win and win is None:
            out[-1] = (out[-1][0], b, None)
        else:
            out.append((a, b, win))
    return out


# --- small helpers -----------------------------------------------------------

def node_label(node: Node) -> str:
    return node.name or (f"node@0x{node.offset:X}" if node.offset is not None else "node")


def _resolve(table: Table, by_name: dict[str, Node], ref: Any) -> Node | None | str:
    """A Ref -> its node; "null" for offset 0; None when it names no node."""
    if isinstance(ref, Ref):
        if ref.name is not None:
            return by_name.get(ref.name)
        if ref.offset == 0:
            return "null"
        if ref.offset is not None:
            for n in table.nodes:
                if n.offset == ref.offset:
                    return n
        return None
    if isinstance(ref, str):
        return by_name.get(ref)
    if isinstance(ref, int):
        if ref == 0:
            return "null"
        for n in table.nodes:
            if n.offset == ref:
                return n
    return None


def _field(node: Node, name: str, default: Any = None) -> Any:
    f = node.fields
    if name in f:
        return f[name]
    header = f.get("header")
    if isinstance(header, dict) and name in header:
        return header[name]
    return default


class Mapper:
    """What every engine offers. Segment maps are cached."""

    kind = "mapper"

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], IntervalMap] = {}

    def segments(self) -> list[int]:
        raise NotImplementedError

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        raise NotImplementedError

    def segment_map(self, segment: int = 0, msi: bool = False) -> IntervalMap:
        """The whole 16-bit RID space of one PCI segment as compact spans."""
        key = (segment, msi)
        if key not in self._cache:
            self._cache[key] = self._segment_map(segment, msi)
        return self._cache[key]

    def lookup(self, rid: int, segment: int = 0, msi: bool = False) -> Result:
        """One PCI function (RID = bus << 8 | devfn) of a segment."""
        if not 0 <= rid <= RID_MAX:
            raise ValueError(f"RID 0x{rid:X} does not fit 16 bits")
        return self.segment_map(segment, msi).lookup(rid)

    def lookup_aliases(self, rids: Sequence[int], segment: int = 0) -> Result:
        """A device with DMA aliases (own RID first): Linux stops at the
        first alias that does not translate; aliases on different IOMMUs are
        an error (semantics.md section 2.2 rule 2)."""
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


# --- VIOT --------------------------------------------------------------------

VIOT_ENDPOINT_SIZE = 24  # PCI range and MMIO endpoint nodes (spec.md 2.4)


def _raw_length(node: Node) -> int:
    """The Length field of a node kept as raw bytes."""
    if node.length_override is not None:
        return node.length_override
    data = node.fields.get("data") or b""
    return int.from_bytes(data[2:4], "little") if len(data) >= 4 else len(data)


def _viot_iommu(table: Table, by_name: dict[str, Node], node: Node) -> Node | None:
    target = _resolve(table, by_name, node.fields.get("output_node"))
    if isinstance(target, Node) and not target.raw and target.type in (VIOT_IOMMU_PCI,
                                                                        VIOT_IOMMU_MMIO):
        return target
    return None


class TableMapper(Mapper):
    """An engine over one decoded (or compiled) table, nodes by name."""

    def __init__(self, table: Table):
        super().__init__()
        self.table = table
        self.by_name = {n.name: n for n in table.nodes if n.name}


class ViotMapper(TableMapper):
    kind = "VIOT"

    def __init__(self, table: Table):
        super().__init__(table)
        self.ranges: list[tuple[Node, Node | None]] = []   # (range, IOMMU or None: dropped)
        self.mmio: list[tuple[Node, Node | None]] = []
        for n in table.nodes:
            if n.raw:
                if n.type in (VIOT_PCI_RANGE, VIOT_MMIO) and _raw_length(n) < VIOT_ENDPOINT_SIZE:
                    # Linux viot_parse_node: "Invalid PCI/MMIO node size" is
                    # -EINVAL, and acpi_viot_init stops parsing there: no
                    # later endpoint node is registered.
                    break
                continue
            if n.type == VIOT_PCI_RANGE:
                self.ranges.append((n, _viot_iommu(table, self.by_name, n)))
            elif n.type == VIOT_MMIO:
                self.mmio.append((n, _viot_iommu(table, self.by_name, n)))

    # A multi-segment range covers every segment from its first to its last;
    # each is listed while that stays readable. Beyond it, the segments where
    # coverage changes stand for the rest (interior ones answer lookups the
    # same way, endpoint IDs 0x10000 further on per segment).
    LIST_ALL_SEGMENTS = 1024

    def segments(self) -> list[int]:
        segs = {0}
        spans = [(n.fields["segment_start"], n.fields["segment_end"]) for n, _ in self.ranges]
        covered = {s for lo, hi in spans if lo <= hi for s in range(lo, hi + 1)} \
            if sum(max(0, hi - lo + 1) for lo, hi in spans) <= self.LIST_ALL_SEGMENTS else None
        if covered is not None:
            segs |= covered
        else:
            for lo, hi in spans:
                segs.update(s for s in (lo, hi, lo + 1, hi + 1) if s <= 0xFFFF)
        for n in self.table.nodes:
            if n.type == VIOT_IOMMU_PCI and not n.raw:
                segs.add(n.fields["segment"])
        return sorted(segs)

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        if msi:
            return IntervalMap.undescribed("a VIOT says nothing about MSIs")
        # Rule order = priority: Linux prepends each accepted node, so the
        # LAST node in table order wins; nodes whose output node does not
        # resolve are dropped by Linux -- they decide only IDs no valid node
        # covers, and say MapError there.
        rules = []
        count = len(self.ranges)
        for idx in range(count - 1, -1, -1):
            n, iommu = self.ranges[idx]
            f = n.fields
            if iommu is not None and f["segment_start"] <= segment <= f["segment_end"]:
                rules.append((f["bdf_start"], f["bdf_end"], (n, iommu)))
        for n, iommu in self.ranges:
            f = n.fields
            if iommu is None and f["segment_start"] <= segment <= f["segment_end"]:
                rules.append((f["bdf_start"], f["bdf_end"], (n, None)))
        spans: list[Span] = []
        for a, b, win in paint(rules, 0, RID_MAX, self._self_points(segment)):
            if win is None:
                spans.append(Span(a, b, Bypass(BypassReason.NO_MATCH, "no VIOT PCI range covers it")))
                continue
            n, iommu = rules[win][2]
            f = n.fields
            if iommu is None:
                spans.append(Span(a, b, MapError(
                    "dangling-reference", f"{node_label(n)}: output node {f.get('output_node')} "
                    "is no VIOT IOMMU node (Linux drops the range)")))
                continue
            if (iommu.type == VIOT_IOMMU_PCI and iommu.fields["segment"] == segment
                    and a == b == iommu.fields["bdf"]):
                spans.append(Span(a, b, Bypass(BypassReason.SELF,
                                               f"the function is {node_label(iommu)} itself")))
                continue
            epid = (f["endpoint_start"] + ((segment - f["segment_start"]) << 16)
                    + (a - f["bdf_start"])) & U32
            spans.append(Span(a, b, Translated(node_label(iommu), epid,
                                               (node_label(n), node_label(iommu)))))
        return IntervalMap(spans)

    def _self_points(self, segment: int) -> list[int]:
        pts = []
        for n in self.table.nodes:
            if n.type == VIOT_IOMMU_PCI and not n.raw and n.fields["segment"] == segment:
                pts += [n.fields["bdf"], n.fields["bdf"] + 1]
        return pts

    def lookup_address(self, base: int) -> Result:
        """A platform device by the base of its first memory resource."""
        for n, iommu in reversed(self.mmio):           # last node wins
            if n.fields["base_address"] == base:
                if iommu is None:
                    return MapError("dangling-reference", f"{node_label(n)}: output node "
                                    f"{n.fields.get('output_node')} is no VIOT IOMMU node")
                if iommu.type == VIOT_IOMMU_MMIO and iommu.fields["base_address"] == base:
                    return Bypass(BypassReason.SELF, f"the device is {node_label(iommu)} itself")
                return Translated(node_label(iommu), n.fields["endpoint"],
                                  (node_label(n), node_label(iommu)))
        for n in self.table.nodes:
            if n.type == VIOT_IOMMU_MMIO and not n.raw and n.fields["base_address"] == base:
                return Bypass(BypassReason.SELF, f"the device is {node_label(n)} itself")
        return Bypass(BypassReason.NO_MATCH, f"no VIOT MMIO endpoint at 0x{base:X}")


def reference_viot(table: Table, rid: int, segment: int = 0) -> Result:
    """Linux viot_pci_dev_iommu_init for one ID, rule by rule (tests only)."""
    m = ViotMapper(table)
    for n, iommu in reversed(m.ranges):
        f = n.fields
        if iommu is None:
            continue
        if f["segment_start"] <= segment <= f["segment_end"] and f["bdf_start"] <= rid <= f["bdf_end"]:
            if iommu.type == VIOT_IOMMU_PCI and (iommu.fields["segment"], iommu.fields["bdf"]) == (segment, rid):
                return Bypass(BypassReason.SELF)
            return Translated(node_label(iommu), (f["endpoint_start"] + ((segment - f["segment_start"]) << 16)
                                                  + rid - f["bdf_start"]) & U32)
    for n, iommu in m.ranges:
        f = n.fields
        if iommu is None and f["segment_start"] <= segment <= f["segment_end"] and f["bdf_start"] <= rid <= f["bdf_end"]:
            return MapError("dangling-reference")
    return Bypass(BypassReason.NO_MATCH)


# --- IORT --------------------------------------------------------------------

def deviceid_mapping_index(node: Node) -> int | None:
    """Linux iort_get_id_mapping_index(): the mapping that gives the node's
    own MSI DeviceID, skipped while translating through the node."""
    mappings = node.fields.get("mappings") or []
    if node.type == SMMU_V3:
        rev = _field(node, "revision", 0)
        if rev < 1:
            return None
        if rev < 5:
            gsivs = [_field(node, k, 0) for k in ("event_gsiv", "pri_gsiv", "gerr_gsiv", "sync_gsiv")]
            if all(gsivs):
                return None
        elif not (_field(node, "flags", 0) & SMMU_V3_DEVICEID_VALID):
            return None
        index = _field(node, "id_mapping_index", 0)
        return index if index < len(mappings) else None   # FW_BUG: ignored
    if node.type == PMCG:
        if _field(node, "overflow_gsiv", 0) or not mappings:
            return None
        return 0
    return None


@dataclass
class _NodeMap:
    """One node's ID mappings compiled over the u32 input space."""
    status: str                         # "ok", "none" (no mappings), "null" (NULL reference)
    imap: IntervalMap | None = None     # result payloads: Translated(target-name, out) ...
    targets: dict = field(default_factory=dict)   # mapping index -> Node | None | "null"


class IortMapper(TableMapper):
    kind = "IORT"

    def __init__(self, table: Table):
        super().__init__(table)
        self.hop_limit = len(table.nodes)
        self._nodemaps: dict[int, _NodeMap] = {}

    # which node a device starts from
    def root_complex(self, segment: int) -> Node | None:
        for n in self.table.nodes:               # the FIRST RC of the segment
            if n.type == ROOT_COMPLEX and not n.raw and _field(n, "pci_segment_number") == segment:
                return n
        return None

    def named_component(self, path: str) -> Node | None:
        for n in self.table.nodes:
            if n.type == NAMED_COMPONENT and not n.raw and _field(n, "device_name") == path:
                return n
        return None

    def segments(self) -> list[int]:
        segs = sorted({_field(n, "pci_segment_number") for n in self.table.nodes
                       if n.type == ROOT_COMPLEX and not n.raw})
        return segs or [0]

    # one node's mappings
    def _nodemap(self, node: Node) -> _NodeMap:
        key = id(node)
        if key in self._nodemaps:
            return self._nodemaps[key]
        mappings = node.fields.get("mappings") or []
        if not mappings or node.fields.get("mapping_offset") == 0:
            # Linux: "if (!node->mapping_offset || !node->mapping_count)
            # goto fail_map" -- a Mapping Offset of 0 means no mappings,
            # whatever the count says (the array is never read).
            nm = _NodeMap("none")
        elif _resolve(self.table, self.by_name, mappings[0].get("output_reference")) == "null":
            nm = _NodeMap("null")
        else:
            nm = self._compile_node(node, mappings)
        self._nodemaps[key] = nm
        return nm

    def _compile_node(self, node: Node, mappings: list[dict]) -> _NodeMap:
        special = deviceid_mapping_index(node)
        single_ok = node.type in (NAMED_COMPONENT, ROOT_COMPLEX)
        rules: list[tuple[int, int, int]] = []       # rule index == priority order
        rule_of: list[int] = []                      # rule -> mapping index
        singles: list[int] = []                      # mapping indices of usable singles
        starts: dict[int, list[int]] = {}            # input_base -> mapping indices
        ends: list[int] = []
        for i, m in enumerate(mappings):
            if i == special:
                continue
            if m.get("flags", 0) & SINGLE_MAPPING:
                if single_ok:                        # matches ANY input ID
                    rules.append((0, U32, i))
                    rule_of.append(i)
                    singles.append(i)
                continue                              # FW_BUG elsewhere: skipped
            base, count = m["input_base"], m["id_count"]
            if base + count > U32:                   # u32 wrap: never matches
                continue
            rules.append((base, base + count, i))
            rule_of.append(i)
            starts.setdefault(base, []).append(i)
            if count:
                ends.append(base + count)
        targets: dict[int, Any] = {}
        spans: list[Span] = []
        for a, b, win in paint(rules, 0, U32, ends):
            if win is None:
                spans.append(Span(a, b, Bypass(BypassReason.NO_MATCH,
                                               f"no ID mapping of {node_label(node)} covers it")))
                continue
            i = rule_of[win]
            m = mappings[i]
            if (not (m.get("flags", 0) & SINGLE_MAPPING) and m["id_count"]
                    and a == m["input_base"] + m["id_count"] and _is_null(m.get("output_reference"))):
                # A TENTATIVE match whose reference is NULL: Linux keeps it
                # in out_ref, which stays 0, so the later mappings are tried
                # as if nothing had matched (one ID: the literal loop).
                hit = _linux_id_map(node.type, mappings, special, a)
                if hit is None:
                    spans.append(Span(a, b, Bypass(BypassReason.NO_MATCH, "only a tentative "
                                                   f"match with a NULL reference in {node_label(node)}")))
                    continue
                i, out = hit
                if i not in targets:
                    targets[i] = _resolve(self.table, self.by_name, mappings[i].get("output_reference"))
                spans.append(Span(a, b, Translated(str(i), out), 1))
                continue
            if not (m.get("flags", 0) & SINGLE_MAPPING) and m["id_count"] and a == m["input_base"] + m["id_count"]:
                # TENTATIVE: a later mapping that starts exactly here, or a
                # later single mapping (checked before the overlap test),
                # supersedes it; any other later match is ignored.
                later = [j for j in starts.get(a, ()) if j > i][:1]
                k = bisect_right(singles, i)
                if k < len(singles):
                    later.append(singles[k])
                if later:
                    i = min(later)
                    m = mappings[i]
            if m.get("flags", 0) & SINGLE_MAPPING:
                out, step = m["output_base"], 0
            else:
                out, step = (m["output_base"] + a - m["input_base"]) & U32, 1
            if i not in targets:
                targets[i] = _resolve(self.table, self.by_name, m.get("output_reference"))
            spans.append(Span(a, b, Translated(str(i), out), step))
        return _NodeMap("ok", IntervalMap(spans, 0, U32), targets)

    # the walk, over whole spans at a time
    def walk(self, start: Node, lo: int, hi: int, id_lo: int, step: int,
             wanted: frozenset, hops: int = 0) -> list[Span]:
        """Inputs lo..hi, whose ID at `start` is id_lo + step*(x-lo), walked
        to a node of a `wanted` type. Iterative; at most hop_limit hops."""
        out: list[Span] = []
        # work item: (node, lo, hi, id_lo, step, chain (cons list), hops)
        work = [(start, lo, hi, id_lo, step, None, hops)]
        while work:
            node, a, b, ident, st, chain, hops = work.pop()
            chain = (node_label(node), chain)
            if node.type in wanted:
                out.append(Span(a, b, Translated(node_label(node), ident, _chain(chain)), st))
                continue
            if hops >= self.hop_limit:
                out.append(Span(a, b, MapError("loop", f"more than {self.hop_limit} hops "
                                               f"(... {' -> '.join(_chain(chain)[-4:])})")))
                continue
            nm = self._nodemap(node)
            if nm.status == "none":
                what = IORT_TYPE_NAMES.get(node.type, f"type {node.type}")
                if hops == 0:
                    out.append(Span(a, b, Bypass(BypassReason.NO_MATCH,
                                                 f"{node_label(node)} has no ID mappings")))
                else:
                    out.append(Span(a, b, Bypass(BypassReason.NOT_BEHIND_IOMMU,
                                                 f"the walk ends at {what} {node_label(node)}")))
                continue
            if nm.status == "null":
                out.append(Span(a, b, MapError("malformed", f"{node_label(node)}: first ID "
                                               "mapping has a NULL output reference")))
                continue
            for piece_lo, piece_hi, id_piece in _id_pieces(a, b, ident, st):
                for s in nm.imap.pieces(id_piece, id_piece + (piece_hi - piece_lo if st else 0)):
                    x_lo = piece_lo + (s.start - id_piece if st else 0)
                    x_hi = x_lo + (s.end - s.start) if st else piece_hi
                    r = s.result
                    if not isinstance(r, Translated):
                        out.append(Span(x_lo, x_hi, r))
                        continue
                    i = int(r.iommu)
                    target = nm.targets[i]
                    if not isinstance(target, Node):
                        ref = node.fields["mappings"][i].get("output_reference")
                        what = "NULL" if target == "null" else f"{ref}, which is no node"
                        out.append(Span(x_lo, x_hi, MapError(
                            "dangling-reference", f"{node_label(node)} mapping {i} points at {what}")))
                        continue
                    work.append((target, x_lo, x_hi, r.output_id, st and s.step, chain, hops + 1))
        out.sort(key=lambda s: s.start)
        return out

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        rc = self.root_complex(segment)
        if rc is None:
            return IntervalMap.undescribed(f"no IORT root complex for segment {segment}")
        spans = self.walk(rc, 0, RID_MAX, 0, 1, IORT_MSI_TYPES if msi else IORT_IOMMU_TYPES)
        return IntervalMap(spans)

    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """A named component by its ACPI path (byte-exact, e.g. \\_SB_.DEV0).
        Without an input ID: mapping indices 0, 1, ... each a single mapping,
        stopping at the first that does not reach the wanted type."""
        nc = self.named_component(path)
        wanted = IORT_MSI_TYPES if msi else IORT_IOMMU_TYPES
        if nc is None:
            return Bypass(BypassReason.NO_DESCRIPTION, f"no IORT named component {path!r}")
        if input_id is not None:
            return self.walk(nc, 0, 0, input_id, 1, wanted)[0].result
        return self.platform_ids(nc, wanted)

    def platform_ids(self, node: Node, wanted: frozenset) -> Result:
        found: list[Translated] = []
        first_failure: Result | None = None
        mappings = node.fields.get("mappings") or []
        for index, m in enumerate(mappings):
            target = _resolve(self.table, self.by_name, m.get("output_reference"))
            if target == "null" or not (m.get("flags", 0) & SINGLE_MAPPING) or node.type not in (
                    NAMED_COMPONENT, ROOT_COMPLEX, SMMU_V3, PMCG):
                first_failure = Bypass(BypassReason.NO_MATCH, f"{node_label(node)} mapping "
                                       f"{index} is no single mapping")
                break
            if not isinstance(target, Node):
                first_failure = MapError("dangling-reference", f"{node_label(node)} mapping {index} "
                                         f"points at {m.get('output_reference')}, which is no node")
                break
            r = self.walk(target, 0, 0, m["output_base"], 1, wanted, hops=1)[0].result
            if not isinstance(r, Translated):
                first_failure = r
                break
            found.append(replace(r, chain=(node_label(node),) + r.chain))
        if not found:
            return first_failure or Bypass(BypassReason.NO_MATCH, f"{node_label(node)} has no ID mappings")
        if any(t.iommu != found[0].iommu for t in found):
            return MapError("mixed-iommus", "single mappings reach different IOMMUs")
        return replace(found[0], more_ids=tuple(t.output_id for t in found[1:]))


def _chain(cons) -> tuple[str, ...]:
    out = []
    while cons is not None:
        out.append(cons[0])
        cons = cons[1]
    return tuple(reversed(out))


def _id_pieces(a: int, b: int, ident: int, step: int):
    """Inputs a..b with IDs ident.. (step 1) split where the u32 ID wraps."""
    if not step or ident + (b - a) <= U32:
        yield a, b, ident
        return
    first = U32 - ident
    yield a, a + first, ident
    yield a + first + 1, b, 0


def _is_null(ref: Any) -> bool:
    """An output reference of 0 (table offset 0: Linux's NULL)."""
    return ref == 0 or (isinstance(ref, Ref) and ref.name is None and ref.offset == 0)


def _linux_id_map(node_type: int, mappings: list[dict], skip: int | None,
                  rid: int) -> tuple[int, int] | None:
    """The mapping loop of Linux iort_node_map_id for one ID: (mapping
    index, output) or None. out_ref holds the tentative match's reference,
    so a tentative match whose reference is 0 does not count as one."""
    out_ref = None
    for i, m in enumerate(mappings):
        if i == skip:
            continue
        if m.get("flags", 0) & SINGLE_MAPPING:
            if node_type in (NAMED_COMPONENT, ROOT_COMPLEX):
                return i, m["output_base"]
            continue
        end = m["input_base"] + m["id_count"]
        if rid < m["input_base"] or end > U32 or rid > end:
            continue
        if out_ref is not None and rid != m["input_base"]:
            continue
        ident = (m["output_base"] + rid - m["input_base"]) & U32
        if m["id_count"] > 0 and rid == end:
            if not _is_null(m.get("output_reference")):
                out_ref = (i, ident)
            continue
        return i, ident
    return out_ref


def reference_iort_map(node: Node, mappings_skip: int | None, rid: int) -> tuple[str, int | None, int]:
    """Linux iort_id_map over one node's array, mapping by mapping (tests
    only): ("match" | "none", mapping index, output)."""
    hit = _linux_id_map(node.type, node.fields.get("mappings") or [], mappings_skip, rid)
    if hit is None:
        return "none", None, rid
    return "match", hit[0], hit[1]


def reference_iort_walk(mapper: IortMapper, start: Node, ident: int, wanted: frozenset) -> Result:
    """Linux iort_node_map_id, step by step, with the hop limit (tests only)."""
    node, hops, chain = start, 0, []
    while True:
        chain.append(node_label(node))
        if node.type in wanted:
            return Translated(node_label(node), ident, tuple(chain))
        if hops >= mapper.hop_limit:
            return MapError("loop")
        mappings = node.fields.get("mappings") or []
        if not mappings or node.fields.get("mapping_offset") == 0:
            return Bypass(BypassReason.NO_MATCH if hops == 0 else BypassReason.NOT_BEHIND_IOMMU)
        if _resolve(mapper.table, mapper.by_name, mappings[0].get("output_reference")) == "null":
            return MapError("malformed")
        how, i, out = reference_iort_map(node, deviceid_mapping_index(node), ident)
        if how == "none":
            return Bypass(BypassReason.NO_MATCH)
        target = _resolve(mapper.table, mapper.by_name, mappings[i].get("output_reference"))
        if not isinstance(target, Node):
            return MapError("dangling-reference")
        node, ident, hops = target, out, hops + 1


# --- ACPI front end ----------------------------------------------------------

class AcpiMapper(Mapper):
    """drivers/acpi/scan.c: IORT first; when IORT does not translate (bypass
    or error), VIOT decides. Either table may be absent."""

    kind = "ACPI"

    def __init__(self, iort: IortMapper | None = None, viot: ViotMapper | None = None):
        super().__init__()
        if iort is None and viot is None:
            raise ValueError("AcpiMapper needs an IORT or a VIOT")
        self.iort, self.viot = iort, viot

    def segments(self) -> list[int]:
        segs: set[int] = set()
        for m in (self.iort, self.viot):
            if m is not None:
                segs.update(m.segments())
        return sorted(segs)

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        if msi:          # only the IORT says where MSIs go
            return (self.iort or self.viot).segment_map(segment, True)
        if self.iort is None:
            return self.viot.segment_map(segment)
        if self.viot is None:
            return self.iort.segment_map(segment)
        return overlay(self.iort.segment_map(segment), self.viot.segment_map(segment))

    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        if self.iort is None:
            return Bypass(BypassReason.NO_DESCRIPTION, "no IORT: named components need one")
        return self.iort.lookup_device(path, input_id, msi)

    def lookup_address(self, base: int) -> Result:
        if self.viot is None:
            return Bypass(BypassReason.NO_DESCRIPTION, "no VIOT: MMIO endpoints need one")
        return self.viot.lookup_address(base)


def for_table(table: Table) -> Mapper:
    """The engine for one decoded or compiled table."""
    if table.signature == "VIOT":
        return ViotMapper(table)
    if table.signature == "IORT":
        return IortMapper(table)
    raise ValueError(f"no mapper for {table.signature} tables")


def for_tables(tables: Iterable[Table]) -> Mapper:
    """IORT and/or VIOT (the first of each) combined as Linux combines them."""
    iort = viot = None
    for t in tables:
        if t.signature == "IORT" and iort is None:
            iort = IortMapper(t)
        elif t.signature == "VIOT" and viot is None:
            viot = ViotMapper(t)
    if iort is not None and viot is not None:
        return AcpiMapper(iort, viot)
    if iort is None and viot is None:
        raise ValueError("neither an IORT nor a VIOT")
    return iort or viot
