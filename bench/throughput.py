"""Throughput of evalkit's ``infer()`` against an endpoint with a fixed per-request latency.

What it measures: the devserver runs as a subprocess with ``--latency`` (0.2 s) on a free loopback port;
``infer()`` runs ``--n`` text-only samples through a real ``OpenAICompatModel`` and a ``RunStore`` in a
temporary work dir at ``--concurrency`` (64). With every request taking ``latency`` seconds the best possible
rate is concurrency / latency (64 / 0.2 = 320 samples/s); the figure is samples/s as a fraction of that.
Goal: >= 0.95. For reference it also times the same number of raw aiohttp POSTs at the same concurrency
(the HTTP floor, nothing of evalkit) and prints ceil(n / concurrency) x latency, the least wall time any
client can reach when every request takes exactly ``latency``.

Run: ``python bench/throughput.py [--n 2000] [--concurrency 64] [--latency 0.2] [--progress]``.
Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

from _common import MODEL, devserver, make_model, make_samples, print_table, raw_posts, verdict

from evalkit.runner import infer
from evalkit.store import RunStore

GOAL_FRACTION = 0.95


async def timed_infer(base_url: str, n: int, concurrency: int, progress: bool) -> tuple[float, int]:
    """Seconds for ``infer()`` over ``n`` samples and the number of failed predictions."""
    samples = make_samples(n)
    model = make_model(base_url, concurrency)
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        store = RunStore(Path(tmp), MODEL, "bench")
        t0 = time.perf_counter()
        _, stats = await infer(model, samples, store, "v1", concurrency=concurrency, progress=progress)
        wall = time.perf_counter() - t0
    if stats.ran != n:
        raise RuntimeError(f"infer ran {stats.ran} of {n} samples")
    return wall, stats.failed


def report(n: int, concurrency: int, latency: float, wall: float, raw_wall: float, failed: int) -> None:
    ideal = concurrency / latency
    rate = n / wall
    fraction = rate / ideal
    rounds_floor = math.ceil(n / concurrency) * latency
    print_table(
        f"throughput: n={n}, concurrency={concurrency}, server latency {latency:g} s",
        [
            ("evalkit infer wall s", f"{wall:.3f}"),
            ("raw aiohttp wall s", f"{raw_wall:.3f}"),
            ("ideal wall s (n / ideal rate)", f"{n / ideal:.3f}"),
            ("least wall s (ceil(n/c) x latency)", f"{rounds_floor:.3f}"),
            ("evalkit samples/s", f"{rate:.1f}"),
            ("raw aiohttp samples/s", f"{n / raw_wall:.1f}"),
            ("ideal samples/s", f"{ideal:.1f}"),
            ("raw aiohttp fraction of ideal", f"{n / raw_wall / ideal:.3f}"),
            ("evalkit fraction of ideal", f"{fraction:.3f}"),
            ("goal fraction", f">= {GOAL_FRACTION}"),
            ("failed predictions", str(failed)),
        ],
    )
    print(verdict(fraction >= GOAL_FRACTION))


async def main_async(n: int, concurrency: int, latency: float, progress: bool) -> None:
    with devserver(latency_s=latency) as server:
        raw_wall = await raw_posts(server.base_url, n, concurrency)
        wall, failed = await timed_infer(server.base_url, n, concurrency, progress)
    report(n, concurrency, latency, wall, raw_wall, failed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="samples")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    p.add_argument("--latency", type=float, default=0.2, help="devserver seconds before each reply")
    p.add_argument("--progress", action="store_true", help="show infer's progress bar (off by default)")
    args = p.parse_args()
    asyncio.run(main_async(args.n, args.concurrency, args.latency, args.progress))


if __name__ == "__main__":
    main()
