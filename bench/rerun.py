"""What a rerun of a finished run costs: model calls made, wall time, and the time to load the store.

What it measures: the devserver runs as a subprocess on a free loopback port. ``infer()`` runs ``--n``
text-only samples through a real ``OpenAICompatModel`` into a ``RunStore`` in a temporary work dir (the
finished run). Then, with a fresh model object over the same store: the time of
``RunStore.load_predictions()`` alone, and the wall time of a second ``infer()`` over the same samples (the
rerun), with the chat requests the server counted (``GET /stats``) before and after it.
Goal: the rerun makes 0 model calls (every prediction is reused).

Run: ``python bench/rerun.py [--n 2000] [--concurrency 64] [--latency 0]``. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import MODEL, DevServerProc, devserver, make_model, make_samples, print_table, verdict

from evalkit.runner import StageStats, infer
from evalkit.store import RunStore
from evalkit.types import Sample

PROMPT_VERSION = "v1"


@dataclass(frozen=True)
class RerunFigures:
    """What the benchmark measured.

    Attributes:
        first_s: wall time of the first, full run.
        load_s: wall time of ``RunStore.load_predictions()`` on the finished store.
        loaded: predictions loaded.
        rerun_s: wall time of the rerun's ``infer()``.
        calls: chat requests the server received during the rerun.
        stats: the rerun's stage counts.
    """

    first_s: float
    load_s: float
    loaded: int
    rerun_s: float
    calls: int
    stats: StageStats


async def timed_infer(
    server: DevServerProc, samples: list[Sample], store: RunStore, concurrency: int
) -> tuple[float, StageStats]:
    """Wall time and stage counts of one ``infer()`` with a fresh model object."""
    model = make_model(server.base_url, concurrency)
    t0 = time.perf_counter()
    _, stats = await infer(model, samples, store, PROMPT_VERSION, concurrency=concurrency, progress=False)
    return time.perf_counter() - t0, stats


def timed_load(store: RunStore) -> tuple[float, int]:
    """Wall time of loading the stored predictions and how many there are."""
    t0 = time.perf_counter()
    loaded = store.load_predictions()
    return time.perf_counter() - t0, len(loaded)


async def measure(server: DevServerProc, n: int, concurrency: int, work_dir: Path) -> RerunFigures:
    samples = make_samples(n)
    first_s, first = await timed_infer(server, samples, RunStore(work_dir, MODEL, "bench"), concurrency)
    if first.ran != n or first.failed:
        raise RuntimeError(f"first run: ran {first.ran} of {n}, {first.failed} failed")
    load_s, loaded = timed_load(RunStore(work_dir, MODEL, "bench"))
    before = server.requests()
    rerun_s, stats = await timed_infer(server, samples, RunStore(work_dir, MODEL, "bench"), concurrency)
    calls = server.requests() - before
    return RerunFigures(first_s, load_s, loaded, rerun_s, calls, stats)


def report(n: int, f: RerunFigures) -> None:
    print_table(
        f"rerun of a finished run: n={n}",
        [
            ("first run wall s", f"{f.first_s:.3f}"),
            ("store load s (load_predictions)", f"{f.load_s:.4f}"),
            ("predictions loaded", str(f.loaded)),
            ("rerun wall s", f"{f.rerun_s:.4f}"),
            ("rerun reused", str(f.stats.reused)),
            ("rerun ran", str(f.stats.ran)),
            ("rerun model calls", str(f.calls)),
            ("model calls goal", "0"),
        ],
    )
    print(verdict(f.calls == 0 and f.stats.reused == n))


async def main_async(n: int, concurrency: int, latency: float) -> None:
    with devserver(latency_s=latency) as server, tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        figures = await measure(server, n, concurrency, Path(tmp))
    report(n, figures)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="samples")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight on the first run")
    p.add_argument("--latency", type=float, default=0.0, help="devserver seconds before each reply")
    args = p.parse_args()
    asyncio.run(main_async(args.n, args.concurrency, args.latency))


if __name__ == "__main__":
    main()
