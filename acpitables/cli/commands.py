"""acpitables: cli/commands.py -- the commands, a thin layer over acpitables.api.

Conventions, the same for every command:

* Exit status: 0 ok, 1 bad input (or, for diff/agree/validate --strict, a
  finding), 2 usage. Messages go to stderr, results to stdout or -o FILE.
* `-` is standard input wherever an input is read, standard output for -o.
* Writing: -o FILE replaces FILE (it was named, so that is what was asked
  for); a file name the tool picks itself (build's <signature>.aml) is not
  replaced without --force; binary never goes to a terminal without
  --force. Files are written atomically (a failed command leaves an
  existing file as it was); a new file gets the umask's mode, a replaced
  one keeps its mode (QEMU run by libvirt as another user must read it).

Start-up matters (a CI sweep runs this thousands of times): the modules a
command needs are imported inside it, not here.
"""
from __future__ import annotations

import os
import stat
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Iterator, NoReturn, Optional

from .params import Argument, Exit, Option, Usage, command, echo

from .. import __version__
from ..errors import AcpiTablesError, DescriptionError, Diagnostic

if TYPE_CHECKING:
    from ..engine.table import Decoded
    from ..mapping.results import Mapper

EPILOG = "Exit status: 0 ok; 1 bad input (description, table or file); 2 usage error."


def _tables() -> Any:
    from ..engine.registry import TABLES
    return TABLES


def _err(message: str) -> None:
    echo(message, err=True)


def _usage(message: str) -> NoReturn:
    _err(f"error: {message}")
    raise Exit(2)


def _report(diags: list[Diagnostic], prefix: str = "") -> None:
    for diag in diags:
        _err(f"{prefix}{diag}")


def _fail(exc: AcpiTablesError, prefix: str = "") -> Exit:
    if isinstance(exc, DescriptionError):
        _report(exc.problems)
        _report(exc.warnings)
        n = len(exc.problems)
        _err(f"{n} error{'s' if n != 1 else ''}; nothing written")
    else:
        _err(f"{prefix}error: {exc}")
    return Exit(1)


class _File:
    """An operand that names a file: never read as YAML text, whatever its
    name holds (a line break), and no pathlib import for it (issue 11)."""
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __fspath__(self) -> str:
        return self.name


def _replaced(target: str) -> Optional[os.stat_result]:
    try:
        return os.stat(target)
    except OSError:
        return None


def _new_mode() -> int:
    """What open() gives a new file: 0666 less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_beside(target: str) -> tuple[int, str]:
    """A new, empty 0600 file next to `target` for the atomic replace, as
    tempfile.mkstemp makes it (same flags), without importing tempfile and
    random for every command that writes (issue 11: start-up)."""
    flags = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    for _ in range(100):
        folder, base = os.path.split(target)
        name = os.path.join(folder or ".", f".{base}.{os.urandom(6).hex()}")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name beside {target}")


def write_output(output: str, data: bytes | str, force: bool = False) -> None:
    """Write `data` to `output` ('-' is stdout) by the rules in the module
    docstring. Binary never goes to a terminal unless forced. Text is
    UTF-8; a file name in it that is not (surrogates, PEP 383) goes out as
    the bytes it was."""
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    if output == "-":
        if isinstance(data, bytes) and sys.stdout.isatty() and not force:
            _usage("refusing to write a binary table to a terminal (use -o FILE, or --force)")
        sys.stdout.buffer.write(blob)
        sys.stdout.flush()
        return
    # os.path, not pathlib: a command need not import it (issue 11).
    target = output
    try:
        if os.path.exists(target) and not os.path.isfile(target):
            # /dev/null, a FIFO, /dev/stdout: write into it; replacing it
            # would put a regular file where a device was.
            with open(target, "wb") as fh:
                fh.write(blob)
            return
        old = _replaced(target)
        fd, tmp = _temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as fh:
                # mkstemp makes 0600: give the mode (and, where allowed, the
                # owner) of the file replaced, else the umask's.
                os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode) if old else _new_mode())
                if old is not None:
                    try:
                        os.fchown(fh.fileno(), old.st_uid, old.st_gid)
                    except OSError:
                        pass  # not root: the file becomes ours, as with any editor
                fh.write(blob)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        _err(f"error: cannot write {output}: {exc.strerror or exc}")
        raise Exit(1) from None


def _qemu_arg(signature: str, path: str) -> str:
    # QEMU's option parser reads ',' as a separator; ',,' is a literal comma.
    return f"-acpitable sig={signature},file={os.path.abspath(path).replace(',', ',,')}"


@command(epilog=EPILOG)
def build(
    description: str = Argument(..., metavar="FILE",
                                      help="YAML description ('-' for stdin)."),
    output: Optional[str] = Option(None, "-o", "--output", metavar="FILE",
                                         help="Table file to write ('-' for stdout; default: "
                                              "<signature>.aml, lower case)."),
    force: bool = Option(False, "--force", help="Replace the default output file if it "
                               "exists; allow binary on a terminal."),
    print_qemu_args: bool = Option(False, "--print-qemu-args",
                                         help="Print QEMU's -acpitable option for the written "
                                              "file on stdout (absolute path)."),
) -> None:
    """Compile a YAML description into a binary table."""
    from .. import api
    if print_qemu_args and output == "-":
        _usage("--print-qemu-args prints on stdout; write the table with -o FILE")
    try:
        if description == "-":
            # Bytes, not text: a non-UTF-8 byte is then a located error.
            built = api.build(sys.stdin.buffer.read(), "<stdin>")
        else:
            built = api.build(_File(description))
    except AcpiTablesError as exc:
        raise _fail(exc) from None
    _report(built.warnings)
    if output is None:
        output = f"{built.table.signature.lower()}.aml"
        if os.path.exists(output) and not force:
            _err(f"error: {output} exists; give -o {output} (or --force) to replace it")
            raise Exit(1)
    write_output(output, built.data, force)
    if print_qemu_args:
        echo(_qemu_arg(built.table.signature, output))


def _decode_all(input: str, signature: Optional[str]) -> Iterator[tuple[str, bytes, "Decoded"]]:
    from .. import api
    from ..formats import sources
    src = sources.read(input, signature)
    if src.skipped:
        _err(f"{input}: skipped {', '.join(src.skipped)}")
    for name, data in src.tables:
        yield name, data, api.decode(data)


def _format_names() -> list[str]:
    from ..formats import FORMATS
    return list(FORMATS)


def _format_help() -> str:
    from ..formats import FORMATS
    return "Formats: " + "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values()) + "."


def _acpica_release(value: Optional[str], format: str) -> Optional[int]:
    """--acpica: only for formats that take it; for dsl the default is the
    installed iasl's release, else the newest the dsl writer knows."""
    from .. import formats
    fmt = formats.get(format)
    if "acpica" not in fmt.options:
        if value is not None:
            _usage(f"--acpica applies to {', '.join(n for n, f in formats.FORMATS.items() if 'acpica' in f.options)}, "
                   f"not -f {format}")
        return None
    if value is None:
        from ..formats import dsl
        return formats.installed_acpica() or dsl.NEWEST
    try:
        return formats.parse_acpica(value)
    except ValueError as exc:
        _usage(f"--acpica: {exc}")


@command(epilog=f"{EPILOG}")
def decode(
    inputs: list[str] = Argument(..., metavar="INPUT...", help="Raw tables, sysfs/acpidump "
                                       "-b directories, acpidump text, globs, or '-' for stdin."),
    format: str = Option("text", "-f", "--format", metavar="FORMAT",
                               autocompletion=_format_names,
                               help="Output format: " + ", ".join(_format_names())
                               + "; with several inputs also jsonl (a record per table)."),
    output: str = Option("-", "-o", "--output", metavar="FILE",
                               help="File to write ('-' for stdout)."),
    signature: Optional[str] = Option(None, "--sig", metavar="SIG",
                                            help="Only this table (VIOT, IORT)."),
    acpica: Optional[str] = Option(None, "--acpica", metavar="VERSION",
                                         help="-f dsl: the iasl release to write for, YYYYMMDD "
                                              "(default: the installed iasl's, from iasl -v; "
                                              "else the newest known)."),
    strict: bool = Option(False, "--strict", help="Exit 1 when there are warnings or "
                                "errors (notes never fail)."),
    force: bool = Option(False, "--force", help="Allow binary on a terminal."),
) -> None:
    """Decode tables into text, a YAML description, JSON, acpidump text,
    iasl source or the raw bytes (see --format)."""
    from .. import formats
    from ..formats.sources import is_glob
    if format not in formats.FORMATS and format != "jsonl":
        _usage(f"unknown format {format!r} (known: {', '.join(formats.FORMATS)})")
    if inputs.count("-") > 1:
        _usage("'-' (stdin) can be given once")
    if len(inputs) > 1 or format == "jsonl" or any(is_glob(i) for i in inputs):
        _decode_many(inputs, format, output, signature, acpica, strict, force)
        return
    input = inputs[0]
    release = _acpica_release(acpica, format)
    decoded_all: list[Decoded] = []
    names: list[str] = []
    warned = False
    try:
        for name, data, decoded in _decode_all(input, signature):
            _report(decoded.warnings, f"{name}: ")
            warned = warned or _warns(decoded.warnings)
            decoded_all.append(decoded)
            names.append(name)
        result = formats.dump(decoded_all, format, acpica=release, names=names, output=output)
    except AcpiTablesError as exc:
        raise _fail(exc) from None
    write_output(output, result, force)
    if strict and warned:
        raise Exit(1)


def _warns(findings: list) -> bool:
    """--strict fails on warnings and errors; a note is cosmetic (issue 10)."""
    return any(f.severity != "note" for f in findings)


def _decode_many(inputs: list[str], format: str, output: str, signature: Optional[str],
                 acpica: Optional[str], strict: bool, force: bool) -> None:
    """decode over several inputs: each input's tables under its name, in
    input order; an input that cannot be read is named on stderr and the
    others still decoded; exit 1 when any input failed (or, --strict, warned)."""
    import json
    from .. import batch, formats
    from ..formats import render
    from ..formats.sources import is_glob
    if format != "jsonl" and formats.get(format).binary:
        _usage(f"the {format} format holds one table: give one INPUT")
    release = None if format == "jsonl" else _acpica_release(acpica, format)
    names = [n for arg in inputs for n in (batch.glob_inputs(arg) if is_glob(arg) else [arg])]
    blocks: list[str] = []
    records: list[dict] = []
    failed = warned = False
    for input in names:
        try:
            tables = list(_decode_all(input, signature))
            for name, _, decoded in tables:
                _report(decoded.warnings, f"{name}: ")
                warned = warned or _warns(decoded.warnings)
            if format == "jsonl":
                records += [{"input": name, "signature": decoded.table.signature,
                             "warnings": len(decoded.warnings),
                             "table": json.loads(render.as_json(decoded))}
                            for name, _, decoded in tables]
            elif format == "json":
                records.append({"input": input, "tables": [
                    {"name": name, **json.loads(render.as_json(decoded))}
                    for name, _, decoded in tables]})
            elif tables:
                rendered = formats.dump([t[2] for t in tables], format, acpica=release,
                                        names=[t[0] for t in tables], output=output)
                # Binary formats were refused above: this is text.
                text = rendered if isinstance(rendered, str) else rendered.decode("latin-1")
                blocks.append(text if format == "acpidump" else f"==> {input} <==\n{text}")
        except AcpiTablesError as exc:
            failed = True
            text = str(exc)
            _err(f"{'' if text.startswith(input) else input + ': '}error: {text}")
            if format in ("json", "jsonl"):
                records.append({"input": input, "error": text})
    if format == "jsonl":
        result = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    elif format == "json":
        result = json.dumps({"inputs": records}, indent=2) + "\n"
    else:
        result = "\n".join(blocks)
    if result:
        write_output(output, result, force)
    if failed or (strict and warned):
        raise Exit(1)


class FindingsFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    sarif = "sarif"


class Severity(str, Enum):
    note = "note"
    warning = "warning"
    error = "error"


VALIDATE_EPILOG = ("Exit status: 0 no input failed; 1 an input has a finding at or above "
                   "--fail-on (default error; --strict: warning) or cannot be read; 2 usage "
                   "error. INPUTS: tables, acpidump text, sysfs or acpidump -b directories, "
                   "YAML descriptions, globs, or '-' for stdin.")


def _codes(values: Optional[list[str]]) -> tuple[str, ...]:
    return tuple(c.strip() for v in values or [] for c in v.split(",") if c.strip())


def _progress_bar():
    """A progress callback drawing on stderr when it is a terminal; none
    when piped (a sweep's log stays clean)."""
    if not sys.stderr.isatty():
        return None, lambda: None

    import time
    last = [0.0]

    def draw(done: int, total: int) -> None:
        # At most ten redraws a second: a sweep of thousands stays cheap.
        now = time.monotonic()
        if done != total and now - last[0] < 0.1:
            return
        last[0] = now
        width = 30
        filled = width * done // total if total else width
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        sys.stderr.flush()

    def finish() -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()
    return draw, finish


def _run_batch(inputs: list[str], summary: bool, jobs: Optional[int]):
    from .. import batch
    if jobs is not None and jobs < 1:
        _err("error: --jobs must be at least 1")
        raise Exit(2)
    if inputs.count("-") > 1:
        _err("error: '-' (stdin) can be given once")
        raise Exit(2)
    items = batch.expand(inputs)
    draw, finish = _progress_bar()
    work = batch.summary_item if summary else batch.validate_item
    reports = [r for result in batch.run(items, work, jobs, draw) for r in result]
    finish()
    return reports


@command(epilog=VALIDATE_EPILOG)
def validate(
    inputs: list[str] = Argument(..., metavar="INPUT...", help="Tables, dumps, "
                                       "directories, descriptions, globs; '-' for stdin."),
    strict: bool = Option(False, "--strict", help="Warnings fail too (= --fail-on "
                                "warning)."),
    fail_on: Optional[Severity] = Option(None, "--fail-on", metavar="SEVERITY", help="Lowest severity that "
                                               "fails an input (default: error)."),
    select: Optional[list[str]] = Option(None, "--select", metavar="CODES", help="Only these codes or "
                                               "code prefixes (comma-separated, repeatable)."),
    ignore: Optional[list[str]] = Option(None, "--ignore", metavar="CODES", help="Drop these codes or "
                                               "code prefixes (comma-separated, repeatable)."),
    format: FindingsFormat = Option(FindingsFormat.text, "-f", "--format", metavar="FORMAT",
                                          help="text, json, jsonl (a record per table) or "
                                               "sarif (2.1.0)."),
    output: str = Option("-", "-o", "--output", metavar="FILE", help="File to write ('-' for stdout)."),
    jobs: Optional[int] = Option(None, "-j", "--jobs", metavar="N", help="Processes (default: every "
                                       "core)."),
) -> None:
    """Check tables and descriptions and list every finding."""
    from .. import batch
    from ..formats import findings as out
    if strict and fail_on is not None and fail_on is not Severity.warning:
        _err("error: --strict means --fail-on warning; give one of them")
        raise Exit(2)
    policy = batch.Policy(_codes(select), _codes(ignore),
                          "warning" if strict else (fail_on.value if fail_on else "error"))
    reports = [policy.apply(r) for r in _run_batch(inputs, False, jobs)]
    failed = [policy.fails(r) for r in reports]
    if not reports:
        _err(f"error: no table or description found in {', '.join(inputs)}")
        raise Exit(1)
    if format is FindingsFormat.json:
        text = out.render_json(reports, failed, __version__)
    elif format is FindingsFormat.jsonl:
        text = "".join(out.jsonl_record(r, f) for r, f in zip(reports, failed))
    elif format is FindingsFormat.sarif:
        text = out.render_sarif(reports, __version__)
    else:
        text = out.render_text(reports)
    write_output(output, text)
    if any(failed):
        raise Exit(1)


class SummaryFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


@command(epilog=VALIDATE_EPILOG.replace("a finding at or above --fail-on (default error; "
                                            "--strict: warning) or cannot be read",
                                            "an error finding or cannot be read"))
def summary(
    inputs: list[str] = Argument(..., metavar="INPUT...", help="Tables, dumps, "
                                       "directories, descriptions, globs; '-' for stdin."),
    format: SummaryFormat = Option(SummaryFormat.text, "-f", "--format", metavar="FORMAT",
                                         help="text, json or jsonl (a record per table)."),
    output: str = Option("-", "-o", "--output", metavar="FILE", help="File to write ('-' for stdout)."),
    jobs: Optional[int] = Option(None, "-j", "--jobs", metavar="N", help="Processes (default: every "
                                       "core)."),
) -> None:
    """Per table: nodes by kind, which IOMMU translates which segments and
    buses, what bypasses, findings by severity (like acpidump -s)."""
    import json
    from .. import batch
    from ..formats import summary as view
    policy = batch.Policy()
    reports = _run_batch(inputs, True, jobs)
    failed = [policy.fails(r) for r in reports]
    if not reports:
        _err(f"error: no table or description found in {', '.join(inputs)}")
        raise Exit(1)
    if format is SummaryFormat.json:
        text = json.dumps([r.as_dict() for r in reports], indent=2) + "\n"
    elif format is SummaryFormat.jsonl:
        text = "".join(json.dumps(r.as_dict(), separators=(",", ":")) + "\n" for r in reports)
    else:
        text = view.render_text(reports)
    write_output(output, text)
    if any(failed):
        raise Exit(1)


def _is_table(path: str) -> bool:
    from ..formats import acpidump
    if os.path.isdir(path):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False
    if head[:4].decode("latin-1") in _tables():
        return True
    try:
        return acpidump.looks_like_dump(head.decode("ascii"))
    except UnicodeDecodeError:
        return True


@command(epilog=EPILOG)
def schema(
    table: str = Argument("VIOT", metavar="TABLE",
                                help="Table whose description schema to show."),
    path: bool = Option(False, "--path", help="Print the schema file's path instead."),
) -> None:
    """Print the JSON Schema of a table's description (for editors)."""
    from ..engine.description import load_schema, schema_path
    tables = _tables()
    spec = tables.get(table.upper())
    if spec is None:
        _usage(f"unknown table {table!r} (known: {', '.join(tables)})")
    if path:
        echo(schema_path(spec.schema))
    else:
        import json
        echo(json.dumps(load_schema(spec.schema), indent=2))


# ----------------------------------------------------------------------------
# map / agree / export-dt: the RID-to-IOMMU mapper (acpitables.mapper, dt,
# mapper_io). Owned by the mapper; keep edits to this section.
# ----------------------------------------------------------------------------

MAP_EPILOG = ("Exit status: 0 ok; 1 bad input (or, for agree, the inputs differ); 2 usage "
              "error. INPUT: a YAML description, a table file / directory / acpidump text "
              "(IORT then VIOT, as Linux tries them), or a .dts / .dtb.")


class MapFormat(str, Enum):
    text = "text"
    json = "json"


class MapManyFormat(str, Enum):
    """map's formats: jsonl (a record per input) is for sweeps."""
    text = "text"
    json = "json"
    jsonl = "jsonl"


class Compat(str, Enum):
    linux_7_2 = "linux-7.2"
    linux_7_1 = "linux-7.1"
    linux_5_2 = "linux-5.2"


def _stdin_as_file() -> str:
    """Standard input as a file the mapper can open by name (it tells a
    description, a table, acpidump text and a .dtb apart by content; no
    suffix is given, so content decides). Removed when the process ends."""
    import atexit
    import shutil
    import tempfile
    directory = tempfile.mkdtemp(prefix="acpitables-stdin.")
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, "stdin")
    with open(path, "wb") as fh:
        fh.write(sys.stdin.buffer.read())
    return path


def _open_mapper(input: str, compat: "Compat", node: Optional[str],
                 topology: Any = None, cmdline: Optional[str] = None) -> "Mapper":
    from ..mapping import io as mapper_io
    path = _stdin_as_file() if input == "-" else input
    try:
        return mapper_io.open_mapper(path, compat.value, node, topology, cmdline)
    except AcpiTablesError as exc:
        text = str(exc)
        if input == "-":
            if isinstance(exc, DescriptionError):
                from dataclasses import replace
                exc = DescriptionError(
                    [replace(d, file="<stdin>") if d.file == path else d for d in exc.problems],
                    [replace(d, file="<stdin>") if d.file == path else d for d in exc.warnings])
                raise _fail(exc) from None
            text = text.replace(path, "<stdin>")
            _err(f"{'' if text.startswith('<stdin>') else '<stdin>: '}error: {text}")
            raise Exit(1) from None
        raise _fail(exc, f"{input}: " if not text.startswith(input) else "") from None


def _dt_from_values(iommu_map: Optional[str], iommu_mask: Optional[int], msi_map: Optional[str],
                    msi_mask: Optional[int], segment: int, compat: "Compat") -> "Mapper":
    """A one-host-bridge DT mapper from property values typed on the
    command line."""
    from ..mapping.dt import DtHost, DtMapper, map_from_text
    try:
        return DtMapper([DtHost("command line", segment,
                                map_from_text(iommu_map, iommu_mask, compat=compat.value),
                                map_from_text(msi_map, msi_mask, compat=compat.value, msi=True))])
    except AcpiTablesError as exc:
        raise _fail(exc) from None


def _int_option(value: Optional[str], what: str) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value, 0)
    except ValueError:
        _err(f"error: {what} {value!r} is not a number (write 0x... or decimal)")
        raise Exit(2) from None


def _parse_rid(rid: str, segment: Optional[int]) -> tuple[int, int]:
    """--rid (bb:dd.f, ssss:bb:dd.f or a requester ID) and --segment ->
    (segment, RID); a bad or contradicting value is a usage error."""
    from ..engine.pci import BdfError, parse_bdf
    try:
        seg_in_rid, ident = parse_bdf(int(rid, 0) if rid.lower().startswith("0x")
                                      or rid.isdigit() else rid)
    except (BdfError, ValueError) as exc:
        _err(f"error: --rid: {exc}")
        raise Exit(2) from None
    if seg_in_rid is not None and segment is not None and seg_in_rid != segment:
        _err(f"error: --rid names segment {seg_in_rid}, --segment says {segment}")
        raise Exit(2)
    return (segment if segment is not None else (seg_in_rid or 0)), ident


def _span_text(span: Any, segment: int) -> str:
    from ..mapping.results import Translated
    from ..engine.pci import format_bdf
    bdfs = format_bdf(span.start)
    if span.end != span.start:
        bdfs += f"..{format_bdf(span.end)}"
    head = f"0x{span.start:04x}..0x{span.end:04x}  {bdfs:<16}  "
    r = span.result
    if not isinstance(r, Translated):
        return head + str(r)
    if not r.id_cells:
        return f"{head}-> {r.iommu} (no ID: #iommu-cells = <0>)"
    text = f"{head}-> {r.iommu} 0x{r.output_id:x}"
    if span.end != span.start:
        text += " (every ID)" if span.step == 0 else \
            f"..0x{(r.output_id + span.end - span.start) & 0xFFFFFFFF:x}"
    if r.more_ids:      # an IVRS alias: the same further ID for the whole span
        text += " and " + ", ".join(f"0x{i:x}" for i in r.more_ids)
    from ..mapping.pcitopo import assumption_of
    assumption = assumption_of(r)
    if assumption:
        text += f" (assuming {assumption})"
    return text


# Options several mapper commands share, declared once.
RID = Option(None, "--rid", metavar="RID", help="PCI function: bb:dd.f, ssss:bb:dd.f or a "
             "requester ID (0x0010).")
SEGMENT = Option(None, "--segment", metavar="N", help="PCI segment (default 0, or the one "
                 "written in --rid).")
COMPAT = Option(Compat.linux_7_2, "--compat", metavar="LINUX", help="DT: which Linux "
                "of_map_id() to follow.")
DEVICE = Option(None, "--device", metavar="PATH", help="Platform device: an ACPI path (IORT "
                "named component, RIMT platform device, DMAR ANDD, e.g. '\\_SB_.PCI0.DEV0') "
                "or an IVRS ACPI HID entry's 'HID:UID'.")
ADDRESS = Option(None, "--address", metavar="ADDRESS", help="VIOT MMIO endpoint by base "
                 "address.")
INPUT_ID = Option(None, "--id", metavar="ID", help="With --device: an input ID (as "
                  "fsl-mc-like buses pass).")
MSI = Option(False, "--msi", help="The MSI path (IORT ITS group / DT msi-map) instead of the "
             "IOMMU.")


@command("map", epilog=MAP_EPILOG)
def map_command(
    inputs: Optional[list[str]] = Argument(None, metavar="[INPUT...]", help="Descriptions, "
                                                 "tables, dumps, directories, globs or .dts/.dtb "
                                                 "(omit when giving DT property values)."),
    rid: Optional[str] = RID,
    segment: Optional[int] = SEGMENT,
    device: Optional[str] = DEVICE,
    address: Optional[str] = ADDRESS,
    input_id: Optional[str] = INPUT_ID,
    all_ids: bool = Option(False, "--all", help="The whole 16-bit ID space of each "
                                 "segment as ranges."),
    msi: bool = MSI,
    format: MapManyFormat = Option(MapManyFormat.text, "-f", "--format", metavar="FORMAT",
                                         help="Output format: text, json, jsonl (a record per "
                                         "input)."),
    compat: Compat = COMPAT,
    node: Optional[str] = Option(None, "--node", metavar="NODE", help="DT: the host bridge node (path or "
                                       "label) when several have iommu-map."),
    iommu_map: Optional[str] = Option(None, "--iommu-map", metavar="CELLS", help="DT iommu-map value as "
                                            "in .dts, e.g. '<0x0 &smmu 0x0 0x10000>'."),
    iommu_map_mask: Optional[str] = Option(None, "--iommu-map-mask", metavar="MASK",
                                                 help="DT iommu-map-mask value."),
    msi_map: Optional[str] = Option(None, "--msi-map", metavar="CELLS", help="DT msi-map value."),
    msi_map_mask: Optional[str] = Option(None, "--msi-map-mask", metavar="MASK",
                                               help="DT msi-map-mask value."),
    topology: Optional[str] = Option(None, "--topology", metavar="PATH", help="The machine's "
                                           "PCI functions: a copy of /sys/bus/pci/devices (folder "
                                           "or .tar[.gz]), a snapshot, or lspci -vmm -D / -tv text. "
                                           "Names devices and applies Linux's DMA aliases; alone, "
                                           "maps every function in it."),
    cmdline: Optional[str] = Option(None, "--cmdline", metavar="CMDLINE", help="The kernel "
                                          "command line: its ivrs_acpihid, ivrs_ioapic and "
                                          "ivrs_hpet overrides change IVRS answers, e.g. "
                                          "'ivrs_acpihid=AMDI0020:0@00:14.5'."),
) -> None:
    """Which IOMMU translates a device, with which ID -- or does it bypass?"""
    import json
    from ..engine.pci import format_bdf
    topo = None
    if topology is not None:
        from ..mapping.topology_io import read_topology
        try:
            topo = read_topology(topology)
        except AcpiTablesError as exc:
            raise _fail(exc, f"{topology}: " if not str(exc).startswith(topology) else "") from None
        if msi:
            _err("error: --topology maps the IOMMU path; leave out --msi")
            raise Exit(2)
    chosen = sum(x is not None for x in (rid, device, address)) + all_ids
    input = inputs[0] if inputs and len(inputs) == 1 else None
    if topo is not None and inputs and len(inputs) > 1:
        _err("error: --topology describes one machine: give one INPUT")
        raise Exit(2)
    if topo is not None and chosen == 0 and (input is not None or any(
            p is not None for p in (iommu_map, msi_map))):
        m = _open_mapper(input, compat, node, topo, cmdline) if input is not None else \
            _dt_from_values(iommu_map, _int_option(iommu_map_mask, "--iommu-map-mask"),
                            msi_map, _int_option(msi_map_mask, "--msi-map-mask"),
                            segment or 0, compat)
        _topology_map(m, topo, input or "<command line>", format, segment)
        return
    if chosen != 1:
        _err("error: give exactly one of --rid, --device, --address, --all")
        raise Exit(2)
    props = (iommu_map, iommu_map_mask, msi_map, msi_map_mask)
    inputs = list(inputs or [])
    from ..formats.sources import is_glob
    if inputs and (len(inputs) > 1 or format is MapManyFormat.jsonl
                   or any(is_glob(i) for i in inputs)):
        if not all(p is None for p in props):
            _err("error: give INPUT files, or DT property values (--iommu-map/--msi-map ...), "
                 "not both")
            raise Exit(2)
        if inputs.count("-") > 1:
            _err("error: '-' (stdin) can be given once")
            raise Exit(2)
        from .. import batch
        _map_many([n for a in inputs for n in (batch.glob_inputs(a) if is_glob(a) else [a])],
                  dict(rid=rid, segment=segment, device=device, address=address,
                       input_id=input_id, all_ids=all_ids, msi=msi, compat=compat, node=node,
                       cmdline=cmdline),
                  format)
        return
    input = inputs[0] if inputs else None
    if (input is None) == all(p is None for p in props):
        _err("error: give an INPUT file, or DT property values (--iommu-map/--msi-map ...), "
             "not both")
        raise Exit(2)
    if input is None:
        m = _dt_from_values(iommu_map, _int_option(iommu_map_mask, "--iommu-map-mask"), msi_map,
                            _int_option(msi_map_mask, "--msi-map-mask"), segment or 0, compat)
        input = "<command line>"
    else:
        m = _open_mapper(input, compat, node, topo, cmdline)
    if all_ids:
        segs = [segment] if segment is not None else m.segments()
        result = {seg: m.segment_map(seg, msi).spans for seg in segs}
        if format is MapManyFormat.json:
            echo(json.dumps({"input": input, "path": "msi" if msi else "iommu",
                                   "segments": {str(seg): [s.as_dict() for s in spans]
                                                for seg, spans in result.items()}}, indent=2))
        else:
            for seg, spans in result.items():
                echo(f"segment {seg} ({'MSI' if msi else 'IOMMU'}):")
                for s in spans:
                    echo("  " + _span_text(s, seg))
        _skipped(m)
        return
    if rid is not None:
        seg, ident = _parse_rid(rid, segment)
        found = topo.get(seg, ident) if topo is not None else None
        if found is not None:
            _topology_map(m, topo, input, format, None, [found])
            return
        r = m.lookup(ident, seg, msi)
        what = f"{format_bdf(ident, seg)} (RID 0x{ident:04x})"
        if topo is not None:
            what += " (not in the topology: no DMA aliases applied)"
    elif device is not None:
        if not hasattr(m, "lookup_device"):
            _err(f"error: --device needs an IORT; {input} is a {m.kind} input")
            raise Exit(1)
        r = m.lookup_device(device, _int_option(input_id, "--id"), msi)
        what = device
    else:
        if not hasattr(m, "lookup_address"):
            _err(f"error: --address needs a VIOT; {input} is a {m.kind} input")
            raise Exit(1)
        base = _int_option(address, "--address")
        r = m.lookup_address(base)
        what = f"MMIO 0x{base:x}"
    if format is MapManyFormat.json:
        echo(json.dumps({"input": input, "device": what, **r.as_dict()}, indent=2))
    else:
        echo(f"{what}: {r}")
    _skipped(m)


def _topology_map(m, topo, input: str, format: "MapManyFormat", segment: Optional[int],
                  devices: Optional[list] = None) -> None:
    """map --topology: each function of the machine, over its DMA aliases."""
    import json
    from ..mapping.topology import alias_text, device_result
    devs = devices if devices is not None else [
        d for d in topo if segment is None or d.segment == segment]
    if format.value == "json":
        echo(json.dumps({"input": input, "topology": topo.source, "notes": topo.notes,
                               "devices": [device_result(topo, m, d) for d in devs]}, indent=2))
    else:
        for d in devs:
            echo(f"{d.label()}: {topo.lookup(m, d)}{alias_text(topo, d, m)}")
        for n in topo.notes:
            _err(f"{topo.source}: note: {n}")
    _skipped(m)


def _map_many(inputs: list[str], opts: dict, format: "MapManyFormat") -> None:
    """map over several inputs, each answered under its name, in order; one
    that cannot be read or asked is named on stderr and the others still
    answered; exit 1 when any failed (or had tables skipped)."""
    import json
    from ..engine.pci import format_bdf
    from ..errors import InputError
    from ..mapping import io as mapper_io
    rid, segment, msi = opts["rid"], opts["segment"], opts["msi"]
    ident: Optional[int] = None
    seg = 0
    if rid is not None:  # one parse for every input: a bad --rid is a usage error
        seg, ident = _parse_rid(rid, segment)
    input_id = _int_option(opts["input_id"], "--id")
    base = _int_option(opts["address"], "--address") if opts["address"] is not None else None
    records: list[dict] = []
    lines: list[str] = []
    failed = False
    for input in inputs:
        name = "<stdin>" if input == "-" else input
        try:
            m = mapper_io.open_mapper(_stdin_as_file() if input == "-" else input,
                                      opts["compat"].value, opts["node"],
                                      cmdline=opts.get("cmdline"))
            for d in getattr(m, "skipped", ()):
                _err(f"{name}: error: {d} (table skipped)")
                failed = True
            if opts["all_ids"]:
                segs = [segment] if segment is not None else m.segments()
                result = {s: m.segment_map(s, msi).spans for s in segs}
                records.append({"input": name, "path": "msi" if msi else "iommu",
                                "segments": {str(s): [x.as_dict() for x in spans]
                                             for s, spans in result.items()}})
                for s, spans in result.items():
                    lines.append(f"{name}: segment {s} ({'MSI' if msi else 'IOMMU'}):")
                    lines += ["  " + _span_text(x, s) for x in spans]
                continue
            if ident is not None:
                r, what = m.lookup(ident, seg, msi), f"{format_bdf(ident, seg)} (RID 0x{ident:04x})"
            elif opts["device"] is not None:
                if not hasattr(m, "lookup_device"):
                    raise InputError(f"--device needs an IORT; this is a {m.kind} input")
                r, what = m.lookup_device(opts["device"], input_id, msi), opts["device"]
            else:
                if not hasattr(m, "lookup_address"):
                    raise InputError(f"--address needs a VIOT; this is a {m.kind} input")
                r, what = m.lookup_address(base), f"MMIO 0x{base:x}"
            records.append({"input": name, "device": what, **r.as_dict()})
            lines.append(f"{name}: {what}: {r}")
        except AcpiTablesError as exc:
            failed = True
            text = str(exc)
            if isinstance(exc, DescriptionError):
                _report(exc.problems)
            _err(f"{'' if text.startswith(name) else name + ': '}error: {text}")
            records.append({"input": name, "error": text})
    if format is MapManyFormat.json:
        echo(json.dumps({"inputs": records}, indent=2))
    elif format is MapManyFormat.jsonl:
        for rec in records:
            echo(json.dumps(rec, separators=(",", ":")))
    else:
        for line in lines:
            echo(line)
    if failed:
        raise Exit(1)


@command("explain", epilog=MAP_EPILOG)
def explain_command(
    input: str = Argument(..., metavar="INPUT", help="Description, table(s) or .dts/.dtb."),
    rid: Optional[str] = RID,
    segment: Optional[int] = SEGMENT,
    device: Optional[str] = DEVICE,
    address: Optional[str] = ADDRESS,
    input_id: Optional[str] = INPUT_ID,
    msi: bool = MSI,
    format: MapFormat = Option(MapFormat.text, "-f", "--format", metavar="FORMAT", help="Output format: text, json."),
    compat: Compat = COMPAT,
    node: Optional[str] = Option(None, "--node", metavar="NODE", help="DT: the host bridge node."),
) -> None:
    """The walk Linux takes for one device, step by step, and its answer."""
    import json
    from ..mapping import explain as ex
    if sum(x is not None for x in (rid, device, address)) != 1:
        _err("error: give exactly one of --rid, --device, --address")
        raise Exit(2)
    m = _open_mapper(input, compat, node)
    if rid is not None:
        seg, ident = _parse_rid(rid, segment)
        e = ex.explain_rid(m, ident, seg, msi)
    elif device is not None:
        e = ex.explain_device(m, device, _int_option(input_id, "--id"), msi)
    else:
        e = ex.explain_address(m, _int_option(address, "--address") or 0)   # given: not None
    if format is MapFormat.json:
        echo(json.dumps({"input": input, **e.as_dict()}, indent=2))
    else:
        echo(e.text())
    _skipped(m)


class GraphFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"
    svg = "svg"
    png = "png"


@command("graph", epilog=MAP_EPILOG)
def graph_command(
    input: str = Argument(..., metavar="INPUT", help="Description, table(s) or .dts/.dtb."),
    format: GraphFormat = Option(GraphFormat.dot, "-f", "--format", metavar="FORMAT",
                                       help="dot, mermaid, svg or png (svg/png need Graphviz)."),
    output: str = Option("-", "-o", "--output", metavar="FILE", help="File to write ('-' for stdout)."),
    compat: Compat = COMPAT,
    node: Optional[str] = Option(None, "--node", metavar="NODE", help="DT: the host bridge node."),
) -> None:
    """Draw the topology: IOMMUs, MSI controllers, root complexes, devices, ID ranges."""
    from ..formats import graph
    path = _stdin_as_file() if input == "-" else input
    try:
        g = graph.from_input(path, compat.value, node)
        if format is GraphFormat.dot:
            data: bytes | str = graph.to_dot(g)
        elif format is GraphFormat.mermaid:
            data = graph.to_mermaid(g)
        else:
            data = graph.render(g, format.value)
            if format is GraphFormat.svg:
                data = data.decode("utf-8")      # text: fine on a terminal, unlike PNG
    except AcpiTablesError as exc:
        raise _fail(exc, f"{input}: " if not str(exc).startswith(path) else "") from None
    write_output(output, data)


def _skipped(m) -> None:
    """Tables of a directory or dump that did not decode: named, and the
    exit status says the input was not all good."""
    for d in getattr(m, "skipped", ()):
        _err(f"error: {d} (table skipped)")
    if getattr(m, "skipped", ()):
        raise Exit(1)


@command(epilog=MAP_EPILOG)
def agree(
    a: str = Argument(..., metavar="A", help="First input ('-' for stdin)."),
    b: str = Argument(..., metavar="B", help="Second input ('-' for stdin)."),
    segment: Optional[int] = Option(None, "--segment", metavar="N", help="Only this segment "
                                          "(default: every segment either input names)."),
    msi: bool = Option(False, "--msi", help="Compare the MSI path instead."),
    by_name: bool = Option(False, "--by-name", help="IOMMUs must have equal names "
                                 "(default: compare which RIDs share an IOMMU)."),
    limit: int = Option(10, "--limit", metavar="N", help="Differences to print."),
    format: MapFormat = Option(MapFormat.text, "-f", "--format", metavar="FORMAT", help="Output format: text, json."),
    compat: Compat = COMPAT,
) -> None:
    """Do two inputs agree on every RID of the 16-bit space? Exit 1 if not."""
    import json
    from ..mapping import io as mapper_io
    from ..engine.pci import format_bdf
    if a == b == "-":
        _usage("only one of A and B can be standard input")
    # As with diff (and cmp): 1 means "they differ", so an input that
    # cannot be read is trouble, 2.
    try:
        ma, mb = _open_mapper(a, compat, None), _open_mapper(b, compat, None)
    except Exit as exc:
        raise Exit(2 if exc.code == 1 else exc.code) from None
    res = mapper_io.agree(ma, mb, [segment] if segment is not None else None, msi, by_name)
    if format is MapFormat.json:
        out = res.as_dict()
        out["differences"] = out["differences"][:limit]
        echo(json.dumps(out, indent=2))
    else:
        for d in res.differences[:limit]:
            rng = format_bdf(d.first, d.segment)
            if d.last != d.first:
                rng += f"..{format_bdf(d.last, d.segment)}"
            echo(f"{rng}: {d.kind} differs: A {d.a}; B {d.b}")
        if len(res.differences) > limit:
            echo(f"... {len(res.differences) - limit} more differing ranges")
        segs = ", ".join(str(s) for s in res.segments)
        if res.ok:
            pairs = ", ".join(f"{k}={v}" for k, v in res.pairs.items())
            echo(f"agree: every RID of segment(s) {segs}"
                       + (f" (IOMMUs paired: {pairs})" if pairs and not by_name else ""))
        else:
            echo(f"differ: {res.differing_ids} RID(s) in {len(res.differences)} range(s) "
                       f"of segment(s) {segs}")
    if not res.ok:
        raise Exit(1)


@command("export-dt", epilog=MAP_EPILOG)
def export_dt(
    input: str = Argument(..., metavar="INPUT", help="A description or table(s) ('-' for stdin)."),
    output: str = Option("-", "-o", "--output", metavar="FILE", help="File to write ('-' for stdout)."),
    standalone: bool = Option(False, "--standalone", help="A whole .dts with stub IOMMU "
                                    "and MSI controller nodes (dtc compiles it)."),
    host_label: str = Option("pcie{segment}", "--host-label", metavar="TEMPLATE", help="Label of each "
                                   "segment's host bridge node ({segment} is replaced)."),
) -> None:
    """The iommu-map (and msi-map) saying what a VIOT / IORT says, as .dts."""
    from ..mapping import dt
    _check_label_template(host_label)
    m = _open_mapper(input, Compat.linux_7_2, None)
    if m.kind == "DT":
        _err("error: export-dt reads a description or ACPI tables, not a Devicetree")
        raise Exit(1)
    source = "<stdin>" if input == "-" else os.path.basename(input)
    try:
        exp = dt.export_dt(m)
    except AcpiTablesError as exc:
        raise _fail(exc, f"{source}: ") from None
    write_output(output, dt.render_dts(exp, source, standalone, host_label))


DT_LABEL_MAX = 31  # Devicetree spec 6.2: a label is 1 to 31 characters


def _check_label_template(template: str) -> None:
    """--host-label must make a valid DT label for every segment: only the
    {segment} field (with an ordinary format spec), no width that would
    make a label longer than DT allows. Checked before any input is read,
    so '{' or '{segment:>99999999}' is a usage error, not a crash or a
    100 MB label."""
    import re
    import string
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        _usage(f"--host-label {template!r}: {exc} (write {{segment}}, or {{{{ for a brace)")
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name != "segment" or conversion:
            _usage(f"--host-label {template!r}: only {{segment}} may be replaced, not "
                   f"{{{name}{'!' + conversion if conversion else ''}}}")
        widths = [int(w) for w in re.findall(r"\d+", spec or "")]
        if any(w > DT_LABEL_MAX for w in widths):
            _usage(f"--host-label {template!r}: a width over {DT_LABEL_MAX} (a DT label has "
                   f"at most {DT_LABEL_MAX} characters)")
    for segment in (0, 0xFFFF):
        try:
            label = template.format(segment=segment)
        except (ValueError, TypeError) as exc:
            _usage(f"--host-label {template!r}: {exc}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,%d}" % (DT_LABEL_MAX - 1), label):
            _usage(f"--host-label {template!r} gives {label!r} for segment {segment}: a DT "
                   f"label is 1-{DT_LABEL_MAX} letters, digits and '_', not starting with a "
                   "digit")

# ---------------------------- end of the mapper section ----------------------


DIFF_EPILOG = "Exit status: 0 the tables are identical; 1 they differ; 2 usage error or unreadable input."


def _one_table(input: str, signature: Optional[str]) -> bytes:
    """A diff operand: any decode input (raw table, directory, acpidump text,
    '-') holding one table after --sig, or a YAML description (built)."""
    from .. import api
    from ..formats import sources
    if input != "-" and not _is_table(input):
        return api.build(_File(input)).data
    src = sources.read(input, signature)
    if len(src.tables) != 1:
        names = ", ".join(name for name, _ in src.tables)
        raise Usage(f"{input} holds {len(src.tables)} tables ({names}); "
                                 f"choose one with --sig")
    return src.tables[0][1]


RECONCILE_EPILOG = ("Exit status: 0 the kernel did what the tables say for every probed "
                    "function; 1 a disagreement (or bad input); 2 usage error. Without "
                    "SNAPSHOT, reads this machine's /sys (as root: config space and dmesg). "
                    "See docs/reconcile.md.")


@command(epilog=RECONCILE_EPILOG)
def reconcile(
    snapshot: Optional[str] = Argument(None, metavar="[SNAPSHOT]", help="An `acpitables "
                                             "snapshot` / tools/iommu-snapshot.sh archive or "
                                             "folder (default: this running system)."),
    format: MapFormat = Option(MapFormat.text, "-f", "--format", metavar="FORMAT",
                                     help="Output format: text, json."),
) -> None:
    """Did the kernel do what the firmware tables say? Device by device."""
    import json
    from .. import reconcile as rec
    try:
        snap = rec.read_snapshot(snapshot) if snapshot is not None else \
            rec.snapshot_from_tree(rec.live_tree(), "this system")
        result = rec.reconcile(snap)
    except AcpiTablesError as exc:
        raise _fail(exc) from None
    if format is MapFormat.json:
        echo(json.dumps(result.as_dict(), indent=2))
    else:
        echo(rec.render_text(result), nl=False)
    if not result.ok:
        raise Exit(1)


@command(epilog="Exit status: 0 written; 1 cannot write; 2 usage error. "
             "Run as root for config space and the kernel log. tools/iommu-snapshot.sh "
             "takes the same archive without acpitables.")
def snapshot(
    output: str = Argument(..., metavar="OUT.tar.gz", help="Where to write the archive "
                                 "('-' for stdout)."),
    force: bool = Option(False, "--force", help="Write binary to a terminal."),
) -> None:
    """Save this system's ACPI tables, PCI functions, IOMMU groups and IOMMU
    log lines, for `acpitables reconcile` or a bug report."""
    from .. import reconcile as rec
    write_output(output, rec.tree_to_tar_gz(rec.live_tree()), force)


@command("diff", epilog=DIFF_EPILOG)
def diff_command(
    a: str = Argument(..., metavar="A", help="First table: raw, directory, acpidump text, YAML "
                            "description, or '-'."),
    b: str = Argument(..., metavar="B", help="Second table, in any of the same forms."),
    signature: Optional[str] = Option(None, "--sig", metavar="SIG", help="Pick this table (VIOT, IORT) "
                                            "from inputs that hold several."),
    context: int = Option(3, "-U", "--unified", metavar="N", help="Lines of context."),
) -> None:
    """Field-level difference of two tables, like a unified diff of their
    text decodes (fields matched by node and name, not by offset)."""
    from ..formats import diff as diffmod
    blobs = []
    for operand in (a, b):
        try:
            blobs.append(_one_table(operand, signature))
        except Usage as exc:
            _err(f"error: {exc}")
            raise Exit(2) from None
        except AcpiTablesError as exc:
            if isinstance(exc, DescriptionError):
                _report(exc.problems)
            else:
                text = str(exc)
                _err(f"error: {text}" if text.startswith(operand) else f"error: {operand}: {text}")
            raise Exit(2) from None
    text = diffmod.unified(blobs[0], blobs[1], a, b, context)
    if text:
        echo(text, nl=False)
        raise Exit(1)
