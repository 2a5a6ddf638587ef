"""Command line: ``python run.py [run|leaderboard|serve|prepare] ...``; ``--help`` documents every flag."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.config import Config, load_config
from evalkit.datasets import DATASETS
from evalkit.errors import ConfigError, EvalkitError
from evalkit.factory import import_plugins
from evalkit.job import SUMMARY_HEAD, JobResult, JobSpec, run_job, summary_lines
from evalkit.judges import JUDGES
from evalkit.models import MODELS
from evalkit.store import RunStore, compact_run

log = logging.getLogger(__name__)
#: environment variables whose values never reach run.log (besides every model entry's ``api_key_env``)
SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)

EPILOG = """examples:
  bash run_eval.sh                                   # embedded CPU default model, sample data, CPU proxy judge
  python run.py --model Qwen2.5-Omni-3B --dataset interleaved --judge coherence
  python run.py --model replay --dataset interleaved  # judge the records' own outputs
  python run.py --model smollm2-cpu --skip-eval       # inference only
  python run.py --model smollm2-cpu --mode eval       # judge stored predictions only
  python run.py --model smollm2-cpu --reeval --judge coherence   # re-judge, never re-infer
  python run.py leaderboard                           # regenerate LEADERBOARD.md from eval_results/
  python run.py compare --dataset interleaved --model replay smollm2-cpu   # paired test, CI, MDE
  python run.py diff eval_results/A/interleaved old/A/interleaved          # what changed, which samples flipped
  python run.py --list models
  python run.py serve --model Qwen2.5-Omni-3B --dry-run   # print the vllm serve command; without --dry-run, run it
  python run.py prepare --dataset MMBench_DEV_EN      # download + verify + convert full data (never during a run)
"""


def _count(text: str) -> int:
    """An argparse type: an integer >= 0 (0 means: no limit, or the entry's own setting)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _fraction(text: str) -> float:
    """An argparse type: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run.py",
        description="evalkit: evaluate multimodal models on interleaved and media benchmarks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=("run", "leaderboard", "serve", "prepare", "compare", "diff", "report", "compact", "preflight"),
        help="run: evaluate (default); leaderboard: regenerate LEADERBOARD.md, leaderboard.csv and plots from the "
        "work dir; compare: paired significance of --model A B ... on --dataset D ... from stored results; "
        "diff RUN_DIR_A RUN_DIR_B: what changed between two runs (config, prompts, versions) and which samples "
        "flipped; "
        "serve: start the vLLM server of --model and wait in the foreground until Ctrl-C; "
        "prepare: download, verify and convert the full data of --dataset under dataset_root; "
        "report RUN_DIR --html: write the run's report.html (every sample, its media, the judge's view); "
        "compact RUN_DIR: drop store lines superseded by a later one for the same sample and key (crash-safe); "
        "preflight: check --model on --dataset before a long run (every record and media file, one real request "
        "to the model, each captioner and the judge, an estimate); exit 1 when not ready",
    )
    p.add_argument("--model", nargs="+", metavar="M", help="model entries of config.yaml (default: defaults.model)")
    p.add_argument(
        "--dataset",
        "--data",
        nargs="+",
        metavar="D",
        dest="dataset",
        help="dataset entries of config.yaml, or 'all' (default: defaults.dataset)",
    )
    p.add_argument(
        "--judge", metavar="J", help="judge entry (default: the dataset entry's judge, else its class default)"
    )
    p.add_argument(
        "--mode",
        choices=("all", "infer", "eval"),
        default="all",
        help="all: infer then judge (default); infer: predictions only; eval: judge stored predictions",
    )
    p.add_argument("--skip-eval", action="store_true", help="same as --mode infer")
    p.add_argument(
        "--reeval",
        action="store_true",
        help="judge stored predictions again, ignoring stored verdicts; never re-infers",
    )
    p.add_argument("--force-reinfer", action="store_true", help="predict again even where a stored prediction matches")
    p.add_argument("--work-dir", type=Path, help="results root (default: work_dir of config.yaml, eval_results)")
    p.add_argument(
        "--config",
        type=Path,
        action="append",
        metavar="FILE",
        help="config file (default: config.yaml); repeat to layer files, a later one winning entry by entry "
        "(a file can also name its base with extends:)",
    )
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MOD",
        help="import a module or .py file that registers models/datasets/judges (repeatable)",
    )
    p.add_argument(
        "--limit", type=_count, default=0, metavar="N", help="only the first N samples of each dataset (0: all)"
    )
    p.add_argument(
        "--concurrency",
        type=_count,
        default=0,
        metavar="N",
        help="requests in flight (default: each model's and judge's own setting)",
    )
    p.add_argument(
        "--save-attn",
        type=_count,
        default=0,
        metavar="N",
        help="HF backends: store per-layer attention (npy + PNG heat map), tokens and meta of the first N samples "
        "under <run dir>/attn/ (an error for other backends)",
    )
    p.add_argument(
        "--save-attn-layers", type=int, nargs="+", metavar="K", help="layers for --save-attn (default: 0 -1)"
    )
    p.add_argument(
        "--list",
        choices=("models", "datasets", "judges"),
        help="list the config entries and registered classes (judges: with their metrics) and exit",
    )
    p.add_argument(
        "--output", type=Path, default=Path("LEADERBOARD.md"), help="leaderboard file (default: LEADERBOARD.md)"
    )
    p.add_argument(
        "--max-failed",
        type=_fraction,
        metavar="FRACTION",
        help="exit with status 1 when more than this fraction of a job's samples failed (default: off)",
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="report: write report.html in each RUN_DIR; run: write it at the end of each job; leaderboard: "
        "write leaderboard.html beside the leaderboard file",
    )
    p.add_argument(
        "--embed-media",
        action="store_true",
        help="with --html: embed media files up to 2 MiB as data: URLs (the page travels alone)",
    )
    p.add_argument(
        "--no-reliability",
        action="store_true",
        help="no repeated judgments for reliability.csv (no extra judge calls); parse-failure rates and agreement "
        "with the records' reference scores are still written",
    )
    p.add_argument(
        "--reliability-samples",
        type=_count,
        default=20,
        metavar="N",
        help="samples an LLM judge judges again for reliability.csv (default: 20)",
    )
    p.add_argument(
        "--reliability-repeats",
        type=_count,
        default=3,
        metavar="K",
        help="judgments per such sample, the stored one included (default: 3, i.e. (K-1) x N extra calls)",
    )
    p.add_argument(
        "--launcher",
        choices=("local", "ray"),
        default="local",
        help="where inference runs: local (this process, or each rank under torchrun) or ray (one actor per GPU "
        "or per --workers, samples of a dead actor rescheduled); default: local",
    )
    p.add_argument("--ray-address", metavar="ADDR", default="", help="Ray cluster to join (default: start a local one)")
    p.add_argument(
        "--workers",
        type=_count,
        default=0,
        metavar="N",
        help="Ray actors (default 0: one per GPU of the cluster, on a CPU-only cluster one per core, at most 4)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    _add_serve_flags(p)
    c = p.add_argument_group("compare / diff", "flags of `run.py compare` and `run.py diff`")
    c.add_argument(
        "run_dirs",
        nargs="*",
        type=Path,
        metavar="RUN_DIR",
        help="diff: the two run folders; report, compact: run folders",
    )
    c.add_argument("--metric", metavar="M", help="metric to compare (default: the judge's primary metric)")
    c.add_argument("--baseline", metavar="M", help="compare every --model against this one (default: every pair)")
    c.add_argument("--json", action="store_true", help="compare: print JSON for machines")
    g = p.add_argument_group("prepare", "flags of `run.py prepare` (other commands reject them)")
    g.add_argument("--force", action="store_true", help="download and convert again even if the files exist")
    return p


def _add_serve_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("serve", "flags of `run.py serve` (other commands ignore them)")
    g.add_argument("--dry-run", action="store_true", help="print the vllm serve command line and exit")
    g.add_argument("--port", type=int, metavar="N", help="listen port (default: the port of the entry's base_url)")
    g.add_argument(
        "--startup-timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="seconds to wait for the server to answer (default: 1800; weights may be downloading)",
    )
    g.add_argument("--ready-file", type=Path, metavar="PATH", help="write the base URL here once the server answers")
    g.add_argument(
        "--data-parallel-size",
        type=int,
        metavar="N",
        help="vLLM data parallelism: N engine copies behind the port, each over the entry's tensor_parallel_size "
        "GPUs (default: vLLM's, one)",
    )


def _list(cfg: Config, what: str) -> None:
    if what == "models":
        for name, e in sorted(cfg.models.items()):
            print(f"{name:<26} backend={e.cls:<18} from {e.source}")
        print(f"backends: {', '.join(MODELS.names())}")
    elif what == "datasets":
        for name, e in sorted(cfg.datasets.items()):
            print(f"{name:<26} class={e.cls:<20} from {e.source}")
        print(f"classes: {', '.join(DATASETS.names())}")
    else:
        for name, e in sorted(cfg.judges.items()):
            print(f"{name:<26} class={e.cls:<20} from {e.source}")
        print("judge classes (metrics: description):")
        for name in JUDGES.names():
            cls = JUDGES.get(name)
            doc = (inspect.getdoc(cls) or "").strip().split("\n", 1)[0]
            metrics = ", ".join(getattr(cls, "metrics", ())) or "metrics set by its options"
            print(f"  {name:<24} {metrics}: {doc}")


def _specs(args: argparse.Namespace, cfg: Config) -> list[JobSpec]:
    models = args.model or [cfg.defaults.get("model", "smollm2-cpu")]
    datasets = args.dataset or [cfg.defaults.get("dataset", "interleaved")]
    if datasets == ["all"]:
        datasets = sorted(cfg.datasets)
    mode = "infer" if args.skip_eval else args.mode
    return [
        JobSpec(
            model=m,
            dataset=d,
            judge=args.judge or "",
            mode=mode,
            reeval=args.reeval,
            force_reinfer=args.force_reinfer,
            model_overrides=_overrides(args),
            limit=args.limit,
            concurrency=args.concurrency,
            progress=not args.no_progress,
            reliability_samples=0 if args.no_reliability else args.reliability_samples,
            reliability_repeats=0 if args.no_reliability else args.reliability_repeats,
            launcher=args.launcher,
            ray_address=args.ray_address,
            workers=args.workers,
        )
        for m in models
        for d in datasets
    ]


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    if not args.save_attn:
        return {}
    return {"save_attn": {"first_n": args.save_attn, "layers": args.save_attn_layers or [0, -1]}}


def _print(results: list[tuple[str, JobResult]]) -> None:
    head = SUMMARY_HEAD
    if any(res.rows for _, res in results):  # infer-only runs have no scores: no empty table
        print("\n" + head + "\n" + "-" * len(head))
    else:
        print()
    for model, res in results:
        for line in summary_lines(model, res):
            print(line)
        st = res.infer
        print(
            f"{'':<22} infer: {st.ran} run ({st.failed} failed), {st.reused} reused; "
            f"judge: {res.judge.ran} run ({res.judge.failed} failed), {res.judge.reused} reused; "
            f"bad records: {res.bad_records}; failed samples: {res.n_failed} of {res.n_samples} -> {res.store.dir}"
        )
        if res.tokens:
            t = res.tokens
            cost = f", cost {t['cost']:.4f} {t['currency']}" if "cost" in t else ""
            print(
                f"{'':<22} tokens: {t['prompt_tokens']} prompt + {t['completion_tokens']} completion "
                f"(per sample {t['mean_prompt_tokens']} + {t['mean_completion_tokens']}){cost}"
            )


def _compact(run_dirs: list[Path]) -> int:
    """``run.py compact RUN_DIR ...``: one line per store file; 1 when a run was writing to one (left as is)."""
    if not run_dirs:
        raise ConfigError("compact needs run folders: python run.py compact RUN_DIR ...")
    status = 0
    for run_dir in run_dirs:
        done = compact_run(run_dir) if run_dir.is_dir() else []
        if not done:
            raise ConfigError(f"compact: {run_dir} holds no predictions.jsonl or verdicts.*.jsonl (not a run folder)")
        for c in done:
            if c.skipped:
                print(f"{c.path}: left as is: {c.skipped}", file=sys.stderr)
                status = 1
            else:
                print(f"{c.path}: kept {c.kept} lines, dropped {c.dropped}")
    return status


def _serve(args: argparse.Namespace, cfg: Config, work_dir: Path) -> int:
    from evalkit.serve import plan_serve, run_serve
    from evalkit.store import safe_name

    models = args.model or [cfg.defaults.get("model", "smollm2-cpu")]
    if len(models) != 1:
        raise ConfigError(f"serve starts one model, got {len(models)}: {' '.join(models)}")
    plan = plan_serve(cfg, models[0], args.port, args.data_parallel_size)
    if args.dry_run:
        print(plan.command_text())
        if plan.note:
            print(f"# note: {plan.note}")
        return 0
    log_path = work_dir / "logs" / f"serve-{safe_name(plan.name)}.log"
    return run_serve(plan, log_path=log_path, startup_timeout_s=args.startup_timeout, ready_file=args.ready_file)


def _writable_dir(path: Path, what: str, hint: str = "") -> Path:
    """``path`` created if needed and writable, or a ConfigError saying why not in one line."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be created: {exc.strerror or exc}{hint}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path} is not writable{hint}")
    return path


def _leaderboard_file(path: Path) -> Path:
    if path.is_dir():
        raise ConfigError(f"--output {path} is a directory; name a file, e.g. --output {path / 'LEADERBOARD.md'}")
    _writable_dir(path.parent, "the folder of --output")
    return path


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces the values of secrets (API keys, tokens) with ``***`` in the final text.

    Args:
        secrets: the values to hide (values shorter than 6 characters are left alone: too common to be secrets).
    """

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self.secrets = sorted({v for v in secrets if len(v) >= 6}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for value in self.secrets:
            text = text.replace(value, "***")
        return text


def secret_values(cfg: Config) -> list[str]:
    """Values of the environment variables that may hold secrets: every ``api_key_env`` and ``*KEY*``/``*TOKEN*``."""
    names = {str(e.options["api_key_env"]) for e in cfg.models.values() if e.options.get("api_key_env")}
    names |= {n for n in os.environ if SECRET_ENV.search(n)}
    return [os.environ[n] for n in sorted(names) if os.environ.get(n)]


@contextlib.contextmanager
def run_log(run_dir: Path, secrets: list[str]) -> Iterator[Path]:
    """Log INFO and above to ``<run_dir>/run.log`` (appended) while the block runs; the console is unchanged.

    The root logger is lowered to INFO for the block, and each handler already attached is raised to the root's
    previous level, so the console shows exactly what it showed before.
    """
    path = _writable_dir(run_dir, "run folder") / "run.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    root = logging.getLogger()
    old_root = root.level
    old_levels = [(h, h.level) for h in root.handlers]
    for h, level in old_levels:
        h.setLevel(max(level, old_root))
    root.setLevel(min(old_root, logging.INFO) if old_root else logging.INFO)
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_root)
        for h, level in old_levels:
            h.setLevel(level)


async def _job(cfg: Config, spec: JobSpec, work_dir: Path) -> JobResult:
    """One job with its run.log: what was asked, what it gave."""
    with run_log(RunStore(work_dir, spec.model, spec.dataset).dir, secret_values(cfg)):
        log.info(
            "job: model=%s dataset=%s judge=%s mode=%s reeval=%s limit=%s config=%s",
            spec.model,
            spec.dataset,
            spec.judge or "(dataset default)",
            spec.mode,
            spec.reeval,
            spec.limit or "all",
            cfg.path,
        )
        try:
            res = await run_job(cfg, spec, work_dir)
        except EvalkitError as exc:
            log.info("job stopped: %s", exc)
            raise
        st, jd = res.infer, res.judge
        log.info(
            "done: infer %d run (%d failed), %d reused; judge %s: %d run (%d failed), %d reused; bad records %d",
            st.ran,
            st.failed,
            st.reused,
            res.judge_name or "-",
            jd.ran,
            jd.failed,
            jd.reused,
            res.bad_records,
        )
        for line in summary_lines(spec.model, res):
            log.info("result: %s", " ".join(line.split()))
        return res


def main(argv: list[str] | None = None) -> int:
    """Entry point of run.py; returns the exit status.

    Called as the program (``argv`` None: run.py, the ``evalkit`` script), it freezes the cyclic collector's
    objects before returning: the interpreter's shutdown would otherwise run full collections over everything the
    run built and imported (0.1-0.2 s after the work is done), for memory that goes back with the process.
    Files are closed and logs flushed before that, as always; a caller passing ``argv`` (tests, scripts) is left
    as it was.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return _main(args)
    except BrokenPipeError:
        # the reader went away (`run.py --list models | head`): stop quietly, as `cat` would
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    finally:
        if argv is None:
            gc.freeze()


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "compact":
            return _compact(args.run_dirs)
        from dotenv import find_dotenv, load_dotenv

        load_dotenv(find_dotenv(usecwd=True), override=False)  # secrets from ./.env (or a parent); never echoed
        cfg = load_config(args.config or [Path("config.yaml")])
        import_plugins(cfg.plugins, cfg.path.parent)
        import_plugins(args.plugin, Path.cwd())
        work_dir = args.work_dir or cfg.work_dir
        if args.list:
            _list(cfg, args.list)
            sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
            return 0
        if args.command == "prepare":
            from evalkit.prepare.command import run_prepare

            return run_prepare(cfg, args.dataset or [cfg.defaults.get("dataset", "interleaved")], force=args.force)
        if args.force:
            raise ConfigError("--force is a flag of `run.py prepare`; to predict again use --force-reinfer")
        if args.command == "serve":
            return _serve(args, cfg, work_dir)
        if args.command in ("compare", "diff"):
            return _compare(args, work_dir)
        if args.command == "report":
            from evalkit.html.command import report_command

            return report_command(
                cfg, args.run_dirs, html=args.html, embed_media=args.embed_media, secrets=secret_values(cfg)
            )
        if args.command == "preflight":
            from evalkit.preflight_cmd import preflight_command

            return preflight_command(cfg, args, work_dir)
        if args.run_dirs:
            raise ConfigError(
                f"unexpected arguments {' '.join(map(str, args.run_dirs))}: only `run.py diff` and `run.py report` "
                "take folders"
            )
        if args.command == "leaderboard":
            from evalkit.leaderboard import write_leaderboard

            n = write_leaderboard(work_dir, _leaderboard_file(args.output), html=args.html)
            page = f" and {args.output.parent / 'leaderboard.html'}" if args.html else ""
            print(f"wrote {args.output}{page} from {n} report(s) under {work_dir}")
            return 0
        _writable_dir(work_dir, "work dir", " (set --work-dir, or work_dir in the config)")
        results = [(s.model, asyncio.run(_job(cfg, s, work_dir))) for s in _specs(args, cfg)]
        from evalkit.launch.torchrun import is_follower

        if is_follower():  # a torchrun rank other than 0 said what it stored: rank 0 prints and writes the rest
            return 0
        if args.html:
            from evalkit.html.command import write_report

            for _, res in results:
                print(f"wrote {write_report(cfg, res.store, embed_media=args.embed_media, secrets=secret_values(cfg))}")
    except EvalkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as exc:  # a file-system refusal we did not foresee: one line, the traceback only with -v
        log.debug("traceback", exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished samples are stored; rerun the same command to resume", file=sys.stderr)
        return 130
    _print(results)
    sys.stdout.flush()
    return _failed_status(results, args.max_failed)


def _failed_status(results: list[tuple[str, JobResult]], max_failed: float | None) -> int:
    """1 when a job failed on more than ``max_failed`` of its samples (said on stderr), else 0."""
    status = 0
    for model, res in results:
        if max_failed is not None and res.n_samples and res.n_failed / res.n_samples > max_failed:
            print(
                f"error: {model} on {res.store.dir.name}: {res.n_failed} of {res.n_samples} samples failed "
                f"({res.n_failed / res.n_samples:.1%} > --max-failed {max_failed:g}); see failures.csv",
                file=sys.stderr,
            )
            status = 1
    return status


def _compare(args: argparse.Namespace, work_dir: Path) -> int:
    if args.command == "diff":
        if len(args.run_dirs) != 2:
            raise ConfigError("diff needs two run folders: python run.py diff RUN_DIR_A RUN_DIR_B")
        from evalkit.rundiff import diff_runs
        from evalkit.rundiff import render_text as diff_text

        dir_a, dir_b = args.run_dirs
        print(diff_text(diff_runs(dir_a, dir_b, judge=args.judge, metric=args.metric)))
        return 0
    if args.run_dirs:
        raise ConfigError("compare reads --model and --dataset, not folders (diff takes folders)")
    if not args.dataset or not args.model:
        raise ConfigError("compare needs --dataset D [D ...] and --model A B [...] (or --baseline A --model B)")
    from evalkit.compare import compare_runs, render_json, render_text

    models = list(dict.fromkeys([*([args.baseline] if args.baseline else []), *args.model]))
    comps = compare_runs(work_dir, args.dataset, models, metric=args.metric, baseline=args.baseline, judge=args.judge)
    print(render_json(comps) if args.json else render_text(comps))
    return 0
