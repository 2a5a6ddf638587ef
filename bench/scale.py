"""How evalkit grows with the number of samples: the growth table of issue 15.

What it measures, each in a fresh child process (so that its peak RSS, ``ru_maxrss``, is its own):

- **load**: ``InterleavedDataset.load()`` of one pretty-printed records file of ``N`` text+code records.
- **text run**: ``python run.py`` (``qa`` dataset of ``N`` one-line records, the devserver's ``echo`` model at
  ``--latency`` s, concurrency ``--concurrency``, ``exact-match`` judge) in five steps on one work dir: the first
  run, a plain rerun (nothing changed: it reads no store and writes nothing, see evalkit/freshness.py), a rerun
  after one record was appended to the data file (it reads the whole store, asks for that one sample and writes
  every output again: the head and tail of a rerun that has something to do), a ``--reeval``, and a plain rerun
  after it. For each: wall time, peak RSS, and the head
  (process start to the first model request being possible: config, dataset, store load) and tail (the last
  answer to the exit: judging, outcomes, reports, exports) per sample. Head and tail are read by wrapping
  ``evalkit.runner._produce``, ``evaluate`` and ``infer_and_judge`` in the child; on a rerun that reads the store
  but asks nothing the head ends where ``evaluate`` starts or ``infer_and_judge`` returns (the store loaded,
  everything reused); a rerun with nothing changed calls none of them: its head is its whole wall, tail 0. Also
  the store's size after each step.

Run: ``python bench/scale.py [--sizes 1000,10000,100000] [--load-sizes 1000,10000,100000] [--concurrency 256]
[--steps first,rerun]`` (a later step needs the earlier ones: ``rerun`` alone is a first run).
Exits non-zero only on a crash. Figures and the machine load go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import REPO, devserver, print_table

STEPS = ("first", "rerun", "one new sample", "reeval", "rerun after reeval")


@dataclass(frozen=True)
class Step:
    """One child run's figures.

    Attributes:
        wall_s: wall time of the child, interpreter start excluded.
        rss_mb: its peak resident set size in MB.
        head_s: start to the first request (or, without requests, to the start of judging).
        tail_s: the last answer (or the end of judging's start) to the end.
        store_mb: bytes of the run folder's JSONL files after the step, in MB.
    """

    wall_s: float
    rss_mb: float
    head_s: float
    tail_s: float
    store_mb: float


def peak_rss_mb() -> float:
    """This process's peak RSS in MB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def interleaved_record(i: int) -> dict[str, Any]:
    """A valid text+code interleaved record (no media files), as tests/support.py writes them."""
    return {
        "domain": "natural_science",
        "subdomain": "programming",
        "id": str(i),
        "difficulty": "easy" if i % 2 else "hard",
        "input": {"modal": {"code1": f"```python\nprint({i})\n```"}, "content": f"Explain <code1> number {i}."},
        "output": {"modal": {"code2": f"```python\nprint({i} + 1)\n```"}, "content": f"It prints {i}; see <code2>."},
    }


def child_load(n: int, folder: Path) -> dict[str, Any]:
    """Write ``n`` pretty-printed records to one file and time loading it."""
    from evalkit.datasets.interleaved import InterleavedDataset, InterleavedOptions

    path = folder / "big.jsonl"
    with path.open("w", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(interleaved_record(i), indent=4) for i in range(n)))
    base = peak_rss_mb()
    ds = InterleavedDataset("big", InterleavedOptions(files=("big.jsonl",)), root=folder)
    t0 = time.perf_counter()
    loaded = ds.load()
    wall = time.perf_counter() - t0
    if len(loaded.samples) != n or loaded.errors:
        raise RuntimeError(f"loaded {len(loaded.samples)} of {n}, {len(loaded.errors)} errors")
    return {"wall_s": wall, "rss_mb": peak_rss_mb(), "base_mb": base}


def child_run(argv: list[str]) -> dict[str, Any]:
    """Run ``run.py`` in this process, marking when inference/judging start and end."""
    from unittest import mock

    from evalkit import runner
    from evalkit.cli import main

    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    real_produce, real_evaluate, real_both = runner._produce, runner.evaluate, runner.infer_and_judge

    async def produce(*args: Any, **kwargs: Any) -> None:
        marks.setdefault("first_request", time.perf_counter())
        await real_produce(*args, **kwargs)
        marks["last_answer"] = time.perf_counter()

    async def evaluate(*args: Any, **kwargs: Any) -> Any:
        marks.setdefault("judging", time.perf_counter())
        return await real_evaluate(*args, **kwargs)

    async def infer_and_judge(*args: Any, **kwargs: Any) -> Any:
        out = await real_both(*args, **kwargs)
        marks.setdefault("judged", time.perf_counter())  # a rerun with nothing to ask: the store loaded, all reused
        return out

    patches = [
        mock.patch.object(runner, "_produce", produce),
        mock.patch("evalkit.job.evaluate", evaluate),
        mock.patch("evalkit.job.infer_and_judge", infer_and_judge),
    ]
    with patches[0], patches[1], patches[2]:
        code = main(argv)
    end = time.perf_counter()
    if code != 0:
        raise RuntimeError(f"run.py {' '.join(argv)} exited {code}")
    head_end = marks.get("first_request", marks.get("judging", marks.get("judged", end)))
    tail_start = marks.get("last_answer", head_end)
    return {"wall_s": end - t0, "rss_mb": peak_rss_mb(), "head_s": head_end - t0, "tail_s": end - tail_start}


def spawn(args: list[str], cwd: Path) -> dict[str, Any]:
    """Run this script as a child with ``args`` and return the JSON it prints last."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def store_mb(run_dir: Path) -> float:
    return sum(p.stat().st_size for p in run_dir.glob("*.jsonl")) / 1e6


def write_text_run(folder: Path, n: int, base_url: str, concurrency: int) -> Path:
    """A ``qa`` dataset of ``n`` one-line records and a config over the devserver's echo model."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    with (data / "qa.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "question": f"What is {i} plus zero?", "answer": str(i)}) + "\n")
    cfg = folder / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: data
work_dir: results
defaults: {{model: echo, dataset: qa}}
datasets:
  qa: {{class: qa, files: ["qa.jsonl"], judge: exact-match}}
models:
  echo: {{backend: openai, base_url: "{base_url}", model: echo, concurrency: {concurrency}, max_retries: 2}}
""",
        encoding="utf-8",
    )
    return cfg


def text_run(n: int, latency: float, concurrency: int, steps: tuple[str, ...] = STEPS) -> dict[str, Step]:
    """The steps (all four by default) of a text run of ``n`` samples, each in a fresh child."""
    out: dict[str, Step] = {}
    with devserver(latency_s=latency) as server, tempfile.TemporaryDirectory(prefix="evalkit-scale-") as tmp:
        folder = Path(tmp)
        cfg = write_text_run(folder, n, server.base_url, concurrency)
        run_dir = folder / "results" / "echo" / "qa"
        for step in steps:
            if step == "one new sample":
                with (folder / "data" / "qa.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"id": f"q{n}", "question": f"What is {n} plus zero?", "answer": str(n)}) + "\n")
            argv = ["--config", str(cfg), "--no-progress", *(["--reeval"] if step == "reeval" else [])]
            fig = spawn(["--child", "run", "--", *argv], folder)
            out[step] = Step(fig["wall_s"], fig["rss_mb"], fig["head_s"], fig["tail_s"], store_mb(run_dir))
            print(f"  n={n} {step}: {out[step]}", file=sys.stderr, flush=True)
    return out


def load_rows(sizes: list[int]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="evalkit-scale-") as tmp:
            fig = spawn(["--child", "load", "--n", str(n), "--dir", tmp], Path(tmp))
        rows.append((f"load {n} records s", f"{fig['wall_s']:.2f}"))
        rows.append((f"load {n} records peak RSS MB", f"{fig['rss_mb']:.0f}"))
        print(f"  load n={n}: {fig}", file=sys.stderr, flush=True)
    return rows


def run_rows(n: int, steps: dict[str, Step]) -> list[tuple[str, ...]]:
    return [
        (
            str(n),
            step,
            f"{f.wall_s:.2f}",
            f"{f.rss_mb:.0f}",
            f"{f.head_s / n * 1e6:.1f}",
            f"{f.tail_s / n * 1e6:.1f}",
            f"{f.store_mb:.1f}",
        )
        for step, f in steps.items()
    ]


def print_grid(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print rows under a header, right-aligned columns."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def parse_sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,100000", help="text-run sizes, comma-separated ('' = none)")
    p.add_argument("--load-sizes", default="1000,10000,100000", help="interleaved load sizes ('' = none)")
    p.add_argument("--concurrency", type=int, default=256, help="requests in flight")
    p.add_argument("--latency", type=float, default=0.0, help="devserver seconds before each reply")
    p.add_argument("--steps", default=",".join(STEPS), help=f"text-run steps, in order (default: {','.join(STEPS)})")
    p.add_argument("--child", choices=("load", "run"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "load":
        print(json.dumps(child_load(args.n, args.dir)))
        return
    if args.child == "run":
        print(json.dumps(child_run(args.rest)))
        return
    print(f"load average: {os.getloadavg()[0]:.2f} (2-core machine); python {sys.version.split()[0]}; repo {REPO}")
    rows = load_rows(parse_sizes(args.load_sizes))
    if rows:
        print_table("interleaved load (one file)", rows)
    steps = tuple(x.strip() for x in args.steps.split(",") if x.strip())
    if unknown := [x for x in steps if x not in STEPS]:
        p.error(f"unknown steps {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    sizes = parse_sizes(args.sizes)
    grid = [row for n in sizes for row in run_rows(n, text_run(n, args.latency, args.concurrency, steps))]
    if grid:
        header = ("n", "step", "wall s", "peak RSS MB", "head us/sample", "tail us/sample", "store MB")
        print_grid(f"text run, echo model at {args.latency:g} s, concurrency {args.concurrency}", header, grid)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
