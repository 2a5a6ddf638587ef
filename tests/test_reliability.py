"""Reliability figures of a judge: Krippendorff's alpha against published values, MAD, agreement, CSV rows."""

from __future__ import annotations

import asyncio
import csv
import math
from pathlib import Path

import pytest
from scipy import stats
from support import Dev, code_record, write_config, write_records

from evalkit.cli import main
from evalkit.judges.base import Judge, Scored
from evalkit.judges.reliability import (
    RELIABILITY_FIELDS,
    agreement,
    failure_rates,
    krippendorff_alpha,
    mean_abs_deviation,
    reference_scores,
    reliability_rows,
    repeat_judgments,
    repeat_sample_ids,
)
from evalkit.types import Part, Prediction, Sample, Verdict

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders x 12 units with missing values
CODERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]
UNITS = [list(u) for u in zip(*CODERS, strict=True)]


def test_alpha_matches_the_published_example() -> None:
    assert krippendorff_alpha(UNITS, "interval") == pytest.approx(0.849, abs=5e-4)
    assert krippendorff_alpha(UNITS, "ordinal") == pytest.approx(0.815, abs=5e-4)


def test_alpha_is_one_for_identical_repeats_and_undefined_without_variation() -> None:
    assert krippendorff_alpha([[1, 1, 1], [3, 3, 3], [5, 5, N]], "ordinal") == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha([[4, 4], [4, 4]]))
    assert math.isnan(krippendorff_alpha([[1], [5]]))  # no unit holds two ratings
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(UNITS, "ratio")


def test_mad_of_repeats() -> None:
    assert mean_abs_deviation([[2, 4], [3, 3, 3], [1]]) == pytest.approx((1.0 + 0.0) / 2)


def test_agreement_figures_and_their_intervals() -> None:
    judge = [1, 2, 3, 4, 5, 4, 3, 2, 5, 1]
    ref = [1, 2, 4, 4, 5, 3, 3, 1, 5, 2]
    got = {s.statistic: s for s in agreement(judge, ref, "coherence", n_boot=300)}
    assert got["exact_agreement"].value == pytest.approx(0.6)
    assert got["within1_agreement"].value == pytest.approx(1.0)
    assert got["spearman"].value == pytest.approx(stats.spearmanr(judge, ref).statistic)
    assert got["kendall_tau"].value == pytest.approx(stats.kendalltau(judge, ref).statistic)
    for s in got.values():
        assert s.n == 10 and s.ci_low <= s.value <= s.ci_high
    with pytest.raises(ValueError, match="reference scores"):
        agreement([1, 2], [1], "coherence")


def test_failure_rates_count_missing_metrics_per_criterion() -> None:
    rates = {s.metric: s.value for s in failure_rates([{"a": 1, "b": 2}, {"a": 3}, {}, {"a": 2, "b": 5}], ["a", "b"])}
    assert rates == {"a": 0.25, "b": 0.5}


def test_reliability_rows_have_the_csv_fields() -> None:
    scores = {"s1": {"coherence": 4.0}, "s2": {"coherence": 2.0}, "s3": {}, "s4": {"coherence": 5.0}}
    repeats = {"s1": [{"coherence": 4.0}, {"coherence": 5.0}], "s2": [{"coherence": 2.0}, {"coherence": 2.0}]}
    ref = {"s1": 4.0, "s2": 3.0, "s4": 5.0}
    rows = reliability_rows("coh", ["coherence"], scores, repeats, {k: {"coherence": v} for k, v in ref.items()})
    assert all(tuple(r) == RELIABILITY_FIELDS for r in rows)
    by = {r["statistic"]: r for r in rows}
    assert by["parse_failure_rate"]["value"] == "0.2500" and by["parse_failure_rate"]["n"] == "4"
    assert by["mad"]["value"] == "0.2500" and by["exact_agreement"]["n"] == "3"


class _Dice(Judge):
    """A judge whose coherence cycles 3, 4, 3, 4 ... per call."""

    metrics = ("coherence",)

    def __init__(self) -> None:
        super().__init__("dice", None, None)  # type: ignore[arg-type]
        self.calls = 0

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        self.calls += 1
        return Scored(scores={"coherence": 3.0 + self.calls % 2})


def test_repeated_judgments_make_k_minus_one_extra_calls_per_chosen_sample() -> None:
    samples = {f"s{i}": Sample(f"s{i}", (Part("text", "q"),), (), {"score": i % 5 + 1}) for i in range(30)}
    preds = {sid: Prediction(sid, "m", f"k{sid}", text="a") for sid in samples}
    verdicts = {sid: Verdict(sid, "dice", "v", f"k{sid}", scores={"coherence": 3.0}) for sid in samples}
    verdicts["s0"] = Verdict("s0", "dice", "v", "ks0", parse_status="unparseable", error="x")
    ids = repeat_sample_ids(verdicts, n=20, seed=1)
    assert len(ids) == 20 and "s0" not in ids and ids == repeat_sample_ids(verdicts, n=20, seed=1)
    judge = _Dice()
    repeats = asyncio.run(repeat_judgments(judge, samples, preds, verdicts, ids, k=3))
    assert judge.calls == 40 and all(len(r) == 3 and r[0] == {"coherence": 3.0} for r in repeats.values())
    refs = reference_scores(list(samples.values()), ["coherence"])
    assert refs["s7"] == {"coherence": 3.0} and len(refs) == 30
    tool = Sample("t", (Part("text", "q"),), (), {"score": {"coherence": 4, "style_consistency": "x", "other": 1}})
    assert reference_scores([tool], ["coherence", "style_consistency"]) == {"t": {"coherence": 4.0}}


def test_a_judged_run_writes_reliability_csv_and_announces_its_extra_calls(
    tmp_path: Path, dev: Dev, capsys: pytest.CaptureFixture
) -> None:
    recs = [code_record(i) | {"score": {"coherence": 1 + i % 5, "style_consistency": 3}} for i in range(6)]
    write_records(tmp_path / "data" / "a.jsonl", recs)
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress", "--reliability-samples", "4"]) == 0
    assert "reliability: 8 extra judge calls (2 more judgments of 4 samples" in capsys.readouterr().err
    assert dev.requests("judge-json") == 1 + 6 + 8  # reply-format probe, 6 verdicts, (3 - 1) x 4 repeats
    with (tmp_path / "results/echo/ds/reliability.csv").open(encoding="utf-8") as f:
        rows = {(r["metric"], r["statistic"]): r for r in csv.DictReader(f)}
    assert rows[("coherence", "parse_failure_rate")]["value"] == "0.0000"
    assert rows[("coherence", "alpha_interval")]["n"] == "4"
    assert rows[("coherence", "spearman")]["n"] == "6"  # against the records' own scores
    # a rerun that judges nothing keeps the file and makes no call
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    assert dev.requests("judge-json") == 15 and "reliability:" not in capsys.readouterr().err
