"""The RIMT golden tables, packed by hand from the spec's layout
(RIMT v1.0; docs/rimt.md section 1) with struct and nothing else.

This is the oracle for golden/rimt/*/expected.aml: it imports nothing
from acpitables, lays every node out itself and checks the node offsets
written by hand below (dest_offset values are typed, not computed, so a
layout mistake here shows up as an assertion, not as agreeing bytes).
The two QEMU cases are not packed at all: they are the hex typed from
QEMU 10.1's build_rimt as docs/rimt.md section 4 lists it.

    python3 tests/rimt_oracle.py          check every expected.aml
    python3 tests/rimt_oracle.py --write  (re)write them
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rimt"

# node types (spec table "RIMT node types")
IOMMU, ROOT_COMPLEX, PLATFORM_DEVICE = 0, 1, 2


def sdt(body: bytes, *, revision=1, oem_id=b"BOCHS ", oem_table_id=b"BXPC    ",
        oem_revision=1, creator_id=b"BXPC", creator_revision=1) -> bytes:
    """A 36-byte SDT header in front of body, Length and checksum set."""
    length = 36 + len(body)
    head = bytearray(b"RIMT" + struct.pack("<IBB", length, revision, 0) + oem_id + oem_table_id
                     + struct.pack("<I", oem_revision) + creator_id
                     + struct.pack("<I", creator_revision))
    assert len(head) == 36
    data = bytearray(head + body)
    data[9] = -sum(data) & 0xFF
    return bytes(data)


def table(nodes: list[bytes], offsets: list[int], node_offset: int = 48, **header) -> bytes:
    """Header + NumNodes/NodeOffset/Reserved + nodes back to back; `offsets`
    are the node offsets the case's author worked out by hand."""
    at, placed = node_offset, []
    for n in nodes:
        placed.append(at)
        at += len(n)
    assert placed == offsets, f"hand-written offsets {offsets} but nodes land at {placed}"
    body = struct.pack("<III", len(nodes), node_offset, 0) + bytes(node_offset - 48) + b"".join(nodes)
    return sdt(body, **header)


def node_header(ntype: int, length: int, ident: int, revision: int = 1) -> bytes:
    # type(1) revision(1) length(2) reserved(2) id(2) -- not IORT's order
    return struct.pack("<BBHHH", ntype, revision, length, 0, ident)


def wire(irq: int, flags: int) -> bytes:
    return struct.pack("<II", irq, flags)


def iommu(ident: int, hid: bytes, base: int = 0, flags: int = 0, pxm: int = 0, segment: int = 0,
          bdf: int = 0, wires: list[bytes] = ()) -> bytes:
    assert len(hid) == 8
    length = 40 + 8 * len(wires)
    body = hid + struct.pack("<QIIHHHH", base, flags, pxm, segment, bdf, len(wires), 40)
    out = node_header(IOMMU, length, ident) + body + b"".join(wires)
    assert len(out) == length
    return out


def mapping(source: int, num_ids: int, dest: int, dest_offset: int, flags: int = 0) -> bytes:
    return struct.pack("<IIIII", source, num_ids, dest, dest_offset, flags)


def root_complex(ident: int, segment: int, maps: list[bytes], flags: int = 0) -> bytes:
    length = 20 + 20 * len(maps)
    body = struct.pack("<IHHHH", flags, 0, segment, 20 if maps else 0, len(maps))
    out = node_header(ROOT_COMPLEX, length, ident) + body + b"".join(maps)
    assert len(out) == length
    return out


def platform_device(ident: int, name: bytes, maps: list[bytes]) -> bytes:
    named = 12 + len(name) + 1
    array = (named + 3) // 4 * 4            # the mapping array starts 4-byte aligned
    length = array + 20 * len(maps)
    body = struct.pack("<HH", array, len(maps)) + name + b"\0" + bytes(array - named)
    out = node_header(PLATFORM_DEVICE, length, ident) + body + b"".join(maps)
    assert len(out) == length
    return out


# flag bits (spec: IOMMU node Flags, root complex Flags, ID mapping Flags,
# interrupt wire Flags)
PCIE, PXM_VALID = 1, 2
ATS_SUPPORTED, PRI_SUPPORTED = 1, 2
ATS_REQUIRED, PRI_REQUIRED = 1, 2
LEVEL, ACTIVE_HIGH = 1, 2


# --- the cases --------------------------------------------------------------

def qemu_virt_pci_iommu() -> bytes:
    # docs/rimt.md section 4, "riscv-iommu-pci at 00:01.0", row by row
    data = bytes.fromhex(
        "52494d54 80000000 01 00 424f43485320 4258504320202020 01000000 42585043 01000000"
        "02000000 30000000 00000000"
        "00012800 00000000" "3030313030303134" "0000000000000000"
        "01000000 00000000" "0000 0800 0000 2800"
        "01012800 00000100" "00000000 0000 0000 1400 0100"
        "09000000 f7ff0000 09000000 30000000 00000000")
    out = bytearray(data)
    out[9] = -sum(out) & 0xFF
    return bytes(out)


def qemu_virt_iommu_sys() -> bytes:
    # docs/rimt.md section 4, "Platform IOMMU": RSCV0004 at 0x03010000
    data = bytes.fromhex(
        "52494d54 80000000 01 00 424f43485320 4258504320202020 01000000 42585043 01000000"
        "02000000 30000000 00000000"
        "00012800 00000000" "5253435630303034" "0000010300000000"
        "00000000 00000000" "0000 0000 0000 2800"
        "01012800 00000100" "00000000 0000 0000 1400 0100"
        "00000000 ffff0000 00000000 30000000 00000000")
    out = bytearray(data)
    out[9] = -sum(out) & 0xFF
    return bytes(out)


def pcie_iommu_ats_pri() -> bytes:
    # IOMMU at 48 (40 bytes), RC at 88: 20 + 3 * 20 = 80 bytes; total 168
    nodes = [
        iommu(0, b"1B360014", flags=PCIE | PXM_VALID, pxm=1, segment=0, bdf=0x0008),
        root_complex(1, 0, [
            mapping(0x0009, 0xF7, 0x0009, 48),
            mapping(0x0200, 0x100, 0x1200, 48, ATS_REQUIRED | PRI_REQUIRED),
            mapping(0x1000, 0x1000, 0x1000, 48),
        ], flags=ATS_SUPPORTED | PRI_SUPPORTED),
    ]
    return table(nodes, [48, 88], oem_id=b"ACME  ", oem_table_id=b"RVSERVER")


def platform_iommu_wires() -> bytes:
    # wired platform IOMMU at 48: 40 + 4 * 8 = 72 bytes; RC at 120
    nodes = [
        iommu(0, b"RSCV0004", base=0x03010000, wires=[
            wire(36, LEVEL | ACTIVE_HIGH), wire(37, ACTIVE_HIGH), wire(38, LEVEL), wire(39, 0)]),
        root_complex(1, 0, [mapping(0x0000, 0x10000, 0x0000, 48)]),
    ]
    return table(nodes, [48, 120])


def two_segments() -> bytes:
    # iommu0 48, iommu1 88, rc0 128 (20 + 20 = 40), rc1 168 (20 + 2*20 = 60); total 228
    nodes = [
        iommu(0, b"1B360014", flags=PCIE | PXM_VALID, pxm=0, segment=0, bdf=0x0008),
        iommu(1, b"1B360014", flags=PCIE | PXM_VALID, pxm=1, segment=1, bdf=0x0008),
        root_complex(2, 0, [mapping(0x0009, 0xFFF7, 0x0009, 48)], flags=ATS_SUPPORTED),
        root_complex(3, 1, [mapping(0x0009, 0xF7, 0x10009, 88),
                            mapping(0x1000, 0x1000, 0x11000, 88)]),
    ]
    return table(nodes, [48, 88, 128, 168], oem_id=b"ACME  ", oem_table_id=b"RV2SEG  ")


def platform_devices() -> bytes:
    # platform IOMMU 48; platform device at 88: "\_SB_.DEV0" is 10 characters,
    # 12 + 11 = 23, so one byte of padding and the mappings at 24: 24 + 2*20 = 64
    nodes = [
        iommu(0, b"RSCV0004", base=0x10001000),
        platform_device(1, b"\\_SB_.DEV0", [mapping(0, 1, 0x20, 48), mapping(1, 2, 0x30, 48)]),
    ]
    return table(nodes, [48, 88])


def all_node_types() -> bytes:
    # pci iommu 48 (40); platform iommu 88 (40 + 2*8 = 56); rc0 144 (20 + 2*20 = 60);
    # rc1 204 (20 + 20 = 40); uart 244: "\_SB_.UAR0" -> 24 + 20 = 44;
    # sdhc 288: "\_SB_.PCI0.SDC0" is 15 chars, 12 + 16 = 28, no padding -> 28 + 2*20 = 68;
    # total 356
    nodes = [
        iommu(0, b"1B360014", flags=PCIE, segment=0, bdf=0x0018),
        iommu(1, b"RSCV0004", base=0x03010000, flags=PXM_VALID, pxm=2,
              wires=[wire(40, LEVEL | ACTIVE_HIGH), wire(41, LEVEL | ACTIVE_HIGH)]),
        root_complex(2, 0, [mapping(0x0000, 0x10, 0x0000, 48),
                            mapping(0x0100, 0x200, 0x8100, 48, ATS_REQUIRED)],
                     flags=ATS_SUPPORTED),
        root_complex(3, 1, [mapping(0x0000, 0x100, 0x20000, 88)], flags=PRI_SUPPORTED),
        platform_device(4, b"\\_SB_.UAR0", [mapping(0, 1, 0x40, 88)]),
        platform_device(5, b"\\_SB_.PCI0.SDC0", [mapping(0, 1, 0x41, 88),
                                                  mapping(1, 1, 0x42, 88, PRI_REQUIRED)]),
    ]
    return table(nodes, [48, 88, 144, 204, 244, 288], oem_id=b"ACME  ", oem_table_id=b"RVALL   ",
                 oem_revision=2)


CASES = {
    "qemu-virt-pci-iommu": qemu_virt_pci_iommu,
    "qemu-virt-iommu-sys": qemu_virt_iommu_sys,
    "pcie-iommu-ats-pri": pcie_iommu_ats_pri,
    "platform-iommu-wires": platform_iommu_wires,
    "two-segments": two_segments,
    "platform-devices": platform_devices,
    "all-node-types": all_node_types,
}


def main(argv: list[str]) -> int:
    write = "--write" in argv
    bad = 0
    for name, make in CASES.items():
        target = GOLDEN / name / "expected.aml"
        data = make()
        if write:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        elif not target.is_file() or target.read_bytes() != data:
            print(f"{name}: expected.aml differs from the oracle")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
