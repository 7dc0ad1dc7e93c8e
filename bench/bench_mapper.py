"""Mapper speed: lookups per second and whole-space (--all) time against
table size. Reported, not asserted.

    python bench/bench_mapper.py [--sizes 10,100,1000,10000]
"""
from __future__ import annotations

import argparse
import random
import time

from acpitables.mapping import IortMapper, ViotMapper
from acpitables.engine.table import Node, Ref, Table

# IORT node type codes (ACPICA AcpiIortNodeType), as a table writes them
ITS_GROUP, ROOT_COMPLEX, SMMU_V3 = 0, 2, 4


def viot_table(n: int, rng: random.Random) -> Table:
    nodes = [Node(4, {"base_address": 0x1000}, "vi")]
    for i, start in enumerate(sorted(rng.sample(range(0x10000), n))):
        last = min(start + rng.randrange(1, 64), 0xFFFF)
        nodes.append(Node(1, {"endpoint_start": rng.randrange(1 << 20), "segment_start": 0,
                              "segment_end": 0, "bdf_start": start, "bdf_end": last,
                              "output_node": Ref("vi")}, f"r{i}"))
    return Table("VIOT", {"revision": 0}, nodes=nodes)


def iort_table(n: int, rng: random.Random) -> Table:
    maps = []
    for start in sorted(rng.sample(range(0x10000), n)):
        maps.append({"input_base": start, "id_count": rng.randrange(0, 64), "output_base": start,
                     "output_reference": Ref(rng.choice(["smmu", "its"])), "flags": 0})
    smmu = Node(SMMU_V3, {"revision": 4, "flags": 0, "id_mapping_index": 0, "event_gsiv": 1,
                          "pri_gsiv": 1, "gerr_gsiv": 1, "sync_gsiv": 1,
                          "mappings": [{"input_base": 0, "id_count": 0xFFFF, "output_base": 0,
                                        "output_reference": Ref("its"), "flags": 0}]}, "smmu")
    return Table("IORT", {"revision": 3}, nodes=[
        Node(ITS_GROUP, {"revision": 1, "identifiers": [0], "mappings": []}, "its"), smmu,
        Node(ROOT_COMPLEX, {"revision": 3, "pci_segment_number": 0, "mappings": maps}, "rc")])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--lookups", type=int, default=200_000)
    args = ap.parse_args()
    rng = random.Random(1)
    print(f"{'table':<6}{'ranges':>8}{'compile+--all ms':>18}{'spans':>8}{'lookups/s':>12}")
    for kind, make, cls in (("VIOT", viot_table, ViotMapper), ("IORT", iort_table, IortMapper)):
        for n in (int(s) for s in args.sizes.split(",")):
            table = make(n, rng)
            t0 = time.perf_counter()
            m = cls(table)
            spans = m.segment_map(0).spans          # what --all prints
            t_all = time.perf_counter() - t0
            rids = [rng.randrange(0x10000) for _ in range(args.lookups)]
            t0 = time.perf_counter()
            for rid in rids:
                m.lookup(rid)
            rate = args.lookups / (time.perf_counter() - t0)
            print(f"{kind:<6}{n:>8}{t_all * 1000:>18.1f}{len(spans):>8}{rate:>12,.0f}")


if __name__ == "__main__":
    main()
