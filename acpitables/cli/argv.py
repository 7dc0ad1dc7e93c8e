"""acpitables: cli/argv.py -- the argv front: plain command lines without typer.

Importing typer (0.2x, with its click) costs more CPU than a whole command
on a small table (issue 11). Most command lines are plain -- a command
name, its options, its operands -- and need none of typer: this front
reads the same declarations (cli/params.py) and calls the command. Every
line it does not fully understand goes to typer, which then parses it,
prints help or the usage error: --help anywhere, an unknown or misspelt
option, a missing or extra operand, a value that does not convert, '--',
clustered short options, an option value that begins with '-', shell
completion, a group option (--version). So the front only ever accepts a
line typer would accept, with the same values (tests/test_argv_front.py
compares both on every command).
"""
from __future__ import annotations

import builtins
import os
import sys
from enum import Enum
from typing import Any, Callable, Optional

from .params import COMMANDS, Exit, Param, echo

# Keyword arguments of Option/Argument that do not change what is parsed.
_PRESENTATION = frozenset({"help", "metavar", "autocompletion", "show_default", "hidden",
                           "rich_help_panel"})


class _Unsure(Exception):
    """This line is for typer."""


class _Param:
    """One parameter as the front reads it: how a value converts, whether
    it is a flag, a repeatable option or a list of operands."""
    __slots__ = ("name", "decl", "convert", "flag", "many")

    def __init__(self, name: str, decl: Param, convert: Callable[[str], Any],
                 flag: bool, many: bool) -> None:
        self.name, self.decl, self.convert, self.flag, self.many = name, decl, convert, flag, many


def _converter(annotation: str, names: dict) -> tuple[Callable[[str], Any], bool, bool]:
    """(convert one value, is a flag, takes many) for an annotation as the
    commands write it (a string: `from __future__ import annotations`), or
    _Unsure for one the front does not read. Read by hand, not evaluated
    with typing.get_type_hints: that costs a small command ~4 ms."""
    if annotation.startswith("Optional[") and annotation.endswith("]"):
        annotation = annotation[len("Optional["):-1]
    if annotation in ("list[str]", "List[str]"):
        return str, False, True
    kind = names.get(annotation, getattr(builtins, annotation, None))
    if kind is bool:
        return bool, True, False
    if kind is str:
        return str, False, False
    if kind is int:
        def to_int(value: str) -> int:
            try:
                return int(value)
            except ValueError:
                raise _Unsure from None
        return to_int, False, False
    if isinstance(kind, type) and issubclass(kind, Enum):
        members = {m.value: m for m in kind}

        def to_member(value: str) -> Any:
            if value not in members:
                raise _Unsure
            return members[value]
        return to_member, False, False
    raise _Unsure


_SPECS: dict[str, Optional[tuple[list[_Param], dict[str, _Param]]]] = {}


def spec(name: str) -> Optional[tuple[list[_Param], dict[str, _Param]]]:
    """The command's operands in order and its options by name, or None
    when the command declares something the front does not read."""
    if name not in _SPECS:
        function = COMMANDS[name].function
        code = function.__code__
        names = code.co_varnames[:code.co_argcount]
        defaults = function.__defaults__ or ()
        operands: list[_Param] = []
        options: dict[str, _Param] = {}
        try:
            # Every parameter declares itself as a default (no inspect
            # import: it alone costs a small command ~7 ms).
            if len(defaults) != len(names) or code.co_kwonlyargcount or function.__kwdefaults__:
                raise _Unsure
            hints = function.__annotations__
            for pname, decl in zip(names, defaults):
                if not isinstance(decl, Param) or set(decl.kwargs) - _PRESENTATION:
                    raise _Unsure
                if not isinstance(hints.get(pname), str):
                    raise _Unsure
                convert, flag, many = _converter(hints[pname], function.__globals__)
                param = _Param(pname, decl, convert, flag, many)
                if decl.kind == "argument":
                    operands.append(param)
                    continue
                if flag and decl.default is not False or not decl.decls or \
                        any("/" in n or not n.startswith("-") for n in decl.decls):
                    raise _Unsure  # --x/--no-x, flag values, implicit names
                for n in decl.decls:
                    options[n] = param
            if sum(p.many for p in operands) > 1:
                raise _Unsure
            _SPECS[name] = (operands, options)
        except _Unsure:
            _SPECS[name] = None
    return _SPECS[name]


def parse(args: list[str]) -> Optional[tuple[Callable[..., Any], dict[str, Any]]]:
    """(the command's function, its keyword arguments) for a plain command
    line (argv without the program name), else None: typer's line."""
    if not args or "_ACPITABLES_COMPLETE" in os.environ:
        return None
    from . import commands  # noqa: F401  (registers the commands)
    if args[0] not in COMMANDS:
        return None
    read = spec(args[0])
    if read is None:
        return None
    operands, options = read
    try:
        values = _parse(args[1:], operands, options)
    except _Unsure:
        return None
    return COMMANDS[args[0]].function, values


def _parse(tokens: list[str], operands: list[_Param], options: dict[str, _Param]) -> dict[str, Any]:
    given: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token in ("-h", "--help", "--") or token.startswith("--help="):
            raise _Unsure
        if token == "-" or not token.startswith("-"):
            positional.append(token)
            continue
        name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        param = options.get(name)
        if param is None or (not token.startswith("--") and len(token) != 2):
            raise _Unsure  # unknown, misspelt, clustered or -oVALUE
        if param.flag:
            if eq:
                raise _Unsure  # a flag given a value: typer's error
            given[param.name] = True
            continue
        if eq:
            value = inline
        else:
            if i == len(tokens) or (tokens[i].startswith("-") and tokens[i] != "-"):
                raise _Unsure  # no value, or one that looks like an option
            value = tokens[i]
            i += 1
        converted = param.convert(value)
        if param.many:
            given.setdefault(param.name, []).append(converted)
        else:
            given[param.name] = converted
    given.update(_operands(positional, operands))
    for param in list(options.values()) + operands:
        if param.name not in given:
            if param.decl.default is ...:
                raise _Unsure  # missing: typer's error
            given[param.name] = param.decl.default
    return given


def _operands(values: list[str], operands: list[_Param]) -> dict[str, Any]:
    """Operands as click hands them out: single ones from the front and
    the back, the list one (at most one) takes the rest."""
    out: dict[str, Any] = {}
    singles = [p for p in operands if not p.many]
    if len(values) > len(singles) and not any(p.many for p in operands):
        raise _Unsure  # extra operands
    rest = list(values)
    head = operands[:next((k for k, p in enumerate(operands) if p.many), len(operands))]
    tail = operands[len(head) + 1:] if len(head) < len(operands) else []
    for p in head:
        if rest:
            out[p.name] = p.convert(rest.pop(0))
    for p in reversed(tail):
        if rest:
            out[p.name] = p.convert(rest.pop())
    if len(head) < len(operands):
        many = operands[len(head)]
        if rest:
            out[many.name] = [many.convert(v) for v in rest]
        elif many.decl.default is ...:
            raise _Unsure
    return out


def invoke(function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Run the command and exit as click's standalone mode does: the
    command's exit status; 'Aborted!' on ^C; a closed pipe ends quietly
    with 1. Never returns."""
    import errno
    code = 0
    try:
        try:
            function(**kwargs)
        finally:
            sys.stdout.flush()
    except Exit as exc:
        code = exc.code
    except (KeyboardInterrupt, EOFError):
        echo(err=True)
        echo("Aborted!", err=True)
        code = 1
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # Nothing more reaches the reader: flushing at exit must not fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    _leave(code)


def _leave(code: int) -> None:
    """Exit. When nothing is left for Python's own exit to do -- output
    flushed, no exit handler registered (the stdin copy's clean-up, a
    coverage hook), no other thread to wait for -- skip the interpreter's
    teardown, which frees every module's objects one by one and costs a
    small command ~13 ms when construct is loaded (issue 11)."""
    import atexit
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)
    handlers = getattr(atexit, "_ncallbacks", None)
    threading = sys.modules.get("threading")
    if handlers is None or handlers() or (threading and threading.active_count() > 1):
        sys.exit(code)
    os._exit(code)
