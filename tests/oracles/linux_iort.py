"""drivers/acpi/arm64/iort.c over raw IORT bytes (Linux 7.0).

Outcomes: ("T", node offset, id) when the walk reaches a wanted node, or
("F", why): Linux only knows "no node"; `why` names the way the walk
failed so a test can tell the failures apart:
    no-match          the start node maps nothing for the ID
    not-behind-iommu  the walk reached a node with no mappings (an ITS group
                      on the IOMMU path, an SMMU without an ITS mapping ...)
    malformed         a node's first mapping has a NULL output reference
    dangling-reference  a matched mapping points at no node (offset 0 or
                      not a node's start: Linux would walk garbage)
    loop              more hops than nodes (Linux has no limit: it hangs)
    no-description    no start node for the device
"""
from __future__ import annotations

import struct

ITS_GROUP, NAMED_COMPONENT, ROOT_COMPLEX, SMMU, SMMU_V3, PMCG, RMR, IWB = range(8)
IOMMU_MASK = (1 << SMMU) | (1 << SMMU_V3)
MSI_MASK = 1 << ITS_GROUP
SINGLE = 1
U32 = 0xFFFFFFFF


class Node:
    def __init__(self, data: bytes, off: int):
        self.off = off
        (self.type, self.length, self.revision, self.identifier, self.mapping_count,
         self.mapping_offset) = struct.unpack_from("<BHBIII", data, off)
        self.data = data

    def u32(self, at: int) -> int:
        return struct.unpack_from("<I", self.data, self.off + at)[0]

    def mapping(self, i: int) -> tuple[int, int, int, int, int]:
        """(input_base, id_count, output_base, output_reference, flags)"""
        return struct.unpack_from("<IIIII", self.data, self.off + self.mapping_offset + 20 * i)

    def name_at(self, at: int) -> bytes:
        raw = self.data[self.off + at:self.off + self.length]
        return raw.split(b"\0", 1)[0]


class Iort:
    def __init__(self, data: bytes):
        assert data[:4] == b"IORT"
        self.data = data
        count, first = struct.unpack_from("<II", data, 36)
        self.nodes: list[Node] = []
        off = first
        for _ in range(count):
            n = Node(data, off)
            self.nodes.append(n)
            off += n.length
        self.by_offset = {n.off: n for n in self.nodes}

    # iort_get_id_mapping_index()
    def id_mapping_index(self, node: Node) -> int | None:
        if node.type == SMMU_V3:
            if node.revision < 1:
                return None
            flags = node.u32(24)
            ev, pri, gerr, sync = (node.u32(44), node.u32(48), node.u32(52), node.u32(56))
            if node.revision < 5:
                if ev and pri and gerr and sync:
                    return None
            elif not flags & (1 << 4):
                return None
            index = node.u32(64)
            if index >= node.mapping_count:
                return None
            return index
        if node.type == PMCG:
            if node.u32(24) or node.mapping_count == 0:
                return None
            return 0
        return None

    # iort_id_map(): 0 match, "again" tentative, None no match
    @staticmethod
    def id_map(m, node_type: int, rid: int, check_overlap: bool):
        base, count, out, _ref, flags = m
        if flags & SINGLE:
            if node_type in (NAMED_COMPONENT, IWB, ROOT_COMPLEX):
                return "match", out
            return None, rid
        if rid < base or rid > ((base + count) & U32):
            return None, rid
        if check_overlap and rid != base:
            return None, rid
        ident = (out + rid - base) & U32
        if count > 0 and rid == ((base + count) & U32):
            return "again", ident
        return "match", ident

    # iort_node_map_id()
    def node_map_id(self, node: Node, ident: int, mask: int, hops: int = 0):
        while True:
            if (1 << node.type) & mask:
                return ("T", node.off, ident)
            if hops >= len(self.nodes):
                return ("F", "loop")
            if not node.mapping_offset or not node.mapping_count:
                return ("F", "no-match" if hops == 0 else "not-behind-iommu")
            if node.mapping(0)[3] == 0:
                return ("F", "malformed")
            index = self.id_mapping_index(node)
            out_ref = 0
            rid_in = ident
            matched = None
            for i in range(node.mapping_count):
                if i == index:
                    continue
                m = node.mapping(i)
                rc, ident_i = self.id_map(m, node.type, rid_in, out_ref != 0)
                if rc is not None:
                    ident = ident_i
                if rc == "match":
                    matched = m[3]
                    break
                if rc == "again":
                    out_ref = m[3]
            if matched is None:
                if not out_ref:
                    return ("F", "no-match")
                matched = out_ref
            nxt = self.by_offset.get(matched)
            if nxt is None:
                return ("F", "dangling-reference")
            node, hops = nxt, hops + 1

    def root_complex(self, segment: int) -> Node | None:
        for n in self.nodes:
            if n.type == ROOT_COMPLEX and n.u32(28) == segment:
                return n
        return None

    def pci(self, segment: int, rid: int, msi: bool = False):
        rc = self.root_complex(segment)
        if rc is None:
            return ("F", "no-description")
        return self.node_map_id(rc, rid, MSI_MASK if msi else IOMMU_MASK)

    def segments(self) -> list[int]:
        return sorted({n.u32(28) for n in self.nodes if n.type == ROOT_COMPLEX}) or [0]

    # platform devices: iort_find_dev_node() -- NC, then IWB (MSI side)
    def named(self, path: bytes, msi: bool) -> Node | None:
        for n in self.nodes:
            if n.type == NAMED_COMPONENT and n.name_at(29) == path:
                return n
        if msi:
            for n in self.nodes:
                if n.type == IWB and n.name_at(26) == path:
                    return n
        return None

    # iort_node_get_id() + iort_node_map_platform_id()
    def platform_id(self, node: Node, index: int, mask: int):
        if not node.mapping_offset or not node.mapping_count or index >= node.mapping_count:
            return ("F", "no-match")
        base, count, out, ref, flags = node.mapping(index)
        if not ref:
            return ("F", "no-match")
        if not (flags & SINGLE and node.type in (NAMED_COMPONENT, IWB, ROOT_COMPLEX, SMMU_V3,
                                                 PMCG)):
            return ("F", "no-match")
        parent = self.by_offset.get(ref)
        if parent is None:
            return ("F", "dangling-reference")
        if (1 << parent.type) & mask:
            return ("T", parent.off, out)
        return self.node_map_id(parent, out, mask, hops=1)

    def platform_iommu(self, path: bytes):
        """iort_iommu_configure_id() without an ID: indices 0, 1, ... while
        each reaches an SMMU: ("T", smmu, [ids]) or the first failure."""
        node = self.named(path, False)
        if node is None:
            return ("F", "no-description")
        ids, smmu, i = [], None, 0
        while True:
            r = self.platform_id(node, i, IOMMU_MASK)
            if r[0] != "T":
                break
            if smmu is not None and r[1] != smmu:
                return ("F", "mixed-iommus")   # iommu_fwspec_init(): another IOMMU
            smmu = r[1]
            ids.append(r[2])
            i += 1
        if not ids:
            return r
        return ("T", smmu, ids)

    def platform_msi(self, path: bytes):
        """iort_pmsi_get_dev_id(): the first index that reaches an ITS."""
        node = self.named(path, True)
        if node is None:
            return ("F", "no-description")
        first = None
        for i in range(node.mapping_count):
            r = self.platform_id(node, i, MSI_MASK)
            if r[0] == "T":
                return r
            first = first or r
        return first or ("F", "no-match")
