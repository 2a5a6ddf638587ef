"""evalkit.stats: exact small cases, reproducibility, cluster resampling, Holm, and cheap seeded calibration."""

from __future__ import annotations

import numpy as np
import pytest

from evalkit import stats
from evalkit.stats import (
    SMALL_N,
    ci_mean,
    ci_ratio,
    ci_statistic,
    cluster_index,
    holm,
    mde,
    paired_ratio_test,
    paired_test,
    resample_sums,
)


def test_ci_mean_value_counts_and_method() -> None:
    rng = np.random.default_rng(3)
    x = rng.random(200)
    iv = ci_mean(x, n_resamples=500, seed=7)
    assert iv.value == pytest.approx(x.mean())
    assert (iv.n, iv.n_clusters) == (200, 200)
    assert iv.method == "bootstrap-t (500, seed 7)"
    assert iv.ci_low is not None and iv.ci_high is not None
    assert iv.ci_low < x.mean() < iv.ci_high
    assert iv.stderr == pytest.approx(x.std(ddof=1) / np.sqrt(200))
    assert iv.note == ""


def test_clustered_interval_names_clusters_and_is_wider_for_correlated_items() -> None:
    rng = np.random.default_rng(4)
    cl = np.repeat(np.arange(40), 10)
    x = np.repeat(rng.random(40), 10) + rng.normal(0, 0.01, 400)  # items of a cluster nearly equal
    iid, clus = ci_mean(x), ci_mean(x, cl)
    assert clus.method == "cluster bootstrap-t (1000, seed 0)"
    assert clus.n_clusters == 40 and clus.n == 400
    assert clus.stderr is not None and iid.stderr is not None
    assert clus.stderr > 2.5 * iid.stderr  # sqrt of the design effect, about sqrt(10)


def test_seed_reproduces_and_another_seed_differs() -> None:
    x = np.random.default_rng(5).random(100)
    assert ci_mean(x, seed=1) == ci_mean(x, seed=1)
    assert ci_mean(x, seed=1).ci_low != ci_mean(x, seed=2).ci_low
    a, b = x[:50], x[50:]
    assert paired_test(a, b, seed=3) == paired_test(a, b, seed=3)


def test_resample_sums_draw_whole_clusters_and_recompute_per_resample() -> None:
    cols = np.array([[1.0, 2.0], [10.0, 3.0], [100.0, 5.0]])
    sums = resample_sums(cols, 200, np.random.default_rng(0))
    idx = np.random.default_rng(0).integers(0, 3, size=(200, 3))  # the same draws, one row per resample
    np.testing.assert_allclose(sums, cols[idx].sum(axis=1))
    # each resample is 3 whole clusters: the first column's digits count how often each was drawn
    counts = np.stack([sums[:, 0] % 10, sums[:, 0] // 10 % 10, sums[:, 0] // 100], axis=1)
    assert np.all(counts.sum(axis=1) == 3)


def test_ratio_is_recomputed_on_each_resample_not_averaged_per_item() -> None:
    num = np.array([1.0] * 20 + [0.0] * 20)
    den = np.array([1.0] * 20 + [9.0] * 20)  # per-item rates average 0.5; the corpus ratio is 20/200
    iv = ci_ratio(num, den)
    assert iv.value == pytest.approx(0.1)
    assert iv.ci_low is not None and iv.ci_high is not None
    assert iv.ci_low < 0.1 < iv.ci_high < 0.3


def test_ci_statistic_receives_whole_clusters() -> None:
    cl = np.array(["a", "a", "b", "b", "b", "c"])
    seen: list[np.ndarray] = []

    def stat(idx: np.ndarray) -> float:
        seen.append(idx)
        return float(len(idx))

    iv = ci_statistic(6, stat, cl, n_resamples=50, seed=1)
    assert iv.value == 6.0 and iv.n_clusters == 3
    assert iv.method == "cluster bootstrap BCa (50, seed 1)"
    members = {"a": {0, 1}, "b": {2, 3, 4}, "c": {5}}
    for idx in seen[1:]:
        counts = np.bincount(idx, minlength=6)
        for items in members.values():
            assert len({int(counts[i]) for i in items}) == 1  # a cluster is drawn whole or not at all
    assert len(seen) == 1 + 50 + 3  # value, resamples, leave-one-cluster-out jackknife


def test_missing_intervals_say_why() -> None:
    empty = ci_mean([])
    assert empty.value is None and empty.note == "no scored items"
    one = ci_mean([0.7])
    assert one.value == 0.7 and one.ci_low is None and one.stderr is None and one.note == "1 item: no interval"
    same = ci_mean([1.0] * 12)
    assert same.value == 1.0 and same.ci_low is None and same.ci_high is None and same.stderr is None
    assert "no interval" in same.note
    one_cluster = ci_mean([0.0, 1.0, 1.0], ["v", "v", "v"])
    assert one_cluster.ci_low is None and one_cluster.note == "1 cluster: no interval"
    zero_den = ci_ratio([0.0, 0.0], [0.0, 0.0])
    assert zero_den.value is None and "denominator is 0" in zero_den.note


def test_small_n_is_noted_but_interval_given() -> None:
    iv = ci_mean(np.arange(SMALL_N - 1, dtype=float))
    assert iv.ci_low is not None and iv.method.startswith("bootstrap BCa")
    assert iv.note == f"small n: {SMALL_N - 1} items (< {SMALL_N}), interval approximate"


def test_nan_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        ci_mean([1.0, float("nan")])
    with pytest.raises(ValueError, match="2 keys for 3 items"):
        cluster_index(3, ["a", "b"])


def test_accuracy_interval_stays_inside_the_metric_range() -> None:
    x = np.array([1.0] * 48 + [0.0] * 2)
    iv = ci_mean(x)
    assert iv.ci_high is not None and iv.ci_high <= 1.0


def test_paired_sign_flip_exact_p_values() -> None:
    p = paired_test([1, 1, 1, 1], [0, 0, 0, 0])
    assert p.method == "sign-flip (exact, 16)"
    assert p.p_value == pytest.approx(2 / 16)  # all-plus and all-minus reach |diff| = 1
    assert p.diff == 1.0 and p.favours == "a" and p.n == 4
    clustered = paired_test([1, 1, 1, 1], [0, 0, 0, 0], ["x", "x", "y", "y"])
    assert clustered.method == "cluster sign-flip (exact, 4)"
    assert clustered.p_value == pytest.approx(2 / 4)
    lower = paired_test([1, 1, 1, 1], [0, 0, 0, 0], higher_is_better=False)
    assert lower.favours == "b"


def test_paired_identical_runs() -> None:
    p = paired_test([0.2, 0.5, 0.9], [0.2, 0.5, 0.9])
    assert p.diff == 0.0 and p.p_value == 1.0 and p.favours == "" and p.mde is None
    assert p.ci_low is None and "equal" in p.note


def test_paired_ratio_difference_and_direction() -> None:
    got = paired_ratio_test([1, 2, 0, 3], [10, 10, 10, 10], [2, 2, 1, 5], [10, 10, 10, 10])
    assert got.value_a == pytest.approx(0.15) and got.value_b == pytest.approx(0.25)
    assert got.diff == pytest.approx(-0.1)
    assert got.favours == "a"  # lower WER is better
    mixed = paired_ratio_test([1, 2, 0, 3], [10, 10, 10, 10], [2, 2, 1, 5], [10, 12, 8, 10])
    assert mixed.value_b == pytest.approx(10 / 40) and mixed.ci_method.startswith("paired bootstrap BCa")


def test_paired_needs_same_items() -> None:
    with pytest.raises(ValueError, match="same items"):
        paired_test([1.0, 2.0], [1.0])


def test_mde_formula() -> None:
    assert mde(1.0, 100_000) == pytest.approx(1.95996 + 0.84162, abs=1e-3)
    assert mde(0.1, 10) == pytest.approx(0.1 * (2.26216 + 0.88340), abs=1e-4)
    assert mde(None, 50) is None and mde(1.0, 1) is None


def test_holm_against_hand_computation() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.5]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def _null_pair(rng: np.random.Generator, k: int = 30, m: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cl = np.repeat(np.arange(k), m)
    shared = rng.normal(0, 1, k)[cl] + rng.normal(0, 0.5, k * m)
    luck = rng.normal(0, 0.8, (2, k))[:, cl]
    a = (shared + luck[0] + rng.normal(0, 1, k * m) > 0).astype(float)
    b = (shared + luck[1] + rng.normal(0, 1, k * m) > 0).astype(float)
    return a, b, cl


def test_clustered_test_keeps_its_level_where_ignoring_clusters_does_not() -> None:
    rng = np.random.default_rng(2026)
    clustered = naive = 0
    for s in range(200):
        a, b, cl = _null_pair(rng)
        clustered += (paired_test(a, b, cl, n_resamples=500, seed=s).p_value or 1) < 0.05
        naive += (paired_test(a, b, None, n_resamples=500, seed=s).p_value or 1) < 0.05
    assert clustered / 200 <= 0.09  # 5 % expected; binomial sd 1.5 %
    assert naive / 200 >= 0.12


def test_clustered_interval_covers_the_true_mean() -> None:
    rng = np.random.default_rng(11)
    cl = np.repeat(np.arange(40), 6)
    hits = 0
    for s in range(200):
        x = 0.5 + rng.normal(0, 1, 40)[cl] + rng.normal(0, 1, cl.size)
        iv = ci_mean(x, cl, n_resamples=500, seed=s)
        hits += iv.ci_low is not None and iv.ci_high is not None and iv.ci_low <= 0.5 <= iv.ci_high
    assert 0.9 <= hits / 200 <= 0.99


def test_paired_interval_agrees_with_the_test() -> None:
    rng = np.random.default_rng(8)
    cl = np.repeat(np.arange(20), 5)
    agree = 0
    for shift in np.linspace(0, 0.6, 13):
        a = rng.normal(0, 1, 20)[cl] + rng.normal(0, 1, 100)
        b = a - shift + rng.normal(0, 1, 20)[cl]
        p = paired_test(a, b, cl, n_resamples=400)
        assert p.ci_low is not None and p.ci_high is not None and p.p_value is not None
        assert p.ci_low < (p.diff or 0) < p.ci_high
        agree += (p.ci_low > 0 or p.ci_high < 0) == (p.p_value < 0.05)
    assert agree == 13
    assert paired_test(a, b, cl, n_resamples=400).ci_method == "paired cluster sign-flip inversion (400, seed 0)"


def test_paired_interval_needs_enough_clusters() -> None:
    p = paired_test([1, 2, 1, 3], [0, 0, 0, 0])
    assert p.ci_low is None and p.ci_high is None and p.mde is not None
    assert p.note == "too few items (4) for a 95% interval: no flip pattern is extreme enough"
    three = paired_test([1.0] * 12, [0.0] * 9 + [1.0] * 3, np.repeat(["u", "v", "w", "x"], 3))
    # three clusters favour A, one ties: 4 of 16 flips as extreme; a bootstrap interval would exclude 0
    assert three.p_value == pytest.approx(4 / 16) and three.ci_low is None


def test_results_are_python_floats() -> None:
    iv = ci_mean(np.random.default_rng(1).random(50))
    p = paired_test(np.arange(40.0), np.arange(40.0)[::-1])
    for x in (iv.value, iv.stderr, iv.ci_low, iv.ci_high, p.diff, p.stderr, p.p_value, p.mde, p.ci_low):
        assert type(x) is float


def test_many_clusters_use_the_cluster_robust_clt_which_agrees_with_the_bootstrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    v = (rng.random(18_000) < 0.3).astype(float)
    clusters = np.arange(v.size) // 3  # 6,000 clusters of 3
    clt = stats.ci_mean(v, clusters)
    assert clt.method.startswith("CLT, cluster-robust (6000 clusters")
    monkeypatch.setattr(stats, "CLT_MIN_CLUSTERS", 10**9)
    boot = stats.ci_mean(v, clusters)
    assert boot.method.startswith("cluster bootstrap")
    assert clt.stderr == pytest.approx(boot.stderr, rel=1e-9)  # the same cluster-robust standard error
    assert abs(clt.ci_low - boot.ci_low) < 0.25 * clt.stderr and abs(clt.ci_high - boot.ci_high) < 0.25 * clt.stderr
