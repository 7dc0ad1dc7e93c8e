"""acpitables.engine.roles -- what a node kind *is* to the mapper.

A node declaration carries one Role. The mapper and the checks ask the
role (is this an IOMMU? may its mappings be single? which mapping gives
the node's own MSI DeviceID?), never a type code, so a new table or node
kind teaches the mapper by declaration alone.
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Mapping, NamedTuple, Optional


class RoleKind(str, Enum):
    IOMMU = "iommu"                    # translates DMA: the end of a walk
    MSI_CONTROLLER = "msi_controller"  # ITS group and the like: end of an MSI walk
    ENDPOINT = "endpoint"              # where a device's walk starts (RC, NC, PCI range...)
    BRIDGE = "bridge"                  # passes IDs on (PMCG, IWB, RMR: neither start nor end)
    OTHER = "other"                    # carries no mapping knowledge


class Role(NamedTuple):
    """The mapping facts of one node kind, as Linux uses them.

    kind            RoleKind
    targets         node *kinds* (declaration names) its mappings or output
                    references may point at; () = anything / not checked
    single_mappings Linux iort_id_map() honours single-mapping entries on
                    this node (IORT NC, RC and, since Linux 7.0, IWB);
                    elsewhere they are skipped (FW_BUG). For index lookups
                    (iort_node_get_id) nodes with a deviceid_index qualify too
    deviceid_index  fields -> index of the mapping that carries the node's
                    own MSI DeviceID (Linux iort_get_id_mapping_index), or
                    None; that mapping is skipped while translating. The one
                    place the rule lives: mapper and checks both call it
    match           how a device finds this node, compared field by field:
                    endpoints -- where its walk starts: "pci_segment_number"
                    (a host bridge), "device_name" (ACPI path, byte-exact),
                    "segment_bdf_range" (segment_start..end x bdf_start..end),
                    "base_address" (first MMIO resource); IOMMUs -- which
                    device IS the IOMMU (not translated by itself):
                    "pci_function" (segment + bdf) or "base_address"
    match_order     among endpoint kinds matched by the same key, lower first
                    (IORT: named components before IWB nodes)
    table_revisions table revisions that allow the kind (None: all)
    msi_only        an endpoint consulted only on the MSI path (IWB)

    A NamedTuple, immutable as the frozen dataclass it was: a declaration
    record that every command imports, and a dataclass costs ~0.5 ms to
    make (issue 11); change one with `role._replace(...)`.
    """

    kind: RoleKind = RoleKind.OTHER
    targets: tuple[str, ...] = ()
    single_mappings: bool = False
    deviceid_index: Optional[Callable[[Mapping[str, Any]], Optional[int]]] = None
    match: Optional[str] = None
    match_order: int = 0
    table_revisions: Optional[tuple[int, ...]] = None
    msi_only: bool = False

    @property
    def is_iommu(self) -> bool:
        return self.kind is RoleKind.IOMMU

    @property
    def is_msi_controller(self) -> bool:
        return self.kind is RoleKind.MSI_CONTROLLER

    @property
    def is_endpoint(self) -> bool:
        return self.kind is RoleKind.ENDPOINT


NO_ROLE = Role()
