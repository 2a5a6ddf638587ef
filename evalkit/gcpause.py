"""Pausing the cyclic garbage collector around work that builds many long-lived objects and frees few."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (reference counting still frees).

    Loading records, building per-sample rows and exports make long-lived, acyclic objects: the collector's full
    passes over every object built so far made loading 100,000 records about twice as slow as ten times 10,000.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
