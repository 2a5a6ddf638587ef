"""compare, diff and --max-failed from the command line, on real runs against a loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_strict import QuizServer, quiz, setup  # noqa: F401  (the module-scoped server fixture)

from evalkit.cli import main


def test_compare_diff_and_max_failed(tmp_path: Path, quiz: QuizServer, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    cfg = setup(tmp_path, quiz.base_url)
    work = str(tmp_path / "work")
    base = ["--config", str(cfg), "--work-dir", work]
    # the flaky run lost 10 of 20 samples: over the 50% bar it exits 1, and says why
    assert main([*base, "--model", "clean", "flaky", "--no-progress", "--max-failed", "0.3"]) == 1
    out = capsys.readouterr()
    assert "flaky on quiz: 10 of 20 samples failed (50.0% > --max-failed 0.3)" in out.err
    assert "failed samples: 10 of 20" in out.out and "failed samples: 0 of 20" in out.out

    assert main([*base, "compare", "--dataset", "quiz", "--model", "clean", "flaky", "--json"]) == 0
    [comp] = json.loads(capsys.readouterr().out)
    assert (comp["model_a"], comp["model_b"], comp["metric"], comp["values"]) == (
        "clean",
        "flaky",
        "accuracy",
        "strict",
    )
    assert comp["paired"]["n"] == 20 and comp["paired"]["diff"] == pytest.approx(0.05)  # 0.30 - 0.25, failures as 0
    assert comp["paired"]["p_value"] > 0.05 and comp["paired"]["mde"] > 0.05
    assert main([*base, "compare", "--dataset", "quiz", "--model", "clean", "flaky"]) == 0
    assert "clean" in capsys.readouterr().out

    assert main([*base, "diff", f"{work}/clean/quiz", f"{work}/flaky/quiz"]) == 0
    text = capsys.readouterr().out
    assert "q0" in text and "answer 0" in text  # q0 was right in clean and failed in flaky


def test_diff_needs_two_folders(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["diff", str(tmp_path)]) == 2
    assert "diff needs two run folders" in capsys.readouterr().err
