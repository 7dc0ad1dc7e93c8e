"""drivers/acpi/viot.c over raw VIOT bytes.

acpi_viot_init() walks node_count nodes from node_offset; viot_parse_node()
stops the walk on a bad node (out of bounds, an endpoint node shorter than
its structure), skips unknown types, drops an endpoint whose output node is
no virtio-iommu node ("No IOMMU node found") and list_add()s the others at
the head of their list, so lookups see the LAST node first.

Outcomes: ("T", iommu node offset, endpoint id) or ("F", why) with why in
no-match (nothing covers the device: -ENODEV) and self (the device is the
IOMMU: -EINVAL).
"""
from __future__ import annotations

import struct

PCI_RANGE, MMIO, VIRTIO_IOMMU_PCI, VIRTIO_IOMMU_MMIO = 1, 2, 3, 4
ENDPOINT_SIZE = 24      # sizeof(struct acpi_viot_pci_range) == sizeof(acpi_viot_mmio)
IOMMU_PCI_SIZE, IOMMU_MMIO_SIZE = 16, 16


class Viot:
    def __init__(self, data: bytes):
        assert data[:4] == b"VIOT"
        self.data = data
        self.length = struct.unpack_from("<I", data, 4)[0]
        count, first = struct.unpack_from("<HH", data, 36)
        self.first = first
        self.pci_ranges: list[dict] = []     # head first: last parsed node first
        self.mmio: list[dict] = []
        off = first
        for _ in range(count):
            if not self.in_bounds(off):
                break                         # -EOVERFLOW / -EINVAL: parsing stops
            ntype, length = struct.unpack_from("<BxH", data, off)
            if ntype in (VIRTIO_IOMMU_PCI, VIRTIO_IOMMU_MMIO):
                off += length
                continue
            if ntype == PCI_RANGE:
                if length < ENDPOINT_SIZE:
                    break                     # "Invalid PCI node size": -EINVAL
                ep, s0, s1, b0, b1, out = struct.unpack_from("<IHHHHH", data, off + 4)
                iommu = self.iommu(out)
                if iommu is not None:
                    self.pci_ranges.insert(0, dict(endpoint=ep, seg0=s0, seg1=s1, bdf0=b0,
                                                   bdf1=b1, iommu=iommu))
            elif ntype == MMIO:
                if length < ENDPOINT_SIZE:
                    break
                ep, base, out = struct.unpack_from("<IQH", data, off + 4)
                iommu = self.iommu(out)
                if iommu is not None:
                    self.mmio.insert(0, dict(endpoint=ep, base=base, iommu=iommu))
            off += length                     # unknown types: warned, skipped

    def in_bounds(self, off: int) -> bool:
        """viot_check_bounds(): the node HEADER lies between the node area's
        start (max(48, node_offset)) and the table's end, and its Length
        covers at least the header."""
        if off < max(48, self.first) or off + 4 > self.length or off + 4 > len(self.data):
            return False
        return struct.unpack_from("<H", self.data, off + 2)[0] >= 4

    def iommu(self, off: int) -> dict | None:
        """viot_get_iommu(): a virtio-iommu node at that offset, or None."""
        if not self.in_bounds(off):
            return None
        ntype, length = struct.unpack_from("<BxH", self.data, off)
        if ntype == VIRTIO_IOMMU_PCI and length >= IOMMU_PCI_SIZE:
            seg, bdf = struct.unpack_from("<HH", self.data, off + 4)
            return dict(off=off, pci=(seg, bdf))
        if ntype == VIRTIO_IOMMU_MMIO and length >= IOMMU_MMIO_SIZE:
            return dict(off=off, base=struct.unpack_from("<Q", self.data, off + 8)[0])
        return None

    def pci(self, segment: int, bdf: int):
        """viot_pci_dev_iommu_init() for one DMA alias."""
        for ep in self.pci_ranges:
            if ep["seg0"] <= segment <= ep["seg1"] and ep["bdf0"] <= bdf <= ep["bdf1"]:
                epid = (((segment - ep["seg0"]) << 16) + bdf - ep["bdf0"]
                        + ep["endpoint"]) & 0xFFFFFFFF
                if ep["iommu"].get("pci") == (segment, bdf):
                    return ("F", "self")
                return ("T", ep["iommu"]["off"], epid)
        return ("F", "no-match")

    def mmio_device(self, base: int):
        """viot_mmio_dev_iommu_init(). The IOMMU's own device never reaches
        here matched to itself unless a node says so."""
        for ep in self.mmio:
            if ep["base"] == base:
                if ep["iommu"].get("base") == base:
                    return ("F", "self")
                return ("T", ep["iommu"]["off"], ep["endpoint"])
        return ("F", "no-match")
