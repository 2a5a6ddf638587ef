"""Pausing the cyclic garbage collector around work that builds many long-lived objects and frees few."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
#: blocks now inside collector_paused (all threads), and whether the collector ran before the first began
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (reference counting still frees).

    Loading records, building per-sample rows and exports make long-lived, acyclic objects: the collector's full
    passes over every object built so far made loading 100,000 records about twice as slow as ten times 10,000.

    Blocks may overlap, in one thread or several (a file written on a worker thread while the next is built): the
    collector runs again once the last one ends, if it ran before the first began.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


#: the young generation's threshold during a job: in-flight requests keep ~40 objects each alive (coroutines,
#: futures, connections), ~10,000 at a concurrency of 256, and the default 700 made the collector walk them every
#: few hundred allocations: 11% of a 100,000-sample run at 0 ms, and 17% at 1,000,000 with the full passes it set off
JOB_THRESHOLD0 = 20_000


_tuned_depth = 0
_tuned_before: tuple[int, ...] = ()


@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """Collect the young generation every :data:`JOB_THRESHOLD0` allocations instead of 700 for the block (never
    less often than the caller's threshold), then put the thresholds back. Blocks may overlap (jobs run at once
    through the API): the thresholds are put back when the last one ends."""
    global _tuned_depth, _tuned_before
    with _lock:
        if _tuned_depth == 0:
            _tuned_before = gc.get_threshold()
            gc.set_threshold(max(_tuned_before[0], JOB_THRESHOLD0), *_tuned_before[1:])
        _tuned_depth += 1
    try:
        yield
    finally:
        with _lock:
            _tuned_depth -= 1
            if _tuned_depth == 0:
                gc.set_threshold(*_tuned_before)


def hold_records() -> None:
    """Hand every object alive now to the collector's permanent generation (``gc.freeze``): a run's samples,
    predictions and verdicts live until it ends, and a collection walking millions of them finds nothing to free.

    Undone by :func:`release_records` at the end of the run.
    """
    gc.freeze()


def release_records(frozen_before: int) -> None:
    """Give back to the collector what :func:`hold_records` held, unless the caller had frozen objects of its own
    before the run (``frozen_before``: ``gc.get_freeze_count()`` then), which would be given back with them."""
    if frozen_before == 0:
        gc.unfreeze()
