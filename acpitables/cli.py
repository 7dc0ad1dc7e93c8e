"""acpitables: cli.py -- the command line, a thin layer over acpitables.api.

Exit codes: 0 ok, 1 bad input (or, for diff/validate --strict, a finding),
2 usage. Messages go to stderr, results to stdout or -o FILE. Outputs are
written atomically: a failed command never clobbers an existing file.
"""
from __future__ import annotations

import os
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import __version__, acpidump, api, render, sources
from .description import load_schema, schema_path
from .errors import AcpiTablesError, DescriptionError, Diagnostic
from .registry import TABLES

EPILOG = "Exit status: 0 ok; 1 bad input (description, table or file); 2 usage error."
app = typer.Typer(add_completion=True, no_args_is_help=True, help=(
    "Build, decode and check ACPI VIOT and IORT tables (which IOMMU translates which "
    "device)."), epilog=EPILOG, pretty_exceptions_enable=False)


class Format(str, Enum):
    text = "text"
    yaml = "yaml"
    json = "json"
    acpidump = "acpidump"


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _report(diags: list[Diagnostic], prefix: str = "") -> None:
    for diag in diags:
        _err(f"{prefix}{diag}")


def _fail(exc: AcpiTablesError, prefix: str = "") -> typer.Exit:
    if isinstance(exc, DescriptionError):
        _report(exc.problems)
        _report(exc.warnings)
        n = len(exc.problems)
        _err(f"{n} error{'s' if n != 1 else ''}; nothing written")
    else:
        _err(f"{prefix}error: {exc}")
    return typer.Exit(1)


def write_output(output: str, data: bytes | str, force: bool = False) -> None:
    """Write atomically; '-' is stdout. Binary never goes to a terminal
    unless forced."""
    blob = data.encode() if isinstance(data, str) else data
    if output == "-":
        if isinstance(data, bytes) and sys.stdout.isatty() and not force:
            _err("error: refusing to write a binary table to a terminal (use -o FILE, or --force)")
            raise typer.Exit(2)
        sys.stdout.buffer.write(blob)
        sys.stdout.flush()
        return
    target = Path(output)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, target)
    except OSError as exc:
        _err(f"error: cannot write {output}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"acpitables {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Build, decode and check ACPI VIOT and IORT tables."""


@app.command(epilog=EPILOG)
def build(
    description: str = typer.Argument(..., help="YAML description ('-' for stdin)."),
    output: Optional[str] = typer.Option(None, "-o", "--output",
                                         help="Table file to write ('-' for stdout; default: "
                                              "<signature>.aml, lower case)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the default output file; "
                               "allow binary on a terminal."),
    print_qemu_args: bool = typer.Option(False, "--print-qemu-args",
                                         help="Also print the QEMU -acpitable option for it."),
) -> None:
    """Compile a YAML description into a binary table."""
    try:
        if description == "-":
            built = api.build(sys.stdin.read(), "<stdin>")
        else:
            built = api.build(Path(description))
    except AcpiTablesError as exc:
        raise _fail(exc) from None
    _report(built.warnings)
    if output is None:
        output = f"{built.table.signature.lower()}.aml"
        if Path(output).exists() and not force:
            _err(f"error: {output} exists; give -o {output} (or --force) to replace it")
            raise typer.Exit(1)
    write_output(output, built.data, force)
    if print_qemu_args and output != "-":
        _err(f"-acpitable sig={built.table.signature},file={output}")


def _decode_all(input: str, signature: Optional[str]):
    src = sources.read(input, signature)
    if src.skipped:
        _err(f"{input}: skipped {', '.join(src.skipped)}")
    for name, data in src.tables:
        yield name, data, api.decode(data)


@app.command(epilog=EPILOG)
def decode(
    input: str = typer.Argument(..., help="Raw table, sysfs/acpidump -b directory, acpidump "
                                "text, or '-' for stdin."),
    format: Format = typer.Option(Format.text, "-f", "--format", help="Output format."),
    output: str = typer.Option("-", "-o", "--output", help="File to write ('-' for stdout)."),
    signature: Optional[str] = typer.Option(None, "--sig", help="Only this table (VIOT, IORT)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
) -> None:
    """Decode tables into a YAML description, text, JSON or acpidump text."""
    pieces: list[str] = []
    decoded_all = []
    warned = False
    try:
        for name, data, decoded in _decode_all(input, signature):
            _report(decoded.warnings, f"{name}: ")
            warned = warned or bool(decoded.warnings)
            decoded_all.append(decoded)
            if format is Format.yaml:
                comments = [f"decoded by acpitables {__version__} from {name}"]
                pieces.append(render.as_yaml(api.describe(decoded), decoded.spec.schema,
                                             output, comments))
            elif format is Format.text:
                pieces.append(render.text(decoded))
            elif format is Format.acpidump:
                pieces.append(acpidump.format_table(decoded.table.signature, decoded.data))
    except AcpiTablesError as exc:
        raise _fail(exc) from None
    if format is Format.json:
        result = render.as_json(decoded_all[0] if len(decoded_all) == 1 else decoded_all)
    else:
        # acpidump text: each table ends in its own blank line, as acpidump
        # prints several tables (byte-identical to acpidump -f A -f B).
        sep = {Format.yaml: "---\n", Format.acpidump: ""}.get(format, "\n")
        result = sep.join(pieces)
    write_output(output, result)
    if strict and warned:
        raise typer.Exit(1)


@app.command(epilog=EPILOG)
def validate(
    input: str = typer.Argument(..., help="A YAML description or a table (any decode input)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
) -> None:
    """Check a description or a table and list every finding."""
    try:
        if _is_table(input):
            findings = []
            for name, data, decoded in _decode_all(input, None):
                _report(decoded.warnings, f"{name}: ")
                findings += decoded.warnings
        else:
            findings = api.validate_description(Path(input))
            _report(findings)
    except AcpiTablesError as exc:
        raise _fail(exc) from None
    _err(f"{input}: {'ok' if not findings else f'{len(findings)} warning(s)'}")
    if strict and findings:
        raise typer.Exit(1)


def _is_table(path: str) -> bool:
    p = Path(path)
    if p.is_dir():
        return True
    try:
        head = p.read_bytes()[:65536]
    except OSError:
        return False
    if head[:4].decode("latin-1") in TABLES:
        return True
    try:
        return acpidump.looks_like_dump(head.decode("ascii"))
    except UnicodeDecodeError:
        return True


@app.command(epilog=EPILOG)
def schema(
    table: str = typer.Argument("VIOT", help="Table whose description schema to show."),
    path: bool = typer.Option(False, "--path", help="Print the schema file's path instead."),
) -> None:
    """Print the JSON Schema of a table's description (for editors)."""
    spec = TABLES.get(table.upper())
    if spec is None:
        _err(f"error: unknown table {table!r} (known: {', '.join(TABLES)})")
        raise typer.Exit(2)
    if path:
        typer.echo(schema_path(spec.schema))
    else:
        import json
        typer.echo(json.dumps(load_schema(spec.schema), indent=2))


def run() -> None:
    """Console entry point: library errors were handled per command; this
    last net keeps hostile input from ever showing a traceback."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001
        _err(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        sys.exit(1)
