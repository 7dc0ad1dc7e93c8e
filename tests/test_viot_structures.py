"""Per-structure tests: every fixed size pinned to the spec (docs/spec.md
sections 1 and 2), and each node declaration taken bytes -> object ->
bytes against byte strings written by hand from the spec's layout tables."""
from __future__ import annotations

import pytest

from acpitables import api
from acpitables.engine.table import SDT_HEADER, SDT_HEADER_SIZE, Node, Ref
from acpitables.tables.viot import (MMIO, NODE_TYPES, PCI_RANGE, SPEC, VIOT_HEADER, VIOT_NODE_HEADER,
                             VIRTIO_IOMMU_MMIO, VIRTIO_IOMMU_PCI)


def test_sdt_header_is_36_bytes():
    assert SDT_HEADER_SIZE == 36 == SDT_HEADER.sizeof()


def test_viot_header_is_48_bytes():
    assert SPEC.header_size == 48
    assert VIOT_HEADER.sizeof() == 12


def test_node_header_is_4_bytes():
    assert VIOT_NODE_HEADER.sizeof() == 4 == SPEC.node_header_size


@pytest.mark.parametrize("code, size", [(PCI_RANGE, 24), (MMIO, 24), (VIRTIO_IOMMU_PCI, 16),
                                        (VIRTIO_IOMMU_MMIO, 16)])
def test_fixed_node_sizes(code, size):
    assert NODE_TYPES[code].fixed_size == size
    assert NODE_TYPES[code].min_length(SPEC, None) == size


def test_type_codes():
    assert (PCI_RANGE, MMIO, VIRTIO_IOMMU_PCI, VIRTIO_IOMMU_MMIO) == (1, 2, 3, 4)
    assert set(NODE_TYPES) == {1, 2, 3, 4}


# Hand-written from spec 2.4: (type, bytes, fields after parse).
NODES = {
    "pci_range": (PCI_RANGE, bytes.fromhex(
        "01 00 18 00"      # Type 1, Reserved, Length 24
        "78 56 34 12"      # EndpointStart 0x12345678
        "01 00 02 00"      # SegmentStart 1, SegmentEnd 2
        "08 00 ff 7f"      # BdfStart 0x0008, BdfEnd 0x7fff
        "30 00"            # OutputNode 0x30
        "00 00 00 00 00 00"),
        {"endpoint_start": 0x12345678, "segment_start": 1, "segment_end": 2, "bdf_start": 8,
         "bdf_end": 0x7FFF, "output_node": 0x30}),
    "mmio": (MMIO, bytes.fromhex(
        "02 00 18 00"
        "02 00 00 00"                  # Endpoint 2
        "00 02 00 0a 01 00 00 00"      # BaseAddress 0x1_0a00_0200
        "40 00"                        # OutputNode 0x40
        "00 00 00 00 00 00"),
        {"endpoint": 2, "base_address": 0x10A000200, "output_node": 0x40}),
    "virtio_iommu_pci": (VIRTIO_IOMMU_PCI, bytes.fromhex(
        "03 00 10 00"
        "05 00"            # Segment 5
        "10 00"            # Bdf 00:02.0
        "00 00 00 00 00 00 00 00"),
        {"segment": 5, "bdf": 0x10}),
    "virtio_iommu_mmio": (VIRTIO_IOMMU_MMIO, bytes.fromhex(
        "04 00 10 00"
        "00 00 00 00"
        "00 00 00 1d 00 00 00 00"),   # BaseAddress 0x1d000000
        {"base_address": 0x1D000000}),
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_node_bytes_object_bytes(name):
    code, blob, fields = NODES[name]
    ntype = NODE_TYPES[code]
    assert ntype.kind == name
    parsed = ntype.parse(blob, SPEC, {})
    for key, value in fields.items():
        assert parsed[key] == value, key
    assert parsed["header"]["type"] == code
    assert parsed["header"]["length"] == len(blob)
    assert parsed["extra"] == b""
    # Build from the spec values alone: Length, type and reserved are filled in.
    assert ntype.build(Node(code, dict(fields)), lambda ref: ref, SPEC) == blob
    assert ntype.struct.build(parsed) == blob


@pytest.mark.parametrize("name", sorted(NODES))
def test_length_is_rebuilt(name):
    code, blob, fields = NODES[name]
    ntype = NODE_TYPES[code]
    stale = dict(ntype.parse(blob, SPEC, {}))
    stale["header"] = dict(stale["header"], length=999, type=0)
    assert ntype.build(Node(code, stale), lambda r: r, SPEC) == blob  # Type and Length written
    longer = ntype.build(Node(code, dict(fields, extra=b"\xAA" * 8)), lambda r: r, SPEC)
    assert longer[2:4] == (len(blob) + 8).to_bytes(2, "little")
    assert longer == blob[:2] + (len(blob) + 8).to_bytes(2, "little") + blob[4:] + b"\xAA" * 8
    override = Node(code, dict(fields), length_override=0x40)
    assert ntype.build(override, lambda r: r, SPEC)[2:4] == b"\x40\x00"


def test_references_resolve_to_offsets():
    code, blob, fields = NODES["pci_range"]
    node = Node(code, dict(fields, output_node=Ref(name="viommu")))
    assert NODE_TYPES[code].build(node, lambda ref: 0x30, SPEC) == blob


def test_viot_header_bytes():
    blob = bytes.fromhex("0300 3000 0000000000000000")  # NodeCount 3, NodeOffset 0x30
    parsed = VIOT_HEADER.parse(blob)
    assert (parsed.node_count, parsed.node_offset, parsed.reserved) == (3, 0x30, bytes(8))
    assert VIOT_HEADER.build({"node_count": 3, "node_offset": 0x30}) == blob


SPEC_5_2_VECTOR = bytes.fromhex("""
56 49 4f 54 58 00 00 00 00 04 42 4f 43 48 53 20
42 58 50 43 20 20 20 20 01 00 00 00 49 4e 54 4c
08 04 26 20 02 00 30 00 00 00 00 00 00 00 00 00
03 00 10 00 00 00 10 00 00 00 00 00 00 00 00 00
01 00 18 00 00 00 00 00 00 00 00 00 00 00 ff ff
30 00 00 00 00 00 00 00
""")  # typed in from docs/spec.md 5.2 (iasl 20260408's output)


def test_spec_5_2_golden_vector():
    description = """\
table: VIOT
oem_id: BOCHS
oem_table_id: BXPC
oem_revision: 1
creator_id: INTL
creator_revision: 0x20260408
iommus:
  - name: viommu
    pci: "00:02.0"
endpoints:
  - first: "00:00.0"
    last: "ff:1f.7"
    iommu: viommu
"""
    assert len(SPEC_5_2_VECTOR) == 88
    assert api.build(description).data == SPEC_5_2_VECTOR


def test_spec_5_2_vector_decodes_to_its_fields():
    decoded = api.decode(SPEC_5_2_VECTOR)
    iommu, rng = decoded.table.nodes
    assert (iommu.type, iommu.offset, iommu.fields["bdf"]) == (3, 0x30, 0x10)
    assert (rng.type, rng.offset, rng.fields["bdf_end"]) == (1, 0x40, 0xFFFF)
    assert rng.fields["output_node"] == Ref(name=iommu.name)
    # The range covers its own IOMMU (00:02.0): the one finding.
    assert [w.message for w in decoded.warnings] == [
        "range contains its own IOMMU 0000:00:02.0; Linux never translates the IOMMU itself"]
