"""acpitables.mapping.rimt -- the RIMT engine (drivers/acpi/riscv/rimt.c).

What Linux 6.18 decides (docs/rimt.md section 3), rule by rule:

* a PCI function starts at the FIRST node whose role matches by PCI
  segment (the root complex: "It is assumed that PCI segment numbers maps
  one-to-one with root complexes"); none: no IOMMU;
* a node with ID mapping offset or count 0 maps nothing; a first mapping
  whose destination is 0 disables the node (FW_BUG);
* the mappings are tried in order and the first whose range holds the ID
  wins; Linux's range test is `base <= id <= base + num_ids` in u32
  (`reading="linux"`, the default: one ID past the count, and a sum that
  wraps matches nothing), the spec's `base <= id < base + num_ids`
  (`reading="spec"`, for comparing what a table means with what Linux
  makes of it);
* the destination is followed: an IOMMU ends the walk, another endpoint
  node (root complex, platform device) maps again -- at most node-count
  hops here, for ever in Linux -- and anything else is no IOMMU;
* the walk that ends at a PCIe IOMMU whose own segment and BDF is the
  function itself is an error: Linux configures the IOMMU against itself
  and defers its probe for ever;
* a platform device is found by its ACPI path, byte for byte; without an
  input ID each mapping in turn contributes its destination base as one
  device ID (its source range is not read), until one fails.

What a node is comes from its declared role (engine/roles.py): IOMMUs end
a walk, endpoints start one, matched by the field their role names.
RIMT says nothing about MSIs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

from ..engine.table import Node, Table
from .results import (NULL, RID_MAX, U32, Bypass, BypassReason, IntervalMap, MapError, Result,
                      Span, TableMapper, Translated, is_null, node_label, paint)

MATCH_SEGMENT = "pcie_segment_number"   # role.match of a PCI host bridge node
MATCH_NAME = "device_name"              # role.match of an ACPI platform device node
PCIE_IOMMU = 0x1                        # IOMMU Flags bit 0: the IOMMU is a PCIe function
READINGS = ("linux", "spec")


@dataclass
class _NodeMap:
    status: str                         # "ok", "none" (no mappings), "null" (first dest 0)
    imap: IntervalMap | None = None     # payloads: Translated(str(mapping index), out)
    targets: dict = field(default_factory=dict)   # mapping index -> Node | None | NULL


class RimtMapper(TableMapper):
    kind = "RIMT"
    describes_msi = False

    def __init__(self, table: Table, reading: str = "linux"):
        if reading not in READINGS:
            raise ValueError(f"reading {reading!r}: one of {', '.join(READINGS)}")
        super().__init__(table)
        self.reading = reading
        self.hop_limit = len(table.nodes)
        self._nodemaps: dict[int, _NodeMap] = {}

    # -- where a device starts (rimt_scan_node) -------------------------------
    def _starts(self, match: str) -> list[Node]:
        return [n for n in self.table.nodes
                if self.role(n).is_endpoint and self.role(n).match == match]

    def host_bridge(self, segment: int) -> Node | None:
        for n in self._starts(MATCH_SEGMENT):
            if n.fields.get(MATCH_SEGMENT) == segment:
                return n
        return None

    def platform_device(self, path: str) -> Node | None:
        for n in self._starts(MATCH_NAME):
            if n.fields.get(MATCH_NAME) == path:
                return n
        return None

    def segments(self) -> list[int]:
        return sorted({n.fields.get(MATCH_SEGMENT, 0) for n in self._starts(MATCH_SEGMENT)}) or [0]

    # -- one node's mappings (rimt_node_map_id's loop, rimt_id_map) ----------------
    def _nodemap(self, node: Node) -> _NodeMap:
        key = id(node)
        if key not in self._nodemaps:
            self._nodemaps[key] = self._compile_node(node)
        return self._nodemaps[key]

    def _compile_node(self, node: Node) -> _NodeMap:
        f = node.fields
        maps = f.get("mappings") or []
        # Linux: "if (!id_mapping_offset || !num_id_mapping) goto fail_map"; a
        # compiled node has no offset yet (the layout pass computes it)
        if not maps or f.get("id_mapping_offset") == 0:
            return _NodeMap("none")
        if is_null(maps[0]["dest_offset"]):
            return _NodeMap("null")
        rules = []
        for i, m in enumerate(maps):
            base, num = m["source_id_base"], m["num_ids"]
            if self.reading == "linux":
                end = base + num
                if end > U32:          # the u32 sum wraps below base: nothing matches
                    continue
            else:
                if not num:
                    continue
                end = min(base + num - 1, U32)
            rules.append((base, end, i))
        spans = []
        targets: dict = {}
        for a, b, win in paint(rules, 0, U32):
            if win is None:
                spans.append(Span(a, b, Bypass(BypassReason.NO_MATCH,
                                               f"no ID mapping of {node_label(node)} covers it")))
                continue
            i = rules[win][2]
            m = maps[i]
            if i not in targets:
                targets[i] = self.resolve(m["dest_offset"])
            spans.append(Span(a, b, Translated(str(i), (m["dest_id_base"] + a - m["source_id_base"])
                                               & U32), 1))
        return _NodeMap("ok", IntervalMap(spans, 0, U32), targets)

    # -- the walk, whole spans at a time ------------------------------------------------
    def walk(self, start: Node, lo: int, hi: int, id_lo: int, hops: int = 0) -> list[Span]:
        """Inputs lo..hi with IDs id_lo.. at `start`, walked to an IOMMU."""
        out: list[Span] = []
        work: list[tuple] = [(start, lo, hi, id_lo, (), hops)]
        while work:
            node, a, b, ident, chain, hops = work.pop()
            chain = chain + (node_label(node),)
            role = self.role(node)
            if role.is_iommu:
                out.append(Span(a, b, Translated(node_label(node), ident, chain)))
                continue
            if not role.is_endpoint:
                out.append(Span(a, b, MapError("dangling-reference", f"the walk reaches "
                                               f"{self.kind_label(node)} {node_label(node)}, "
                                               "which is no IOMMU, root complex or platform "
                                               "device node (Linux: no IOMMU)")))
                continue
            if hops >= self.hop_limit:
                out.append(Span(a, b, MapError("loop", f"more than {self.hop_limit} hops "
                                               f"(... {' -> '.join(chain[-4:])}); Linux maps "
                                               "for ever")))
                continue
            nm = self._nodemap(node)
            if nm.status == "none":
                reason = BypassReason.NO_MATCH if hops == 0 else BypassReason.NOT_BEHIND_IOMMU
                out.append(Span(a, b, Bypass(reason, f"{node_label(node)} has no ID mappings")))
                continue
            if nm.status == "null":
                out.append(Span(a, b, MapError("malformed", f"{node_label(node)}: the first ID "
                                               "mapping's destination is 0 (Linux: FW_BUG, "
                                               "no IOMMU)")))
                continue
            assert nm.imap is not None
            for x_lo, x_hi, id_piece in _id_pieces(a, b, ident):
                for s in nm.imap.pieces(id_piece, id_piece + (x_hi - x_lo)):
                    p_lo = x_lo + (s.start - id_piece)
                    p_hi = p_lo + (s.end - s.start)
                    r = s.result
                    if not isinstance(r, Translated):
                        out.append(Span(p_lo, p_hi, r))
                        continue
                    i = int(r.iommu)
                    target = nm.targets[i]
                    if not isinstance(target, Node):
                        what = "0 (NULL)" if target == NULL else \
                            f"0x{_offset(node.fields['mappings'][i]['dest_offset']):X}, no node start"
                        out.append(Span(p_lo, p_hi, MapError(
                            "dangling-reference", f"{node_label(node)} mapping {i}'s destination "
                            f"is {what}")))
                        continue
                    work.append((target, p_lo, p_hi, r.output_id, chain, hops + 1))
        out.sort(key=lambda s: s.start)
        return out

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        if msi:
            return IntervalMap.undescribed("a RIMT says nothing about MSIs")
        rc = self.host_bridge(segment)
        if rc is None:
            return IntervalMap.undescribed(f"no RIMT root complex for segment {segment}")
        spans = self.walk(rc, 0, RID_MAX, 0)
        return IntervalMap(self._own_functions(segment, spans))

    def _own_functions(self, segment: int, spans: list[Span]) -> list[Span]:
        """A PCIe IOMMU's own function translated by that IOMMU: an error."""
        own: dict[int, Node] = {}
        for n in self.table.nodes:
            if (self.role(n).is_iommu and n.fields.get("flags", 0) & PCIE_IOMMU
                    and n.fields.get(MATCH_SEGMENT, 0) == segment):
                own.setdefault(n.fields.get("pcie_bdf", 0), n)
        if not own:
            return spans
        out: list[Span] = []
        for s in spans:
            hits = sorted(b for b, n in own.items() if s.start <= b <= s.end
                          and isinstance(s.result, Translated) and s.result.iommu == node_label(n))
            cursor = s.start
            for b in hits:
                if b > cursor:
                    out.append(Span(cursor, b - 1, s.at(cursor), s.step))
                out.append(Span(b, b, MapError("self", f"the function is {node_label(own[b])} "
                                               "itself, mapped to itself: Linux configures the "
                                               "IOMMU against itself and defers its probe for "
                                               "ever")))
                cursor = b + 1
            if cursor <= s.end:
                out.append(Span(cursor, s.end, s.at(cursor), s.step) if cursor != s.start else s)
        return out

    # -- platform devices (rimt_plat_iommu_map, rimt_plat_iommu_map_id) ----------------
    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """An ACPI platform device by its full path, byte for byte."""
        if msi:
            return Bypass(BypassReason.NO_DESCRIPTION, "a RIMT says nothing about MSIs", msi=True,
                          device_id=input_id)
        node = self.platform_device(path)
        if node is None:
            return Bypass(BypassReason.NO_DESCRIPTION, f"no RIMT platform device {path!r}")
        if input_id is not None:
            return self.walk(node, 0, 0, input_id)[0].result
        found: list[Translated] = []
        failure: Result | None = None
        maps = node.fields.get("mappings") or []
        for index in range(0 if node.fields.get("id_mapping_offset") == 0 else len(maps)):
            r = self._platform_id(node, index)
            if not isinstance(r, Translated):
                failure = r
                break
            found.append(r)
        if not found:
            return failure or Bypass(BypassReason.NO_MATCH, f"{node_label(node)} has no ID mappings")
        if any(t.iommu != found[0].iommu for t in found):
            return MapError("mixed-iommus", "the mappings reach different IOMMUs")
        return replace(found[0], more_ids=tuple(t.output_id for t in found[1:]))

    def _platform_id(self, node: Node, index: int) -> Result:
        """rimt_node_map_platform_id(): mapping `index`'s destination base,
        walked on from its destination when that is no IOMMU."""
        m = node.fields["mappings"][index]
        target = self.resolve(m["dest_offset"])
        if target == NULL:
            what = MapError if index == 0 else Bypass
            detail = f"{node_label(node)} mapping {index}'s destination is 0 (Linux: FW_BUG)"
            return what("malformed", detail) if what is MapError else \
                Bypass(BypassReason.NO_MATCH, detail)
        if not isinstance(target, Node):
            return MapError("dangling-reference", f"{node_label(node)} mapping {index}'s "
                            f"destination 0x{_offset(m['dest_offset']):X} is no node start")
        r = self.walk(target, 0, 0, m["dest_id_base"], hops=1)[0].result
        if isinstance(r, Translated):
            r = replace(r, chain=(node_label(node),) + r.chain)
        return r


def _offset(ref) -> int:
    return getattr(ref, "offset", None) or (ref if isinstance(ref, int) else 0)


def _id_pieces(a: int, b: int, ident: int) -> Iterator[tuple[int, int, int]]:
    """Inputs a..b with IDs ident.. split where the u32 ID wraps."""
    if ident + (b - a) <= U32:
        yield a, b, ident
        return
    first = U32 - ident
    yield a, a + first, ident
    yield a + first + 1, b, 0
