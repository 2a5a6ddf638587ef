"""IFEval: rule-based checks of verifiable instructions (word counts, formats, keywords ...).

Four metrics, as in the IFEval paper: ``prompt_level_*`` is 1 for a prompt whose every instruction is followed;
``inst_level_*`` is the share of instructions followed, pooled over the corpus (instructions followed /
instructions given) by :meth:`IFEvalJudge.summarize` from counts kept in each verdict's details. ``strict``
checks the response as it is; ``loose`` also accepts an instruction when it holds on the response without its
first line, its last line, both, or with every ``*`` removed (the paper's eight variants).

An unknown instruction id, bad keyword arguments or a missing optional package fail the sample with a reason
naming the instruction; the sample is counted as failed, never scored as a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from evalkit.judges.base import ACCURACY, JUDGES, Judge, JudgeFailure, MetricSpec, Scored
from evalkit.judges.ifeval_checks import CheckError, run_check
from evalkit.report import Outcome, mean_of
from evalkit.types import Prediction, Sample

METRICS = ("prompt_level_strict", "inst_level_strict", "prompt_level_loose", "inst_level_loose")


def loose_variants(response: str) -> list[str]:
    """The response, without its first line, last line, both; each also with ``*`` removed (eight in all)."""
    lines = response.split("\n")
    trimmed = [
        response,
        "\n".join(lines[1:]).strip(),
        "\n".join(lines[:-1]).strip(),
        "\n".join(lines[1:-1]).strip(),
    ]
    return trimmed + [t.replace("*", "") for t in trimmed]


def follows(response: str, instruction_id: str, kwargs: Mapping[str, Any], *, loose: bool) -> bool:
    """Whether the response follows one instruction; an empty (or blank) response follows none.

    Raises:
        CheckError: the instruction cannot be checked.
    """
    candidates = loose_variants(response) if loose else [response]
    return any(c.strip() and run_check(instruction_id, c, kwargs) for c in candidates)


def instructions_of(sample: Sample) -> list[tuple[str, dict[str, Any]]]:
    """The sample's (instruction id, kwargs) pairs, from the meta the ``ifeval`` dataset writes.

    Raises:
        JudgeFailure: the meta lacks them or their lengths differ.
    """
    ids = sample.meta.get("instruction_id_list")
    kwargs = sample.meta.get("kwargs")
    if not isinstance(ids, list) or not ids or not isinstance(kwargs, list) or len(kwargs) != len(ids):
        raise JudgeFailure(f"sample {sample.id} has no valid instruction_id_list/kwargs in its meta")
    return [(str(i), dict(k or {})) for i, k in zip(ids, kwargs, strict=True)]


@JUDGES.register("ifeval")
class IFEvalJudge(Judge):
    """IFEval's strict and loose, prompt- and instruction-level accuracy."""

    metrics = METRICS
    metric_specs: ClassVar[dict[str, MetricSpec]] = {
        m: MetricSpec(worst=0.0, kind="ratio") if m.startswith("inst_level_") else ACCURACY for m in METRICS
    }
    version = "ifeval-v1"
    concurrency = 64

    def worst_details(self, sample: Sample) -> dict[str, Any] | None:
        n = len(instructions_of(sample))
        return {"n_instructions": n, "n_followed_strict": 0, "n_followed_loose": 0}

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
        kind = metric.removeprefix("inst_level_")
        return float(outcome.details[f"n_followed_{kind}"]), float(outcome.details["n_instructions"])

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        pairs = instructions_of(sample)
        strict: list[bool] = []
        loose: list[bool] = []
        for iid, kwargs in pairs:
            try:
                strict.append(follows(pred.text, iid, kwargs, loose=False))
                loose.append(follows(pred.text, iid, kwargs, loose=True))
            except CheckError as exc:
                raise JudgeFailure(f"instruction {iid}: {exc}", details={"instruction": iid}) from exc
        n = len(pairs)
        details = {
            "instructions": [iid for iid, _ in pairs],
            "strict": strict,
            "loose": loose,
            "n_instructions": n,
            "n_followed_strict": sum(strict),
            "n_followed_loose": sum(loose),
        }
        scores = {
            "prompt_level_strict": float(all(strict)),
            "inst_level_strict": sum(strict) / n,
            "prompt_level_loose": float(all(loose)),
            "inst_level_loose": sum(loose) / n,
        }
        return Scored(scores=scores, details=details)

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        """Prompt-level metrics: the mean; instruction-level: instructions followed / instructions given."""
        if not metric.startswith("inst_level_"):
            return mean_of(metric, scored)
        kind = metric.removeprefix("inst_level_")
        total = sum(int(o.details["n_instructions"]) for o in scored)
        return sum(int(o.details[f"n_followed_{kind}"]) for o in scored) / total
