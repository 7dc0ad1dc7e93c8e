"""acpitables: cli/params.py -- what a command declares and raises, without typer.

A command's parameters are declared once, as defaults of its function
(`Option(...)`, `Argument(...)`, the same arguments typer.Option and
typer.Argument take). Two readers interpret those declarations: the typer
app (cli/typer_app.py, help, completion, every error message) and the argv
front (cli/argv.py, the plain command lines without importing typer).
Command bodies end with `Exit(code)` and print with `echo`, which both
runners understand; nothing here imports more than the standard library.
"""
from __future__ import annotations

import re
import sys
from typing import Any, Optional

# click.echo's rule: escape sequences are stripped unless the stream is a
# terminal (a message can quote a table's bytes).
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


class Param:
    """One declared parameter: an option (names such as "-o", "--output")
    or an argument, its default (`...` for required) and typer's keyword
    arguments (help, metavar, callback, ...), kept exactly as given."""
    __slots__ = ("kind", "default", "decls", "kwargs")

    def __init__(self, kind: str, default: Any, decls: tuple[str, ...], kwargs: dict) -> None:
        self.kind, self.default, self.decls, self.kwargs = kind, default, decls, kwargs

    def __repr__(self) -> str:
        return f"{self.kind.capitalize()}({self.default!r}, {', '.join(self.decls)})"


def Option(default: Any = ..., *decls: str, **kwargs: Any) -> Any:  # noqa: N802 (typer's name)
    return Param("option", default, decls, kwargs)


def Argument(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802
    return Param("argument", default, (), kwargs)


class Exit(Exception):
    """End the command with this exit status (what it printed stays)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


class Usage(Exception):
    """An operand the command cannot take, worded for a usage error (2)."""


def echo(message: Optional[str] = None, err: bool = False, nl: bool = True) -> None:
    """click.echo for str messages: to stdout or stderr, newline added,
    flushed, escape sequences dropped when not writing to a terminal."""
    stream = sys.stderr if err else sys.stdout
    text = "" if message is None else str(message)
    if nl:
        text += "\n"
    if "\033" in text and not _isatty(stream):
        text = _ANSI.sub("", text)
    stream.write(text)
    stream.flush()


def _isatty(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Command:
    """A registered command: its name on the command line, the function
    whose defaults declare its parameters, and typer's command settings
    (epilog, ...)."""
    __slots__ = ("name", "function", "settings")

    def __init__(self, name: str, function: Any, settings: dict) -> None:
        self.name, self.function, self.settings = name, function, settings


COMMANDS: dict[str, Command] = {}


def command(name: Optional[str] = None, **settings: Any) -> Any:
    """Register a command in declaration order (the order help lists them);
    the name defaults to the function's, '_' written '-' as typer does."""
    def register(function: Any) -> Any:
        key = name or function.__name__.lower().replace("_", "-")
        COMMANDS[key] = Command(key, function, settings)
        return function
    return register
