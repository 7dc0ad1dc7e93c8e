"""The RID-to-IOMMU mapper: VIOT, IORT and the ACPI front end.

Expected answers are worked by hand from semantics.md section 1 (the
comment on each case says which rule gives it), never by running the code.
IORT tables are hand-built Table/Node objects following the IORT contract
(node.fields["mappings"] = [{input_base, id_count (count-1), output_base,
output_reference, flags}]), so these tests do not depend on iort.py.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from acpitables.mapping import (AcpiMapper, Bypass, BypassReason, IortMapper, MapError,
                                Translated, ViotMapper)
from acpitables.engine.table import Node, Ref, Table

import acpi_bytes
from oracles import linux_iort, linux_viot

# IORT node types (ACPICA enum AcpiIortNodeType), as the tables are written
ITS_GROUP, NAMED_COMPONENT, ROOT_COMPLEX, SMMU, SMMU_V3, PMCG, RMR, IWB = range(8)

NO_MATCH, SELF = BypassReason.NO_MATCH, BypassReason.SELF
NOT_BEHIND = BypassReason.NOT_BEHIND_IOMMU


def kind(r):
    if isinstance(r, Translated):
        return ("T", r.iommu, r.output_id)
    if isinstance(r, Bypass):
        return ("B", r.reason)
    return ("E", r.reason)


# --- VIOT ----------------------------------------------------------------------

def viommu_pci(name, bdf, segment=0):
    return Node(3, {"segment": segment, "bdf": bdf}, name)


def viommu_mmio(name, base):
    return Node(4, {"base_address": base}, name)


def prange(name, first, last, iommu, endpoint=None, segs=(0, 0)):
    return Node(1, {"endpoint_start": first if endpoint is None else endpoint,
                    "segment_start": segs[0], "segment_end": segs[1], "bdf_start": first,
                    "bdf_end": last, "output_node": iommu if isinstance(iommu, Ref) else Ref(iommu)},
                name)


def viot(*nodes):
    return Table("VIOT", {"revision": 0}, nodes=list(nodes))


def test_viot_inclusive_ends():
    m = ViotMapper(viot(viommu_mmio("vi", 0x1000), prange("r", 0x10, 0x1F, "vi", 0x100)))
    assert kind(m.lookup(0x0F)) == ("B", NO_MATCH)      # one before the first
    assert kind(m.lookup(0x10)) == ("T", "vi", 0x100)   # first: endpoint_start
    assert kind(m.lookup(0x1F)) == ("T", "vi", 0x10F)   # bdf_end is inclusive
    assert kind(m.lookup(0x20)) == ("B", NO_MATCH)      # one past the end


def test_viot_segment_arithmetic():
    # segments 1..3, BDFs 0x100..0x1FF, endpoint 0x1000: segment 2 adds one
    # 0x10000 whatever the BDF range's size; 0x105 is 5 past bdf_start.
    m = ViotMapper(viot(viommu_mmio("vi", 0x1000),
                        prange("r", 0x100, 0x1FF, "vi", 0x1000, segs=(1, 3))))
    assert kind(m.lookup(0x105, segment=2)) == ("T", "vi", 0x11005)
    assert kind(m.lookup(0x105, segment=1)) == ("T", "vi", 0x1005)
    assert kind(m.lookup(0x1FF, segment=3)) == ("T", "vi", 0x210FF)
    assert kind(m.lookup(0x105, segment=0)) == ("B", NO_MATCH)
    assert kind(m.lookup(0x105, segment=4)) == ("B", NO_MATCH)


def test_viot_last_node_wins_on_overlap():
    # A covers 0x00..0xFF -> a (ep = rid), B covers 0x80..0x17F -> b (ep 0x5000 + off);
    # Linux prepends nodes, so B (later) is consulted first where both cover.
    m = ViotMapper(viot(viommu_mmio("a", 0x1000), viommu_mmio("b", 0x2000),
                        prange("A", 0x00, 0xFF, "a", 0), prange("B", 0x80, 0x17F, "b", 0x5000)))
    assert kind(m.lookup(0x7F)) == ("T", "a", 0x7F)
    assert kind(m.lookup(0x80)) == ("T", "b", 0x5000)
    assert kind(m.lookup(0x90)) == ("T", "b", 0x5010)
    assert kind(m.lookup(0x17F)) == ("T", "b", 0x50FF)
    assert kind(m.lookup(0x180)) == ("B", NO_MATCH)


def test_viot_iommu_self_exclusion():
    # QEMU: the virtio-iommu at 00:01.0 (0x0008) lies inside its own range.
    m = ViotMapper(viot(viommu_pci("vi", 0x0008), prange("r", 0x0000, 0x00FF, "vi")))
    assert kind(m.lookup(0x0007)) == ("T", "vi", 7)
    assert kind(m.lookup(0x0008)) == ("B", SELF)
    assert kind(m.lookup(0x0009)) == ("T", "vi", 9)
    # the same BDF on another segment is another device
    m2 = ViotMapper(viot(viommu_pci("vi", 0x0008), prange("r", 0, 0xFF, "vi", segs=(0, 1))))
    assert kind(m2.lookup(0x0008, segment=1)) == ("T", "vi", 0x10008)


def test_viot_self_only_for_the_ranges_own_iommu():
    # "b" at 0x10 lies in a range of "a": a translates b (not "ourself").
    m = ViotMapper(viot(viommu_pci("a", 0x08), viommu_pci("b", 0x10),
                        prange("r", 0x00, 0xFF, "a")))
    assert kind(m.lookup(0x10)) == ("T", "a", 0x10)
    assert kind(m.lookup(0x08)) == ("B", SELF)


def test_viot_dangling_output_node():
    # viot_parse_node(): an endpoint whose output node is no virtio-iommu
    # node is "No IOMMU node found" -- freed, parsing goes on (ret = 0). It
    # is as if the node were not there: covered IDs use the other node, the
    # rest are simply not behind an IOMMU (bug fix: was a MapError).
    m = ViotMapper(viot(viommu_mmio("vi", 0x1000), prange("ok", 0x00, 0x0F, "vi"),
                        prange("bad", 0x08, 0x1F, Ref(offset=0x99))))
    assert kind(m.lookup(0x08)) == ("T", "vi", 0x08)    # "bad" dropped: "ok" answers
    assert kind(m.lookup(0x10)) == ("B", NO_MATCH)
    assert "bad" in m.lookup(0x10).detail
    assert kind(m.lookup(0x20)) == ("B", NO_MATCH)
    # an output node that IS a node, but an endpoint, not an IOMMU: dropped too
    m = ViotMapper(viot(viommu_mmio("vi", 0x1000), prange("ok", 0x00, 0x0F, "vi"),
                        prange("odd", 0x10, 0x1F, "ok")))
    assert kind(m.lookup(0x15)) == ("B", NO_MATCH)


def test_viot_mmio_endpoints():
    def mmio(name, base, ep, iommu):
        return Node(2, {"endpoint": ep, "base_address": base, "output_node": Ref(iommu)}, name)
    m = ViotMapper(viot(viommu_mmio("vi", 0x9000), viommu_mmio("vj", 0xA000),
                        mmio("e0", 0x1000, 7, "vi"), mmio("e1", 0x1000, 8, "vj")))
    assert kind(m.lookup_address(0x1000)) == ("T", "vj", 8)   # last node wins
    assert kind(m.lookup_address(0x2000)) == ("B", NO_MATCH)
    assert kind(m.lookup_address(0x9000)) == ("B", SELF)      # the IOMMU itself
    assert kind(m.lookup(0)) == ("B", NO_MATCH)                # no PCI range at all


def test_viot_all_is_compact():
    m = ViotMapper(viot(viommu_pci("vi", 0x0008), prange("r", 0x0000, 0x02FF, "vi"),
                        prange("s", 0x4000, 0x41FF, "vi")))
    spans = m.segment_map(0).spans
    # [0,7] T, [8] self, [9,0x2FF] T, [0x300,0x3FFF] gap, [0x4000,0x41FF] T, rest gap
    assert [(s.start, s.end, kind(s.result)[0]) for s in spans] == [
        (0, 7, "T"), (8, 8, "B"), (9, 0x2FF, "T"), (0x300, 0x3FFF, "B"),
        (0x4000, 0x41FF, "T"), (0x4200, 0xFFFF, "B")]
    assert spans[2].result.output_id == 9 and spans[4].result.output_id == 0x4000


def decoded(data):
    from acpitables import api
    return api.decode(data).table


def oracle_kind(result, table):
    """The mapper's answer in the oracles' terms: IOMMU by node offset."""
    if isinstance(result, Translated):
        return ("T", table.node(result.iommu).offset, result.output_id)
    if isinstance(result, Bypass):
        return ("F", {NO_MATCH: "no-match", SELF: "self", NOT_BEHIND: "not-behind-iommu",
                      BypassReason.NO_DESCRIPTION: "no-description"}[result.reason])
    return ("F", result.reason)


@settings(max_examples=40, deadline=None, print_blob=True)
@given(st.lists(st.tuples(st.integers(0, 0x3F), st.integers(0, 0x3F), st.integers(0, 2),
                          st.integers(0, 0xFFFF)), min_size=1, max_size=8),
       st.integers(0, 0x3F))
def test_viot_compiled_spans_match_linux_loop(ranges, self_bdf):
    # target 2: a range whose output node is another range (dropped by Linux)
    nodes = [("pci_iommu", 0, self_bdf), ("mmio_iommu", 0x1000)]
    for x, y, which, ep in ranges:
        nodes.append(("range", ep, 0, 0, min(x, y), max(x, y), which))
    data, _ = acpi_bytes.viot(nodes)
    t = decoded(data)
    m, linux = ViotMapper(t), linux_viot.Viot(data)
    for rid in range(0, 0x42):
        assert oracle_kind(m.lookup(rid), t) == linux.pci(0, rid), rid


# --- IORT ----------------------------------------------------------------------

def mp(base, count_minus_one, out, target, flags=0):
    ref = target if isinstance(target, Ref) else Ref(target)
    return {"input_base": base, "id_count": count_minus_one, "output_base": out,
            "output_reference": ref, "flags": flags}


def rc(name, maps, seg=0):
    return Node(ROOT_COMPLEX, {"revision": 3, "pci_segment_number": seg, "mappings": maps}, name)


def nc(name, path, maps):
    return Node(NAMED_COMPONENT, {"revision": 4, "device_name": path, "mappings": maps}, name)


def smmu3(name, maps=(), rev=4, gsivs=(0x90, 0x91, 0x92, 0x93), index=0, flags=1):
    # default: wired interrupts (as QEMU), so the DeviceID index is ignored
    ev, pri, gerr, sync = gsivs
    return Node(SMMU_V3, {"revision": rev, "flags": flags, "id_mapping_index": index,
                          "event_gsiv": ev, "pri_gsiv": pri, "gerr_gsiv": gerr,
                          "sync_gsiv": sync, "mappings": list(maps)}, name)


def its(name="its"):
    return Node(ITS_GROUP, {"revision": 1, "identifiers": [0], "mappings": []}, name)


def iort(*nodes, revision=3):
    return Table("IORT", {"revision": revision}, nodes=list(nodes))


def test_iort_inclusive_count_minus_one():
    # id_count 0xFF: 0x100..0x1FF inclusive (256 IDs); the last ID is a
    # tentative match that nothing supersedes, so it stands.
    m = IortMapper(iort(its(), smmu3("smmu"), rc("rc", [mp(0x100, 0xFF, 0x1000, "smmu")])))
    assert kind(m.lookup(0x0FF)) == ("B", NO_MATCH)
    assert kind(m.lookup(0x100)) == ("T", "smmu", 0x1000)
    assert kind(m.lookup(0x1FF)) == ("T", "smmu", 0x10FF)
    assert kind(m.lookup(0x200)) == ("B", NO_MATCH)
    assert m.lookup(0x100).chain == ("rc", "smmu")


QEMU_NEW = [(0x0000, 0x02FF, "smmu"), (0x4000, 0x01FF, "smmu"), (0x0300, 0x3CFF, "its"),
            (0x4200, 0xBDFF, "its")]
QEMU_OLD = [(0x0000, 0x0300, "smmu"), (0x4000, 0x0200, "smmu"), (0x0300, 0x3D00, "its"),
            (0x4200, 0xBDFF, "its")]


def qemu_iort(rows, smmu_count=0xFFFF):
    # semantics.md 3.1: ITS group, SMMUv3 (0..0xFFFF -> ITS), RC mappings as stored
    return iort(its(), smmu3("smmu", [mp(0, smmu_count, 0, "its")]),
                rc("rc", [mp(b, n, b, t) for b, n, t in rows]))


@pytest.mark.parametrize("rows", [QEMU_NEW, QEMU_OLD], ids=["count-1", "qemu<=9.0-count"])
def test_iort_semantics_3_1_worked_example(rows):
    m = IortMapper(qemu_iort(rows))
    # main bus [0,2] and pxb 0x40 [0x40,0x41] translated, identity stream IDs
    assert kind(m.lookup(0x0000)) == ("T", "smmu", 0x0000)
    assert kind(m.lookup(0x02FF)) == ("T", "smmu", 0x02FF)
    # 0x0300: old encoding hits the SMMU range's last ID (tentative), the ITS
    # mapping #2 starts exactly there and wins -> walk ends at the ITS: bypass
    assert kind(m.lookup(0x0300)) == ("B", NOT_BEHIND)
    assert kind(m.lookup(0x3FFF)) == ("B", NOT_BEHIND)
    assert kind(m.lookup(0x4000)) == ("T", "smmu", 0x4000)
    assert kind(m.lookup(0x41FF)) == ("T", "smmu", 0x41FF)
    assert kind(m.lookup(0x4200)) == ("B", NOT_BEHIND)   # old: tentative, superseded by #3
    assert kind(m.lookup(0x8000)) == ("B", NOT_BEHIND)   # bypassed pxb 0x80: mapping #3
    assert kind(m.lookup(0xFFFF)) == ("B", NOT_BEHIND)   # #3's last ID: tentative, stands
    # MSIs: RC -> SMMU (StreamID = RID) -> ITS (DeviceID = StreamID), and
    # RC -> ITS directly for the bypassed RIDs: DeviceID = RID everywhere
    for rid in (0x0000, 0x0300, 0x4000, 0x8123, 0xFFFF):
        assert kind(m.lookup(rid, msi=True)) == ("T", "its", rid)
    assert m.lookup(0x10, msi=True).chain == ("rc", "smmu", "its")
    assert m.lookup(0x8000, msi=True).chain == ("rc", "its")
    # both encodings compile to the same three-range partition
    assert [(s.start, s.end, kind(s.result)[0]) for s in m.segment_map(0).spans] == [
        (0, 0x2FF, "T"), (0x300, 0x3FFF, "B"), (0x4000, 0x41FF, "T"), (0x4200, 0xFFFF, "B")]


def test_iort_overlap_not_at_start_is_ignored():
    # A: 0x0..0x10 -> a, B: 0x8..0x18 -> b. 0x10 is A's last ID (tentative);
    # B covers 0x10 but does not START there: ignored, A's answer stands.
    m = IortMapper(iort(smmu3("a"), smmu3("b"),
                        rc("rc", [mp(0x0, 0x10, 0x100, "a"), mp(0x8, 0x10, 0x200, "b")])))
    assert kind(m.lookup(0x08)) == ("T", "a", 0x108)   # first match wins
    assert kind(m.lookup(0x10)) == ("T", "a", 0x110)
    assert kind(m.lookup(0x11)) == ("T", "b", 0x209)   # 0x200 + (0x11 - 0x8)
    assert kind(m.lookup(0x19)) == ("B", NO_MATCH)


def test_iort_workaround_applies_only_when_off_by_one_range_comes_first():
    # Reverse order: B (starting at 0x10) comes first, so 0x10 matches B
    # plainly (it is B's first ID, not a last one): first match wins.
    m = IortMapper(iort(smmu3("a"), smmu3("b"),
                        rc("rc", [mp(0x10, 0x0F, 0x200, "b"), mp(0x0, 0x10, 0x100, "a")])))
    assert kind(m.lookup(0x10)) == ("T", "b", 0x200)
    assert kind(m.lookup(0x0F)) == ("T", "a", 0x10F)


def test_iort_workaround_within_one_node_only():
    # The tentative end of the RC's range leads to "mid" (a named component
    # used as a pass-through); the NEXT node's mapping starting at the
    # output is a fresh lookup there, not a superseding match.
    m = IortMapper(iort(smmu3("a"), smmu3("b"),
                        nc("mid", "\\_SB_.MID0", [mp(0x0, 0x20, 0x0, "a")]),
                        rc("rc", [mp(0x0, 0x10, 0x0, "mid"), mp(0x11, 0x0, 0x500, "b")])))
    # RID 0x10: RC range 0 (last ID, tentative -> mid 0x10); mapping 1 starts
    # at 0x11, not 0x10: tentative stands; at mid, 0x10 is plain -> a 0x10
    assert kind(m.lookup(0x10)) == ("T", "a", 0x10)
    assert m.lookup(0x10).chain == ("rc", "mid", "a")
    assert kind(m.lookup(0x11)) == ("T", "b", 0x500)


def test_iort_single_mapping_swallows_every_id_on_rc():
    # RC: [0x0..0x10 -> a], [single 0x77 -> b]. The single mapping matches
    # any ID, and (checked before the overlap test) supersedes the tentative
    # match at 0x10 too.
    m = IortMapper(iort(smmu3("a"), smmu3("b"),
                        rc("rc", [mp(0x0, 0x10, 0x0, "a"), mp(0, 0, 0x77, "b", flags=1)])))
    assert kind(m.lookup(0x05)) == ("T", "a", 0x05)
    assert kind(m.lookup(0x10)) == ("T", "b", 0x77)
    assert kind(m.lookup(0x20)) == ("T", "b", 0x77)
    assert kind(m.lookup(0xFFFF)) == ("T", "b", 0x77)
    span = m.segment_map(0).span_at(0x20)
    assert span.step == 0 and (span.start, span.end) == (0x10, 0xFFFF)   # 0x10 included


def test_iort_single_mapping_skipped_on_smmu():
    # MSI path RC -> SMMUv3 rev 0 (no DeviceID index) whose only mapping is
    # a single mapping: FW_BUG, skipped -> no mapping covers the StreamID.
    m = IortMapper(iort(its(), smmu3("smmu", [mp(0, 0, 0x9000, "its", flags=1)], rev=0),
                        rc("rc", [mp(0, 0xFFFF, 0, "smmu")])))
    assert kind(m.lookup(0x42)) == ("T", "smmu", 0x42)
    assert kind(m.lookup(0x42, msi=True)) == ("B", NO_MATCH)


@pytest.mark.parametrize("rev,gsivs,flags,index,expect", [
    (4, (0, 0, 0, 0), 0, 1, 1),        # rev 1-4, MSI-wired: index valid
    (4, (0, 0, 0, 0), 0, 0, 0),
    (4, (1, 2, 3, 4), 0, 1, None),     # all four GSIVs: index meaningless
    (4, (1, 0, 3, 4), 0, 1, 1),        # one MSI interrupt is enough
    (0, (0, 0, 0, 0), 0, 1, None),     # node rev 0: no index field
    (5, (0, 0, 0, 0), 0, 1, None),     # rev >= 5: only with DeviceID valid (bit 4)
    (5, (1, 2, 3, 4), 0x10, 1, 1),
    (4, (0, 0, 0, 0), 0, 2, None),     # index >= mapping count: FW_BUG, ignored
])
def test_smmuv3_deviceid_index(rev, gsivs, flags, index, expect):
    node = smmu3("s", [mp(0, 0xFFFF, 0, "its"), mp(0, 0, 0x9000, "its", flags=1)],
                 rev=rev, gsivs=gsivs, index=index, flags=flags)
    assert IortMapper(iort(its(), node)).deviceid_index(node) == expect


def test_smmuv3_deviceid_index_skipped_while_translating():
    # index 0 names the RANGE mapping: skipped; mapping 1 is a single
    # mapping on an SMMU (FW_BUG skip) -> the StreamID reaches no ITS.
    maps = [mp(0, 0xFFFF, 0, "its"), mp(0, 0, 0x9000, "its", flags=1)]
    t = lambda index: iort(its(), smmu3("smmu", maps, index=index, gsivs=(0, 0, 0, 0)),
                           rc("rc", [mp(0, 0xFFFF, 0, "smmu")]))
    assert kind(IortMapper(t(0)).lookup(5, msi=True)) == ("B", NO_MATCH)
    assert kind(IortMapper(t(1)).lookup(5, msi=True)) == ("T", "its", 5)


def test_pmcg_index():
    pm = lambda gsiv, maps: Node(PMCG, {"revision": 1, "overflow_gsiv": gsiv,
                                        "node_reference": Ref("smmu"), "mappings": maps}, "pm")
    one = [mp(0, 0, 0x100, "its", flags=1)]
    index = lambda node: IortMapper(iort(its(), smmu3("smmu"), node)).deviceid_index(node)
    assert index(pm(0, one)) == 0       # MSI overflow: index 0
    assert index(pm(33, one)) is None   # wired interrupt
    assert index(pm(0, [])) is None


def test_iort_loop_ends_in_error():
    # rc -> n1 -> n2 -> n1 ...: never a wanted node; hop limit = 3 nodes
    m = IortMapper(iort(nc("n1", "\\_SB_.N1__", [mp(0, 0xFFFF, 0, "n2")]),
                        nc("n2", "\\_SB_.N2__", [mp(0, 0xFFFF, 0, "n1")]),
                        rc("rc", [mp(0, 0xFFFF, 0, "n1")])))
    assert kind(m.lookup(0x1234)) == ("E", "loop")
    assert [kind(s.result) for s in m.segment_map(0).spans] == [("E", "loop")]
    self_loop = IortMapper(iort(rc("rc", [mp(0, 0xFFFF, 0, "rc")])))
    assert kind(self_loop.lookup(0)) == ("E", "loop")


def test_iort_long_loop_is_not_a_recursion_problem():
    # 3000 named components in a ring: the walk is iterative.
    n = 3000
    nodes = [nc(f"n{i}", f"\\_SB_.N{i:03X}"[:10], [mp(0, 0xFFFF, 0, f"n{(i + 1) % n}")])
             for i in range(n)]
    m = IortMapper(iort(*nodes, rc("rc", [mp(0, 0xFFFF, 0, "n0")])))
    assert kind(m.lookup(7)) == ("E", "loop")


def test_iort_dangling_and_null_references():
    m = IortMapper(iort(smmu3("smmu"),
                        rc("rc", [mp(0, 0xFF, 0, "smmu"), mp(0x100, 0xFF, 0, Ref(offset=0x999))])))
    assert kind(m.lookup(0x80)) == ("T", "smmu", 0x80)
    assert kind(m.lookup(0x180)) == ("E", "dangling-reference")
    # the FIRST mapping's reference is NULL: Linux gives up on the node
    null = IortMapper(iort(smmu3("smmu"), rc("rc", [mp(0, 0xFF, 0, Ref(offset=0)),
                                                    mp(0x100, 0xFF, 0, "smmu")])))
    assert kind(null.lookup(0x180)) == ("E", "malformed")


def test_iort_segments_and_first_rc_wins():
    m = IortMapper(iort(smmu3("a"), smmu3("b"),
                        rc("rc0", [mp(0, 0xFFFF, 0, "a")], seg=0),
                        rc("rc0bis", [mp(0, 0xFFFF, 0, "b")], seg=0),
                        rc("rc1", [mp(0, 0xFFFF, 0x10000, "b")], seg=1)))
    assert kind(m.lookup(5, 0)) == ("T", "a", 5)           # first RC of segment 0
    assert kind(m.lookup(5, 1)) == ("T", "b", 0x10005)
    assert kind(m.lookup(5, 2)) == ("B", BypassReason.NO_DESCRIPTION)
    assert m.segments() == [0, 1]


def test_iort_rc_without_mappings():
    m = IortMapper(iort(rc("rc", [])))
    assert kind(m.lookup(0)) == ("B", NO_MATCH)


def test_iort_u32_wrap_never_matches():
    # 0xFFFFFFF0 + 0x20 passes 2^32: Linux's u32 end wraps below the base
    m = IortMapper(iort(smmu3("s"), nc("dev", "\\_SB_.DEV0", [mp(0xFFFFFFF0, 0x20, 0, "s")])))
    assert kind(m.lookup_device("\\_SB_.DEV0", 0xFFFFFFF5)) == ("B", NO_MATCH)


def test_iort_named_components():
    m = IortMapper(iort(its(), smmu3("s", [mp(0, 0xFFFF, 0, "its")]),
                        nc("dev", "\\_SB_.DEV0", [mp(0, 0, 0x20, "s", flags=1),
                                                  mp(0, 0, 0x21, "s", flags=1)]),
                        nc("rng", "\\_SB_.RNG0", [mp(0, 0xF, 0x100, "s")]),
                        nc("msi", "\\_SB_.MSI0", [mp(0, 0, 0x30, "its", flags=1)])))
    # no input ID: each single mapping gives one StreamID, in index order
    r = m.lookup_device("\\_SB_.DEV0")
    assert kind(r) == ("T", "s", 0x20) and r.more_ids == (0x21,)
    assert r.chain == ("dev", "s")
    # a range mapping at index 0 stops the walk: bypass
    assert kind(m.lookup_device("\\_SB_.RNG0")) == ("B", NO_MATCH)
    # with an input ID the ranges apply: 0x100 + 3
    assert kind(m.lookup_device("\\_SB_.RNG0", 3)) == ("T", "s", 0x103)
    # the path is compared byte for byte: \_SB is not \_SB_
    assert kind(m.lookup_device("\\_SB.DEV0")) == ("B", BypassReason.NO_DESCRIPTION)
    # a single mapping straight to the ITS: not behind an SMMU
    assert kind(m.lookup_device("\\_SB_.MSI0")) == ("B", NOT_BEHIND)
    # MSI: DEV0's StreamID 0x20 through the SMMU to the ITS; MSI0 directly
    assert kind(m.lookup_device("\\_SB_.DEV0", msi=True))[:3] == ("T", "its", 0x20)
    assert kind(m.lookup_device("\\_SB_.MSI0", msi=True)) == ("T", "its", 0x30)


@settings(max_examples=60, deadline=None, print_blob=True)
@given(st.lists(st.tuples(st.integers(0, 0x30), st.integers(0, 0x10), st.integers(0, 0x100),
                          st.integers(0, 4), st.booleans()), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 0x200), st.integers(0, 0x80), st.integers(0, 0x1000),
                          st.integers(0, 1)), max_size=3),
       st.integers(0, 5))
def test_iort_compiled_spans_match_linux_walk(rc_maps, mid_maps, smmu_rev):
    # node indices: 0 its, 1 smmu a (-> its), 2 smmu b, 3 "mid" pass-through
    # named component; target 4 is a NULL reference (offset 0)
    targets = [0, 1, 2, 3, ("off", 0)]
    maps = [(0, 0, out, targets[t], 1) if single and i % 3 == 2 else (b, n, out, targets[t], 0)
            for i, (b, n, out, t, single) in enumerate(rc_maps)]
    data = acpi_bytes.iort([
        ("its", {}, []),
        ("smmu3", {"rev": smmu_rev, "gsivs": (0, 0, 0, 0), "index": 1},
         [(0, 0xFFFF, 0, 0, 0), (0, 0, 0x9000, 0, 1)]),
        ("smmu3", {}, []),
        ("nc", {"path": b"\\_SB_.MID0"}, [(b, n, out, 1 + t, 0) for b, n, out, t in mid_maps]),
        ("rc", {"segment": 0}, maps)])
    t = decoded(data)
    m, linux = IortMapper(t), linux_iort.Iort(data)
    points = set(range(0, 0x48))
    for b, n, *_ in rc_maps:
        points.update({b + n, b + n + 1})
    for msi in (False, True):
        for rid in sorted(points):
            assert oracle_kind(m.lookup(rid, msi=msi), t) == linux.pci(0, rid, msi), (rid, msi)


# --- ACPI: IORT, then VIOT --------------------------------------------------------

def test_acpi_iort_then_viot():
    # arm virt + virtio-iommu: IORT maps every RID to the ITS (no SMMU), so
    # the IOMMU lookup fails and VIOT decides (semantics.md 3.2).
    i = IortMapper(iort(its(), rc("rc", [mp(0, 0xFFFF, 0, "its")])))
    v = ViotMapper(viot(viommu_pci("vi", 0x0008), prange("r", 0x0000, 0x00FF, "vi")))
    m = AcpiMapper(i, v)
    assert kind(m.lookup(0x10)) == ("T", "vi", 0x10)
    assert kind(m.lookup(0x08)) == ("B", SELF)
    assert kind(m.lookup(0x100)) == ("B", NO_MATCH)
    assert kind(m.lookup(0x100, msi=True)) == ("T", "its", 0x100)
    # an IORT that translates is never second-guessed by the VIOT
    i2 = IortMapper(iort(smmu3("smmu"), rc("rc", [mp(0x0, 0x0F, 0x700, "smmu")])))
    m2 = AcpiMapper(i2, v)
    assert kind(m2.lookup(0x05)) == ("T", "smmu", 0x705)
    assert kind(m2.lookup(0x10)) == ("T", "vi", 0x10)


def test_dma_aliases():
    m = ViotMapper(viot(viommu_mmio("a", 0x1000), viommu_mmio("b", 0x2000),
                        prange("A", 0x00, 0x0F, "a"), prange("B", 0x10, 0x1F, "b")))
    r = m.lookup_aliases([0x01, 0x02])
    assert kind(r) == ("T", "a", 1) and r.more_ids == (2,)
    assert kind(m.lookup_aliases([0x01, 0x30])) == ("B", NO_MATCH)   # stops at first failure
    assert kind(m.lookup_aliases([0x01, 0x11])) == ("E", "mixed-iommus")


def test_lookup_rejects_ids_past_16_bits():
    m = ViotMapper(viot(viommu_mmio("a", 0x1000)))
    with pytest.raises(ValueError):
        m.lookup(0x10000)


def test_viot_interior_segments_of_a_multi_segment_range_are_listed():
    """segments [1, 3], bus 0, endpoint default 1 << 16: segment s gets
    endpoint 0x10000 + ((s - 1) << 16) + rid (Linux viot.c); segment 2 lies
    strictly inside the range and must be listed and compared too."""
    from acpitables import api
    from acpitables.engine import yamlio
    from acpitables.mapping import for_table
    table, _ = api.compile_description(
        yamlio.load("table: VIOT\niommus: [{name: v, pci: '0000:00:01.0'}]\n"
                    "endpoints: [{segments: [1, 3], bus: 0, iommu: v}]\n"))
    m = for_table(table)
    assert m.segments() == [0, 1, 2, 3]
    assert m.lookup(0x0005, 2).output_id == 0x20005
    assert m.lookup(0x0100, 2).__class__.__name__ == "Bypass"


def test_iort_mapping_offset_zero_means_no_mappings():
    # iort_node_map_id(): "if (!node->mapping_offset || !node->mapping_count)
    # goto fail_map" -- Linux never reads an array at Mapping Offset 0, so the
    # RC below (Mapping Count 1, Mapping Offset 0) maps nothing: every RID
    # of segment 0 bypasses (walk fails at the start node: no match), even
    # though the decoded mapping would send it to the SMMU.
    rc0 = rc("rc", [mp(0, 0xFFFF, 0, "smmu")])
    rc0.fields["mapping_offset"] = 0
    m = IortMapper(iort(its(), smmu3("smmu", [mp(0, 0xFFFF, 0, "its")]), rc0))
    assert kind(m.lookup(0x10)) == ("B", NO_MATCH)
    assert kind(m.lookup(0x10, msi=True)) == ("B", NO_MATCH)
    # one hop on: the SMMU's own array at offset 0 -> the MSI walk ends there
    smmu = smmu3("smmu", [mp(0, 0xFFFF, 0, "its")])
    smmu.fields["mapping_offset"] = 0
    m = IortMapper(iort(its(), smmu, rc("rc", [mp(0, 0xFFFF, 0, "smmu")])))
    assert kind(m.lookup(0x10)) == ("T", "smmu", 0x10)
    assert kind(m.lookup(0x10, msi=True)) == ("B", NOT_BEHIND)


def test_iort_tentative_match_with_null_reference_does_not_hold():
    # iort_node_map_id() keeps a tentative match in out_ref =
    # map->output_reference; when that reference is 0, out_ref stays 0, so
    # check_overlap is false for the later mappings and "i == mapping_count
    # && !out_ref" fails the walk if nothing else matches.
    # map 1 covers 0x100..0x1FF (-> NULL), map 2 0x180..0x2FF (-> smmu, 0x1000).
    maps = [mp(0, 0xFF, 0, "smmu"), mp(0x100, 0xFF, 0, Ref(offset=0)),
            mp(0x180, 0x17F, 0x1000, "smmu")]
    m = IortMapper(iort(smmu3("smmu"), rc("rc", maps)))
    # 0x1FF: map 1 matches at its last ID (tentative, ref 0); map 2 covers
    # 0x1FF without starting there, and matches as an ordinary range:
    # 0x1000 + (0x1FF - 0x180) = 0x107F.
    assert kind(m.lookup(0x1FF)) == ("T", "smmu", 0x107F)
    # 0x1FE: map 1 matches outright, to offset 0 (Linux walks garbage)
    assert kind(m.lookup(0x1FE)) == ("E", "dangling-reference")
    # 0x200: map 2 only
    assert kind(m.lookup(0x200)) == ("T", "smmu", 0x1080)
    # without map 2 the tentative NULL match is no match at all
    alone = IortMapper(iort(smmu3("smmu"), rc("rc", maps[:2])))
    assert kind(alone.lookup(0x1FF)) == ("B", NO_MATCH)
    # the same, as bytes, against the oracle's line-by-line loop
    for rows in ([(0, 0xFF, 0, 1, 0), (0x100, 0xFF, 0, ("off", 0), 0),
                  (0x180, 0x17F, 0x1000, 1, 0)], [(0, 0xFF, 0, 1, 0), (0x100, 0xFF, 0, ("off", 0), 0)]):
        data = acpi_bytes.iort([("its", {}, []), ("smmu3", {}, []), ("rc", {}, rows)])
        t = decoded(data)
        for rid in (0xFF, 0x100, 0x1FE, 0x1FF, 0x200, 0x2FF, 0x300):
            assert oracle_kind(IortMapper(t).lookup(rid), t) == \
                linux_iort.Iort(data).pci(0, rid), hex(rid)


def test_viot_short_endpoint_node_stops_parsing():
    # drivers/acpi/viot.c: a PCI range (or MMIO endpoint) node shorter than
    # 24 bytes is "Invalid PCI node size", viot_parse_node returns -EINVAL
    # and acpi_viot_init stops: nodes before it stay registered, none after.
    # An unknown node type is only warned about, and the walk goes on.
    short = Node(1, {"data": bytes([1, 0, 16, 0]) + bytes(12)}, "short", raw=True)
    unknown = Node(9, {"data": bytes([9, 0, 8, 0, 0, 0, 0, 0])}, "odd", raw=True)
    m = ViotMapper(viot(viommu_mmio("vi", 0x1000), prange("before", 0x00, 0x0F, "vi"), unknown,
                        prange("after0", 0x10, 0x1F, "vi"), short,
                        prange("after", 0x20, 0x2F, "vi")))
    assert kind(m.lookup(0x05)) == ("T", "vi", 0x05)
    assert kind(m.lookup(0x15)) == ("T", "vi", 0x15)    # past the unknown node
    assert kind(m.lookup(0x25)) == ("B", NO_MATCH)      # past the short node: never parsed
    assert kind(m.lookup(0x2F)) == ("B", NO_MATCH)


# --- Linux at the edges (issue 9), answers worked from the Linux source ---------

def test_gicv5_iwb_matched_by_name_after_named_components_and_single_mappings_hold():
    # Linux 7.0 iort.c: iort_find_dev_node() scans named components, then
    # IWB nodes, by device_name; iort_id_map() and iort_node_get_id() honour
    # single mappings on IWB nodes. IWB0's only mapping: single, -> ITS,
    # output 0x40. So MSI DeviceID 0x40 with or without an input ID.
    data = acpi_bytes.iort([
        ("its", {}, []),
        ("iwb", {"path": b"\\_SB_.IWB0", "index": 0}, [(0, 0, 0x40, 0, 1)]),
        ("nc", {"path": b"\\_SB_.SAME"}, [(0, 0, 0x11, 0, 1)]),
        ("iwb", {"path": b"\\_SB_.SAME", "index": 1}, [(0, 0, 0x22, 0, 1)])])
    t = decoded(data)
    m = IortMapper(t)
    assert kind(m.lookup_device("\\_SB_.IWB0", msi=True)) == ("T", "its0", 0x40)
    assert kind(m.lookup_device("\\_SB_.IWB0", 7, msi=True)) == ("T", "its0", 0x40)
    # the IOMMU path (iort_iommu_configure_id) scans named components only
    assert kind(m.lookup_device("\\_SB_.IWB0")) == ("B", BypassReason.NO_DESCRIPTION)
    # a name both kinds carry: the named component wins (scanned first)
    assert kind(m.lookup_device("\\_SB_.SAME", msi=True)) == ("T", "its0", 0x11)
    linux = linux_iort.Iort(data)
    for path in (b"\\_SB_.IWB0", b"\\_SB_.SAME"):
        assert oracle_kind(m.lookup_device(path.decode(), msi=True), t) == linux.platform_msi(path)


def test_platform_msi_takes_the_first_index_that_reaches_an_its():
    # iort_pmsi_get_dev_id(): for i in 0..mapping_count-1, the first index
    # whose iort_node_map_platform_id() finds an ITS gives the DeviceID.
    # Mapping 0 is a range (not single: iort_node_get_id fails), 1 is single.
    data = acpi_bytes.iort([("its", {}, []),
                            ("nc", {"path": b"\\_SB_.DEV0"}, [(0, 0xF, 0x100, 0, 0),
                                                               (0, 0, 0x77, 0, 1)])])
    t = decoded(data)
    assert kind(IortMapper(t).lookup_device("\\_SB_.DEV0", msi=True)) == ("T", "its0", 0x77)
    # the IOMMU path stops at index 0 (a range): not behind an SMMU
    assert kind(IortMapper(t).lookup_device("\\_SB_.DEV0")) == ("B", NO_MATCH)


def test_iort_rid_without_its_mapping_has_no_msi_domain_and_keeps_its_id():
    # iort_msi_map_id(): when iort_node_map_id() finds no ITS the input ID
    # is returned unchanged, and iort_get_device_domain() finds no domain.
    # RC maps 0x00..0xFF -> ITS only; RID 0x100 is past it.
    m = IortMapper(iort(its(), rc("rc", [mp(0, 0xFF, 0x1000, "its")])))
    assert kind(m.lookup(0x10, msi=True)) == ("T", "its", 0x1010)
    r = m.lookup(0x100, msi=True)
    assert kind(r) == ("B", NO_MATCH) and r.msi and r.device_id == 0x100
    assert "no MSI domain" in str(r) and "0x100" in str(r)
    assert r.as_dict()["id_unchanged"] is True and r.as_dict()["device_id"] == 0x100
    span = m.segment_map(0, msi=True).span_at(0x200)
    assert span.result.msi and "unchanged" in str(span.result)
    # the IOMMU path says nothing about MSI domains
    assert not m.lookup(0x100).msi


# --- the oracles on every corpus table -------------------------------------------

def _corpus_tables(signature):
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
    if not root.is_dir():
        pytest.skip("no ../shared/corpus")
    seen, out = set(), []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            head = p.read_bytes()
            if head[:4] == signature.encode() and head not in seen:
                seen.add(head)
                out.append((p, head))
    return out


def _decodable(data):
    from acpitables import api
    from acpitables.errors import AcpiTablesError
    try:
        return api.decode(data).table
    except AcpiTablesError:
        return None


def test_viot_corpus_matches_the_linux_loop_on_every_rid():
    compared = 0
    for path, data in _corpus_tables("VIOT"):
        t = _decodable(data)
        if t is None:
            continue
        m, linux = ViotMapper(t), linux_viot.Viot(data)
        for seg in m.segments():
            imap = m.segment_map(seg)
            for rid in range(0x10000):
                assert oracle_kind(imap.lookup(rid), t) == linux.pci(seg, rid), (path.name, seg, rid)
        compared += 1
    assert compared


def _rids(imap, linux, seg):
    """Every RID when ACPITABLES_ORACLE_ALL=1 (about 6 minutes on the
    corpus); otherwise each span's edges and the IDs around every mapping
    boundary of the segment's root complex (where answers change), plus
    every 31st RID."""
    import os
    if os.environ.get("ACPITABLES_ORACLE_ALL") == "1":
        return range(0x10000)
    pts = set(range(0, 0x10000, 31)) | {0xFFFF}
    for s in imap.spans:
        pts.update({s.start, s.end, s.start + 1, s.end - 1})
    rc = linux.root_complex(seg)
    if rc is not None:
        for i in range(rc.mapping_count if rc.mapping_offset else 0):
            base, count = rc.mapping(i)[:2]
            pts.update({base - 1, base, base + 1, base + count - 1, base + count, base + count + 1})
    return sorted(p for p in pts if 0 <= p <= 0xFFFF)


def test_iort_corpus_matches_the_linux_walk_on_every_rid():
    # every RID of every segment, IOMMU and MSI path, each corpus IORT;
    # the oracle walks per RID, the mapper compiled spans once. Tables with
    # a node kept raw are left out: its arrays run past the node's end, and
    # where Linux would read beyond it the mapper takes the node as absent.
    compared = 0
    for path, data in _corpus_tables("IORT"):
        t = _decodable(data)
        if t is None or any(n.raw for n in t.nodes):
            continue
        m, linux = IortMapper(t), linux_iort.Iort(data)
        assert m.segments() == linux.segments(), path.name
        for seg in m.segments():
            for msi in (False, True):
                imap = m.segment_map(seg, msi)
                for rid in _rids(imap, linux, seg):
                    assert oracle_kind(imap.lookup(rid), t) == linux.pci(seg, rid, msi), \
                        (path.name, seg, hex(rid), msi)
        compared += 1
    assert compared


@settings(max_examples=60, deadline=None, print_blob=True)
@given(st.lists(st.tuples(st.integers(0, 0x20), st.integers(0, 4), st.integers(0, 0x100),
                          st.integers(0, 4), st.booleans()), max_size=5),
       st.lists(st.tuples(st.integers(0, 0x20), st.integers(0, 4), st.integers(0, 0x100),
                          st.integers(0, 4), st.booleans()), max_size=4),
       st.booleans(), st.integers(0, 5))
def test_platform_devices_match_linux(nc_maps, iwb_maps, same_name, smmu_rev):
    # nodes: 0 its, 1 smmu a (-> its, DeviceID index 1 when MSI-wired),
    # 2 smmu b (no mappings), 3 PMCG (MSI overflow: DeviceID from mapping
    # 0); an NC and an IWB, both maybe named the same. Targets 0..3 and 4 =
    # a NULL reference.
    targets = [0, 1, 2, 3, ("off", 0)]
    rows = lambda maps: [(b, n, out, targets[t], int(single)) for b, n, out, t, single in maps]
    iwb_name = b"\\_SB_.DEV0" if same_name else b"\\_SB_.IWB0"
    data = acpi_bytes.iort([
        ("its", {}, []),
        ("smmu3", {"rev": smmu_rev, "gsivs": (0, 0, 0, 0), "index": 1},
         [(0, 0xFFFF, 0x10000, 0, 0), (0, 0, 0x9000, 0, 1)]),
        ("smmu3", {}, []),
        ("pmcg", {"ref": 1, "gsiv": 0}, [(0, 0, 0x500, 0, 1)]),
        ("nc", {"path": b"\\_SB_.DEV0"}, rows(nc_maps)),
        ("iwb", {"path": iwb_name}, rows(iwb_maps))])
    t = decoded(data)
    m, linux = IortMapper(t), linux_iort.Iort(data)
    for path in (b"\\_SB_.DEV0", iwb_name):
        mine = m.lookup_device(path.decode())
        want = linux.platform_iommu(path)
        if want[0] == "T":
            assert isinstance(mine, Translated)
            assert (t.node(mine.iommu).offset, [mine.output_id, *mine.more_ids]) == want[1:]
        else:
            assert not isinstance(mine, Translated), (path, mine, want)
        assert oracle_kind(m.lookup_device(path.decode(), msi=True), t) == \
            linux.platform_msi(path), path
        for ident in (0, 3, 0x10):
            assert oracle_kind(m.lookup_device(path.decode(), ident, msi=True), t) == \
                _linux_with_id(linux, path, ident), (path, ident)


def _linux_with_id(linux, path, ident):
    """iort_msi_map_id() for a platform device with an input ID."""
    node = linux.named(path, True)
    if node is None:
        return ("F", "no-description")
    return linux.node_map_id(node, ident, linux_iort.MSI_MASK)
