"""Aggregation into report rows, failure lists, the scored interleaved export, and LEADERBOARD.md.

Denominators are honest: ``n`` counts every sample of the dataset, bad records included, and ``n_failed``
counts those without a value for the metric (bad record, failed call, failed or unparseable judge reply,
metric undefined); ``failures.csv`` says why for each.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.store import write_atomic
from evalkit.types import Prediction, RecordError, Sample, Verdict

REPORT_FIELDS = ("dataset", "subset", "metric", "value", "n", "n_failed", "judge")
FAILURE_FIELDS = ("sample_id", "stage", "reason", "judge")
BREAKDOWN_KEYS = ("subset", "domain", "subdomain", "difficulty")


@dataclass(frozen=True)
class Outcome:
    """The final state of one sample: its scores, or the stage and reason it failed.

    Attributes:
        sample_id: the sample's id (``file:line`` for an unreadable record).
        meta: breakdown keys.
        scores: metric -> value.
        stage: ``record``, ``predict``, ``judge`` or empty when judged.
        reason: why it failed.
        details: the verdict's details (counts a corpus-level metric sums, such as WER's errors and words).
        metric_errors: metric -> reason, for metrics without a value in an otherwise judged sample.
    """

    sample_id: str
    meta: dict[str, Any]
    scores: dict[str, float]
    stage: str = ""
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    metric_errors: dict[str, str] = field(default_factory=dict)


def outcomes(
    samples: Sequence[Sample],
    errors: Sequence[RecordError],
    preds: dict[str, Prediction],
    verdicts: dict[str, Verdict],
) -> list[Outcome]:
    """One Outcome per sample and per bad record."""
    out = [
        Outcome(
            e.sample_id or f"{Path(e.file).name}:{e.line}",
            {"subset": Path(e.file).stem, **e.meta},
            {},
            "record",
            str(e),
        )
        for e in errors
    ]
    for s in samples:
        p, v = preds.get(s.id), verdicts.get(s.id)
        if p is None:
            out.append(Outcome(s.id, s.meta, {}, "predict", "no prediction stored (run inference first)"))
        elif not p.ok:
            out.append(Outcome(s.id, s.meta, {}, "predict", p.error))
        elif v is None:
            out.append(Outcome(s.id, s.meta, {}, "judge", "not judged (run evaluation)"))
        elif not v.ok:
            out.append(Outcome(s.id, s.meta, {}, "judge", f"{v.parse_status}: {v.error}"))
        else:
            out.append(Outcome(s.id, s.meta, v.scores, details=v.details, metric_errors=v.metric_errors))
    return out


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def mean_of(metric: str, scored: Sequence[Outcome]) -> float:
    """The default summary of a metric: the mean of its per-sample values."""
    return sum(o.scores[metric] for o in scored) / len(scored)


Summarize = Callable[[str, Sequence[Outcome]], float]


def report_rows(
    dataset: str, judge: str, metrics: Sequence[str], items: Sequence[Outcome], summarize: Summarize = mean_of
) -> list[dict[str, str]]:
    """Rows (dataset, subset, metric, value, n, n_failed, judge) overall and per breakdown key.

    ``summarize(metric, scored)`` turns the outcomes that have the metric into one value (the mean by default;
    corpus-level metrics such as WER sum counts kept in the details instead).
    """
    groups: dict[str, list[Outcome]] = {"all": list(items)}
    for key in BREAKDOWN_KEYS:
        for o in items:
            if o.meta.get(key) not in (None, ""):
                groups.setdefault(f"{key}={o.meta[key]}", []).append(o)
    rows = []
    for subset, group in groups.items():
        for metric in metrics:
            scored = [o for o in group if metric in o.scores]
            value = _fmt(summarize(metric, scored)) if scored else ""
            rows.append(
                {
                    "dataset": dataset,
                    "subset": subset,
                    "metric": metric,
                    "value": value,
                    "n": str(len(group)),
                    "n_failed": str(len(group) - len(scored)),
                    "judge": judge,
                }
            )
    return rows


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


def write_leaderboard(work_dir: Path, out: Path) -> int:
    """Regenerate LEADERBOARD.md from every report.csv under ``work_dir``; returns the number of reports."""
    reports = sorted(work_dir.glob("*/*/report.csv"))
    table: dict[tuple[str, str, str], dict[str, str]] = {}
    for path in reports:
        model = path.parent.parent.name
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["subset"] == "all":
                    col = f"{row['metric']} [{row['judge']}]"
                    cell = f"{row['value'] or '-'} ({int(row['n']) - int(row['n_failed'])}/{row['n']})"
                    table.setdefault((row["dataset"], col, model), {})["cell"] = cell
    lines = [
        "# Leaderboard",
        "",
        f"Generated by `python run.py leaderboard` from `{work_dir}`. Cell: mean (scored/total samples);",
        "samples that failed or could not be scored stay in the total. Columns name the judge that produced them.",
    ]
    for dataset in sorted({k[0] for k in table}):
        cols = sorted({k[1] for k in table if k[0] == dataset})
        models = sorted({k[2] for k in table if k[0] == dataset})
        lines += ["", f"## {dataset}", "", "| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for m in models:
            cells = [table.get((dataset, c, m), {}).get("cell", "") for c in cols]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    write_atomic(out, "\n".join(lines) + "\n")
    return len(reports)
