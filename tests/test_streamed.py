"""Per-sample outputs written while a pipelined run goes (evalkit/streamed.py): byte for byte what the tail writes,
whatever order the samples are handed over in, with metrics that stop being whole midway, failed samples and bad
records; a failure while streaming leaves the tail to write the files; a failed run leaves the old files."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from support import REPO, Dev, code_record, start_dev, write_config, write_records

from evalkit import streamed as streamed_module
from evalkit.cli import main
from evalkit.export import scored_export
from evalkit.job import worst_of
from evalkit.judges.base import Judge, JudgeContext, MetricSpec
from evalkit.judges.coherence import CoherenceJudge
from evalkit.report import Outcome, outcomes, sample_lines
from evalkit.scoring import sample_clusters
from evalkit.store import STALE_AFTER_S, RunStore, remove_stale_temps, write_lines
from evalkit.streamed import StreamedOutputs, sample_extras
from evalkit.types import Part, Prediction, RecordError, Sample, Verdict


class Rubric(Judge):
    """A judge with a mean rubric (a worst value) and a ratio metric (ratio parts in samples.jsonl)."""

    metrics = ("rubric", "hits")
    metric_specs: ClassVar[dict[str, MetricSpec]] = {
        "rubric": MetricSpec(worst=1.0),
        "hits": MetricSpec(worst=0.0, kind="ratio"),
    }

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
        return outcome.scores.get(metric, 0.0) * 2, 2.0


def judge() -> Rubric:
    def no_models(name: str) -> Any:
        raise AssertionError(name)

    return Rubric("rubric", None, JudgeContext(model_factory=no_models, cache_dir=Path(".")))


def make_samples(n: int, folder: Path) -> list[Sample]:
    """Samples from two source files, some sharing an image (one cluster), with references."""
    out = []
    for i in range(n):
        media = (Part("image", str(folder / f"img{i % 3}.png"), tag="image1"),) if i % 4 == 0 else ()
        out.append(
            Sample(
                id=f"s{i}",
                msg=(Part("text", f"question {i}"), *media),
                references=(Part("text", f"answer {i}"),),
                meta={"record_id": str(i), "file": str(folder / ("a.jsonl" if i % 2 else "sub/b.jsonl")), "line": i},
            )
        )
    return out


def ok_verdict(i: int) -> bool:
    """Whether :func:`make_runs` gives sample ``i`` scores."""
    return i % 11 != 10 and i % 7 != 6 and i % 5 != 4


def make_runs(samples: Sequence[Sample], scores: list[float]) -> tuple[dict[str, Prediction], dict[str, Verdict]]:
    """Predictions (every seventh failed, every eleventh missing) and verdicts (every fifth unparseable)."""
    preds: dict[str, Prediction] = {}
    verdicts: dict[str, Verdict] = {}
    for i, s in enumerate(samples):
        if i % 11 == 10:
            continue
        failed = i % 7 == 6
        preds[s.id] = Prediction(s.id, "m", f"k{i}", text=f"answer {i}", error="HTTP 500" if failed else "")
        if failed:
            verdicts[s.id] = Verdict(s.id, "rubric", f"v{i}", f"k{i}", parse_status="skipped", error="no prediction")
        elif i % 5 == 4:
            verdicts[s.id] = Verdict(s.id, "rubric", f"v{i}", f"k{i}", parse_status="unparseable", error="no score")
        else:
            sc = {"rubric": scores[i], "hits": 1.0 if i % 3 else 0.5}
            details = {"content": f"c{i}", "modal": {"image1": "a caption"}}
            verdicts[s.id] = Verdict(s.id, "rubric", f"v{i}", f"k{i}", scores=sc, details=details)
    return preds, verdicts


def tail_files(store: RunStore, j: Judge, samples: Sequence[Sample], errors: Sequence[RecordError], preds, verdicts):
    """What the tail writes (job._write_judged without streaming), as name -> bytes."""
    items = outcomes(samples, errors, preds, verdicts, worst_of(j))
    extras = [("", "", "")] * len(errors) + [sample_extras(s, preds.get(s.id)) for s in samples]
    write_lines(store.samples_path(j.name), sample_lines(items, j, j.metrics, sample_clusters(samples), extras))
    paths = [
        store.samples_path(j.name),
        *store.write_exports(j.name, scored_export(samples, verdicts, preds, store.dir)),
    ]
    return {p.relative_to(store.dir).as_posix(): p.read_bytes() for p in paths}, items


def stream(store, j, samples, errors, preds, verdicts, order) -> StreamedOutputs:
    out = StreamedOutputs(store, j, j.name, samples, errors, worst_of(j))
    shown_p: dict[str, Prediction] = {}
    shown_v: dict[str, Verdict] = {}
    out.bind(shown_p, shown_v)  # the maps fill as the samples are handed over, as in a run
    for s in order:
        if s.id in preds:
            shown_p[s.id] = preds[s.id]
        if s.id in verdicts:
            shown_v[s.id] = verdicts[s.id]
        out.done(s)
    return out


@pytest.mark.parametrize(
    "case",
    ["whole", "fractional late", "fractional first", "in order"],
)
def test_streamed_files_are_the_tails_byte_for_byte(tmp_path: Path, case: str, monkeypatch) -> None:
    restarts = []
    real_restart = StreamedOutputs._restart_exports
    monkeypatch.setattr(StreamedOutputs, "_restart_exports", lambda self: restarts.append(1) or real_restart(self))
    n = 120
    samples = make_samples(n, tmp_path / "data")
    rng = random.Random(case)
    order = list(samples) if case == "in order" else rng.sample(samples, n)
    scores = [float(1 + i % 5) for i in range(n)]  # whole: exported as integers
    ok = [int(s.id[1:]) for s in order if ok_verdict(int(s.id[1:]))]
    if case == "fractional late":  # handed over after most records were written with the rubric as integers
        scores[ok[-1]] = 3.5
    if case == "fractional first":
        scores[ok[0]] = 2.25
    errors = [RecordError(str(tmp_path / "data" / "a.jsonl"), 3, "id", "missing id", meta={"domain": "x"})]
    preds, verdicts = make_runs(samples, scores)

    expected, items = tail_files(RunStore(tmp_path / "tail", "m", "d"), judge(), samples, errors, preds, verdicts)
    store = RunStore(tmp_path / "live", "m", "d")
    out = stream(store, judge(), samples, errors, preds, verdicts, order)
    assert out.complete and not out.stopped
    assert out.items == items and out.clusters == sample_clusters(samples)
    got = {p.relative_to(store.dir).as_posix(): p.read_bytes() for p in out.close()}
    assert got == expected
    assert len(restarts) == (1 if case == "fractional late" else 0)  # the exports began again once, after 3.5
    if case == "whole":
        assert b'"rubric": 2,' in got["scored.rubric.jsonl"]
    elif case != "in order":
        assert b'"rubric": 2.0,' in got["scored.rubric.jsonl"]
    assert not [p for p in store.dir.rglob("*") if p.name.endswith(".tmp")]  # no half-written file left


def test_nothing_is_put_in_place_before_every_sample_is_handed_over(tmp_path: Path) -> None:
    samples = make_samples(10, tmp_path / "data")
    preds, verdicts = make_runs(samples, [2.0] * 10)
    store = RunStore(tmp_path / "live", "m", "d")
    store.samples_path("rubric").parent.mkdir(parents=True, exist_ok=True)
    store.samples_path("rubric").write_text("old\n")
    out = stream(store, judge(), samples, [], preds, verdicts, samples[1:])  # s0 never handed over
    assert not out.complete and len(out.items) == 0  # s0 holds every later sample back
    with pytest.raises(RuntimeError, match="incomplete"):
        out.close()
    out.stop("the run failed")
    assert store.samples_path("rubric").read_text() == "old\n"  # the old file stands
    assert [p.name for p in store.dir.rglob("*") if p.is_file()] == [store.samples_path("rubric").name]


def test_a_failure_while_streaming_stops_it_without_raising(tmp_path: Path, monkeypatch, caplog) -> None:
    samples = make_samples(6, tmp_path / "data")
    preds, verdicts = make_runs(samples, [2.0] * 6)
    calls = {"n": 0}
    real = streamed_module.export_record

    def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ValueError("odd record")
        return real(*args)

    monkeypatch.setattr(streamed_module, "export_record", flaky)
    store = RunStore(tmp_path / "live", "m", "d")
    out = stream(store, judge(), samples, [], preds, verdicts, samples)  # does not raise
    assert not out.complete and out.stopped == "ValueError: odd record"
    assert "not streamed" in caplog.text and "odd record" in caplog.text
    assert not [p for p in store.dir.rglob("*") if p.is_file()]  # the half-written files are gone


def test_a_run_that_fails_midway_leaves_the_last_runs_files(tmp_path: Path, dev: Dev, monkeypatch) -> None:
    write_records(tmp_path / "data" / "code.jsonl", [code_record(i) for i in range(12)])
    cfg = write_config(tmp_path, dev.base_url)
    argv = ["--config", str(cfg), "--no-progress", "--no-reliability"]
    assert main(argv) == 0
    run = tmp_path / "results" / "echo" / "ds"
    before = {p: p.read_bytes() for p in run.rglob("scored*") if p.is_file()} | {
        run / "samples.llm.jsonl": (run / "samples.llm.jsonl").read_bytes()
    }
    (tmp_path / "data" / "code.jsonl").write_text(
        (tmp_path / "data" / "code.jsonl").read_text() + "\n" + json.dumps(code_record(99), indent=4)
    )
    real, calls, half = CoherenceJudge.score, [], []

    async def fails_late(self: CoherenceJudge, sample: Sample, pred: Prediction) -> Any:
        calls.append(sample.id)
        if len(calls) == 1:  # the one new sample: the reused twelve are handed over meanwhile
            await asyncio.sleep(0.3)
            half.extend(p.name for p in run.rglob("*.tmp"))  # the new files, being written
            raise KeyboardInterrupt  # a failure the run does not record as data: the run stops
        return await real(self, sample, pred)

    monkeypatch.setattr(CoherenceJudge, "score", fails_late)
    assert main(argv) != 0  # "interrupted: finished samples are stored"
    assert calls == ["code:99"]
    assert any(x.startswith(".samples.llm.jsonl.") for x in half) and any(x.startswith(".scored.llm") for x in half)
    assert {p: p.read_bytes() for p in before} == before  # the last run's files stand
    assert not [p.name for p in run.rglob("*") if p.name.endswith(".tmp")]  # no half-written file left


def test_a_reeval_streams_its_files_and_they_are_the_tails(tmp_path: Path, dev: Dev, monkeypatch) -> None:
    closed = []
    real_close = StreamedOutputs.close
    monkeypatch.setattr(StreamedOutputs, "close", lambda self: closed.append(1) or real_close(self))
    records = [code_record(i) for i in range(10)]
    records[3] = {k: v for k, v in records[3].items() if k != "id"}  # a bad record: first in samples.jsonl
    write_records(tmp_path / "data" / "code.jsonl", records)
    cfg = write_config(tmp_path, dev.base_url)
    argv = ["--config", str(cfg), "--no-progress", "--no-reliability"]
    run = tmp_path / "results" / "echo" / "ds"
    names = ["samples.llm.jsonl", "scored.llm.jsonl", "scored.llm.lines.jsonl", "scored.llm/code.jsonl"]
    assert main([*argv, "--mode", "infer"]) == 0
    assert main([*argv, "--reeval"]) == 0  # judges all nine while writing
    assert closed == [1]
    after_reeval = [(run / x).read_bytes() for x in names]
    assert after_reeval[0].count(b"\n") == 10 and b'"stage": "record"' in after_reeval[0].split(b"\n")[0]
    for x in [*names, ".outputs.llm.json"]:
        (run / x).unlink()
    assert main([*argv, "--mode", "eval"]) == 0  # judges nothing: the files are made after the run
    assert closed == [1]
    assert [(run / x).read_bytes() for x in names] == after_reeval


def test_temp_files_of_a_killed_writer_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "samples.j.jsonl"
    dead, live, young = (tmp_path / f".samples.j.jsonl.{x}.tmp" for x in ("dead", "live", "young"))
    for p in (dead, live, young):
        p.write_text("half")
    old = time.time() - STALE_AFTER_S - 5
    for p in (dead, live):
        os.utime(p, (old, old))
    with live.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # its writer is alive
        assert remove_stale_temps(path) == [dead]
    assert not dead.exists() and live.exists() and young.exists()


def test_a_sigkilled_run_leaves_temp_files_the_next_run_removes(tmp_path: Path) -> None:
    server = start_dev("--latency", "0.05")
    try:
        write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(60)])
        cfg = write_config(tmp_path, server.base_url)
        run = tmp_path / "results" / "echo" / "ds"
        cmd = [sys.executable, str(REPO / "run.py"), "--config", str(cfg), "--no-progress", "--no-reliability"]
        proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(run.glob(".samples.llm.jsonl.*.tmp")):
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        left = [p for p in run.rglob("*.tmp")]
        assert any(p.name.startswith(".samples.llm.jsonl.") for p in left) and not (run / "samples.llm.jsonl").exists()
        old = time.time() - STALE_AFTER_S - 5
        for p in left:
            os.utime(p, (old, old))
        assert subprocess.run(cmd, cwd=tmp_path, check=False, capture_output=True).returncode == 0
        assert not list(run.rglob("*.tmp"))
        assert len(lines(run / "samples.llm.jsonl")) == 60
    finally:
        server.stop()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]
