"""evalkit.compare on hand-made run folders (manifest.json + samples.<judge>.jsonl, as the job writes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.compare import compare_runs, render_json, render_text
from evalkit.errors import ConfigError
from evalkit.stats import holm

METRICS = {
    "accuracy": {"higher_is_better": True, "worst": 0.0, "kind": "mean", "primary": True},
    "score": {"higher_is_better": True, "worst": None, "kind": "mean", "primary": False},
    "wer": {"higher_is_better": False, "worst": None, "kind": "ratio", "primary": False},
}


def sample(sid: str, acc: float | None = None, *, cluster: str = "", stage: str = "", **extra: Any) -> dict[str, Any]:
    """One line of samples.<judge>.jsonl; ``acc`` None with a stage is a failed sample (strict: worst 0)."""
    scores = {} if acc is None else {"accuracy": acc}
    scores.update({k: v for k, v in extra.items() if k in ("score",)})
    strict = dict(scores) if not stage else {"accuracy": 0.0}
    row = {
        "sample_id": sid,
        "cluster": cluster or sid,
        "meta": {},
        "stage": stage,
        "reason": "TimeoutError: no answer" if stage else "",
        "scores": scores,
        "strict": strict,
        "ratio": {"wer": extra["wer"]} if "wer" in extra else {},
        "answer": extra.get("answer", f"answer {sid}"),
        "reference": "ref",
    }
    return row


def write_run(
    work: Path,
    model: str,
    dataset: str,
    rows: list[dict[str, Any]],
    judge: str = "jdg",
    *,
    prompt_version: str = "v1",
    manifest: dict[str, Any] | None = None,
) -> Path:
    """A run folder ``work/model/dataset`` with a manifest and one judge's samples file."""
    run = work / model / dataset
    run.mkdir(parents=True, exist_ok=True)
    base = {
        "model": {"name": model, "identity": {"backend": "X", "options": {"model": model}}},
        "dataset": {"name": dataset, "class": "D", "prompt_version": prompt_version, "samples": len(rows)},
        "judges": {
            judge: {
                "identity": {"judge": "J", "version": 1},
                "prompt_hashes": {"rubric": "abc"},
                "metrics": METRICS,
            }
        },
        "config": {"concurrency": 8},
        "packages": {"numpy": "2.4.6"},
        "git_sha": "1111111",
    }
    (run / "manifest.json").write_text(json.dumps(manifest or base), encoding="utf-8")
    (run / f"samples.{judge}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return run


def test_default_metric_is_primary_and_exact_p(tmp_path: Path) -> None:
    write_run(tmp_path, "A", "ds", [sample(f"s{i}", v) for i, v in enumerate([1, 1, 1, 1, 0, 1])])
    write_run(tmp_path, "B", "ds", [sample(f"s{i}", v) for i, v in enumerate([0, 0, 0, 0, 0, 1])])
    (c,) = compare_runs(tmp_path, ["ds"], ["A", "B"])
    assert (c.metric, c.values, c.judge, c.model_a, c.model_b) == ("accuracy", "strict", "jdg", "A", "B")
    assert c.paired.value_a == pytest.approx(5 / 6) and c.paired.value_b == pytest.approx(1 / 6)
    assert c.paired.diff == pytest.approx(4 / 6)
    # 4 items differ, all in A's favour: 2 of their 16 sign patterns reach |diff|, times 4 for the ties
    assert c.paired.p_value == pytest.approx(8 / 64) and c.p_holm == pytest.approx(8 / 64)
    assert c.paired.n == 6 and c.dropped == {} and c.warnings == ()


def test_strict_counts_failures_as_worst_and_scores_drop_them(tmp_path: Path) -> None:
    a_rows = [sample("s0", 1, score=4.0), sample("s1", None, stage="predict"), sample("s2", 1, score=5.0)]
    a_rows.append(sample("s3", 1, score=3.0))
    b_rows = [sample("s0", 0, score=2.0), sample("s1", 1, score=4.0), sample("s2", 1, score=5.0)]
    b_rows.append(sample("s9", 1, score=1.0))
    write_run(tmp_path, "A", "ds", a_rows)
    write_run(tmp_path, "B", "ds", b_rows)
    (acc,) = compare_runs(tmp_path, ["ds"], ["A", "B"])
    assert acc.paired.n == 3 and acc.worst_a == 1 and acc.worst_b == 0
    assert acc.paired.value_a == pytest.approx(2 / 3)  # s0 1, s1 failed -> 0, s2 1
    assert acc.dropped == {"missing from B": 1, "missing from A": 1}
    (score,) = compare_runs(tmp_path, ["ds"], ["A", "B"], metric="score")
    assert score.values == "scores" and score.paired.n == 2
    assert score.dropped == {"failed in A": 1, "missing from B": 1, "missing from A": 1}
    assert score.paired.diff == pytest.approx(((4 + 5) - (2 + 5)) / 2)


def test_ratio_metric_pools_numerators_and_denominators(tmp_path: Path) -> None:
    write_run(tmp_path, "A", "ds", [sample("s0", 1, wer=[1, 10]), sample("s1", 1, wer=[0, 30])])
    write_run(tmp_path, "B", "ds", [sample("s0", 1, wer=[5, 10]), sample("s1", 1, wer=[3, 30])])
    (c,) = compare_runs(tmp_path, ["ds"], ["A", "B"], metric="wer")
    assert c.values == "ratio" and not c.higher_is_better
    assert c.paired.value_a == pytest.approx(1 / 40) and c.paired.value_b == pytest.approx(8 / 40)
    assert c.paired.favours == "a"


def test_clusters_come_from_the_samples(tmp_path: Path) -> None:
    rows_a = [sample(f"s{i}", i % 2, cluster=f"video{i // 3}") for i in range(12)]
    rows_b = [sample(f"s{i}", 0, cluster=f"video{i // 3}") for i in range(12)]
    write_run(tmp_path, "A", "ds", rows_a)
    write_run(tmp_path, "B", "ds", rows_b)
    (c,) = compare_runs(tmp_path, ["ds"], ["A", "B"])
    assert c.paired.n == 12 and c.paired.n_clusters == 4
    assert c.paired.method == "cluster sign-flip (exact, 16)"


def test_warns_when_prompt_version_or_judge_differs(tmp_path: Path) -> None:
    write_run(tmp_path, "A", "ds", [sample("s0", 1), sample("s1", 0)])
    write_run(tmp_path, "B", "ds", [sample("s0", 1), sample("s1", 1)], prompt_version="v2")
    (c,) = compare_runs(tmp_path, ["ds"], ["A", "B"])
    assert any("dataset prompt version differs" in w and "'v1' vs 'v2'" in w for w in c.warnings)
    text = render_text([c])
    assert "WARNING: dataset prompt version differs between A and B" in text


def test_judge_choice(tmp_path: Path) -> None:
    write_run(tmp_path, "A", "ds", [sample("s0", 1)], judge="j1")
    write_run(tmp_path, "B", "ds", [sample("s0", 1)], judge="j2")
    with pytest.raises(ConfigError, match="no judge has scored every run"):
        compare_runs(tmp_path, ["ds"], ["A", "B"])
    for model in ("A", "B"):
        manifest = json.loads((tmp_path / model / "ds" / "manifest.json").read_text())
        other = "j2" if model == "A" else "j1"
        manifest["judges"][other] = manifest["judges"][f"j{1 if model == 'A' else 2}"]
        write_run(tmp_path, model, "ds", [sample("s0", 1)], judge=other, manifest=manifest)
    with pytest.raises(ConfigError, match="share judges j1, j2: choose one with --judge"):
        compare_runs(tmp_path, ["ds"], ["A", "B"])
    (c,) = compare_runs(tmp_path, ["ds"], ["A", "B"], judge="j2")
    assert c.judge == "j2"
    with pytest.raises(ConfigError, match="has no metric 'bleu'"):
        compare_runs(tmp_path, ["ds"], ["A", "B"], metric="bleu", judge="j2")


def test_missing_run_is_a_config_error(tmp_path: Path) -> None:
    write_run(tmp_path, "A", "ds", [sample("s0", 1)])
    with pytest.raises(ConfigError, match="no run folder"):
        compare_runs(tmp_path, ["ds"], ["A", "B"])


def test_holm_over_datasets_and_baseline_pairs(tmp_path: Path) -> None:
    for ds, flips in (("d1", 9), ("d2", 3)):
        write_run(tmp_path, "base", ds, [sample(f"s{i}", 0) for i in range(10)])
        write_run(tmp_path, "M1", ds, [sample(f"s{i}", int(i < flips)) for i in range(10)])
        write_run(tmp_path, "M2", ds, [sample(f"s{i}", int(i < flips - 1)) for i in range(10)])
    got = compare_runs(tmp_path, ["d1", "d2"], ["M1", "M2", "base"], baseline="base")
    assert [(c.dataset, c.model_a, c.model_b) for c in got] == [
        ("d1", "base", "M1"),
        ("d1", "base", "M2"),
        ("d2", "base", "M1"),
        ("d2", "base", "M2"),
    ]
    raw = [c.paired.p_value or 1.0 for c in got]
    assert [c.p_holm for c in got] == pytest.approx(holm(raw))
    assert all(c.paired.favours == "b" for c in got)
    pairs = compare_runs(tmp_path, ["d1"], ["M1", "M2", "base"])
    assert [(c.model_a, c.model_b) for c in pairs] == [("M1", "M2"), ("M1", "base"), ("M2", "base")]


def test_renderers(tmp_path: Path) -> None:
    write_run(tmp_path, "A", "ds", [sample(f"s{i}", int(i < 30)) for i in range(40)])
    write_run(tmp_path, "B", "ds", [sample(f"s{i}", int(i < 10)) for i in range(40)])
    comps = compare_runs(tmp_path, ["ds"], ["A", "B"])
    text = render_text(comps)
    assert "A vs B" in text and "accuracy ↑" in text and "A better" in text
    assert "0.75" in text and "0.25" in text and "p Holm" in text
    (row,) = json.loads(render_json(comps))
    assert row["paired"]["diff"] == pytest.approx(0.5)
    assert row["paired"]["p_value"] < 0.01 and row["p_holm"] == row["paired"]["p_value"]
    assert row["dropped"] == {} and row["warnings"] == []


def test_too_few_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two models"):
        compare_runs(tmp_path, ["ds"], ["A"])
