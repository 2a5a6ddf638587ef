"""Ranking metrics of retrieval and classification-as-ranking: Hit, NDCG, Precision, Recall, F1, MAP, MRR @K.

The judge re-ranks a prediction's candidate scores itself, so that tie handling is the judge's, not the
model's. Two sets of definitions (docs/retrieval.md has a worked example of each difference):

* standard (default): trec_eval's. Ties are broken by candidate id in descending order (as trec_eval does),
  ``map@k`` is trec_eval's ``map_cut_k`` (precisions at the relevant ranks <= k, divided by the number of
  relevant candidates), ``ndcg@k`` is ``ndcg_cut_k`` (linear gain), ``hit@k`` is ``success_k``.
* ``vlm2vec_compat: true``: VLM2Vec's ``RankingMetrics``. Ties keep the dataset's candidate order, and
  ``map@k`` divides by ``min(number relevant, k)``.

Both cut every metric at k, divide precision by k even when fewer than k candidates exist, and give ``mrr@k``
= 0 when the first relevant candidate ranks below k. :func:`write_vlm2vec_outputs` writes VLM2Vec's
``<task>_score.json``, ``<task>_pred.jsonl`` and ``<task>_info.jsonl``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.judges.base import ACCURACY, JUDGES, Judge, JudgeContext, JudgeFailure, MetricSpec, Scored
from evalkit.models.embedding import candidate_ids
from evalkit.store import safe_name, write_atomic
from evalkit.types import Prediction, RecordError, Sample, Verdict

METRICS = ("hit", "ndcg", "precision", "recall", "f1", "map", "mrr")


@dataclass(frozen=True)
class RetrievalOptions:
    """Config keys of the retrieval judge.

    Attributes:
        ks: the cut-offs K; each metric is reported as ``<metric>@<K>``.
        metrics: which of hit, ndcg, precision, recall, f1, map, mrr to report.
        vlm2vec_compat: VLM2Vec's definitions (tie order, MAP denominator) instead of trec_eval's.
    """

    ks: tuple[int, ...] = (1, 5, 10)
    metrics: tuple[str, ...] = METRICS
    vlm2vec_compat: bool = False


def rank_ids(ids: Sequence[str], scores: Sequence[float], ties: str = "trec") -> list[str]:
    """Candidate ids, best first.

    Args:
        ids: candidate ids in the dataset's order.
        scores: their scores (higher is better).
        ties: ``trec`` breaks ties by id, descending (trec_eval); ``given`` keeps the dataset's order.
    """
    if ties == "trec":
        return [i for _, i in sorted(zip(scores, ids, strict=True), reverse=True)]
    if ties == "given":
        order = sorted(range(len(ids)), key=lambda n: -scores[n])  # sorted() is stable
        return [ids[n] for n in order]
    raise ValueError(f"ties must be 'trec' or 'given', got {ties!r}")


def _dcg(gains: Sequence[float], exponential: bool = False) -> float:
    return sum(((2.0**g - 1.0) if exponential else g) / math.log2(i + 2) for i, g in enumerate(gains))


def ranking_metrics(
    ranking: Sequence[str], gains: Mapping[str, float], ks: Sequence[int], *, vlm2vec: bool = False
) -> dict[str, float]:
    """Every metric at every K for one query.

    Args:
        ranking: candidate ids, best first (all candidates).
        gains: relevant candidate id -> relevance grade (> 0); binary relevance is grade 1.
        ks: cut-offs.
        vlm2vec: VLM2Vec's MAP denominator ``min(R, K)`` instead of trec_eval's ``R``.

    Returns:
        ``{"hit@1": ..., "ndcg@1": ..., "ndcg_exp@1": ...}``; ``ndcg_exp`` uses the gain ``2**grade - 1``.
    """
    n_rel = len(gains)
    if n_rel == 0:
        raise ValueError("a query needs at least one relevant candidate")
    grades = [float(gains.get(d, 0.0)) for d in ranking]
    ideal = sorted((float(g) for g in gains.values()), reverse=True)
    first = next((i + 1 for i, g in enumerate(grades) if g > 0), 0)
    out: dict[str, float] = {}
    for k in ks:
        top = grades[:k]
        found = sum(1 for g in top if g > 0)
        prec, rec = found / k, found / n_rel
        ap, seen = 0.0, 0
        for i, g in enumerate(top, start=1):
            if g > 0:
                seen += 1
                ap += seen / i
        out[f"hit@{k}"] = 1.0 if found else 0.0
        out[f"precision@{k}"] = prec
        out[f"recall@{k}"] = rec
        out[f"f1@{k}"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[f"map@{k}"] = ap / (min(n_rel, k) if vlm2vec else n_rel)
        out[f"mrr@{k}"] = 1.0 / first if 0 < first <= k else 0.0
        out[f"ndcg@{k}"] = _dcg(top) / _dcg(ideal[:k])
        out[f"ndcg_exp@{k}"] = _dcg(top, True) / _dcg(ideal[:k], True)
    return out


def positives(sample: Sample) -> dict[str, float]:
    """The sample's relevant candidate ids and grades (``meta["positives"]``, set by the mmeb dataset)."""
    pos = sample.meta.get("positives")
    if not isinstance(pos, dict) or not pos:
        raise JudgeFailure(f"sample {sample.id} has no positives in meta['positives']")
    return {str(k): float(v) for k, v in pos.items()}


def prediction_scores(sample: Sample, pred: Prediction) -> tuple[list[str], list[float]]:
    """(candidate ids in the sample's order, their scores) from a prediction's ``meta`` ranking.

    Raises:
        JudgeFailure: the prediction has no ranking, or it ranks other candidates than the sample has.
    """
    ranking, scores = pred.meta.get("ranking"), pred.meta.get("scores")
    if not isinstance(ranking, list) or not isinstance(scores, list) or len(ranking) != len(scores):
        raise JudgeFailure(
            "the prediction has no candidate ranking (meta 'ranking', 'scores'): not an embedding model?"
        )
    by_id = dict(zip((str(r) for r in ranking), scores, strict=True))
    ids = candidate_ids(sample.msg)
    if len(by_id) != len(ranking) or set(by_id) != set(ids):
        extra, lost = sorted(set(by_id) - set(ids))[:3], sorted(set(ids) - set(by_id))[:3]
        raise JudgeFailure(f"the ranking does not cover the sample's candidates (unknown: {extra}, missing: {lost})")
    values = [float(by_id[i]) for i in ids]
    if not all(math.isfinite(v) for v in values):
        raise JudgeFailure("the prediction has a non-finite candidate score")
    return ids, values


@JUDGES.register("retrieval")
class RetrievalJudge(Judge):
    """Hit@K, NDCG@K, Precision@K, Recall@K, F1@K, MAP@K and MRR@K of a ranked candidate list, per sample."""

    Options = RetrievalOptions
    version = "retrieval-v1"
    concurrency = 64

    def metric_spec(self, metric: str) -> MetricSpec:
        return ACCURACY  # every @K metric: higher is better, a query without a ranking scores 0

    options: RetrievalOptions

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        ks, names = self.options.ks, self.options.metrics
        if not ks or any(k < 1 for k in ks) or len(set(ks)) != len(ks):
            raise ConfigError(f"judge {name}: ks must be distinct positive integers, got {list(ks)}")
        unknown = [m for m in names if m not in METRICS]
        if unknown or not names:
            raise ConfigError(f"judge {name}: unknown metrics {unknown}; choose from {', '.join(METRICS)}")
        # the report's metric names depend on the options; the base class declares `metrics` per class
        self.metrics = tuple(f"{m}@{k}" for m in names for k in sorted(ks))

    @property
    def ties(self) -> str:
        """The tie rule: ``given`` (VLM2Vec) or ``trec``."""
        return "given" if self.options.vlm2vec_compat else "trec"

    def ranked(self, sample: Sample, pred: Prediction) -> tuple[list[str], dict[str, float]]:
        """The candidate ids best first under this judge's tie rule, and the score of each."""
        ids, values = prediction_scores(sample, pred)
        return rank_ids(ids, values, self.ties), dict(zip(ids, values, strict=True))

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        gains = positives(sample)
        ranking, by_id = self.ranked(sample, pred)
        missing = sorted(set(gains) - set(by_id))
        if missing:
            raise JudgeFailure(f"positives {missing[:3]} are not among the sample's candidates")
        values = ranking_metrics(ranking, gains, self.options.ks, vlm2vec=self.options.vlm2vec_compat)
        rank_of = {cid: n for n, cid in enumerate(ranking, start=1)}
        tied = sum(1 for p in gains if sum(1 for v in by_id.values() if v == by_id[p]) > 1)
        details = {
            "positive_ranks": {p: rank_of[p] for p in gains},
            "n_candidates": len(ranking),
            "positives_tied": tied,
            "ties": self.ties,
            "ndcg_exponential": {str(k): values[f"ndcg_exp@{k}"] for k in self.options.ks},
        }
        return Scored(scores={m: values[m] for m in self.metrics}, raw=ranking[:10], details=details)

    def write_outputs(
        self,
        store_dir: Path,
        dataset: str,
        samples: Sequence[Sample],
        preds: Mapping[str, Prediction],
        verdicts: Mapping[str, Verdict],
        errors: Sequence[RecordError] = (),
    ) -> dict[str, Path]:
        """VLM2Vec's files for this run, named after the samples' MMEB task (else the dataset entry)."""
        task = str(samples[0].meta.get("task") or dataset) if samples else dataset
        return write_vlm2vec_outputs(store_dir, task, samples, preds, verdicts, errors)


def _label(gains: Mapping[str, float]) -> str | list[str]:
    ids = list(gains)
    return ids[0] if len(ids) == 1 else ids


def write_vlm2vec_outputs(
    store_dir: Path,
    task: str,
    samples: Sequence[Sample],
    preds: Mapping[str, Prediction],
    verdicts: Mapping[str, Verdict],
    errors: Sequence[RecordError] = (),
) -> dict[str, Path]:
    """Write VLM2Vec's per-dataset files next to our report, from stored predictions and verdicts.

    ``<task>_score.json``: the mean of each metric over the scored queries, named as VLM2Vec names them
    (``hit@1``, ``ndcg_linear@1``, ``ndcg_exponential@1``, ``precision@1`` ...), plus ``num_pred`` (queries
    scored), ``num_data`` (all queries, unreadable records included) and ``num_failed``: failures are counted,
    never averaged in as zeros. ``<task>_pred.jsonl``: per query, ``prediction`` (candidate ids best first
    under the judge's tie rule), ``label``, ``rel_scores``; a query without a ranking has ``prediction: null``
    and its ``error``. ``<task>_info.jsonl``: per query, ``cand_names``, ``label_name`` and ``rel_scores``.

    Args:
        store_dir: the model x dataset results folder.
        task: the task name used in the file names (``ImageNet-1K``).
        samples: the dataset's samples.
        preds: sample id -> prediction.
        verdicts: sample id -> verdict of the retrieval judge.
        errors: the dataset's unreadable records (counted in ``num_data``).

    Returns:
        ``{"score": path, "pred": path, "info": path}``.
    """
    sums: dict[str, float] = {}
    scored = 0
    pred_lines, info_lines = [], []
    for s in samples:
        gains = {str(k): float(v) for k, v in (s.meta.get("positives") or {}).items()}
        graded = any(g != 1.0 for g in gains.values())
        rel_scores = list(gains.values()) if graded else None
        info: dict[str, Any] = {"qid": s.id, "cand_names": candidate_ids(s.msg), "label_name": _label(gains)}
        if graded:
            info["rel_scores"] = rel_scores
        info_lines.append(json.dumps(info, ensure_ascii=False))
        v, p = verdicts.get(s.id), preds.get(s.id)
        rec: dict[str, Any] = {"qid": s.id, "prediction": None, "label": list(gains), "rel_scores": rel_scores}
        if v is not None and v.ok and p is not None and p.ok:
            ties = str(v.details.get("ties", "trec"))
            ids, values = prediction_scores(s, p)
            rec["prediction"] = rank_ids(ids, values, ties)
            scored += 1
            for name, value in v.scores.items():
                metric, _, k = name.partition("@")
                key = f"ndcg_linear@{k}" if metric == "ndcg" else name
                sums[key] = sums.get(key, 0.0) + value
                if metric == "ndcg" and k in v.details.get("ndcg_exponential", {}):
                    exp_key = f"ndcg_exponential@{k}"
                    sums[exp_key] = sums.get(exp_key, 0.0) + float(v.details["ndcg_exponential"][k])
        else:
            rec["error"] = _why(p, v)
        pred_lines.append(json.dumps(rec, ensure_ascii=False))
    score: dict[str, float | int] = {k: sums[k] / scored for k in sorted(sums, key=_vlm2vec_order)} if scored else {}
    total = len(samples) + len(errors)
    score.update({"num_pred": scored, "num_data": total, "num_failed": total - scored})
    base = Path(store_dir) / safe_name(task)
    paths = {
        "score": base.with_name(f"{base.name}_score.json"),
        "pred": base.with_name(f"{base.name}_pred.jsonl"),
        "info": base.with_name(f"{base.name}_info.jsonl"),
    }
    write_atomic(paths["score"], json.dumps(score, indent=4) + "\n")
    write_atomic(paths["pred"], "".join(line + "\n" for line in pred_lines))
    write_atomic(paths["info"], "".join(line + "\n" for line in info_lines))
    return paths


_ORDER = ("hit", "ndcg_linear", "ndcg_exponential", "precision", "recall", "f1", "map", "mrr")


def _vlm2vec_order(key: str) -> tuple[int, int]:
    metric, _, k = key.partition("@")
    return _ORDER.index(metric), int(k)


def _why(pred: Prediction | None, verdict: Verdict | None) -> str:
    if pred is None:
        return "no prediction stored"
    if not pred.ok:
        return f"prediction failed: {pred.error}"
    if verdict is None:
        return "not judged"
    return f"judge {verdict.parse_status}: {verdict.error}"
