"""A rerun that computed nothing new leaves samples.<judge>.jsonl and the exports as they are, and any change to
what they depend on makes it write them again."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from support import Dev

from evalkit.cli import main

OUTPUTS = (
    "samples.exact-match.jsonl",
    "scored.exact-match.jsonl",
    "scored.exact-match.lines.jsonl",
    "scored.exact-match/qa.jsonl",
)


def write_run(folder: Path, base_url: str, n: int = 5, ignore_case: bool = True) -> None:
    with (folder / "qa.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "question": f"{i}+0?", "answer": str(i)}) + "\n")
    (folder / "config.yaml").write_text(
        textwrap.dedent(
            f"""
            dataset_root: .
            work_dir: results
            models:
              echo: {{backend: openai, base_url: "{base_url}", model: echo}}
            datasets:
              qa: {{class: qa, files: [qa.jsonl], judge: exact-match}}
            judges:
              exact-match: {{class: exact-match, ignore_case: {str(ignore_case).lower()}}}
            """
        )
    )


def run(folder: Path, *extra: str) -> None:
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["--model", "echo", "--dataset", "qa", "--no-progress", *extra]) == 0
    finally:
        os.chdir(cwd)


def stamps(folder: Path) -> dict[str, int]:
    """Output file -> its modification time in ns (a rewrite replaces the file: a new mtime and inode)."""
    run_dir = folder / "results" / "echo" / "qa"
    return {name: (run_dir / name).stat().st_mtime_ns for name in OUTPUTS}


@pytest.fixture
def folder(tmp_path: Path, dev: Dev) -> Path:
    write_run(tmp_path, dev.base_url)
    run(tmp_path)
    return tmp_path


def test_a_rerun_with_nothing_new_leaves_the_outputs_and_reports_the_same(folder: Path) -> None:
    run_dir = folder / "results" / "echo" / "qa"
    before = {name: (run_dir / name).read_bytes() for name in OUTPUTS}
    first = stamps(folder)
    report = (run_dir / "report.csv").stat().st_mtime_ns
    run(folder)  # reuses everything
    assert stamps(folder) == first  # nothing new since the first run wrote them: untouched
    run(folder)
    assert stamps(folder) == first
    assert {name: (run_dir / name).read_bytes() for name in OUTPUTS} == before
    assert (run_dir / "report.csv").stat().st_mtime_ns != report  # reports are always written (small)


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
        write_run(folder, dev.base_url, ignore_case=False)
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
