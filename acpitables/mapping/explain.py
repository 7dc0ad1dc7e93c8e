"""acpitables.mapping.explain -- the walk Linux takes, step by step.

The engines (iort.py, viot.py, dt.py) accept an optional `Trace`: while
they answer one lookup they append a `Step` for every decision they take
(which node a device starts from, each mapping read and why it did or did
not match, the arithmetic, why the walk stopped). The explanation is
therefore produced by the code that computes the answer, never by a second
implementation; `explain_*` return both and the answer is the one `map`
gives (tests/test_explain.py compares them over the corpus).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from .results import (Bypass, BypassReason, IntervalMap, Mapper, Result, Translated,
                      _as_msi, with_device_id)


@dataclass(frozen=True)
class Step:
    """One decision of a walk.

    action  a short verb: start, node, mapping, skip, match, no-match,
            tentative, supersede, arithmetic, stop, table, mask, self
    node    the node's name (None for steps about the lookup as a whole)
    offset  the table byte offset of what was read (a node or one mapping
            entry), None when there is none (a Devicetree: data["cell"]
            is the map entry's cell index)
    text    the sentence a person reads
    data    the numbers behind it (mapping fields, input, output)"""

    action: str
    text: str
    node: str | None = None
    offset: int | None = None
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"action": self.action, "text": self.text}
        if self.node is not None:
            out["node"] = self.node
        if self.offset is not None:
            out["offset"] = self.offset
        if self.data:
            out["data"] = self.data
        return out


class Trace:
    """The recorder an engine appends steps to. `focus` is the one input ID
    the lookup is about (a RID, or a platform device's input ID)."""

    def __init__(self, focus: int = 0):
        self.focus = focus
        self.steps: list[Step] = []

    def add(self, action: str, text: str, node: str | None = None, offset: int | None = None,
            **data: Any) -> None:
        self.steps.append(Step(action, text, node, offset, data))


@dataclass(frozen=True)
class Explanation:
    what: str            # the device asked about
    path: str            # "iommu" or "msi"
    steps: tuple[Step, ...]
    result: Result

    def as_dict(self) -> dict:
        return {"device": self.what, "path": self.path,
                "steps": [s.as_dict() for s in self.steps], **self.result.as_dict()}

    def text(self) -> str:
        lines = [f"{self.what} ({'MSI' if self.path == 'msi' else 'IOMMU'} path):"]
        for i, s in enumerate(self.steps, 1):
            where = ""
            if s.node is not None:
                where = s.node + (f" @0x{s.offset:X}" if s.offset is not None else "") + ": "
            elif s.offset is not None:
                where = f"@0x{s.offset:X}: "
            lines.append(f"  {i:2}. [{s.action}] {where}{s.text}")
        lines.append(f"  => {self.result}")
        return "\n".join(lines)


def _engines(mapper: Mapper) -> list[Mapper]:
    return list(getattr(mapper, "engines", None) or [mapper])


def _engine_name(engine: Mapper) -> str:
    table = getattr(engine, "table", None)
    return table.signature if table is not None else engine.kind


def _one_rid(engine: Mapper, rid: int, segment: int, msi: bool, trace: Trace) -> Result:
    """The engine's own segment-map code, run with a recorder for one RID,
    then read the way Mapper.lookup reads a segment map. An engine that
    takes no recorder (yet) answers without steps, and says so."""
    if "trace" not in inspect.signature(engine._segment_map).parameters:
        trace.add("stop", f"the {_engine_name(engine)} engine records no steps; its answer "
                  "follows")
        return engine.lookup(rid, segment, msi)
    imap: IntervalMap = engine._segment_map(segment, msi, trace)   # type: ignore[call-arg]
    if msi:
        imap = _as_msi(imap)
    return with_device_id(imap.lookup(rid), rid)


def explain_rid(mapper: Mapper, rid: int, segment: int = 0, msi: bool = False) -> Explanation:
    """A PCI function: the tables in the order Linux consults them (scan.c:
    IORT, RIMT, VIOT; for MSIs the first format that describes MSIs), each
    walked with a recorder, until one translates (acpi.AcpiMapper)."""
    from ..engine.pci import format_bdf
    trace = Trace(rid)
    engines = _engines(mapper)
    several = len(engines) > 1
    if msi and several:
        msi_engines = [e for e in engines if e.describes_msi]
        engines = msi_engines[:1] or engines[:1]
    result: Result | None = None
    for e in engines:
        if several:
            trace.add("table", f"consult the {_engine_name(e)}")
        # acpi.overlay: the first table that translates decides; when none
        # does, the last one asked answers
        result = _one_rid(e, rid, segment, msi, trace)
        if isinstance(result, Translated):
            break
        if several and e is not engines[-1]:
            trace.add("table", f"the {_engine_name(e)} does not translate it: try the next table")
    assert result is not None
    return Explanation(f"{format_bdf(rid, segment)} (RID 0x{rid:04x})", "msi" if msi else "iommu",
                       tuple(trace.steps), result)


def explain_device(mapper: Mapper, path: str, input_id: int | None = None,
                   msi: bool = False) -> Explanation:
    """A platform device by ACPI path (the first table that names devices)."""
    trace = Trace(input_id or 0)
    for e in _engines(mapper):
        if hasattr(e, "lookup_device"):
            r = e.lookup_device(path, input_id, msi, trace)
            break
    else:
        r = Bypass(BypassReason.NO_DESCRIPTION, "no table names devices by ACPI path", msi=msi)
    return Explanation(path, "msi" if msi else "iommu", tuple(trace.steps), r)


def explain_address(mapper: Mapper, base: int) -> Explanation:
    """An MMIO endpoint by the base of its first memory resource."""
    trace = Trace(base)
    for e in _engines(mapper):
        if hasattr(e, "lookup_address"):
            r = e.lookup_address(base, trace)
            break
    else:
        r = Bypass(BypassReason.NO_DESCRIPTION, "no table describes MMIO endpoints")
    return Explanation(f"MMIO 0x{base:x}", "iommu", tuple(trace.steps), r)
