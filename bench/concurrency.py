"""Concurrency adaptation: how fast evalkit's per-endpoint limiter finds a server's hidden concurrency limit.

A loopback server (this script in ``--serve`` mode, a subprocess) answers after ``--latency`` seconds and refuses
with HTTP 429 (``Retry-After: --retry-after``) any request that arrives while ``--limit`` are already in flight.
evalkit's real ``OpenAICompatModel`` sends ``--n`` samples through the runner's pool of ``--ceiling`` workers:

- adaptive from the ceiling (the default: the limit starts at ``concurrency``),
- adaptive from the floor (1),
- fixed at the ceiling (``adaptive: false``, what evalkit did before),
- fixed at the hidden limit (an oracle that knows it: the best a client can do).

Printed per run: wall time, answered samples/s and its ratio to the ideal (limit / latency), time to settle (from the
start until the limit enters [DECREASE x limit, limit + 1] for good), requests wasted (429s), the limiter's
final/min/max and decreases, failed samples. Usage::

    python bench/concurrency.py [--n 2000] [--limit 24] [--ceiling 64] [--latency 0.1] [--retry-after 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from _common import HOST, _wait_ready, free_port, make_samples, stop
from aiohttp import web

from evalkit.limiter import DECREASE, Limiter, endpoint_snapshot, limiter_for
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.runner import run_pool
from evalkit.types import Sample


def serve(port: int, limit: int, latency_s: float, retry_after: str) -> None:
    """The throttling server: 429 above ``limit`` requests in flight; ``GET /stats`` and ``POST /reset``."""
    state = {"in_flight": 0, "served": 0, "refused": 0, "max_in_flight": 0}

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        if state["in_flight"] >= limit:
            state["refused"] += 1
            headers = {"Retry-After": retry_after} if retry_after else {}
            return web.json_response({"error": "too many requests"}, status=429, headers=headers)
        state["in_flight"] += 1
        state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
        try:
            await asyncio.sleep(latency_s)
        finally:
            state["in_flight"] -= 1
        state["served"] += 1
        return web.json_response({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "echo"}]})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state)

    async def reset(request: web.Request) -> web.Response:
        state.update(served=0, refused=0, max_in_flight=0)
        return web.json_response(state)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    web.run_app(app, host=HOST, port=port, access_log=None, print=None)


@contextmanager
def throttling_server(limit: int, latency_s: float, retry_after: str) -> Iterator[str]:
    """Run :func:`serve` as a subprocess; yields its root URL."""
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port), "--limit", str(limit), "--latency", str(latency_s)]
    argv += ["--retry-after", retry_after]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        _wait_ready(proc, port, 30.0)
        yield f"http://{HOST}:{port}"
    finally:
        stop(proc)


def _call(url: str, method: str = "GET") -> dict[str, int]:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, int] = json.load(resp)
    return data


@dataclass(frozen=True)
class Outcome:
    """One run's figures.

    Attributes:
        label: what was run.
        wall_s: seconds from the first request to the last answer.
        failed: samples whose prediction failed (retries spent).
        wasted: 429s the server sent.
        settle_s: seconds until the limit entered the band around the hidden limit for good (nan: never, or fixed).
        snapshot: the limiter's snapshot ({} when fixed).
    """

    label: str
    wall_s: float
    failed: int
    wasted: int
    settle_s: float
    snapshot: dict[str, object]


def _settle_time(trace: list[tuple[float, int]], limit: int) -> float:
    """Seconds until the traced limit entered [DECREASE x limit, limit + 1] and stayed there."""
    low, high = int(DECREASE * limit), limit + 1
    settled = float("nan")
    for t, slots in trace:
        if low <= slots <= high:
            if settled != settled:  # nan: entering the band
                settled = t
        else:
            settled = float("nan")
    return settled


async def _one_run(
    root: str, samples: list[Sample], ceiling: int, adaptive: bool, start: int | None, label: str, limit: int
) -> Outcome:
    opts = OpenAIOptions(
        base_url=f"{root}/v1", model="echo", modalities=(), concurrency=ceiling, adaptive=adaptive, max_retries=10
    )
    model = OpenAICompatModel("echo", opts)
    limiter: Limiter | None = limiter_for(opts.urls[0], 1, ceiling, start) if adaptive else None
    trace: list[tuple[float, int]] = []
    failed = 0

    async def one(s: Sample) -> None:
        nonlocal failed
        pred = await model.predict(s, s.id)
        failed += not pred.ok

    async def watch(t0: float) -> None:
        while limiter is not None:
            trace.append((time.perf_counter() - t0, limiter.slots))
            await asyncio.sleep(0.01)

    await model.start()
    _call(f"{root}/reset", "POST")
    t0 = time.perf_counter()
    watcher = asyncio.create_task(watch(t0))
    try:
        await run_pool(samples, one, ceiling, label, progress=False)
    finally:
        wall = time.perf_counter() - t0
        watcher.cancel()
        await model.close()
    snap = next(iter(endpoint_snapshot().values()), {}) if adaptive else {}
    wasted = _call(f"{root}/stats")["refused"]
    settle = _settle_time(trace, limit) if adaptive else float("nan")
    return Outcome(label, wall, failed, wasted, settle, snap)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="samples per run (default 2000)")
    p.add_argument("--limit", type=int, default=24, help="the server's hidden concurrency limit (default 24)")
    p.add_argument("--ceiling", type=int, default=64, help="the entry's concurrency (default 64)")
    p.add_argument("--latency", type=float, default=0.1, help="seconds per answer (default 0.1)")
    p.add_argument("--retry-after", default="0.2", help="Retry-After of a 429, seconds ('' for none; default 0.2)")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.limit, args.latency, args.retry_after)
        return
    samples = make_samples(args.n)
    runs = [
        (f"adaptive, from ceiling {args.ceiling}", args.ceiling, True, None),
        ("adaptive, from floor 1", args.ceiling, True, 1),
        (f"fixed {args.ceiling} (adaptive: false)", args.ceiling, False, None),
        (f"fixed {args.limit} (knows the limit)", args.limit, False, None),
    ]
    ideal = args.limit / args.latency
    print(
        f"{args.n} samples; server: 429 above {args.limit} in flight, {args.latency:g} s per answer, "
        f"Retry-After {args.retry_after or 'none'}; ideal {ideal:.1f} samples/s"
    )
    head = f"{'run':<34} {'wall s':>7} {'samples/s':>9} {'of ideal':>8} {'settle s':>8} {'429s':>6} "
    print(head + f"{'final':>5} {'min':>4} {'max':>4} {'cuts':>5} {'failed':>6}")
    with throttling_server(args.limit, args.latency, args.retry_after) as root:
        for label, ceiling, adaptive, start in runs:
            out = asyncio.run(_one_run(root, samples, ceiling, adaptive, start, label, args.limit))
            rate = (args.n - out.failed) / out.wall_s  # answered samples only: a failed one ends early
            s = out.snapshot
            limits = (
                f"{s.get('final', '-'):>5} {s.get('min', '-'):>4} {s.get('max', '-'):>4} {s.get('decreases', '-'):>5}"
            )
            print(
                f"{label:<34} {out.wall_s:7.2f} {rate:9.1f} {rate / ideal:8.2f} {out.settle_s:8.2f} {out.wasted:6d} "
                f"{limits} {out.failed:6d}"
            )


if __name__ == "__main__":
    main()
