"""Pipelined vs staged infer + judge: wall time of one run that judges each answer as it is stored against
``--mode infer`` then ``--mode eval``.

Two devservers (``python -m evalkit.devserver --latency L``) on free loopback ports: the subject model (``echo``)
on one, the LLM judge (``judge-json``, coherence rubric) on the other, as with a judge on another endpoint. The
dataset is ``--n`` text+code interleaved records written to a temporary folder. Both ways run in fresh work
dirs with the same concurrency; ideal = the longer stage alone (``ceil(n / concurrency) x latency``), staged
ideal = the sum of both.

Run: ``python bench/pipelined.py [--n 400] [--latency 0.2] [--concurrency 16]``. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import tempfile
import time
from pathlib import Path

from _common import devserver, print_table

from evalkit.cli import main


def write_data(root: Path, n: int) -> None:
    recs = [
        {
            "domain": "natural_science",
            "subdomain": "programming",
            "id": str(i),
            "input": {"modal": {"code1": f"```python\nprint({i})\n```"}, "content": f"Explain <code1> number {i}."},
            "output": {"modal": {}, "content": f"It prints {i}."},
        }
        for i in range(n)
    ]
    (root / "data").mkdir(parents=True)
    (root / "data" / "code.jsonl").write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")


def write_config(root: Path, model_url: str, judge_url: str, concurrency: int) -> Path:
    cfg = root / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: data
defaults: {{model: echo, dataset: ds}}
datasets:
  ds: {{class: interleaved, files: ["*.jsonl"], judge: llm}}
models:
  echo: {{backend: openai, base_url: "{model_url}", model: echo, concurrency: {concurrency}}}
  judge: {{backend: openai, base_url: "{judge_url}", model: judge-json, concurrency: {concurrency}}}
judges:
  llm: {{class: coherence-llm, judge_model: judge, concurrency: {concurrency}}}
""",
        encoding="utf-8",
    )
    return cfg


def timed(cfg: Path, work: Path, *flags: str) -> float:
    argv = ["--config", str(cfg), "--work-dir", str(work), "--no-progress", "--no-reliability", *flags]
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    if status != 0:
        raise RuntimeError(f"run.py {' '.join(flags)} exited {status}")
    return time.perf_counter() - t0


def run(n: int, latency: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, devserver(latency) as a, devserver(latency) as b:
        root = Path(tmp)
        write_data(root, n)
        cfg = write_config(root, a.base_url, b.base_url, concurrency)
        piped = timed(cfg, root / "piped")
        staged = timed(cfg, root / "staged", "--mode", "infer") + timed(cfg, root / "staged", "--mode", "eval")
    stage = math.ceil(n / concurrency) * latency
    rows = [
        ("pipelined: wall s (ideal: longer stage)", f"{piped:.2f} ({stage:.2f})"),
        ("staged infer then eval: wall s (ideal: sum)", f"{staged:.2f} ({2 * stage:.2f})"),
        ("pipelined / staged wall", f"{piped / staged:.2f}"),
        ("pipelined: ideal / wall", f"{stage / piped:.2f}"),
    ]
    title = f"n={n} latency={latency:g} s concurrency={concurrency} (model and judge on separate endpoints)"
    print_table(title, rows)


def main_cli() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args()
    run(args.n, args.latency, args.concurrency)


if __name__ == "__main__":
    main_cli()
