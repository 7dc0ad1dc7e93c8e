"""explain: the walk Linux takes, step by step.

Hand-worked cases: each expected step is worked from the Linux source
(drivers/acpi/arm64/iort.c iort_node_map_id / iort_id_map, drivers/acpi/
viot.c viot_pci_dev_iommu_init, drivers/of/base.c of_map_id) and
semantics.md section 1, never by running the code. The corpus test
checks that explain's answer is map's answer for a sample of RIDs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import api
from acpitables.cli import app
from acpitables.engine.table import Node, Ref, Table
from acpitables.mapping import Bypass, BypassReason, IortMapper, Translated, ViotMapper
from acpitables.mapping.dt import DtMapper
from acpitables.mapping.explain import explain_device, explain_rid
from acpitables.mapping.acpi import for_table
from test_corpus import GOOD

ROOT = Path(__file__).resolve().parents[1]
IORT_EXAMPLE = str(ROOT / "examples/qemu-virt-iort.yaml")

ITS_GROUP, NAMED_COMPONENT, ROOT_COMPLEX, SMMU, SMMU_V3 = range(5)


def mp(base, count_minus_one, out, target, flags=0):
    return {"input_base": base, "id_count": count_minus_one, "output_base": out,
            "output_reference": Ref(target), "flags": flags}


def rc(name, maps, seg=0):
    return Node(ROOT_COMPLEX, {"revision": 3, "pci_segment_number": seg, "mappings": maps}, name)


def smmu3(name, maps=()):
    return Node(SMMU_V3, {"revision": 4, "flags": 1, "id_mapping_index": 0, "event_gsiv": 1,
                          "pri_gsiv": 2, "gerr_gsiv": 3, "sync_gsiv": 4, "mappings": list(maps)},
                name)


def its(name="its"):
    return Node(ITS_GROUP, {"revision": 1, "identifiers": [0], "mappings": []}, name)


def iort(*nodes):
    return Table("IORT", {"revision": 3}, nodes=list(nodes))


def actions(e):
    return [(s.action, s.node) for s in e.steps]


def test_multi_stage_rc_smmuv3_its():
    # RC 0..0xFFFF -> smmu at 0x1000; SMMUv3 0..0xFFFF -> its at 0x20000.
    # MSI path: RID 0x42 -> StreamID 0x42 + 0x1000 = 0x1042 -> DeviceID
    # 0x1042 + 0x20000 = 0x21042, the walk stopping at the ITS group.
    m = IortMapper(iort(its(), smmu3("smmu", [mp(0, 0xFFFF, 0x20000, "its")]),
                        rc("rc", [mp(0, 0xFFFF, 0x1000, "smmu")])))
    e = explain_rid(m, 0x42, msi=True)
    assert actions(e) == [("start", "rc"), ("node", "rc"), ("match", "rc"),
                          ("arithmetic", "rc"), ("next", "rc"), ("node", "smmu"),
                          ("match", "smmu"), ("arithmetic", "smmu"), ("next", "smmu"),
                          ("node", "its"), ("stop", "its")]
    arith = [s.data for s in e.steps if s.action == "arithmetic"]
    assert [(a["input"], a["output"]) for a in arith] == [(0x42, 0x1042), (0x1042, 0x21042)]
    assert "0x42 - input_base 0x0 + output_base 0x1000 = 0x1042" in e.text()
    assert e.result == Translated("its", 0x21042, ("rc", "smmu", "its"))
    # IOMMU path: the walk stops at the SMMU with StreamID 0x1042
    e = explain_rid(m, 0x42)
    assert actions(e)[-1] == ("stop", "smmu") and e.result.output_id == 0x1042


QEMU_OLD = [(0x0000, 0x0300, "smmu"), (0x4000, 0x0200, "smmu"), (0x0300, 0x3D00, "its")]


def test_tentative_end_of_range_superseded():
    # QEMU <= 9.0 wrote counts: RID 0x300 is the LAST ID of mapping 0
    # (0 + 0x300): tentative. Mapping 1 (0x4000..) fails the range test;
    # mapping 2 starts exactly at 0x300 and supersedes it: 0x300 - 0x300 +
    # 0x300 = 0x300 to the ITS, which has no mappings: not behind an IOMMU.
    m = IortMapper(iort(its(), smmu3("smmu", [mp(0, 0xFFFF, 0, "its")]),
                        rc("rc", [mp(b, n, b, t) for b, n, t in QEMU_OLD])))
    e = explain_rid(m, 0x300)
    rc_steps = [(s.action, s.data.get("mapping")) for s in e.steps if s.node == "rc"]
    assert rc_steps == [("start", None), ("node", None), ("match", 0), ("tentative", 0),
                        ("no-match", 1), ("supersede", 2), ("arithmetic", 2), ("next", 2)]
    assert e.steps[-1].action == "stop" and e.steps[-1].node == "its"
    assert isinstance(e.result, Bypass) and e.result.reason is BypassReason.NOT_BEHIND_IOMMU


def test_tentative_end_of_range_stands():
    # RID 0x4200 is the last ID of mapping 1 (0x4000 + 0x200); mapping 2
    # (0x300..0x4000) does not cover it, nothing later starts at 0x4200:
    # the tentative match stands, 0x4200 - 0x4000 + 0x4000 -> smmu 0x4200.
    m = IortMapper(iort(its(), smmu3("smmu", [mp(0, 0xFFFF, 0, "its")]),
                        rc("rc", [mp(b, n, b, t) for b, n, t in QEMU_OLD])))
    e = explain_rid(m, 0x4200)
    rc_steps = [(s.action, s.data.get("mapping")) for s in e.steps if s.node == "rc"][2:]
    assert rc_steps == [("no-match", 0), ("match", 1), ("tentative", 1), ("no-match", 2),
                        ("match", 1), ("arithmetic", 1), ("next", 1)]
    assert e.result == Translated("smmu", 0x4200, ("rc", "smmu"))


def test_single_mapping_on_named_component_and_skipped_on_smmu():
    # NC: a single mapping gives output_base 0x7 whatever the ID. On the
    # SMMUv3, single mappings are a FW_BUG and skipped: mapping 0 (single)
    # is skipped, mapping 1 (0..0xFF) gives 0x7 + 0x100 = 0x107 at the ITS.
    nc = Node(NAMED_COMPONENT, {"revision": 4, "device_name": "\\_SB_.DEV0",
                                "mappings": [mp(0, 0, 0x7, "smmu", flags=1)]}, "nc")
    smmu = smmu3("smmu", [mp(0, 0, 0x55, "its", flags=1), mp(0, 0xFF, 0x100, "its")])
    m = IortMapper(iort(its(), smmu, nc))
    e = explain_device(m, "\\_SB_.DEV0", msi=True)
    steps = [(s.action, s.node, s.data.get("mapping")) for s in e.steps]
    assert ("arithmetic", "nc", 0) in steps
    assert ("skip", "smmu", 0) in steps
    assert [s.data for s in e.steps if s.action == "arithmetic"][-1]["output"] == 0x107
    assert "FW_BUG" in next(s.text for s in e.steps if s.action == "skip")
    assert e.result.iommu == "its" and e.result.output_id == 0x107


def test_viot_segments_and_last_node_first():
    # Two ranges cover segment 2 BDF 0x12; Linux's list is in reverse
    # table order, so "late" is tested first and wins:
    # 0x100 + ((2 - 1) << 16) + (0x12 - 0x10) = 0x10102.
    vi = Node(3, {"segment": 0, "bdf": 0x8}, "vi")
    def pr(name, ep, segs, lo, hi):
        return Node(1, {"endpoint_start": ep, "segment_start": segs[0], "segment_end": segs[1],
                        "bdf_start": lo, "bdf_end": hi, "output_node": Ref("vi")}, name)
    m = ViotMapper(Table("VIOT", {"revision": 0},
                         nodes=[vi, pr("early", 0x900, (0, 3), 0, 0xFFFF),
                                pr("late", 0x100, (1, 2), 0x10, 0x1F)]))
    e = explain_rid(m, 0x12, segment=2)
    assert actions(e)[1:] == [("match", "late"), ("arithmetic", "late"), ("stop", "vi")]
    assert e.steps[2].data["output"] == 0x10102
    assert e.result.output_id == 0x10102
    # the IOMMU's own function (0:00:01.0 = 0x8) bypasses: "not translating ourself"
    e = explain_rid(m, 0x8, segment=0)
    assert e.steps[-1].action == "self" and e.result.reason is BypassReason.SELF


def test_dt_mask():
    # iommu-map-mask 0xFF: RID 0x1234 & 0xFF = 0x34; entry <0x0 &smmu 0x100
    # 0x100> covers 0x0..0xFF: 0x100 + (0x34 - 0x0) = 0x134.
    m = DtMapper.from_entries(iommu_map=[(0x0, "smmu", 0x100, 0x100)], iommu_map_mask=0xFF)
    e = explain_rid(m, 0x1234)
    assert [s.action for s in e.steps] == ["start", "mask", "match", "arithmetic", "stop"]
    assert e.steps[1].data["output"] == 0x34
    assert "0x134" in e.steps[3].text
    assert e.result.output_id == 0x134
    # a gap: with mask 0x3FF, 0x200 stays 0x200, which no entry covers
    m = DtMapper.from_entries(iommu_map=[(0x0, "smmu", 0x100, 0x100)], iommu_map_mask=0x3FF)
    e = explain_rid(m, 0x200)
    assert [s.action for s in e.steps] == ["start", "mask", "no-match", "stop"]
    assert e.result.reason is BypassReason.NO_MATCH


def _sample(m, seg, msi):
    rids = {0, 1, 8, 0x10, 0xFF, 0x100, 0x300, 0x4200, 0x8000, 0xFFFF}
    for s in m.segment_map(seg, msi).spans[:12]:
        rids |= {s.start, s.end, min(s.end, s.start + 1)}
    return sorted(rids)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_explain_answers_what_map_answers(path):
    m = for_table(api.decode(path.read_bytes()).table)
    for seg in m.segments()[:3]:
        for msi in (False, True):
            for rid in _sample(m, seg, msi):
                assert explain_rid(m, rid, seg, msi).result == m.lookup(rid, seg, msi), \
                    (seg, msi, hex(rid))
    for n in m.table.nodes:
        path_ = n.fields.get("device_name") if not n.raw else None
        if isinstance(path_, str) and hasattr(m, "lookup_device"):
            for msi in (False, True):
                assert explain_device(m, path_, None, msi).result == \
                    m.lookup_device(path_, None, msi)


def test_cli_json(tmp_path):
    r = CliRunner().invoke(app, ["explain", IORT_EXAMPLE, "--rid", "00:02.0",
                                 "--msi", "-f", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["steps"][0]["action"] == "start" and out["result"] in ("translated", "bypass")
    r = CliRunner().invoke(app, ["map", IORT_EXAMPLE, "--rid", "00:02.0",
                                 "--msi", "-f", "json"])
    assert {k: v for k, v in out.items() if k not in ("steps", "path", "device")} == \
        {k: v for k, v in json.loads(r.output).items() if k != "device"}


def test_several_tables_in_scan_order(tmp_path, corpus_dir):
    # an IORT whose RC has no mappings (QEMU virt without an SMMU) and a
    # VIOT: Linux tries the IORT first, then the VIOT (scan.c).
    from acpitables.mapping.io import open_mapper
    (tmp_path / "IORT").write_bytes((corpus_dir / "qemu/aarch64-virt__IORT").read_bytes())
    (tmp_path / "VIOT").write_bytes(api.build(ROOT / "examples/q35-virtio-iommu.yaml").data)
    m = open_mapper(str(tmp_path))
    e = explain_rid(m, 0x18)
    tables = [s.text for s in e.steps if s.action == "table"]
    assert tables[0] == "consult the IORT" and tables[-1] == "consult the VIOT"
    assert e.result == m.lookup(0x18) and e.result.iommu == "viommu"
    for rid in (0, 0x10, 0x18, 0xFFF, 0x1000, 0x3000, 0xFFFF):
        for msi in (False, True):
            assert explain_rid(m, rid, 0, msi).result == m.lookup(rid, 0, msi)


def test_readme_example_is_current(corpus_dir):
    # the README's "Seeing and explaining" block is this command's output
    text = (ROOT / "README.md").read_text()
    cmd = "$ acpitables explain corpus/"
    block = text[text.index(cmd):].split("```")[0].splitlines()
    table = block[0].split()[3].removeprefix("corpus/")
    m = for_table(api.decode((corpus_dir / table).read_bytes()).table)
    assert explain_rid(m, 0x10, 0, True).text().splitlines() == block[1:]
