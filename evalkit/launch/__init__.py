"""How the infer stage of a job is spread: one process (default), torchrun ranks, or Ray actors.

``infer_stage`` is the one entry point ``job.run_job`` calls; each launcher lives in its own module and is
imported only when used (torch.distributed and ray are optional; the torchrun launcher only when WORLD_SIZE > 1,
so a plain run's start-up loads neither). Under torchrun (WORLD_SIZE > 1) every rank
predicts its shard and only rank 0 goes on to judge (:func:`leaves_judging_to_rank0` is true on the others).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from evalkit.errors import ConfigError
from evalkit.runner import StageStats, infer

if TYPE_CHECKING:
    from evalkit.config import Config
    from evalkit.job import JobSpec
    from evalkit.models.base import Model
    from evalkit.store import RunStore
    from evalkit.types import Prediction, Sample

__all__ = ["infer_stage", "leaves_judging_to_rank0", "under_torchrun"]


async def infer_stage(
    cfg: Config, spec: JobSpec, model: Model, samples: Sequence[Sample], store: RunStore, prompt_version: str
) -> tuple[dict[str, Prediction], StageStats]:
    """Predict the samples of one job with the launcher ``spec`` asks for; returns what ``runner.infer`` returns."""
    if under_torchrun():
        from evalkit.launch.torchrun import infer_torchrun, rank_of

        world = rank_of().world  # checks RANK and LOCAL_RANK too
        if spec.launcher == "ray":
            raise ConfigError(f"--launcher ray under torchrun (WORLD_SIZE={world}): start one process, Ray spreads it")
        return await infer_torchrun(spec, model, samples, store, prompt_version)
    if spec.launcher == "ray":
        from evalkit.launch.ray_launch import infer_ray

        return await infer_ray(cfg, spec, model, samples, store, prompt_version)
    return await infer(
        model,
        samples,
        store,
        prompt_version,
        force=spec.force_reinfer,
        concurrency=spec.concurrency or None,
        progress=spec.progress,
    )


def leaves_judging_to_rank0(infer: StageStats) -> bool:
    """True in a torchrun rank other than 0, which then says so in one line (``torchrun.leaves_judging_to_rank0``)."""
    if not under_torchrun():
        return False
    from evalkit.launch.torchrun import leaves_judging_to_rank0 as leaves

    return leaves(infer)


def under_torchrun() -> bool:
    """WORLD_SIZE > 1, as torchrun sets it (``torchrun.rank_of`` reads one rank of one otherwise)."""
    return os.environ.get("WORLD_SIZE", "").strip() not in ("", "1")
