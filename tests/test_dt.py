"""Devicetree iommu-map / msi-map (semantics.md 1.1), worked by hand."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from acpitables.mapping.dt import (DtMap, DtMapper, DtTarget, map_from_text, mapper_from_dtb,
                           mapper_from_file, parse_cells)
from acpitables.errors import InputError
from acpitables.mapping import Bypass, BypassReason, MapError, Translated

NO_MATCH = BypassReason.NO_MATCH
needs_dtc = pytest.mark.skipif(shutil.which("dtc") is None,
                               reason="dtc (Debian device-tree-compiler) is not installed")


def kind(r):
    if isinstance(r, Translated):
        return ("T", r.iommu, r.output_id) + ((r.cells,) if r.cells else ())
    if isinstance(r, Bypass):
        return ("B", r.reason)
    return ("E", r.reason)


def test_exclusive_end_and_the_virtio_iommu_gap():
    # QEMU virt: <0 &v 0 8>, <9 &v 9 0xfff7>: 0..7 and 9..0xFFFF (9+0xfff7 = 0x10000, exclusive)
    m = map_from_text("<0x0 &viommu 0x0 0x8>, <0x9 &viommu 0x9 0xfff7>")
    assert kind(m.lookup(0x7)) == ("T", "viommu", 7)
    assert kind(m.lookup(0x8)) == ("B", NO_MATCH)          # the IOMMU's own BDF: a gap
    assert kind(m.lookup(0x9)) == ("T", "viommu", 9)
    assert kind(m.lookup(0xFFFF)) == ("T", "viommu", 0xFFFF)
    assert kind(m.lookup(0x10000)) == ("B", NO_MATCH)       # one past the exclusive end


def test_first_match_wins():
    # 0x8..0xF are in both: the first entry answers
    m = map_from_text("<0x0 &a 0x100 0x10>, <0x8 &b 0x0 0x10>")
    assert kind(m.lookup(0x08)) == ("T", "a", 0x108)
    assert kind(m.lookup(0x0F)) == ("T", "a", 0x10F)
    assert kind(m.lookup(0x10)) == ("T", "b", 0x8)          # 0x10 - 0x8
    assert kind(m.lookup(0x17)) == ("T", "b", 0xF)
    assert kind(m.lookup(0x18)) == ("B", NO_MATCH)


def test_mask_is_applied_first():
    # mask 0xfff8 folds the 8 functions of a device onto function 0
    m = map_from_text("<0x0 &a 0x0 0x100>", mask=0xFFF8)
    assert kind(m.lookup(0x0F)) == ("T", "a", 0x08)
    assert kind(m.lookup(0x0A)) == ("T", "a", 0x08)
    assert kind(m.lookup(0x100)) == ("B", NO_MATCH)
    spans = m.rid_map().spans                                # per-RID enumeration path
    assert spans[0].start == 0 and spans[0].end == 7 and spans[0].step == 0
    m0 = map_from_text("<0x0 &a 0x42 0x1>", mask=0)          # every RID -> 0x42
    assert kind(m0.lookup(0xBEEF)) == ("T", "a", 0x42)


def test_id_base_outside_mask_is_efault_only_when_visited():
    m = map_from_text("<0x0 &a 0x0 0x10>, <0x100 &a 0x0 0x1>", mask=0xFF)
    assert kind(m.lookup(0x05)) == ("T", "a", 5)     # matched before the bad entry
    assert kind(m.lookup(0x20)) == ("E", "EFAULT")   # scanning reaches entry 2


def test_length_zero_matches_nothing():
    m = map_from_text("<0x0 &a 0x0 0x0>, <0x0 &b 0x0 0x1>")
    assert kind(m.lookup(0)) == ("T", "b", 0)


@pytest.mark.parametrize("compat,expect", [("linux-7.1", ("B", NO_MATCH)),
                                           ("linux-7.2", ("T", "a", 1))])
def test_u32_wrap(compat, expect):
    # 0xFFFF0000 + 0x10000 = 2^32: v7.1's end wraps to 0 -> matches nothing
    m = map_from_text("<0xffff0000 &a 0x0 0x10000>", compat=compat)
    assert kind(m.lookup(0xFFFF0001)) == expect


def test_dangling_phandle():
    cells = [0x0, 1, 0x0, 0x10, 0x10, 99, 0x0, 0x10]     # phandle 99 names nothing
    t = {1: DtTarget("a")}
    new, old = DtMap(cells, None, t), DtMap(cells, None, t, compat="linux-7.1")
    assert kind(new.lookup(0x05)) == kind(old.lookup(0x05)) == ("T", "a", 5)
    # v7.2: any visited entry's phandle is resolved -> every later ID errors
    assert kind(new.lookup(0x15)) == ("E", "dangling-reference")
    assert kind(new.lookup(0x20)) == ("E", "dangling-reference")
    # v7.1: only the matching entry's phandle matters
    assert kind(old.lookup(0x15)) == ("E", "dangling-reference")
    assert kind(old.lookup(0x20)) == ("B", NO_MATCH)


def test_empty_and_absent_property():
    assert kind(DtMap([]).lookup(0)) == ("B", NO_MATCH)                       # 7.2: zero entries
    assert kind(DtMap([], compat="linux-7.1").lookup(0)) == ("E", "EINVAL")
    assert kind(DtMap(None).lookup(0)) == ("B", BypassReason.NO_DESCRIPTION)
    assert kind(DtMap([0, 1, 0], compat="linux-7.1").lookup(0)) == ("E", "EINVAL")  # not 16 bytes


def test_pre_5_3_gap_is_an_error():
    m = map_from_text("<0x0 &a 0x0 0x8>", compat="linux-5.2")
    assert kind(m.lookup(7)) == ("T", "a", 7)
    assert kind(m.lookup(8)) == ("E", "EFAULT")


def test_target_unavailable():
    m = map_from_text("<0x0 &a 0x0 0x10>", targets={"a": DtTarget("a", 1, available=False)})
    assert kind(m.lookup(3)) == ("B", BypassReason.TARGET_UNAVAILABLE)


def test_multi_cell_specifiers_v7_2():
    two = {"a": DtTarget("a", 2)}
    # one ID onto a 2-cell specifier: args = off + out[i] with off 0
    m = map_from_text("<0x10 &a 0x5 0x6 0x1>, <0x20 &a 0x5 0x6 0x2>", targets=two)
    assert kind(m.lookup(0x10)) == ("T", "a", 5, (5, 6))
    assert kind(m.lookup(0x20)) == ("E", "EINVAL")       # a range onto 2 cells
    # legacy heuristic: 2-cell target, 4-cell entries, same phandle, length 1
    legacy = map_from_text("<0x0 &a 0x7 0x1>, <0x1 &a 0x8 0x1>", targets=two)
    assert kind(legacy.lookup(1)) == ("T", "a", 8)
    # missing #iommu-cells: one cell (v16 back-compat default)
    m1 = map_from_text("<0x0 &a 0x3 0x4>", targets={"a": DtTarget("a", None)})
    assert kind(m1.lookup(2)) == ("T", "a", 5)
    # v7.1 always reads 4-cell entries
    old = map_from_text("<0x0 &a 0x7 0x2>", targets=two, compat="linux-7.1")
    assert kind(old.lookup(1)) == ("T", "a", 8)


def test_from_entries_and_msi_map():
    m = DtMapper.from_entries(iommu_map=[(0x0, "smmu", 0x0, 0x10000)],
                              msi_map=[(0x0, "its", 0x0, 0x10000)])
    assert kind(m.lookup(0x1234)) == ("T", "smmu", 0x1234)
    assert kind(m.lookup(0x1234, msi=True)) == ("T", "its", 0x1234)
    assert kind(m.lookup(0, segment=1)) == ("B", BypassReason.NO_DESCRIPTION)


def test_parse_cells():
    assert parse_cells("<0x0 &viommu 0x0 0x8>, <9 &viommu 9 0xfff7>") == [
        0, "&viommu", 0, 8, 9, "&viommu", 9, 0xFFF7]
    with pytest.raises(InputError):
        parse_cells("<0x0 (1+2)>")


QEMU_VIRT_DTS = """/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	its: msi-controller@8080000 { msi-controller; #msi-cells = <1>; reg = <0 0x8080000 0 0x20000>; };
	pcie@10000000 {
		device_type = "pci";
		reg = <0 0x10000000 0 0x1000>;
		iommu-map = <0x0 &viommu 0x0 0x8>, <0x9 &viommu 0x9 0xfff7>;
		msi-map = <0x0 &its 0x0 0x10000>;
		viommu: virtio_iommu@8 { reg = <0x800 0 0 0 0>; #iommu-cells = <1>; };
	};
};
"""


@needs_dtc
def test_dts_file_via_dtc(tmp_path):
    p = tmp_path / "virt.dts"
    p.write_text(QEMU_VIRT_DTS)
    m = mapper_from_file(p)
    assert kind(m.lookup(0x8)) == ("B", NO_MATCH)
    assert kind(m.lookup(0x10)) == ("T", "viommu", 0x10)      # labels from __symbols__
    assert kind(m.lookup(0x8, msi=True)) == ("T", "its", 0x8)
    dtb = tmp_path / "virt.dtb"
    subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", str(dtb), str(p)], check=True)
    plain = mapper_from_file(dtb)                              # no -@: node paths
    assert kind(plain.lookup(0x10)) == ("T", "/pcie@10000000/virtio_iommu@8", 0x10)


@needs_dtc
def test_several_host_bridges(tmp_path):
    p = tmp_path / "two.dts"
    p.write_text("""/dts-v1/;
/ {
	a: iommu-a { #iommu-cells = <1>; };
	p0: pcie-0 { iommu-map = <0x0 &a 0x0 0x100>; };
	p1: pcie-1 { iommu-map = <0x0 &a 0x1000 0x100>; };
};
""")
    # no linux,pci-domain: domains are handed out in tree order, 0 then 1
    both = mapper_from_file(p)
    assert both.segments() == [0, 1]
    assert kind(both.lookup(0x5, segment=1)) == ("T", "a", 0x1005)
    clash = tmp_path / "clash.dts"
    clash.write_text(p.read_text().replace("iommu-map", "linux,pci-domain = <0>; iommu-map"))
    with pytest.raises(InputError, match="--node"):
        mapper_from_file(clash)
    m = mapper_from_file(p, node="/pcie-1")
    assert kind(m.lookup(0x5)) == ("T", "a", 0x1005)
    assert kind(mapper_from_file(p, node="p0").lookup(0x5)) == ("T", "a", 0x5)


def test_bad_dtb():
    with pytest.raises(InputError):
        mapper_from_dtb(b"\xd0\x0d\xfe\xed" + b"\0" * 20)


# --- property values typed on the command line --------------------------------

def _cli(*args):
    from typer.testing import CliRunner
    from acpitables.cli import app
    return CliRunner().invoke(app, list(args))


def test_cli_iommu_map_value_gap_bypasses():
    # QEMU's virtio-iommu DT map: RID 0x8 (00:01.0, the IOMMU) falls in the
    # one-ID gap between the entries -> no match -> bypass (of_map_id tail).
    value = "<0x0 &viommu 0x0 0x8>, <0x9 &viommu 0x9 0xf7>"
    r = _cli("map", "--iommu-map", value, "--rid", "00:01.0")
    assert r.exit_code == 0, r.output
    assert "bypass" in r.output and "no-match" in r.output
    # RID 0x3 lies in [0x0, 0x8): viommu, ID 0x3 - 0x0 + 0x0 = 0x3.
    r = _cli("map", "--iommu-map", value, "--rid", "00:00.3")
    assert "translated by viommu, ID 0x3" in r.output


def test_cli_iommu_map_mask_applies_first():
    # mask 0xff: RID 0x1234 -> 0x34, inside [0, 0x10000) -> smmu ID 0x34.
    r = _cli("map", "--iommu-map", "<0x0 &smmu 0x0 0x10000>", "--iommu-map-mask", "0xff",
             "--rid", "0x1234")
    assert r.exit_code == 0, r.output
    assert "translated by smmu, ID 0x34" in r.output


def test_cli_msi_map_value():
    # msi-map <0x0 &its 0x100 0x100>: RID 0x10 -> DeviceID 0x10 - 0x0 + 0x100.
    r = _cli("map", "--msi-map", "<0x0 &its 0x100 0x100>", "--rid", "00:02.0", "--msi")
    assert r.exit_code == 0, r.output
    assert "translated by its, ID 0x110" in r.output


def test_cli_property_values_and_input_are_exclusive(tmp_path):
    assert _cli("map", "--rid", "00:00.0").exit_code == 2
    f = tmp_path / "x.yaml"
    f.write_text("table: VIOT\n")
    assert _cli("map", str(f), "--iommu-map", "<0 &a 0 1>", "--rid", "0").exit_code == 2
    r = _cli("map", "--iommu-map", "<0x0 &a zz>", "--rid", "0")
    assert r.exit_code == 1 and "cannot read" in r.output


def test_zero_iommu_cells_translates_without_an_id_and_later_entries_still_work():
    # v7.2 of_map_id(): cells = #iommu-cells = 0, so an entry is (id-base,
    # phandle, length) and a match gives the target with args_count 0; the
    # "length > 1 && cells > 1" refusal does not apply. Entry 1: 0x0..0xF ->
    # &single (0 cells); entry 2: 0x10..0x1F -> &smmu 0x100 (1 cell).
    from oracles import linux_of
    targets = {"single": DtTarget("single", cells=0), "smmu": DtTarget("smmu", cells=1)}
    from acpitables.mapping.dt import DtHost
    m = DtMapper([DtHost("pcie", 0, map_from_text("<0x0 &single 0x10>, <0x10 &smmu 0x100 0x10>",
                                                       targets=targets), DtMap(None, msi=True))])
    r = m.lookup(0x05)
    assert isinstance(r, Translated) and r.iommu == "single" and r.id_cells == 0
    assert "no ID" in str(r)
    assert m.lookup(0x15).output_id == 0x105
    assert isinstance(m.lookup(0x20), Bypass)
    cells = [0x0, 1, 0x10, 0x10, 2, 0x100, 0x10]
    plain = {1: (0, True), 2: (1, True)}
    for rid, expect in ((0x05, ("T", 1, ())), (0x15, ("T", 2, (0x105,))), (0x20, ("F", "no-match"))):
        assert linux_of.of_map_id(cells, None, plain, rid) == expect


def test_msi_map_gap_means_no_msi_domain_and_the_id_unchanged():
    # of_msi_xlate(): the first node with an msi-map decides; no entry
    # covers RID 0x100, so the ID comes back unchanged with no controller.
    m = DtMapper.from_entries(msi_map=[(0, "its", 0x1000, 0x100)])
    assert m.lookup(0x10, msi=True).output_id == 0x1010
    r = m.lookup(0x100, msi=True)
    assert isinstance(r, Bypass) and r.msi and r.device_id == 0x100
    assert "no MSI domain" in str(r)


@settings(max_examples=80, deadline=None, print_blob=True)
@given(st.lists(st.tuples(st.integers(0, 0x60), st.integers(1, 4), st.lists(st.integers(0, 0x1000),
                                                                             min_size=0, max_size=2),
                          st.integers(0, 0x30)), min_size=1, max_size=6),
       st.sampled_from([None, 0xFFFF, 0xFFF8, 0x3F]),
       st.dictionaries(st.integers(1, 4), st.tuples(st.sampled_from([None, 0, 1, 2]), st.booleans()),
                       min_size=1, max_size=4))
def test_v7_2_spans_match_the_linux_of_map_id_loop(entries, mask, targets):
    # raw cells: (id-base, phandle, out cells as many as drawn, length); the
    # phandle may name no node, a 0/1/2-cell or an unavailable target
    from oracles import linux_of
    cells = []
    for base, ph, out, length in entries:
        cells += [base, ph, *out, length]
    m = DtMap(cells, mask, {ph: DtTarget(f"t{ph}", c, ok) for ph, (c, ok) in targets.items()})
    for rid in range(0, 0x70):
        got = m.lookup(rid)
        want = linux_of.of_map_id(cells, mask, targets, rid)
        if want[0] == "T":
            assert isinstance(got, Translated) and got.iommu == f"t{want[1]}", (rid, got, want)
            args = got.cells if got.cells else (() if got.id_cells == 0 else (got.output_id,))
            assert args == want[2], (rid, got, want)
        elif want[1] == "no-match":
            assert isinstance(got, Bypass) and got.reason is BypassReason.NO_MATCH, (rid, got)
        elif want[1] == "unavailable":
            assert isinstance(got, Bypass) and got.reason is BypassReason.TARGET_UNAVAILABLE
        else:
            assert isinstance(got, MapError), (rid, got, want)


def test_multi_id_entry_onto_multi_cell_target_is_einval_even_when_the_target_is_disabled():
    # found by the linux_of oracle: of_map_id() returns -EINVAL for a
    # matched length-2 entry onto a 2-cell target before of_iommu looks at
    # the target's status, so the answer is the error, not "unavailable"
    m = DtMap([0x0, 4, 0x0, 0x0, 0x2], None, {4: DtTarget("t4", 2, False)})
    assert isinstance(m.lookup(0), MapError) and m.lookup(0).reason == "EINVAL"
