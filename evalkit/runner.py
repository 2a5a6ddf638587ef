"""infer(), evaluate() and the bounded worker pool they share. Each result is stored as soon as it exists."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from evalkit.judges.base import Judge
from evalkit.models.base import Model
from evalkit.store import AppendLog, RunStore
from evalkit.types import Prediction, Sample, Verdict

T = TypeVar("T")


@dataclass
class StageStats:
    """Counts of one infer or eval stage.

    Attributes:
        total: samples considered.
        reused: results already in the store and reused.
        ran: results computed now.
        failed: results computed now that carry an error.
    """

    total: int = 0
    reused: int = 0
    ran: int = 0
    failed: int = 0


async def run_pool(
    items: Sequence[T],
    work: Callable[[T], Awaitable[Any]],
    concurrency: int,
    desc: str,
    progress: bool = True,
) -> None:
    """Run ``work`` on every item with at most ``concurrency`` in flight, with a progress bar."""
    queue: asyncio.Queue[T] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    bar = tqdm(total=len(items), desc=desc, unit="sample", disable=not progress, dynamic_ncols=True)

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await work(item)
            bar.update()

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(items))))))
    finally:
        bar.close()


R = TypeVar("R", Prediction, Verdict)


async def _produce(
    todo: Sequence[Sample],
    make: Callable[[Sample], Awaitable[R]],
    path: Path,
    current: dict[str, R],
    stats: StageStats,
    concurrency: int,
    desc: str,
    progress: bool,
    kept: Callable[[R], R] | None = None,
) -> None:
    """Make one record per sample in the pool and append each to ``path`` the moment it exists.

    ``kept`` gives what stays in memory once the record is stored (default: the record itself).
    """
    with AppendLog(path) as log:

        async def one(s: Sample) -> None:
            rec = await make(s)
            log.append(rec.to_json())
            current[s.id] = kept(rec) if kept else rec
            stats.ran += 1
            stats.failed += not rec.ok

        await run_pool(todo, one, concurrency, desc, progress)


async def infer(
    model: Model,
    samples: Sequence[Sample],
    store: RunStore,
    prompt_version: str,
    *,
    force: bool = False,
    concurrency: int | None = None,
    progress: bool = True,
) -> tuple[dict[str, Prediction], StageStats]:
    """Predict every sample that has no successful prediction under its current key.

    Returns:
        sample id -> the current Prediction (reused or new), and the stage counts.
    """
    keys = {s.id: model.prediction_key(s, prompt_version) for s in samples}
    stored = store.load_predictions(wanted=keys, compact=True, prompts=False)
    current: dict[str, Prediction] = {}
    todo: list[Sample] = []
    for s in samples:
        p = stored.get((s.id, keys[s.id]))
        if p is not None and p.ok and not force:
            current[s.id] = p
        else:
            todo.append(s)
    stats = StageStats(total=len(samples), reused=len(current))
    if not todo:
        return current, stats
    await model.start()
    try:

        async def predict(s: Sample) -> Prediction:
            return await model.predict(s, keys[s.id])

        conc = concurrency or model.concurrency
        desc = f"infer {model.name}"
        await _produce(todo, predict, store.predictions_path, current, stats, conc, desc, progress, _without_prompt)
    finally:
        await model.close()
    return current, stats


def _without_prompt(p: Prediction) -> Prediction:
    """A stored prediction as a run keeps it: the request as sent is in the store, never read again by the run."""
    return replace(p, prompt=None)


def stored_predictions(
    model: Model, samples: Sequence[Sample], store: RunStore, prompt_version: str
) -> tuple[dict[str, Prediction], StageStats]:
    """The stored predictions that match each sample's current key (eval-only and reeval never infer).

    Returns:
        sample id -> its stored Prediction, and the counts: every one found is ``reused``.
    """
    keys = {s.id: model.prediction_key(s, prompt_version) for s in samples}
    stored = store.load_predictions(wanted=keys, compact=True, prompts=False)
    out: dict[str, Prediction] = {}
    for s in samples:
        p = stored.get((s.id, keys[s.id]))
        if p is not None:
            out[s.id] = p
    return out, StageStats(total=len(samples), reused=len(out))


async def evaluate(
    judge: Judge,
    samples: Sequence[Sample],
    preds: dict[str, Prediction],
    store: RunStore,
    *,
    reeval: bool = False,
    concurrency: int | None = None,
    progress: bool = True,
) -> tuple[dict[str, Verdict], StageStats]:
    """Judge every prediction that has no verdict under the current judge key (all of them with ``reeval``).

    Samples without a prediction get no verdict here; reports count them as failed.
    """
    judge.prepare(samples, preds)
    keys = {s.id: judge.verdict_key(preds[s.id]) for s in samples if s.id in preds}
    stored: dict[tuple[str, str], Verdict] = {}
    if reeval:  # reuses no stored verdict; each reeval adds a line per sample: compacted when mostly history
        store.compact_verdicts_if_due(judge.name, keys)
    else:
        stored = store.load_verdicts(judge.name, wanted=keys, compact=True)
    current: dict[str, Verdict] = {}
    todo: list[Sample] = []
    for s in samples:
        if s.id not in keys:
            continue
        v = stored.get((s.id, keys[s.id]))
        if v is not None and v.ok:
            current[s.id] = v
        else:
            todo.append(s)
    stats = StageStats(total=len(samples), reused=len(current))
    if not todo:
        return current, stats
    await judge.start()
    try:

        async def verdict(s: Sample) -> Verdict:
            return await judge.judge(s, preds[s.id])

        path = store.verdicts_path(judge.name)
        conc = concurrency or judge.concurrency
        await _produce(todo, verdict, path, current, stats, conc, f"judge {judge.name}", progress)
    finally:
        await judge.close()
    return current, stats
