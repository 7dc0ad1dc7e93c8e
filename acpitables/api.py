"""acpitables: api.py -- the documented Python API.

    build(description)  -> Built     YAML description -> table bytes
    decode(table)       -> Decoded   table bytes -> Table + warnings
    describe(table)     -> dict      Decoded (or table bytes) -> description
    validate(input)     -> list      findings for a description or a table
    dump(decoded, fmt)  -> str|bytes a registered output format (formats.FORMATS)

What each accepts:

* a `pathlib.Path` (any `os.PathLike`): the file is read;
* `bytes` / `bytearray` / `memoryview`: the content itself (a table, or a
  description's UTF-8 text);
* an open file object, binary or text: read to its end (its `name`, when it
  has one, is used in messages);
* a `str`: **with a line break (or empty) it is YAML text; otherwise it
  names a file**, as `open()` would take it. So `build("board.yaml")` reads the
  file and `build(Path("board.yaml").read_text())` parses its text; a
  one-line YAML text must be passed as `io.StringIO(text)` or as bytes.
  (A file name never holds a line break, so a str that names a file is
  never parsed as YAML.) For decode, a str always names a file;
* build and validate also take already-loaded data (a dict).

Errors are raised as DescriptionError, TableError or InputError (all
AcpiTablesError), each located; warnings are returned, never printed.
"""
from __future__ import annotations

import io
import os
from dataclasses import replace
from typing import IO, Any, Mapping, NamedTuple, Union

from .engine import description as d
from .engine import yamlio
from .errors import DescriptionError, Diagnostic, InputError, TableError
from .engine.registry import TABLES, spec_for
from .engine.table import Decoded, Table, decode_table, encode_table

QEMU_ACPITABLE_MAX = 0xFFFF

#: What build/validate/decode read: a path, the content, or an open file.
Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], IO[str]]


class Built(NamedTuple):
    """What build() returns: the table bytes, the compiled table and the
    warnings found on the way. (A NamedTuple, so `data, table, warnings =
    build(...)` works too; cheaper to make at import than a dataclass.)"""

    data: bytes
    table: Table
    warnings: list[Diagnostic]


def _is_text_str(source: object) -> bool:
    # "" names no file either: it is the empty description.
    return isinstance(source, str) and (not source or "\n" in source or "\r" in source)


class _Unreadable(Exception):
    def __init__(self, name: str | None, why: str):
        super().__init__(why)
        self.name, self.why = name, why


def _read(source: Any, what: str) -> tuple[bytes | str, str | None]:
    """The content of a path, bytes or file object, and its name (None when
    it has none). A str without a line break is a path (module docstring)."""
    name: str | None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, (str, os.PathLike)):
        name = os.fsdecode(source)
        try:
            with open(name, "rb") as fh:  # open(), not pathlib: a decode need not import it
                return fh.read(), name
        except OSError as exc:
            raise _Unreadable(name, str(exc.strerror or exc)) from None
    read = getattr(source, "read", None)
    if callable(read):
        raw_name = getattr(source, "name", None)
        name = raw_name if isinstance(raw_name, str) else None
        try:
            content = read()
        except (OSError, ValueError) as exc:
            raise _Unreadable(name, str(getattr(exc, "strerror", None) or exc)) from None
        if not isinstance(content, (bytes, str)):
            raise _Unreadable(name, f"read() returned {type(content).__name__}, not bytes "
                                    "or str")
        return content, name
    raise TypeError(f"cannot read {what} from a {type(source).__name__} (give a Path, bytes, "
                    "a file object or a str)")


def _file_name(source: object) -> str:
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<file>"


def load_description(source: Source, filename: str | None = None) -> tuple[Any, str]:
    """A description (YAML text, a path, bytes or a file object; see the
    module docstring for a str) -> located plain data and the name used in
    messages. Raises DescriptionError, located."""
    if _is_text_str(source):
        text, filename = str(source), filename or "<description>"
    else:
        try:
            content, name = _read(source, "the description")
        except _Unreadable as exc:
            raise DescriptionError([Diagnostic("error", f"cannot read: {exc.why}",
                                               file=filename or exc.name
                                               or "<description>")]) from None
        filename = filename or name or "<description>"
        # yamlio decodes bytes itself, locating any that are not text
        return yamlio.load(content, filename), filename
    return yamlio.load(text, filename), filename


def compile_description(data: Any, filename: str = "<description>") -> tuple[Table, d.Problems]:
    p = d.Problems(data, filename)
    if not isinstance(data, dict):
        p.error((), "a description is a mapping with a 'table' key")
        p.raise_if_errors()
    sig = data.get("table")
    # `table:` may be anything YAML can write (a mapping, a list): only a
    # string can name a table, and an unhashable one must not reach the dict.
    if not isinstance(sig, str) or sig not in TABLES:
        if "table" in data:
            shown = repr(sig) if isinstance(sig, (str, int, float, bool, type(None))) else \
                f"a {'mapping' if isinstance(sig, dict) else 'list' if isinstance(sig, list) else type(sig).__name__}"
            p.error(("table",), f"unknown table {shown} (known: {', '.join(TABLES)})")
        else:
            p.error((), f"missing required key 'table' ({' or '.join(TABLES)})")
        p.raise_if_errors()
    spec = spec_for(sig)
    d.schema_problems(data, spec.schema, p)
    if p.errors:
        # Report what the semantic pass finds too; on data the schema
        # rejected it may stop early, and that is all right. A place the
        # schema already flagged is not reported twice.
        schema_errors = list(p.errors)
        try:
            spec.compile(data, p)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            pass
        # A generic schema message ("does not match ...") gives way to the
        # semantic pass's precise one at the same place.
        semantic = p.errors[len(schema_errors):]
        precise = {e.path for e in semantic}
        weak = {id(e) for e in p.weak}
        schema_errors = [e for e in schema_errors if id(e) not in weak or e.path not in precise]
        flagged = {e.path for e in schema_errors}
        p.errors = schema_errors + [e for e in semantic if e.path not in flagged]
        p.raise_if_errors()
    table = spec.compile(data, p)
    p.raise_if_errors()
    findings = spec.check(table)
    if data.get("lenient"):
        # The description asks to build despite errors (decode writes this
        # for tables that have them, so that they round-trip): warnings.
        findings = [replace(f, severity="warning") for f in findings]
    p.from_table(findings, spec.field_keys)
    p.raise_if_errors()
    return table, p


def build(source: Source | Mapping[str, Any], filename: str | None = None) -> Built:
    """Compile a description into table bytes.

    `source` is YAML text or a file (see the module docstring for what a
    str means), or already-loaded data (a dict, as yaml.safe_load gives).
    `filename` overrides the name used in messages. Raises DescriptionError
    with every problem located (file:line:col: path: message); warnings
    (the table builds, but Linux or QEMU may not like it) are returned in
    `Built.warnings`."""
    if isinstance(source, Mapping):
        data: Any = source
        filename = filename or "<description>"
    else:
        data, filename = load_description(source, filename)
    table, p = compile_description(data, filename)
    spec = spec_for(table.signature)
    try:
        blob = encode_table(table, spec)
    except TableError as exc:
        p.from_table([exc.diagnostic], spec.field_keys)  # at its node, or its header key
        p.raise_if_errors()
        raise
    if len(blob) > QEMU_ACPITABLE_MAX:
        p.warning((), f"the table is {len(blob)} bytes; QEMU's -acpitable takes at most "
                      f"{QEMU_ACPITABLE_MAX}")
    return Built(blob, table, p.warnings)


def _table_bytes(source: Source) -> bytes:
    if isinstance(source, io.TextIOBase):
        raise InputError(f"{_file_name(source)}: a table is bytes; open the file in binary "
                         "mode ('rb')")
    try:
        content, name = _read(source, "the table")
    except _Unreadable as exc:
        raise InputError(f"{exc.name or '<file>'}: cannot read: {exc.why}") from None
    if isinstance(content, str):
        raise InputError(f"{name or '<file>'}: a table is bytes; open the file in binary "
                         "mode ('rb')")
    return content


def decode(source: Source) -> Decoded:
    """Decode one table (any registered signature) leniently: what Linux
    would accept decodes, with warnings in `Decoded.warnings`; a table that
    cannot be walked raises TableError (offset, node, field).

    `source` is the table's bytes, a path (str or Path) or a binary file
    object. Bytes after the table's Length are not part of it
    (`Decoded.size` says how many were used). For acpidump text or a
    directory of tables, see acpitables.formats.sources.read()."""
    data = _table_bytes(source)
    if len(data) < 4:
        raise TableError(f"{len(data)} byte{'s' if len(data) != 1 else ''} is too short for a "
                         f"table header", offset=0)
    spec = spec_for(bytes(data[:4]))
    decoded = decode_table(bytes(data), spec)
    decoded.warnings.extend(spec.check(decoded.table))  # each with its code and severity
    return decoded


def describe(decoded: Decoded | Source) -> dict[str, Any]:
    """The description (plain data, ready for YAML) that builds back to
    exactly the decoded bytes, the checksum corrected. Takes a Decoded or
    anything decode() takes."""
    if not isinstance(decoded, Decoded):
        decoded = decode(decoded)
    spec = decoded.spec or spec_for(decoded.table.signature)
    from .engine import collector
    with collector.paused():  # a tree of new dicts and ints, nothing cyclic
        return spec.describe(decoded.table)


def validate(source: Decoded | Source | Mapping[str, Any],
             filename: str | None = None) -> list[Diagnostic]:
    """Findings for a table or a description.

    A Decoded, bytes or a file whose first four bytes are a registered
    signature (VIOT, IORT) is a table: its findings are returned, and
    TableError is raised when it cannot be walked at all. Anything else is
    a description (same rules as build()): the findings of a description
    that builds are returned, and DescriptionError lists the problems of
    one that does not."""
    if isinstance(source, Decoded):
        return list(source.warnings)
    if isinstance(source, Mapping) or _is_text_str(source):
        return validate_description(source, filename)
    try:
        content, name = _read(source, "the input")
    except _Unreadable as exc:
        raise InputError(f"{exc.name or filename or '<file>'}: cannot read: {exc.why}") from None
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")  # text, never a file name
    if content[:4].decode("latin-1") in TABLES:
        return decode(content).warnings
    return validate_description(content, filename or name)


def validate_description(source: Source | Mapping[str, Any],
                         filename: str | None = None) -> list[Diagnostic]:
    """Warnings of a valid description; raises DescriptionError otherwise."""
    return build(source, filename).warnings


def validate_table(source: Source) -> list[Diagnostic]:
    """Findings for a table (warnings); raises TableError when the table
    cannot be walked at all."""
    return decode(source).warnings


def dump(decoded: Decoded | list[Decoded], format: str = "text", *, acpica: int | None = None,
         names: list[str] | tuple[str, ...] = (), output: str | None = None) -> str | bytes:
    """Render decoded tables in a registered format (acpitables.formats.FORMATS:
    text, yaml, json, acpidump, dsl, binary): str for text formats, bytes for
    binary. `acpica` is dsl's target iasl release (YYYYMMDD); `names` label
    each table in yaml's comments; `output`, the file the text will be
    written to, makes yaml's schema modeline relative to it."""
    from . import formats
    return formats.dump(decoded, format, acpica=acpica, names=names, output=output)
