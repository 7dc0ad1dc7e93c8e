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


_END = {"iommu": "an IOMMU (the StreamID)", "msi_controller": "an MSI controller (the ITS "
        "DeviceID)"}


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

    def mapping_offset(self, node: Node, index: int) -> int | None:
        """The byte offset (in the table) of a node's mapping entry."""
        arr = next((a for a in getattr(node.kind, "arrays", ()) if a.key == "mappings"), None)
        base = node.fields.get(arr.offset) if arr is not None and arr.offset else None
        if node.offset is None or arr is None or not isinstance(base, int):
            return None
        return node.offset + base + index * arr.elem_size

    def _nodemap(self, node: Node, trace=None, focus: int = 0) -> _NodeMap:
        """A node's compiled mappings; with a trace (explain), compiled
        afresh while the decisions about the one ID `focus` are recorded."""
        key = id(node)
        if trace is None and key in self._nodemaps:
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
            nm = self._compile_node(node, mappings, trace, focus)
        if trace is None:
            self._nodemaps[key] = nm
        return nm

    def _compile_node(self, node: Node, mappings: list[dict], trace=None,
                      focus: int = 0) -> _NodeMap:
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
        notes: list[tuple[str, str]] = []           # explain: mapping i -> (action, text)
        note = notes.append if trace is not None else None   # no text built otherwise
        for i, m in enumerate(mappings):
            if i == special:
                note and note(("skip", "carries the node's own MSI DeviceID "
                              "(iort_get_id_mapping_index): skipped while translating"))
                continue
            if single(m):
                if single_ok:                        # matches ANY input ID
                    rules.append((0, U32, i))
                    rule_of.append(i)
                    singles.append(i)
                    note and note(("match", f"single mapping: matches any ID, output_base "
                                  f"0x{m.get('output_base', 0):X}"))
                else:
                    note and note(("skip", f"single mapping on a {self.kind_label(node)}: "
                                  "Linux skips it (FW_BUG: SINGLE MAPPING flag not allowed)"))
                continue                              # FW_BUG elsewhere: skipped
            base, count = m["input_base"], m["id_count"]
            if base + count > U32:                   # u32 wrap: never matches
                note and note(("no-match", f"input_base 0x{base:X} + id_count 0x{count:X} wraps "
                              "past 0xFFFFFFFF: never matches"))
                continue
            last = base + count
            covers = base <= focus <= last
            text = "" if note is None else (f"range test 0x{base:X} <= 0x{focus:X} <= 0x{last:X} (input_base .. "
                    f"input_base + id_count, inclusive): {'holds' if covers else 'fails'}")
            if count and is_null(m.get("output_reference")):
                last -= 1                            # its tentative end does not hold
                if focus == base + count:
                    covers = False
                    text += ("; but it is a tentative match with a NULL output_reference, "
                             "which Linux cannot tell from none")
            note and note(("match" if covers else "no-match", text))
            rules.append((base, last, i))
            rule_of.append(i)
            starts.setdefault(base, []).append(i)
            if count:
                ends.append(base + count)
        targets: dict[int, Any] = {}
        spans: list[Span] = []
        for a, b, win in paint(rules, 0, U32, ends):
            here = trace is not None and a <= focus <= b
            if win is None:
                if here:
                    self._trace_reads(trace, node, notes, len(mappings) - 1)
                    trace.add("no-match", f"no ID mapping covers 0x{focus:X}: the walk fails "
                              "here (iort_node_map_id: fail_map)", node_label(node), node.offset)
                spans.append(Span(a, b, Bypass(BypassReason.NO_MATCH,
                                               f"no ID mapping of {node_label(node)} covers it")))
                continue
            i = rule_of[win]
            m = mappings[i]
            tentative = None
            if not single(m) and m["id_count"] and a == m["input_base"] + m["id_count"]:
                # TENTATIVE: the first later mapping that starts exactly
                # here, or a later single mapping (checked before the
                # overlap test), supersedes it; other later matches do not.
                later = [j for j in starts.get(a, ()) if j > i][:1]
                k = bisect_right(singles, i)
                if k < len(singles):
                    later.append(singles[k])
                tentative = i
                if later:
                    i = min(later)
                    m = mappings[i]
            if single(m):
                out, step = m["output_base"], 0
            else:
                out, step = (m["output_base"] + a - m["input_base"]) & U32, 1
            if here:
                self._trace_match(trace, node, mappings, notes, tentative, i, focus,
                                  (out + step * (focus - a)) & U32)
            if i not in targets:
                targets[i] = self.resolve(m.get("output_reference"))
            spans.append(Span(a, b, Translated(str(i), out), step))
        return _NodeMap("ok", IntervalMap(spans, 0, U32), targets)

    # -- the walk, over whole spans at a time --------------------------------
    def walk(self, start: Node, lo: int, hi: int, id_lo: int, step: int,
             wanted: Callable[[Role], bool], hops: int = 0, trace=None) -> list[Span]:
        """Inputs lo..hi, whose ID at `start` is id_lo + step*(x-lo), walked
        to a node whose role is `wanted`. Iterative; at most hop_limit hops.
        A trace (explain) records each hop; it is meant for one input
        (lo == hi)."""
        out: list[Span] = []
        # work item: (node, lo, hi, id_lo, step, chain (cons list), hops)
        work: list[tuple] = [(start, lo, hi, id_lo, step, None, hops)]
        while work:
            node, a, b, ident, st, chain, hops = work.pop()
            chain = (node_label(node), chain)
            role = self.role(node)
            if trace is not None:
                trace.add("node", f"{self.kind_label(node)} (role {role.kind.value}), "
                          f"input ID 0x{ident:X}", node_label(node), node.offset, id=ident)
            if wanted(role):
                if trace is not None:
                    trace.add("stop", f"{_END.get(role.kind.value, role.kind.value)} ends the walk: "
                              f"ID 0x{ident:X}", node_label(node), node.offset, id=ident)
                out.append(Span(a, b, Translated(node_label(node), ident, _chain(chain)), st))
                continue
            if hops >= self.hop_limit:
                if trace is not None:
                    trace.add("stop", f"more than {self.hop_limit} hops: a loop",
                              node_label(node), node.offset)
                out.append(Span(a, b, MapError("loop", f"more than {self.hop_limit} hops "
                                               f"(... {' -> '.join(_chain(chain)[-4:])})")))
                continue
            nm = self._nodemap(node, trace, ident)
            if trace is not None and nm.status != "ok":
                trace.add("stop", "no ID mappings (mapping_count or mapping_offset is 0): the "
                          "walk ends here" if nm.status == "none" else "the first ID mapping's "
                          "output_reference is NULL: Linux gives up (fail_map)",
                          node_label(node), node.offset)
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
                    if trace is not None:
                        trace.add("next", "follow output_reference to "
                                  f"{node_label(target) if isinstance(target, Node) else target}",
                                  node_label(node), self.mapping_offset(node, i), mapping=i)
                    if not isinstance(target, Node):
                        ref = node.fields["mappings"][i].get("output_reference")
                        what = "NULL" if target == NULL else f"{ref}, which is no node"
                        out.append(Span(x_lo, x_hi, MapError(
                            "dangling-reference", f"{node_label(node)} mapping {i} points at {what}")))
                        continue
                    work.append((target, x_lo, x_hi, r.output_id, st and s.step, chain, hops + 1))
        out.sort(key=lambda s: s.start)
        return out

    # -- explain: what one node's mappings did to one ID ---------------------
    def _trace_reads(self, trace, node: Node, notes: list[tuple[str, str]], upto: int) -> None:
        """The mappings Linux reads, in order, up to index `upto`."""
        for i, (action, text) in enumerate(notes[:upto + 1]):
            trace.add(action, f"mapping {i}: {text}", node_label(node),
                      self.mapping_offset(node, i), mapping=i)

    def _trace_match(self, trace, node: Node, mappings: list[dict], notes, tentative,
                     i: int, focus: int, out: int) -> None:
        """The mappings read for `focus`, the rule that decided, and the
        output ID the compiled span gives it (`out`)."""
        label = node_label(node)
        if tentative is not None:
            t = mappings[tentative]
            self._trace_reads(trace, node, notes, tentative)
            trace.add("tentative", f"0x{focus:X} is the last ID of mapping {tentative} "
                      f"(input_base + id_count = 0x{t['input_base'] + t['id_count']:X}): a "
                      "tentative match (the num_ids workaround); Linux reads on", label,
                      self.mapping_offset(node, tentative), mapping=tentative)
            if i != tentative:
                for j in range(tentative + 1, i + 1):
                    action, text = notes[j]
                    if j == i:
                        why = ("a later single mapping (taken before the overlap test)"
                               if single(mappings[i]) else f"it starts exactly at 0x{focus:X} "
                               "(FW_BUG \"conflicting mapping\", \"applying workaround\")")
                        text += f"; {why}: it supersedes mapping {tentative}"
                        action = "supersede"
                    elif action == "match":
                        text += (" but it does not start here (FW_BUG \"conflicting mapping\"): "
                                 "Linux disregards it")
                    trace.add(action, f"mapping {j}: {text}", label,
                              self.mapping_offset(node, j), mapping=j)
            else:
                rest = len(mappings) - 1
                for j in range(tentative + 1, rest + 1):
                    action, text = notes[j]
                    if action == "match":
                        text += (" but it does not start here (FW_BUG \"conflicting mapping\"): "
                                 "Linux disregards it")
                    trace.add(action, f"mapping {j}: {text}", label,
                              self.mapping_offset(node, j), mapping=j)
                trace.add("match", f"nothing later supersedes it: mapping {tentative} stands",
                          label, self.mapping_offset(node, tentative), mapping=tentative)
        else:
            self._trace_reads(trace, node, notes, i)
        m = mappings[i]
        if single(m):
            trace.add("arithmetic", f"mapping {i} is a single mapping: ID = output_base = "
                      f"0x{m['output_base']:X}", label, self.mapping_offset(node, i),
                      mapping=i, input=focus, output=m["output_base"])
        else:
            trace.add("arithmetic", f"0x{focus:X} - input_base 0x{m['input_base']:X} + "
                      f"output_base 0x{m['output_base']:X} = 0x{out:X}", label,
                      self.mapping_offset(node, i), mapping=i, input=focus,
                      input_base=m["input_base"], output_base=m["output_base"], output=out)

    def _segment_map(self, segment: int, msi: bool, trace=None) -> IntervalMap:
        """With a trace (explain): only the RID trace.focus is walked."""
        rc = self.host_bridge(segment, msi)
        if rc is None:
            if trace is not None:
                trace.add("stop", f"no IORT node has pci_segment_number {segment}: the device "
                          "is not described (iort_find_dev_node finds nothing)")
            return IntervalMap.undescribed(f"no IORT node has pci_segment_number {segment}")
        wanted = msi_end if msi else iommu_end
        if trace is None:
            return IntervalMap(self.walk(rc, 0, RID_MAX, 0, 1, wanted))
        rid = trace.focus
        trace.add("start", f"segment {segment}: the first {self.kind_label(rc)} with "
                  f"pci_segment_number {segment}; input ID = RID 0x{rid:04X}; looking for "
                  f"{'an MSI controller' if msi else 'an IOMMU'}", node_label(rc), rc.offset)
        return IntervalMap(self.walk(rc, rid, rid, rid, 1, wanted, trace=trace))

    # -- platform devices ----------------------------------------------------
    def lookup_device(self, path: str, input_id: int | None = None, msi: bool = False,
                      trace=None) -> Result:
        """A platform device by its ACPI path (byte-exact, e.g. \\_SB_.DEV0):
        the endpoint kinds matched by device_name, in match_order (MSI-only
        kinds on the MSI path).

        Without an input ID, the IOMMU path (iort_iommu_configure_id) takes
        mapping indices 0, 1, ... each a single mapping, stopping at the
        first that does not reach an IOMMU; the MSI path
        (iort_pmsi_get_dev_id) takes the first index that reaches an MSI
        controller."""
        nc = self.platform_device(path, msi)
        if trace is not None:
            trace.add("start", f"the first node whose device_name is {path!r} (byte for byte)"
                      if nc is not None else f"no node has device_name {path!r}",
                      node_label(nc) if nc is not None else None,
                      nc.offset if nc is not None else None)
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
            if trace is not None:
                trace.focus = input_id
                trace.add("start", f"input ID 0x{input_id:X} given: walk it through the "
                          "mappings", node_label(nc), nc.offset)
            r = self.walk(nc, 0, 0, input_id, 1, wanted, trace=trace)[0].result
        elif msi:
            if trace is not None:
                trace.add("start", "no input ID: the first mapping index that reaches an MSI "
                          "controller (iort_pmsi_get_dev_id)", node_label(nc), nc.offset)
            r = self.first_platform_id(nc, wanted, trace)
        else:
            if trace is not None:
                trace.add("start", "no input ID: mapping indices 0, 1, ... each a single "
                          "mapping, until one does not reach an IOMMU (iort_iommu_configure_id)",
                          node_label(nc), nc.offset)
            r = self.platform_ids(nc, wanted, trace)
        if msi and not isinstance(r, Translated):
            r = replace(r, msi=True, device_id=input_id)
        return r

    def _platform_id(self, node: Node, index: int, wanted, trace=None) -> Result:
        """iort_node_map_platform_id(): mapping `index` as a single mapping
        (iort_node_get_id), then on from its target when that is not wanted."""
        mappings = node.fields.get("mappings") or []
        m = mappings[index]
        role = self.role(node)
        label, at = node_label(node), self.mapping_offset(node, index)

        def stop(text: str) -> None:
            if trace is not None:
                trace.add("stop", f"mapping {index}: {text}", label, at, mapping=index)
        if node.fields.get("mapping_offset") == 0:
            stop("mapping_offset is 0: no ID mappings")
            return Bypass(BypassReason.NO_MATCH, f"{node_label(node)} has no ID mappings")
        target = self.resolve(m.get("output_reference"))
        if target == NULL:
            stop("NULL output_reference")
            return Bypass(BypassReason.NO_MATCH, f"{node_label(node)} mapping {index} has a "
                          "NULL output reference")
        # iort_node_get_id() takes a single mapping from the nodes that may
        # hold one, and from those whose DeviceID comes from one.
        if not single(m) or not (role.single_mappings or role.deviceid_index is not None):
            stop("not a single mapping (iort_node_get_id takes single mappings only)")
            return Bypass(BypassReason.NO_MATCH, f"{node_label(node)} mapping {index} is no "
                          "single mapping")
        if not isinstance(target, Node):
            stop(f"output_reference {m.get('output_reference')} is no node")
            return MapError("dangling-reference", f"{node_label(node)} mapping {index} points "
                            f"at {m.get('output_reference')}, which is no node")
        if trace is not None:
            trace.add("arithmetic", f"mapping {index} is a single mapping: ID = output_base = "
                      f"0x{m['output_base']:X}; follow output_reference to {node_label(target)}",
                      label, at, mapping=index, output=m["output_base"])
        r = self.walk(target, 0, 0, m["output_base"], 1, wanted, hops=1, trace=trace)[0].result
        if isinstance(r, Translated):
            r = replace(r, chain=(node_label(node),) + r.chain)
        return r

    def platform_ids(self, node: Node, wanted, trace=None) -> Result:
        found: list[Translated] = []
        first_failure: Result | None = None
        for index in range(len(node.fields.get("mappings") or [])):
            r = self._platform_id(node, index, wanted, trace)
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

    def first_platform_id(self, node: Node, wanted, trace=None) -> Result:
        first_failure: Result | None = None
        for index in range(len(node.fields.get("mappings") or [])):
            r = self._platform_id(node, index, wanted, trace)
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
