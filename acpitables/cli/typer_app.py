"""acpitables: cli/typer_app.py -- the commands as a typer app.

typer reads each command's declared parameters (cli/params.py) and gives
help, shell completion and every usage error; cli/argv.py runs the plain
command lines without it. Imported only when typer is wanted (issue 11:
`import typer` costs more than a whole small command).
"""
from __future__ import annotations

import functools
import inspect
import os
import typing
from enum import Enum
from typing import Any, Optional

import typer

from .. import __version__
from .commands import EPILOG
from .params import COMMANDS, Exit, Param

def _plain_coercion() -> bool:
    """typer (0.2x) converts every option value through a pydantic
    TypeAdapter, and importing pydantic for that costs more than the rest
    of a small command (issue 11). Every parameter here is a str, int,
    bool, an Enum or Optional of one, which need no pydantic: convert
    exactly those plainly and leave anything else to typer. A typer
    without these internals keeps its own conversion (returns False)."""
    import typing
    try:
        from typer import _coercion
        from typer import core as typer_core
    except ImportError:
        return False
    original = getattr(typer_core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if original is None or base is None or getattr(original, "_acpitables", False):
        return original is not None and getattr(original, "_acpitables", False)

    def simple(annotation: Any) -> Any:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Union and len(args) == 2 and \
                type(None) in args:
            annotation = args[0] if args[1] is type(None) else args[1]
        if annotation in (str, int, bool) or (isinstance(annotation, type)
                                              and issubclass(annotation, Enum)):
            return annotation
        if typing.get_origin(annotation) is list and typing.get_args(annotation) == (str,):
            return list  # INPUT...: strings as given
        return None

    class Plain(base):  # type: ignore[misc, valid-type]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = simple(self.annotation)
            if kind is list:
                return None if value is None else [str(v) for v in value]
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                return value
            try:
                if kind is bool:
                    return {"true": True, "1": True, "false": False, "0": False}[
                        str(value).lower()]
                return kind(value)
            except (KeyError, ValueError, TypeError):
                if isinstance(kind, type) and issubclass(kind, Enum):
                    known = ", ".join(repr(m.value) for m in kind)
                    why = f"{value!r} is not one of {known}."
                else:
                    why = f"{value!r} is not a valid {kind.__name__}."
                raise typer.BadParameter(why, ctx=ctx, param=param) from None

    def build(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if descriptor.file_annotation is None and getattr(info, "parser", None) is None and \
                getattr(info, "click_type", None) is None and simple(descriptor.annotation):
            return Plain(annotation=descriptor.annotation, parameter_info=info)
        return original(descriptor)

    build._acpitables = True  # type: ignore[attr-defined]
    typer_core.build_runtime_param = build
    return True


PLAIN_COERCION = _plain_coercion()


class _Command(typer.core.TyperCommand):
    """Help shows each argument by its metavar alone (FILE, INPUT), as
    conventional usage lines do, not followed by a type such as <str>."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"acpitables {__version__}")
        raise typer.Exit()


def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Build, decode and check the ACPI IOMMU tables."""


def _for_typer(function: Any) -> Any:
    """The command function as typer takes it: the same parameters with
    typer's Option/Argument as defaults and resolved annotations; Exit
    becomes typer's."""
    hints = typing.get_type_hints(function)
    signature = inspect.signature(function)
    params = []
    for p in signature.parameters.values():
        default = p.default
        if isinstance(default, Param):
            make = typer.Option if default.kind == "option" else typer.Argument
            default = make(default.default, *default.decls, **default.kwargs)
        params.append(p.replace(default=default, annotation=hints.get(p.name, p.annotation)))

    @functools.wraps(function)
    def call(**kwargs: Any) -> Any:
        try:
            return function(**kwargs)
        except Exit as exc:
            raise typer.Exit(exc.code) from None
    call.__signature__ = signature.replace(parameters=params,  # type: ignore[attr-defined]
                                           return_annotation=None)
    return call


def make_app(only: Optional[str] = None) -> typer.Typer:
    """The app with every command, or with the one named `only`, so that
    typer converts one function's parameters into click's instead of all
    of them (issue 11: start-up). What a command parses, prints and exits
    with is the same either way: the group's callback, settings and name
    stay, and the command's name is consumed by both."""
    app = typer.Typer(add_completion=True, no_args_is_help=True, help=(
        "Build, decode and check the ACPI IOMMU tables -- VIOT, IORT, RIMT, DMAR and IVRS "
        "(which IOMMU translates which device)."), epilog=EPILOG, pretty_exceptions_enable=False,
        # Plain click help: conventional, and it does not import rich.
        rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})
    app.callback()(_main)
    for cmd in COMMANDS.values():
        if only is None or cmd.name == only:
            app.command(cmd.name, cls=_Command, **cmd.settings)(_for_typer(cmd.function))
    return app


def app_for(argv: list[str]) -> typer.Typer:
    """The app to run for this argv: argv[1]'s command alone when it names
    one; anything else -- no command, an option first (--version, --help),
    an unknown or misspelt name (its suggestions list every command),
    shell completion -- runs the whole app."""
    if len(argv) < 2 or "_ACPITABLES_COMPLETE" in os.environ or argv[1] not in COMMANDS:
        return make_app()
    return make_app(argv[1])
