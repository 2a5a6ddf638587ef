"""The leaderboard on real runs: strict cells with CIs, the best in bold, ties by a paired test, coverage rule."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
from test_strict import QuizServer, quiz, setup  # noqa: F401  (the module-scoped server fixture)

from evalkit import results
from evalkit.cli import main
from evalkit.leaderboard import ranked


def test_leaderboard_ranks_strict_values_marks_ties_and_plots(tmp_path: Path, quiz: QuizServer) -> None:  # noqa: F811
    cfg = setup(tmp_path, quiz.base_url)
    work = tmp_path / "work"
    assert main(["--config", str(cfg), "--model", "clean", "flaky", "--work-dir", str(work), "--no-progress"]) == 0
    out = tmp_path / "board" / "LEADERBOARD.md"
    assert main(["leaderboard", "--config", str(cfg), "--work-dir", str(work), "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    table = [line for line in text.splitlines() if line.startswith("| clean") or line.startswith("| flaky")]
    # clean (0.30 strict) ranks first although flaky scores 0.5 over its answered samples
    assert table[0].startswith("| clean") and "**0.3**" in table[0] and "n=20" in table[0]
    # 0.25 vs 0.30 on 20 samples is no significant difference: flaky is marked as tied with the best
    assert "0.25 [" in table[1] and "(≈)" in table[1]
    assert "quiz (accuracy) ↑" in text and "mean rank" in text
    assert (tmp_path / "board" / "leaderboard_plots" / "quiz.exact-match.png").stat().st_size > 1000
    with (tmp_path / "board" / "leaderboard.csv").open(encoding="utf-8") as f:
        tidy = list(csv.DictReader(f))
    row = next(r for r in tidy if r["model"] == "flaky" and r["subset"] == "all" and r["metric"] == "accuracy")
    assert row["value"] == "0.25" and row["value_scored"] == "0.5" and row["primary"] == "True"
    df = results.load(work)
    assert set(df["model"]) == {"clean", "flaky"} and df["value"].dtype == float


def test_a_run_with_uncounted_failures_never_outranks_a_complete_run() -> None:
    rows = pd.DataFrame({"model": ["patchy", "full"], "value": [4.8, 3.1], "complete": [False, True]})
    assert list(ranked(rows, higher_is_better=True)["model"]) == ["full", "patchy"]
    wer = pd.DataFrame({"model": ["a", "b", "c"], "value": [0.2, 0.1, 0.05], "complete": [True, True, False]})
    assert list(ranked(wer, higher_is_better=False)["model"]) == ["b", "a", "c"]
