"""A small IORT writer for differential tests: raw bytes from a list of
nodes, written with the struct module after DEN 0049 (not with
acpitables, so the mapper decodes what the oracle reads)."""
from __future__ import annotations

import struct

ITS_GROUP, NAMED_COMPONENT, ROOT_COMPLEX, SMMU, SMMU_V3, PMCG, RMR, IWB = range(8)


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def node_body(kind: str, **f) -> tuple[int, int, bytes]:
    """(type, revision, node data after the 16-byte header)"""
    if kind == "its":
        ids = f.get("ids", [0])
        return ITS_GROUP, 1, struct.pack(f"<I{len(ids)}I", len(ids), *ids)
    if kind == "rc":
        return ROOT_COMPLEX, 1, struct.pack("<IBHBIIB3x", 1, 0, 0, 1, 0, f.get("segment", 0), 64)
    if kind == "nc":
        return NAMED_COMPONENT, 2, _pad4(struct.pack("<IIBHBB", 0, 1, 0, 0, 1, 64)
                                         + f["path"] + b"\0")
    if kind == "iwb":
        return IWB, 1, _pad4(struct.pack("<QH", 0x2F000000, f.get("index", 0)) + f["path"] + b"\0")
    if kind == "smmu3":
        g = f.get("gsivs", (0x90, 0x91, 0x92, 0x93))
        return SMMU_V3, f.get("rev", 4), struct.pack(
            "<QIIQI4III", 0x9050000, f.get("flags", 1), 0, 0, 0, *g, 0, f.get("index", 0))
    if kind == "pmcg":
        return PMCG, 1, struct.pack("<QIIQ", 0x9060000, f.get("gsiv", 0), f["ref"], 0)
    raise ValueError(kind)


def iort(nodes: list[tuple[str, dict, list[tuple]]], revision: int = 7) -> bytes:
    """nodes: (kind, fields, mappings) with mappings (input_base, id_count,
    output_base, target node index or raw offset as ("off", n), flags).
    Returns the table bytes; node i lies at offsets()[i]."""
    bodies = [node_body(k, **f) for k, f, _ in nodes]
    pos, offsets = 48, []
    for (_, _, body), (_, _, maps) in zip(bodies, nodes):
        offsets.append(pos)
        pos += 16 + len(body) + 20 * len(maps)
    out = bytearray()
    for ident, ((code, rev, body), (kind, f, maps)) in enumerate(zip(bodies, nodes)):
        if kind == "pmcg":
            body = node_body(kind, **dict(f, ref=offsets[f["ref"]]))[2]
        rows = b""
        for base, count, outb, target, flags in maps:
            ref = target[1] if isinstance(target, tuple) else offsets[target]
            rows += struct.pack("<IIIII", base, count, outb, ref, flags)
        moff = 16 + len(body) if maps else 0
        out += struct.pack("<BHBIII", code, 16 + len(body) + len(rows), rev, ident, len(maps),
                           moff)
        out += body + rows
    length = 48 + len(out)
    hdr = bytearray(b"IORT" + struct.pack("<IBB", length, revision, 0) + b"ACPITB" + b"TESTTBL "
                    + struct.pack("<I", 1) + b"TEST" + struct.pack("<I", 1)
                    + struct.pack("<III", len(nodes), 48, 0))
    data = hdr + out
    data[9] = (-sum(data)) & 0xFF
    return bytes(data)


def _sdt(signature: bytes, body: bytes, revision: int = 0) -> bytes:
    length = 36 + len(body)
    data = bytearray(signature + struct.pack("<IBB", length, revision, 0) + b"ACPITB"
                     + b"TESTTBL " + struct.pack("<I", 1) + b"TEST" + struct.pack("<I", 1) + body)
    data[9] = (-sum(data)) & 0xFF
    return bytes(data)


def viot(nodes: list[tuple]) -> tuple[bytes, list[int]]:
    """VIOT bytes from ("pci_iommu", segment, bdf) / ("mmio_iommu", base) /
    ("range", endpoint, seg0, seg1, bdf0, bdf1, target index) /
    ("mmio", endpoint, base, target index) rows; node offsets too."""
    size = {"pci_iommu": 16, "mmio_iommu": 16, "range": 24, "mmio": 24}
    offsets, pos = [], 48
    for n in nodes:
        offsets.append(pos)
        pos += size[n[0]]
    out = b""
    for n in nodes:
        if n[0] == "pci_iommu":
            out += struct.pack("<BxHHH8x", 3, 16, n[1], n[2])
        elif n[0] == "mmio_iommu":
            out += struct.pack("<BxH4xQ", 4, 16, n[1])
        elif n[0] == "range":
            out += struct.pack("<BxHIHHHHH6x", 1, 24, n[1], n[2], n[3], n[4], n[5], offsets[n[6]])
        else:
            out += struct.pack("<BxHIQH6x", 2, 24, n[1], n[2], offsets[n[3]])
    return _sdt(b"VIOT", struct.pack("<HH8x", len(nodes), 48) + out), offsets
