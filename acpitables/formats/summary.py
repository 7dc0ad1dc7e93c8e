"""acpitables: summary.py -- what a table says about IOMMUs, in a few lines.

Like `acpidump -s`, but about IOMMUs: per table its nodes by kind, which
IOMMU translates which segments and buses, what bypasses, and its findings
by severity. The translation part comes from the mapper
(mapping.for_table(...).segment_map(...)): the summary never walks
the tables' references itself, so it says what Linux decides.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..engine.pci import format_bdf
from ..engine.table import Table, TableSpec


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\0 ")
    return value


def table_summary(table: Table, spec: TableSpec) -> dict:
    """Plain data: header identity, nodes by kind, and per PCI segment the
    RID ranges each IOMMU translates and those that bypass (with why)."""
    kinds: dict[str, int] = {}
    for node in table.nodes:
        ntype = spec.node_types.get(node.type)
        kind = ntype.label if ntype is not None and not node.raw else f"raw (type {node.type})"
        kinds[kind] = kinds.get(kind, 0) + 1
    out: dict[str, Any] = {
        "revision": table.header.get("revision"),
        "oem_id": _text(table.header.get("oem_id")),
        "oem_table_id": _text(table.header.get("oem_table_id")),
        "nodes": kinds,
    }
    from .. import mapping as mapper
    try:
        m = mapper.for_table(table)
        segments = {}
        for seg in m.segments():
            segments[str(seg)] = _segment(m.segment_map(seg).spans)
        out["segments"] = segments
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # The mapper declines tables it cannot model; the summary says so
        # rather than hiding the rest of the table.
        out["segments"] = {}
        out["mapping_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _segment(spans) -> dict:
    """Spans grouped: translated ranges per IOMMU, bypassed and broken
    ranges with their reason. Adjacent spans of one IOMMU merge."""
    translated: dict[str, list[list[int]]] = {}
    bypass: list[dict] = []
    errors: list[dict] = []
    for span in spans:
        r = span.result
        if r.kind == "translated":
            runs = translated.setdefault(r.iommu, [])
            if runs and runs[-1][1] + 1 == span.start:
                runs[-1][1] = span.end
            else:
                runs.append([span.start, span.end])
        else:
            target = bypass if r.kind == "bypass" else errors
            reason = r.reason.value if hasattr(r.reason, "value") else str(r.reason)
            if target and target[-1]["reason"] == reason and target[-1]["last"] + 1 == span.start:
                target[-1]["last"] = span.end
            else:
                target.append({"first": span.start, "last": span.end, "reason": reason})
    return {"translated": {k: [{"first": a, "last": b} for a, b in v]
                           for k, v in translated.items()},
            "bypass": bypass, "errors": errors}


def _rids(first: int, last: int) -> str:
    if first == last:
        return format_bdf(first)
    if first & 0xFF == 0 and last & 0xFF == 0xFF:  # whole buses: say buses
        return f"bus {first >> 8:02x}" if first >> 8 == last >> 8 else \
            f"buses {first >> 8:02x}-{last >> 8:02x}"
    return f"{format_bdf(first)}..{format_bdf(last)}"


def render_text(reports: list) -> str:
    """One block per table (reports from batch.run(..., "summary"))."""
    blocks = []
    skipped: dict[str, list[str]] = {}
    for r in reports:
        head = f"{r.input}: {r.signature or '?'}"
        if r.status == "unreadable":
            blocks.append(r.error if r.error.startswith(r.input) else f"{r.input}: {r.error}")
            continue
        if r.status == "skipped":
            # A whole machine's dump: its other tables on one line, at the end.
            skipped.setdefault(r.file or r.input, []).append(r.signature or r.input)
            continue
        s = r.summary or {}
        lines = []
        if s:
            head += f" rev {s['revision']}  OEM {s['oem_id']!r} {s['oem_table_id']!r}"
            lines.append("  nodes: " + (", ".join(f"{n} {k}" for k, n in s["nodes"].items())
                                        or "none"))
            for seg, info in s.get("segments", {}).items():
                for iommu, runs in info["translated"].items():
                    lines.append(f"  segment {seg}: {iommu} translates "
                                 + ", ".join(_rids(x["first"], x["last"]) for x in runs))
                for b in info["bypass"]:
                    lines.append(f"  segment {seg}: {_rids(b['first'], b['last'])} bypass "
                                 f"({b['reason']})")
                for e in info["errors"]:
                    lines.append(f"  segment {seg}: {_rids(e['first'], e['last'])} broken "
                                 f"({e['reason']}; Linux: direct DMA)")
            if not s.get("segments"):
                lines.append("  no PCI segment described"
                             + (f" ({s['mapping_error']})" if "mapping_error" in s else ""))
        elif r.findings:  # not walkable: say why, the summary has nothing else
            # The one finding form (errors.Diagnostic): PLACE: severity[CODE]: message
            lines += [f"  {replace(f, code=f.code or 'UNCODED')}" for f in r.findings
                      if f.severity == "error"]
        counts = r.counts()
        lines.append("  findings: " + ", ".join(f"{n} {sev}" + ("s" if n != 1 else "")
                                                for sev, n in counts.items()))
        blocks.append("\n".join([head] + lines))
    blocks += [f"{where}: skipped {', '.join(sigs)} (not tables this tool reads)"
               for where, sigs in skipped.items()]
    return "\n".join(blocks) + ("\n" if blocks else "")
