"""acpitables: the command line.

    commands.py   the commands, each declaring its parameters once
    params.py     Option / Argument / Exit / echo and the command registry
    argv.py       the argv front: plain command lines, run without typer
    typer_app.py  the typer app: help, completion, every usage error

`acpitables.cli.app` is the whole typer app (built on first use).
"""
from __future__ import annotations

import sys
from typing import Any


def run() -> None:
    """Console entry point: a plain command line runs straight from its
    declarations, anything else through typer. Library errors were
    handled per command; this last net keeps hostile input from ever
    showing a traceback."""
    _defer("inspect")
    import gc
    # A short process: collect cyclic garbage after 100,000 allocations,
    # not 700. Imports alone make ~100,000 objects and nothing here makes
    # many cycles: -3 ms on a small table, -5..10 % on 100,000 mappings,
    # the same peak RSS (bench/RESULTS.md, issue 11). Set for the command
    # line only, never by the library.
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(100_000, older, oldest)
    # A file name is bytes on Linux; one that is not UTF-8 reaches us as
    # surrogates (PEP 383) and goes out as the bytes it was, not as an
    # encoding error (stderr's messages already escape it).
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    try:
        from . import argv
        call = argv.parse(sys.argv[1:])
        if call is not None:
            argv.invoke(*call)
        from .typer_app import app_for
        app_for(sys.argv)(prog_name="acpitables")
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc} (please report this)\n")
        sys.exit(1)


def _defer(name: str) -> None:
    """Leave a standard module to be imported when something first uses
    it. dataclasses imports inspect (with ast, dis and tokenize: ~5 ms,
    half a Python start-up) for one call that our data classes, which all
    carry docstrings, never make; typer's paths use inspect and load it
    then. An `import` of the module finds the stand-in as it is; its first
    attribute lookup imports the real module into sys.modules and takes
    on its contents. For this process only: the library never touches
    sys.modules."""
    if name in sys.modules:
        return
    import types

    class Deferred(types.ModuleType):
        def __getattr__(self, attr: str) -> Any:
            import importlib
            if sys.modules.get(name) is self:
                del sys.modules[name]
            real = importlib.import_module(name)
            self.__dict__.update(real.__dict__)
            return getattr(real, attr)

    sys.modules[name] = Deferred(name)


def __getattr__(name: str) -> Any:
    if name == "app":
        from .typer_app import make_app
        globals()["app"] = app = make_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
