"""IORT: structure sizes pinned to spec.md 3.2-3.7, bytes <-> objects,
the spec's 216-byte vector, the description language (mappings, iommu_map
with bypass_to, revisions, the RC Flags word) and every validation rule
of spec 4.1/4.3 as a finding with its place."""
from __future__ import annotations

import struct

import pytest

from acpitables import api
from acpitables.tables import iort
from acpitables.formats import render
from acpitables.errors import DescriptionError, TableError
from acpitables.tables.iort import (ID_MAPPING, IORT_HEADER, MEMORY_ACCESS, NODE_HEADER, NODE_TYPES,
                             RMR_DESCRIPTOR, SMMU_GLOBAL_INTERRUPTS, SMMU_INTERRUPT)
from acpitables.engine.table import Ref, SDT_HEADER_SIZE

# spec.md 5.3: the table iasl 20260408 compiles from the tiny example.
SPEC_VECTOR = bytes.fromhex("""
49 4f 52 54 d8 00 00 00 06 50 42 4f 43 48 53 20 42 58 50 43 20 20 20 20 01 00 00 00 49 4e 54 4c
08 04 26 20 03 00 00 00 30 00 00 00 00 00 00 00 00 18 00 01 00 00 00 00 00 00 00 00 00 00 00 00
01 00 00 00 00 00 00 00 04 58 00 05 01 00 00 00 01 00 00 00 44 00 00 00 00 00 05 09 00 00 00 00
01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 6a 00 00 00 6b 00 00 00 6d 00 00 00
6c 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff 00 00 00 00 00 00 30 00 00 00 00 00 00 00
02 38 00 04 02 00 00 00 01 00 00 00 24 00 00 00 01 00 00 00 00 00 00 03 00 00 00 00 00 00 00 00
40 00 00 00 00 00 00 00 ff ff 00 00 00 00 00 00 48 00 00 00 00 00 00 00""")

SPEC_DESCRIPTION = """
table: IORT
revision: 6
oem_id: "BOCHS "
oem_table_id: "BXPC    "
creator_id: INTL
creator_revision: 0x20260408
nodes:
- {name: its0, type: its_group, identifiers: [0]}
- name: smmu0
  type: smmu_v3
  base_address: 0x9050000
  flags: {cohacc_override: true}
  event_gsiv: 0x6a
  pri_gsiv: 0x6b
  gerr_gsiv: 0x6d
  sync_gsiv: 0x6c
  mappings: [{input: 0, count: 0x10000, output: its0}]
- name: rc0
  type: root_complex
  flags_word: false
  memory_properties: {cache_coherency: 1, memory_flags: {coherency: true, device_attribute: true}}
  memory_address_limit: 64
  mappings: [{input: 0, last: 0xffff, output: smmu0}]
"""


def build(text: str) -> api.Built:
    return api.build(text, "<test>")


def messages(diags) -> list[str]:
    return [d.message for d in diags]


# --- structures -----------------------------------------------------------

def test_shared_structure_sizes():
    assert SDT_HEADER_SIZE + IORT_HEADER.sizeof() == 48  # spec 3.2
    assert NODE_HEADER.sizeof() == 16  # 3.3
    assert ID_MAPPING.sizeof() == 20  # 3.4
    assert MEMORY_ACCESS.sizeof() == 8  # 3.5
    assert SMMU_GLOBAL_INTERRUPTS.sizeof() == 16 and SMMU_INTERRUPT.sizeof() == 8  # 3.6.3
    assert RMR_DESCRIPTOR.sizeof() == 20  # 3.6.6


@pytest.mark.parametrize("code, revision, flags_word, size", [
    (iort.ITS_GROUP, 0, True, 20), (iort.ITS_GROUP, 1, True, 20),
    (iort.NAMED_COMPONENT, 0, True, 29), (iort.NAMED_COMPONENT, 4, True, 29),
    (iort.ROOT_COMPLEX, 0, True, 32), (iort.ROOT_COMPLEX, 1, True, 36),
    (iort.ROOT_COMPLEX, 3, True, 36), (iort.ROOT_COMPLEX, 4, True, 40),
    (iort.ROOT_COMPLEX, 4, False, 36),  # ACPICA's form of a revision-4 RC
    (iort.SMMU, 0, True, 60), (iort.SMMU, 3, True, 60),
    (iort.SMMU_V3, 0, True, 60), (iort.SMMU_V3, 1, True, 68), (iort.SMMU_V3, 5, True, 68),
    (iort.PMCG, 0, True, 32), (iort.PMCG, 1, True, 40), (iort.PMCG, 2, True, 40),
    (iort.RMR, 1, True, 28), (iort.RMR, 3, True, 28),
    (iort.IWB, 1, True, 26),
])
def test_fixed_part_sizes_follow_spec_3_7(code, revision, flags_word, size):
    assert NODE_TYPES[code].fixed_bytes(revision, flags_word) == size


def test_node_type_constants_and_one_switch():
    assert (iort.ITS_GROUP, iort.NAMED_COMPONENT, iort.ROOT_COMPLEX, iort.SMMU, iort.SMMU_V3,
            iort.PMCG, iort.RMR, iort.IWB) == tuple(range(8))
    assert sorted(NODE_TYPES) == list(range(8))


def test_id_mapping_bytes_both_ways():
    raw = struct.pack("<5I", 0x100, 0xFF, 0x2000, 0x30, 1)
    assert dict(ID_MAPPING.parse(raw), _io=None) == dict(
        input_base=0x100, id_count=0xFF, output_base=0x2000, output_reference=0x30, flags=1,
        _io=None)
    assert ID_MAPPING.build(ID_MAPPING.parse(raw)) == raw
    assert iort.build_array(ID_MAPPING, iort.parse_array(ID_MAPPING, raw * 3, 0, 3)) == raw * 3


def test_flagset_names_and_fields():
    assert iort.SMMU_V3_FLAGS.describe(0x17) == {"cohacc_override": True, "httu_override": 3,
                                                 "deviceid_valid": True}
    p = _problems()
    assert iort.SMMU_V3_FLAGS.compile({"httu_override": 2, "pxm_valid": True}, p, ()) == 0xC
    assert iort.RMR_FLAGS.compile({"access_attributes": 5, "remap_permitted": True}, p, ()) == 0x15
    assert iort.RMR_FLAGS.describe(0x400) == {"reserved": 0x400}
    assert not p.errors
    iort.HINTS.compile({"bogus": True}, p, ())
    assert "unknown flag 'bogus'" in p.errors[0].message


def _problems():
    from acpitables.engine.description import Problems
    return Problems({}, "<test>")


def test_schema_flag_names_match_the_declarations():
    from acpitables.engine.description import load_schema
    node = load_schema("iort.schema.json")["properties"]["nodes"]["items"]
    by_kind = {c["if"]["properties"]["type"]["const"]: c["then"] for c in node["allOf"]
               if "const" in c["if"]["properties"]["type"]}
    assert set(by_kind) == set(iort.BY_KIND)
    for kind, ntype in iort.BY_KIND.items():
        for name, flagset in ntype.flags.items():
            if name in iort.MEMORY_ACCESS_FLAGS:
                schema = node["properties"]["memory_properties"]["properties"][name]
            elif name == "flags":
                schema = by_kind[kind]["properties"]["flags"]
            else:
                schema = node["properties"][name]
            names = set(schema["oneOf"][1]["properties"]) - {"reserved"}
            assert names == set(flagset.names()), (kind, name)


# --- the spec vector and the description language ---------------------------

def test_spec_216_byte_vector_from_a_description():
    assert build(SPEC_DESCRIPTION).data == SPEC_VECTOR


def test_spec_vector_decodes_to_the_contract_model():
    decoded = api.decode(SPEC_VECTOR)
    assert not decoded.warnings
    its, smmu, rc = decoded.table.nodes
    assert decoded.table.header["revision"] == 6
    assert (its.type, smmu.type, rc.type) == (iort.ITS_GROUP, iort.SMMU_V3, iort.ROOT_COMPLEX)
    assert its.fields["identifiers"] == [0]
    assert smmu.fields["revision"] == 5 and smmu.fields["identifier"] == 1
    assert [smmu.fields[k] for k in ("event_gsiv", "pri_gsiv", "gerr_gsiv", "sync_gsiv")] == [
        0x6A, 0x6B, 0x6D, 0x6C]
    assert smmu.fields["mappings"] == [{"input_base": 0, "id_count": 0xFFFF, "output_base": 0,
                                        "output_reference": Ref(name=its.name), "flags": 0}]
    assert "flags" not in rc.fields  # 36-byte form: MappingOffset 0x24
    assert rc.fields["memory_address_limit"] == 64 and rc.fields["pci_segment_number"] == 0
    assert rc.fields["mappings"][0]["output_reference"] == Ref(name=smmu.name)
    assert api.build(api.describe(decoded)).data == SPEC_VECTOR


def test_rc_flags_word_both_ways():
    text = SPEC_DESCRIPTION.replace("  flags_word: false\n", "  flags: {pasid_supported: true}\n")
    data = build(text).data
    rc = api.decode(data).table.nodes[2]
    assert data[0xA0 + 12:0xA0 + 16] == struct.pack("<I", 40)  # mappings after Flags
    assert rc.fields["flags"] == 1 and len(data) == 220
    assert api.build(api.describe(api.decode(data))).data == data
    with pytest.raises(DescriptionError, match="Flags word exists from root complex node "
                                               "revision 4"):
        build(text.replace("  flags: {pasid_supported: true}\n",
                           "  flags_word: true\n  revision: 3\n"))


def test_mapping_forms_and_minus_one():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    text = base + """- name: nc0
  type: named_component
  device_name: \\_SB_.DEV0
  memory_address_limit: 48
  mappings:
  - {input: 0x10, count: 16, output: smmu0}
  - {input: 0x20, last: 0x2f, output: smmu0, output_base: 0x100}
  - {single: true, output: its0, output_base: 0x77}
"""
    nc = api.decode(build(text).data).table.nodes[2]
    assert [(m["input_base"], m["id_count"], m["output_base"], m["flags"])
            for m in nc.fields["mappings"]] == [(0x10, 15, 0x10, 0), (0x20, 15, 0x100, 0),
                                                (0, 0, 0x77, 1)]
    assert nc.fields["device_name"] == "\\_SB_.DEV0"
    # name at 29, 11 bytes with NUL -> 40: already 4-aligned for the ID array
    assert nc.fields["mapping_offset"] == 40 and nc.fields["length"] == 40 + 60


def test_nc_name_padding_default_and_explicit():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    nc = base + """- name: nc0
  type: named_component
  device_name: \\_SB_.UFS
  memory_address_limit: 48
  mappings: [{input: 0, count: 1, output: smmu0}]
"""
    data = build(nc).data
    node = api.decode(data).table.nodes[2]
    assert node.fields["mapping_offset"] == 40  # 29 + 10 -> 39 -> 40
    explicit = build(nc.replace("  mappings: [{input: 0, count: 1,",
                                "  mapping_offset: 39\n  mappings: [{input: 0, count: 1,")).data
    node = api.decode(explicit).table.nodes[2]
    assert node.fields["mapping_offset"] == 39
    assert "mapping_offset" in str(api.describe(api.decode(explicit)))


def test_qemu_bypass_to_its_reproduces_qemu(corpus_dir):
    """iommu_map + bypass_to is QEMU's create_rc_its_idmaps: this description
    gives QEMU's smmuv3-legacy table (rev 3, 2025-09) byte for byte."""
    path = corpus_dir / "qemu" / "history" / \
        "aarch64-virt__IORT.smmuv3-legacy__2025-09-16_d35146a6606c"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    text = """
table: IORT
revision: 3
oem_id: BOCHS
oem_table_id: BXPC
creator_id: BXPC
nodes:
- {name: its0, type: its_group, identifiers: [0]}
- name: smmu0
  type: smmu_v3
  base_address: 0x9050000
  flags: {cohacc_override: true}
  event_gsiv: 0x6a
  pri_gsiv: 0x6b
  gerr_gsiv: 0x6d
  sync_gsiv: 0x6c
  mappings: [{input: 0, count: 0x10000, output: its0}]
- name: rc0
  type: root_complex
  memory_properties: {cache_coherency: 1, memory_flags: {coherency: true, device_attribute: true}}
  memory_address_limit: 64
  iommu_map:
  - {rid_base: 0x0, iommu: smmu0, iommu_base: 0x0, length: 0x200}
  - {rid_base: 0x1000, iommu: smmu0, iommu_base: 0x1000, length: 0x100}
  bypass_to: its0
"""
    assert build(text).data == path.read_bytes()


def test_bypass_to_must_be_an_its_group():
    base = SPEC_DESCRIPTION.split("  mappings: [{input: 0, last")[0]
    with pytest.raises(DescriptionError, match="bypassed RIDs go to an ITS group"):
        build(base + "  iommu_map: [{rid_base: 0, iommu: smmu0, iommu_base: 0, length: 16}]\n"
                     "  bypass_to: smmu0\n")


@pytest.mark.parametrize("revision", [1, 2, 4])
def test_deprecated_revisions_build_only_when_asked(revision):
    text = SPEC_DESCRIPTION.replace("revision: 6", f"revision: {revision}")
    with pytest.raises(DescriptionError, match="allow_deprecated_revision"):
        build(text)
    data = build(text + "allow_deprecated_revision: true\n").data
    decoded = api.decode(data)
    assert any("not one this tool builds by default" in w.message for w in decoded.warnings)
    assert api.describe(decoded)["allow_deprecated_revision"] is True
    assert api.build(api.describe(decoded)).data == data


@pytest.mark.parametrize("revision, expected", [
    (0, {0: 0, 1: 2, 2: 1, 3: 1, 4: 2, 5: 1}),
    (3, {0: 1, 1: 4, 2: 3, 3: 3, 4: 4, 5: 2, 6: 1}),
    (5, {0: 1, 1: 4, 2: 4, 3: 3, 4: 4, 5: 2, 6: 3}),
    (6, {0: 1, 1: 4, 2: 4, 3: 3, 4: 5, 5: 2, 6: 3}),
    (7, {0: 1, 1: 4, 2: 4, 3: 3, 4: 5, 5: 2, 6: 3, 7: 1}),
])
def test_node_revision_matrix(revision, expected):
    assert iort.revision_column(revision) == expected


def test_identifiers_default_to_index_and_zero_at_revision_0():
    nodes = api.decode(build(SPEC_DESCRIPTION).data).table.nodes
    assert [n.fields["identifier"] for n in nodes] == [0, 1, 2]
    rev0 = build(SPEC_DESCRIPTION.replace("revision: 6", "revision: 0")
                 .replace("  flags_word: false\n", "")).data
    assert [n.fields["identifier"] for n in api.decode(rev0).table.nodes] == [0, 0, 0]
    text = render.text(api.decode(rev0))
    assert "Reserved : 00000000" in text and " Identifier :" not in text


def test_text_view_decodes_flags_below():
    text = render.text(api.decode(SPEC_VECTOR))
    assert "Flags (decoded below) : 00000001" in text
    assert "COHACC Override : 1" in text and "Single Mapping : 0" in text
    assert "Output Reference : 00000030    (its0)" in text


def test_unknown_key_for_node_revision_is_an_error():
    base = SPEC_DESCRIPTION.split("- name: smmu0")[0]
    with pytest.raises(DescriptionError, match="'page1_base_address' is not a field of a "
                                               "revision-0 PMCG"):
        build(base + """- {name: smmu0, type: smmu_v3}
- {name: p0, type: pmcg, revision: 0, node_reference: smmu0, overflow_gsiv: 5,
   page1_base_address: 0x1000}
""")


def test_unknown_reference_is_located():
    with pytest.raises(DescriptionError) as info:
        build(SPEC_DESCRIPTION.replace("output: its0}", "output: its9}"))
    [problem] = info.value.problems
    assert problem.path == "nodes[1].mappings[0].output"
    assert "unknown node 'its9'" in problem.message and problem.line == 18


# --- validation: spec 4.1 / 4.3 -----------------------------------------------

def findings(text: str) -> list:
    """Findings of a description that builds despite errors (lenient)."""
    return api.build(text + "lenient: true\n", "<test>").warnings


def test_off_by_one_smell_and_overlap():
    text = SPEC_DESCRIPTION.replace(
        "  mappings: [{input: 0, last: 0xffff, output: smmu0}]",
        "  mappings:\n  - {input: 0, count: 0x301, output: smmu0}\n"
        "  - {input: 0x300, count: 0x100, output: its0}\n"
        "  - {input: 0x380, count: 0x10, output: its0}\n")
    warned = [w for w in build(text).warnings]
    assert any("mapping 0 ends at input ID 0x300 where mapping 1 starts" in w.message
               for w in warned)
    assert any("mapping 2 [0x380, 0x38F] overlaps mapping 1" in w.message for w in warned)
    assert warned[0].path.startswith("nodes[2].mappings[")


def test_rule_errors_fail_the_build_with_their_place():
    text = SPEC_DESCRIPTION.replace("  mappings: [{input: 0, count: 0x10000, output: its0}]",
                                    "  mappings: [{input: 0, count: 0x10000, output: rc0}]")
    with pytest.raises(DescriptionError) as info:
        build(text)
    # rc0 -> smmu -> rc0 is also a cycle (an error: Linux follows it forever).
    problem, cycle = sorted(info.value.problems, key=lambda p: "cycle" in p.message)
    assert "mapping 0 goes to rc0, a Root Complex node; a SMMUv3 node maps to ITS Group" \
        in problem.message
    assert problem.path == "nodes[1].mappings[0].output"
    assert "ID mappings form a cycle" in cycle.message


def test_mapping_array_overlapping_the_name_is_an_error():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    text = base + """- name: nc0
  type: named_component
  device_name: \\_SB_.DEV0
  memory_address_limit: 48
  mapping_offset: 32
  mappings: [{input: 0, count: 1, output: smmu0}]
"""
    with pytest.raises(DescriptionError, match="mappings at node offset 0x20 overlaps "
                                               "device_name"):
        build(text)


def test_node_types_against_the_table_revision():
    base = SPEC_DESCRIPTION.split("- name: smmu0")[0]
    iwb = base + "- {name: w0, type: iwb, device_name: \\_SB_.IWB0, mappings: [{input: 0, " \
                 "count: 1, output: its0}]}\n"
    with pytest.raises(DescriptionError, match="IWB nodes need IORT revision 7"):
        build(iwb)
    assert build(iwb.replace("revision: 6", "revision: 7")).data
    rmr = base + """- {name: s0, type: smmu_v3, event_gsiv: 1, pri_gsiv: 2, gerr_gsiv: 3, sync_gsiv: 4,
   mappings: [{input: 0, count: 1, output: its0}]}
- name: r0
  type: rmr
  rmr_descriptors: [{base_address: 0x8001000, length: 0x1000}]
  mappings: [{input: 0, count: 1, output: s0}]
"""
    with pytest.raises(DescriptionError, match="RMR nodes need IORT revision 3"):
        build(rmr.replace("revision: 6", "revision: 0"))
    warned = messages(build(rmr).warnings)
    assert any("RMR descriptor 0 [0x8001000, +0x1000) is not 64 KiB aligned" in m
               for m in warned)
    assert any("Linux ignores RMR nodes in IORT revision 3" in m
               for m in messages(build(rmr.replace("revision: 6", "revision: 3")).warnings))
    with pytest.raises(DescriptionError, match="RMR descriptor 0 has length 0"):
        build(rmr.replace("length: 0x1000", "length: 0"))


def test_duplicate_identifiers_and_indexes():
    text = SPEC_DESCRIPTION.replace("- name: rc0\n", "- name: rc0\n  identifier: 1\n")
    with pytest.raises(DescriptionError, match="identifier 1 is also smmu0's"):
        build(text)


def test_smmu_v3_deviceid_index_rules():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    # node revision 4 (table 3): the index counts unless all four GSIVs are wired
    msi = base.replace("  event_gsiv: 0x6a\n", "  event_gsiv: 0\n").replace("revision: 6",
                                                                            "revision: 3")
    with pytest.raises(DescriptionError, match="must be a single mapping to an ITS group"):
        build(msi)
    ok = msi.replace("  mappings: [{input: 0, count: 0x10000, output: its0}]",
                     "  id_mapping_index: 1\n  mappings:\n  - {input: 0, count: 0x10000, "
                     "output: its0}\n  - {single: true, output: its0, output_base: 0x10000}")
    assert build(ok).data
    with pytest.raises(DescriptionError, match="DeviceID mapping index 2 but only 2 mappings"):
        build(ok.replace("id_mapping_index: 1", "id_mapping_index: 2"))
    # node revision 5 (table 6): the index counts only with DeviceID valid
    ok = ok.replace("revision: 3", "revision: 6")
    valid = ok.replace("flags: {cohacc_override: true}",
                       "flags: {cohacc_override: true, deviceid_valid: true}")
    assert build(valid.replace("event_gsiv: 0\n", "event_gsiv: 0x6a\n")).data
    # DeviceID valid clear: the index is meaningless (a warning), so mapping
    # 1 is no DeviceID mapping but a single mapping Linux's iort_id_map skips.
    with pytest.raises(DescriptionError) as info:
        build(ok.replace("event_gsiv: 0\n", "event_gsiv: 0x6a\n"))
    assert any("DeviceID valid is clear" in m for m in messages(info.value.warnings))
    assert [p.code for p in info.value.problems] == ["IORT-MAP-SINGLE"]


def test_pmcg_rules():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    pmcg = base + "- {name: p0, type: pmcg, node_reference: smmu0, page0_base_address: 0x1000}\n"
    with pytest.raises(DescriptionError, match="overflow GSIV 0 means an MSI"):
        build(pmcg)
    assert build(pmcg.replace("0x1000}", "0x1000, mappings: [{single: true, output: its0, "
                                         "output_base: 9}]}")).data
    two = pmcg.replace("0x1000}", "0x1000, overflow_gsiv: 7, mappings: [{single: true, "
                                  "output: its0}, {single: true, output: its0}]}")
    with pytest.raises(DescriptionError, match="a PMCG has at most one ID mapping"):
        build(two)


def test_named_component_names_linux_never_matches():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    text = base + "- {name: nc0, type: named_component, device_name: \\_SB.UFS0, " \
                  "memory_address_limit: 40}\n"
    [warning] = build(text).warnings
    assert "Linux compares the full path and would never match it" in warning.message
    assert warning.path == "nodes[2].device_name"


def test_self_reference_and_cycle_are_warnings():
    base = SPEC_DESCRIPTION.split("- name: rc0")[0]
    text = base + """- name: nc0
  type: named_component
  device_name: \\_SB_.DEV0
  memory_address_limit: 40
  mappings: [{input: 0, count: 1, output: nc0}]
"""
    found = findings(text)
    assert any("mapping 0 points at its own node" in w.message for w in found)
    cyc = base.replace("output: its0}]", "output: smmu1}]") + """- name: smmu1
  type: smmu_v3
  event_gsiv: 1
  pri_gsiv: 1
  gerr_gsiv: 1
  sync_gsiv: 1
  mappings: [{input: 0, count: 0x10000, output: smmu0}]
"""
    found = findings(cyc)
    assert any("ID mappings form a cycle: smmu0 -> smmu1 -> smmu0" in w.message for w in found)


def test_lenient_builds_what_has_errors_and_decode_writes_it():
    text = SPEC_DESCRIPTION.replace("- name: rc0\n", "- name: rc0\n  identifier: 1\n")
    data = api.build(text + "lenient: true\n").data
    decoded = api.decode(data)
    assert any("identifier 1 is also" in w.message for w in decoded.warnings)
    desc = api.describe(decoded)
    assert desc["lenient"] is True
    assert api.build(desc).data == data


# --- decoded tables: references, layout quirks --------------------------------

def test_reference_into_the_middle_of_a_node_is_kept_raw_with_a_warning():
    data = bytearray(SPEC_VECTOR)
    data[0x98:0x9C] = struct.pack("<I", 0x34)  # SMMU mapping -> inside the ITS node
    decoded = api.decode(bytes(data))
    assert any("mappings.0.output_reference 0x34 points at no node start" in w.message
               for w in decoded.warnings)
    assert decoded.table.nodes[1].fields["mappings"][0]["output_reference"] == Ref(offset=0x34)
    rebuilt = api.build(api.describe(decoded)).data
    assert rebuilt[:9] + rebuilt[10:] == bytes(data[:9] + data[10:])


def test_libvirt_empty_table_is_read_as_linux_does(corpus_dir):
    path = corpus_dir / "libvirt" / "IORT_empty.bin"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    data = path.read_bytes()
    decoded = api.decode(data)
    assert decoded.size == 64 and decoded.table.nodes == []  # Length wins; 0 nodes
    assert "1 bytes after the table's Length (64) are ignored" in messages(decoded.warnings)
    rebuilt = api.build(api.describe(decoded)).data
    assert rebuilt[:9] + rebuilt[10:] == data[:9] + data[10:64]  # the checksum was wrong


def test_broken_table_fails_with_a_clear_error(corpus_dir):
    path = corpus_dir / "hw" / "broken" / "microsoft-surface-pro-12-in__IORT.bin"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with pytest.raises(TableError, match="truncated"):
        api.decode(path.read_bytes())


def test_validate_works_on_tables_and_descriptions(tmp_path):
    assert api.validate_table(SPEC_VECTOR) == []
    desc = tmp_path / "iort.yaml"
    desc.write_text(SPEC_DESCRIPTION)
    assert api.validate_description(desc) == []


def test_keys_of_another_node_type_are_reported_once_precisely():
    """An SMMU field on a named component and an unknown key: one message
    each, at the key, naming the node type (not every IORT key there is)."""
    text = ("table: IORT\nrevision: 5\nnodes:\n- name: its0\n  type: its_group\n"
            "  identifiers: [0]\n- name: nc0\n  type: named_component\n  bogus_key: 1\n"
            "  device_name: \\_SB_.DEV0\n  base_address: 0x1000\n")
    with pytest.raises(DescriptionError) as info:
        api.build(text, "nc.yaml")
    assert [str(e) for e in info.value.problems] == [
        "nc.yaml:9:3: nodes[1].bogus_key: 'bogus_key' is not a field of a revision-4 "
        "Named Component node",
        "nc.yaml:11:3: nodes[1].base_address: 'base_address' is not a field of a revision-4 "
        "Named Component node",
    ]


def test_single_mapping_on_an_iwb_is_valid_but_on_an_rmr_is_odd():
    """Linux 7.0 honours an IWB's single mapping (issue 9): no finding;
    on an RMR it is still a warning."""
    iwb = ("table: IORT\nrevision: 7\nnodes:\n  - {name: its, type: its_group, identifiers: [0]}\n"
           "  - {name: iwb, type: iwb, device_name: \\_SB_.IWB0,\n"
           "     mappings: [{single: true, output: its, output_base: 0x40}]}\n")
    assert [w.code for w in api.build(iwb).warnings] == []
    rmr = ("table: IORT\nrevision: 5\nnodes:\n  - {name: its, type: its_group, identifiers: [0]}\n"
           "  - {name: s, type: smmu_v3, event_gsiv: 1, pri_gsiv: 2, gerr_gsiv: 3, sync_gsiv: 4,\n"
           "     mappings: [{input: 0, count: 16, output: its}]}\n"
           "  - {name: r, type: rmr, rmr_descriptors: [{base_address: 0x10000, length: 0x10000}],\n"
           "     mappings: [{single: true, output: s, output_base: 1}]}\n")
    assert [w.code for w in api.build(rmr).warnings] == ["IORT-MAP-SINGLE-ODD"]


# --- nodes whose arrays overrun their Length (issue 10 item 3) ----------------

from pathlib import Path as _Path  # noqa: E402

from acpitables.engine.table import decode_table, encode_table  # noqa: E402

_SHARED = _Path(__file__).resolve().parents[2] / "shared" / "corpus"
FWTS_BROKEN = _SHARED / "fwts" / "iort-0001__acpidump-0002__IORT.bin"


def test_node_with_arrays_past_its_length_keeps_its_bytes_and_gets_its_fixed_part_checked():
    if not FWTS_BROKEN.is_file():
        pytest.skip("fwts corpus not found")
    data = FWTS_BROKEN.read_bytes()
    dec = decode_table(data, iort.SPEC)
    # The ITS group at 0x30: Length 0x20, 4 identifiers at node offset 0x14
    # (read from the bytes: type 0, Length u16 at +1, its_count u32 at +16).
    assert data[0x30] == 0 and struct.unpack_from("<H", data, 0x31)[0] == 0x20
    assert struct.unpack_from("<I", data, 0x30 + 16)[0] == 4
    node = next(n for n in dec.table.nodes if n.offset == 0x30)
    assert node.raw and node.fields == {"data": data[0x30:0x50]}
    overruns = [w for w in dec.warnings if w.code == "TABLE-NODE-ARRAY-OVERRUN"
                and w.offset == 0x30]
    assert overruns and all(w.severity == "error" for w in overruns)
    built = encode_table(dec.table, iort.SPEC)  # still lossless, but for the checksum
    assert built[:9] + built[10:] == data[:9] + data[10:dec.size]
    codes = {(f.offset, f.code) for f in iort.check(dec.table)}
    assert {(0x30, "IORT-NODE-REV"), (0x30, "IORT-ITS-MAPPINGS")} <= codes
    assert (0x50, "IORT-MEM-ATTR") in codes and (0x50, "IORT-CCA") in codes


QEMU_IORT = _SHARED / "qemu" / "aarch64-virt__IORT"


@pytest.mark.parametrize("cca, flags, contradicts", [
    (1, 0b00, True),   # CCA 1 with CPM 0
    (0, 0b11, True),   # CCA 0 with CPM and DACS 1
    (1, 0b01, False), (0, 0b01, False), (0, 0b00, False), (1, 0b11, False)])
def test_contradictory_memory_properties_are_a_warning(cca, flags, contradicts):
    if not QEMU_IORT.is_file():
        pytest.skip("QEMU corpus not found")
    table = decode_table(QEMU_IORT.read_bytes(), iort.SPEC).table
    rc = next(n for n in table.nodes if n.type == 2)
    rc.fields["memory_properties"].update(cache_coherency=cca, memory_flags=flags)
    found = [f for f in iort.check(table) if f.code == "IORT-MEM-ATTR"]
    assert bool(found) == contradicts
    assert all(f.severity == "warning" and f.field == "memory_properties" for f in found)
