"""Where the CPU of a 0 ms text run goes: evalkit's client against the loopback server, per sample.

What it measures: the devserver (``--latency 0``) runs as a subprocess; ``python run.py --skip-eval`` (plain, or
under ``torchrun --nproc-per-node K`` with ``--ranks K``) predicts ``--n`` text records at ``--concurrency``. It
reads the CPU seconds (user + system) of the client command (``RUSAGE_CHILDREN``, every rank and the torchrun
agent included) and of the server process (``/proc/<pid>/stat``) and prints each per sample, the wall time and
samples/s, and the bound the machine's cores put on any client: cores / (client + server CPU per sample), with
the server on the same machine. The issue's goal (>= 4,000 samples/s at 0 ms on 2 cores) is above that bound
when client + server exceed 0.5 ms of CPU per sample.

Run: ``python bench/cpu_split.py [--n 30000] [--concurrency 256] [--ranks 0 2]``. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, devserver, print_table
from scaling import write_dataset


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one(cfg: Path, work: Path, ranks: int, concurrency: int, server_pid: int) -> tuple[float, float, float]:
    """(wall s, client CPU s, server CPU s) of one --skip-eval command."""
    args = [str(REPO / "run.py"), "--config", str(cfg), "--work-dir", str(work), "--skip-eval", "--no-progress"]
    args += ["--concurrency", str(concurrency)]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    cmd = [*(launch if ranks else [sys.executable]), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    c0, s0, t0 = children_cpu_s(), proc_cpu_s(server_pid), time.perf_counter()
    res = subprocess.run(cmd, cwd=cfg.parent, env=env | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stderr[-2000:]}")
    return wall, children_cpu_s() - c0, proc_cpu_s(server_pid) - s0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=30000)
    p.add_argument("--concurrency", type=int, default=256, help="requests in flight (per rank under torchrun)")
    p.add_argument("--ranks", type=int, nargs="+", default=[0, 2], help="0: a plain run; K: torchrun with K ranks")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    with devserver(latency_s=0.0) as server, tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        cfg = write_dataset(Path(tmp), args.n, server.base_url)
        for k in args.ranks:
            wall, client, srv = one(cfg, Path(tmp) / f"run{k}", k, args.concurrency, server.proc.pid)
            per = (client + srv) / args.n * 1e3
            rows.append(
                (
                    f"{'plain' if not k else f'torchrun x{k}'}",
                    f"{wall:.2f} s, {args.n / wall:.0f}/s; CPU ms/sample client {client / args.n * 1e3:.3f} "
                    f"+ server {srv / args.n * 1e3:.3f} = {per:.3f}; "
                    f"bound {cores} cores / that = {cores / per * 1e3:.0f}/s",
                )
            )
    print_table(f"CPU per sample at 0 ms, n={args.n}, {cores} cores (client = the whole command)", rows)


if __name__ == "__main__":
    main()
