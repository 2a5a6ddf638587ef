"""How the infer stage of a job is spread: one process (default), torchrun ranks, or Ray actors.

``infer_stage`` is the one entry point ``job.run_job`` calls; each launcher lives in its own module and is
imported only when used (torch.distributed and ray are optional).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evalkit.runner import StageStats, infer

if TYPE_CHECKING:
    from evalkit.config import Config
    from evalkit.job import JobSpec
    from evalkit.models.base import Model
    from evalkit.store import RunStore
    from evalkit.types import Prediction, Sample


async def infer_stage(
    cfg: Config, spec: JobSpec, model: Model, samples: Sequence[Sample], store: RunStore, prompt_version: str
) -> tuple[dict[str, Prediction], StageStats]:
    """Predict the samples of one job with the launcher ``spec`` asks for; returns what ``runner.infer`` returns."""
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
