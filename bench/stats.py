"""Calibration and speed of evalkit.stats: type-I error, CI coverage, MDE vs simulated power, timing.

What it measures, on simulated data with clustered items (``--clusters`` clusters x ``--per-cluster`` items,
default 50 x 10), every simulation drawn from one ``numpy.random.default_rng(--seed)``:

- **type-I error**: ``--sims`` null paired comparisons of a binary metric (accuracy). Item ``i`` of cluster
  ``c`` is correct for model X when ``u_c + v_Xc + e_i + eps_Xi > 0`` (probit): ``u_c`` ~ N(0, 1) is the
  cluster's difficulty, ``v_Xc`` ~ N(0, 0.8) the model's own luck on that cluster (a video it happens to
  understand), ``e_i`` ~ N(0, 0.5) the item's difficulty, ``eps_Xi`` ~ N(0, 1) noise. Both models have the same
  distribution, so every rejection at alpha = 0.05 is a false positive. Printed: evalkit's
  :func:`paired_test` with the cluster key, the naive i.i.d. bootstrap test (items resampled, p = twice the
  smaller tail of the bootstrap differences beyond 0), and evalkit's test without the cluster key;
- **coverage** of 95 % intervals over ``--sims`` samples: :func:`ci_mean` (cluster key) of the same accuracy
  (true value Phi(0.3 / sqrt(1 + 1 + 0.25)), closed form), and :func:`ci_ratio` of a corpus WER, where
  reference lengths are 1 + Poisson(lambda_c) with a per-clip lambda_c = 12 exp(0.5 z_c) and word errors
  Binomial(length, Phi(-1.2 + u_c + e_i)) with u_c = 0.6 z_c + N(0, 0.6): longer clips are harder, so the
  corpus ratio differs from the mean of per-item rates; its true value is computed from 4,000,000 simulated
  clusters;
- **coverage of the paired difference's interval** (inverted sign-flip test), ``--sims`` comparisons of the
  accuracy above where model A's probit is shifted by 0.15 (true difference from the closed form);
- **power**: a continuous per-item score (a judge's 1-5 scale): ``u_c + v_Xc + e_i + eps_Xi`` with the SDs
  above, run B shifted by delta. The MDE evalkit reports (mean over the null simulations) is compared with the
  delta at which the simulated power of the same test reaches 80 % (``--power-sims`` simulations at each of
  0.6, 0.8, 1.0, 1.2 and 1.4 x the MDE, linearly interpolated), and the power at delta = MDE is printed;
- **timing**: :func:`ci_mean` on 10,000 values x 1,000 resamples (without and with 1,000 clusters),
  :func:`ci_ratio` and :func:`paired_test` on the same, median of 5 runs.

Goals (issue 8): type-I error <= 6 %; coverage 93-97 %; MDE within +-20 % of the simulated 80 %-power effect;
10,000 x 1,000 well under a second. Prints a table of figures and ``goal met`` / ``goal missed`` per line; exits
non-zero only on a crash.

Run: ``python bench/stats.py [--sims 1000] [--power-sims 400] [--clusters 50] [--per-cluster 10]
[--resamples 1000] [--seed 0] [--timing-only]`` (about a minute on one idle core).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import ndtr

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing evalkit
    sys.path.insert(0, str(REPO))

from evalkit.stats import ci_mean, ci_ratio, paired_test, resample_sums  # noqa: E402

SD_CLUSTER, SD_MODEL_CLUSTER, SD_ITEM = 1.0, 0.8, 0.5
ACC_SHIFT = 0.3


class Design:
    """Cluster layout of a simulated dataset."""

    def __init__(self, clusters: int, per_cluster: int) -> None:
        self.k, self.m = clusters, per_cluster
        self.cluster = np.repeat(np.arange(clusters), per_cluster)

    def latent(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Shared cluster + item effects and each model's cluster luck: (shared, luck of A and B)."""
        shared = rng.normal(0, SD_CLUSTER, self.k)[self.cluster] + rng.normal(0, SD_ITEM, self.k * self.m)
        luck = rng.normal(0, SD_MODEL_CLUSTER, (2, self.k))[:, self.cluster]
        return shared, luck


def naive_bootstrap_p(a: np.ndarray, b: np.ndarray, n_resamples: int, rng: np.random.Generator) -> float:
    """The i.i.d. bootstrap test that ignores clusters: items resampled, two-sided tail beyond 0."""
    d = (a - b)[:, None]
    boot = resample_sums(d, n_resamples, rng)[:, 0]
    return float(min(1.0, 2 * min(np.mean(boot <= 0), np.mean(boot >= 0))))


def type1(design: Design, sims: int, resamples: int, rng: np.random.Generator) -> dict[str, float]:
    """Rejection rates at alpha 0.05 over null comparisons of a clustered binary metric."""
    hits = {"evalkit": 0, "naive": 0, "noclust": 0}
    for s in range(sims):
        shared, luck = design.latent(rng)
        a = (ACC_SHIFT + shared + luck[0] + rng.normal(0, 1, shared.size) > 0).astype(float)
        b = (ACC_SHIFT + shared + luck[1] + rng.normal(0, 1, shared.size) > 0).astype(float)
        hits["evalkit"] += (paired_test(a, b, design.cluster, n_resamples=resamples, seed=s).p_value or 1) < 0.05
        hits["noclust"] += (paired_test(a, b, None, n_resamples=resamples, seed=s).p_value or 1) < 0.05
        hits["naive"] += naive_bootstrap_p(a, b, resamples, rng) < 0.05
    return {key: v / sims for key, v in hits.items()}


def covers(lo: float | None, hi: float | None, truth: float) -> bool:
    return lo is not None and hi is not None and lo <= truth <= hi


def coverage_accuracy(design: Design, sims: int, resamples: int, rng: np.random.Generator) -> float:
    truth = float(ndtr(ACC_SHIFT / np.sqrt(1 + SD_CLUSTER**2 + SD_ITEM**2)))
    got = 0
    for s in range(sims):
        shared = rng.normal(0, SD_CLUSTER, design.k)[design.cluster] + rng.normal(0, SD_ITEM, design.cluster.size)
        x = (ACC_SHIFT + shared + rng.normal(0, 1, shared.size) > 0).astype(float)
        iv = ci_mean(x, design.cluster, n_resamples=resamples, seed=s)
        got += covers(iv.ci_low, iv.ci_high, truth)
    return got / sims


def coverage_paired(design: Design, sims: int, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    """Coverage of the paired difference's interval when model A is better (probit shift 0.15)."""
    scale = np.sqrt(1 + SD_CLUSTER**2 + SD_MODEL_CLUSTER**2 + SD_ITEM**2)
    truth = float(ndtr((ACC_SHIFT + 0.15) / scale) - ndtr(ACC_SHIFT / scale))
    got = 0
    for s in range(sims):
        shared, luck = design.latent(rng)
        a = (ACC_SHIFT + 0.15 + shared + luck[0] + rng.normal(0, 1, shared.size) > 0).astype(float)
        b = (ACC_SHIFT + shared + luck[1] + rng.normal(0, 1, shared.size) > 0).astype(float)
        p = paired_test(a, b, design.cluster, n_resamples=resamples, seed=s)
        got += covers(p.ci_low, p.ci_high, truth)
    return got / sims, truth


def wer_items(n_clusters: int, per_cluster: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(word errors, reference words) per item; clusters are consecutive runs of ``per_cluster`` items."""
    z = rng.normal(0, 1, n_clusters)
    lam = np.repeat(12 * np.exp(0.5 * z), per_cluster)
    u = np.repeat(0.6 * z + rng.normal(0, 0.6, n_clusters), per_cluster)
    words = 1 + rng.poisson(lam)
    errors = rng.binomial(words, ndtr(-1.2 + u + rng.normal(0, SD_ITEM, words.size)))
    return errors.astype(float), words.astype(float)


def coverage_wer(design: Design, sims: int, resamples: int, rng: np.random.Generator) -> tuple[float, float]:
    errs, words = np.zeros(2)
    for _ in range(20):  # 4,000,000 clusters of one item each: the population ratio
        e, w = wer_items(200_000, 1, rng)
        errs, words = errs + e.sum(), words + w.sum()
    truth = float(errs / words)
    got = 0
    for s in range(sims):
        e, w = wer_items(design.k, design.m, rng)
        iv = ci_ratio(e, w, design.cluster, n_resamples=resamples, seed=s)
        got += covers(iv.ci_low, iv.ci_high, truth)
    return got / sims, truth


def scores(design: Design, delta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shared, luck = design.latent(rng)
    a = 3 + shared + luck[0] + rng.normal(0, 1, shared.size)
    b = 3 + delta + shared + luck[1] + rng.normal(0, 1, shared.size)
    return a, b


def power_check(design: Design, sims: int, power_sims: int, resamples: int, rng: np.random.Generator) -> dict:
    mdes = []
    for s in range(sims):
        a, b = scores(design, 0.0, rng)
        got = paired_test(a, b, design.cluster, n_resamples=resamples, seed=s).mde
        if got is not None:
            mdes.append(got)
    reported = float(np.mean(mdes))
    factors = (0.6, 0.8, 1.0, 1.2, 1.4)
    powers = []
    for f in factors:
        hits = 0
        for s in range(power_sims):
            a, b = scores(design, f * reported, rng)
            hits += (paired_test(a, b, design.cluster, n_resamples=resamples, seed=s).p_value or 1) < 0.05
        powers.append(hits / power_sims)
    effect80 = float(np.interp(0.8, np.maximum.accumulate(powers), np.array(factors) * reported))
    return {"mde": reported, "effect80": effect80, "powers": dict(zip(factors, powers, strict=True))}


def timed(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timing(rng: np.random.Generator) -> dict[str, float]:
    v, w = rng.random(10_000), rng.random(10_000)
    words = rng.integers(1, 30, 10_000).astype(float)
    cl = np.repeat(np.arange(1000), 10)
    return {
        "ci_mean, 10,000 items": timed(lambda: ci_mean(v)),
        "ci_mean, 1,000 clusters of 10": timed(lambda: ci_mean(v, cl)),
        "ci_ratio, 10,000 items": timed(lambda: ci_ratio(v * words, words)),
        "paired_test, 10,000 items": timed(lambda: paired_test(v, w)),
        "paired_test, 1,000 clusters of 10": timed(lambda: paired_test(v, w, cl)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--power-sims", type=int, default=400)
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--per-cluster", type=int, default=10)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-only", action="store_true", help="only the timing lines")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    design = Design(args.clusters, args.per_cluster)
    t0 = time.perf_counter()

    def line(what: str, value: str, ok: bool | None) -> None:
        verdict = "" if ok is None else ("goal met" if ok else "goal missed")
        print(f"{what:<58} {value:>22}  {verdict}")

    if args.timing_only:
        for what, secs in timing(rng).items():
            line(f"time: {what} x 1,000 resamples", f"{secs * 1000:.0f} ms", secs < 0.5)
        return 0
    print(f"{args.clusters} clusters x {args.per_cluster} items, {args.resamples} resamples, {args.sims} sims")

    t1 = type1(design, args.sims, args.resamples, rng)
    line("type-I error, evalkit paired test (cluster sign-flip)", f"{t1['evalkit']:.1%}", t1["evalkit"] <= 0.06)
    line("type-I error, naive i.i.d. bootstrap test", f"{t1['naive']:.1%}", None)
    line("type-I error, evalkit's test without the cluster key", f"{t1['noclust']:.1%}", None)
    acc = coverage_accuracy(design, args.sims, args.resamples, rng)
    line("coverage of 95% CI, accuracy (ci_mean, clusters)", f"{acc:.1%}", 0.93 <= acc <= 0.97)
    cov, truth = coverage_wer(design, args.sims, args.resamples, rng)
    line(f"coverage of 95% CI, WER {truth:.4f} (ci_ratio, clusters)", f"{cov:.1%}", 0.93 <= cov <= 0.97)
    cov, truth = coverage_paired(design, args.sims, args.resamples, rng)
    line(f"coverage of 95% CI, paired accuracy diff {truth:.4f}", f"{cov:.1%}", 0.93 <= cov <= 0.97)
    pw = power_check(design, args.sims, args.power_sims, args.resamples, rng)
    ratio = pw["mde"] / pw["effect80"]
    line("reported MDE (mean) / simulated 80%-power effect", f"{pw['mde']:.4f} / {pw['effect80']:.4f}", None)
    line("  ratio", f"{ratio:.3f}", 0.8 <= ratio <= 1.2)
    for f, p in pw["powers"].items():
        line(f"  simulated power at {f:.1f} x MDE", f"{p:.1%}", None)
    for what, secs in timing(rng).items():
        line(f"time: {what} x 1,000 resamples", f"{secs * 1000:.0f} ms", secs < 0.5)
    print(f"bench wall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
