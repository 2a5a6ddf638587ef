"""infer(), evaluate() and the bounded worker pool they share. Each result is stored as soon as it exists."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from evalkit.judges.base import Judge
from evalkit.models.base import Model
from evalkit.store import AppendLog, Canon, RunStore
from evalkit.tokens import TokenTally, slim
from evalkit.types import Prediction, Sample, Verdict

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


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
    await run_stream(_Queued(items), len(items), work, concurrency, desc, progress)


class _Feed(Protocol[T_co]):
    """Where the workers of :func:`run_stream` take their items: an ``asyncio.Queue`` or :class:`_Queued`."""

    async def get(self) -> T_co: ...


class _Queued(Generic[T]):
    """The items of a sequence handed out in order as from a queue, without copying them into one (at 1,000,000
    samples a queue's copy is 8 MB more for the whole stage)."""

    def __init__(self, items: Sequence[T]) -> None:
        self._items = iter(items)

    async def get(self) -> T:
        return next(self._items)


async def run_stream(
    queue: _Feed[T],
    total: int,
    work: Callable[[T], Awaitable[Any]],
    concurrency: int,
    desc: str,
    progress: bool = True,
) -> None:
    """Run ``work`` on the ``total`` items that are or will be put on ``queue``, at most ``concurrency`` at once."""
    bar = progress_bar(total, desc, progress)
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1  # claimed before waiting: the workers never wait for more items than will come
            await work(await queue.get())
            bar.update()

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, total)))))
    finally:
        bar.close()


class _NoBar:
    """What a stage counts on when no progress is shown."""

    def update(self, n: int = 1) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def progress_bar(total: int, desc: str, progress: bool) -> Any:
    """A tqdm bar of ``total`` samples, or a stand-in without ``progress`` (a disabled tqdm bar still imports tqdm
    and starts its monitor thread: 15-20 ms of a run's start)."""
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", dynamic_ncols=True)


R = TypeVar("R", Prediction, Verdict)


async def _produce(
    todo: Sequence[Sample] | tuple[asyncio.Queue[Sample], int],
    make: Callable[[Sample], Awaitable[R]],
    path: Path,
    current: dict[str, R],
    stats: StageStats,
    concurrency: int,
    desc: str,
    progress: bool,
    kept: Callable[[R], R] | None = None,
    stored: Callable[[Sample, R], None] | None = None,
) -> None:
    """Make one record per sample in the pool and append each to ``path`` the moment it exists.

    ``todo``: the samples, or a queue they arrive on and how many will (pipelined judging).

    ``kept`` gives what stays in memory once the record is stored (default: the record itself); ``stored`` is
    called with each record once it is in the file (pipelined judging picks it up there).
    """
    with AppendLog(path) as log:

        async def one(s: Sample) -> None:
            rec = await make(s)
            log.append(rec.to_json())
            current[s.id] = kept(rec) if kept else rec
            stats.ran += 1
            stats.failed += not rec.ok
            if stored is not None:
                stored(s, current[s.id])

        queue, total = todo if isinstance(todo, tuple) else (_Queued(todo), len(todo))
        await run_stream(queue, total, one, concurrency, desc, progress)


@dataclass
class InferPlan:
    """What an infer stage will do: each sample's prediction key, the stored predictions it reuses, the rest.

    Attributes:
        keys: sample id -> its current prediction key.
        current: sample id -> the reused stored Prediction (new ones are added as they are made).
        todo: the samples to predict now.
        stats: the stage counts (``total`` and ``reused`` set).
        tokens: where the current predictions' tokens are summed, which then are held without their usage
            (:func:`evalkit.tokens.slim`); None: they keep it.
    """

    keys: dict[str, str]
    current: dict[str, Prediction]
    todo: list[Sample]
    stats: StageStats
    tokens: TokenTally | None = None


def plan_infer(
    model: Model,
    samples: Sequence[Sample],
    store: RunStore,
    prompt_version: str,
    force: bool = False,
    tally: bool = False,
) -> InferPlan:
    """Match every sample to its stored prediction: one with no successful prediction under its key is to do.

    ``tally``: sum the tokens of the predictions as they become current and hold them without their usage.
    """
    tokens = TokenTally() if tally else None
    keys, current, todo = _matched(model, samples, store, prompt_version, tokens, lambda p: p.ok and not force)
    return InferPlan(keys, current, todo, StageStats(total=len(samples), reused=len(current)), tokens)


def _matched(
    model: Model,
    samples: Sequence[Sample],
    store: RunStore,
    prompt_version: str,
    tokens: TokenTally | None,
    usable: Callable[[Prediction], bool],
) -> tuple[dict[str, str], dict[str, Prediction], list[Sample]]:
    """Each sample's current prediction key; sample id -> its stored prediction under that key where ``usable``
    (with ``tokens``: its tokens summed there, the prediction held without its usage); the other samples."""
    keys = {s.id: model.prediction_key(s, prompt_version) for s in samples}
    usage: dict[int, Any] | None = {} if tokens is not None else None  # loaded without usage: it waits here
    stored = store.load_predictions(wanted=keys, compact=True, prompts=False, usage=usage)
    current: dict[str, Prediction] = {}
    rest: list[Sample] = []
    for s in samples:
        p = stored.pop((s.id, keys[s.id]), None)  # popped: a loaded record held once, by current or by nobody
        if p is not None and usable(p):
            if tokens is not None and usage is not None:
                tokens.add(p, usage.pop(id(p), None))
            current[s.id] = p
        else:
            rest.append(s)
    del stored, usage
    return keys, current, rest


async def run_infer(
    model: Model,
    plan: InferPlan,
    store: RunStore,
    concurrency: int | None = None,
    progress: bool = True,
    stored: Callable[[Sample, Prediction], None] | None = None,
    started: bool = False,
) -> None:
    """Predict ``plan.todo``, storing each prediction the moment it exists (then calling ``stored`` with it).

    ``started``: the caller started the model and closes it; else this starts and closes it around the work.
    """
    if not plan.todo:
        return
    if not started:
        await model.start()
    try:

        async def predict(s: Sample) -> Prediction:
            return await model.predict(s, plan.keys[s.id])

        conc = concurrency or model.concurrency
        desc = f"infer {model.name}"
        await _produce(
            plan.todo,
            predict,
            store.predictions_path,
            plan.current,
            plan.stats,
            conc,
            desc,
            progress,
            _without_prompt if plan.tokens is None else _tallied(plan.tokens),
            stored,
        )
    finally:
        if not started:
            await model.close()


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
    plan = plan_infer(model, samples, store, prompt_version, force)
    await run_infer(model, plan, store, concurrency, progress)
    return plan.current, plan.stats


def _tallied(tokens: TokenTally) -> Callable[[Prediction], Prediction]:
    """A new prediction as a run holds it: its tokens summed in ``tokens``, without its usage and request."""

    def kept(p: Prediction) -> Prediction:
        tokens.add(p)
        return slim(p)

    return kept


def _without_prompt(p: Prediction) -> Prediction:
    """A stored prediction as a run keeps it: the request as sent is in the store, never read again by the run."""
    return replace(p, prompt=None)


def stored_predictions(
    model: Model,
    samples: Sequence[Sample],
    store: RunStore,
    prompt_version: str,
    tokens: TokenTally | None = None,
) -> tuple[dict[str, Prediction], StageStats]:
    """The stored predictions that match each sample's current key (eval-only and reeval never infer).

    ``tokens``: sum their tokens there and hold them without their usage (:func:`evalkit.tokens.slim`).

    Returns:
        sample id -> its stored Prediction, and the counts: every one found is ``reused``.
    """
    _, out, _ = _matched(model, samples, store, prompt_version, tokens, lambda p: True)
    return out, StageStats(total=len(samples), reused=len(out))


def pipelines(judge: Judge) -> bool:
    """True when ``judge`` can score each prediction as it is stored: it needs no view of the whole corpus first."""
    return type(judge).prepare is Judge.prepare


def _reusable_verdicts(
    judge: Judge, store: RunStore, keys: dict[str, str], reeval: bool, pred_keys: Mapping[str, str]
) -> dict[tuple[str, str], Verdict]:
    """The stored verdicts under ``keys`` (none with ``reeval``, whose extra lines get compacted when due)."""
    if reeval:  # reuses no stored verdict; each reeval adds a line per sample: compacted when mostly history
        store.compact_verdicts_if_due(judge.name, keys)
        return {}
    drop = judge.audit_details
    return store.load_verdicts(judge.name, keys, compact=True, raw=False, drop_details=drop, pred_keys=pred_keys)


#: the details of a verdict whose every detail was audit-only (shared: a held verdict's dicts are never changed)
_NO_DETAILS: dict[str, Any] = {}


def kept_verdict(judge: Judge, canon: Canon) -> Callable[[Verdict], Verdict]:
    """A verdict as a run keeps it once stored: without the judge's raw reply and its audit-only details (both
    stay in the file; nothing the run computes afterwards reads them), its scores shared with equal ones."""
    drop = judge.audit_details

    def kept(v: Verdict) -> Verdict:
        scores = canon.scores(v.scores)
        audit = any(k in v.details for k in drop)
        if v.raw is None and scores is v.scores and not audit:
            return v
        details = ({k: x for k, x in v.details.items() if k not in drop} or _NO_DETAILS) if audit else v.details
        return Verdict(
            v.sample_id, v.judge, v.key, v.pred_key, scores, None, v.parse_status, v.error, details, v.metric_errors
        )

    return kept


async def evaluate(
    judge: Judge,
    samples: Sequence[Sample],
    preds: dict[str, Prediction],
    store: RunStore,
    *,
    reeval: bool = False,
    concurrency: int | None = None,
    progress: bool = True,
    judged: Handover | None = None,
) -> tuple[dict[str, Verdict], StageStats]:
    """Judge every prediction that has no verdict under the current judge key (all of them with ``reeval``).

    Samples without a prediction get no verdict here; reports count them as failed.

    ``judged`` gets the maps, then each sample once its verdict is final, when there is anything to judge: the
    reused ones and those without a prediction a few at a time while the judge works, the others as their verdicts
    are stored.
    """
    judge.prepare(samples, preds)
    keys = {s.id: judge.verdict_key(s, preds[s.id]) for s in samples if s.id in preds}
    pred_keys = {} if reeval else {sid: p.key for sid, p in preds.items()}
    stored = _reusable_verdicts(judge, store, keys, reeval, pred_keys)
    current: dict[str, Verdict] = {}
    todo: list[Sample] = []
    final: list[Sample] = []  # reused verdicts and samples without a prediction: nothing to wait for
    for s in samples:
        if s.id not in keys:
            if judged is not None:
                final.append(s)
            continue
        v = stored.pop((s.id, keys[s.id]), None)
        if v is not None and v.ok:
            current[s.id] = v
            if judged is not None:
                final.append(s)
        else:
            todo.append(s)
    del keys, pred_keys, stored  # not needed while judging: at 1,000,000 samples ~0.2 GB
    stats = StageStats(total=len(samples), reused=len(current))
    if not todo:
        return current, stats
    await judge.start()
    try:

        async def verdict(s: Sample) -> Verdict:
            return await judge.judge(s, preds[s.id])

        path = store.verdicts_path(judge.name)
        conc = concurrency or judge.concurrency
        kept = kept_verdict(judge, Canon())
        then = None if judged is None else lambda s, _v: judged.done(s)
        stages = [_produce(todo, verdict, path, current, stats, conc, f"judge {judge.name}", progress, kept, then)]
        if judged is not None:
            judged.bind(preds, current)
            stages.append(_hand_over(final, judged))
        await _together(stages)
    finally:
        await judge.close()
    return current, stats


class Handover(Protocol):
    """What a pipelined stage hands each sample to once its verdict is final (:func:`infer_and_judge`)."""

    def bind(self, preds: Mapping[str, Prediction], verdicts: Mapping[str, Verdict]) -> None:
        """The stage's maps (sample id -> current prediction / verdict), given before the first :meth:`done`."""

    def done(self, sample: Sample) -> None:
        """``sample``'s prediction and verdict are final (in the maps); must not raise."""


@dataclass
class Judged:
    """What a pipelined infer + judge stage produced (the two stages' results side by side)."""

    preds: dict[str, Prediction]
    infer: StageStats
    verdicts: dict[str, Verdict]
    judge: StageStats
    tokens: TokenTally


async def infer_and_judge(
    model: Model,
    judge: Judge,
    samples: Sequence[Sample],
    store: RunStore,
    prompt_version: str,
    *,
    force: bool = False,
    concurrency: int | None = None,
    progress: bool = True,
    judged: Handover | None = None,
) -> Judged:
    """Infer and judge at once: each prediction is judged as soon as it is stored, not after the last one.

    For judges that need no view of the whole corpus (:func:`pipelines`). Stored predictions with a stored verdict
    are reused as in ``infer`` then ``evaluate``; the stored ones without are judged from the start; a prediction
    made now is judged as it is stored (it looks up no stored verdict: that would mean reading every stored one).
    With an LLM judge on another endpoint the wall time approaches the longer of the two stages, not their sum.

    ``judged`` gets the stage's maps, then each sample once its verdict is final, when there is anything to ask:
    the reused ones a few at a time while the requests go (never before the first), the others as their verdicts
    are stored.
    """
    if not pipelines(judge):
        raise ValueError(f"judge {judge.name} sees the whole corpus first (prepare): it cannot be pipelined")
    plan = plan_infer(model, samples, store, prompt_version, force, tally=True)
    reused = {s.id: judge.verdict_key(s, p) for s in samples if (p := plan.current.get(s.id)) is not None}
    stored = _reusable_verdicts(judge, store, reused, False, plan.keys)
    verdicts: dict[str, Verdict] = {}
    final: list[Sample] = []  # the samples whose stored verdict is reused
    queue: asyncio.Queue[Sample] = asyncio.Queue()
    for s in samples:
        if s.id in reused:
            v = stored.get((s.id, reused[s.id]))
            if v is not None and v.ok:
                verdicts[s.id] = v
                if judged is not None:
                    final.append(s)
            else:
                queue.put_nowait(s)
    del stored
    jstats = StageStats(total=len(samples), reused=len(verdicts))
    n_judge = queue.qsize() + len(plan.todo)  # every sample predicted now is judged, answer or failure
    try:
        if plan.todo:  # the model first: a model that cannot start is the error the user sees
            await model.start()
        if n_judge:
            await judge.start()
        stages = [
            run_infer(model, plan, store, concurrency, progress, stored=lambda s, _p: queue.put_nowait(s), started=True)
        ]
        if n_judge:

            async def verdict(s: Sample) -> Verdict:
                return await judge.judge(s, plan.current[s.id])

            conc = concurrency or judge.concurrency
            path = store.verdicts_path(judge.name)
            desc = f"judge {judge.name}"
            kept = kept_verdict(judge, Canon())
            then = None if judged is None else lambda s, _v: judged.done(s)
            produce = _produce((queue, n_judge), verdict, path, verdicts, jstats, conc, desc, progress, kept, then)
            stages.append(produce)
        if judged is not None and (plan.todo or n_judge):
            judged.bind(plan.current, verdicts)
            stages.append(_hand_over(final, judged))
        await _together(stages)
    finally:
        closing = [m.close() for m, used in ((model, plan.todo), (judge, n_judge)) if used]
        await asyncio.gather(*closing, return_exceptions=True)
    return Judged(plan.current, plan.stats, verdicts, jstats, plan.tokens or TokenTally())


async def _hand_over(samples: Sequence[Sample], judged: Handover, chunk: int = 256) -> None:
    """``judged.done(s)`` for each of ``samples``, ``chunk`` at a time between the other tasks' steps."""
    await asyncio.sleep(0)  # the stages' first steps (the first requests) go first
    for i, s in enumerate(samples, 1):
        judged.done(s)
        if i % chunk == 0:
            await asyncio.sleep(0)


async def _together(coros: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``coros`` at once; the first to fail cancels the others and its own exception is raised as it is."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
