"""Video QA records (MVBench / Video-MME option formats): loading, bad records, prompts, end to end."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from support import REPO, Dev, write_config

from evalkit.cli import main
from evalkit.datasets.video_qa import VideoQADataset, VideoQAOptions
from evalkit.errors import ConfigError

SAMPLE = REPO / "data" / "vlm_sample"


def test_bundled_sample_in_both_option_formats() -> None:
    ds = VideoQADataset("v", VideoQAOptions(root="vlm_sample", files=("video_qa.jsonl",)), REPO / "data")
    assert ds.judge_name == "choice"
    res = ds.load()
    assert res.errors == [] and [s.id for s in res.samples] == ["v1", "v2"]
    mv, vm = res.samples
    assert mv.msg[0].type == "video" and mv.msg[0].value == str(SAMPLE / "videos" / "move_right.mp4")
    assert mv.meta["answer_letter"] == "A" and mv.meta["subdomain"] == "Moving Direction"
    assert vm.meta["options"] == {"A": "Black.", "B": "White.", "C": "Blue.", "D": "Green."}  # "A. " prefixes gone
    assert vm.meta["answer_letter"] == "C" and vm.meta["difficulty"] == "short" and vm.meta["domain"] == "Synthetic"
    assert vm.references[0].value == "C"
    assert mv.msg[1].value == (
        "Question: In which direction does the red square move?\nOptions:\n(A) from left to right\n"
        "(B) from right to left\n(C) from top to bottom\n(D) it does not move\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_task_prompts_and_missing_files(tmp_path: Path) -> None:
    ds = VideoQADataset("MVBench", VideoQAOptions(task="MVBench"), tmp_path)
    assert "Reply with the letter of the best option only." in ds.template
    with pytest.raises(ConfigError) as exc:
        ds.load()
    assert str(tmp_path.resolve() / "mvbench" / "MVBench.jsonl") in str(exc.value)
    assert "python run.py prepare --dataset MVBench" in str(exc.value)
    assert ds.required_files() == [tmp_path.resolve() / "mvbench" / "MVBench.jsonl"]
    with pytest.raises(ConfigError, match="did you mean Video-MME"):
        VideoQADataset("x", VideoQAOptions(task="Video-MMe"), tmp_path)
    with pytest.raises(ConfigError, match="bad prompt template"):
        VideoQADataset("x", VideoQAOptions(task="MVBench", prompt="{nope}"), tmp_path)


def test_bad_records_and_json_lists(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    shutil.copy(SAMPLE / "videos" / "move_right.mp4", tmp_path / "clips" / "a.mp4")
    (tmp_path / "clips" / "frames").mkdir()
    good = {"video": "clips/a.mp4", "question": "Q?", "candidates": ["x", "y"], "answer": "y"}
    records = [
        good,
        {**good, "video": "clips/missing.mp4"},
        {**good, "video": "clips/frames"},
        {**good, "video": "../../outside.mp4"},
        {**good, "answer": "z"},
        {**good, "candidates": ["only one"]},
        {**good, "question": ""},
        {**good, "start": "soon"},
        {**good, "start": 1.5, "end": 3, "task": "Action Sequence"},
        ["not", "an", "object"],
    ]
    (tmp_path / "q.json").write_text(json.dumps(records))
    res = VideoQADataset("v", VideoQAOptions(root="", files=("q.json",)), tmp_path).load()
    assert [s.id for s in res.samples] == ["q:1", "q:9"]
    assert res.samples[0].meta["answer_letter"] == "B"
    assert res.samples[1].meta["start"] == 1.5 and res.samples[1].meta["end"] == 3.0
    assert res.samples[1].meta["subdomain"] == "Action Sequence"
    by_line = {e.line: (e.field, e.reason) for e in res.errors}  # record numbers in a JSON list
    assert "video file not found" in by_line[2][1]
    assert "folder of frames" in by_line[3][1]
    assert "escapes the data root" in by_line[4][1]
    assert by_line[5][0] == "answer"
    assert by_line[6][0] == "candidates"
    assert by_line[7][0] == "question"
    assert by_line[8] == ("start", "'start' must be a number of seconds")
    assert "must be a JSON object" in by_line[10][1]
    (tmp_path / "q.jsonl").write_text(
        json.dumps({**good, "id": 7}) + "\n{broken\n" + json.dumps({**good, "id": 7}) + "\n"
    )
    res = VideoQADataset("v", VideoQAOptions(root="", files=("q.jsonl",)), tmp_path).load()
    assert [s.id for s in res.samples] == ["7"]
    assert [(e.line, e.reason.split(":")[0]) for e in res.errors] == [
        (2, "invalid JSON"),
        (3, "duplicate id '7' in this file"),
    ]


def test_end_to_end_with_echo_and_a_custom_prompt(tmp_path: Path, dev: Dev) -> None:
    shutil.copytree(SAMPLE, tmp_path / "data" / "vlm_sample")
    cfg = write_config(tmp_path, dev.base_url)
    entry = (
        "  vid: {class: video-qa, root: vlm_sample, files: [video_qa.jsonl],"
        ' prompt: "The answer is (A).\\n{question}\\n{options}"}\n'
        "  vid-plain: {class: video-qa, root: vlm_sample, files: [video_qa.jsonl]}\n"
    )
    cfg.write_text(cfg.read_text().replace("datasets:\n", "datasets:\n" + entry))
    assert main(["--config", str(cfg), "--dataset", "vid", "vid-plain", "--no-progress"]) == 0

    def report(name: str) -> dict[tuple[str, str], dict[str, str]]:
        with (tmp_path / "results" / "echo" / name / "report.csv").open() as f:
            return {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}

    # the echo states "(A)": right for v1 (A), wrong for v2 (C)
    rows = report("vid")
    assert float(rows[("all", "accuracy")]["value"]) == 0.5 and rows[("all", "unextracted")]["value"] == "0"
    assert rows[("subdomain=Moving Direction", "accuracy")]["value"] == "1"
    assert rows[("difficulty=short", "accuracy")]["value"] == "0"
    # the plain prompt lists every option: nothing can be read, both count as wrong
    rows = report("vid-plain")
    assert rows[("all", "accuracy")]["value"] == "0" and rows[("all", "unextracted")]["value"] == "1"
    assert rows[("all", "accuracy")]["n"] == "2" and rows[("all", "accuracy")]["n_failed"] == "0"
    pred = json.loads((tmp_path / "results" / "echo" / "vid" / "predictions.jsonl").read_text().splitlines()[0])
    assert pred["meta"]["media"]  # the echo model reads images only: the video's handling is recorded
