"""Cross-format agreement: descriptions, built-and-decoded VIOT / IORT, and
the exported iommu-map agree on all 65,536 RIDs (compared as interval
lists), and disagreements are found and located."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from acpitables import api
from acpitables.mapping import dt
from acpitables.cli import app
from acpitables.mapping import Translated, for_table
from acpitables.mapping.io import agree, open_mapper
from acpitables.engine.registry import TABLES
from conftest import CORPUS

runner = CliRunner()
QEMU_VIOT = str(CORPUS / "qemu" / "aarch64-virt__VIOT")


@st.composite
def topologies(draw):
    """iommu-map style ranges (rid_base, iommu index, iommu_base, length),
    sorted, non-overlapping, with gaps, over 1-2 IOMMUs."""
    n_iommus = draw(st.integers(1, 2))
    cursor, out = 0, []
    for _ in range(draw(st.integers(1, 6))):
        cursor += draw(st.integers(0, 0x2000))
        length = draw(st.integers(1, 0x3000))
        if cursor + length > 0x10000:
            break
        out.append((cursor, draw(st.integers(0, n_iommus - 1)), draw(st.integers(0, 0xFFFF)),
                    length))
        cursor += length
    return n_iommus, out


def viot_description(n, ranges):
    return {"table": "VIOT",
            "iommus": [{"name": f"viommu{i}", "mmio": 0x1000 * (i + 1)} for i in range(n)],
            "endpoints": [{"first": b, "count": length, "endpoint": out, "iommu": f"viommu{i}"}
                          for b, i, out, length in ranges]}


def iort_description(n, ranges, bypass_to_its):
    rc = {"name": "rc", "type": "root_complex", "pci_segment_number": 0,
          "memory_address_limit": 64,
          "iommu_map": [{"rid_base": b, "iommu": f"smmu{i}", "iommu_base": out, "length": length}
                        for b, i, out, length in ranges]}
    if bypass_to_its:
        rc["bypass_to"] = "its"
    smmus = [{"name": f"smmu{i}", "type": "smmu_v3", "base_address": 0x9050000 + 0x20000 * i,
              "event_gsiv": 0x90, "pri_gsiv": 0x91, "gerr_gsiv": 0x92, "sync_gsiv": 0x93,
              "mappings": [{"input": 0, "count": 0x10000, "output": "its"}]} for i in range(n)]
    return {"table": "IORT", "nodes": [{"name": "its", "type": "its_group", "identifiers": [0]}]
            + smmus + ([rc] if ranges or True else [])}


def expected_translated(ranges, names):
    # the topology's own rule: rid in [b, b+length) -> (iommu, out + rid - b)
    return [(b, b + length - 1, names[i], out) for b, i, out, length in ranges]


def translated(mapper):
    return [(s.start, s.end, s.result.iommu, s.result.output_id)
            for s in mapper.segment_map(0).spans if isinstance(s.result, Translated)]


def merged(spans):
    # adjacent ranges of one IOMMU with continuing outputs read as one
    out = []
    for s in spans:
        if out and out[-1][2] == s[2] and out[-1][1] + 1 == s[0] and \
                out[-1][3] + (out[-1][1] - out[-1][0] + 1) == s[3]:
            out[-1] = (out[-1][0], s[1], s[2], out[-1][3])
        else:
            out.append(s)
    return out


@settings(max_examples=40, deadline=None)
@given(topologies(), st.booleans())
def test_all_formats_agree_on_every_rid(topo, bypass_to_its):
    n, ranges = topo
    mappers = {}
    vdesc = viot_description(n, ranges)
    vtable, _ = api.compile_description(vdesc)
    mappers["viot-description"] = for_table(vtable)
    mappers["viot-decoded"] = for_table(api.decode(api.build(vdesc).data).table)
    if "IORT" in TABLES:
        idesc = iort_description(n, ranges, bypass_to_its)
        itable, _ = api.compile_description(idesc)
        mappers["iort-description"] = for_table(itable)
        mappers["iort-decoded"] = for_table(api.decode(api.build(idesc).data).table)
    mappers["dt-export"] = dt.export_dt(mappers["viot-description"]).mapper()
    mappers["dt-direct"] = dt.DtMapper.from_entries(
        iommu_map=[(b, f"iommu{i}", out, length) for b, i, out, length in ranges] or None)
    want = merged(expected_translated(ranges, [f"viommu{i}" for i in range(n)]))
    assert merged(translated(mappers["viot-description"])) == want
    ref = mappers["viot-description"]
    for name, m in mappers.items():
        res = agree(ref, m)
        assert res.ok, (name, res.differences[:3])


def test_disagreements_are_located():
    a = dt.DtMapper.from_entries(iommu_map=[(0x0, "a", 0x0, 0x100), (0x100, "b", 0x0, 0x100)])
    gap = dt.DtMapper.from_entries(iommu_map=[(0x0, "a", 0x0, 0x8), (0x9, "a", 0x9, 0xF7),
                                              (0x100, "b", 0x0, 0x100)])
    res = agree(a, gap)
    # RID 8 is translated in A and a gap in B: one one-RID difference
    assert [(d.first, d.last, d.kind) for d in res.differences] == [(8, 8, "translation")]
    shifted = dt.DtMapper.from_entries(iommu_map=[(0x0, "x", 0x1, 0x100), (0x100, "y", 0x0, 0x100)])
    res = agree(a, shifted)
    assert [(d.first, d.last, d.kind) for d in res.differences] == [(0, 0xFF, "output-id")]
    # partition: A puts 0..0xFF on one IOMMU and 0x100.. on another; C puts all on one
    one = dt.DtMapper.from_entries(iommu_map=[(0x0, "z", 0x0, 0x100), (0x100, "z", 0x0, 0x100)])
    res = agree(a, one)
    assert [(d.first, d.last, d.kind) for d in res.differences] == [(0x100, 0x1FF, "iommu")]
    assert agree(a, a, by_name=True).ok


@pytest.mark.skipif(shutil.which("dtc") is None, reason="dtc is not installed")
def test_cli_export_dt_agrees_and_qemu_dt_without_gap_differs(tmp_path, corpus_dir):
    out = tmp_path / "viot.dts"
    r = runner.invoke(app, ["export-dt", QEMU_VIOT, "--standalone", "-o", str(out)])
    assert r.exit_code == 0, r.output
    # the virtio-iommu's own BDF (00:01.0 = 0x0008) is left out, as in QEMU's DT
    assert "<0x0 &viommu 0x0 0x8>" in out.read_text()
    assert "<0x9 &viommu 0x9 0xf7>" in out.read_text()
    r = runner.invoke(app, ["agree", str(out), QEMU_VIOT])
    assert r.exit_code == 0 and "agree" in r.output
    nogap = tmp_path / "nogap.dts"
    nogap.write_text("/dts-v1/;\n/ { v: iommu { #iommu-cells = <1>; };\n"
                     "  pcie { iommu-map = <0x0 &v 0x0 0x100>; }; };\n")
    r = runner.invoke(app, ["agree", str(nogap), QEMU_VIOT])
    assert r.exit_code == 1
    assert "00:01.0: translation differs" in r.output


def test_cli_map(corpus_dir):
    r = runner.invoke(app, ["map", QEMU_VIOT, "--rid", "00:01.0"])
    assert r.exit_code == 0 and "bypass (self" in r.output
    r = runner.invoke(app, ["map", QEMU_VIOT, "--rid", "0x10", "-f", "json"])
    assert r.exit_code == 0 and '"output_id": 16' in r.output
    r = runner.invoke(app, ["map", QEMU_VIOT, "--all"])
    assert r.exit_code == 0 and r.output.count("\n") == 5      # header + 4 ranges
    assert runner.invoke(app, ["map", QEMU_VIOT]).exit_code == 2
    assert runner.invoke(app, ["map", "/nonexistent", "--all"]).exit_code == 1
    r = runner.invoke(app, ["map", QEMU_VIOT, "--device", "\\_SB_.DEV0"])
    assert r.exit_code == 1 and "needs an IORT" in r.output


@pytest.mark.skipif("IORT" not in TABLES, reason="IORT not registered yet")
def test_corpus_iort_maps(corpus_dir):
    # smmuv3-dev: two SMMUs, RC maps buses 0-1 to one and bus 0x10 to another
    m = open_mapper(str(CORPUS / "qemu" / "aarch64-virt__IORT.smmuv3-dev"))
    spans = [(s.start, s.end, s.result.iommu) for s in m.segment_map(0).translated()]
    assert [s[:2] for s in spans] == [(0x0, 0x1FF), (0x1000, 0x10FF)]
    assert spans[0][2] != spans[1][2]


def test_agree_unreadable_input_is_trouble_not_a_difference(tmp_path):
    # 1 means "the inputs differ"; an input that cannot be read is 2, as for cmp and diff.
    from typer.testing import CliRunner
    from acpitables.cli import app
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x80" * 64)
    result = CliRunner().invoke(app, ["agree", str(junk), str(junk)])
    assert result.exit_code == 2


def test_agree_reports_each_differing_range_exactly():
    # examples/q35-virtio-iommu.yaml: viommu at 00:02.0 (RID 0x10), ranges
    # 0x0000..0x0FFF and 0x3000..0xFFFF. The QEMU q35 VIOT: 0x1000..0x10FF
    # and 0x3000..0x30FF. Differences, worked by hand:
    #   0x0000..0x000F A translated, B bypass (0x10: both bypass)
    #   0x0011..0x0FFF A translated, B bypass
    #   0x1000..0x10FF A bypass, B translated (the reverse: its own range)
    #   0x3100..0xFFFF A translated, B bypass
    import pathlib
    q35 = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "qemu" / \
        "x86-q35__VIOT.viot"
    if not q35.exists():
        pytest.skip("no corpus")
    root = pathlib.Path(__file__).resolve().parent.parent
    res = agree(open_mapper(str(root / "examples" / "q35-virtio-iommu.yaml")), open_mapper(str(q35)))
    got = [(d.first, d.last, type(d.a).__name__, type(d.b).__name__) for d in res.differences]
    assert got == [(0x0000, 0x000F, "Translated", "Bypass"), (0x0011, 0x0FFF, "Translated", "Bypass"),
                   (0x1000, 0x10FF, "Bypass", "Translated"), (0x3100, 0xFFFF, "Translated", "Bypass")]
    assert res.differing_ids == 0x10 + 0xFEF + 0x100 + 0xCF00


def test_raw_offset_reference_maps_like_the_built_table(tmp_path):
    # the endpoint names its IOMMU by raw offset 0x30: the first node, right
    # after the 48-byte VIOT header -- the IOMMU "v" once built.
    src = tmp_path / "raw.yaml"
    src.write_text("table: VIOT\niommus: [{name: v, pci: '0000:00:01.0'}]\n"
                   "endpoints:\n  - {first: 0x0, count: 0x100, iommu: 0x30}\n")
    built = tmp_path / "raw.viot"
    built.write_bytes(api.build(src).data)
    a, b = open_mapper(str(src)), open_mapper(str(built))
    assert a.lookup(0x05).output_id == 0x05 and a.lookup(0x05).iommu == "v"
    assert agree(a, b).ok
    assert runner.invoke(app, ["agree", str(src), str(built)]).exit_code == 0


def test_export_dt_refuses_a_constant_range_that_is_not_the_whole_segment(tmp_path):
    # RC: 0x00..0xFF (id_count 0xFF) -> smmu linearly, then a single
    # mapping -> smmu 0x77 that swallows every other RID. 0xFF is the
    # range's last ID, a tentative match that the later single mapping
    # supersedes (iort_id_map checks single mappings before the overlap
    # test): 0x00FF..0xFFFF all give StreamID 0x77.
    # iommu-map entries are linear and the mask is per host bridge: no exact
    # form, so a located refusal -- never 65,280 one-RID entries.
    from acpi_bytes import iort as iort_bytes
    data = iort_bytes([("its", {}, []), ("smmu3", {}, [(0, 0xFFFF, 0, 0, 0)]),
                       ("rc", {}, [(0, 0xFF, 0, 1, 0), (0, 0, 0x77, 1, 1)])])
    path = tmp_path / "single.iort"
    path.write_bytes(data)
    r = runner.invoke(app, ["export-dt", str(path)])
    assert r.exit_code == 1
    assert "RIDs 0000:00:1f.7..0000:ff:1f.7" in r.output
    assert "rc0" in r.output and "no exact Devicetree form" in r.output
    # the whole segment on one ID is exact: mask 0
    whole = tmp_path / "whole.iort"
    whole.write_bytes(iort_bytes([("its", {}, []), ("smmu3", {}, [(0, 0xFFFF, 0, 0, 0)]),
                                  ("rc", {}, [(0, 0, 0x77, 1, 1)])]))
    r = runner.invoke(app, ["export-dt", str(whole)])
    assert r.exit_code == 0 and "iommu-map-mask = <0x0>" in r.output and len(r.output) < 2000


def test_map_over_a_directory_keeps_going_past_a_broken_table(tmp_path):
    from acpi_bytes import viot as viot_bytes
    good, _ = viot_bytes([("mmio_iommu", 0x1000), ("range", 0, 0, 0, 0, 0xFF, 0)])
    (tmp_path / "VIOT").write_bytes(good)
    (tmp_path / "IORT").write_bytes(b"IORT" + (200).to_bytes(4, "little") + bytes(40))
    r = runner.invoke(app, ["map", "--rid", "00:00.5", str(tmp_path)])
    assert "ID 0x5" in r.output                      # the good table answered
    assert "IORT" in r.output and "skipped" in r.output   # the broken one is named
    assert r.exit_code == 1


# --- RIMT --------------------------------------------------------------------
# RIMT's NumIds is a plain count; Linux's rimt_id_map accepts one ID past it
# (docs/rimt.md section 3). The description states the spec's ranges, so
# under the spec's reading RIMT agrees with every other format exactly, and
# under Linux's it differs in exactly the IDs worked out below.

RIMT_GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rimt"


def rimt_description(n, ranges):
    # platform IOMMUs: no PCIe IOMMU function of its own inside the ranges
    return {"table": "RIMT",
            "nodes": [{"name": f"viommu{i}", "type": "iommu", "hardware_id": "RSCV0004",
                       "base_address": 0x10000 * (i + 1)} for i in range(n)]
            + [{"name": "rc", "type": "pcie_root_complex",
                "iommu_map": [{"rid_base": b, "iommu": f"viommu{i}", "iommu_base": out,
                               "length": length} for b, i, out, length in ranges]}]}


def one_past_ids(ranges):
    """The IDs where Linux's RIMT reading differs from the ranges: each
    range's base + length, inside the RID space, unless the next range
    starts there on the same IOMMU with the output that continues."""
    out = set()
    for b, i, o, length in ranges:
        e = b + length
        if e > 0xFFFF:
            continue
        if any(b2 == e and i2 == i and o2 == o + length for b2, i2, o2, _ in ranges):
            continue
        out.add(e)
    return out


def differing(res):
    return {x for d in res.differences for x in range(d.first, d.last + 1)}


@pytest.mark.skipif("RIMT" not in TABLES, reason="RIMT not registered yet")
@settings(max_examples=40, deadline=None)
@given(topologies())
def test_rimt_agrees_with_dt_and_description_by_spec_and_differs_by_linux_one_past(topo):
    from acpitables.errors import AcpiTablesError
    from acpitables.mapping.rimt import RimtMapper
    n, ranges = topo
    ref = for_table(api.compile_description(viot_description(n, ranges))[0])
    desc = rimt_description(n, ranges)
    compiled, _ = api.compile_description(desc)
    decoded = api.decode(api.build(desc).data).table
    dt_map = dt.DtMapper.from_entries(
        iommu_map=[(b, f"viommu{i}", out, length) for b, i, out, length in ranges] or None)
    spec, linux = RimtMapper(compiled, reading="spec"), RimtMapper(compiled)
    assert agree(ref, spec, by_name=True).ok
    assert agree(dt_map, spec, by_name=True).ok
    assert differing(agree(ref, linux, by_name=True)) == one_past_ids(ranges)
    assert differing(agree(dt_map, linux, by_name=True)) == one_past_ids(ranges)
    # the built table says the same (decode names IOMMUs iommu0.., so by partition)
    assert agree(spec, RimtMapper(decoded, reading="spec")).ok
    assert agree(linux, RimtMapper(decoded)).ok
    assert agree(linux, for_table(decoded)).ok           # the registry's engine: Linux's
    # what export-dt writes for the Linux reading is that reading -- unless
    # the one-past IDs made a run of RIDs share one ID, which no linear
    # iommu-map entry can say (export-dt refuses it)
    constant = [s for s in linux.segment_map(0).translated() if s.step == 0 and s.end > s.start]
    if constant:
        with pytest.raises(AcpiTablesError, match="no exact Devicetree form"):
            agree(linux, dt.export_dt(linux).mapper())
    else:
        assert agree(linux, dt.export_dt(linux).mapper()).ok


QEMU_DT_PCI = [(0x0, "iommu", 0x0, 0x8), (0x9, "iommu", 0x9, 0xFFF7)]   # create_fdt_iommu, BDF 8
QEMU_DT_SYS = [(0x0, "iommu", 0x0, 0x0), (0x0, "iommu", 0x0, 0xFFFF)]   # create_fdt_pcie


def rimt_golden(name):
    return for_table(api.decode((RIMT_GOLDEN / name / "expected.aml").read_bytes()).table)


@pytest.mark.skipif("RIMT" not in TABLES, reason="RIMT not registered yet")
def test_qemu_rimt_and_its_devicetree_differ_exactly_below_the_iommu_bdf():
    res = agree(rimt_golden("qemu-virt-pci-iommu"), dt.DtMapper.from_entries(iommu_map=QEMU_DT_PCI))
    assert [(d.segment, d.first, d.last, d.kind) for d in res.differences] == \
        [(0, 0x0, 0x7, "translation")]
    assert not isinstance(res.differences[0].a, Translated)     # RIMT: bypass
    assert isinstance(res.differences[0].b, Translated)         # DT: translated


@pytest.mark.skipif("RIMT" not in TABLES, reason="RIMT not registered yet")
def test_qemu_platform_iommu_rimt_and_devicetree_differ_in_ffff_under_linux_only():
    from acpitables.mapping.rimt import RimtMapper
    dt_map = dt.DtMapper.from_entries(iommu_map=QEMU_DT_SYS)
    res = agree(rimt_golden("qemu-virt-iommu-sys"), dt_map)
    assert [(d.first, d.last, d.kind) for d in res.differences] == [(0xFFFF, 0xFFFF, "translation")]
    table = api.decode((RIMT_GOLDEN / "qemu-virt-iommu-sys" / "expected.aml").read_bytes()).table
    assert agree(RimtMapper(table, reading="spec"), dt_map).ok


@pytest.mark.skipif(shutil.which("dtc") is None or "RIMT" not in TABLES,
                    reason="dtc is not installed or RIMT not registered")
def test_cli_agree_qemu_rimt_with_qemu_devicetree(tmp_path):
    dts = tmp_path / "virt.dts"
    dts.write_text("/dts-v1/;\n/ { iommu: iommu@0 { #iommu-cells = <1>; };\n"
                   "  pcie { iommu-map = <0x0 &iommu 0x0 0x8>, <0x9 &iommu 0x9 0xfff7>; }; };\n")
    aml = str(RIMT_GOLDEN / "qemu-virt-pci-iommu" / "expected.aml")
    r = runner.invoke(app, ["agree", aml, str(dts)])
    assert r.exit_code == 1, r.output
    assert "0000:00:00.0..0000:00:00.7: translation differs" in r.output
    assert "differ: 8 RID(s) in 1 range(s)" in r.output
    r = runner.invoke(app, ["map", aml, "--rid", "00:01.0"])
    assert r.exit_code == 0 and "bypass" in r.output
    r = runner.invoke(app, ["map", aml, "--all"])
    assert r.exit_code == 0 and r.output.count("\n") == 3      # header + 2 spans
    out = tmp_path / "rimt.dts"
    r = runner.invoke(app, ["export-dt", aml, "--standalone", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "<0x9 &iommu0 0x9 0xfff7>" in out.read_text()
    r = runner.invoke(app, ["agree", str(out), aml])
    assert r.exit_code == 0, r.output


@pytest.mark.skipif("RIMT" not in TABLES, reason="RIMT not registered yet")
def test_cli_map_rimt_platform_device():
    aml = str(RIMT_GOLDEN / "platform-devices" / "expected.aml")
    r = runner.invoke(app, ["map", aml, "--device", "\\_SB_.DEV0"])
    assert r.exit_code == 0 and "ID 0x20 and 0x30" in r.output
    r = runner.invoke(app, ["map", aml, "--device", "\\_SB.DEV0"])
    assert "bypass" in r.output
