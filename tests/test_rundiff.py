"""evalkit.rundiff on hand-made run folders: manifest differences, then changed samples by impact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_compare import sample, write_run

from evalkit.errors import ConfigError
from evalkit.rundiff import Change, diff_runs, render_text


def _edit_manifest(run: Path, **changes: object) -> None:
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(json.dumps(manifest))


def test_manifest_differences_by_section_ignoring_times(tmp_path: Path) -> None:
    a = write_run(tmp_path / "old", "M", "ds", [sample("s0", 1)])
    b = write_run(tmp_path / "new", "M", "ds", [sample("s0", 1)])
    _edit_manifest(a, judges__jdg__started="2026-01-01", judges__jdg__wall_s=3.0)
    _edit_manifest(
        b,
        git_sha="2222222",
        packages={"numpy": "2.5.0", "jiwer": "4.0.0"},
        judges__jdg__prompt_hashes={"rubric": "def"},
        judges__jdg__started="2026-02-02",
        judges__jdg__wall_s=9.0,
        dataset__prompt_version="v2",
        config={"concurrency": 16},
    )
    d = diff_runs(a, b)
    assert list(d.changes) == [
        Change("config", "concurrency", 8, 16),
        Change("prompt hashes", "jdg.rubric", "abc", "def"),
        Change("packages", "jiwer", None, "4.0.0"),
        Change("packages", "numpy", "2.4.6", "2.5.0"),
        Change("git sha", "", "1111111", "2222222"),
        Change("dataset", "prompt_version", "v1", "v2"),
    ]
    text = render_text(d)
    assert "git sha:\n  1111111 -> 2222222" in text and "numpy: 2.4.6 -> 2.5.0" in text
    assert "started" not in text and "wall_s" not in text


def test_identical_runs(tmp_path: Path) -> None:
    rows = [sample("s0", 1), sample("s1", 0)]
    d = diff_runs(write_run(tmp_path / "a", "M", "ds", rows), write_run(tmp_path / "b", "M", "ds", rows))
    assert d.changes == () and d.flips == () and d.n_both == 2
    assert "manifest: no differences" in render_text(d)


def test_flips_sorted_by_impact_with_answers(tmp_path: Path) -> None:
    a_rows = [sample("s0", 1, score=5.0), sample("s1", 0, score=2.0), sample("s2", 1, score=4.0)]
    a_rows += [sample("s3", 1, score=3.0), sample("only_a", 1)]
    b_rows = [sample("s0", 1, score=4.5, answer="B says x"), sample("s1", 1, score=2.0), sample("s2", 1, score=1.0)]
    b_rows += [sample("s3", None, stage="predict"), sample("only_b", 1)]
    a = write_run(tmp_path / "a", "M", "ds", a_rows)
    b = write_run(tmp_path / "b", "M", "ds", b_rows)
    d = diff_runs(a, b)
    assert (d.judge, d.metric, d.values) == ("jdg", "accuracy", "strict")
    # strict accuracy: s1 0 -> 1, s3 1 -> failed (counted 0); s0 and s2 unchanged
    assert [(f.sample_id, f.value_a, f.value_b, f.delta) for f in d.flips] == [
        ("s1", 0.0, 1.0, 1.0),
        ("s3", 1.0, 0.0, -1.0),
    ]
    assert d.flips[1].state_b == "predict: TimeoutError: no answer"
    assert (d.only_a, d.only_b, d.n_both) == (("only_a",), ("only_b",), 4)
    scores = diff_runs(a, b, metric="score")
    assert [(f.sample_id, f.delta) for f in scores.flips] == [("s3", None), ("s2", -3.0), ("s0", -0.5)]
    text = render_text(scores)
    assert text.index("s3") < text.index("s2") < text.index("s0")
    assert "B says x" in text and "answer s0" in text
    assert "3 changed (2 down, 1 gained or lost a value), 1 only in A, 1 only in B" in text


def test_ratio_metric_compares_per_sample_rates(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", "M", "ds", [sample("s0", 1, wer=[1, 10]), sample("s1", 1, wer=[0, 5])])
    b = write_run(tmp_path / "b", "M", "ds", [sample("s0", 1, wer=[4, 10]), sample("s1", 1, wer=[0, 5])])
    d = diff_runs(a, b, metric="wer")
    assert [(f.sample_id, f.delta) for f in d.flips] == [("s0", pytest.approx(0.3))]


def test_a_failure_at_the_worst_value_is_listed(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", "M", "ds", [sample("s0", 0), sample("s1", 1)])
    b = write_run(tmp_path / "b", "M", "ds", [sample("s0", None, stage="predict"), sample("s1", 1)])
    d = diff_runs(a, b)
    assert [(f.sample_id, f.delta, f.state_b) for f in d.flips] == [("s0", 0.0, "predict: TimeoutError: no answer")]
    assert "1 changed (1 failed or recovered at the same value)" in render_text(d)


def test_long_lists_are_cut_and_answers_shortened(tmp_path: Path) -> None:
    long = "word " * 40
    a = write_run(tmp_path / "a", "M", "ds", [sample(f"s{i:02d}", 0, answer=long) for i in range(25)])
    b = write_run(tmp_path / "b", "M", "ds", [sample(f"s{i:02d}", 1) for i in range(25)])
    d = diff_runs(a, b)
    assert len(d.flips) == 25 and len(d.flips[0].answer_a) == 60
    assert render_text(d, limit=5).endswith("... 20 more changed samples")


def test_no_shared_judge_and_bad_choices(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", "M", "ds", [sample("s0", 1)], judge="j1")
    b = write_run(tmp_path / "b", "M", "ds", [sample("s0", 1)], judge="j2")
    d = diff_runs(a, b)
    assert d.judge is None and d.notes == ("no judge scored both runs: samples not compared",)
    assert "prompt hashes:" in render_text(d)
    with pytest.raises(ConfigError, match="has not scored both runs"):
        diff_runs(a, b, judge="j1")
    with pytest.raises(ConfigError, match="no run folder"):
        diff_runs(a, tmp_path / "missing")
