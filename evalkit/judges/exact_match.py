"""Exact match of the answer text against any reference text, after light normalisation."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import ClassVar

from evalkit.judges.base import ACCURACY, JUDGES, Judge, JudgeFailure, MetricSpec, Scored
from evalkit.types import Prediction, Sample

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class ExactMatchOptions:
    """Config keys of the exact-match judge.

    Attributes:
        ignore_case: compare case-insensitively.
        strip_punctuation: drop ASCII punctuation at both ends of the texts.
    """

    ignore_case: bool = True
    strip_punctuation: bool = True


@JUDGES.register("exact-match")
class ExactMatchJudge(Judge):
    """``accuracy`` is 1 when the normalised answer equals a normalised reference, else 0."""

    Options = ExactMatchOptions
    metrics = ("accuracy",)
    metric_specs: ClassVar[dict[str, MetricSpec]] = {"accuracy": ACCURACY}
    concurrency = 64
    audit_details: ClassVar[frozenset[str]] = frozenset({"normalised"})
    options: ExactMatchOptions

    def normalise(self, text: str) -> str:
        text = _SPACE.sub(" ", text).strip()
        if self.options.strip_punctuation:
            text = text.strip(string.punctuation + " ")
        return text.casefold() if self.options.ignore_case else text

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        refs = [p.value for p in sample.references if p.type == "text"]
        if not refs:
            raise JudgeFailure(f"sample {sample.id} has no text reference")
        got = self.normalise(pred.text)
        hit = any(got == self.normalise(r) for r in refs)
        return Scored(scores={"accuracy": float(hit)}, details={"normalised": got})
