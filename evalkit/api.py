"""Python API for notebooks and scripts: run one model x dataset job, get the report and the samples as DataFrames.

``evaluate(...)`` is synchronous and also works inside a running event loop (Jupyter): the job then runs on its
own loop in a worker thread. ``await aevaluate(...)`` runs it on the caller's loop. Both do what
``python run.py --model M --dataset D`` does (same config, same store, same resume), through
:func:`evalkit.job.run_job`, and print nothing but the progress bars they are asked for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.config import Config, load_config
from evalkit.errors import ConfigError
from evalkit.factory import import_plugins
from evalkit.job import JobResult, JobSpec, run_job
from evalkit.store import RunStore, read_jsonl

if TYPE_CHECKING:
    import pandas as pd

ConfigPaths = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        report: the job's ``report.csv`` rows (this judge's), numbers as numbers.
        samples: one row per sample: its outcome for the judge (``samples.<judge>.jsonl``: stage, reason,
            ``scores.<metric>``, ``meta.<key>`` ...) joined with its stored prediction (``prediction``,
            ``prediction_error``, ``latency_s``); predictions only for an infer-only job.
        run_dir: the run folder (``<work_dir>/<model>/<dataset>``) holding every file of the job.
        judge: the judge that produced the report; empty for an infer-only job.
        result: the job's counts (inferred, reused, failed, bad records).
    """

    report: pd.DataFrame
    samples: pd.DataFrame
    run_dir: Path
    judge: str
    result: JobResult


def evaluate(
    model: str,
    dataset: str,
    judge: str | None = None,
    config: ConfigPaths | None = None,
    work_dir: str | Path | None = None,
    limit: int = 0,
    *,
    mode: str = "all",
    reeval: bool = False,
    force_reinfer: bool = False,
    concurrency: int = 0,
    plugins: Sequence[str] = (),
    progress: bool = False,
) -> Evaluation:
    """Evaluate a model entry on a dataset entry and return the report and per-sample rows.

    Args:
        model: a model entry of the config (or a registered backend used by name).
        dataset: a dataset entry of the config (or a registered class used by name).
        judge: a judge entry; None: the dataset entry's ``judge``, else its class's default.
        config: a config file, or several layered in order (as repeated ``--config``); None: ``config.yaml`` in
            the current folder, else the one shipped beside the package.
        work_dir: results root; None: the config's ``work_dir``.
        limit: only the first N samples (0: all); the report marks the run as partial.
        mode: ``all`` (infer then judge), ``infer`` (predictions only) or ``eval`` (judge stored predictions).
        reeval: judge stored predictions again, ignoring stored verdicts.
        force_reinfer: predict again even where a stored prediction matches.
        concurrency: requests in flight (0: each model's and judge's own setting).
        plugins: modules or ``.py`` files to import first (their registrations count), as ``--plugin``.
        progress: show progress bars.

    Raises:
        EvalkitError: a configuration problem (unknown entry, missing data, a model that cannot read the media),
            in one line, before any model call where it can be known then.
    """
    kwargs: dict[str, Any] = dict(
        model=model,
        dataset=dataset,
        judge=judge,
        config=config,
        work_dir=work_dir,
        limit=limit,
        mode=mode,
        reeval=reeval,
        force_reinfer=force_reinfer,
        concurrency=concurrency,
        plugins=plugins,
        progress=progress,
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(aevaluate(**kwargs))
    # a loop is running (Jupyter, an async app): asyncio.run() is refused here, so run on a loop of our own
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalkit") as pool:
        return pool.submit(lambda: asyncio.run(aevaluate(**kwargs))).result()


async def aevaluate(
    model: str,
    dataset: str,
    judge: str | None = None,
    config: ConfigPaths | None = None,
    work_dir: str | Path | None = None,
    limit: int = 0,
    *,
    mode: str = "all",
    reeval: bool = False,
    force_reinfer: bool = False,
    concurrency: int = 0,
    plugins: Sequence[str] = (),
    progress: bool = False,
) -> Evaluation:
    """:func:`evaluate` on the caller's event loop (``await evalkit.aevaluate(...)``); same arguments."""
    if mode not in ("all", "infer", "eval"):
        raise ConfigError(f"mode must be 'all', 'infer' or 'eval', not {mode!r}")
    cfg = _config(config)
    import_plugins(cfg.plugins, cfg.path.parent)
    import_plugins(list(plugins), Path.cwd())
    spec = JobSpec(
        model=model,
        dataset=dataset,
        judge=judge or "",
        mode=mode,
        reeval=reeval,
        force_reinfer=force_reinfer,
        limit=limit,
        concurrency=concurrency,
        progress=progress,
    )
    result = await run_job(cfg, spec, Path(work_dir) if work_dir is not None else cfg.work_dir)
    return Evaluation(
        report=_frame(result.rows),
        samples=sample_frame(result.store, result.judge_name),
        run_dir=result.store.dir,
        judge=result.judge_name,
        result=result,
    )


def _config(config: ConfigPaths | None) -> Config:
    """The config to use; secrets from ./.env (or a parent) as the command line loads them, never echoed."""
    from dotenv import find_dotenv, load_dotenv

    load_dotenv(find_dotenv(usecwd=True), override=False)
    if config is not None:
        return load_config(config)
    local, shipped = Path("config.yaml"), Path(__file__).resolve().parents[1] / "config.yaml"
    if local.is_file() or not shipped.is_file():
        return load_config(local)
    return load_config(shipped)


def _frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Rows of strings (report.csv's) as a DataFrame whose all-numeric columns are numbers (blank: NaN)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    for col in frame.columns:
        text = frame[col].astype(str)
        numbers = pd.to_numeric(frame[col], errors="coerce")
        if len(frame) and numbers.notna().sum() == (text.str.strip() != "").sum():
            frame[col] = numbers
    return frame


def sample_frame(store: RunStore, judge: str) -> pd.DataFrame:
    """Per-sample rows of a run folder: the judge's sample outcomes joined with the stored predictions.

    Args:
        store: the run folder.
        judge: the judge whose ``samples.<judge>.jsonl`` to read; empty: predictions only.
    """
    import pandas as pd

    stored = [p.to_json() for p in store.load_predictions(prompts=False).values()]  # part files of shards too
    by_key, newest = _latest(stored, "key"), _latest(stored, "sample_id")
    outcomes = list(read_jsonl(store.samples_path(judge))) if judge else []
    if not outcomes:  # infer-only, or no per-sample file: the stored predictions, newest per sample
        outcomes = [{"sample_id": sid} for sid in newest]
    rows = []
    for rec in outcomes:
        pred = by_key.get(str(rec.get("pred_key"))) or newest.get(str(rec["sample_id"])) or {}
        extra = {
            k: pred.get(f)
            for k, f in (("prediction", "text"), ("prediction_error", "error"), ("latency_s", "latency_s"))
        }
        rows.append({**rec, **extra})
    return pd.json_normalize(rows, sep=".") if rows else pd.DataFrame(columns=["sample_id"])


def _latest(records: Any, key: str) -> dict[str, dict[str, Any]]:
    """key value -> the last record written for it (a rerun appends; the newest line is the current one)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        out[str(rec[key])] = rec
    return out
