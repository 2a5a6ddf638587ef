"""One model x dataset job: load, infer, judge, report, manifest. The CLI runs one job per pair."""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any, TypeVar

from evalkit.config import Config
from evalkit.datasets.base import Dataset
from evalkit.errors import ConfigError
from evalkit.export import scored_export
from evalkit.factory import build_dataset, build_judge, build_model
from evalkit.freshness import outputs_current, outputs_inputs, record_outputs, recorded_summary, stamped_outputs
from evalkit.gcpause import collector_paused, collector_tuned, hold_records, release_records
from evalkit.judges.base import Judge
from evalkit.launch import infer_stage, leaves_judging_to_rank0, under_torchrun
from evalkit.limiter import endpoint_snapshot
from evalkit.models.base import Model
from evalkit.preflight import check_replay, check_unread_media
from evalkit.report import (
    FAILURE_FIELDS,
    REPORT_FIELDS,
    RunFacts,
    csv_text,
    failure_rows,
    merge_rows,
    outcomes,
    report_rows,
    sample_lines,
)
from evalkit.runner import StageStats, evaluate, infer_and_judge, pipelines, stored_predictions
from evalkit.scoring import CLT_MIN_CLUSTERS, N_RESAMPLES, N_RESAMPLES_CORPUS, SEED, sample_clusters
from evalkit.store import RunStore, write_atomic, write_lines
from evalkit.streamed import StreamedOutputs, sample_extras
from evalkit.tokens import TokenTally, token_totals
from evalkit.types import Prediction, RecordError, Sample, Verdict

log = logging.getLogger(__name__)
T = TypeVar("T")

#: how report.csv's intervals are made (recorded in every manifest)
UNCERTAINTY = {
    "method": "bootstrap over clusters of samples sharing a media file (cluster-robust CLT from "
    f"{CLT_MIN_CLUSTERS} clusters on)",
    "seed": SEED,
    "resamples": N_RESAMPLES,
    "resamples_corpus": N_RESAMPLES_CORPUS,
}

PACKAGES = (
    "evalkit",
    "aiohttp",
    "numpy",
    "torch",
    "transformers",
    "sentence-transformers",
    "faster-whisper",
    "ctranslate2",
    "llama_cpp_python",
    "rapidocr-onnxruntime",
    "vllm",
)


@dataclass(frozen=True)
class JobSpec:
    """What to run.

    Attributes:
        model: model entry name.
        dataset: dataset entry name.
        judge: judge entry name; empty = the dataset entry's ``judge``, then its class's default.
        mode: ``all`` (infer then judge), ``infer`` or ``eval`` (judge stored predictions only).
        reeval: judge again, ignoring stored verdicts (never infers).
        force_reinfer: predict again even where a stored prediction matches.
        limit: only the first N samples (0 = all).
        concurrency: override of the model's and judge's concurrency (0 = theirs).
        progress: show progress bars.
        model_overrides: model options set from the command line (``save_attn``).
        reliability_samples: samples an LLM judge judges again for reliability.csv (0: none).
        reliability_repeats: judgments per such sample, the stored one included (< 2: none).
        launcher: ``local`` (this process; torchrun ranks are found from the environment) or ``ray``.
        ray_address: Ray cluster to join (empty: start a local one).
        workers: Ray actors (0: one per GPU of the cluster, else one per CPU core, at most 4).
    """

    model: str
    dataset: str
    judge: str = ""
    mode: str = "all"
    reeval: bool = False
    force_reinfer: bool = False
    limit: int = 0
    concurrency: int = 0
    progress: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)
    reliability_samples: int = 20
    reliability_repeats: int = 3
    launcher: str = "local"
    ray_address: str = ""
    workers: int = 0


@dataclass
class JobResult:
    """What a job produced.

    Attributes:
        store: where its files are.
        rows: the report rows (empty in infer-only mode).
        infer: inference counts.
        judge: judging counts.
        judge_name: the judge that produced the rows.
        bad_records: number of records that could not be read.
        mean_latency_s: mean model call time of the successful predictions.
        facts: run-level facts every report row states (partial run, empty files).
        unread_media: media kind -> samples whose media of that kind the model got a "not shown" note for.
        tokens: prompt/completion token totals of the predictions that report usage.
        n_samples: samples of the job, bad records included.
        n_failed: samples without scores (bad record, failed call, failed judge), for ``--max-failed``.
    """

    store: RunStore
    rows: list[dict[str, str]] = field(default_factory=list)
    infer: StageStats = field(default_factory=StageStats)
    judge: StageStats = field(default_factory=StageStats)
    judge_name: str = ""
    bad_records: int = 0
    mean_latency_s: float | None = None
    facts: RunFacts = field(default_factory=RunFacts)
    unread_media: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    n_samples: int = 0
    n_failed: int = 0


def _versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (looked up once per process: a few ms each time otherwise)."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        version = _version(name)
        if version:
            out[name] = version
    return out


def _version(name: str) -> str:
    """``importlib.metadata.version(name)`` (empty when not installed), reading only the METADATA headers."""
    from importlib import metadata  # 10-20 ms of imports, for the manifest only

    dist = next(iter(metadata.distributions(name=name)), None)
    if dist is None:
        return ""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.split("\n\n", 1)[0].splitlines():  # the headers end at the first blank line
        if line.startswith("Version:"):
            return line[len("Version:") :].strip()
    return dist.version or ""  # an unusual layout: let importlib.metadata parse it


def _git_sha() -> str:
    """``git rev-parse HEAD`` in the working directory (empty outside a repository), from the repository's files
    where they are plain (no subprocess: 5-20 ms less per run), else from git itself."""
    sha = _git_sha_from_files(Path.cwd())
    if sha is not None:
        return sha
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return ""
    return res.stdout.strip()


#: variables that change which repository (or which HEAD) git finds
_GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_NAMESPACE")


def _git_sha_from_files(start: Path) -> str | None:
    """HEAD's commit read from ``.git`` (a loose or packed branch ref, or a detached HEAD); None where only git can
    say (a worktree or submodule's ``.git`` file, GIT_DIR and the like, a ref it cannot find)."""
    if any(k in os.environ for k in _GIT_LOCATION_VARS):
        return None
    for folder in (start, *start.parents):
        git = folder / ".git"
        if git.is_dir():
            break
        if git.exists():
            return None
    else:
        return None
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head if _is_sha(head) else None
        ref = head[len("ref: ") :]
        loose = git / ref
        if loose.is_file():
            sha = loose.read_text(encoding="utf-8").strip()
            return sha if _is_sha(sha) else None
        packed = git / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and _is_sha(sha):
                    return sha
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


async def run_job(cfg: Config, spec: JobSpec, work_dir: Path) -> JobResult:
    """Run one job end to end; every result is stored as soon as it exists.

    The run's records are held out of the cyclic collector's walks while it runs (:func:`hold_records`), and the
    young generation is collected less often (:func:`collector_tuned`).
    """
    frozen_before = gc.get_freeze_count()
    try:
        with collector_tuned():
            return await _run_job(cfg, spec, work_dir)
    finally:
        release_records(frozen_before)


async def _run_job(cfg: Config, spec: JobSpec, work_dir: Path) -> JobResult:
    started = time.time()
    with collector_paused():  # the start (imports, records) allocates much and frees little: collect later
        dataset = build_dataset(cfg, spec.dataset)
        model = build_model(cfg, spec.model, spec.model_overrides)
        check_replay(model, dataset)
        samples, errors, facts = _load(dataset, spec.limit)
        unread = check_unread_media(model, samples) if spec.mode in ("all", "infer") and not spec.reeval else {}
        store = RunStore(work_dir, spec.model, spec.dataset)
        model.bind_run_dir(store.dir)
        result = JobResult(store=store, bad_records=len(errors), facts=facts, unread_media=dict(unread))
        pv = dataset.prompt_version
        judge = None
        judge_name = spec.judge or dataset.judge_name
        if not judge_name and (spec.mode != "infer" or spec.reeval):
            raise ConfigError(f"no judge for dataset {spec.dataset}: pass --judge or set datasets.{spec.dataset}.judge")
        if spec.mode != "infer" or spec.reeval:
            judge = build_judge(cfg, judge_name, work_dir)  # a bad judge name fails before any model call
        hold_records()  # the samples, and what the imports made
    sizes = (len(samples), len(errors))
    if judge is not None and _plain_rerun(spec):
        inputs = outputs_inputs(store, judge, model, dataset, facts, sizes, samples)
        summary = recorded_summary(store, judge_name, inputs)
        if summary is not None:
            return _as_recorded(result, len(samples), judge_name, summary)
    # the per-sample outputs, written while the stages go (evalkit/streamed.py); whatever ends the job, a file it
    # did not put in place is removed (a no-op once they are in place)
    streamed = None if judge is None else StreamedOutputs(store, judge, judge_name, samples, errors, worst_of(judge))
    try:
        if spec.concurrency:
            _set_concurrency(spec.concurrency, model, judge)
        verdicts: dict[str, Verdict] | None = None
        tally: TokenTally | None = None
        if judge is not None and _pipelined(spec, judge):
            both = await infer_and_judge(
                model,
                judge,
                samples,
                store,
                pv,
                force=spec.force_reinfer,
                concurrency=spec.concurrency or None,
                progress=spec.progress,
                judged=streamed,
            )
            preds, result.infer, verdicts, result.judge = both.preds, both.infer, both.verdicts, both.judge
            tally = both.tokens  # the predictions are held without their usage: their tokens were summed
        elif spec.mode in ("all", "infer") and not spec.reeval:
            preds, result.infer = await infer_stage(cfg, spec, model, samples, store, pv)
        else:
            tally = TokenTally()
            preds, result.infer = stored_predictions(model, samples, store, pv, tally)
        if leaves_judging_to_rank0(result.infer):  # a torchrun rank other than 0: its shard is stored
            return result
        hold_records()  # the predictions (and verdicts) the stage made or loaded
        result.tokens = tally.totals(model.price) if tally is not None else token_totals(preds.values(), model.price)
        result.n_samples = len(samples) + len(errors)
        result.n_failed = len(errors) + sum(1 for s in samples if s.id not in preds or not preds[s.id].ok)
        if judge is None:
            return result
        if verdicts is None:
            verdicts, result.judge = await evaluate(
                judge,
                samples,
                preds,
                store,
                reeval=spec.reeval,
                concurrency=spec.concurrency or None,
                progress=spec.progress,
                judged=streamed,
            )
        result.judge_name = judge_name
        hold_records()  # the verdicts
        inputs = outputs_inputs(store, judge, model, dataset, facts, sizes, samples)
        written = await _write_judged(spec, judge, samples, errors, preds, verdicts, facts, result, inputs, streamed)
        judge_entry = {
            "describe": judge.describe(),
            "identity": judge.identity(),
            "prompt_hashes": judge.prompt_hashes(),
            "metrics": {m: {**vars(judge.metric_spec(m)), "primary": m == judge.primary_metric} for m in judge.metrics},
            "uncertainty": UNCERTAINTY,
            "stats": {
                "infer": vars(result.infer),
                "judge": vars(result.judge),
                "mode": spec.mode,
                "reeval": spec.reeval,
            },
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_s": round(time.time() - started, 3),
        }
        counts: dict[str, Any] = {
            "samples": len(samples),
            "bad_records": len(errors),
            "partial": facts.partial,
            "empty_files": list(facts.empty_files),
            "unread_media": result.unread_media,
            "unread_media_policy": model.unread_media_policy,
            "tokens": result.tokens,
            "endpoints": endpoint_snapshot(),  # per endpoint: the concurrency its limiter settled on, 429s seen
        }
        write_manifest(store, cfg, model, dataset, counts, {judge_name: judge_entry})
        result.mean_latency_s = _mean_latency(preds)
        files = [*written, store.report_path, store.failures_path, store.reliability_path, store.manifest_path]
        inputs = outputs_inputs(store, judge, model, dataset, facts, sizes, samples)
        record_outputs(store, judge_name, inputs, files, _recorded_result(result))
        return result
    finally:
        if streamed is not None:
            streamed.stop("the job ended")


def _plain_rerun(spec: JobSpec) -> bool:
    """A run that would compute nothing when nothing changed: infer and judge in one process, nothing forced."""
    one_process = spec.launcher == "local" and not under_torchrun()
    return spec.mode == "all" and not spec.reeval and not spec.force_reinfer and one_process


def _recorded_result(result: JobResult) -> dict[str, Any]:
    """What a rerun that finds nothing changed reports (:func:`evalkit.freshness.recorded_summary`)."""
    return {
        "complete": result.n_failed == result.bad_records,  # every readable sample answered and judged
        "rows": result.rows,
        "tokens": result.tokens,
        "mean_latency_s": result.mean_latency_s,
        "n_samples": result.n_samples,
        "n_failed": result.n_failed,
    }


def _as_recorded(result: JobResult, n: int, judge_name: str, summary: dict[str, Any]) -> JobResult:
    """The result of a plain rerun when nothing changed since the last run: every sample's prediction and verdict
    reused, reports and outputs as that run wrote them (nothing is read from the store or written)."""
    log.info("nothing changed since the last run (data, options, store, outputs): its results stand as written")
    result.infer, result.judge = StageStats(total=n, reused=n), StageStats(total=n, reused=n)
    result.judge_name = judge_name
    result.rows = [dict(r) for r in summary["rows"]]
    result.tokens = dict(summary["tokens"])
    result.mean_latency_s = summary["mean_latency_s"]
    result.n_samples, result.n_failed = int(summary["n_samples"]), int(summary["n_failed"])
    return result


def _set_concurrency(n: int, model: Model, judge: Judge | None) -> None:
    """``--concurrency N``: the requests each of the run's models keeps in flight (its pool, connections and
    adaptive ceiling), the subject model's and the judge's alike. Not part of any key: answers stay reusable."""
    for m in [model, *(judge.held_models() if judge is not None else [])]:
        m.concurrency = n
    if judge is not None:
        judge.concurrency = n


def _pipelined(spec: JobSpec, judge: Judge) -> bool:
    """Judge each prediction as it is stored: a plain one-process infer + judge run with a judge that allows it.

    Ray and torchrun runs judge once every shard is in (on the driver / rank 0).
    """
    one_process = spec.launcher == "local" and not under_torchrun()
    return spec.mode == "all" and not spec.reeval and one_process and pipelines(judge)


def _load(dataset: Dataset, limit: int) -> tuple[list[Sample], list[RecordError], RunFacts]:
    """The samples and bad records of a job (the first ``limit`` of them), and the facts its rows state."""
    loaded = dataset.load()
    samples = loaded.samples[:limit] if limit else loaded.samples
    errors = loaded.errors[: max(0, limit - len(samples))] if limit else loaded.errors
    total = len(loaded.samples) + len(loaded.errors)
    cut = bool(limit) and limit < total
    partial = f"--limit {limit}: first {len(samples) + len(errors)} of {total} samples" if cut else ""
    return samples, errors, RunFacts(partial=partial, empty_files=tuple(loaded.empty_files))


async def _write_judged(
    spec: JobSpec,
    judge: Judge,
    samples: list[Sample],
    errors: list[RecordError],
    preds: dict[str, Prediction],
    verdicts: dict[str, Verdict],
    facts: RunFacts,
    result: JobResult,
    inputs: str = "",
    streamed: StreamedOutputs | None = None,
) -> list[Path]:
    """Outcomes -> report.csv, failures.csv, samples.<judge>.jsonl, reliability.csv, the exports; rows on result.

    ``inputs``: the hash of what samples.<judge>.jsonl and the exports depend on (:mod:`evalkit.freshness`): a run
    that computed nothing new leaves them as they are when they were written from the same inputs.

    ``streamed``: the outcomes and per-sample outputs made while the run went (:mod:`evalkit.streamed`); when it
    is complete its files are put in place, else they are made here.

    Returns the per-sample outputs and the judge's own files (for :func:`evalkit.freshness.record_outputs`).

    Each file is written (and fsync'd) on a worker thread while the next one is built; all are written when this
    returns. The cyclic collector is paused while the per-sample rows are built (they are acyclic; its full passes
    over every object of a large run cost more than building them).
    """
    from evalkit.judges.reliability import RELIABILITY_FIELDS, run_reliability  # numpy: after the requests

    store, name = result.store, result.judge_name
    writes: list[asyncio.Future[Any]] = []

    def write(path: Path, text: str) -> None:
        writes.append(asyncio.ensure_future(asyncio.to_thread(write_atomic, path, text)))

    live = streamed is not None and streamed.complete
    fresh = not live and not result.infer.ran and not result.judge.ran and outputs_current(store, name, inputs)
    outputs: list[asyncio.Future[Any]] = []  # samples.<judge>.jsonl, then the exports

    def write_output(fn: Callable[..., Any], *args: Any) -> None:
        outputs.append(asyncio.ensure_future(asyncio.to_thread(_paused, fn, *args)))
        writes.append(outputs[-1])

    try:
        with collector_paused():
            if streamed is not None and live:
                items, clusters = streamed.items, streamed.clusters
                write_output(streamed.close)
            else:
                if streamed is not None:
                    streamed.stop(streamed.stopped or "not every sample was handed over")
                items = outcomes(samples, errors, preds, verdicts, worst_of(judge))
                clusters = sample_clusters(samples)
            result.n_samples, result.n_failed = len(items), sum(1 for o in items if o.stage)
            result.rows = report_rows(
                spec.dataset, name, judge.metrics, items, scoring=judge, clusters=clusters, facts=facts
            )
            if not fresh and not live:  # outcomes() lists the bad records first, then the samples in order
                extras = chain(repeat(("", "", ""), len(errors)), (sample_extras(s, preds.get(s.id)) for s in samples))
                write_output(
                    write_lines, store.samples_path(name), sample_lines(items, judge, judge.metrics, clusters, extras)
                )
        if result.judge.ran or not _has_judge_rows(store.reliability_path, name):  # else the stored rows stand
            rel = await run_reliability(
                judge, name, samples, preds, verdicts, spec.reliability_samples, spec.reliability_repeats, _announce
            )
            write(store.reliability_path, csv_text(merge_rows(store.reliability_path, rel, name), RELIABILITY_FIELDS))
        write(store.report_path, csv_text(merge_rows(store.report_path, result.rows, name), REPORT_FIELDS))
        failures = merge_rows(store.failures_path, failure_rows(items, name), name)
        write(store.failures_path, csv_text(failures, FAILURE_FIELDS))
        if not fresh and not live:
            write_output(store.write_exports, name, scored_export(samples, verdicts, preds, store.dir))
        own = judge.write_outputs(store.dir, spec.dataset, samples, preds, verdicts, errors)
    finally:
        done = await asyncio.gather(*writes, return_exceptions=True)  # never leave a write behind, even on error
    for outcome in done:
        if isinstance(outcome, BaseException):
            raise outcome
    if fresh:  # the per-sample outputs stand: the ones recorded
        return [*stamped_outputs(store, name), *own.values()]
    if live:  # samples.<judge>.jsonl and the exports, put in place
        return [*outputs[0].result(), *own.values()]
    return [store.samples_path(name), *outputs[1].result(), *own.values()]


def _paused(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with the cyclic collector paused (what it builds is acyclic and short-lived)."""
    with collector_paused():
        return fn(*args)


def write_manifest(
    store: RunStore,
    cfg: Config,
    model: Model,
    dataset: Dataset,
    counts: dict[str, Any],
    judge_entries: dict[str, Any],
) -> None:
    """Write manifest.json; entries of judges run before on the same predictions are kept."""
    judges: dict[str, Any] = {}
    if store.manifest_path.exists():
        judges = json.loads(store.manifest_path.read_text(encoding="utf-8")).get("judges", {})
    judges.update(judge_entries)
    manifest = {
        "model": {"name": model.name, "identity": model.identity()},
        "dataset": {
            "name": dataset.name,
            "class": type(dataset).__name__,
            "prompt_version": dataset.prompt_version,
            # the prompt the dataset adds (the interleaved cite-tags instruction), as it was sent
            "options": asdict(dataset.options)
            if is_dataclass(dataset.options) and not isinstance(dataset.options, type)
            else {},
        }
        | counts,
        "judges": judges,
        "config": cfg.public(),
        "packages": _versions(),
        "git_sha": _git_sha(),
    }
    write_atomic(store.manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")


def worst_of(judge: Judge) -> Any:
    """For ``outcomes``: the worst scores (and corpus details) a sample the model failed on counts with."""
    worst = {m: s.worst for m in judge.metrics if (s := judge.metric_spec(m)).worst is not None}

    def of(sample: Sample) -> tuple[dict[str, float], dict[str, Any] | None]:
        details = judge.worst_details(sample)
        if details is None:  # corpus metrics cannot count this sample: strict only where the mean suffices
            return {m: v for m, v in worst.items() if judge.metric_spec(m).kind == "mean"}, None
        return dict(worst), details

    return of


def _announce(line: str) -> None:
    """A line the user must see before work that costs calls (stderr, beside the progress bars) and in run.log."""
    log.info(line)
    print(line, file=sys.stderr)


def _has_judge_rows(path: Path, judge: str) -> bool:
    return path.exists() and any(r.get("judge") == judge for r in merge_rows(path, [], ""))


def _mean_latency(preds: dict[str, Prediction]) -> float | None:
    lat = [p.latency_s for p in preds.values() if p.ok]
    return round(sum(lat) / len(lat), 4) if lat else None


SUMMARY_HEAD = (
    f"{'model':<22} {'dataset':<16} {'metric':<22} {'value':>10} {'95% CI':<19} {'n':>6} {'n_failed':>8}  judge; flags"
)


def summary_lines(model: str, result: JobResult) -> list[str]:
    """The overall rows of a job as printable table lines (under :data:`SUMMARY_HEAD`)."""
    out = []
    for r in result.rows:
        if r["subset"] == "all":
            ci = f"[{r['ci_low']}, {r['ci_high']}]" if r.get("ci_low") else "-"
            flags = f"; {r['flags']}" if r.get("flags") else ""
            out.append(
                f"{model:<22} {r['dataset']:<16} {r['metric']:<22} {r['value'] or '-':>10} {ci:<19} "
                f"{r['n']:>6} {r['n_failed']:>8}  {r['judge']}{flags}"
            )
    return out
