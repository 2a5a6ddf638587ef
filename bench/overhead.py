"""Framework overhead per sample of evalkit's ``infer()`` against a zero-latency endpoint.

What it measures: the devserver (``python -m evalkit.devserver --latency 0``) runs as a subprocess on a free
loopback port. First ``--n`` raw aiohttp POSTs to ``/v1/chat/completions`` at ``--concurrency`` give the HTTP
floor (client + server cost with nothing of evalkit). Then ``infer()`` runs the same number of text-only
samples through a real ``OpenAICompatModel`` and a ``RunStore`` in a temporary work dir, at the same
concurrency. overhead = evalkit ms/sample - raw ms/sample; goal: <= 0.5 ms/sample. The fsyncs made by the
store's group-commit thread are counted by wrapping ``os.fsync`` for the run.

Run: ``python bench/overhead.py [--n 2000] [--concurrency 64] [--progress]``. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

from _common import MODEL, devserver, make_model, make_samples, print_table, raw_posts, verdict

from evalkit.runner import infer
from evalkit.store import RunStore

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

GOAL_MS = 0.5
WARMUP = 200


class FsyncCounter:
    """Counts ``os.fsync`` calls from any thread while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def wrap(self, real: Callable[[FileDescriptorLike], None]) -> Callable[[FileDescriptorLike], None]:
        def counted(fd: FileDescriptorLike) -> None:
            with self._lock:
                self.count += 1
            real(fd)

        return counted


@contextmanager
def count_fsyncs() -> Iterator[FsyncCounter]:
    """Replace ``os.fsync`` with a counting wrapper for the duration of the block."""
    counter = FsyncCounter()
    with mock.patch.object(os, "fsync", counter.wrap(os.fsync)):
        yield counter


async def evalkit_run(base_url: str, n: int, concurrency: int, progress: bool) -> tuple[float, int, int]:
    """Seconds for ``infer()`` over ``n`` samples, the fsyncs it made and the failed predictions."""
    samples = make_samples(n)
    model = make_model(base_url, concurrency)
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        store = RunStore(Path(tmp), MODEL, "bench")
        with count_fsyncs() as fsyncs:
            t0 = time.perf_counter()
            _, stats = await infer(model, samples, store, "v1", concurrency=concurrency, progress=progress)
            wall = time.perf_counter() - t0
    if stats.ran != n:
        raise RuntimeError(f"infer ran {stats.ran} of {n} samples")
    return wall, fsyncs.count, stats.failed


def report(n: int, concurrency: int, raw_s: float, ek_s: float, fsyncs: int, failed: int) -> None:
    raw_ms = raw_s * 1000 / n
    ek_ms = ek_s * 1000 / n
    overhead = ek_ms - raw_ms
    print_table(
        f"framework overhead: n={n}, concurrency={concurrency}, server latency 0",
        [
            ("raw aiohttp wall s", f"{raw_s:.3f}"),
            ("raw aiohttp samples/s", f"{n / raw_s:.1f}"),
            ("raw aiohttp ms/sample", f"{raw_ms:.3f}"),
            ("evalkit infer wall s", f"{ek_s:.3f}"),
            ("evalkit infer samples/s", f"{n / ek_s:.1f}"),
            ("evalkit infer ms/sample", f"{ek_ms:.3f}"),
            ("overhead ms/sample", f"{overhead:.3f}"),
            ("overhead goal ms/sample", f"<= {GOAL_MS}"),
            ("fsync calls", str(fsyncs)),
            ("failed predictions", str(failed)),
        ],
    )
    print(verdict(overhead <= GOAL_MS))


async def main_async(n: int, concurrency: int, progress: bool) -> None:
    with devserver(latency_s=0.0) as server:
        await raw_posts(server.base_url, WARMUP, concurrency)
        raw_s = await raw_posts(server.base_url, n, concurrency)
        ek_s, fsyncs, failed = await evalkit_run(server.base_url, n, concurrency, progress)
    report(n, concurrency, raw_s, ek_s, fsyncs, failed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="samples (and raw POSTs)")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    p.add_argument("--progress", action="store_true", help="show infer's progress bar (off by default)")
    args = p.parse_args()
    asyncio.run(main_async(args.n, args.concurrency, args.progress))


if __name__ == "__main__":
    main()
