"""acpitables: findings.py -- validate's findings as text, JSON, JSON Lines
and SARIF 2.1.0.

Every form is generated from batch.Report / errors.Diagnostic: code (or
UNCODED), severity, message, source and place. SARIF (OASIS SARIF 2.1.0,
sections 3.27 result, 3.30 region, 3.49 reportingDescriptor) is for
code-scanning services: ruleId is the code, level the severity, and the
location a line/column region for a description or a byte-offset region of
the table file for a binary table.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Iterable

from ..batch import UNCODED, Report, finding_dict

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _where(diag) -> str:
    parts = []
    if diag.offset is not None:
        parts.append(f"offset 0x{diag.offset:X}")
    if diag.node:
        parts.append(diag.node)
    if diag.field:
        parts.append(diag.field)
    return ", ".join(parts)


def finding_line(diag, report: Report) -> str:
    """The one finding form, errors.Diagnostic's `PLACE: severity[CODE]:
    message`, with the input's name in front for a table
    (`name: offset 0x30, rc0, mappings.2: warning[CODE]: message`) and the
    description's file:line:col as the place for a description."""
    diag = replace(diag, code=diag.code or UNCODED)
    if report.kind == "description" or diag.line is not None or diag.path is not None:
        return str(replace(diag, file=diag.file or report.input))
    return f"{report.input}: {diag}"


def verdict(report: Report) -> str:
    if report.error is not None:        # what status "unreadable" means
        return f"{report.error}" if report.error.startswith(report.input) else \
            f"{report.input}: {report.error}"
    if report.status == "skipped":
        return f"{report.input}: skipped ({report.signature} is not a table this tool reads)"
    counts = {k: v for k, v in report.counts().items() if v}
    if not counts:
        return f"{report.input}: ok"
    return f"{report.input}: " + ", ".join(f"{n} {sev}{'s' if n != 1 else ''}"
                                           for sev, n in counts.items())


def render_text(reports: Iterable[Report], quiet_skipped: bool = True) -> str:
    """Findings then one verdict line per table. Skipped tables of one
    input (a whole machine's dump) are named together on one line."""
    lines: list[str] = []
    skipped: dict[str, list[str]] = {}
    for r in reports:
        if r.status == "skipped" and quiet_skipped:
            skipped.setdefault(r.file or r.input, []).append(r.input.rsplit(":", 1)[-1]
                                                             if r.in_dump else r.input)
            continue
        lines += [finding_line(f, r) for f in r.findings]
        lines.append(verdict(r))
    for where, names in skipped.items():
        lines.append(f"{where}: skipped {', '.join(names)} (not tables this tool reads)"
                     if len(names) > 1 or names[0] != where else
                     f"{where}: skipped (not a table this tool reads)")
    return "\n".join(lines) + ("\n" if lines else "")


def totals(reports: list[Report], failed: list[bool]) -> dict:
    out = {"tables": 0, "failed": sum(failed), "ok": 0, "note": 0, "warning": 0, "error": 0,
           "skipped": 0, "unreadable": 0}
    for r in reports:
        out[r.status] += 1
        out["tables"] += r.status not in ("unreadable",)
    return out


# json, pathlib and urllib are imported by the forms that use them: the text
# form (validate's default) needs none of them (issue 11).

def render_json(reports: list[Report], failed: list[bool], version: str) -> str:
    import json
    records = []
    for r, f in zip(reports, failed):
        rec = r.as_dict()
        rec["failed"] = f
        records.append(rec)
    return json.dumps({"tool": "acpitables", "version": version,
                       "totals": totals(reports, failed), "inputs": records}, indent=2) + "\n"


def jsonl_record(report: Report, failed: bool) -> str:
    """One JSON Lines record (one table): input, signature, status, counts,
    findings -- for sweeps over thousands of dumps."""
    import json
    rec = report.as_dict()
    rec["failed"] = failed
    return json.dumps(rec, separators=(",", ":")) + "\n"


# --- SARIF --------------------------------------------------------------------

LEVEL = {"error": "error", "warning": "warning", "note": "note"}


def _uri(path: str) -> str:
    from pathlib import Path
    from urllib.parse import quote
    p = Path(path)
    if p.is_absolute():
        return p.as_uri()
    return quote(p.as_posix(), safe="/")


def rule_help(reference: str | None) -> dict[str, str]:
    """code -> help text, from the generated code reference (docs/findings.md):
    a table row whose first cell is the code, or a heading naming it followed
    by its paragraph. Missing reference: no help text."""
    if not reference:
        return {}
    out: dict[str, str] = {}
    code_re = re.compile(r"`?([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)`?")
    lines = reference.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            m = code_re.fullmatch(cells[0]) if cells else None
            if m and len(cells) > 1:
                out.setdefault(m[1], " ".join(c for c in cells[1:] if c))
        elif s.startswith("#"):
            m = code_re.search(s)
            if not m:
                continue
            body: list[str] = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("#"):
                    break
                if nxt.strip() or body:
                    body.append(nxt.strip())
            text = " ".join(b for b in body if b).strip()
            if text:
                out.setdefault(m[1], text)
    return out


def _sarif_result(diag, report: Report, artifact: int | None) -> dict:
    result: dict = {"ruleId": diag.code or UNCODED, "level": LEVEL.get(diag.severity, "error"),
                    "message": {"text": diag.message}}
    phys: dict = {}
    if artifact is not None and report.file is not None:   # an artifact is a file
        phys["artifactLocation"] = {"uri": _uri(report.file), "index": artifact}
    region: dict = {}
    if diag.line is not None:
        region["startLine"] = diag.line
        if diag.col is not None:
            region["startColumn"] = diag.col
    elif diag.offset is not None and not report.in_dump and report.kind == "table":
        # A raw table file: its byte offsets are the file's (SARIF 3.30.13).
        region["byteOffset"] = diag.offset
    if region and phys:
        phys["region"] = region
    location: dict = {}
    if phys:
        location["physicalLocation"] = phys
    names = [n for n in (report.signature, diag.node, diag.field or diag.path) if n]
    if names:
        location["logicalLocations"] = [{"fullyQualifiedName": "/".join(str(n) for n in names),
                                         "kind": "object"}]
    if location:
        result["locations"] = [location]
    props = {"input": report.input}
    if diag.source:
        props["source"] = diag.source
    if diag.offset is not None:
        props["offset"] = diag.offset
    result["properties"] = props
    return result


def registry_help() -> dict[str, str]:
    """code -> help text from the engine's rule registry (engine/checks.py),
    which every installed copy has: summary, then severity and source."""
    from ..engine.checks import RULES
    from ..engine.registry import TABLES  # noqa: F401 -- imports the table modules' rules
    return {code: f"{r.summary.rstrip('.')}. Severity {r.severity}; source: {r.source}."
            for code, r in RULES.items()}


def render_sarif(reports: list[Report], version: str, reference: str | None = None,
                 help_uri: str | None = None) -> str:
    """One SARIF log, one run: a rule per code seen (help text from the rule
    registry; `reference`, a findings page's text, overrides it), a result
    per finding, an artifact per file; inputs that could not be read become
    tool execution notifications."""
    import json
    helps = registry_help()
    helps.update(rule_help(reference))
    artifacts: list[dict] = []
    artifact_index: dict[str, int] = {}
    rules: list[dict] = []
    rule_index: dict[str, int] = {}
    results: list[dict] = []
    notifications: list[dict] = []
    for r in reports:
        if r.status == "unreadable":
            note: dict[str, Any] = {"level": "error", "message": {"text": r.error}}
            if r.file:
                note["locations"] = [{"physicalLocation": {"artifactLocation":
                                                           {"uri": _uri(r.file)}}}]
            notifications.append(note)
            continue
        index = None
        if r.file:
            if r.file not in artifact_index:
                artifact_index[r.file] = len(artifacts)
                art: dict[str, Any] = {"location": {"uri": _uri(r.file)}}
                if r.kind == "description":
                    art["mimeType"] = "application/yaml"
                elif not r.in_dump:
                    art["mimeType"] = "application/octet-stream"
                artifacts.append(art)
            index = artifact_index[r.file]
        for diag in r.findings:
            code = diag.code or UNCODED
            if code not in rule_index:
                rule_index[code] = len(rules)
                rule: dict[str, Any] = {"id": code, "defaultConfiguration":
                                        {"level": LEVEL.get(diag.severity, "error")}}
                text = helps.get(code) or (
                    "A finding that has no stable code yet." if code == UNCODED else None)
                if text:
                    rule["shortDescription"] = {"text": text.split(". ")[0].rstrip(".") + "."}
                    rule["help"] = {"text": text}
                if help_uri and code != UNCODED:
                    rule["helpUri"] = f"{help_uri}#{code.lower()}"
                rules.append(rule)
            res = _sarif_result(diag, r, index)
            res["ruleIndex"] = rule_index[code]
            results.append(res)
    invocation: dict[str, Any] = {"executionSuccessful": not notifications}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "acpitables", "version": version,
                                         "rules": rules}},
                     "artifacts": artifacts, "invocations": [invocation],
                     "results": results, "columnKind": "unicodeCodePoints"}]}
    return json.dumps(log, indent=2) + "\n"
