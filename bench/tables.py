"""Workloads for bench/speed.py: YAML descriptions of the tables the
benchmark builds and decodes, written out as text so that the timed
`acpitables build` does all of the work (YAML load, schema, compile,
layout) that a user's build does.

Every IORT here is revision 0, the only IORT revision Debian bookworm's
iasl 20200925 compiles; the newer iasl that tools/provision.sh unpacks
compiles it too. The iasl source of the same table is not written here:
speed.py takes it from formats/dsl.to_dsl (what `acpitables decode -f dsl`
writes, aimed at the release of the iasl that will compile it) and then checks that iasl's
binary equals ours byte for byte, so no hand-written second description
of the table has to be trusted.
"""
from __future__ import annotations

# A root complex node holds at most 3,000 ID mappings: its Length is 16
# bits, 36 + 20 * 3000 = 60,036 < 65,536 (IORT, node header).
PER_RC = 3000

_HEADER = ["table: IORT", "revision: 0", "nodes:",
           "- {name: smmu0, type: smmu_v3, base_address: 0x9050000, event_gsiv: 0x6a, "
           "pri_gsiv: 0x6b, gerr_gsiv: 0x6d, sync_gsiv: 0x6c}"]


def _nc_path(i: int) -> str:
    # ACPI name segments are 4 characters: D + 3 hex digits names 4,096
    # devices per scope, then a second scope level.
    if i < 0x1000:
        return f"\\\\_SB_.D{i:03X}"
    return f"\\\\_SB_.S{i >> 12:03X}.D{i & 0xFFF:03X}"


def named_components(n: int) -> str:
    """An SMMUv3 and `n` named components, each with one ID mapping to it
    (a platform device's StreamID)."""
    lines = list(_HEADER)
    for i in range(n):
        lines.append(f'- {{name: nc{i}, type: named_component, device_name: "{_nc_path(i)}", '
                     f"memory_address_limit: 48, mappings: [{{input: 0, count: 1, "
                     f"output: smmu0, output_base: {i}}}]}}")
    return "\n".join(lines) + "\n"


def rc_mappings(n: int, rcs: int | None = None) -> str:
    """An SMMUv3 and `n` ID mappings of 16 RIDs each spread evenly over
    `rcs` root complexes (one per PCI segment); by default as few as the
    16-bit node Length allows."""
    if rcs is None:
        rcs = max(1, -(-n // PER_RC))
    per, extra = divmod(n, rcs)
    if per + (1 if extra else 0) > PER_RC:
        raise ValueError(f"{n} mappings do not fit in {rcs} root complexes")
    lines = list(_HEADER)
    for seg in range(rcs):
        count = per + (1 if seg < extra else 0)
        lines += [f"- name: rc{seg}", "  type: root_complex", "  memory_address_limit: 48",
                  f"  pci_segment_number: {seg}", "  mappings:"]
        lines += [f"  - {{input: {i * 16}, count: 16, output: smmu0, "
                  f"output_base: {(seg << 16) + i * 16}}}" for i in range(count)]
    return "\n".join(lines) + "\n"


def small_viot() -> str:
    """The 88-byte VIOT: one virtio-iommu-pci and one PCI range behind it
    (36-byte header, 12 bytes of VIOT header, 16 + 24 bytes of nodes)."""
    return ("table: VIOT\n"
            "iommus:\n- name: viommu\n  pci: \"00:02.0\"\n"
            "endpoints:\n- buses: [0x10, 0xff]\n  iommu: viommu\n")
