"""Image QA judges of the ``vlm-tsv`` datasets: MCQ and Yes/No items in one file, and MMBench's circular score.

The choice judge (:mod:`evalkit.judges.choice`) is reused as is for MCQ items; what it cannot do alone is a file
that mixes MCQ and Yes/No items (VLMEvalKit TSVs of both kinds, the bundled sample) and MMBench's circular
evaluation, a corpus-level score. Hence two small judges:

- ``vlm-qa``: an item whose ``meta['question_type']`` is ``yes_no`` is read by the Yes/No rules
  (:mod:`evalkit.judges.yes_no`), any other by the choice rules. ``accuracy`` and ``unextracted`` as in both;
  one ``extractor_model`` serves both kinds (each with its own prompt), asked only when the rules read nothing.
- ``mcq-circular``: adds ``circular_accuracy``. MMBench's TSVs hold each question several times with its options
  shifted (VLMEvalKit's convention: row ``index`` and ``index + k * 1_000_000``); the dataset puts
  ``index % 1_000_000`` in ``meta['circular_group']``. A question counts as correct only when every pass of it is
  correct (an unextracted pass is wrong). A question with a pass that has no score (failed call or judge reply,
  counted in ``n_failed``) is left out of ``circular_accuracy`` rather than counted either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

from evalkit.judges.base import ACCURACY, JUDGES, LOWER_RATE, MetricSpec, Scored
from evalkit.judges.choice import EXTRACTOR_PROMPT as CHOICE_PROMPT
from evalkit.judges.choice import RULES_VERSION as CHOICE_RULES
from evalkit.judges.choice import ChoiceJudge
from evalkit.judges.yes_no import EXTRACTOR_PROMPT as YES_NO_PROMPT
from evalkit.judges.yes_no import RULES_VERSION as YES_NO_RULES
from evalkit.judges.yes_no import all_correct_rate, score_yes_no
from evalkit.report import Outcome, mean_of
from evalkit.types import Prediction, Sample, stable_hash


@JUDGES.register("vlm-qa")
class VLMQAJudge(ChoiceJudge):
    """MCQ items by the choice rules, Yes/No items by the Yes/No rules; ``accuracy`` and ``unextracted``."""

    version = f"{CHOICE_RULES}+{YES_NO_RULES}"

    def identity(self) -> dict[str, Any]:
        extractor = None
        if self.model is not None:
            prompts = {"choice": stable_hash(CHOICE_PROMPT), "yes_no": stable_hash(YES_NO_PROMPT)}
            extractor = {"model": self.model.identity(), "prompts": prompts}
        return {**super().identity(), "extractor": extractor}

    def describe(self) -> str:
        how = f"rules, then LLM extractor {self.model.name}" if self.model else "rules only"
        return f"{self.name} (choice and yes/no extraction: {how}, {self.version})"

    def prompt_hashes(self) -> dict[str, str]:
        if self.model is None:
            return {}
        return {"choice-extractor-v1": stable_hash(CHOICE_PROMPT), "yes-no-extractor-v1": stable_hash(YES_NO_PROMPT)}

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        if sample.meta.get("question_type") == "yes_no":
            res = await score_yes_no(sample, pred, self.model)
        else:
            res = await super().score(sample, pred)
        return Scored(scores=res.scores, raw=res.raw, details={**res.details, "question_type": _kind(sample)})


def _kind(sample: Sample) -> str:
    return str(sample.meta.get("question_type", "mcq"))


def _group(o: Outcome) -> str:
    return str(o.meta.get("circular_group", o.sample_id))


@JUDGES.register("mcq-circular")
class CircularChoiceJudge(VLMQAJudge):
    """``vlm-qa`` plus MMBench's ``circular_accuracy``: a question is correct only if all its passes are."""

    metrics = ("accuracy", "unextracted", "circular_accuracy")
    version = f"{CHOICE_RULES}+{YES_NO_RULES}+circular-v1"
    # a failed item makes its circular group wrong
    metric_specs: ClassVar[dict[str, MetricSpec]] = {
        "accuracy": ACCURACY,
        "unextracted": LOWER_RATE,
        "circular_accuracy": MetricSpec(worst=0.0, kind="corpus"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._group_sizes: dict[Hashable, int] = {}

    def prepare(self, samples: Sequence[Sample], preds: dict[str, Prediction]) -> None:
        self._group_sizes = dict(Counter(str(s.meta.get("circular_group", s.id)) for s in samples))

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        res = await super().score(sample, pred)
        return Scored(
            scores={**res.scores, "circular_accuracy": res.scores["accuracy"]}, raw=res.raw, details=res.details
        )

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        if metric == "circular_accuracy":
            return all_correct_rate(scored, _group, self._group_sizes)[0]
        return mean_of(metric, scored)
