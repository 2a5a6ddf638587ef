"""Checks a job makes before the first model call, so a run cannot quietly measure the wrong thing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from evalkit.datasets.base import Dataset
from evalkit.errors import ConfigError
from evalkit.models.base import Model
from evalkit.types import Sample


def unread_media(model: Model, samples: Sequence[Sample]) -> Counter[str]:
    """Media kind -> number of samples holding media of that kind the model would get a "not shown" note for."""
    counts: Counter[str] = Counter()
    for s in samples:
        kinds = {p.type for p in s.msg if p.is_media and model.media_not_read(p)}
        counts.update(kinds)
    return counts


def check_unread_media(model: Model, samples: Sequence[Sample]) -> Counter[str]:
    """Stop (ConfigError) when samples hold media the model cannot read, unless its entry opts in with
    ``unread_media: note``; returns the counts either way (the report counts those samples).
    """
    counts = unread_media(model, samples)
    policy = model.unread_media_policy
    if policy not in ("error", "note"):
        raise ConfigError(f"models.{model.name}.unread_media: 'error' or 'note', not {policy!r}")
    if counts and policy == "error":
        kinds = ", ".join(f"{k} ({n} sample{'s' if n != 1 else ''})" for k, n in sorted(counts.items()))
        first = sorted(counts)[0]
        raise ConfigError(
            f"model {model.name} cannot read {kinds} of this dataset: declare what it reads "
            f"(models.{model.name}.modalities: [{', '.join(sorted(counts))}]), or opt in to a text note with "
            f"models.{model.name}.unread_media: note (or describe_media: {{{first}: <captioner>}}); the report "
            "then counts those samples"
        )
    return counts


def check_replay(model: Model, dataset: Dataset) -> None:
    """Refuse to replay references that are gold answers: the run would score the answer key against itself."""
    if getattr(model, "replays_references", False) and not getattr(dataset, "references_are_outputs", False):
        raise ConfigError(
            f"model {model.name} replays each record's own output, but dataset {dataset.name} "
            f"({type(dataset).__name__}) has gold answers, not outputs to judge: replaying them would score the "
            "answer key against itself"
        )
