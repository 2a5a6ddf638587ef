"""Scaling of ``--launcher ray``: 1, 2 and 4 actors against a plain one-process run, on the devserver with latency.

What it measures: the devserver runs as a subprocess with ``--latency`` (0.2 s). A local Ray is started once
(``ray.init(num_cpus=<cores>)``, its start-up time printed). For each actor count k in ``--actors`` (1 2 4) it
times the same ``--n`` text samples (``--n 400``) twice, each into a fresh temporary store:

- ray: ``infer_ray`` with k actors, each at ``--concurrency`` (8) requests in flight; the wall time includes
  placing the actors, building and starting their models, and closing them;
- plain: ``runner.infer`` in this process at k x ``--concurrency``, the same requests in flight in total.

Ideal samples/s is k x concurrency / latency. The table gives wall seconds, samples/s and the fraction of ideal of
both, for Ray also the time to its first stored result and the window from the first to the last (through the
launcher's ``after_store`` hook), and the launcher's overhead (ray wall - plain wall). A last row times a cold
run, where the launcher starts and stops Ray itself (what ``run.py --launcher ray`` pays without
``--ray-address``).

Run: ``python bench/scaling_ray.py [--n 400] [--concurrency 8] [--latency 0.2] [--actors 1 2 4]``.
Needs the ray extra (``pip install 'evalkit[ray]'``). Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import MODEL, devserver, make_samples, print_table

from evalkit.config import Config, Entry
from evalkit.factory import build_model
from evalkit.job import JobSpec
from evalkit.runner import infer
from evalkit.store import RunStore
from evalkit.types import Sample


def bench_config(root: Path, base_url: str, concurrency: int) -> Config:
    """A config with the one model entry the actors build."""
    opts = {"base_url": base_url, "model": MODEL, "concurrency": concurrency, "max_retries": 2, "backoff_s": 0.05}
    return Config(
        path=root / "config.yaml", dataset_root=root, work_dir=root, models={MODEL: Entry(MODEL, "openai", opts)}
    )


@dataclass(frozen=True)
class Timing:
    """One infer stage.

    Attributes:
        wall: seconds from the call to its return (Ray: actors placed, models started and closed included).
        first: Ray: seconds from the call to the first stored result (one server latency at least); else NaN.
        window: Ray: seconds from the first stored result to the last; else NaN.
    """

    wall: float
    first: float
    window: float


async def timed(root: Path, url: str, samples: list[Sample], k: int, concurrency: int, launcher: str) -> Timing:
    """One infer stage over ``samples`` into a fresh store; raises if any sample failed.

    The entry's ``concurrency`` is per actor under Ray and k x that in the plain run: it is also the ceiling of
    the endpoint's adaptive limiter, which ``infer``'s own ``concurrency`` argument does not raise.
    """
    from evalkit.launch import ray_launch

    cfg = bench_config(root, url, concurrency if launcher == "ray" else k * concurrency)
    model = build_model(cfg, MODEL)
    spec = JobSpec(MODEL, "bench", launcher="ray", workers=k, concurrency=concurrency, progress=False)
    stored: list[float] = []
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        store = RunStore(Path(tmp), MODEL, "bench")
        t0 = time.perf_counter()
        if launcher == "ray":
            ray_launch.after_store = lambda _alive, _n: stored.append(time.perf_counter())
            try:
                preds, stats = await ray_launch.infer_ray(cfg, spec, model, samples, store, "v1")
            finally:
                ray_launch.after_store = None
        else:
            preds, stats = await infer(model, samples, store, "v1", concurrency=k * concurrency, progress=False)
        wall = time.perf_counter() - t0
    if stats.ran != len(samples) or stats.failed or len(preds) != len(samples):
        raise RuntimeError(f"{launcher} x{k}: ran {stats.ran}, failed {stats.failed} of {len(samples)}")
    if not stored:  # the plain run: no hook
        return Timing(wall, float("nan"), float("nan"))
    return Timing(wall, stored[0] - t0, stored[-1] - stored[0])


def row(n: int, ideal: float, t: Timing) -> str:
    return f"{t.wall:.2f} s ({n / t.wall:.0f}/s, {n / t.wall / ideal:.2f} of ideal)"


async def main_async(n: int, concurrency: int, latency: float, actors: list[int]) -> None:
    import ray

    samples = make_samples(n)
    rows: list[tuple[str, str]] = []
    with devserver(latency_s=latency) as server, tempfile.TemporaryDirectory(prefix="evalkit-bench-") as root:
        url = server.base_url
        t0 = time.perf_counter()
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        ray.init(num_cpus=os.cpu_count() or 1, **quiet)
        rows.append(("ray.init (local, once)", f"{time.perf_counter() - t0:.2f} s"))
        try:
            for k in actors:
                ideal = k * concurrency / latency
                on_ray = await timed(Path(root), url, samples, k, concurrency, "ray")
                plain = await timed(Path(root), url, samples, k, concurrency, "plain")
                rows.append((f"{k} actor(s) x {concurrency}: ray", row(n, ideal, on_ray)))
                rows.append(
                    ("  ray: first result after / results window", f"{on_ray.first:.2f} s / {on_ray.window:.2f} s")
                )
                rows.append((f"  plain x {k * concurrency}", row(n, ideal, plain)))
                rows.append(("  ray overhead (wall - plain wall)", f"{on_ray.wall - plain.wall:+.2f} s"))
        finally:
            ray.shutdown()
        k = actors[min(1, len(actors) - 1)]
        cold = await timed(Path(root), url, samples, k, concurrency, "ray")
        rows.append((f"cold: {k} actor(s), the launcher starts and stops Ray", f"{cold.wall:.2f} s"))
    title = f"ray scaling: n={n}, server latency {latency:g} s, {os.cpu_count()} cores, ray {ray.__version__}"
    print_table(title, rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="samples")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight per actor")
    p.add_argument("--latency", type=float, default=0.2, help="devserver seconds before each reply")
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4], help="actor counts to time")
    args = p.parse_args()
    asyncio.run(main_async(args.n, args.concurrency, args.latency, args.actors))


if __name__ == "__main__":
    main()
