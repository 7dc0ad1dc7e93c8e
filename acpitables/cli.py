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

from . import __version__, api
from .formats import acpidump
from .formats import dsl
from .formats import render
from .formats import sources
from .engine.description import load_schema, schema_path
from .errors import AcpiTablesError, DescriptionError, Diagnostic
from .engine.registry import TABLES

EPILOG = "Exit status: 0 ok; 1 bad input (description, table or file); 2 usage error."
app = typer.Typer(add_completion=True, no_args_is_help=True, help=(
    "Build, decode and check ACPI VIOT and IORT tables (which IOMMU translates which "
    "device)."), epilog=EPILOG, pretty_exceptions_enable=False)


class Format(str, Enum):
    text = "text"
    yaml = "yaml"
    json = "json"
    acpidump = "acpidump"
    dsl = "dsl"  # ACPICA data-table source that iasl compiles back (acpitables/dsl.py)


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
            elif format is Format.dsl:
                pieces.append(dsl.to_dsl(decoded))
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


class Compat(str, Enum):
    linux_7_2 = "linux-7.2"
    linux_7_1 = "linux-7.1"
    linux_5_2 = "linux-5.2"


def _open_mapper(input: str, compat: "Compat", node: Optional[str]):
    from .mapping import io as mapper_io
    try:
        return mapper_io.open_mapper(input, compat.value, node)
    except AcpiTablesError as exc:
        raise _fail(exc, f"{input}: " if not str(exc).startswith(input) else "") from None


def _dt_from_values(iommu_map: Optional[str], iommu_mask: Optional[int], msi_map: Optional[str],
                    msi_mask: Optional[int], segment: int, compat: "Compat"):
    """A one-host-bridge DT mapper from property values typed on the
    command line."""
    from .mapping.dt import DtHost, DtMapper, map_from_text
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
        raise typer.Exit(2) from None


def _span_text(span, segment: int) -> str:
    from .mapping.results import Translated
    from .engine.pci import format_bdf
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
    return text


@app.command("map", epilog=MAP_EPILOG)
def map_command(
    input: Optional[str] = typer.Argument(None, help="Description, table(s) or .dts/.dtb "
                                          "(omit when giving DT property values)."),
    rid: Optional[str] = typer.Option(None, "--rid", help="PCI function: bb:dd.f, "
                                      "ssss:bb:dd.f or a requester ID (0x0010)."),
    segment: Optional[int] = typer.Option(None, "--segment", help="PCI segment (default 0, "
                                          "or the one written in --rid)."),
    device: Optional[str] = typer.Option(None, "--device", help="IORT named component by ACPI "
                                         "path, e.g. '\\_SB_.PCI0.DEV0'."),
    address: Optional[str] = typer.Option(None, "--address", help="VIOT MMIO endpoint by base "
                                          "address."),
    input_id: Optional[str] = typer.Option(None, "--id", help="With --device: an input ID "
                                           "(as fsl-mc-like buses pass)."),
    all_ids: bool = typer.Option(False, "--all", help="The whole 16-bit ID space of each "
                                 "segment as ranges."),
    msi: bool = typer.Option(False, "--msi", help="The MSI path (IORT ITS group / DT msi-map) "
                             "instead of the IOMMU."),
    format: MapFormat = typer.Option(MapFormat.text, "-f", "--format", help="Output format."),
    compat: Compat = typer.Option(Compat.linux_7_2, "--compat", help="DT: which Linux "
                                  "of_map_id() to follow."),
    node: Optional[str] = typer.Option(None, "--node", help="DT: the host bridge node (path or "
                                       "label) when several have iommu-map."),
    iommu_map: Optional[str] = typer.Option(None, "--iommu-map", help="DT iommu-map value as "
                                            "in .dts, e.g. '<0x0 &smmu 0x0 0x10000>'."),
    iommu_map_mask: Optional[str] = typer.Option(None, "--iommu-map-mask",
                                                 help="DT iommu-map-mask value."),
    msi_map: Optional[str] = typer.Option(None, "--msi-map", help="DT msi-map value."),
    msi_map_mask: Optional[str] = typer.Option(None, "--msi-map-mask",
                                               help="DT msi-map-mask value."),
) -> None:
    """Which IOMMU translates a device, with which ID -- or does it bypass?"""
    import json
    from .engine.pci import BdfError, format_bdf, parse_bdf
    chosen = sum(x is not None for x in (rid, device, address)) + all_ids
    if chosen != 1:
        _err("error: give exactly one of --rid, --device, --address, --all")
        raise typer.Exit(2)
    props = (iommu_map, iommu_map_mask, msi_map, msi_map_mask)
    if (input is None) == all(p is None for p in props):
        _err("error: give an INPUT file, or DT property values (--iommu-map/--msi-map ...), "
             "not both")
        raise typer.Exit(2)
    if input is None:
        m = _dt_from_values(iommu_map, _int_option(iommu_map_mask, "--iommu-map-mask"), msi_map,
                            _int_option(msi_map_mask, "--msi-map-mask"), segment or 0, compat)
        input = "<command line>"
    else:
        m = _open_mapper(input, compat, node)
    if all_ids:
        segs = [segment] if segment is not None else m.segments()
        result = {seg: m.segment_map(seg, msi).spans for seg in segs}
        if format is MapFormat.json:
            typer.echo(json.dumps({"input": input, "path": "msi" if msi else "iommu",
                                   "segments": {str(seg): [s.as_dict() for s in spans]
                                                for seg, spans in result.items()}}, indent=2))
        else:
            for seg, spans in result.items():
                typer.echo(f"segment {seg} ({'MSI' if msi else 'IOMMU'}):")
                for s in spans:
                    typer.echo("  " + _span_text(s, seg))
        _skipped(m)
        return
    if rid is not None:
        try:
            seg_in_rid, ident = parse_bdf(int(rid, 0) if rid.lower().startswith("0x") or rid.isdigit() else rid)
        except (BdfError, ValueError) as exc:
            _err(f"error: --rid: {exc}")
            raise typer.Exit(2) from None
        if seg_in_rid is not None and segment is not None and seg_in_rid != segment:
            _err(f"error: --rid names segment {seg_in_rid}, --segment says {segment}")
            raise typer.Exit(2)
        seg = segment if segment is not None else (seg_in_rid or 0)
        r = m.lookup(ident, seg, msi)
        what = f"{format_bdf(ident, seg)} (RID 0x{ident:04x})"
    elif device is not None:
        if not hasattr(m, "lookup_device"):
            _err(f"error: --device needs an IORT; {input} is a {m.kind} input")
            raise typer.Exit(1)
        r = m.lookup_device(device, _int_option(input_id, "--id"), msi)
        what = device
    else:
        if not hasattr(m, "lookup_address"):
            _err(f"error: --address needs a VIOT; {input} is a {m.kind} input")
            raise typer.Exit(1)
        base = _int_option(address, "--address")
        r = m.lookup_address(base)
        what = f"MMIO 0x{base:x}"
    if format is MapFormat.json:
        typer.echo(json.dumps({"input": input, "device": what, **r.as_dict()}, indent=2))
    else:
        typer.echo(f"{what}: {r}")
    _skipped(m)


def _skipped(m) -> None:
    """Tables of a directory or dump that did not decode: named, and the
    exit status says the input was not all good."""
    for d in getattr(m, "skipped", ()):
        _err(f"error: {d} (table skipped)")
    if getattr(m, "skipped", ()):
        raise typer.Exit(1)


@app.command(epilog=MAP_EPILOG)
def agree(
    a: str = typer.Argument(..., help="First input."),
    b: str = typer.Argument(..., help="Second input."),
    segment: Optional[int] = typer.Option(None, "--segment", help="Only this segment "
                                          "(default: every segment either input names)."),
    msi: bool = typer.Option(False, "--msi", help="Compare the MSI path instead."),
    by_name: bool = typer.Option(False, "--by-name", help="IOMMUs must have equal names "
                                 "(default: compare which RIDs share an IOMMU)."),
    limit: int = typer.Option(10, "--limit", help="Differences to print."),
    format: MapFormat = typer.Option(MapFormat.text, "-f", "--format", help="Output format."),
    compat: Compat = typer.Option(Compat.linux_7_2, "--compat", help="DT: which Linux "
                                  "of_map_id() to follow."),
) -> None:
    """Do two inputs agree on every RID of the 16-bit space? Exit 1 if not."""
    import json
    from .mapping import io as mapper_io
    from .engine.pci import format_bdf
    # As with diff (and cmp): 1 means "they differ", so an input that
    # cannot be read is trouble, 2.
    try:
        ma, mb = _open_mapper(a, compat, None), _open_mapper(b, compat, None)
    except typer.Exit as exc:
        raise typer.Exit(2 if exc.exit_code == 1 else exc.exit_code) from None
    res = mapper_io.agree(ma, mb, [segment] if segment is not None else None, msi, by_name)
    if format is MapFormat.json:
        out = res.as_dict()
        out["differences"] = out["differences"][:limit]
        typer.echo(json.dumps(out, indent=2))
    else:
        for d in res.differences[:limit]:
            rng = format_bdf(d.first, d.segment)
            if d.last != d.first:
                rng += f"..{format_bdf(d.last, d.segment)}"
            typer.echo(f"{rng}: {d.kind} differs: A {d.a}; B {d.b}")
        if len(res.differences) > limit:
            typer.echo(f"... {len(res.differences) - limit} more differing ranges")
        segs = ", ".join(str(s) for s in res.segments)
        if res.ok:
            pairs = ", ".join(f"{k}={v}" for k, v in res.pairs.items())
            typer.echo(f"agree: every RID of segment(s) {segs}"
                       + (f" (IOMMUs paired: {pairs})" if pairs and not by_name else ""))
        else:
            typer.echo(f"differ: {res.differing_ids} RID(s) in {len(res.differences)} range(s) "
                       f"of segment(s) {segs}")
    if not res.ok:
        raise typer.Exit(1)


@app.command("export-dt", epilog=MAP_EPILOG)
def export_dt(
    input: str = typer.Argument(..., help="A description or table(s)."),
    output: str = typer.Option("-", "-o", "--output", help="File to write ('-' for stdout)."),
    standalone: bool = typer.Option(False, "--standalone", help="A whole .dts with stub IOMMU "
                                    "and MSI controller nodes (dtc compiles it)."),
    host_label: str = typer.Option("pcie{segment}", "--host-label", help="Label of each "
                                   "segment's host bridge node ({segment} is replaced)."),
) -> None:
    """The iommu-map (and msi-map) saying what a VIOT / IORT says, as .dts."""
    from .mapping import dt
    m = _open_mapper(input, Compat.linux_7_2, None)
    if m.kind == "DT":
        _err("error: export-dt reads a description or ACPI tables, not a Devicetree")
        raise typer.Exit(1)
    try:
        exp = dt.export_dt(m)
    except AcpiTablesError as exc:
        raise _fail(exc, f"{input}: ") from None
    write_output(output, dt.render_dts(exp, Path(input).name, standalone, host_label))

# ---------------------------- end of the mapper section ----------------------


DIFF_EPILOG = "Exit status: 0 the tables are identical; 1 they differ; 2 usage error or unreadable input."


def _one_table(input: str, signature: Optional[str]) -> bytes:
    """A diff operand: any decode input (raw table, directory, acpidump text,
    '-') holding one table after --sig, or a YAML description (built)."""
    if input != "-" and not _is_table(input):
        return api.build(Path(input)).data
    src = sources.read(input, signature)
    if len(src.tables) != 1:
        names = ", ".join(name for name, _ in src.tables)
        raise typer.BadParameter(f"{input} holds {len(src.tables)} tables ({names}); "
                                 f"choose one with --sig")
    return src.tables[0][1]


@app.command("diff", epilog=DIFF_EPILOG)
def diff_command(
    a: str = typer.Argument(..., help="First table: raw, directory, acpidump text, YAML "
                            "description, or '-'."),
    b: str = typer.Argument(..., help="Second table, in any of the same forms."),
    signature: Optional[str] = typer.Option(None, "--sig", help="Pick this table (VIOT, IORT) "
                                            "from inputs that hold several."),
    context: int = typer.Option(3, "-U", "--unified", help="Lines of context."),
) -> None:
    """Field-level difference of two tables, like a unified diff of their
    text decodes (fields matched by node and name, not by offset)."""
    from .formats import diff as diffmod
    blobs = []
    for operand in (a, b):
        try:
            blobs.append(_one_table(operand, signature))
        except typer.BadParameter as exc:
            _err(f"error: {exc}")
            raise typer.Exit(2) from None
        except AcpiTablesError as exc:
            if isinstance(exc, DescriptionError):
                _report(exc.problems)
            else:
                text = str(exc)
                _err(f"error: {text}" if text.startswith(operand) else f"error: {operand}: {text}")
            raise typer.Exit(2) from None
    text = diffmod.unified(blobs[0], blobs[1], a, b, context)
    if text:
        typer.echo(text, nl=False)
        raise typer.Exit(1)


def run() -> None:
    """Console entry point: library errors were handled per command; this
    last net keeps hostile input from ever showing a traceback."""
    try:
        app()
    except Exception as exc:  # noqa: BLE001
        _err(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        sys.exit(1)
