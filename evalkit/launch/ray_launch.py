"""``--launcher ray``: one actor per GPU (or per endpoint replica, or ``--workers N``) predicts its shard.

The driver (the process that runs the job) is the one writer: actors build the model with evalkit's own backend
code, predict the samples of their shard (``shard_of(prediction key, n)``) and stream the Predictions back in
small batches; the driver appends each to ``predictions.jsonl`` as it arrives, so the store and resume work as
in a one-process run. When an actor dies, the samples of its stream without a stored result go to the surviving
actors (a replacement actor when none survives); the driver stores a sample once even if two results arrive.
A sample whose actor died ``MAX_ATTEMPTS`` times is stored as a failed Prediction (a rerun tries it again).
If the driver itself dies, Ray ends its actors; what was stored stays and a rerun predicts only the rest.

Ray Data's LLM module (``ray.data.llm``) is not used for ``vllm-offline``: its vLLM processor renders the chat
prompt and loads media in stages of its own (chat template, prepare-multimodal), while the prediction key names
evalkit's backend, which applies its media budgets and modality notes and builds the ``LLM.chat`` conversation
itself; answers stored under one key must come from one code path, whatever the launcher. A ``vllm-offline``
actor runs evalkit's backend on ``tensor_parallel_size`` GPUs instead (see docs/scale.md).

Ray is optional: it is imported here only, when the launcher runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from evalkit.errors import ConfigError, ModelError
from evalkit.runner import StageStats, _without_prompt, stored_predictions
from evalkit.shard import shard_of
from evalkit.store import AppendLog
from evalkit.types import Prediction, Sample

if TYPE_CHECKING:
    from evalkit.config import Config
    from evalkit.job import JobSpec
    from evalkit.models.base import Model
    from evalkit.store import RunStore

log = logging.getLogger(__name__)

#: results an actor sends back in one message, and the longest a finished result waits for company
BATCH = 16
FLUSH_S = 0.05
#: deaths of the actor holding a sample before the sample is stored as failed
MAX_ATTEMPTS = 3
#: how long the driver waits for actors to be placed and their models started
START_TIMEOUT_S = 900.0
#: how long ``--ray-address host:port`` may take to accept a connection
CONNECT_TIMEOUT_S = 5.0
#: actors when the cluster has no GPU and ``--workers`` is not given: one per CPU core, at most this many
MAX_CPU_WORKERS = 4

#: test seam: called on the driver after each stored result with the live actors and the results stored so far
after_store: Callable[[list[Any], int], None] | None = None

Item = tuple[Sample, str]  # a sample and its prediction key


@dataclass(frozen=True)
class WorkerSpec:
    """What an actor needs to build the model: plain data, pickled to each actor.

    Attributes:
        cfg: the validated config (entries, plugins, roots).
        model: the model entry's name.
        overrides: model options set on the command line.
        run_dir: the run's folder (for backends that write files of their own).
        concurrency: requests in flight per actor.
    """

    cfg: Config
    model: str
    overrides: dict[str, Any] = field(default_factory=dict)
    run_dir: Path = Path()
    concurrency: int = 1


class ShardWorker:
    """The actor: evalkit's backend for one model entry, answering the samples it is sent."""

    def __init__(self, spec: WorkerSpec) -> None:
        from evalkit.factory import build_model, import_plugins

        import_plugins(spec.cfg.plugins, spec.cfg.path.parent)
        self.model = build_model(spec.cfg, spec.model, spec.overrides)
        self.model.bind_run_dir(spec.run_dir)
        self._slots = asyncio.Semaphore(max(1, spec.concurrency))

    async def start(self) -> None:
        await self.model.start()

    async def close(self) -> None:
        await self.model.close()

    async def run(self, items: list[Item]) -> AsyncIterator[list[dict[str, Any]]]:
        """Predict ``items``; yield the Predictions (as JSON) in batches of at most ``BATCH`` as they finish."""
        done: asyncio.Queue[Prediction] = asyncio.Queue()

        async def one(sample: Sample, key: str) -> None:
            async with self._slots:
                done.put_nowait(await self.model.predict(sample, key))

        tasks = [asyncio.create_task(one(s, k)) for s, k in items]
        left = len(tasks)
        while left:
            batch = [await done.get()]
            deadline = asyncio.get_running_loop().time() + FLUSH_S
            while len(batch) < min(BATCH, left):
                wait = deadline - asyncio.get_running_loop().time()
                try:
                    batch.append(await asyncio.wait_for(done.get(), max(0.0, wait)))
                except TimeoutError:
                    break
            left -= len(batch)
            yield [p.to_json() for p in batch]
        await asyncio.gather(*tasks)


async def infer_ray(
    cfg: Config, spec: JobSpec, model: Model, samples: Sequence[Sample], store: RunStore, prompt_version: str
) -> tuple[dict[str, Prediction], StageStats]:
    """Predict, on Ray actors, every sample without a successful stored prediction (``runner.infer``'s contract).

    Returns:
        sample id -> the current Prediction (reused or new), and the stage counts.
    """
    stored, _ = stored_predictions(model, samples, store, prompt_version)
    current = {} if spec.force_reinfer else {i: p for i, p in stored.items() if p.ok}
    todo = [(s, model.prediction_key(s, prompt_version)) for s in samples if s.id not in current]
    stats = StageStats(total=len(samples), reused=len(current))
    if not todo:
        return current, stats
    ray = _import_ray()
    started = _connect(ray, spec.ray_address, model)
    try:
        n, options = _plan(ray, model, spec, len(todo))
        wspec = WorkerSpec(cfg, spec.model, dict(spec.model_overrides), store.dir.resolve(), _concurrency(model, spec))
        with AppendLog(store.predictions_path) as out:
            bar = tqdm(total=len(todo), desc=f"infer {model.name} (ray x{n})", unit="sample", disable=not spec.progress)
            try:
                await _Driver(ray, wspec, options, out, current, stats, bar).run(todo, n)
            finally:
                bar.close()
    finally:
        if started:
            ray.shutdown()
    return current, stats


class _Driver:
    """Hands shards to actors, stores what comes back, and moves the work of a dead actor to the living."""

    def __init__(
        self,
        ray: Any,
        wspec: WorkerSpec,
        options: dict[str, Any],
        out: AppendLog,
        current: dict[str, Prediction],
        stats: StageStats,
        bar: tqdm,
    ) -> None:
        self.ray, self.wspec, self.options, self.out = ray, wspec, options, out
        self.current, self.stats, self.bar = current, stats, bar
        self.alive: list[Any] = []
        self.stored: set[str] = set()
        self.attempts: Counter[str] = Counter()
        self.streams: set[asyncio.Task[None]] = set()
        self.wanted: set[str] = set()

    async def run(self, todo: list[Item], n: int) -> None:
        self.wanted = {s.id for s, _ in todo}
        try:
            self.alive = await self._spawn(n)
            self._deal(todo)
            while self.streams:
                finished, _ = await asyncio.wait(set(self.streams), return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    self.streams.discard(task)
                    task.result()  # a stream that failed otherwise than by its actor's death ends the run
        finally:
            for task in self.streams:
                task.cancel()
            await self._close_all()

    async def _spawn(self, n: int) -> list[Any]:
        """Start ``n`` actors and their models; a model that cannot start is a configuration problem."""
        remote = self.ray.remote(ShardWorker).options(**self.options)
        actors = [remote.remote(self.wspec) for _ in range(n)]
        try:
            await asyncio.wait_for(asyncio.gather(*(a.start.remote() for a in actors)), START_TIMEOUT_S)
        except TimeoutError:
            _kill(self.ray, actors)
            raise ModelError(
                f"Ray placed fewer than {n} actors ({self._wants()}) within {START_TIMEOUT_S:.0f} s: "
                "the cluster lacks the resources; pass a smaller --workers"
            ) from None
        except self.ray.exceptions.RayError as exc:
            _kill(self.ray, actors)
            cause = getattr(exc, "cause", None) or exc
            raise ModelError(f"a Ray actor could not start model {self.wspec.model}: {cause}") from None
        return actors

    def _deal(self, items: list[Item]) -> None:
        """One stream per living actor over the items of its shard."""
        shards: dict[int, list[Item]] = {}
        for item in items:
            shards.setdefault(shard_of(item[1], len(self.alive)), []).append(item)
        for i, part in shards.items():
            task = asyncio.create_task(self._stream(self.alive[i], part))
            self.streams.add(task)

    async def _stream(self, actor: Any, items: list[Item]) -> None:
        try:
            async for ref in actor.run.remote(items):
                for rec in await ref:
                    self._store(Prediction.from_json(rec), rec)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.ObjectLostError) as exc:
            await self._reschedule(actor, items, exc)

    def _store(self, pred: Prediction, rec: dict[str, Any]) -> None:
        """Append one result unless this sample already has one from this run (the one-writer dedup)."""
        if pred.sample_id in self.stored or pred.sample_id not in self.wanted:
            return
        self.out.append(rec)
        self.stored.add(pred.sample_id)
        self.current[pred.sample_id] = _without_prompt(pred)
        self.stats.ran += 1
        self.stats.failed += not pred.ok
        self.bar.update()
        if after_store is not None:
            after_store(list(self.alive), len(self.stored))

    async def _reschedule(self, actor: Any, items: list[Item], exc: Exception) -> None:
        if actor in self.alive:
            self.alive.remove(actor)
            _kill(self.ray, [actor])
        orphans = [(s, k) for s, k in items if s.id not in self.stored]
        self.attempts.update(s.id for s, _ in orphans)
        retry = [(s, k) for s, k in orphans if self.attempts[s.id] < MAX_ATTEMPTS]
        for s, k in orphans:
            if self.attempts[s.id] >= MAX_ATTEMPTS:
                err = f"{type(exc).__name__}: the Ray actor predicting it died ({MAX_ATTEMPTS} attempt(s))"
                pred = Prediction(sample_id=s.id, model=self.wspec.model, key=k, error=err)
                self._store(pred, pred.to_json())
        log.warning(
            "a Ray actor died (%s); %d of its samples go to %s",
            type(exc).__name__,
            len(retry),
            f"{len(self.alive)} surviving actor(s)" if self.alive else "a new actor",
        )
        if not retry:
            return
        if not self.alive:
            self.alive.extend(await self._spawn(1))
        self._deal(retry)

    async def _close_all(self) -> None:
        """Let each model release what it holds (servers, engines), then end the actors."""
        if self.alive:
            closing = asyncio.gather(*(a.close.remote() for a in self.alive), return_exceptions=True)
            try:
                await asyncio.wait_for(closing, 60)
            except TimeoutError:
                log.warning("Ray actors did not close their models within 60 s; ending them")
        _kill(self.ray, self.alive)
        self.alive = []

    def _wants(self) -> str:
        gpus = self.options.get("num_gpus", 0)
        return f"{gpus} GPU(s) each" if gpus else f"{self.options.get('num_cpus', 1):g} CPU each"


def _kill(ray: Any, actors: list[Any]) -> None:
    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception as exc:  # already gone: nothing to end
            log.debug("ray.kill: %s", exc)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--launcher ray needs Ray: pip install 'evalkit[ray]'") from None
    return ray


def _connect(ray: Any, address: str, model: Model) -> bool:
    """Join the cluster at ``address`` or start a local one; True when this call started Ray (and must stop it)."""
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        return False
    # errors reach the driver as exceptions; Ray's start-up notices and the actors' logs stay in Ray's session logs
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, runtime_env=_runtime_env(model), **quiet)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = "; a cluster started with token authentication needs RAY_AUTH_MODE=token here" if address else ""
        raise ConfigError(f"--launcher ray: cannot reach {where}: {exc}{hint}") from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds on a ``host:port`` where nothing listens (Ray itself keeps retrying for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return  # ``auto``, ``ray://...``: Ray finds or checks these itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(
            f"--ray-address {address}: nothing answers there ({exc}); start the cluster with "
            "`ray start --head` on that node, or leave out --ray-address for a local Ray"
        ) from None


def _runtime_env(model: Model) -> dict[str, Any]:
    """On a remote cluster, the model's API key variable travels to the actors (locally they inherit it)."""
    name = str(getattr(model.options, "api_key_env", "") or "")
    return {"env_vars": {name: os.environ[name]}} if name and name in os.environ else {}


def _plan(ray: Any, model: Model, spec: JobSpec, n_todo: int) -> tuple[int, dict[str, Any]]:
    """How many actors and what each asks of the cluster."""
    res = ray.cluster_resources()
    gpus, cpus = int(res.get("GPU", 0)), float(res.get("CPU", 1))
    per = _gpus_per_actor(model) if gpus else 0
    replicas = getattr(model.options, "urls", None) or ()  # an openai entry's base_url list
    if spec.workers:
        n = spec.workers
    elif not per and len(replicas) > 1:
        n = len(replicas)
    elif gpus:
        n = max(1, gpus // per) if per else gpus
    else:
        n = min(MAX_CPU_WORKERS, max(1, int(cpus)))
    if per and n * per > gpus:
        raise ConfigError(f"--workers {n} x {per} GPU(s) per actor, but the Ray cluster has {gpus} GPU(s)")
    n = max(1, min(n, n_todo))
    # server backends wait on sockets: a share of a core each, so more actors than cores still fit
    options = {"num_cpus": min(1.0, cpus / n), "num_gpus": per, "max_restarts": 0, "scheduling_strategy": "SPREAD"}
    return n, options


def _gpus_per_actor(model: Model) -> int:
    """GPUs one actor takes: vllm-offline its tensor-parallel size, in-process backends with a device one,
    server backends none."""
    settings = getattr(model, "settings", None)
    if settings is not None and hasattr(settings, "tensor_parallel_size"):
        return max(1, int(settings.tensor_parallel_size))
    return 1 if getattr(model.options, "device", "") in ("auto", "cuda") else 0


def _concurrency(model: Model, spec: JobSpec) -> int:
    return spec.concurrency or model.concurrency
