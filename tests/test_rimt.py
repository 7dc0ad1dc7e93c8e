"""RIMT: structure sizes pinned to the spec (v1.0), the golden tables
against the hand-packed oracle, the description language (plain counts,
last, iommu_map, BDFs, defaults, escape hatches) and every check as a
coded finding with its place."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acpitables import api
from acpitables.cli import app
from acpitables.errors import DescriptionError
from acpitables.tables import rimt
import rimt_oracle as o

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "golden" / "rimt"
runner = CliRunner()


def build(text: str) -> api.Built:
    return api.build(text, "<test>")


def codes(diags) -> list[str]:
    return [x.code for x in diags]


def decoded_codes(data: bytes) -> list[str]:
    return codes(api.decode(data).warnings)


HEAD = "table: RIMT\noem_id: BOCHS\noem_table_id: BXPC\ncreator_id: BXPC\ncreator_revision: 1\n"


# --- structures (spec v1.0 tables 1, 3-9) ---------------------------------------

def test_structure_sizes():
    assert rimt.RIMT_HEADER.sizeof() == 12
    assert rimt.NODE_HEADER.sizeof() == 8
    assert rimt.ID_MAPPING.sizeof() == 20
    assert rimt.INTERRUPT_WIRE.sizeof() == 8
    assert rimt.SPEC.header_size == 48
    assert [rimt.NODE_TYPES[t].fixed_bytes(1) for t in (0, 1, 2)] == [40, 20, 12]


def test_node_header_order_is_type_revision_length_reserved_id():
    data = o.qemu_virt_pci_iommu()
    node = api.decode(data).table.nodes[1]
    assert data[88:96] == bytes.fromhex("01 01 28 00 00 00 01 00")
    assert (node.type, node.fields["revision"], node.fields["id"]) == (1, 1, 1)


# --- goldens: the oracle and QEMU's bytes ----------------------------------------------

def test_every_golden_case_has_an_oracle_and_matches_it():
    assert sorted(o.CASES) == sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
    for name, make in o.CASES.items():
        assert (GOLDEN / name / "expected.aml").read_bytes() == make(), name


@pytest.mark.parametrize("name", sorted(o.CASES))
def test_golden_builds_to_the_oracle_bytes(name):
    assert api.build(GOLDEN / name / "input.yaml").data == o.CASES[name]()


def test_qemu_pci_layout_is_byte_for_byte_build_rimt():
    # docs/rimt.md section 4: source BDF + 1, 0xFFFF - BDF IDs, identity, IOMMU at 48
    data = api.build(GOLDEN / "qemu-virt-pci-iommu" / "input.yaml").data
    assert len(data) == 128
    assert data[108:128] == struct.pack("<IIIII", 0x9, 0xFFF7, 0x9, 48, 0)
    assert data[56:64] == b"00100014" and data[86:88] == b"\x28\x00"


def test_qemu_description_is_what_decode_writes():
    desc = api.describe(api.decode(o.qemu_virt_pci_iommu()))
    assert desc["nodes"] == [
        {"name": "iommu0", "type": "iommu", "hardware_id": "00100014", "flags": {"pcie": True},
         "pcie_bdf": "00:01.0"},
        {"name": "rc0", "type": "pcie_root_complex",
         "mappings": [{"input": 0x9, "count": 0xFFF7, "output": "iommu0"}]}]
    assert (desc["revision"], desc["oem_id"], desc["oem_table_id"]) == (1, "BOCHS", "BXPC")


# --- the description language ----------------------------------------------------

IOMMU = "- {name: v, type: iommu, hardware_id: RSCV0004, base_address: 0x1000}\n"


def rc_with(mappings: str, extra: str = "") -> str:
    return HEAD + "nodes:\n" + IOMMU + f"- name: rc\n  type: pcie_root_complex\n{extra}  {mappings}\n"


def test_count_last_and_iommu_map_are_the_same_mapping():
    a = build(rc_with("mappings: [{input: 0x10, count: 0x20, output: v, output_base: 0x100}]"))
    b = build(rc_with("mappings: [{input: 0x10, last: 0x2f, output: v, output_base: 0x100}]"))
    c = build(rc_with("iommu_map: [{rid_base: 0x10, iommu: v, iommu_base: 0x100, length: 0x20}]"))
    assert a.data == b.data == c.data
    assert a.data[-20:] == struct.pack("<IIIII", 0x10, 0x20, 0x100, 48, 0)   # a plain count


def test_output_base_defaults_to_input():
    data = build(rc_with("mappings: [{input: 0x10, count: 1, output: v}]")).data
    assert data[-20:] == struct.pack("<IIIII", 0x10, 1, 0x10, 48, 0)


def test_iommu_map_comes_before_mappings():
    data = build(rc_with("mappings: [{input: 0x200, count: 1, output: v}]\n"
                         "  iommu_map: [{rid_base: 0x0, iommu: v, iommu_base: 0, length: 8}]")).data
    assert struct.unpack_from("<I", data, 48 + 40 + 20)[0] == 0x0
    assert struct.unpack_from("<I", data, 48 + 40 + 40)[0] == 0x200


@pytest.mark.parametrize("bdf, segment", [('"00:01.0"', 0), ("0x8", 0), ('"0000:00:01.0"', 0),
                                          ('"0002:00:01.0"', 2)])
def test_pcie_bdf_forms(bdf, segment):
    text = HEAD + f"nodes:\n- {{name: i, type: iommu, hardware_id: 1B360014, flags: {{pcie: true}}, " \
                  f"pcie_bdf: {bdf}}}\n- {{name: rc, type: pcie_root_complex}}\n"
    data = build(text).data
    assert struct.unpack_from("<HH", data, 48 + 32) == (segment, 0x8)


def test_pcie_bdf_segment_must_agree():
    with pytest.raises(DescriptionError, match="disagrees"):
        build(HEAD + "nodes:\n- {name: i, type: iommu, hardware_id: 1B360014, "
              "pcie_segment_number: 1, pcie_bdf: '0002:00:01.0'}\n")


@pytest.mark.parametrize("hid, why", [(None, "hardware_id"), ("RSCV00040", "8"),
                                      ("RSCVé004", "8 ASCII")])
def test_hardware_id_is_required_and_8_ascii(hid, why):
    item = "{name: i, type: iommu}" if hid is None else f"{{name: i, type: iommu, hardware_id: {hid}}}"
    with pytest.raises(DescriptionError, match=why):
        build(HEAD + f"nodes:\n- {item}\n")


def test_mappings_name_iommus_only():
    with pytest.raises(DescriptionError, match="goes to an IOMMU|ID mappings go to an IOMMU"):
        build(rc_with("mappings: [{input: 0, count: 1, output: rc}]"))
    with pytest.raises(DescriptionError, match="unknown node 'nope'"):
        build(rc_with("mappings: [{input: 0, count: 1, output: nope}]"))


@pytest.mark.parametrize("bad", ["flags: {ats: true}", "segment: 1"])
def test_unknown_keys_and_flag_names_are_errors(bad):
    with pytest.raises(DescriptionError):
        build(rc_with("mappings: []", extra=f"  {bad}\n"))


def test_ids_default_to_the_index_and_revisions_to_1():
    data = build(rc_with("mappings: []")).data
    assert data[8] == 1                                    # table revision
    assert data[48:56] == bytes.fromhex("00 01 28 00 00 00 00 00")
    assert data[88:96] == bytes.fromhex("01 01 14 00 00 00 01 00")
    data = build(HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: RSCV0004, id: 7, "
                 "base_address: 1}\n").data
    assert data[54:56] == b"\x07\x00"


def test_wire_offset_is_40_without_wires_unless_written():
    data = build(HEAD + "nodes:\n" + IOMMU).data
    assert data[86:88] == b"\x28\x00"
    data = build(HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: RSCV0004, "
                 "base_address: 1, interrupt_wire_offset: 0}\n").data
    assert data[86:88] == b"\x00\x00"
    desc = api.describe(api.decode(data))
    assert desc["nodes"][0]["interrupt_wire_offset"] == 0
    assert api.build(desc).data[:9] + api.build(desc).data[10:] == data[:9] + data[10:]


def test_platform_device_name_padding_and_alignment():
    # "\_SB_.DEV" is 9 characters: 12 + 10 = 22, two zero bytes, mappings at 24
    data = build(HEAD + "nodes:\n" + IOMMU + "- {name: d, type: platform_device, "
                 "device_name: '\\_SB_.DEV', mappings: [{input: 0, count: 1, output: v}]}\n").data
    node = data[88:]
    assert struct.unpack_from("<BBHHH", node, 0)[2] == 44     # Length 24 + 20
    assert struct.unpack_from("<HH", node, 8) == (24, 1)
    assert node[12:24] == b"\\_SB_.DEV\0\0\0"


def test_node_array_not_at_48_and_reserved_bytes_round_trip():
    nodes = o.qemu_virt_pci_iommu()[48:]
    maps = bytearray(nodes)
    maps[-8:-4] = (52).to_bytes(4, "little")
    maps[0x58 - 48 + 12] = 3                                  # root complex reserved1
    maps[4] = 2                                               # node header reserved
    struct.pack_into("<I", maps, 24, 0xF1)                    # IOMMU flags: reserved bits
    data = o.sdt(bytes.fromhex("02000000 34000000 01000000") + bytes(4) + bytes(maps))
    decoded = api.decode(data)
    found = codes(decoded.warnings)
    for code in ("RIMT-HDR-RESERVED", "RIMT-RESERVED", "RIMT-FLAGS-RESERVED"):
        assert code in found
    desc = api.describe(decoded)
    assert desc["node_offset"] == 52
    rebuilt = api.build(desc).data
    assert rebuilt[:9] + rebuilt[10:] == data[:9] + data[10:]


def test_reserved_node_type_is_kept_raw():
    unknown = bytes.fromhex("07 01 0c 00 00 00 02 00 aa bb cc dd")
    data = o.sdt(struct.pack("<III", 3, 48, 0) + o.qemu_virt_pci_iommu()[48:] + unknown)
    desc = api.describe(api.decode(data))
    assert desc["nodes"][2] == {"name": "node0", "type": 7, "data": unknown.hex()}
    assert api.build(desc).data == data


def test_mapping_to_a_root_complex_decodes_to_an_offset_and_round_trips():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.root_complex(1, 0, [o.mapping(0, 0x10, 0, 128)]),
                 o.platform_device(2, b"\\_SB_.BRG0", [o.mapping(0, 0x10, 0, 48)])], [48, 88, 128])
    decoded = api.decode(t)
    assert "RIMT-MAP-TARGET" in codes(decoded.warnings)
    desc = api.describe(decoded)
    assert desc["nodes"][1]["mappings"][0]["output"] == 128
    assert api.build(desc).data == t


# --- checks ------------------------------------------------------------------------------

def test_one_past_the_count_is_warned_where_linux_differs():
    two = rc_with("mappings: [{input: 0x0, count: 0x100, output: v, output_base: 0x1000},\n"
                  "             {input: 0x200, count: 0x100, output: v, output_base: 0x2000}]")
    warned = [w for w in build(two).warnings if w.code == "RIMT-LINUX-ONE-PAST"]
    assert len(warned) == 2
    assert "0x100" in warned[0].message and "0x1100" in warned[0].message
    assert warned[0].path is not None and "mappings" in warned[0].path
    # continuing ranges on one IOMMU: Linux's extra ID is the next range's own answer
    cont = rc_with("mappings: [{input: 0x0, count: 0x10, output: v},\n"
                   "             {input: 0x10, count: 0x10, output: v}]")
    warned = [w.message for w in build(cont).warnings if w.code == "RIMT-LINUX-ONE-PAST"]
    assert len(warned) == 1 and "0x20" in warned[0]
    # QEMU's layout: the one past is 0x10000, outside the RID space
    assert "RIMT-LINUX-ONE-PAST" not in codes(api.build(GOLDEN / "qemu-virt-pci-iommu" /
                                                        "input.yaml").warnings)


def test_mapping_that_reaches_the_iommus_own_function_is_warned():
    text = HEAD + ("nodes:\n- {name: i, type: iommu, hardware_id: 1B360014, flags: {pcie: true}, "
                   "pcie_bdf: '00:01.0'}\n- name: rc\n  type: pcie_root_complex\n"
                   "  iommu_map: [{rid_base: 0, iommu: i, iommu_base: 0, length: 8}]\n")
    assert "RIMT-MAP-OWN-IOMMU" in codes(build(text).warnings)     # 0 + 8 = 00:01.0, by Linux


@pytest.mark.parametrize("text, code", [
    (HEAD + "nodes:\n" + IOMMU + "- {name: a, type: pcie_root_complex, mappings: [{input: 0, count: 1, "
     "output: v}]}\n- {name: b, type: pcie_root_complex, mappings: [{input: 8, count: 1, output: v}]}\n",
     "RIMT-RC-SEGMENT-DUPLICATE"),
    (HEAD + "nodes:\n" + IOMMU + "- {name: d, type: platform_device, device_name: '\\_SB.DEV0', "
     "mappings: [{input: 0, count: 1, output: v}]}\n", "RIMT-DEVICE-NAME"),
    (rc_with("mappings: [{input: 0x40, count: 0, output: v}]"), "RIMT-MAP-COUNT-ZERO"),
    (HEAD + "nodes:\n" + IOMMU + "- {name: d, type: platform_device, device_name: '\\_SB_.DEV0', "
     "mappings: [{input: 0, count: 2, output: v}]}\n", "RIMT-PD-MULTI-ID"),
    (HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: RSCV0004, base_address: 1, "
     "proximity_domain: 3}\n", "RIMT-PXM"),
    (HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: 1B360014, base_address: 1, "
     "flags: {pcie: true}}\n", "RIMT-IOMMU-PCIE-BASE"),
    (HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: RSCV0004}\n", "RIMT-IOMMU-NO-BASE"),
    (HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: RSCV, base_address: 1}\n", "RIMT-HID"),
    (HEAD + "nodes:\n" + IOMMU + "- {name: w, type: iommu, hardware_id: RSCV0004, "
     "base_address: 2, id: 0}\n", "RIMT-ID-DUPLICATE"),
    (rc_with("mappings: [{input: 0x0, count: 0x100, output: v}, {input: 0x80, count: 0x100, "
             "output: v}]"), "RIMT-MAP-OVERLAP"),
    (HEAD + "nodes:\n" + IOMMU, "RIMT-FEW-NODES"),
    (HEAD + "nodes:\n" + IOMMU + "- {name: x, type: iommu, hardware_id: RSCV0004, "
     "base_address: 2}\n", "RIMT-IOMMU-UNREFERENCED"),
    (HEAD + "revision: 0\nnodes:\n" + IOMMU, "RIMT-REVISION"),
    (HEAD + "nodes:\n- {name: v, type: iommu, hardware_id: RSCV0004, base_address: 1, "
     "revision: 2}\n", "RIMT-NODE-REV"),
])
def test_check(text, code):
    assert code in codes(build(text).warnings)


def test_golden_tables_have_no_errors():
    for name in o.CASES:
        assert not [w for w in api.decode(o.CASES[name]()).warnings if w.severity == "error"], name


def test_first_mapping_with_null_destination_is_an_error():
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.root_complex(1, 0, [o.mapping(0, 0x10, 0, 0), o.mapping(0x10, 1, 0, 48)])],
                [48, 88])
    assert "RIMT-MAP-NULL" in decoded_codes(t)
    assert api.describe(api.decode(t)).get("lenient") is True


@pytest.mark.parametrize("maps, code", [
    ([(0, 0x10, 0, 88)], "RIMT-MAP-SELF"),
    ([(0xFFFFFFF0, 0x20, 0, 48)], "RIMT-MAP-WRAP"),
    ([(0, 0x10, 0xFFFFFFF8, 48)], "RIMT-MAP-OUTPUT-WRAP"),
])
def test_mapping_checks_on_bytes(maps, code):
    t = o.table([o.iommu(0, b"RSCV0004", base=0x2000),
                 o.root_complex(1, 0, [o.mapping(*m) for m in maps])], [48, 88])
    assert code in decoded_codes(t)


def test_mapping_cycle_is_an_error():
    # rc 48 -> platform device 88 -> rc 48
    t = o.table([o.root_complex(0, 0, [o.mapping(0, 0x10, 0, 88)]),
                 o.platform_device(1, b"\\_SB_.BRG0", [o.mapping(0, 0x10, 0, 48)]),
                 o.iommu(2, b"RSCV0004", base=0x2000)], [48, 88, 132])
    assert "RIMT-MAP-CYCLE" in decoded_codes(t)


# --- the CLI ------------------------------------------------------------------------------

def test_cli_build_decode_validate(tmp_path):
    src = GOLDEN / "all-node-types" / "input.yaml"
    out = tmp_path / "rimt.aml"
    r = runner.invoke(app, ["build", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == o.all_node_types()
    for fmt in ("text", "yaml", "json", "dsl"):
        r = runner.invoke(app, ["decode", str(out), "-f", fmt, "-o", str(tmp_path / f"o.{fmt}")])
        assert r.exit_code == 0, (fmt, r.output)
    yaml_out = tmp_path / "o.yaml"
    r = runner.invoke(app, ["build", str(yaml_out), "-o", str(tmp_path / "again.aml")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "again.aml").read_bytes() == out.read_bytes()
    assert json.loads((tmp_path / "o.json").read_text())
    r = runner.invoke(app, ["validate", str(out)])
    assert "RIMT-LINUX-ONE-PAST" in r.output or "one past" in r.output
