"""The Judge base class and the JUDGES registry.

A judge scores one stored Prediction against its Sample. An LLM judge is a Judge that holds a Model (same
backends, same retries). Failures are Verdicts with an error, never default scores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalkit.media import content_id
from evalkit.models.base import Model
from evalkit.registry import Registry
from evalkit.report import Outcome, mean_of
from evalkit.scoring import ACCURACY, LOWER_RATE, MetricSpec
from evalkit.types import Prediction, RecordError, Sample, Verdict, error_text, stable_hash, strings_hash

#: meta keys that say where a record is, not what it says: a record moved or renumbered keeps its verdicts
LOCATION_META = frozenset({"file", "line", "subset"})


def judged_content(sample: Sample) -> str:
    """Hash of what a judge may read of a sample besides its prompt (which the prediction key holds): the
    references (media by content) and the meta, without where the record lies (:data:`LOCATION_META`)."""
    refs = [[p.type, content_id(Path(p.value)) if p.is_media else p.value, p.tag] for p in sample.references]
    meta = {k: v for k, v in sample.meta.items() if k not in LOCATION_META}
    content = [refs, meta]
    if all(type(v) is str for v in meta.values()):  # the usual case: the same text, encoded 3x faster
        return strings_hash(content, 32)
    return stable_hash(content, 32)


@dataclass(frozen=True)
class NoOptions:
    """A judge without config keys of its own."""


@dataclass
class JudgeContext:
    """What a judge may use besides its options.

    Attributes:
        model_factory: builds a Model from a model entry name (for judge and captioner models).
        cache_dir: where caches shared across runs live (captions).
    """

    model_factory: Callable[[str], Model]
    cache_dir: Path


@dataclass
class Scored:
    """What ``Judge.score`` returns.

    Attributes:
        scores: metric -> value (only metrics that are defined for this sample).
        raw: the raw judge output(s).
        details: what the judge saw, for audit and export.
        metric_errors: metric -> reason, for each of the judge's metrics left out of ``scores`` (undefined for
            this sample, or its part of the reply unreadable); reported per metric in failures.csv.
    """

    scores: dict[str, float]
    raw: Any = None
    details: dict[str, Any] = field(default_factory=dict)
    metric_errors: dict[str, str] = field(default_factory=dict)


class JudgeFailure(Exception):
    """A judge could not score a sample; ``status`` is ``unparseable`` or ``error``."""

    def __init__(self, message: str, *, status: str = "error", raw: Any = None, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.raw = raw
        self.details = details or {}


class Judge:
    """Base of every judge.

    Args:
        name: the judge entry's name.
        options: an instance of the class's ``Options`` dataclass.
        ctx: shared services (model factory, cache dir).
    """

    Options: ClassVar[type] = NoOptions
    #: the score names this judge produces, in report order; an instance may set its own from its options.
    metrics: tuple[str, ...] = ()
    #: metric -> how it reads and how a failed sample counts; unlisted metrics: higher is better, no worst value.
    metric_specs: ClassVar[dict[str, MetricSpec]] = {}
    #: a judge that rates with a model (1-5 scores): reliability.csv then measures its self-consistency by
    #: judging some samples again (extra calls); rule judges and extractors are deterministic by design.
    rates_with_model: ClassVar[bool] = False
    #: bump when the prompt or scoring changes: stored verdicts are then redone.
    version: ClassVar[str] = "v1"
    #: keys of a verdict's ``details`` kept for people only (in the store, the HTML report): nothing this judge
    #: computes afterwards (summaries, ratio parts, outputs) reads them, so a run does not hold them in memory.
    audit_details: ClassVar[frozenset[str]] = frozenset()
    concurrency: int = 4

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        self.name = name
        self.options = options if options is not None else self.Options()
        self.ctx = ctx
        self.concurrency = int(getattr(self.options, "concurrency", type(self).concurrency))
        self._identity_hash = ""

    def held_models(self) -> list[Model]:
        """The models this judge calls (judge or extractor models); started and closed with it."""
        return []

    async def start(self) -> None:
        """Start the models the judge holds."""
        await asyncio.gather(*(m.start() for m in self.held_models()))

    async def close(self) -> None:
        """Release what ``start`` took."""
        await asyncio.gather(*(m.close() for m in self.held_models()), return_exceptions=True)

    def identity(self) -> dict[str, Any]:
        """What determines this judge's verdicts."""
        opts = asdict(self.options) if is_dataclass(self.options) and not isinstance(self.options, type) else {}
        return {"judge": type(self).__name__, "version": self.version, "options": opts}

    def describe(self) -> str:
        """One line for reports: what produced these numbers."""
        return f"{self.name} ({type(self).__name__} {self.version})"

    def prompt_hashes(self) -> dict[str, str]:
        """Hashes of the prompts this judge sends, for the manifest."""
        return {}

    def verdict_key(self, sample: Sample, pred: Prediction) -> str:
        """Hash of the judge identity, the judged prediction (its key and its answer: text, media, error) and what
        the judge reads of the sample besides its prompt (:func:`judged_content`: references and meta).

        The answer is in the key because a prediction made again under an unchanged key (``--force-reinfer``, a
        sampling model) may say something else: a verdict stored for the old answer is not the new one's. The
        sample's references and meta are in it because a corrected reference (or option list, or instruction)
        makes the stored verdict wrong although the prediction stands.
        """
        if not self._identity_hash:  # the judge's config is fixed once built: hash it once
            self._identity_hash = stable_hash(self.identity(), 32)
        parts = [[p.type, p.value, p.tag] for p in pred.parts]
        answer = [pred.text, parts, pred.error]
        return strings_hash(
            {"judge": self._identity_hash, "pred": pred.key, "answer": answer, "sample": judged_content(sample)}
        )

    def prepare(self, samples: Sequence[Sample], preds: dict[str, Prediction]) -> None:
        """See the whole corpus before any verdict key is computed (corpus statistics such as CIDEr's IDF).

        A judge whose scores depend on the corpus must fold a hash of it into ``identity()`` here.
        """

    def write_outputs(
        self,
        store_dir: Path,
        dataset: str,
        samples: Sequence[Sample],
        preds: Mapping[str, Prediction],
        verdicts: Mapping[str, Verdict],
        errors: Sequence[RecordError] = (),
    ) -> dict[str, Path]:
        """Write files in a benchmark's own output format next to report.csv; returns name -> path."""
        return {}

    def metric_spec(self, metric: str) -> MetricSpec:
        """Direction, worst value and kind of ``metric``."""
        return self.metric_specs.get(metric, MetricSpec())

    @property
    def primary_metric(self) -> str:
        """The metric the leaderboard ranks by: the first one this judge reports."""
        return self.metrics[0] if self.metrics else ""

    def worst_details(self, sample: Sample) -> dict[str, Any] | None:
        """The details a sample the model failed on counts with in corpus metrics (WER: every reference word
        deleted); None when the judge cannot say, which leaves its corpus metrics without a strict value."""
        return {}

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
        """Numerator and denominator of a ``ratio`` metric for one outcome (for resampling and paired tests)."""
        raise NotImplementedError(f"{type(self).__name__} declares no ratio metric {metric}")

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        """One value of ``metric`` over the outcomes that have it: the mean unless a judge knows better."""
        return mean_of(metric, scored)

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        """Score one prediction; raise JudgeFailure (or anything) when it cannot."""
        raise NotImplementedError

    async def judge(self, sample: Sample, pred: Prediction) -> Verdict:
        """Run ``score`` and turn the outcome into a Verdict; exceptions become recorded failures."""
        base: dict[str, Any] = {
            "sample_id": sample.id,
            "judge": self.name,
            "key": self.verdict_key(sample, pred),
            "pred_key": pred.key,
        }
        if not pred.ok:
            return Verdict(**base, parse_status="skipped", error=f"no prediction: {pred.error}")
        try:
            res = await self.score(sample, pred)
        except JudgeFailure as exc:
            return Verdict(**base, raw=exc.raw, parse_status=exc.status, error=str(exc), details=exc.details)
        except Exception as exc:  # a judge failure is data: recorded per sample
            return Verdict(**base, parse_status="error", error=error_text(exc))
        missing = {m: "metric undefined for this sample" for m in self.metrics if m not in res.scores}
        errors = {m: res.metric_errors.get(m, reason) for m, reason in missing.items()}
        return Verdict(**base, scores=res.scores, raw=res.raw, details=res.details, metric_errors=errors)


JUDGES: Registry[type[Judge]] = Registry("judge")

__all__ = ["ACCURACY", "JUDGES", "LOWER_RATE", "Judge", "JudgeContext", "JudgeFailure", "MetricSpec", "Scored"]
