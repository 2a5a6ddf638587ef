"""torchrun with 2 CPU ranks (gloo) against the loopback dev server: the union of the shards is a one-process run,
resuming with another number of ranks redoes nothing, a killed run is finished with only what it lacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, Dev, code_record, write_config, write_records

from evalkit.cli import main
from evalkit.shard import shard_of
from evalkit.store import RunStore, part_paths
from evalkit.types import Prediction

pytest.importorskip("torch.distributed")

FLAGS = ["--no-progress", "--no-reliability"]


def torchrun(cfg: Path, work: Path, n: int = 2) -> subprocess.CompletedProcess[str]:
    """``python -m torch.distributed.run --nproc-per-node n run.py ...`` as a user types it; fails loudly."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}", str(REPO / "run.py")]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    res = subprocess.run(
        [*cmd, "--config", str(cfg), "--work-dir", str(work), *FLAGS],
        cwd=cfg.parent,
        env=env | {"OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def plain(cfg: Path, work: Path) -> None:
    assert main(["--config", str(cfg), "--work-dir", str(work), *FLAGS]) == 0


def setup(tmp_path: Path, dev: Dev, n: int = 8) -> Path:
    write_records(tmp_path / "data" / "code_test.jsonl", [code_record(i) for i in range(n)])
    return write_config(tmp_path, dev.base_url)


def answers(work: Path) -> dict[tuple[str, str], tuple[str, str]]:
    return {k: (p.text, p.error) for k, p in RunStore(work, "echo", "ds").load_predictions().items()}


def report(work: Path) -> str:
    return (work / "echo" / "ds" / "report.csv").read_text()


def test_two_ranks_make_a_one_process_run_and_one_process_resumes_with_no_call(tmp_path: Path, dev: Dev) -> None:
    cfg = setup(tmp_path, dev)
    plain(cfg, tmp_path / "one")
    assert dev.requests("echo") == 8
    run = tmp_path / "two" / "echo" / "ds"

    res = torchrun(cfg, tmp_path / "two")

    assert dev.requests("echo") == 16  # each sample sent once, by one of the ranks
    got = answers(tmp_path / "two")
    assert got == answers(tmp_path / "one") and len(got) == 8
    assert report(tmp_path / "two") == report(tmp_path / "one")
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 8 and part_paths(run) == []
    shard1 = sum(shard_of(key, 2) == 1 for _sid, key in got)
    assert 0 < shard1 < 8  # both ranks had work
    assert f"rank 1 of 2: {shard1} run (0 failed), 0 reused of its {shard1} samples; rank 0 judges" in res.stderr
    assert "infer: 8 run (0 failed), 0 reused; judge: 8 run" in res.stdout  # rank 0 counts every shard
    assert res.stdout.count("coherence") == 1  # one report, by rank 0
    assert res.stdout.count("failed samples:") == 1  # one summary: rank 1 said its line on stderr only
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["judges"]["llm"]["stats"]["infer"] == {"total": 8, "reused": 0, "ran": 8, "failed": 0}

    plain(cfg, tmp_path / "two")  # the same run as one process: everything is reused
    assert dev.requests("echo") == 16
    assert answers(tmp_path / "two") == got and report(tmp_path / "two") == report(tmp_path / "one")


def test_two_ranks_finish_a_killed_run_with_only_what_it_lacks(tmp_path: Path, dev: Dev) -> None:
    cfg = setup(tmp_path, dev)
    plain(cfg, tmp_path / "one")
    whole = [json.loads(x) for x in (tmp_path / "one" / "echo" / "ds" / "predictions.jsonl").read_text().splitlines()]
    by_shard = [[r for r in whole if shard_of(r["key"], 2) == s] for s in (0, 1)]
    assert all(by_shard)
    # the state a killed 2-rank run leaves: rank 0's last sample is a torn line (lost), rank 1 stored a failure
    # for its first sample, and a failure for a sample rank 0 has answered (ok beats failed: not redone)
    store = RunStore(tmp_path / "two", "echo", "ds")
    lost, failed, shadowed = by_shard[0][0], by_shard[1][0], by_shard[0][1]
    part0 = store.for_worker("20260101T000000-rank0of2-host-1").predictions_path
    part1 = store.for_worker("20260101T000000-rank1of2-host-2").predictions_path
    part0.parent.mkdir(parents=True)
    part0.write_text("".join(json.dumps(r) + "\n" for r in by_shard[0][1:]) + json.dumps(lost)[:40])
    bad = [
        Prediction.from_json(r | {"text": "", "error": "TimeoutError: killed"}).to_json() for r in (failed, shadowed)
    ]
    part1.write_text("".join(json.dumps(r) + "\n" for r in [bad[0], *by_shard[1][1:], bad[1]]))
    # and rank 0 was killed while merging part 0: its lines are in predictions.jsonl and still in the part
    store.predictions_path.write_text("".join(json.dumps(r) + "\n" for r in by_shard[0][1:]))
    before = dev.requests("echo")

    torchrun(cfg, tmp_path / "two")

    assert dev.requests("echo") - before == 2  # the lost and the failed sample; the shadowed failure is not redone
    assert answers(tmp_path / "two") == answers(tmp_path / "one")
    assert report(tmp_path / "two") == report(tmp_path / "one")
    assert part_paths(store.dir) == []
