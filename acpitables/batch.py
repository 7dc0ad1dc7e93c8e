"""acpitables: batch.py -- findings for many inputs at once, in parallel.

    validate(input)            -> list[Report]  one path (file, directory, dump,
                                                description) or table bytes
    validate_table(data, name) -> Report        one table, severities kept
    validate_description(src)  -> Report        one YAML description
    expand(args)               -> list[Item]    files, globs, directories, "-"
    run(items, work, jobs)     -> iterator      work(item) per item (validate_item,
                                                summary_item), in item order, on
                                                a process pool
    Policy(select, ignore, fail_on)             which findings count and fail

Unlike api.decode (whose warnings list flattens every check finding into a
warning), a Report keeps each finding's own severity, code, source and
place, so that a caller can tell a firmware bug from a cosmetic note.

An input that cannot be read, or whose worker crashes, becomes a Report with
status "unreadable": one broken input never hides the others.
"""
from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from .errors import AcpiTablesError, DescriptionError, Diagnostic, InputError, TableError
from .formats.sources import is_glob

SEVERITIES = ("note", "warning", "error")  # ascending
RANK = {s: i for i, s in enumerate(SEVERITIES)}
UNCODED = "UNCODED"  # shown for a finding that has no code yet

# A table starts with a 4-character signature (ACPI 6.5 section 5.2.6: ASCII
# letters, digits, and "_" or "!" in a few reserved ones) and a Length.
_SIGNATURE = re.compile(rb"^[A-Z0-9_!]{4}$")
_DESCRIPTION_SUFFIXES = (".yaml", ".yml")


@dataclass
class Report:
    """The result for one table or description.

    status: "ok" (no finding), "note", "warning", "error" (the worst
    finding), "skipped" (a table this tool does not know: signature says
    which) or "unreadable" (the input could not be read at all: `error`
    says why)."""

    input: str  # the table's name: a path, or path:SIG2 inside a dump
    file: str | None = None  # the file it came from (None: stdin)
    kind: str = "table"  # "table" | "description"
    signature: str | None = None
    findings: list[Diagnostic] = field(default_factory=list)
    error: str | None = None  # why an unreadable input could not be read
    in_dump: bool = False  # came from acpidump text: offsets are not file offsets
    skipped: bool = False  # a table of a signature this tool does not know
    summary: dict | None = None  # the summary command's view (formats/summary.py)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "unreadable"
        if self.skipped:
            return "skipped"
        worst = max((RANK.get(f.severity, RANK["error"]) for f in self.findings), default=None)
        return "ok" if worst is None else SEVERITIES[worst]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in reversed(SEVERITIES)}
        for f in self.findings:
            sev = f.severity if f.severity in out else "error"
            out[sev] += 1
        return out

    def as_dict(self) -> dict:
        """The JSON / JSON Lines record of this table."""
        out: dict[str, Any] = {"input": self.input, "file": self.file, "kind": self.kind,
                               "signature": self.signature, "status": self.status,
                               "counts": self.counts(),
                               "findings": [finding_dict(f, self) for f in self.findings]}
        if self.error is not None:
            out["error"] = self.error
        if self.summary is not None:
            out["summary"] = self.summary
        return out


def finding_dict(diag: Diagnostic, report: Report | None = None) -> dict:
    """One finding as JSON: always code, severity, message and source; the
    place (offset/node/field for a table, file/line/col/path for a
    description) where known; and the input it belongs to."""
    out: dict[str, Any] = {"code": diag.code or UNCODED, "severity": diag.severity,
                           "message": diag.message, "source": diag.source}
    # Every key is always there (null when unknown): one shape for jq and
    # for code that reads a sweep.
    for key in ("offset", "node", "field", "file", "line", "col", "path"):
        out[key] = getattr(diag, key)
    out["input"] = report.input if report is not None else None
    return out


# --- which findings count -----------------------------------------------------

def _code_matches(code: str | None, pattern: str) -> bool:
    """A pattern is a whole code or a prefix ending at a "-" boundary:
    IORT-MAP matches IORT-MAP and IORT-MAP-OVERLAP, not IORT-MAPPING."""
    code = (code or UNCODED).upper()
    pattern = pattern.upper().rstrip("-")
    return code == pattern or code.startswith(pattern + "-")


@dataclass(frozen=True)
class Policy:
    """select: only findings whose code matches one of these (empty: all);
    ignore: drop findings whose code matches; fail_on: the lowest severity
    that fails an input ("error" by default, "warning" for --strict)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: str = "error"

    def __post_init__(self) -> None:
        if self.fail_on not in RANK:
            raise ValueError(f"fail_on must be one of {', '.join(SEVERITIES)}, not "
                             f"{self.fail_on!r}")

    def keeps(self, diag: Diagnostic) -> bool:
        if self.select and not any(_code_matches(diag.code, p) for p in self.select):
            return False
        return not any(_code_matches(diag.code, p) for p in self.ignore)

    def apply(self, report: Report) -> Report:
        return replace(report, findings=[f for f in report.findings if self.keeps(f)])

    def fails(self, report: Report) -> bool:
        """Does this (already filtered) report fail the run?"""
        if report.status == "unreadable":
            return True
        threshold = RANK[self.fail_on]
        return any(RANK.get(f.severity, RANK["error"]) >= threshold for f in report.findings)


# --- one input ----------------------------------------------------------------

def validate_table(data: bytes, name: str = "<table>", file: str | None = None,
                   summary: bool = False) -> Report:
    """Every finding for one table's bytes with its own severity: the
    decoder's (lenient walk) and the table's semantic checks. A table that
    cannot be walked at all gives its one located error."""
    from .engine.registry import TABLES
    from .engine.table import decode_table
    sig = bytes(data[:4]).decode("latin-1")
    report = Report(name, file, "table", sig)
    spec = TABLES.get(sig)
    if spec is None:
        report.skipped = True
        return report
    try:
        decoded = decode_table(bytes(data), spec)
    except TableError as exc:
        report.findings.append(exc.diagnostic)
        return report
    report.findings = list(decoded.warnings) + list(spec.check(decoded.table))
    if summary:
        from .formats import summary as view
        report.summary = view.table_summary(decoded.table, spec)
    return report


def validate_description(source: str | os.PathLike | Any, filename: str | None = None,
                         summary: bool = False) -> Report:
    """Every finding for a YAML description (text, a path (os.PathLike) or
    loaded data): its errors when it does not compile, otherwise its
    warnings and notes."""
    from . import api
    is_path = isinstance(source, os.PathLike)  # not pathlib: one table need not import it
    name = filename or (os.fsdecode(source) if is_path else "<description>")
    report = Report(name, name if is_path else filename, "description")
    try:
        built = api.build(source, filename)
    except DescriptionError as exc:
        report.findings = list(exc.problems) + list(exc.warnings)
        return report
    report.signature = built.table.signature
    report.findings = list(built.warnings)
    if summary:
        from .engine.registry import spec_for
        from .formats import summary as view
        report.summary = view.table_summary(built.table, spec_for(built.table.signature))
    return report


def looks_like_table(data: bytes) -> bool:
    """A 4-character signature and a Length that covers at least the header."""
    return (len(data) >= 36 and bool(_SIGNATURE.match(data[:4]))
            and int.from_bytes(data[4:8], "little") >= 36)


_HEAD = 65536  # what is read of a file to tell what it is


def _dump_head(head: bytes) -> bool:
    """Does this start of a file look like acpidump text?"""
    from .formats import acpidump
    try:
        return acpidump.looks_like_dump(head[:_HEAD].decode("ascii"))
    except UnicodeDecodeError:
        return False


def _dump_text(data: bytes, name: str) -> str | None:
    if not _dump_head(data[:_HEAD]):
        return None
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(f"{name}: acpidump text with non-ASCII bytes") from None


def _tables_of(data: bytes, name: str, file: str | None, summary: bool = False) -> list[Report]:
    """Reports for bytes that are one table or acpidump text; [] when they
    are neither."""
    from .formats import acpidump
    # Text first: acpidump text starts with a signature too ("IORT @ 0x...").
    text = _dump_text(data, name)
    if text is None:
        return [validate_table(data, name, file, summary)] if looks_like_table(data) else []
    reports = []
    counts: dict[str, int] = {}
    for sig, blob in acpidump.parse(text):
        counts[sig] = counts.get(sig, 0) + 1
        label = f"{name}:{sig}{counts[sig] if counts[sig] > 1 else ''}"
        if len(blob) >= 4 and blob[:4].decode("latin-1") == sig:
            report = validate_table(blob, label, file, summary)
        else:  # RSDP and anything without an SDT header
            report = Report(label, file, "table", sig, skipped=True)
        report.in_dump = True
        reports.append(report)
    return reports


def validate(input: str | os.PathLike | bytes, name: str | None = None) -> list[Report]:
    """Reports for one input: table bytes, or a path to a table, acpidump
    text, a YAML description or a directory (every table in it, walked in
    sorted order). Raises InputError when that one input cannot be read;
    inside a directory, an unreadable file is a Report in its place."""
    if isinstance(input, (bytes, bytearray)):
        return _reports_for_bytes(bytes(input), name or "<stdin>", None, True)
    out = []
    for item in expand([str(input)]):
        out += validate_item(item)
    if len(out) == 1 and out[0].status == "unreadable":
        raise InputError(out[0].error or f"{input}: cannot be read")
    return out


def _reports_for_bytes(data: bytes, name: str, file: str | None, explicit: bool,
                       summary: bool = False) -> list[Report]:
    reports = _tables_of(data, name, file, summary)
    if reports:
        return reports
    if explicit or name.endswith(_DESCRIPTION_SUFFIXES):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{name}: neither a table, acpidump text nor a YAML description "
                             f"(starts with {data[:4]!r})") from None
        return [replace(validate_description(text, name, summary), file=file)]
    return []  # a file in a directory that is none of ours (README, logs)


# --- many inputs ----------------------------------------------------------------

class Item(NamedTuple):  # immutable; cheaper to make at import than a dataclass
    """One thing to read: a file (path), or bytes already read (stdin)."""

    name: str
    path: str | None = None
    data: bytes | None = None
    explicit: bool = True  # named on the command line (not found in a directory)


def expand(args: Iterable[str], stdin: Any = None) -> list[Item]:
    """Inputs in the order given: "-" (standard input, read now), a file, a
    directory (every regular file below it, sorted, recursively: sysfs
    tables, acpidump -b output, a corpus), or a glob the shell did not
    expand ("**" recurses). A name that matches nothing stays an Item, so
    that it is reported as unreadable in its place."""
    items: list[Item] = []
    for arg in args:
        if arg == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            items.append(Item("<stdin>", data=stream.read()))
        elif os.path.isdir(arg):
            items += _walk(arg)
        elif is_glob(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                items.append(Item(arg, path=arg))
            for m in matches:
                items += _walk(m) if os.path.isdir(m) else [Item(m, path=m)]
        else:
            items.append(Item(arg, path=arg))
    return items


def glob_inputs(arg: str) -> list[str]:
    """The paths a glob names, sorted ("**" recurses); the pattern itself
    when it names nothing, so that it is reported in its place."""
    return sorted(glob.glob(arg, recursive=True)) or [arg]


def _walk(top: str) -> list[Item]:
    out = []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files, key=lambda n: (len(n), n) if _SYSFS_NAME.match(n) else (0, n)):
            path = os.path.join(root, name)
            if os.path.isfile(path):
                out.append(Item(path, path=path, explicit=False))
    return out


# sysfs names a machine's second SSDT "SSDT1"... after "SSDT": keep that order.
_SYSFS_NAME = re.compile(r"^[A-Z0-9_!]{4}\d*$")


def validate_item(item: Item) -> list[Report]:
    """The reports of one Item (a worker for run())."""
    return _work_item(item, False)


def summary_item(item: Item) -> list[Report]:
    """The reports of one Item with their summary view (a worker for run())."""
    return _work_item(item, True)


def _work_item(item: Item, summary: bool) -> list[Report]:
    """Never raises: what goes wrong becomes an unreadable Report in place."""
    file = item.path
    try:
        if item.data is not None:
            data = item.data
        elif item.path is None:     # expand() always gives one of the two
            raise TypeError(f"{item.name}: an Item needs a path or data")
        else:
            try:
                with open(item.path, "rb") as fh:
                    head = fh.read(_HEAD)
                    # A file found in a directory that is none of ours (a
                    # README, a firmware image) is passed over unread.
                    if not (item.explicit or looks_like_table(head) or _dump_head(head)
                            or item.name.endswith(_DESCRIPTION_SUFFIXES)):
                        return []
                    data = head + fh.read()
            except OSError as exc:
                raise InputError(f"{item.name}: {exc.strerror or exc}") from None
        return _reports_for_bytes(data, item.name, file, item.explicit, summary)
    except AcpiTablesError as exc:
        text = str(exc)
        return [Report(item.name, file, error=text if text.startswith(item.name)
                       else f"{item.name}: {text}")]
    except Exception as exc:  # noqa: BLE001 -- a bug must not end a sweep
        return [Report(item.name, file, error=f"internal error: {type(exc).__name__}: {exc} "
                                              "(please report this)")]


def _work_chunk(args: tuple[list[Item], Callable]) -> list:
    items, work = args
    return [work(item) for item in items]


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(items: list[Item], work: Callable[[Item], Any] = validate_item, jobs: int | None = None,
        progress: Callable[[int, int], None] | None = None) -> Iterator[Any]:
    """work(item) for each item, in item order (deterministic whatever the
    scheduling), computed on `jobs` processes (default: every core). `work`
    is a module-level function (it is sent to the workers by name) that
    never raises: validate_item, summary_item, or decode's and map's own.
    `progress(done, total)` is called as results arrive."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    total = len(items)
    if jobs == 1 or total < 2:
        for done, item in enumerate(items, 1):
            result = work(item)
            if progress:
                progress(done, total)
            yield result
        return
    # Chunks amortise the pickling; several per worker keep the cores busy
    # when some tables take longer than others.
    size = max(1, min(64, total // (jobs * 8)))
    chunks = [(items[i:i + size], work) for i in range(0, total, size)]
    # Imported here: one input (the common CI call) never starts a pool.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    ctx = get_context("fork") if "fork" in _start_methods() else None
    done = 0
    with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=ctx) as pool:
        for chunk in pool.map(_work_chunk, chunks):
            for result in chunk:
                done += 1
                if progress:
                    progress(done, total)
                yield result


def _start_methods() -> list[str]:
    import multiprocessing
    return multiprocessing.get_all_start_methods()
