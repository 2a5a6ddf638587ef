"""A stored verdict is reused only for what it judged: a corrected reference (or any meta a judge reads) is judged
again while the prediction stands; a record moved within its file keeps its verdict."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support import Dev, write_qa_run

from evalkit.cli import main


def run(folder: Path) -> dict[str, str]:
    """Run, and return the summary line's counts and the accuracy row of report.csv."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["--model", "echo", "--dataset", "qa", "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    run_dir = folder / "results" / "echo" / "qa"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stats = manifest["judges"]["exact-match"]["stats"]
    row = (run_dir / "report.csv").read_text().splitlines()[1].split(",")
    return {
        "predicted": str(stats["infer"]["ran"]),
        "judged": str(stats["judge"]["ran"]),
        "reused verdicts": str(stats["judge"]["reused"]),
        "accuracy": row[3],
    }


def records(folder: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in (folder / "qa.jsonl").read_text().splitlines()]


def write(folder: Path, recs: list[dict[str, str]]) -> None:
    (folder / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_a_corrected_reference_is_judged_again_and_a_moved_record_is_not(tmp_path: Path, dev: Dev) -> None:
    write_qa_run(tmp_path, dev.base_url, n=4)
    assert run(tmp_path) == {"predicted": "4", "judged": "4", "reused verdicts": "0", "accuracy": "0"}
    answers = {
        json.loads(x)["sample_id"]: json.loads(x)["text"]
        for x in (tmp_path / "results" / "echo" / "qa" / "predictions.jsonl").read_text().splitlines()
    }
    recs = records(tmp_path)
    recs[1]["answer"] = answers["qa:q1"]  # the reference now says what the model said: q1 is right
    write(tmp_path, recs)
    got = run(tmp_path)
    assert got == {"predicted": "0", "judged": "1", "reused verdicts": "3", "accuracy": "0.25"}

    write(tmp_path, [recs[3], recs[0], recs[1], recs[2]])  # reordered: every line number changed
    assert run(tmp_path) == {"predicted": "0", "judged": "0", "reused verdicts": "4", "accuracy": "0.25"}
