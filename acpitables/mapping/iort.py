"""acpitables.mapping.iort -- the IORT engine (drivers/acpi/arm64/iort.c).

Inclusive count-minus-one ranges, first match wins with the tentative
end-of-range workaround, single mappings where the node's role allows them,
multi-level walks that skip the mapping carrying the node's own DeviceID,
and a hop limit of the node count (Linux has none: a loop ends in MapError).

Everything this engine knows about a node comes from its declared role
(engine/roles.py through engine.registry.role_of): which nodes end a walk
(IOMMU; MSI controller on the MSI path), where a device starts (the role's
match field and match_order), whether single mappings count, and which
mapping is the DeviceID one.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from ..engine.roles import Role
from ..engine.table import Node, Table
from .results import (NULL, RID_MAX, U32, Bypass, BypassReason, IntervalMap, MapError, Result,
                      Span, TableMapper, Translated, is_null, node_label, paint)

SINGLE_MAPPING = 1   # ID mapping Flags bit 0 (IORT spec: "Single mapping")

# role.match values this engine understands
MATCH_SEGMENT = "pci_segment_number"   # a PCI host bridge, by segment
MATCH_NAME = "device_name"             # a platform device, by ACPI path


def iommu_end(role: Role) -> bool:
    return role.is_iommu


def msi_end(role: Role) -> bool:
    return role.is_msi_controller


@dataclass
class _NodeMap:
    """One node's ID mappings compiled over the u32 input space."""
    status: str                         # "ok", "none" (no mappings), "null" (NULL reference)
    imap: IntervalMap | None = None     # payloads: Translated(str(mapping index), out)
    targets: dict = field(default_factory=dict)   # mapping index -> Node | None | NULL


def single(m: dict) -> bool:
    return bool(m.get("flags", 0) & SINGLE_MAPPING)


class IortMapper(TableMapper):
    kind = "IORT"

    def __init__(self, table: Table):
        super().__init__(table)
        self.hop_limit = len(table.nodes)
        self._nodemaps: dict[int, _NodeMap] = {}

    # -- which node a device starts from (iort_find_dev_node) ---------------
    def _starts(self, match: str, msi: bool) -> list[Node]:
        """Nodes a device is matched against, in the order Linux scans
        them: by the role's match_order, table order within one kind;
        MSI-only kinds on the MSI path only."""
        found = [n for n in self.table.nodes
                 if self.role(n).match == match and (msi or not self.role(n).msi_only)]
        return sorted(found, key=lambda n: self.role(n).match_order)

    def host_bridge(self, segment: int, msi: bool = False) -> Node | None:
        """The FIRST host-bridge node of the segment (Linux assumes one)."""
        for n in self._starts(MATCH_SEGMENT, msi):
            if n.fields.get(MATCH_SEGMENT) == segment:
                return n
        return None

    def platform_device(self, path: str, msi: bool = False) -> Node | None:
        """The first node whose device_name equals the path byte for byte."""
        for n in self._starts(MATCH_NAME, msi):
            if n.fields.get(MATCH_NAME) == path:
                return n
        return None

    def segments(self) -> list[int]:
        segs = {n.fields.get(MATCH_SEGMENT) for n in self._starts(MATCH_SEGMENT, True)}
        return sorted(s for s in segs if isinstance(s, int)) or [0]

    # -- one node's mappings -------------------------------------------------
    def deviceid_index(self, node: Node) -> int | None:
        """Linux iort_get_id_mapping_index(): the mapping that gives the
        node's own MSI DeviceID (the rule lives in the node's declaration)."""
        rule = self.role(node).deviceid_index
        return rule(node.fields) if rule is not None else None

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
        elif self.resolve(mappings[0].get("output_reference")) == NULL:
            nm = _NodeMap("null")
        else:
            nm = self._compile_node(node, mappings)
        self._nodemaps[key] = nm
        return nm

    def _compile_node(self, node: Node, mappings: list[dict]) -> _NodeMap:
        """Paint the u32 input space with the FIRST mapping covering each
        ID, then apply the two order-dependent rules of iort_node_map_id():
        a match at a range's last ID is tentative (a later mapping starting
        there, or a later single mapping, supersedes it), and a tentative
        match whose reference is NULL is no match at all (out_ref stays 0)."""
        special = self.deviceid_index(node)
        single_ok = self.role(node).single_mappings
        rules: list[tuple[int, int, int]] = []       # rule index == priority order
        rule_of: list[int] = []                      # rule -> mapping index
        singles: list[int] = []                      # mapping indices of usable singles
        starts: dict[int, list[int]] = {}            # input_base -> mapping indices
        ends: list[int] = []                         # last IDs: tentative points
        for i, m in enumerate(mappings):
            if i == special:
                continue
            if single(m):
                if single_ok:                        # matches ANY input ID
                    rules.append((0, U32, i))
                    rule_of.append(i)
                    singles.append(i)
                continue                              # FW_BUG elsewhere: skipped
            base, count = m["input_base"], m["id_count"]
            if base + count > U32:                   # u32 wrap: never matches
                continue
            last = base + count
            if count and is_null(m.get("output_reference")):
                last -= 1                            # its tentative end does not hold
            rules.append((base, last, i))
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
            if not single(m) and m["id_count"] and a == m["input_base"] + m["id_count"]:
                # TENTATIVE: the first later mapping that starts exactly
                # here, or a later single mapping (checked before the
                # overlap test), supersedes it; other later matches do not.
                later = [j for j in starts.get(a, ()) if j > i][:1]
                k = bisect_right(singles, i)
                if k < len(singles):
                    later.append(singles[k])
                if later:
                    i = min(later)
                    m = mappings[i]
            if single(m):
                out, step = m["output_base"], 0
            else:
                out, step = (m["output_base"] + a - m["input_base"]) & U32, 1
            if i not in targets:
                targets[i] = self.resolve(m.get("output_reference"))
            spans.append(Span(a, b, Translated(str(i), out), step))
        return _NodeMap("ok", IntervalMap(spans, 0, U32), targets)

    # -- the walk, over whole spans at a time --------------------------------
    def walk(self, start: Node, lo: int, hi: int, id_lo: int, step: int,
             wanted: Callable[[Role], bool], hops: int = 0) -> list[Span]:
        """Inputs lo..hi, whose ID at `start` is id_lo + step*(x-lo), walked
        to a node whose role is `wanted`. Iterative; at most hop_limit hops."""
        out: list[Span] = []
        # work item: (node, lo, hi, id_lo, step, chain (cons list), hops)
        work: list[tuple] = [(start, lo, hi, id_lo, step, None, hops)]
        while work:
            node, a, b, ident, st, chain, hops = work.pop()
            chain = (node_label(node), chain)
            if wanted(self.role(node)):
                out.append(Span(a, b, Translated(node_label(node), ident, _chain(chain)), st))
                continue
            if hops >= self.hop_limit:
                out.append(Span(a, b, MapError("loop", f"more than {self.hop_limit} hops "
                                               f"(... {' -> '.join(_chain(chain)[-4:])})")))
                continue
            nm = self._nodemap(node)
            if nm.status == "none":
                if hops == 0:
                    out.append(Span(a, b, Bypass(BypassReason.NO_MATCH,
                                                 f"{node_label(node)} has no ID mappings")))
                else:
                    out.append(Span(a, b, Bypass(
                        BypassReason.NOT_BEHIND_IOMMU,
                        f"the walk ends at {self.kind_label(node)} {node_label(node)}")))
                continue
            if nm.status == "null":
                out.append(Span(a, b, MapError("malformed", f"{node_label(node)}: first ID "
                                               "mapping has a NULL output reference")))
                continue
            assert nm.imap is not None
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
                        what = "NULL" if target == NULL else f"{ref}, which is no node"
                        out.append(Span(x_lo, x_hi, MapError(
                            "dangling-reference", f"{node_label(node)} mapping {i} points at {what}")))
                        continue
                    work.append((target, x_lo, x_hi, r.output_id, st and s.step, chain, hops + 1))
        out.sort(key=lambda s: s.start)
        return out

    def _segment_map(self, segment: int, msi: bool) -> IntervalMap:
        rc = self.host_bridge(segment, msi)
        if rc is None:
            return IntervalMap.undescribed(f"no IORT node has pci_segment_number {segment}")
        return IntervalMap(self.walk(rc, 0, RID_MAX, 0, 1, msi_end if msi else iommu_end))

    # -- platform devices ----------------------------------------------------
    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False) -> Result:
        """A platform device by its ACPI path (byte-exact, e.g. \\_SB_.DEV0):
        the endpoint kinds matched by device_name, in match_order (MSI-only
        kinds on the MSI path).

        Without an input ID, the IOMMU path (iort_iommu_configure_id) takes
        mapping indices 0, 1, ... each a single mapping, stopping at the
        first that does not reach an IOMMU; the MSI path
        (iort_pmsi_get_dev_id) takes the first index that reaches an MSI
        controller."""
        nc = self.platform_device(path, msi)
        if nc is None:
            why = f"no IORT node has device_name {path!r}"
            other = None if msi else self.platform_device(path, True)
            if other is not None:
                why = (f"only {self.kind_label(other)} {node_label(other)} has device_name "
                       f"{path!r}, and Linux consults it for MSIs only")
            return Bypass(BypassReason.NO_DESCRIPTION, why,
                          msi=msi, device_id=input_id if msi else None)
        wanted = msi_end if msi else iommu_end
        if input_id is not None:
            r = self.walk(nc, 0, 0, input_id, 1, wanted)[0].result
        elif msi:
            r = self.first_platform_id(nc, wanted)
        else:
            r = self.platform_ids(nc, wanted)
        if msi and not isinstance(r, Translated):
            r = replace(r, msi=True, device_id=input_id)
        return r

    def _platform_id(self, node: Node, index: int, wanted) -> Result:
        """iort_node_map_platform_id(): mapping `index` as a single mapping
        (iort_node_get_id), then on from its target when that is not wanted."""
        mappings = node.fields.get("mappings") or []
        m = mappings[index]
        role = self.role(node)
        if node.fields.get("mapping_offset") == 0:
            return Bypass(BypassReason.NO_MATCH, f"{node_label(node)} has no ID mappings")
        target = self.resolve(m.get("output_reference"))
        if target == NULL:
            return Bypass(BypassReason.NO_MATCH, f"{node_label(node)} mapping {index} has a "
                          "NULL output reference")
        # iort_node_get_id() takes a single mapping from the nodes that may
        # hold one, and from those whose DeviceID comes from one.
        if not single(m) or not (role.single_mappings or role.deviceid_index is not None):
            return Bypass(BypassReason.NO_MATCH, f"{node_label(node)} mapping {index} is no "
                          "single mapping")
        if not isinstance(target, Node):
            return MapError("dangling-reference", f"{node_label(node)} mapping {index} points "
                            f"at {m.get('output_reference')}, which is no node")
        r = self.walk(target, 0, 0, m["output_base"], 1, wanted, hops=1)[0].result
        if isinstance(r, Translated):
            r = replace(r, chain=(node_label(node),) + r.chain)
        return r

    def platform_ids(self, node: Node, wanted) -> Result:
        found: list[Translated] = []
        first_failure: Result | None = None
        for index in range(len(node.fields.get("mappings") or [])):
            r = self._platform_id(node, index, wanted)
            if not isinstance(r, Translated):
                first_failure = r
                break
            found.append(r)
        if not found:
            return first_failure or Bypass(BypassReason.NO_MATCH,
                                           f"{node_label(node)} has no ID mappings")
        if any(t.iommu != found[0].iommu for t in found):
            return MapError("mixed-iommus", "single mappings reach different IOMMUs")
        return replace(found[0], more_ids=tuple(t.output_id for t in found[1:]))

    def first_platform_id(self, node: Node, wanted) -> Result:
        first_failure: Result | None = None
        for index in range(len(node.fields.get("mappings") or [])):
            r = self._platform_id(node, index, wanted)
            if isinstance(r, Translated):
                return r
            first_failure = first_failure or r
        return first_failure or Bypass(BypassReason.NO_MATCH,
                                       f"{node_label(node)} has no ID mappings")


def _chain(cons) -> tuple[str, ...]:
    out = []
    while cons is not None:
        out.append(cons[0])
        cons = cons[1]
    return tuple(reversed(out))


def _id_pieces(a: int, b: int, ident: int, step: int) -> Iterator[tuple[int, int, int]]:
    """Inputs a..b with IDs ident.. (step 1) split where the u32 ID wraps."""
    if not step or ident + (b - a) <= U32:
        yield a, b, ident
        return
    first = U32 - ident
    yield a, a + first, ident
    yield a + first + 1, b, 0
