"""Scaling of ``--launcher ray``: 1, 2 and 4 actors against a plain one-process run, on the devserver with latency.

What it measures: the devserver runs as a subprocess with ``--latency`` (0.2 s). A local Ray is started once
(``ray.init(num_cpus=<cores>)``, its start-up time printed). For each actor count k in ``--actors`` (1 2 4) it
times the same ``--n`` text samples (``--n 400``) twice, each into a fresh temporary store:

- ray: ``infer_ray`` with k actors, each at ``--concurrency`` (8) requests in flight; the wall time includes
  placing the actors, building and starting their models, and closing them;
- plain: ``runner.infer`` in this process at k x ``--concurrency``, the same requests in flight in total.

Ideal samples/s is k x concurrency / latency. The table gives wall seconds, samples/s, the fraction of ideal of
both, and the launcher's overhead (ray wall - plain wall). A last row times a cold run, where the launcher starts
and stops Ray itself (what ``run.py --launcher ray`` pays without ``--ray-address``).

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


async def timed(cfg: Config, samples: list[Sample], k: int, concurrency: int, launcher: str) -> float:
    """Wall seconds of one infer stage over ``samples`` into a fresh store; raises if any sample failed."""
    from evalkit.launch.ray_launch import infer_ray

    model = build_model(cfg, MODEL)
    spec = JobSpec(MODEL, "bench", launcher="ray", workers=k, concurrency=concurrency, progress=False)
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        store = RunStore(Path(tmp), MODEL, "bench")
        t0 = time.perf_counter()
        if launcher == "ray":
            preds, stats = await infer_ray(cfg, spec, model, samples, store, "v1")
        else:
            preds, stats = await infer(model, samples, store, "v1", concurrency=k * concurrency, progress=False)
        wall = time.perf_counter() - t0
    if stats.ran != len(samples) or stats.failed or len(preds) != len(samples):
        raise RuntimeError(f"{launcher} x{k}: ran {stats.ran}, failed {stats.failed} of {len(samples)}")
    return wall


async def main_async(n: int, concurrency: int, latency: float, actors: list[int]) -> None:
    import ray

    samples = make_samples(n)
    rows: list[tuple[str, str]] = []
    with devserver(latency_s=latency) as server, tempfile.TemporaryDirectory(prefix="evalkit-bench-") as root:
        cfg = bench_config(Path(root), server.base_url, concurrency)
        t0 = time.perf_counter()
        ray.init(
            num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
        )
        rows.append(("ray.init (local, once)", f"{time.perf_counter() - t0:.2f} s"))
        try:
            for k in actors:
                ideal = k * concurrency / latency
                ray_wall = await timed(cfg, samples, k, concurrency, "ray")
                plain_wall = await timed(cfg, samples, k, concurrency, "plain")
                rows.append(
                    (
                        f"{k} actor(s) x {concurrency} vs plain x {k * concurrency}",
                        f"ray {ray_wall:.2f} s ({n / ray_wall:.0f}/s, {n / ray_wall / ideal:.2f} of ideal), "
                        f"plain {plain_wall:.2f} s ({n / plain_wall:.0f}/s, {n / plain_wall / ideal:.2f}), "
                        f"overhead {ray_wall - plain_wall:+.2f} s",
                    )
                )
        finally:
            ray.shutdown()
        k = actors[min(1, len(actors) - 1)]
        cold = await timed(cfg, samples, k, concurrency, "ray")
        rows.append((f"cold: {k} actor(s), the launcher starts and stops Ray", f"{cold:.2f} s"))
    print_table(
        f"ray scaling: n={n}, server latency {latency:g} s, {os.cpu_count()} cores, ray {ray.__version__}", rows
    )


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
