"""The data of a run page, read from the run's files (through RunStore) and, when given, the dataset's samples."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.captions import TAG_RE, resolve_tags
from evalkit.html.families import family_view
from evalkit.html.media import MediaLinker
from evalkit.report import BREAKDOWN_KEYS
from evalkit.store import RunStore, read_jsonl
from evalkit.types import Part, Prediction, Sample, Verdict

RAW_LIMIT = 6000  # characters of a judge's raw reply kept on the page


@dataclass(frozen=True)
class RunData:
    """Everything a run page shows.

    Attributes:
        manifest: the run's manifest.json (empty when missing).
        report: report.csv rows.
        judges: judge names, in manifest order.
        failures: (stage, judge) -> failed samples.
        entries: one page entry per sample (JSON-ready).
        note: why prompts are missing, when the dataset could not be loaded.
    """

    manifest: dict[str, Any]
    report: list[dict[str, str]]
    judges: list[str]
    failures: dict[tuple[str, str], int]
    entries: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run_judges(store: RunStore, manifest: dict[str, Any]) -> list[str]:
    """The judges of a run: those its manifest names, then any with a per-sample file and no manifest entry."""
    names = list(manifest.get("judges", {}))
    for row in _read_csv(store.report_path):
        if row.get("judge") and row["judge"] not in names:
            names.append(row["judge"])
    return [j for j in names if store.samples_path(j).exists()]


def _clip(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, indent=1)
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + f" … ({len(text) - RAW_LIMIT} more characters)"


def _judge_view(row: dict[str, Any], verdict: Verdict | None, sample: Sample | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scores": row.get("scores", {}),
        "stage": row.get("stage", ""),
        "reason": row.get("reason", ""),
        "metric_errors": row.get("metric_errors", {}),
    }
    if verdict is None:
        return out
    details = verdict.details or {}
    out["raw"] = _clip(verdict.raw) if verdict.raw not in (None, "", []) else ""
    out["captions"] = details.get("modal") or {}
    out["saw"] = {k: details[k] for k in ("question", "content") if isinstance(details.get(k), str)}
    out["family"] = family_view(verdict.raw, details, sample)
    shown = {"modal", "question", "content"}
    out["details"] = _clip({k: v for k, v in details.items() if k not in shown}) if details else ""
    return out


def _answer(pred: Prediction | None, sample: Sample | None, linker: MediaLinker) -> dict[str, Any]:
    if pred is None:
        return {"text": "", "media": {}, "error": "no prediction stored"}
    media: dict[str, Any] = {}
    if sample is not None:
        found, missing = resolve_tags(pred.text, pred, sample)
        media = {tag: linker.item(part) for tag, part in found.items()}
        media.update({tag: {"t": "missing", "tag": tag, "note": "cites no media"} for tag in missing})
    else:
        media = {p.tag: linker.item(p) for p in pred.parts if p.tag and p.tag in TAG_RE.findall(pred.text)}
    return {
        "text": pred.text,
        "media": media,
        "error": pred.error,
        "latency_s": round(pred.latency_s, 3),
        "handling": pred.meta.get("media") or {},
    }


def _parts(parts: Sequence[Part], linker: MediaLinker) -> list[dict[str, Any]]:
    return [linker.item(p) for p in parts]


def _latest(store: RunStore) -> tuple[dict[tuple[str, str], Prediction], dict[str, Prediction]]:
    by_key = store.load_predictions()
    last: dict[str, Prediction] = {}
    for (sid, _key), p in by_key.items():
        last[sid] = p
    return by_key, last


def collect(store: RunStore, samples: Sequence[Sample] | None, linker: MediaLinker, note: str = "") -> RunData:
    """Read a run's files into page data; ``samples`` (the dataset's, or None) give the prompts and references."""
    manifest: dict[str, Any] = {}
    if store.manifest_path.exists():
        manifest = dict(json.loads(store.manifest_path.read_text(encoding="utf-8")))
    judges = run_judges(store, manifest)
    by_id = {s.id: s for s in samples or ()}
    preds, last = _latest(store)
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    order: list[str] = []
    failures: Counter[tuple[str, str]] = Counter()
    for judge in judges:
        verdicts = {(v.sample_id, v.pred_key): v for v in store.load_verdicts(judge).values()}
        for row in read_jsonl(store.samples_path(judge)):
            sid = str(row["sample_id"])
            if sid not in rows:
                rows[sid] = {}
                order.append(sid)
            row["_verdict"] = verdicts.get((sid, row.get("pred_key", "")))
            rows[sid][judge] = row
            if row.get("stage"):
                failures[(row["stage"], judge)] += 1
            elif row.get("metric_errors"):  # judged, but some metric has no value (failures.csv stage "metric")
                failures[("metric", judge)] += 1
    order += [s for s in by_id if s not in rows and s in last]  # infer-only runs: predicted, not judged
    entries = []
    for sid in order:
        sample, per_judge = by_id.get(sid), rows.get(sid, {})
        first = next(iter(per_judge.values()), {})
        pred = preds.get((sid, first.get("pred_key", ""))) or last.get(sid)
        meta = dict(first.get("meta") or {})
        if sample is not None:
            meta.update({k: str(sample.meta[k]) for k in BREAKDOWN_KEYS if sample.meta.get(k) not in (None, "")})
        entry: dict[str, Any] = {
            "id": sid,
            "meta": meta,
            "failed": any(r.get("stage") for r in per_judge.values()) or (pred is not None and not pred.ok),
            "prompt": _parts(sample.msg, linker) if sample is not None else [],
            "reference": _parts(sample.references, linker)
            if sample is not None
            else ([{"t": "text", "tag": "", "v": first["reference"]}] if first.get("reference") else []),
            "answer": _answer(pred, sample, linker),
            "judges": {j: _judge_view(r, r.get("_verdict"), sample) for j, r in per_judge.items()},
        }
        if pred is None and first.get("answer"):
            entry["answer"]["text"] = first["answer"]
        entries.append(entry)
    return RunData(manifest, _read_csv(store.report_path), judges, dict(failures), entries, note)
