"""Scaling of torchrun: 1, 2 and 4 ranks (gloo, CPU) against a plain one-process run, on the devserver with latency.

What it measures: the devserver runs as a subprocess with ``--latency`` (0.2 s); ``--n`` text records (400) are
written to a temporary dataset. For each rank count k in ``--ranks`` (1 2 4) it runs, as a user types them, into
a fresh temporary work dir each:

- torchrun: ``python -m torch.distributed.run --standalone --nproc-per-node k run.py --skip-eval --concurrency c``
  (each rank predicts its shard at ``--concurrency`` c = 16 in flight, rank 0 merges the part files);
- plain: ``python run.py --skip-eval --concurrency k*c``: the same requests in flight, one process.

Both are whole commands (interpreter start, imports, the torchrun agent and the gloo rendezvous included), timed
from launch to exit. Ideal samples/s is k x c / latency. The last column is the launcher's overhead (torchrun wall
- plain wall); a second row per k reruns the finished torchrun run (no model call: the fixed cost of k ranks
starting, meeting and merging). Ray's counterpart is ``bench/scaling_ray.py``.

Run: ``python bench/scaling.py [--n 400] [--concurrency 16] [--latency 0.2] [--ranks 1 2 4]``. Needs torch.
Exits non-zero only on a crash (a failed command, a sample without its answer).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, devserver, print_table

CONFIG = """
dataset_root: data
work_dir: results
defaults: {{model: echo, dataset: ds}}
datasets:
  ds: {{class: interleaved, files: ["*.jsonl"]}}
models:
  echo: {{backend: openai, base_url: "{base_url}", model: echo, max_retries: 2, backoff_s: 0.05}}
"""


def write_dataset(root: Path, n: int, base_url: str) -> Path:
    """``n`` text records and a config with the devserver's echo model; returns the config path."""
    records = [
        {"domain": "bench", "subdomain": "text", "id": str(i), "input": {"content": f"Question {i}: say it back."}}
        for i in range(n)
    ]
    (root / "data").mkdir()
    (root / "data" / "bench.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    cfg = root / "config.yaml"
    cfg.write_text(CONFIG.format(base_url=base_url), encoding="utf-8")
    return cfg


def run(cfg: Path, work: Path, ranks: int, concurrency: int) -> float:
    """Wall seconds of one ``--skip-eval`` command (torchrun with ``ranks`` > 0, else plain); raises on failure."""
    args = ["--config", str(cfg), "--work-dir", str(work), "--skip-eval", "--no-progress"]
    args += ["--concurrency", str(concurrency)]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    cmd = [*(launch if ranks else [sys.executable]), str(REPO / "run.py"), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cfg.parent, env=env | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr[-2000:]}")
    return wall


def check(work: Path, n: int) -> None:
    """Every sample has an ok answer in the store (read as evalkit reads it: predictions.jsonl and any part)."""
    from evalkit.store import RunStore

    preds = RunStore(work, "echo", "ds").load_predictions(prompts=False)
    ok = sum(p.ok for p in preds.values())
    if ok != n:
        raise RuntimeError(f"{work}: {ok} ok answers of {n}")


def _of(rate: float, ideal: float) -> str:
    return f", {rate / ideal:.2f} of ideal" if ideal else ""


def main_run(n: int, concurrency: int, latency: float, ranks: list[int]) -> None:
    rows: list[tuple[str, str]] = []
    with devserver(latency_s=latency) as server, tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        root = Path(tmp)
        cfg = write_dataset(root, n, server.base_url)
        for k in ranks:
            ideal = k * concurrency / latency if latency else 0.0  # 0 ms: no ideal rate, samples/s only
            calls = server.requests()
            tr = run(cfg, root / f"torchrun{k}", k, concurrency)
            check(root / f"torchrun{k}", n)
            if server.requests() - calls != n:
                raise RuntimeError(f"torchrun x{k}: {server.requests() - calls} model calls for {n} samples")
            pl = run(cfg, root / f"plain{k}", 0, k * concurrency)
            check(root / f"plain{k}", n)
            rows.append(
                (
                    f"{k} rank(s) x {concurrency} vs plain x {k * concurrency}",
                    f"torchrun {tr:.2f} s ({n / tr:.0f}/s{_of(n / tr, ideal)}), "
                    f"plain {pl:.2f} s ({n / pl:.0f}/s{_of(n / pl, ideal)}), overhead {tr - pl:+.2f} s",
                )
            )
            calls = server.requests()
            tr_again = run(cfg, root / f"torchrun{k}", k, concurrency)
            pl_again = run(cfg, root / f"plain{k}", 0, k * concurrency)
            if server.requests() != calls:
                raise RuntimeError(f"rerun x{k}: {server.requests() - calls} model calls, expected none")
            rows.append((f"  rerun, nothing to do ({k} rank(s))", f"torchrun {tr_again:.2f} s, plain {pl_again:.2f} s"))
    print_table(
        f"torchrun scaling (gloo, --skip-eval): n={n}, server latency {latency:g} s, {os.cpu_count()} cores", rows
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="samples")
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight per rank")
    p.add_argument("--latency", type=float, default=0.2, help="devserver seconds before each reply")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4], help="rank counts to time")
    args = p.parse_args()
    main_run(args.n, args.concurrency, args.latency, args.ranks)


if __name__ == "__main__":
    main()
