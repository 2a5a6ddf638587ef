"""Uncertainty and paired significance for report numbers: cluster bootstrap, sign-flip tests, MDE, Holm.

Everything works on *clusters*: groups of items that are not independent (questions about the same video,
clip, image or source record). Without a cluster key each item is its own cluster, and the same code is the
ordinary i.i.d. bootstrap. Statistics that are a mean (accuracy, a 1-5 score) or a ratio of sums (corpus WER
= errors / reference words, IFEval instruction level = followed / instructions) only need each cluster's
sums, so a resample is one gather-and-sum over a (resamples x clusters) index matrix: 10,000 items x 1,000
resamples take a fraction of a second, with no Python loop over resamples. Other corpus statistics (CIDEr-D,
BLEU, MAP) go through :func:`ci_statistic`, which calls the statistic once per resample.

Intervals: means and ratios get the cluster bootstrap-t (BCa below :data:`SMALL_N` clusters), generic
statistics BCa, paired differences the inverted sign-flip test (see each function for why). Random draws come
from ``numpy.random.default_rng(seed)`` only, so every figure is reproducible from its seed and resample count,
which the ``method`` strings state. bench/stats.py measures type-I error, coverage and power.

Where a statistic or its interval cannot be computed the value is ``None`` and ``note`` says why; never 0
or NaN. The rules:

- no items (or a zero denominator): ``value`` is ``None``;
- one cluster (n = 1 without clusters): the value, no interval (``"1 cluster: no interval"``);
- every resample gives the same value (all values equal, e.g. 12 of 12 correct): the value, no interval and
  no stderr, because a bootstrap of a constant sample says nothing about the spread of the population; the
  note says so instead of printing a zero-width interval;
- fewer than :data:`SMALL_N` clusters: the interval is given and the note says it is approximate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from evalkit.scoring import CLT_MIN_CLUSTERS

SMALL_N = 30
"""Below this many clusters (items when unclustered) an interval is marked approximate."""

_CHUNK_CELLS = 2_000_000
"""Index-matrix cells drawn per chunk (bounds memory: about 16 MB of int64 per chunk)."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap uncertainty.

    Attributes:
        value: the statistic on all items; ``None`` when it is undefined (see ``note``).
        stderr: standard error: cluster-robust (linearised, k/(k-1)-corrected) for means and ratios, the
            bootstrap distribution's standard deviation for :func:`ci_statistic`; ``None`` without interval.
        ci_low: lower end of the interval; ``None`` when there is no interval.
        ci_high: upper end of the interval; ``None`` when there is no interval.
        method: how it was computed, e.g. ``"cluster bootstrap-t (1000, seed 0)"``.
        n: items.
        n_clusters: clusters (equals ``n`` without a cluster key).
        note: why the value or interval is missing, or that it is approximate (small n); empty otherwise.
    """

    value: float | None
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    n: int
    n_clusters: int
    note: str = ""


@dataclass(frozen=True)
class Paired:
    """A paired comparison of two runs on the same items: difference ``a - b``, its CI, p-value and MDE.

    Attributes:
        value_a: run A's statistic on the paired items.
        value_b: run B's statistic on the paired items.
        diff: ``value_a - value_b``; ``None`` when either is undefined.
        ci_low: lower end of the interval of ``diff`` (the inverted sign-flip test; a BCa bootstrap when the
            runs' denominators differ); ``None`` when there is none (see ``note``).
        ci_high: upper end of that interval.
        stderr: cluster-robust (linearised, k/(k-1)-corrected) standard error of ``diff``; the MDE uses it.
        p_value: two-sided p-value of the paired cluster sign-flip (swap) permutation test.
        mde: minimum detectable effect (absolute difference) at 80 % power, two-sided alpha 0.05, for this
            number of clusters and this spread.
        favours: ``"a"`` or ``"b"``, the run the observed difference favours given the metric's direction;
            empty when equal or undefined. Says nothing about significance: read ``p_value``.
        method: how ``p_value`` was computed, e.g. ``"cluster sign-flip (1000, seed 0)"``.
        ci_method: how the interval was computed, e.g. ``"paired cluster sign-flip inversion (1000, seed 0)"``.
        n: paired items.
        n_clusters: clusters among them.
        note: why something is missing, or that it is approximate; empty otherwise.
    """

    value_a: float | None
    value_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    stderr: float | None
    p_value: float | None
    mde: float | None
    favours: str
    method: str
    ci_method: str
    n: int
    n_clusters: int
    note: str = ""


def cluster_index(n: int, clusters: Sequence[Hashable] | np.ndarray | None) -> tuple[np.ndarray, int]:
    """Map items to dense cluster numbers ``0..k-1``.

    Args:
        n: number of items.
        clusters: one key per item, or ``None`` (each item its own cluster).

    Returns:
        ``(inverse, k)``: the cluster number of each item and the number of clusters.

    Raises:
        ValueError: when ``clusters`` does not have one key per item.
    """
    if clusters is None:
        return np.arange(n), n
    if len(clusters) != n:
        raise ValueError(f"clusters has {len(clusters)} keys for {n} items")
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    keys = np.asarray([str(c) for c in clusters]) if not isinstance(clusters, np.ndarray) else clusters
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    return inverse, int(inverse.max()) + 1


def _method(kind: str, clustered: bool, n_resamples: int, seed: int) -> str:
    return f"{'cluster ' if clustered else ''}{kind} ({n_resamples}, seed {seed})"


def _as_1d(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds a NaN or infinite value: failures must be dropped or scored first")
    return arr


def resample_sums(columns: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Sums of per-cluster columns over ``n_resamples`` cluster bootstrap resamples.

    Args:
        columns: ``(k, m)`` per-cluster sums (e.g. numerator and denominator).
        n_resamples: resamples.
        rng: the generator to draw from.

    Returns:
        ``(n_resamples, m)``: the column sums of each resample (k clusters drawn with replacement).
    """
    k, m = columns.shape
    out = np.empty((n_resamples, m))
    cols = [np.ascontiguousarray(columns[:, j]) for j in range(m)]
    constant = [bool(np.all(c == c[0])) if k else True for c in cols]
    same = [next(i for i in range(j + 1) if np.array_equal(cols[i], cols[j])) for j in range(m)]
    step = max(1, _CHUNK_CELLS // max(k, 1))
    for start in range(0, n_resamples, step):
        stop = min(n_resamples, start + step)
        idx = rng.integers(0, k, size=(stop - start, k))
        for j, c in enumerate(cols):
            # one 1-D gather per column beats a 2-D gather or a counts matrix product; a constant column
            # (one item per cluster, or a denominator of 1) sums to k times its value in every resample
            if constant[j]:
                out[start:stop, j] = k * c[0]
            elif same[j] < j:
                out[start:stop, j] = out[start:stop, same[j]]
            else:
                out[start:stop, j] = c[idx].sum(axis=1)
    return out


def _bca_quantiles(value: float, boot: np.ndarray, jack: np.ndarray, level: float) -> tuple[float, float]:
    """Quantile levels of the bias-corrected and accelerated (BCa) interval.

    Percentile intervals under-cover skewed statistics with few clusters (a corpus WER over 50 clips: 90 %
    for a nominal 95 % in bench/stats.py); BCa corrects the median bias (``z0``, from the bootstrap) and the
    skewness (acceleration ``a``, from the leave-one-cluster-out jackknife ``jack``).
    """
    from scipy.special import ndtr, ndtri  # here, not at the top: scipy costs a run's start 0.1-0.5 s

    below = (np.sum(boot < value) + 0.5 * np.sum(boot == value)) / boot.size
    z0 = float(ndtri(np.clip(below, 0.5 / boot.size, 1 - 0.5 / boot.size)))
    jack = jack[np.isfinite(jack)]
    d = jack.mean() - jack if jack.size else jack
    ss = float(np.sum(d**2))
    accel = float(np.sum(d**3)) / (6 * ss**1.5) if ss > 0 else 0.0
    z = ndtri(np.array([(1 - level) / 2, (1 + level) / 2]))
    q = ndtr(z0 + (z0 + z) / (1 - accel * (z0 + z)))
    return float(q[0]), float(q[1])


def _interval(
    value: float, boot: np.ndarray, jack: np.ndarray, level: float, method: str, n: int, k: int, unit: str
) -> Interval:
    boot = boot[np.isfinite(boot)]
    spread = float(boot.max() - boot.min()) if boot.size else 0.0
    if spread <= 1e-12 * max(1.0, abs(value)):
        note = f"all values give {value:.6g}: the bootstrap gives no interval"
        return Interval(value, None, None, None, method, n, k, note)
    lo, hi = np.quantile(boot, _bca_quantiles(value, boot, jack, level))
    return Interval(value, float(boot.std(ddof=1)), float(lo), float(hi), method, n, k, _small_note(k, unit))


def _ratio_interval(
    num: np.ndarray, den: np.ndarray, n_resamples: int, seed: int, level: float, n: int, unit: str
) -> Interval:
    """Interval of ``sum(num) / sum(den)`` from per-cluster sums (k >= 2 clusters, positive total ``den``).

    With at least :data:`SMALL_N` clusters: the studentized (bootstrap-t) interval, each resample's ratio
    standardised by its own cluster-robust standard error (computed from resampled sums of squares and
    products, so still one gather per column). It is second-order accurate and keeps 94-95 % coverage for a
    skewed corpus WER over 50 clips where BCa gives 92-93 % and the percentile interval 90 % (measured while
    choosing; bench/stats.py prints the one evalkit uses). Its ends are kept inside the range of the resampled
    ratios (an accuracy's interval never passes 1). With fewer clusters, or when a resample's standard error
    is 0 too often for the t quantiles to exist (an accuracy near 1: many resamples are all correct), the
    BCa interval instead. ``stderr`` is the cluster-robust standard error of the ratio in both cases.
    """
    k = num.size
    clustered = unit == "cluster"
    cols = np.stack([num, den, num * num, num * den, den * den], axis=1)
    sums = resample_sums(cols, n_resamples, np.random.default_rng(seed))
    total = cols.sum(axis=0)
    value = float(total[0] / total[1])
    scale = k / (k - 1)
    se = math.sqrt(max(0.0, float(scale * (total[2] - 2 * value * total[3] + value**2 * total[4])))) / float(total[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = sums[:, 0] / sums[:, 1]
        var = scale * (sums[:, 2] - 2 * boot * sums[:, 3] + boot**2 * sums[:, 4])
        t = (boot - value) / (np.sqrt(np.maximum(var, 0.0)) / sums[:, 1])
        jack = (total[0] - num) / (total[1] - den)
    t[np.isnan(t)] = 0.0  # a resample with no spread at the observed value
    tail = ((1 - level) / 2, (1 + level) / 2)
    with np.errstate(invalid="ignore"):  # infinite t (a resample without spread) makes a quantile NaN
        q = np.quantile(t, tail) if k >= SMALL_N else np.array([np.nan, np.nan])
    if se > 0 and np.all(np.isfinite(q)):
        ok = boot[np.isfinite(boot)]
        lo, hi = max(value - q[1] * se, float(ok.min())), min(value - q[0] * se, float(ok.max()))
        method = _method("bootstrap-t", clustered, n_resamples, seed)
        return Interval(value, se, float(lo), float(hi), method, n, k, "")
    got = _interval(value, boot, jack, level, _method("bootstrap BCa", clustered, n_resamples, seed), n, k, unit)
    return replace(got, stderr=se if got.stderr is not None else None)


def _small_note(k: int, unit: str) -> str:
    return f"small n: {k} {unit}s (< {SMALL_N}), interval approximate" if k < SMALL_N else ""


# CLT_MIN_CLUSTERS (set in evalkit.scoring, which a run imports before numpy): from that many clusters on,
# intervals come from the cluster-robust CLT: at that size it agrees with the bootstrap to well under a tenth of
# a standard error and costs O(n) instead of O(n x resamples)


def _clt_interval(sa: np.ndarray, sd: np.ndarray, value: float, level: float, n: int, clusters: object) -> Interval:
    """Cluster-robust (linearised) interval of ``sum(sa) / sum(sd)`` from per-cluster sums, t quantile."""
    k = sa.size
    u = (sa - value * sd) / sd.sum()
    se = float(math.sqrt(k / (k - 1) * float(np.sum(u**2))))
    method = f"CLT, cluster-robust ({k} {_unit(clusters)}s >= {CLT_MIN_CLUSTERS})"
    if se == 0.0:
        return Interval(value, None, None, None, method, n, k, "all values equal: no interval")
    from scipy.special import stdtrit  # the t quantile (what scipy.stats.t.ppf computes), imported when needed

    half = float(stdtrit(k - 1, 0.5 + level / 2)) * se
    return Interval(value, se, value - half, value + half, method, n, k)


def _unit(clusters: object) -> str:
    return "item" if clusters is None else "cluster"


def ci_ratio(
    num: Sequence[float] | np.ndarray,
    den: Sequence[float] | np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Bootstrap interval of a corpus ratio ``sum(num) / sum(den)`` (WER, CER, IFEval instruction level).

    The ratio is recomputed on each resample (sum of the resampled numerators over the sum of the resampled
    denominators), not averaged per item.

    Args:
        num: per-item numerators (e.g. word errors).
        den: per-item denominators (e.g. reference words).
        clusters: one cluster key per item; ``None`` resamples items.
        n_resamples: bootstrap resamples.
        seed: seed of ``numpy.random.default_rng``.
        level: confidence level of the interval.

    Returns:
        The ratio with its interval.
    """
    a, d = _as_1d(num, "num"), _as_1d(den, "den")
    if a.shape != d.shape:
        raise ValueError(f"num has {a.size} items, den {d.size}")
    inverse, k = cluster_index(a.size, clusters)
    method = _method("bootstrap", clusters is not None, n_resamples, seed)
    if a.size == 0:
        return Interval(None, None, None, None, method, 0, 0, "no scored items")
    if d.sum() == 0:
        return Interval(None, None, None, None, method, a.size, k, "denominator is 0: ratio undefined")
    value = float(a.sum() / d.sum())
    if k == 1:
        return Interval(value, None, None, None, method, a.size, k, f"1 {_unit(clusters)}: no interval")
    if k >= CLT_MIN_CLUSTERS:
        return _clt_interval(np.bincount(inverse, a, k), np.bincount(inverse, d, k), value, level, a.size, clusters)
    return _ratio_interval(
        np.bincount(inverse, a, k), np.bincount(inverse, d, k), n_resamples, seed, level, a.size, _unit(clusters)
    )


def ci_mean(
    values: Sequence[float] | np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Bootstrap interval of the mean of per-item values (accuracy, a judge score).

    With clusters, whole clusters are resampled with replacement and the statistic is the sum of the drawn
    items' values over their count, i.e. :func:`ci_ratio` with a denominator of 1 per item.

    Args:
        values: per-item values.
        clusters: one cluster key per item; ``None`` resamples items.
        n_resamples: bootstrap resamples.
        seed: seed of ``numpy.random.default_rng``.
        level: confidence level of the interval.

    Returns:
        The mean with its interval.
    """
    v = _as_1d(values, "values")
    return ci_ratio(v, np.ones_like(v), clusters, n_resamples, seed, level)


def _ranges(order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Item indices of the chosen clusters, concatenated, without a Python loop over clusters."""
    lengths = sizes[chosen]
    ends = np.cumsum(lengths)
    pos = np.repeat(starts[chosen] - ends + lengths, lengths) + np.arange(int(ends[-1]) if ends.size else 0)
    return order[pos]


def ci_statistic(
    n_items: int,
    statistic: Callable[[np.ndarray], float],
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Bootstrap interval of any corpus statistic (CIDEr-D, BLEU, MAP): the generic, slower fallback.

    Args:
        n_items: number of items.
        statistic: maps an array of item indices (with repeats) to the statistic on those items; called once
            on ``arange(n_items)`` for the value and once per resample. It may return ``None`` or NaN where
            undefined; such resamples are left out of the interval.
        clusters: one cluster key per item; ``None`` resamples items.
        n_resamples: bootstrap resamples.
        seed: seed of ``numpy.random.default_rng``.
        level: confidence level of the interval.

    Returns:
        The statistic with its interval.
    """
    inverse, k = cluster_index(n_items, clusters)
    method = _method("bootstrap BCa", clusters is not None, n_resamples, seed)
    if n_items == 0:
        return Interval(None, None, None, None, method, 0, 0, "no scored items")
    raw = statistic(np.arange(n_items))
    if raw is None or not math.isfinite(raw):
        return Interval(None, None, None, None, method, n_items, k, "statistic undefined on these items")
    value = float(raw)
    if k == 1:
        return Interval(value, None, None, None, method, n_items, k, f"1 {_unit(clusters)}: no interval")
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse, minlength=k)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rng = np.random.default_rng(seed)
    boot = np.full(n_resamples, np.nan)
    for r in range(n_resamples):
        got = statistic(_ranges(order, starts, sizes, rng.integers(0, k, size=k)))
        if got is not None:
            boot[r] = got
    jack = np.full(k, np.nan)
    if k <= n_resamples:  # k more calls; beyond that the acceleration is left at 0 (a BC interval)
        for c in range(k):
            got = statistic(np.concatenate([order[: starts[c]], order[starts[c] + sizes[c] :]]))
            if got is not None:
                jack[c] = got
    else:
        method = method.replace("BCa", "BC")
    return _interval(value, boot, jack, level, method, n_items, k, _unit(clusters))


def _sign_patterns(k: int, n_resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """0/1 swap indicators, (rows, k): all 2**k patterns when that is no more than ``n_resamples``."""
    if k < 63 and 2**k <= n_resamples:
        return ((np.arange(2**k)[:, None] >> np.arange(k)) & 1).astype(np.float64), True
    # random bits from raw bytes: several times faster than integers(0, 2) for 10,000 x 1,000 patterns
    bits = np.unpackbits(np.frombuffer(rng.bytes(-(-n_resamples * k // 8)), dtype=np.uint8))
    return bits[: n_resamples * k].reshape(n_resamples, k).astype(np.float64), False


def _swap_stats(cols: np.ndarray, swaps: np.ndarray) -> np.ndarray:
    """``ratio_a - ratio_b`` with the runs' per-cluster sums swapped where ``swaps`` is 1."""
    na, da, nb, db = (cols[:, j] for j in range(4))
    dn, dd = swaps @ (na - nb), swaps @ (da - db)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (na.sum() - dn) / (da.sum() - dd) - (nb.sum() + dn) / (db.sum() + dd)


def _robust_se(cols: np.ndarray) -> float:
    """Cluster-robust standard error of ``ratio_a - ratio_b`` by linearisation, with the k/(k-1) correction."""
    na, da, nb, db = (cols[:, j] for j in range(4))
    ra, rb = na.sum() / da.sum(), nb.sum() / db.sum()
    u = (na - ra * da) / da.sum() - (nb - rb * db) / db.sum()
    k = cols.shape[0]
    return float(math.sqrt(k / (k - 1) * float(np.sum(u**2))))


def mde(stderr: float | None, n_clusters: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Minimum detectable effect of a two-sided paired test: ``(t[1-alpha/2] + t[power]) * stderr``.

    Student t quantiles with ``n_clusters - 1`` degrees of freedom, because the stderr is estimated from
    that many independent clusters (the normal quantiles, 1.96 + 0.84, are its large-n limit).

    Args:
        stderr: the clustered standard error of the paired difference.
        n_clusters: independent clusters the stderr was estimated from.
        alpha: two-sided significance level.
        power: wanted power.

    Returns:
        The smallest absolute true difference the test detects with probability ``power``; ``None`` when the
        stderr is missing or there are fewer than 2 clusters.
    """
    if stderr is None or n_clusters < 2:
        return None
    from scipy.special import stdtrit  # the t quantile (what scipy.stats.t.ppf computes), imported when needed

    df = n_clusters - 1
    return float((stdtrit(df, 1 - alpha / 2) + stdtrit(df, power)) * stderr)


def _flip_p(hits: np.ndarray | int, rows: int, exact: bool) -> np.ndarray | float:
    return hits / rows if exact else (hits + 1) / (rows + 1)


def _flip_interval(
    x: np.ndarray, d: np.ndarray, swaps: np.ndarray, exact: bool, se: float, level: float
) -> tuple[float | None, float | None]:
    """Interval of ``sum(x) / sum(d)`` by inverting the sign-flip test: every delta it does not reject.

    ``x`` is each cluster's summed difference (``num_a - num_b``), ``d`` its summed common denominator (item
    count for a mean). H0(delta): the cluster residuals ``x - delta * d`` are symmetric about 0; its p-value
    uses the same flips as the test of delta = 0, so the interval excludes 0 exactly when p < 1 - level (a
    bootstrap interval need not: with 3 clusters that all favour A it never reaches 0). Each end is found by
    doubling then bisection; with flips ``S`` precomputed, each p(delta) costs one pass over the flips.
    An end is ``None`` when no delta on that side is rejected (too few clusters for this level).
    """
    signs = 1.0 - 2.0 * swaps
    sx, sd, big_x, big_d = signs @ x, signs @ d, float(x.sum()), float(d.sum())
    alpha, rows, centre = 1.0 - level, swaps.shape[0], big_x / big_d

    def rejected(delta: float) -> bool:
        obs = abs(big_x - delta * big_d)
        hits = int(np.sum(np.abs(sx - delta * sd) >= obs - 1e-12 * max(1.0, abs(big_x) + abs(delta) * big_d)))
        return float(_flip_p(hits, rows, exact)) < alpha

    ends: list[float | None] = []
    for side in (-1.0, 1.0):
        step, inside = se if se > 0 else 1.0, centre
        outside = centre + side * step
        for _ in range(60):
            if rejected(outside):
                break
            inside, step = outside, 2 * step
            outside = centre + side * step
        else:
            ends.append(None)
            continue
        for _ in range(50):
            mid = (inside + outside) / 2
            inside, outside = (inside, mid) if rejected(mid) else (mid, outside)
        end = (inside + outside) / 2
        # an end at 0 (a tie with the observed data) comes out of the bisection as +-1e-14: say 0
        ends.append(0.0 if abs(end) <= 1e-9 * max(se, abs(centre)) else end)
    return ends[0], ends[1]


def _bootstrap_diff_interval(
    cols: np.ndarray, diff: float, n_resamples: int, seed: int, level: float, n: int, unit: str
) -> Interval:
    """BCa interval of ``ratio_a - ratio_b`` when the runs' denominators differ (the sign-flip inversion
    needs a common denominator)."""
    sums = resample_sums(cols, n_resamples, np.random.default_rng(seed))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = sums[:, 0] / sums[:, 1] - sums[:, 2] / sums[:, 3]
        left = cols.sum(axis=0) - cols
        jack = left[:, 0] / left[:, 1] - left[:, 2] / left[:, 3]
    method = _method("bootstrap BCa", unit == "cluster", n_resamples, seed)
    return _interval(diff, boot, jack, level, method, n, cols.shape[0], unit)


def paired_ratio_test(
    num_a: Sequence[float] | np.ndarray,
    den_a: Sequence[float] | np.ndarray,
    num_b: Sequence[float] | np.ndarray,
    den_b: Sequence[float] | np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    higher_is_better: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Paired:
    """Paired test of two corpus ratios on the same items (WER of run A vs run B): see :func:`paired_test`.

    The difference is ``sum(num_a)/sum(den_a) - sum(num_b)/sum(den_b)``. The permutation swaps the two runs'
    numerators and denominators within whole clusters. With the same denominators in both runs (WER on the
    same references, strict failures counted as ``[ref, ref]``) the interval inverts that test; otherwise it is
    a BCa cluster bootstrap of the difference of the two recomputed ratios.

    Args:
        num_a: run A's per-item numerators (word errors).
        den_a: run A's per-item denominators (reference words).
        num_b: run B's per-item numerators.
        den_b: run B's per-item denominators.
        clusters: one cluster key per item; ``None`` treats items as independent.
        higher_is_better: the metric's direction (WER: lower is better); sets ``favours`` only.
        n_resamples: permutations and bootstrap resamples.
        seed: seed of ``numpy.random.default_rng``.
        level: confidence level of the interval.

    Returns:
        The paired comparison.
    """
    arrs = [_as_1d(x, name) for x, name in ((num_a, "num_a"), (den_a, "den_a"), (num_b, "num_b"), (den_b, "den_b"))]
    n = arrs[0].size
    if any(x.size != n for x in arrs):
        raise ValueError("num_a, den_a, num_b and den_b must have one value per paired item")
    inverse, k = cluster_index(n, clusters)
    clustered = clusters is not None
    method = _method("sign-flip", clustered, n_resamples, seed)
    ci_method = "paired " + _method("bootstrap", clustered, n_resamples, seed)
    empty = Paired(None, None, None, None, None, None, None, None, "", method, ci_method, n, k, "")
    if n == 0:
        return _replace(empty, note="no paired items")
    if arrs[1].sum() == 0 or arrs[3].sum() == 0:
        return _replace(empty, note="denominator is 0: ratio undefined")
    va, vb = float(arrs[0].sum() / arrs[1].sum()), float(arrs[2].sum() / arrs[3].sum())
    diff = va - vb
    favours = "" if diff == 0 else ("a" if (diff > 0) == higher_is_better else "b")
    base = _replace(empty, value_a=va, value_b=vb, diff=diff, favours=favours)
    if k == 1:
        return _replace(base, note=f"1 {_unit(clusters)}: no test, no interval")
    cols = np.stack([np.bincount(inverse, x, k) for x in arrs], axis=1)
    rng = np.random.default_rng(seed)
    swaps, exact = _sign_patterns(k, n_resamples, rng)
    null = np.abs(_swap_stats(cols, swaps))
    hits = int(np.sum(null >= abs(diff) - 1e-12 * max(1.0, abs(diff))))
    p = float(_flip_p(hits, swaps.shape[0], exact))
    if exact:
        method = f"{'cluster ' if clustered else ''}sign-flip (exact, {swaps.shape[0]})"
    se = _robust_se(cols)
    if se == 0:
        note = "all paired differences equal: no interval, no MDE"
        return _replace(base, stderr=0.0, p_value=min(1.0, p), method=method, note=note)
    if np.array_equal(cols[:, 1], cols[:, 3]):
        lo, hi = _flip_interval(cols[:, 0] - cols[:, 2], cols[:, 1], swaps, exact, se, level)
        ci_method = f"paired {method.replace('sign-flip', 'sign-flip inversion')}"
        note = _small_note(k, _unit(clusters))
        if lo is None or hi is None:
            note = f"too few {_unit(clusters)}s ({k}) for a {level:.0%} interval: no flip pattern is extreme enough"
    else:
        ci = _bootstrap_diff_interval(cols, diff, n_resamples, seed, level, n, _unit(clusters))
        lo, hi, ci_method, note = ci.ci_low, ci.ci_high, "paired " + ci.method, ci.note
    return _replace(
        base,
        ci_low=lo,
        ci_high=hi,
        stderr=se,
        p_value=min(1.0, p),
        mde=mde(se, k),
        method=method,
        ci_method=ci_method,
        note=note,
    )


def paired_test(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    higher_is_better: bool = True,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Paired:
    """Paired test of two runs' per-item values on the same items (accuracy, a judge score).

    p-value: a sign-flip permutation test over clusters. Under the null hypothesis that the two runs are
    exchangeable on each item, swapping A and B within a whole cluster leaves the distribution of the mean
    difference unchanged, so flipping the sign of each cluster's summed difference gives its null
    distribution; all ``2**k`` flips are enumerated when there are no more than ``n_resamples`` of them
    (exact test), otherwise ``n_resamples`` random ones (p = (hits + 1) / (n_resamples + 1)). Chosen over a
    bootstrap test because it keeps its level with few clusters, where bootstrap tests reject too often, and
    because flipping whole clusters keeps their internal correlation (flipping items would not: that is the
    naive test whose type-I error bench/stats.py shows). Interval: every difference delta the same sign-flip
    test does not reject when applied to ``a - b - delta``, so it excludes 0 exactly when p < 1 - level (a
    bootstrap interval can exclude 0 with p = 0.25 when three clusters all favour one run). With 5 clusters
    or fewer no flip pattern is extreme enough for a 95 % interval: ``None``, and the note says so. MDE: from
    the cluster-robust standard error, see :func:`mde`.

    Args:
        a: run A's values, one per paired item.
        b: run B's values on the same items, same order.
        clusters: one cluster key per item; ``None`` treats items as independent.
        higher_is_better: the metric's direction; sets ``favours`` only (the test is two-sided).
        n_resamples: permutations and bootstrap resamples.
        seed: seed of ``numpy.random.default_rng``.
        level: confidence level of the interval.

    Returns:
        The paired comparison.
    """
    va, vb = _as_1d(a, "a"), _as_1d(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"a has {va.size} items, b {vb.size}: a paired test needs the same items")
    ones = np.ones_like(va)
    return paired_ratio_test(va, ones, vb, ones, clusters, higher_is_better, n_resamples, seed, level)


def _replace(p: Paired, **changes: object) -> Paired:
    return replace(p, **changes)  # type: ignore[arg-type]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (controls the family-wise error rate).

    The i-th smallest p-value (1-based) is multiplied by ``m - i + 1``, made non-decreasing and capped at 1.

    Args:
        p_values: the family's raw p-values.

    Returns:
        Adjusted p-values, in the order given.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]
