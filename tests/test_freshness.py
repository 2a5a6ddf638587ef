"""A rerun that computed nothing new leaves samples.<judge>.jsonl and the exports as they are, and any change to
what they depend on makes it write them again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import Dev, start_dev, write_qa_run

from evalkit.cli import main

OUTPUTS = (
    "samples.exact-match.jsonl",
    "scored.exact-match.jsonl",
    "scored.exact-match.lines.jsonl",
    "scored.exact-match/qa.jsonl",
)


def run(folder: Path, *extra: str, status: int = 0) -> None:
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["--model", "echo", "--dataset", "qa", "--no-progress", *extra]) == status
    finally:
        os.chdir(cwd)


def stamps(folder: Path) -> dict[str, int]:
    """Output file -> its modification time in ns (a rewrite replaces the file: a new mtime and inode)."""
    run_dir = folder / "results" / "echo" / "qa"
    return {name: (run_dir / name).stat().st_mtime_ns for name in OUTPUTS}


@pytest.fixture
def folder(tmp_path: Path, dev: Dev) -> Path:
    write_qa_run(tmp_path, dev.base_url)
    run(tmp_path)
    return tmp_path


def test_a_rerun_with_nothing_new_reads_and_writes_nothing_and_reports_the_same(
    tmp_path: Path, dev: Dev, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path
    write_qa_run(folder, dev.base_url)
    run(folder)
    run_dir = folder / "results" / "echo" / "qa"
    files = [*OUTPUTS, "report.csv", "failures.csv", "manifest.json", "reliability.csv"]
    before = {name: (run_dir / name).read_bytes() for name in files}
    first = {name: (run_dir / name).stat().st_mtime_ns for name in files}
    table = capsys.readouterr().out.splitlines()
    calls = dev.requests()
    run(folder)
    assert {name: (run_dir / name).stat().st_mtime_ns for name in files} == first  # nothing written
    assert {name: (run_dir / name).read_bytes() for name in files} == before
    again = capsys.readouterr().out.splitlines()
    assert dev.requests() == calls
    assert [line for line in again if "accuracy" in line] == [line for line in table if "accuracy" in line]
    assert any("infer: 0 run (0 failed), 5 reused; judge: 0 run (0 failed), 5 reused" in line for line in again)


def test_a_run_with_failed_predictions_is_retried_not_recorded_as_done(tmp_path: Path) -> None:
    server = start_dev("--truncate-first", "2")  # the first two answers are cut off mid-JSON: those samples fail
    try:
        dev = Dev(server)
        write_qa_run(tmp_path, dev.base_url)
        config = tmp_path / "config.yaml"
        config.write_text(config.read_text().replace("model: echo}", "model: echo, max_retries: 0}"))
        run(tmp_path)
        run_dir = tmp_path / "results" / "echo" / "qa"
        assert (run_dir / "failures.csv").read_text().count(",predict,") == 2
        calls = dev.requests()
        run(tmp_path)  # nothing else changed: the failures are retried, not reported again as they were
        assert dev.requests() - calls == 2
        assert (run_dir / "failures.csv").read_text().count("\n") == 1  # header only
        calls = dev.requests()
        run(tmp_path)
        assert dev.requests() == calls
    finally:
        server.stop()


@pytest.mark.parametrize(
    "change",
    ["reeval", "touch data", "edit output", "remove output", "judge option", "limit", "new verdict line"],
)
def test_anything_the_outputs_depend_on_makes_a_rerun_write_them(folder: Path, dev: Dev, change: str) -> None:
    settled = stamps(folder)
    run_dir = folder / "results" / "echo" / "qa"
    extra: tuple[str, ...] = ()
    if change == "reeval":
        extra = ("--reeval",)
    elif change == "touch data":
        data = folder / "qa.jsonl"
        os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 1_000_000))
    elif change == "edit output":
        with (run_dir / "scored.exact-match.lines.jsonl").open("a") as f:
            f.write("\n")
    elif change == "remove output":
        (run_dir / "scored.exact-match/qa.jsonl").unlink()
    elif change == "judge option":
        write_qa_run(folder, dev.base_url, ignore_case=False)
    elif change == "limit":
        extra = ("--limit", "3")
    elif change == "new verdict line":  # another process judged: the store grew
        path = run_dir / "verdicts.exact-match.jsonl"
        path.write_bytes(path.read_bytes() + path.read_bytes().splitlines(keepends=True)[0])
    run(folder, *extra)
    after = stamps(folder) if change != "remove output" else {}
    assert change == "remove output" or all(after[name] != settled[name] for name in OUTPUTS)
    assert (run_dir / "scored.exact-match/qa.jsonl").exists()
    lines = (run_dir / "samples.exact-match.jsonl").read_text().splitlines()
    assert len(lines) == (3 if change == "limit" else 5)


def test_the_inputs_follow_the_media_files_samples_send(tmp_path: Path, dev: Dev) -> None:
    """Prediction keys hash media content: a changed image under the same path must not pass for unchanged."""
    from evalkit.config import load_config
    from evalkit.factory import build_dataset, build_judge, build_model
    from evalkit.freshness import outputs_inputs
    from evalkit.report import RunFacts
    from evalkit.store import RunStore
    from evalkit.types import Part, Sample

    write_qa_run(tmp_path, dev.base_url)
    cfg = load_config(tmp_path / "config.yaml")
    dataset, model = build_dataset(cfg, "qa"), build_model(cfg, "echo", {})
    judge = build_judge(cfg, "exact-match", tmp_path / "results")
    image = tmp_path / "a.png"
    image.write_bytes(b"one")
    samples = [Sample("s", (Part("image", str(image), "image1"), Part("text", "what?")))]
    store = RunStore(tmp_path / "results", "echo", "qa")

    def inputs() -> str:
        return outputs_inputs(store, judge, model, dataset, RunFacts(), (1, 0), samples)

    first = inputs()
    assert inputs() == first
    image.write_bytes(b"two")
    assert inputs() != first


def test_token_totals_count_reused_and_new_predictions_held_without_their_usage(tmp_path: Path, dev: Dev) -> None:
    """The run holds predictions without usage (tallied as they become current): the totals still cover every
    reused and every new answer, as a sum over the stored lines says."""
    write_qa_run(tmp_path, dev.base_url, n=4)
    run(tmp_path)
    with (tmp_path / "qa.jsonl").open("a") as f:  # one new sample: the rerun reads the store and asks one
        f.write(json.dumps({"id": "q4", "question": "a longer question, 4+0?", "answer": "4"}) + "\n")
    run(tmp_path)
    run_dir = tmp_path / "results" / "echo" / "qa"
    stored = [json.loads(x) for x in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert len(stored) == 5
    tokens = json.loads((run_dir / "manifest.json").read_text())["dataset"]["tokens"]
    assert tokens["samples_with_usage"] == 5
    assert tokens["completion_tokens"] == sum(p["meta"]["usage"]["completion_tokens"] for p in stored)
    assert tokens["prompt_tokens"] == sum(p["meta"]["usage"]["prompt_tokens"] for p in stored)
    run(tmp_path, "--reeval")  # stored predictions only (held without usage): the same totals
    assert json.loads((run_dir / "manifest.json").read_text())["dataset"]["tokens"] == tokens


def test_slim_drops_only_the_request_and_the_tallied_meta() -> None:
    from evalkit.tokens import TokenTally, slim
    from evalkit.types import Prediction

    meta = {"usage": {"prompt_tokens": 3, "completion_tokens": 2}, "finish_reason": "stop", "media": {"a": "kept"}}
    pred = Prediction("s", "m", "k", "x", prompt={"messages": []}, meta=meta)
    tally = TokenTally()
    tally.add(pred)
    tally.add(Prediction("f", "m", "k", error="TimeoutError", meta=meta))  # a failure counts nothing
    assert (tally.prompt, tally.completion, tally.counted) == (3, 2, 1)
    held = slim(pred)
    assert held.meta == {"media": {"a": "kept"}} and held.prompt is None and held.text == "x"
    assert pred.meta["usage"] == {"prompt_tokens": 3, "completion_tokens": 2}  # the original is untouched
    bare = Prediction("s", "m", "k", "x")
    assert slim(bare) is bare


def test_an_eval_only_run_keeps_every_output_recorded(folder: Path) -> None:
    """A run that computes nothing but is not a plain rerun (``--mode eval``) leaves current outputs as they are
    and records all of them again, the per-source exports included: removing one later is noticed."""
    before = stamps(folder)
    run(folder, "--mode", "eval")
    assert stamps(folder) == before
    per_source = folder / "results" / "echo" / "qa" / "scored.exact-match" / "qa.jsonl"
    per_source.unlink()
    run(folder)
    assert per_source.exists()


def test_packed_usage_counts_as_the_dict_does() -> None:
    from evalkit.tokens import TokenTally, packed
    from evalkit.types import Prediction

    usages = [
        {"prompt_tokens": 3, "completion_tokens": 2},
        {"prompt_tokens": 70_000, "completion_tokens": 0, "total_tokens": 70_000},
        {"completion_tokens": 5},
        {"prompt_tokens": None, "completion_tokens": 1},
        {"prompt_tokens": "12", "completion_tokens": 1},  # not an int: kept as the dict, counted the same way
        {"prompt_tokens": -1, "completion_tokens": 1},
        {"total_tokens": 9},  # no prompt or completion count: not counted
        None,
    ]
    as_dict, as_packed = TokenTally(), TokenTally()
    for u in usages:
        pred = Prediction("s", "m", "k", "x", meta={"usage": u} if u is not None else {})
        as_dict.add(pred)
        as_packed.add(pred, packed(u))
    assert vars(as_packed) == vars(as_dict) == {"prompt": 70_014, "completion": 10, "counted": 6}
    assert type(packed(usages[0])) is int and packed(usages[4]) is usages[4] and packed(usages[5]) is usages[5]
