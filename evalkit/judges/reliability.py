"""How far a judge's scores can be trusted: parse failures, self-consistency and agreement with reference scores.

- :func:`failure_rates`: per criterion, the share of judged samples without a value (unparseable or failed).
- :func:`krippendorff_alpha` and :func:`mean_abs_deviation`: self-consistency of k repeated judgments of the
  same samples (alpha ordinal or interval; 1 = perfectly consistent, 0 = chance).
- :func:`agreement`: a judge's scores against reference scores (Spearman rho, Kendall tau-b, exact and within-1
  agreement), each with a percentile-bootstrap confidence interval over samples.

:func:`repeat_sample_ids` and :func:`repeat_judgments` make the repeated judgments (``(k - 1) x n`` extra judge
calls, to be announced before they are made); :func:`reference_scores` reads records' reference scores.
:func:`reliability_rows` gathers them as the rows of ``reliability.csv`` (fields :data:`RELIABILITY_FIELDS`).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalkit.judges.base import Judge
from evalkit.types import Prediction, Sample, Verdict

RELIABILITY_FIELDS = ("judge", "metric", "statistic", "value", "ci_low", "ci_high", "n")


@dataclass(frozen=True)
class Stat:
    """One reliability figure.

    Attributes:
        metric: the judge metric (criterion).
        statistic: its name (``parse_failure_rate``, ``alpha_ordinal``, ``mad``, ``spearman`` ...).
        value: the figure; NaN when it is undefined (too few samples, no variation).
        n: the samples (or repeated samples) it is over.
        ci_low: lower end of its 95 % confidence interval (NaN when not computed).
        ci_high: upper end.
    """

    metric: str
    statistic: str
    value: float
    n: int
    ci_low: float = math.nan
    ci_high: float = math.nan

    def row(self, judge: str) -> dict[str, str]:
        """A reliability.csv row."""

        def fmt(x: float) -> str:
            return "" if math.isnan(x) else f"{x:.4f}"

        return {
            "judge": judge,
            "metric": self.metric,
            "statistic": self.statistic,
            "value": fmt(self.value),
            "ci_low": fmt(self.ci_low),
            "ci_high": fmt(self.ci_high),
            "n": str(self.n),
        }


def failure_rates(scores: Sequence[Mapping[str, float]], metrics: Sequence[str]) -> list[Stat]:
    """Per metric, the share of judged samples whose scores lack it.

    Args:
        scores: one mapping per judged sample (a failed verdict is an empty mapping).
        metrics: the judge's metrics.
    """
    n = len(scores)
    return [Stat(m, "parse_failure_rate", sum(m not in s for s in scores) / n if n else math.nan, n) for m in metrics]


def krippendorff_alpha(units: Sequence[Sequence[float | None]], level: str = "interval") -> float:
    """Krippendorff's alpha over units (samples) each rated several times; None marks a missing rating.

    Units with fewer than two ratings are left out (they carry no pairable value).

    Args:
        units: per unit, its ratings.
        level: ``interval`` (squared difference) or ``ordinal`` (rank distance over the observed values).

    Returns:
        alpha, or NaN when fewer than two pairable values or no variation at all.
    """
    rated = [[float(v) for v in u if v is not None and not math.isnan(v)] for u in units]
    rated = [u for u in rated if len(u) >= 2]
    values = sorted({v for u in rated for v in u})
    if not rated or len(values) < 2:
        return math.nan
    index = {v: i for i, v in enumerate(values)}
    coincidence = np.zeros((len(values), len(values)))
    for u in rated:
        m = len(u)
        counts = np.zeros(len(values))
        for v in u:
            counts[index[v]] += 1
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    delta = _distances(np.asarray(values), marginals, level)
    observed = (coincidence * delta).sum() / total
    expected = (np.outer(marginals, marginals) * delta).sum() / (total * (total - 1))
    return float(1.0 - observed / expected) if expected > 0 else math.nan


def _distances(values: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    if level == "interval":
        return np.subtract.outer(values, values) ** 2
    if level == "ordinal":
        cum = np.cumsum(marginals)
        out = np.zeros((len(values), len(values)))
        for c in range(len(values)):
            for k in range(len(values)):
                lo, hi = min(c, k), max(c, k)
                between = cum[hi] - (cum[lo - 1] if lo > 0 else 0.0)
                out[c, k] = (between - (marginals[c] + marginals[k]) / 2) ** 2
        return out
    raise ValueError(f"level must be interval or ordinal, got {level!r}")


def mean_abs_deviation(units: Sequence[Sequence[float | None]]) -> float:
    """Mean over units (with two or more ratings) of the mean absolute deviation from the unit's mean rating."""
    rated = [[float(v) for v in u if v is not None] for u in units]
    devs = [float(np.mean(np.abs(np.asarray(u) - np.mean(u)))) for u in rated if len(u) >= 2]
    return float(np.mean(devs)) if devs else math.nan


def _agreement_stats(judge: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    from scipy import stats

    out = {
        "exact_agreement": float(np.mean(judge == ref)),
        "within1_agreement": float(np.mean(np.abs(judge - ref) <= 1)),
    }
    varied = len(np.unique(judge)) > 1 and len(np.unique(ref)) > 1
    out["spearman"] = float(stats.spearmanr(judge, ref).statistic) if varied else math.nan
    out["kendall_tau"] = float(stats.kendalltau(judge, ref).statistic) if varied else math.nan
    return out


def agreement(
    judge: Sequence[float], reference: Sequence[float], metric: str, *, n_boot: int = 1000, seed: int = 0
) -> list[Stat]:
    """A judge's scores against reference scores of the same samples, with 95 % percentile-bootstrap CIs.

    Args:
        judge: the judge's score per sample.
        reference: the reference score of the same samples, in the same order.
        metric: the metric the figures are about.
        n_boot: bootstrap resamples of the samples.
        seed: the bootstrap's random seed.
    """
    if len(judge) != len(reference):
        raise ValueError(f"{len(judge)} judge scores but {len(reference)} reference scores")
    j, r = np.asarray(judge, dtype=float), np.asarray(reference, dtype=float)
    n = len(j)
    if n == 0:
        return []
    point = _agreement_stats(j, r)
    rng = np.random.default_rng(seed)
    boots: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(n_boot if n > 1 else 0):
        idx = rng.integers(0, n, n)
        for k, v in _agreement_stats(j[idx], r[idx]).items():
            if not math.isnan(v):
                boots[k].append(v)
    out = []
    for k, v in point.items():
        lo, hi = np.percentile(boots[k], [2.5, 97.5]) if len(boots[k]) >= 10 else (math.nan, math.nan)
        out.append(Stat(metric, k, v, n, float(lo), float(hi)))
    return out


def self_consistency(repeats: Mapping[str, Sequence[Mapping[str, float]]], metrics: Sequence[str]) -> list[Stat]:
    """Alpha (ordinal and interval) and MAD of k repeated judgments per sample.

    Args:
        repeats: sample id -> the scores of each repeated judgment (a failed one is an empty mapping).
        metrics: the judge's metrics.
    """
    out = []
    for m in metrics:
        units = [[s.get(m) for s in reps] for reps in repeats.values()]
        n = sum(1 for u in units if sum(v is not None for v in u) >= 2)
        out.append(Stat(m, "alpha_ordinal", krippendorff_alpha(units, "ordinal"), n))
        out.append(Stat(m, "alpha_interval", krippendorff_alpha(units, "interval"), n))
        out.append(Stat(m, "mad", mean_abs_deviation(units), n))
    return out


def reliability_rows(
    judge_name: str,
    metrics: Sequence[str],
    scores: Mapping[str, Mapping[str, float]],
    repeats: Mapping[str, Sequence[Mapping[str, float]]] | None = None,
    reference: Mapping[str, Mapping[str, float]] | None = None,
) -> list[dict[str, str]]:
    """The rows of reliability.csv for one judged run.

    Args:
        judge_name: the judge entry.
        metrics: the judge's metrics.
        scores: sample id -> the verdict's scores (empty for a failed verdict), every judged sample.
        repeats: sample id -> scores of each repeated judgment (the first judgment included), for a subset.
        reference: sample id -> metric -> reference score (the records' ``score``), where the records carry one.
    """
    stats = failure_rates(list(scores.values()), metrics)
    if repeats:
        stats += self_consistency(repeats, metrics)
    for m in metrics:
        ids = [i for i in scores if m in (reference or {}).get(i, {}) and m in scores[i]]
        if len(ids) >= 2:
            stats += agreement([scores[i][m] for i in ids], [(reference or {})[i][m] for i in ids], m)
    return [s.row(judge_name) for s in stats]


def repeat_sample_ids(verdicts: Mapping[str, Verdict], n: int = 20, seed: int = 0) -> list[str]:
    """Up to ``n`` judged sample ids (verdicts with scores), a seeded choice: the subset judged again."""
    ids = sorted(sid for sid, v in verdicts.items() if v.scores)
    return sorted(random.Random(seed).sample(ids, min(n, len(ids))))


async def repeat_judgments(
    judge: Judge,
    samples: Mapping[str, Sample],
    preds: Mapping[str, Prediction],
    verdicts: Mapping[str, Verdict],
    ids: Sequence[str],
    k: int = 3,
) -> dict[str, list[dict[str, float]]]:
    """``k`` judgments of each sample of ``ids``: its stored verdict and ``k - 1`` fresh ones (not stored).

    The judge must be started. A fresh judgment that fails counts as a rating with no value.

    Returns:
        sample id -> the scores of each judgment, the stored one first.
    """
    gate = asyncio.Semaphore(max(1, judge.concurrency))

    async def again(sid: str) -> dict[str, float]:
        async with gate:
            return dict((await judge.judge(samples[sid], preds[sid])).scores)

    fresh = await asyncio.gather(*(again(sid) for sid in ids for _ in range(k - 1)))
    out: dict[str, list[dict[str, float]]] = {}
    for i, sid in enumerate(ids):
        out[sid] = [dict(verdicts[sid].scores), *fresh[i * (k - 1) : (i + 1) * (k - 1)]]
    return out


def reference_scores(
    samples: Sequence[Sample], metrics: Sequence[str], key: str = "score"
) -> dict[str, dict[str, float]]:
    """Sample id -> metric -> the record's reference score (``Sample.meta[key]``).

    A mapping gives a score per metric (the original interleaved tool's ``{"coherence": 4, "style_consistency":
    4}``); a bare number is the score of the first (primary) metric. Non-numbers are left out.
    """

    out: dict[str, dict[str, float]] = {}
    for s in samples:
        value = s.meta.get(key)
        given: Mapping[str, Any] = value if isinstance(value, Mapping) else {metrics[0]: value} if metrics else {}
        scores = {
            m: float(v)
            for m, v in given.items()
            if m in metrics and isinstance(v, int | float) and not isinstance(v, bool)
        }
        if scores:
            out[s.id] = scores
    return out


async def run_reliability(
    judge: Judge,
    judge_name: str,
    samples: Sequence[Sample],
    preds: Mapping[str, Prediction],
    verdicts: Mapping[str, Verdict],
    n: int = 20,
    k: int = 3,
    announce: Callable[[str], None] = print,
) -> list[dict[str, str]]:
    """reliability.csv rows of one judged run.

    Parse failures of every judged sample; self-consistency of ``k`` judgments of ``n`` of them (judges that rate
    with a model only: ``(k - 1) x n`` extra calls, announced before they are made; ``k < 2`` or ``n < 1`` makes
    none); agreement with the records' reference scores where they carry them.
    """
    judged = [s for s in samples if s.id in preds and preds[s.id].ok and s.id in verdicts]
    scores = {s.id: verdicts[s.id].scores for s in judged}  # read only: no copy (1,000,000 of them ~0.3 GB)
    repeats: dict[str, list[dict[str, float]]] = {}
    if judge.rates_with_model and judge.held_models() and k >= 2 and n >= 1:
        ids = repeat_sample_ids({s.id: verdicts[s.id] for s in judged}, n=n)
        if ids:
            announce(
                f"reliability: {(k - 1) * len(ids)} extra judge calls ({k - 1} more judgments of {len(ids)} samples; "
                "--no-reliability skips them)"
            )
            await judge.start()
            try:
                repeats = await repeat_judgments(judge, {s.id: s for s in judged}, preds, verdicts, ids, k)
            finally:
                await judge.close()
    return reliability_rows(judge_name, judge.metrics, scores, repeats, reference_scores(judged, judge.metrics))
