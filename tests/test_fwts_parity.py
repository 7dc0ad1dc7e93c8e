"""fwts parity (issue 10 item 3): for every FAILED line in fwts's expected
logs (../shared/corpus/fwts, see its SOURCES.md), validate reports a finding
at the same node and of the same check; where Linux would read outside the
table or misread it, that finding is an error.

The oracle shares nothing with the code under test: the logs are parsed
here, and node offsets come from a walk of the raw bytes written here (IORT:
node count u32 at 36, node array offset u32 at 40, node type u8 and length
u16 at +0/+1; VIOT: node count u16 at 36, node offset u16 at 38, type u8 and
length u16 at +0/+2). docs/fwts.md maps each fwts check to our finding.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from acpitables import batch

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "fwts"
PAIRS = {"iort-0001__iort-0002.expected.log": "iort-0001__acpidump-0002__IORT.bin",
         "iort-0001__iort-0001.expected.log": "iort-0001__acpidump-0001__IORT.bin",
         "viot-0001__viot-0002.expected.log": "viot-0001__acpidump-0002__VIOT.bin",
         "viot-0001__viot-0001.expected.log": "viot-0001__acpidump-0001__VIOT.bin"}


def raw_nodes(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of every node, from the bytes."""
    if data[:4] == b"IORT":
        count, pos = struct.unpack_from("<II", data, 36)
        length_at = 1
    else:
        count, pos = struct.unpack_from("<HH", data, 36)
        length_at = 2
    out = []
    for _ in range(count):
        length = struct.unpack_from("<H", data, pos + length_at)[0]
        out.append((pos, data[pos], length))
        pos += length
    return out


@dataclass(frozen=True)
class Failed:
    log: str
    check: str  # fwts failure ID, e.g. IORTReservedBitsNonZero
    text: str  # the whole FAILED message
    node: int | None  # node offset; None: the table header
    node_type: int | None
    occurrence: int  # n-th identical (log, node, check) line

    @property
    def id(self) -> str:
        where = "header" if self.node is None else f"0x{self.node:X}"
        return f"{self.log.split('.')[0]}:{where}:{self.check}#{self.occurrence}"


# A node's block starts with a line ending in "Node:", "node:" or "Node Structure:".
_NODE_HEADER = re.compile(r"(Node|node)( Structure)?:$")


def parse_log(name: str) -> tuple[list[Failed], int]:
    """The FAILED lines of one log with their node, and the failure count
    fwts printed in its closing line."""
    lines = [l[16:].rstrip() for l in (CORPUS / name).read_text().splitlines()]
    data = (CORPUS / PAIRS[name]).read_bytes()
    nodes = raw_nodes(data)
    failed: list[Failed] = []
    seen: dict[tuple, int] = {}
    index = -1  # node block we are in; -1: the table header
    i = 0
    summary = None
    while i < len(lines):
        line = lines[i].strip()
        m = re.match(r"\d+ passed, (\d+) failed", line)
        if m:
            summary = int(m[1])
        if _NODE_HEADER.search(line) and "Table" not in line:
            index += 1
        if line.startswith("FAILED ["):
            text = [line]
            j = i + 1
            # The message goes on over lines that start in column 0 and are
            # not a block start ("ID Mapping 0", "... Node:", "====").
            while j < len(lines):
                nxt = lines[j]
                if (not nxt.strip() or nxt.startswith(" ") or nxt.startswith(("FAILED", "="))
                        or nxt.endswith(":") or re.fullmatch(r"ID Mapping \d+", nxt)):
                    break
                text.append(nxt.strip())
                j += 1
            message = " ".join(text)
            check = re.match(r"FAILED \[\w+\] (\w+):", message)[1]
            node = _node_for(check, message, index, nodes, len(data))
            key = (check, node[0] if node else None)
            seen[key] = seen.get(key, 0) + 1
            failed.append(Failed(name, check, message, node[0] if node else None,
                                 node[1] if node else None, seen[key]))
            i = j
            continue
        i += 1
    return failed, summary


def _node_for(check: str, message: str, index: int, nodes, table_len: int):
    # fwts's VIOT test reports bad node types and out-of-range nodes after
    # the last node block, without a header: find them by type and bounds.
    if check == "VIOTBadNodeType":
        bad = int(re.search(r"got (0x[0-9a-fA-F]+)", message)[1], 16)
        return next((o, t) for o, t, _ in nodes if t == bad)
    if check == "VIOTOutOfRangeOffset":
        return next((o, t) for o, t, n in nodes if o + n > table_len)
    if index < 0:
        return None
    return nodes[index][:2]


CASES: list[Failed] = []
COUNTS: dict[str, tuple[int, int]] = {}
if CORPUS.is_dir():
    for _log in PAIRS:
        _found, _summary = parse_log(_log)
        CASES += _found
        COUNTS[_log] = (len(_found), _summary)


def test_log_parser_finds_every_failed_line():
    """The parser's count equals fwts's own closing count, per log."""
    if not COUNTS:
        pytest.skip("fwts corpus not found")
    assert {k: v[0] for k, v in COUNTS.items()} == {k: v[1] for k, v in COUNTS.items()}
    assert sum(v[0] for v in COUNTS.values()) == 48


# fwts check -> (field pattern of our finding at that node, must be an error).
# Fields are the spec names our findings carry; "" is a finding on the whole
# node (a node the decoder could not read as its type).
_RESERVED = r"(.*\.)?reserved(_\w+)?|.*\.reserved|reserved"


def expected(case: Failed) -> tuple[str, bool]:
    c, t = case.check, case.text
    if c == "IORTNodeRevisionInvalid":
        return r"revision", False
    if c == "IORTNodeMappingsCountNonZero":
        return r"mapping_count|mappings", False
    if c == "IORTNodeRefToIdArrayNonZero":
        return r"mapping_offset", False
    if c == "IORTItsIdArrayOutsideTable":
        return r"|identifiers|its_count", True
    if c == "IORTIdMappingOutsideTable":
        return r"|mappings|mapping_offset|mapping_count", True
    if c == "IORTCacheCoherentAttrInvalid":
        return r"memory_properties(\.cache_coherency)?", False
    if c == "IORTMemAttrInvalid":
        return r"memory_properties(\.\w+)?|memory_flags", False
    if c == "IORTSmmuInvalidModel" or c == "IORTSmmuv3InvalidModel":
        return r"model", False
    if c in ("IORTReservedNonZero", "VIOTReservedNonZero"):
        return _RESERVED, False
    if c == "IORTReservedBitsNonZero":
        if "Allocation Hints" in t:
            return r"(memory_properties\.)?hints", False
        if "SMMU_NsgIrpt " in t:
            return r"global_interrupts\.nsg_irpt_flags", False
        if "SMMU_NsgCfgIrpt" in t:
            return r"global_interrupts\.nsg_cfg_irpt_flags", False
        if "SMMU_GSV" in t:
            return r"(context|pmu)_interrupts\.\d+\.flags", False
        m = re.search(r"ID Mapping (\d+) flags", t)
        if m:
            return rf"mappings\.{m[1]}\.flags", False
        if "Reserved Flags" in t:
            return r"flags", False
    if c == "VIOTBadNodeType":
        return r"type", False
    if c == "VIOTOutOfRangeOffset":
        return r"length", True  # Linux's viot_check_bounds refuses the node
    raise AssertionError(f"no mapping for fwts check {c}: {t}")


# FAILED lines our checks do not catch yet, with the rule that is missing;
# strict: they flip when it lands. Empty: every line is caught (nodes whose
# arrays overrun their Length are kept raw, their fixed part checked).
MISSING: dict[str, str] = {}


def _param(case: Failed):
    marks = []
    if case.id in MISSING:
        marks.append(pytest.mark.xfail(strict=True, reason=MISSING[case.id]))
    return pytest.param(case, id=case.id, marks=marks)


_REPORTS: dict[str, batch.Report] = {}


def report_for(log: str) -> batch.Report:
    if log not in _REPORTS:
        [_REPORTS[log]] = batch.validate(CORPUS / PAIRS[log])
    return _REPORTS[log]


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_fwts_failed_line_has_our_finding(case: Failed):
    pattern, must_be_error = expected(case)
    report = report_for(case.log)
    at_node = [f for f in report.findings
               if (f.node is None and case.node is None)
               or (case.node is not None and f.offset == case.node and f.node is not None)]
    matching = [f for f in at_node if re.fullmatch(pattern, f.field or "")]
    # One of ours per fwts line: the n-th identical fwts line needs n findings.
    same = [c for c in CASES if (c.log, c.node, c.check) == (case.log, case.node, case.check)
            and expected(c)[0] == pattern]
    assert len(matching) >= len(same), (
        f"{case.text}\nour findings at this node: "
        + "; ".join(f"{f.severity} {f.field}: {f.message}" for f in at_node))
    if must_be_error:
        assert any(f.severity == "error" for f in matching), (
            f"{case.text}\nLinux reads outside the table or node here, so the finding must "
            f"be an error; ours: " + "; ".join(f"{f.severity}: {f.message}" for f in matching))


def test_fwts_valid_tables_have_no_error_fwts_would_not_flag():
    """fwts's valid samples pass fwts; ours may add findings fwts lacks
    (references, Linux's own rules), but every one must be located."""
    if not CORPUS.is_dir():
        pytest.skip("fwts corpus not found")
    for log in ("iort-0001__iort-0001.expected.log", "viot-0001__viot-0001.expected.log"):
        report = report_for(log)
        assert all(f.offset is not None for f in report.findings), log
