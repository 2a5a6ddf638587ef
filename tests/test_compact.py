"""Compaction of store files: what it keeps, when it runs by itself, and that a kill at any moment loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import REPO, Dev, code_record, write_config, write_records

from evalkit import store as store_mod
from evalkit.cli import main
from evalkit.store import AppendLog, RunStore, compact_log, read_jsonl
from evalkit.types import Prediction


def pred(sid: str, key: str, text: str = "", error: str = "") -> dict:
    return Prediction(sid, "m", key, text=text, error=error).to_json()


def latest(path: Path) -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for rec in read_jsonl(path):
        out[(rec["sample_id"], rec["key"])] = rec
    return out


def write_history(path: Path, n: int, rounds: int) -> None:
    """``n`` samples, each written ``rounds`` times under key k1 (a failure first), plus one k0 line each."""
    with AppendLog(path) as log:
        for i in range(n):
            log.append(pred(f"s{i}", "k0", text=f"old {i}"))
        for r in range(rounds):
            for i in range(n):
                log.append(pred(f"s{i}", "k1", text=f"r{r} {i}", error="" if r else "TimeoutError: slow"))


def test_keeps_the_latest_line_per_sample_and_key_byte_for_byte_in_order(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    write_history(path, 5, 3)
    with path.open("a") as f:
        f.write('{"sample_id": "s9", "mod')  # a torn last line from a kill mid-write
    before = latest(path)
    lines = path.read_bytes().split(b"\n")

    done = compact_log(path)

    after = path.read_bytes().split(b"\n")
    assert (done.kept, done.dropped, done.skipped) == (10, 11, "")
    assert latest(path) == before  # every (sample, key) keeps its latest record; k0 history stays
    assert after[:-1] == lines[:5] + lines[15:20] and after[-1] == b""
    assert compact_log(path) == store_mod.Compaction(path, 10, 0)  # nothing left to drop: file untouched


def test_load_compacts_only_when_superseded_lines_outnumber_live_ones(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m", "d")
    write_history(store.predictions_path, 4, 1)  # 8 live lines, none superseded
    with AppendLog(store.predictions_path) as log:
        for i in range(4):
            log.append(pred(f"s{i}", "k1", text=f"again {i}"))
    assert store.load_predictions(compact=True)[("s1", "k1")].text == "again 1"
    assert len(store.predictions_path.read_text().splitlines()) == 12  # 4 superseded of 12: kept as is
    with AppendLog(store.predictions_path) as log:
        for i in range(4):
            log.append(pred(f"s{i}", "k1", text=f"third {i}"))
        log.append(pred("s0", "k1", text="fourth 0"))
    got = store.load_predictions(wanted={f"s{i}": "k1" for i in range(4)}, compact=True)
    assert {k: p.text for k, p in got.items()} == {
        ("s0", "k1"): "fourth 0",
        ("s1", "k1"): "third 1",
        ("s2", "k1"): "third 2",
        ("s3", "k1"): "third 3",
    }
    # 9 superseded lines among the wanted records (3 of s0, 2 each of the others) > 8 live: compacted
    assert len(store.predictions_path.read_text().splitlines()) == 8
    assert store.load_predictions()[("s2", "k1")].text == "third 2"


def test_no_compaction_under_a_writer_and_a_failed_rename_keeps_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "predictions.jsonl"
    write_history(path, 3, 3)
    original = path.read_bytes()
    with AppendLog(path):
        assert compact_log(path).skipped == "a run is writing to it"
    assert path.read_bytes() == original

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(store_mod.os, "replace", refuse)
    with pytest.raises(OSError, match="disk gone"):
        compact_log(path)
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.jsonl"]


def test_a_writer_waiting_on_a_compaction_appends_to_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    write_history(path, 3, 3)
    compact_log(path)
    with AppendLog(path) as log:
        log.append(pred("s7", "k1", text="new"))
    assert latest(path)[("s7", "k1")]["text"] == "new" and len(path.read_text().splitlines()) == 7


CHILD = """
import os, sys, time
from pathlib import Path
from evalkit import store
pause = sys.argv[2]
def hold(name, real):
    def wrapped(*args):
        print(name, flush=True)
        time.sleep(60)
        return real(*args)
    return wrapped
if pause == "replace":
    store.os.replace = hold("replace", os.replace)
elif pause == "dirsync":
    store._fsync_dir = hold("dirsync", store._fsync_dir)
elif pause == "write":
    real_fdopen = os.fdopen
    class Slow:
        def __init__(self, f): self.f, self.n = f, 0
        def __enter__(self): return self
        def __exit__(self, *a): return self.f.__exit__(*a)
        def write(self, b):
            self.n += 1
            if self.n == 3:
                self.f.flush(); print("write", flush=True); time.sleep(60)
            return self.f.write(b)
        def __getattr__(self, k): return getattr(self.f, k)
    store.os.fdopen = lambda fd, mode: Slow(real_fdopen(fd, mode))
print(store.compact_log(Path(sys.argv[1])))
"""


@pytest.mark.parametrize("pause", ["write", "replace", "dirsync"])
def test_sigkill_during_compaction_loses_nothing(tmp_path: Path, pause: str) -> None:
    path = tmp_path / "predictions.jsonl"
    write_history(path, 50, 3)
    before = latest(path)
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(script), str(path), pause]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == pause  # killed exactly at that point
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert latest(path) == before  # the old file, or the new one after the rename: the same live records
    assert all(json.loads(x) for x in path.read_text().splitlines())
    done = compact_log(path)  # the next compaction finishes the job and clears the killed one's leftovers
    assert latest(path) == before and len(path.read_text().splitlines()) == 100
    assert done.dropped in (0, 100) and sorted(p.name for p in tmp_path.iterdir()) == ["child.py", "predictions.jsonl"]
    with AppendLog(path) as log:  # the store takes appends again
        log.append(pred("s1", "k1", text="after"))
    assert latest(path)[("s1", "k1")]["text"] == "after"


def manifest_stats(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["judges"]["llm"]["stats"]


def test_reeval_counts_reused_predictions_and_repeated_reevals_stay_compact(tmp_path: Path, dev: Dev) -> None:
    n = 5
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(n)])
    cfg = write_config(tmp_path, dev.base_url)
    run_dir = tmp_path / "results" / "echo" / "ds"
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    report = (run_dir / "report.csv").read_text()
    for round_ in range(1, 5):
        assert main(["--config", str(cfg), "--reeval", "--no-progress"]) == 0
        stats = manifest_stats(run_dir)
        assert stats["infer"] == {"total": n, "reused": n, "ran": 0, "failed": 0}
        assert stats["judge"]["ran"] == n and stats["reeval"] is True
        verdict_lines = len((run_dir / "verdicts.llm.jsonl").read_text().splitlines())
        assert verdict_lines <= 3 * n, f"reeval {round_}: {verdict_lines} verdict lines"
    assert (run_dir / "report.csv").read_text() == report
    before = dev.requests()
    assert main(["--config", str(cfg), "--mode", "eval", "--no-progress"]) == 0
    assert dev.requests() == before  # every verdict reused after compaction
    stats = manifest_stats(run_dir)
    assert stats["infer"]["reused"] == n and stats["judge"] == {"total": n, "reused": n, "ran": 0, "failed": 0}


def test_run_py_compact_says_what_it_did_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = RunStore(tmp_path, "m", "d")
    write_history(store.predictions_path, 4, 2)
    with AppendLog(store.verdicts_path("j")) as log:
        log.append({"sample_id": "s0", "key": "v1", "judge": "j", "pred_key": "k1"})
    assert main(["compact", str(store.dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{store.predictions_path}: kept 8 lines, dropped 4",
        f"{store.verdicts_path('j')}: kept 1 lines, dropped 0",
    ]
    assert main(["compact", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: compact: {tmp_path} holds no predictions.jsonl or verdicts.*.jsonl (not a run folder)\n"
