"""Fast start and tail (issue 11, item 7): how close a whole run comes to the ideal of its request window.

What it measures, on ``--n`` (2,000) one-line text samples (``qa`` dataset, ``exact-match`` judge) against
``bench/_latency_server.py`` (its own process, ``--latency-ms`` 200 per request) at ``--concurrency`` 64:

- **import**: ``import evalkit.cli`` in a fresh interpreter: wall time less that of ``python -c pass``, and
  ``-X importtime``'s own figure;
- **start-up**: ``python run.py`` started to the first request's arrival at the server (interpreter start,
  imports, config, dataset, prediction keys, store). The server records an arrival once it has read the body,
  and the client sets out its first ``--concurrency`` requests together: at 64, about 0.03-0.05 s of this
  figure lies between the first request leaving the runner and its arrival (0.001 s at concurrency 1);
- **tail**: the last answer's finish at the server to the process's exit (judging left, outcomes, reports,
  exports, manifest);
- **window**: the server's first arrival to its last finish;
- **whole / ideal** and **window / ideal**: the ideal wall time, n x latency / concurrency (2,000 x 0.2 / 64 =
  6.25 s), over the measured whole run and window.

Each figure is the median of ``--repeats`` fresh runs (a new work dir each: a first run, nothing reused); the
server's clock and this script's are both ``time.monotonic()``. ``--repo`` measures another checkout (say an
older commit unpacked with ``git archive``) with this venv. Goals: start-up <= 0.15 s, tail <= 0.1 s, whole
>= 0.90 of ideal, window >= 0.95.

Run: ``python bench/startup.py [--n 2000] [--concurrency 64] [--latency-ms 200] [--repeats 3] [--repo PATH]``.
Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import REPO, print_table, verdict
from peers import Server, latency_server

GOALS = {"start-up s": 0.15, "tail s": 0.1, "whole / ideal": 0.90, "window / ideal": 0.95}


@dataclass(frozen=True)
class Run:
    """One ``run.py`` process against the latency server (seconds, on ``time.monotonic()``).

    Attributes:
        startup_s: process start to the first request's arrival.
        window_s: first arrival to last finish.
        tail_s: last finish to the process's exit.
        wall_s: process start to exit.
    """

    startup_s: float
    window_s: float
    tail_s: float
    wall_s: float


def import_seconds(repo: Path, repeats: int) -> tuple[float, float]:
    """Median wall seconds of ``import evalkit.cli`` beyond a bare interpreter, and median ``-X importtime``."""

    def wall(code: str) -> float:
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-c", code], cwd=repo, check=True, capture_output=True)
        return time.monotonic() - t0

    bare = statistics.median(wall("pass") for _ in range(repeats))
    full = statistics.median(wall("import evalkit.cli") for _ in range(repeats))
    own = []
    for _ in range(repeats):
        cmd = [sys.executable, "-X", "importtime", "-c", "import evalkit.cli"]
        err = subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stderr
        own.append(int(err.strip().splitlines()[-1].split("|")[1]) / 1e6)  # "import time: self | cumulative | name"
    return full - bare, statistics.median(own)


def write_run(folder: Path, n: int, base_url: str, concurrency: int) -> Path:
    """The ``qa`` records and config of one run; returns the config."""
    data = folder / "data"
    data.mkdir(parents=True)
    with (data / "qa.jsonl").open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "question": f"What is {i} plus zero?", "answer": str(i)}) + "\n")
    cfg = folder / "config.yaml"
    cfg.write_text(
        f"""dataset_root: data
work_dir: results
defaults: {{model: echo, dataset: qa}}
datasets:
  qa: {{class: qa, files: ["qa.jsonl"], judge: exact-match}}
models:
  echo: {{backend: openai, base_url: "{base_url}", model: echo, concurrency: {concurrency}}}
""",
        encoding="utf-8",
    )
    return cfg


def one_run(repo: Path, n: int, concurrency: int, server: Server) -> Run:
    """A first run of ``n`` samples in a fresh work dir, timed against the server's arrivals and finishes."""
    with tempfile.TemporaryDirectory(prefix="evalkit-startup-") as tmp:
        cfg = write_run(Path(tmp), n, server.base_url, concurrency)
        server.call("/reset", post=True)
        cmd = [sys.executable, str(repo / "run.py"), "--config", str(cfg), "--no-progress"]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False, env=_env(repo))
        end = time.monotonic()
    if proc.returncode != 0:
        raise RuntimeError(f"run.py exited {proc.returncode}: {proc.stderr[-2000:]}")
    stats = server.call("/stats")
    if stats["answered"] != n:
        raise RuntimeError(f"the server answered {stats['answered']} requests, not {n}")
    first, last = float(stats["first_arrival"]), float(stats["last_finish"])
    return Run(first - t0, last - first, end - last, end - t0)


def _env(repo: Path) -> dict[str, str]:
    """This environment, with ``repo`` first on the path (the venv's editable install points at this checkout)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]).rstrip(":")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="samples")
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    p.add_argument("--latency-ms", type=float, default=200.0, help="server milliseconds before each reply")
    p.add_argument("--repeats", type=int, default=3, help="runs per figure (medians)")
    p.add_argument("--repo", type=Path, default=REPO, help="checkout to measure (default: this one)")
    args = p.parse_args()
    repo = args.repo.resolve()
    print(f"load average: {os.getloadavg()[0]:.2f} (2-core machine); python {sys.version.split()[0]}; repo {repo}")
    import_wall, import_own = import_seconds(repo, max(args.repeats, 5))
    latency = args.latency_ms / 1000
    ideal = args.n * latency / args.concurrency
    runs = []
    with tempfile.TemporaryDirectory(prefix="evalkit-startup-") as tmp:
        with latency_server(latency, Path(tmp) / "server.log") as server:
            for i in range(args.repeats):
                runs.append(one_run(repo, args.n, args.concurrency, server))
                print(f"  run {i + 1}: {runs[-1]}", file=sys.stderr, flush=True)
    med = {k: statistics.median(getattr(r, k) for r in runs) for k in ("startup_s", "window_s", "tail_s", "wall_s")}
    figures = {
        "start-up s": med["startup_s"],
        "tail s": med["tail_s"],
        "whole / ideal": ideal / med["wall_s"],
        "window / ideal": ideal / med["window_s"],
    }
    rows = [
        ("import evalkit.cli s (wall beyond bare python)", f"{import_wall:.3f}"),
        ("import evalkit.cli s (-X importtime)", f"{import_own:.3f}"),
        ("start-up s (process start to first request)", f"{figures['start-up s']:.3f}"),
        ("request window s", f"{med['window_s']:.3f}"),
        ("tail s (last answer to exit)", f"{figures['tail s']:.3f}"),
        ("whole run s", f"{med['wall_s']:.3f}"),
        ("ideal s (n x latency / concurrency)", f"{ideal:.3f}"),
        ("whole / ideal", f"{figures['whole / ideal']:.3f}"),
        ("window / ideal", f"{figures['window / ideal']:.3f}"),
    ]
    title = f"start and tail: n={args.n}, concurrency {args.concurrency}, latency {args.latency_ms:g} ms"
    print_table(f"{title}, medians of {args.repeats}", rows)
    for name, goal in GOALS.items():
        met = figures[name] <= goal if name.endswith(" s") else figures[name] >= goal
        sign = "<=" if name.endswith(" s") else ">="
        print(f"{name}: {figures[name]:.3f} (goal {sign} {goal:g}): {verdict(met)}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
