"""``run.py preflight --model M --dataset D [--judge J]``: is this run ready to go for hours?

Validates every record, opens and decodes every media file within the model's media budget (one file at a time,
nothing kept: bounded memory), sends one real request to the model, to each captioner of the judge and to the
judge, estimates the run's requests, tokens and wall time from those latencies and the concurrency, and prints
a ready / not-ready table. Exit status: 0 ready, 1 not ready.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from evalkit.captions import ModelCaptioner
from evalkit.config import Config
from evalkit.datasets.base import Dataset
from evalkit.errors import ConfigError, EvalkitError
from evalkit.factory import build_dataset, build_judge, build_model
from evalkit.judges.base import Judge
from evalkit.judges.captioned import CaptioningJudge, record_location
from evalkit.mediaproc.budget import MediaBudget, process
from evalkit.models.base import Model
from evalkit.preflight import check_replay, check_unread_media
from evalkit.types import Part, Prediction, Sample, error_text

SHOWN_ERRORS = 5  # bad records / media named in the table; the rest are counted


@dataclass(frozen=True)
class Check:
    """One row of the table.

    Attributes:
        name: what was checked.
        ok: passed (a failed check makes the run not ready).
        detail: what was found, one line.
        latency_s: the wall time of the one real request, when the check made one.
        tokens: prompt + completion tokens of that request, when the backend reported them.
    """

    name: str
    ok: bool
    detail: str
    latency_s: float | None = None
    tokens: int = 0


@dataclass
class MediaScan:
    """What decoding every media file found.

    Attributes:
        files: distinct files decoded, per kind.
        errors: ``file:line: <tag> path: reason`` of each file that could not be decoded.
    """

    files: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def one_line(text: str) -> str:
    """``text`` on one line (a check's detail never breaks the table)."""
    return " ".join(str(text).split())


def model_budget(model: Model) -> MediaBudget:
    """The model's media budget (its entry's ``media:``), or the defaults."""
    budget = getattr(model.options, "media", None)
    return budget if isinstance(budget, MediaBudget) else MediaBudget()


def scan_media(samples: Sequence[Sample], budget: MediaBudget, progress: bool) -> MediaScan:
    """Decode each distinct media file once within ``budget``; nothing decoded is kept."""
    scan, seen = MediaScan(), set()
    for s in tqdm(samples, desc="preflight media", unit="sample", disable=not progress, dynamic_ncols=True):
        for p in s.msg:
            if not p.is_media or p.value in seen:
                continue
            seen.add(p.value)
            try:
                process(p.type, Path(p.value), budget)
            except Exception as exc:  # every unreadable file is reported, the scan goes on
                scan.errors.append(f"{record_location(s)}<{p.tag or p.type}> {p.value}: {one_line(error_text(exc))}")
            else:
                scan.files[p.type] += 1
    return scan


def _listed(errors: Sequence[str]) -> str:
    more = f" (+{len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
    return "; ".join(errors[:SHOWN_ERRORS]) + more


def probe_sample(samples: Sequence[Sample]) -> Sample:
    """The sample with the fewest media items (the cheapest real request)."""
    return min(samples, key=lambda s: sum(1 for p in s.msg if p.is_media))


async def _timed(coro: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = await coro
    return out, time.perf_counter() - t0


async def check_model(model: Model, sample: Sample, key: str) -> tuple[Check, Prediction | None]:
    """Start the model and send it one real request."""
    try:
        await model.start()
        pred, _ = await _timed(model.predict(sample, key))
    except EvalkitError as exc:
        return Check(f"model {model.name}", False, one_line(str(exc))), None
    finally:
        await model.close()
    if not pred.ok:
        return Check(f"model {model.name}", False, f"request failed: {one_line(pred.error)}", pred.latency_s), None
    usage = pred.meta.get("usage") or {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    tokens = f", {prompt}+{completion} tokens" if usage else ""
    detail = f"1 request, {pred.latency_s:.2f} s{tokens}"
    return Check(f"model {model.name}", True, detail, pred.latency_s, prompt + completion), pred


async def check_captioners(judge: Judge, samples: Sequence[Sample]) -> list[Check]:
    """One real request to each captioner of the judge, on a media item of a kind it captions."""
    if not isinstance(judge, CaptioningJudge):
        return []
    kinds = {k for s in samples for p in s.msg if p.tag and (k := p.type) in judge.captioners}
    out = []
    for captioner in dict.fromkeys(judge.captioners[k] for k in sorted(kinds)):
        part = next(p for s in samples for p in s.msg if p.tag and judge.captioners.get(p.type) is captioner)
        try:
            calls = judge.cache.calls
            # through the judge's cache, so the judge's own verdict below reuses this caption; when the caption
            # was cached by an earlier run, the captioner is called directly: it must answer now
            text, took = await _timed(judge.cache.get(part, captioner))
            if judge.cache.calls == calls:
                text, took = await _timed(captioner.caption(Part(part.type, part.value, part.tag)))
        except Exception as exc:
            out.append(Check(f"captioner {captioner.name}", False, f"{part.value}: {one_line(error_text(exc))}"))
            continue
        out.append(Check(f"captioner {captioner.name}", True, f"1 request, {took:.2f} s: {one_line(text)[:60]}", took))
    return out


async def check_judge(judge: Judge, sample: Sample, pred: Prediction | None) -> Check:
    """One real verdict on the model's answer (or, when it failed, on the sample's reference)."""
    if pred is None:
        text = "".join(p.value for p in sample.references if p.type == "text")
        pred = Prediction(sample.id, "reference", "preflight", text=text)
    verdict, took = await _timed(judge.judge(sample, pred))
    if not verdict.ok:
        return Check(f"judge {judge.name}", False, f"{verdict.parse_status}: {one_line(verdict.error)}", took)
    scores = ", ".join(f"{k}={v:g}" for k, v in verdict.scores.items())
    return Check(f"judge {judge.name}", True, f"1 verdict, {took:.2f} s: {scores}", took)


def estimate(n: int, checks: Sequence[Check], model: Model, judge: Judge | None, scan: MediaScan, conc: int) -> str:
    """Requests, tokens and wall time of the full run, from the one request of each check."""
    by = {c.name: c for c in checks}
    model_conc = conc or model.concurrency
    wall = n * (by[f"model {model.name}"].latency_s or 0.0) / max(1, model_conc)
    parts = [f"{n} model requests"]
    if judge is not None:
        judge_conc = conc or judge.concurrency
        wall += n * (by.get(f"judge {judge.name}", Check("", True, "")).latency_s or 0.0) / max(1, judge_conc)
        parts.append(f"{n} judge verdicts")
        if isinstance(judge, CaptioningJudge):
            caps = 0
            for kind, files in scan.files.items():
                cap = judge.captioners.get(kind)
                latency = by.get(f"captioner {cap.name}", Check("", True, "")).latency_s if cap else None
                if cap is not None and latency is not None:
                    caps += files
                    wall += files * latency / (judge_conc if isinstance(cap, ModelCaptioner) else 1)
            parts.append(f"<= {caps} captions (one per distinct file, cached)")
    per = by[f"model {model.name}"].tokens
    tokens = f", about {n * per:,} model tokens ({per} per request)" if per else ""
    return f"{', '.join(parts)}{tokens}; about {_duration(wall)} at concurrency {model_conc}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def render(checks: Sequence[Check], ready: bool, plan: str) -> str:
    """The table, then READY or NOT READY."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  status  detail", f"{'-' * width}  ------  {'-' * 40}"]
    lines += [f"{c.name:<{width}}  {'ok' if c.ok else 'FAIL':<6}  {c.detail}" for c in checks]
    lines += [f"{'estimate':<{width}}  {'-':<6}  {plan}", "", "READY" if ready else "NOT READY"]
    return "\n".join(lines)


async def run_checks(cfg: Config, spec: argparse.Namespace, work_dir: Path) -> tuple[list[Check], str]:
    """Every check of a preflight; returns the rows and the estimate."""
    dataset: Dataset = build_dataset(cfg, spec.dataset[0])
    model = build_model(cfg, spec.model[0])
    judge_name = spec.judge or dataset.judge_name
    judge = build_judge(cfg, judge_name, work_dir) if judge_name else None
    check_replay(model, dataset)
    loaded = dataset.load()
    samples = loaded.samples[: spec.limit] if spec.limit else loaded.samples
    bad = [str(e) for e in loaded.errors]
    n = len(loaded.samples) + len(bad)
    checks = [Check("records", not bad, f"{n} records, {len(bad)} bad" + (f": {_listed(bad)}" if bad else ""))]
    scan = await asyncio.to_thread(scan_media, samples, model_budget(model), not spec.no_progress)
    files = ", ".join(f"{k} {v}" for k, v in sorted(scan.files.items())) or "none"
    detail = f"{sum(scan.files.values())} files decoded within the model's budget ({files})"
    checks.append(
        Check("media", not scan.errors, detail + (f"; unreadable: {_listed(scan.errors)}" if scan.errors else ""))
    )
    try:
        unread = check_unread_media(model, samples)
        checks.append(
            Check(
                "model reads media",
                True,
                ", ".join(f"{k}: {v} samples get a note" for k, v in unread.items()) or "all",
            )
        )
    except ConfigError as exc:
        checks.append(Check("model reads media", False, one_line(str(exc))))
    if not samples:
        return [*checks, Check("samples", False, "the dataset has no readable sample")], "nothing to run"
    probe = probe_sample(samples)
    model_check, pred = await check_model(model, probe, model.prediction_key(probe, dataset.prompt_version))
    checks.append(model_check)
    if judge is not None:
        try:
            await judge.start()
            checks += await check_captioners(judge, [probe, *samples])
            checks.append(await check_judge(judge, probe, pred))
        except EvalkitError as exc:
            checks.append(Check(f"judge {judge.name}", False, one_line(str(exc))))
        finally:
            await judge.close()
    return checks, estimate(len(samples), checks, model, judge, scan, spec.concurrency)


def preflight_command(cfg: Config, args: argparse.Namespace, work_dir: Path) -> int:
    """``run.py preflight``: print the table; 0 when ready, 1 when not."""
    if not args.model or not args.dataset or len(args.model) != 1 or len(args.dataset) != 1:
        raise ConfigError("preflight checks one pair: python run.py preflight --model M --dataset D [--judge J]")
    checks, plan = asyncio.run(run_checks(cfg, args, work_dir))
    ready = all(c.ok for c in checks)
    print(render(checks, ready, plan))
    return 0 if ready else 1
