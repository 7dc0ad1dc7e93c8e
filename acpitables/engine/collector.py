"""acpitables.engine.collector -- building large trees without the cyclic collector.

Loading a description, describing a table and rendering one make many new
objects and no cycles: the collector would rescan the young, growing tree
again and again (superlinear: a YAML decode of 100,000 mappings took twice
as long with it on; issue 11). These steps pause it and leave it as they
found it; nothing else changes its settings (the CLI's threshold is its
own).
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused() -> Iterator[None]:
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
