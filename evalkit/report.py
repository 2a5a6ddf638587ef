"""Aggregation into report rows, per-sample rows, failure lists and LEADERBOARD.md.

Denominators are honest: ``n`` counts every sample of the dataset, bad records included, and ``n_failed``
counts those without a value for the metric (bad record, failed call, failed or unparseable judge reply,
metric undefined); ``failures.csv`` says why for each. ``value`` is strict where the metric has a natural
worst value (see :mod:`evalkit.scoring`), ``value_scored`` is over scored samples, and every value has a CI.
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from evalkit import jsontext
from evalkit.scoring import SMALL_N, MetricSpec, MetricValue, Scoring, metric_value, stand_in
from evalkit.types import Prediction, RecordError, Sample, Verdict

REPORT_FIELDS = (
    "dataset",
    "subset",
    "metric",
    "value",
    "n",
    "n_failed",
    "judge",
    "stderr",
    "ci_low",
    "ci_high",
    "ci_method",
    "value_scored",
    "n_scored",
    "n_model_failed",
    "basis",
    "higher_is_better",
    "flags",
)
FAILURE_FIELDS = ("sample_id", "stage", "reason", "judge")
BREAKDOWN_KEYS = ("subset", "domain", "subdomain", "difficulty")


#: the empty mapping an Outcome's dict fields default to (shared: an Outcome and its dicts are never changed)
_NONE: dict[str, Any] = {}


class Outcome(NamedTuple):
    """The final state of one sample: its scores, or the stage and reason it failed.

    A named tuple (immutable, built in a third of a frozen dataclass's time: a run makes one per sample after the
    last answer); its dicts are shared with the verdict and sample and must not be changed.

    Attributes:
        sample_id: the sample's id (``file:line`` for an unreadable record).
        meta: breakdown keys.
        scores: metric -> value.
        stage: ``record``, ``predict``, ``judge`` or empty when judged.
        reason: why it failed.
        details: the verdict's details (counts a corpus-level metric sums, such as WER's errors and words).
        metric_errors: metric -> reason, for metrics without a value in an otherwise judged sample.
        worst_scores: for a sample the model gave no answer for: metric -> the worst value it counts as in
            strict numbers (only metrics that have one).
        worst_details: the details it counts with in corpus metrics (WER: every reference word deleted).
        media_not_shown: media items of the prompt the model was sent a "not shown" note for.
    """

    sample_id: str
    meta: dict[str, Any]
    scores: dict[str, float]
    stage: str = ""
    reason: str = ""
    details: dict[str, Any] = _NONE
    metric_errors: dict[str, str] = _NONE
    worst_scores: dict[str, float] = _NONE
    worst_details: dict[str, Any] | None = None
    media_not_shown: int = 0


#: sample -> (metric -> worst value, details for corpus metrics or None) for a sample the model failed on
WorstOf = Callable[[Sample], tuple[dict[str, float], dict[str, Any] | None]]


def media_not_shown(pred: Prediction) -> int:
    """Media items the model got a "not shown" note for instead of the file (from the prediction's meta)."""
    handling = pred.meta.get("media") or {}
    return sum(1 for v in handling.values() if isinstance(v, str) and v.startswith("dropped"))


def outcomes(
    samples: Sequence[Sample],
    errors: Sequence[RecordError],
    preds: dict[str, Prediction],
    verdicts: dict[str, Verdict],
    worst_of: WorstOf | None = None,
) -> list[Outcome]:
    """One Outcome per sample and per bad record; ``worst_of`` gives unanswered samples their strict stand-in."""
    out = [record_outcome(e) for e in errors]
    out.extend(outcome_of(s, preds.get(s.id), verdicts.get(s.id), worst_of) for s in samples)
    return out


def record_outcome(e: RecordError) -> Outcome:
    """The Outcome of a record that could not be read."""
    return Outcome(
        e.sample_id or f"{Path(e.file).name}:{e.line}", {"subset": Path(e.file).stem, **e.meta}, {}, "record", str(e)
    )


def outcome_of(sample: Sample, p: Prediction | None, v: Verdict | None, worst_of: WorstOf | None = None) -> Outcome:
    """The Outcome of one sample from its prediction and verdict (either may be missing)."""
    if p is None or not p.ok:
        worst, details = worst_of(sample) if worst_of is not None else ({}, None)
        reason = "no prediction stored (run inference first)" if p is None else p.error
        return Outcome(sample.id, sample.meta, {}, "predict", reason, worst_scores=worst, worst_details=details)
    unshown = media_not_shown(p) if "media" in p.meta else 0
    if v is None:
        return Outcome(sample.id, sample.meta, {}, "judge", "not judged (run evaluation)", media_not_shown=unshown)
    if not v.ok:
        return Outcome(sample.id, sample.meta, {}, "judge", f"{v.parse_status}: {v.error}", media_not_shown=unshown)
    return Outcome(sample.id, sample.meta, v.scores, "", "", v.details, v.metric_errors, _NONE, None, unshown)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}".rstrip("0").rstrip(".")


def mean_of(metric: str, scored: Sequence[Outcome]) -> float:
    """The default summary of a metric: the mean of its per-sample values."""
    return sum(o.scores[metric] for o in scored) / len(scored)


Summarize = Callable[[str, Sequence[Outcome]], float]


@dataclass(frozen=True)
class RunFacts:
    """What holds for every row of a run, said in its ``flags`` column.

    Attributes:
        partial: empty, or how the run was cut (``--limit 5: first 5 of 12 samples``).
        empty_files: data files that held no record.
    """

    partial: str = ""
    empty_files: tuple[str, ...] = ()


class _MeanScoring:
    """Scoring of a judge-less caller: the given summary, no worst values, per-sample means."""

    def __init__(self, summarize: Summarize) -> None:
        self.summarize = summarize

    def metric_spec(self, metric: str) -> MetricSpec:
        return MetricSpec()

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
        raise NotImplementedError


def breakdown_groups(items: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    """``all`` and one group per value of each breakdown key (subset, domain, subdomain, difficulty)."""
    groups: dict[str, list[Outcome]] = {"all": list(items)}
    for key in BREAKDOWN_KEYS:
        for o in items:
            if o.meta.get(key) not in (None, ""):
                groups.setdefault(f"{key}={o.meta[key]}", []).append(o)
    return groups


def report_rows(
    dataset: str,
    judge: str,
    metrics: Sequence[str],
    items: Sequence[Outcome],
    summarize: Summarize = mean_of,
    *,
    scoring: Scoring | None = None,
    clusters: dict[str, str] | None = None,
    facts: RunFacts = RunFacts(),
) -> list[dict[str, str]]:
    """Report rows overall and per breakdown key (columns: :data:`REPORT_FIELDS`).

    Args:
        dataset: dataset entry name.
        judge: judge entry name.
        metrics: the judge's metrics, in report order.
        items: one outcome per sample.
        summarize: ``summarize(metric, outcomes)`` when no ``scoring`` is given (the mean by default).
        scoring: the judge (metric specs, corpus summaries, ratio parts); strict values need it.
        clusters: sample id -> cluster for the bootstrap (default: every sample its own cluster).
        facts: run-level flags.
    """
    scorer = scoring if scoring is not None else _MeanScoring(summarize)
    rows = []
    groups = breakdown_groups(items)
    overall: dict[str, MetricValue] = {}  # a breakdown holding every sample (one subset) has the same values
    for subset, group in groups.items():
        unshown = sum(1 for o in group if o.media_not_shown)
        same = subset != "all" and len(group) == len(groups["all"]) and all(map(operator.is_, group, groups["all"]))
        for metric in metrics:
            spec = scorer.metric_spec(metric)
            mv = overall[metric] if same else metric_value(metric, group, scorer, clusters or {})
            if subset == "all":
                overall[metric] = mv
            iv = mv.interval
            flags = []
            if facts.partial:
                flags.append(f"partial run ({facts.partial})")
            if facts.empty_files:
                flags.append("empty data file: " + ", ".join(facts.empty_files))
            if not group:
                flags.append("empty dataset")
            elif not mv.complete:
                flags.append(f"coverage {mv.n_scored}/{mv.n}: {mv.n - mv.n_scored} failed sample(s) not in the value")
            counted = mv.n_scored + (mv.n_model_failed if mv.strict else 0)
            small_clusters = iv is not None and iv.note.startswith("small n")  # the CI's own note says more
            if 0 < counted < SMALL_N and not small_clusters:
                flags.append(f"small n ({counted} < {SMALL_N})")
            if unshown:
                flags.append(f"media not shown to the model in {unshown} sample(s)")
            if iv is not None and iv.note:
                flags.append(iv.note)
            rows.append(
                {
                    "dataset": dataset,
                    "subset": subset,
                    "metric": metric,
                    "value": _fmt(mv.value),
                    "n": str(mv.n),
                    "n_failed": str(mv.n - mv.n_scored),
                    "judge": judge,
                    "stderr": _fmt(iv.stderr) if iv else "",
                    "ci_low": _fmt(iv.ci_low) if iv else "",
                    "ci_high": _fmt(iv.ci_high) if iv else "",
                    "ci_method": iv.method if iv else "",
                    "value_scored": _fmt(mv.value_scored),
                    "n_scored": str(mv.n_scored),
                    "n_model_failed": str(mv.n_model_failed),
                    "basis": mv.basis(spec),
                    "higher_is_better": "yes" if spec.higher_is_better else "no",
                    "flags": "; ".join(flags),
                }
            )
    return rows


def sample_rows(
    items: Sequence[Outcome],
    scoring: Scoring,
    metrics: Sequence[str],
    clusters: dict[str, str],
    texts: dict[str, tuple[str, str]],
    pred_keys: dict[str, str] | None = None,
) -> str:
    """``samples.<judge>.jsonl`` as one text (see :func:`sample_lines`; ``texts``: sample id -> (answer,
    reference), ``pred_keys``: sample id -> prediction key)."""
    keys = pred_keys or {}
    extras = ((keys.get(o.sample_id, ""), *texts.get(o.sample_id, ("", ""))) for o in items)
    lines = list(sample_lines(items, scoring, metrics, clusters, extras))
    return "\n".join(lines) + ("\n" if lines else "")


def sample_lines(
    items: Iterable[Outcome],
    scoring: Scoring,
    metrics: Sequence[str],
    clusters: Mapping[str, str],
    extras: Iterable[tuple[str, str, str]],
) -> Iterator[str]:
    """The lines of ``samples.<judge>.jsonl``, one per sample (made one at a time, as they are written): its scores,
    strict values, ratio parts and cluster.

    Args:
        items: the outcomes.
        scoring: the judge (metric specs and ratio parts).
        metrics: the judge's metrics.
        clusters: sample id -> cluster (default ``s:<id>``).
        extras: per outcome, in the same order: (the key of the prediction it is about, the answer, the
            reference); answer and reference are cut to 300 characters.
    """
    ratio_metrics = ratio_metrics_of(scoring, metrics)
    for o, extra in zip(items, extras, strict=True):
        yield sample_line(o, scoring, ratio_metrics, clusters.get(o.sample_id, "s:" + o.sample_id), extra)


def ratio_metrics_of(scoring: Scoring, metrics: Sequence[str]) -> list[str]:
    """The metrics whose per-sample rows carry ratio parts."""
    return [m for m in metrics if scoring.metric_spec(m).kind == "ratio"]


def sample_line(
    o: Outcome, scoring: Scoring, ratio_metrics: Sequence[str], cluster: str, extra: tuple[str, str, str]
) -> str:
    """One line of ``samples.<judge>.jsonl`` (see :func:`sample_lines`; ``extra``: (prediction key, answer,
    reference))."""
    pred_key, answer, reference = extra
    counted = stand_in(o) if o.stage == "predict" else o
    ratio = {m: list(scoring.ratio_parts(m, counted)) for m in ratio_metrics if m in counted.scores}
    meta = {k: o.meta[k] for k in BREAKDOWN_KEYS if o.meta.get(k) not in (None, "")}
    return jsontext.compact(
        {
            "sample_id": o.sample_id,
            "pred_key": pred_key,
            "cluster": cluster,
            "meta": meta,
            "stage": o.stage,
            "reason": o.reason,
            "scores": o.scores,
            "strict": counted.scores,
            "ratio": ratio,
            "metric_errors": o.metric_errors,
            "media_not_shown": o.media_not_shown,
            "answer": answer[:300],
            "reference": reference[:300],
        }
    )


def csv_text(rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> str:
    """Rows as CSV text."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def merge_rows(path: Path, rows: list[dict[str, str]], judge: str) -> list[dict[str, str]]:
    """Rows of ``path`` from other judges, then ``rows``: one report file holds every judge's numbers."""
    kept: list[dict[str, str]] = []
    if path.exists():
        with path.open(encoding="utf-8") as f:
            kept = [r for r in csv.DictReader(f) if r.get("judge") != judge]
    return kept + rows


def failure_rows(items: Sequence[Outcome], judge: str) -> list[dict[str, str]]:
    """Rows (sample_id, stage, reason, judge) for every sample without scores and every metric without a value.

    A judged sample that lacks one metric (undefined for it, or that criterion of the reply unreadable) gets a
    row of stage ``metric`` naming the metric, so every count in ``n_failed`` has a row with its reason.
    """
    rows = []
    for o in items:
        if o.stage:
            rows.append({"sample_id": o.sample_id, "stage": o.stage, "reason": o.reason, "judge": judge})
        for metric, reason in o.metric_errors.items():
            rows.append({"sample_id": o.sample_id, "stage": "metric", "reason": f"{metric}: {reason}", "judge": judge})
    return rows
