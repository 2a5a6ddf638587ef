"""torchrun: each rank predicts its shard of a job into its own part file; rank 0 merges, judges and reports.

``torchrun --nproc-per-node N run.py ...`` starts N copies of the same command with RANK, WORLD_SIZE and
LOCAL_RANK set. Each rank keeps the samples whose prediction key falls in its shard (:func:`evalkit.shard.shard_of`),
puts an in-process model on its own GPU (``cuda:LOCAL_RANK``, see :func:`cuda_device`) and appends to
``parts/predictions.<worker>.jsonl`` (see :mod:`evalkit.store`). The ranks then meet once (a gloo all-gather of
their counts, which is also the barrier); rank 0 merges the parts and goes on alone.

Judging runs on rank 0 only: a judge is an endpoint call or a small local model, seconds next to the model's
inference; it needs every prediction (corpus metrics, reliability repeats, one report), and one writer of
verdicts, reports and the manifest needs no coordination. The other ranks print one line and stop after infer.

gloo, not NCCL, even on GPUs: the ranks exchange a few counts once per job, never tensors. torch is imported only
when WORLD_SIZE > 1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from evalkit.errors import ConfigError
from evalkit.runner import StageStats, infer
from evalkit.shard import shard_of

if TYPE_CHECKING:
    from evalkit.job import JobSpec
    from evalkit.models.base import Model
    from evalkit.store import RunStore
    from evalkit.types import Prediction, Sample

log = logging.getLogger(__name__)

#: how long a rank waits at the barrier for the slowest shard (torchrun stops every rank when one dies)
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Rank:
    """Where this process stands among the ranks torchrun started.

    Attributes:
        rank: global rank, 0 .. world - 1; rank 0 merges, judges and reports.
        world: number of ranks (shards).
        local_rank: rank on this machine: the index of its GPU.
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def coordinator(self) -> bool:
        """Whether this rank judges and writes the reports."""
        return self.rank == 0


def rank_of(environ: Mapping[str, str] | None = None) -> Rank:
    """This process's rank from the variables torchrun sets; one rank of one without them."""
    env = os.environ if environ is None else environ
    if env.get("WORLD_SIZE", "").strip() in ("", "1"):
        return Rank()
    values = {}
    for name, default in (("RANK", None), ("WORLD_SIZE", None), ("LOCAL_RANK", "0")):
        raw = env.get(name, default)
        if raw is None or not raw.strip().isdigit():
            raise ConfigError(
                f"torchrun environment: {name}={raw!r} must be a non-negative integer (WORLD_SIZE is set)"
            )
        values[name] = int(raw)
    r = Rank(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"])
    if not 0 <= r.rank < r.world:
        raise ConfigError(f"torchrun environment: RANK={r.rank} is outside 0 .. WORLD_SIZE-1 = {r.world - 1}")
    return r


def is_follower() -> bool:
    """True in a torchrun rank other than 0: it has stored its shard and leaves judging and reports to rank 0."""
    r = rank_of()
    return r.world > 1 and not r.coordinator


def leaves_judging_to_rank0(infer: StageStats) -> bool:
    """True in a torchrun rank other than 0, which then says so in one line (with its own infer counts)."""
    if not is_follower():
        return False
    r = rank_of()
    print(
        f"rank {r.rank} of {r.world}: {infer.ran} run ({infer.failed} failed), {infer.reused} reused of its "
        f"{infer.total} samples; rank 0 judges and writes the reports",
        file=sys.stderr,
    )
    return True


def cuda_device() -> str:
    """The GPU an in-process model of this rank uses: ``cuda:LOCAL_RANK`` under torchrun, else ``cuda``."""
    r = rank_of()
    return f"cuda:{r.local_rank}" if r.world > 1 else "cuda"


def worker_name(r: Rank) -> str:
    """A name unique to this process incarnation, sorting by start time: the suffix of its part file."""
    started = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{started}-rank{r.rank}of{r.world}-{socket.gethostname()}-{os.getpid()}"


def _dist(r: Rank) -> Any:
    """torch.distributed with the gloo group of this run (made on first use, from torchrun's variables)."""
    try:
        import torch.distributed as dist
    except ImportError:
        raise ConfigError(
            f"WORLD_SIZE={r.world} is set (a torchrun launch) but torch is not installed: pip install torch"
        ) from None
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    return dist


def _gather(dist: Any, stats: StageStats, world: int) -> list[dict[str, int]]:
    out: list[Any] = [None] * world
    dist.all_gather_object(out, vars(stats))
    return out


async def infer_torchrun(
    spec: JobSpec, model: Model, samples: Sequence[Sample], store: RunStore, prompt_version: str
) -> tuple[dict[str, Prediction], StageStats]:
    """Predict this rank's shard into its part file, meet the other ranks, and on rank 0 merge and load all.

    Returns:
        on rank 0: sample id -> the current Prediction of every sample, and the counts summed over the ranks;
        on the others: their own shard's predictions and counts.
    """
    r = rank_of()
    dist = _dist(r)
    keys = {s.id: model.prediction_key(s, prompt_version) for s in samples}
    mine = [s for s in samples if shard_of(keys[s.id], r.world) == r.rank]
    worker = store.for_worker(worker_name(r))
    preds, stats = await infer(
        model,
        mine,
        worker,
        prompt_version,
        force=spec.force_reinfer,
        concurrency=spec.concurrency or None,
        progress=spec.progress and r.coordinator,
    )
    counts = await asyncio.to_thread(_gather, dist, stats, r.world)
    if not r.coordinator:  # its own counts: job.run_job stops here (leaves_judging_to_rank0)
        return preds, stats
    for c in store.merge_parts():
        if c.skipped:  # left in place: every load still reads it, the next merge or compaction takes it
            log.warning("%s: not merged: %s", c.path, c.skipped)
    stored = store.load_predictions(wanted=keys, prompts=False)
    current = {s.id: p for s in samples if (p := stored.get((s.id, keys[s.id]))) is not None}
    total = StageStats(**{f: sum(c[f] for c in counts) for f in vars(stats)})
    return current, total
