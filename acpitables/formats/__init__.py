"""acpitables.formats -- the output formats, registered once.

Each `Format` names a way to write decoded tables: its one-line help,
whether it is text or binary, the options it takes, and the function that
renders a run of tables. The CLI's `decode --format` choices and
`acpitables.dump()` both come from `FORMATS`; a new format is one
`register()` call here (its renderer may live in its own module, imported
only when the format is used, so that start-up does not pay for it).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence, cast

from ..errors import InputError

if TYPE_CHECKING:
    from ..engine.table import Decoded


# Options and Format are NamedTuples (immutable records): every decode
# imports this module, and a frozen dataclass costs ~0.5 ms to make (issue 11).
class Options(NamedTuple):
    """What a renderer may use besides the tables. A format reads only the
    options it declares in `Format.options`."""

    acpica: int | None = None  # dsl: target iasl release, YYYYMMDD (None: the newest known)
    names: Sequence[str] = ()  # where each table came from (yaml: a comment per table)
    output: str | None = None  # file being written (yaml: its schema modeline is relative to it)


Renderer = Callable[[Sequence["Decoded"], Options], "str | bytes"]


class Format(NamedTuple):
    name: str
    help: str  # one line, shown by `acpitables decode --help`
    binary: bool  # renders bytes (never sent to a terminal unless forced)
    render: Renderer
    options: tuple[str, ...] = ()  # names of the Options fields it uses


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in FORMATS:
        raise ValueError(f"format {fmt.name!r} is registered twice")
    FORMATS[fmt.name] = fmt
    return fmt


def get(name: str) -> Format:
    """The registered format called `name`; ValueError names the known ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(FORMATS)})") from None


def dump(decoded: "Decoded | Sequence[Decoded]", format: str = "text", *,
         acpica: int | None = None, names: Sequence[str] = (),
         output: str | None = None) -> str | bytes:
    """Render one decoded table, or several, in a registered format: str for
    text formats, bytes for binary ones. Options a format does not take are
    refused (ValueError), never silently ignored."""
    fmt = get(format)
    given = {"acpica": acpica is not None}
    for option, present in given.items():
        if present and option not in fmt.options:
            raise ValueError(f"format {format!r} takes no {option} option")
    tables: list[Decoded] = list(decoded) if isinstance(decoded, (list, tuple)) else \
        [cast("Decoded", decoded)]
    if not tables:
        raise ValueError("no table to render")
    from ..engine import collector
    with collector.paused():  # the output grows, nothing in it is cyclic
        return fmt.render(tables, Options(acpica=acpica, names=tuple(names), output=output))


# --- the formats ----------------------------------------------------------------

def _text(tables: Sequence["Decoded"], opts: Options) -> str:
    from . import render
    return "\n".join(render.text(d) for d in tables)


def _json(tables: Sequence["Decoded"], opts: Options) -> str:
    from . import render
    return render.as_json(tables[0] if len(tables) == 1 else list(tables))


def _shown(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _yaml(tables: Sequence["Decoded"], opts: Options) -> str:
    from .. import __version__, api
    from . import render
    pieces = []
    for i, d in enumerate(tables):
        # A file name that is not UTF-8 (surrogates) is shown escaped: the
        # description must stay UTF-8 to be read back.
        where = f" from {_shown(opts.names[i])}" if i < len(opts.names) else ""
        comments = [f"decoded by acpitables {__version__}{where}"]
        if d.spec is None:
            raise InputError(f"{d.table.signature}: no registered table to describe it")
        pieces.append(render.as_yaml(api.describe(d), d.spec.schema, opts.output, comments))
    return "---\n".join(pieces)


def _acpidump(tables: Sequence["Decoded"], opts: Options) -> str:
    from . import acpidump
    # Each table ends in its own blank line, as acpidump prints several
    # (byte-identical to acpidump -f A -f B).
    return "".join(acpidump.format_table(d.table.signature, d.data) for d in tables)


def _dsl(tables: Sequence["Decoded"], opts: Options) -> str:
    from . import dsl
    return "\n".join(dsl.to_dsl(d, acpica=opts.acpica) for d in tables)


def _binary(tables: Sequence["Decoded"], opts: Options) -> bytes:
    if len(tables) != 1:
        raise InputError(f"the binary format holds one table; the input has {len(tables)} "
                         "(choose one with --sig)")
    return tables[0].data


register(Format("text", "the fields with offsets and sizes, as iasl -d lays them out", False,
                _text))
register(Format("yaml", "a description that `build` turns back into the same bytes", False,
                _yaml))
register(Format("json", "every field and node as JSON (one object, or a list for several)",
                False, _json))
register(Format("acpidump", "hex dump in acpidump's text format (acpixtract reads it)", False,
                _acpidump))
register(Format("dsl", "ACPICA data-table source that iasl compiles back (--acpica RELEASE)",
                False, _dsl, ("acpica",)))
register(Format("binary", "the raw table bytes (one table, e.g. out of an acpidump text)",
                True, _binary))


# --- the installed iasl -----------------------------------------------------------

def installed_acpica(iasl: str = "iasl") -> int | None:
    """The release (YYYYMMDD) of the iasl found on PATH, from `iasl -v`;
    None when there is none or it does not say."""
    import shutil
    import subprocess
    exe = shutil.which(iasl)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(rb"version (\d{8})\b", out)
    return int(m.group(1)) if m else None


def parse_acpica(text: str) -> int:
    """A release given on the command line: eight digits, YYYYMMDD."""
    if not re.fullmatch(r"\d{8}", text) or not 1 <= int(text[4:6]) <= 12:
        raise ValueError(f"{text!r} is not an ACPICA release (write YYYYMMDD, e.g. 20200925)")
    return int(text)
