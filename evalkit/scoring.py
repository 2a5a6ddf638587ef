"""How a metric's reported number is made: strict or over scored samples, with its uncertainty and clusters.

Rules (the report and the leaderboard say them in words):

- A metric with a natural worst value (accuracy-like 0, WER with every reference word deleted, retrieval 0) is
  reported **strict**: a sample the model gave no answer for (failed call, no prediction) counts as that worst
  value. Samples lost to the data (bad record) or to the judge (failed or unreadable judge reply) are not the
  model's doing: they are left out of the strict number and counted, and the row is flagged as incompletely
  covered.
- A metric without one (1-5 judge scores, similarity proxies) is reported over scored samples; any failure flags
  the row as incompletely covered, and the leaderboard never ranks such a row above a fully covered one.
- Every value carries a bootstrap CI: over samples, or over clusters of samples that share a media file (the same
  video, audio clip, image or document: questions about one file are not independent). A dataset may set
  ``meta["cluster"]`` on its samples to choose other clusters.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from evalkit.types import Sample

if TYPE_CHECKING:
    import numpy as np

    from evalkit import stats
    from evalkit.report import Outcome

N_RESAMPLES = 1000
#: from this many clusters on, intervals are the cluster-robust CLT's instead of a bootstrap's (see
#: :mod:`evalkit.stats`; here so that a run names it without importing numpy before its requests)
CLT_MIN_CLUSTERS = 5000
#: corpus statistics computed in Python per resample (BLEU, circular accuracy, MME score) take fewer resamples
N_RESAMPLES_CORPUS = 200
SEED = 0
SMALL_N = 30


@dataclass(frozen=True)
class MetricSpec:
    """How a metric reads and how a sample the model failed on counts.

    Attributes:
        higher_is_better: the direction of the metric.
        worst: the value a sample counts as when the model gave no answer (failed call, no prediction): the
            primary number is then strict. None: no natural worst value (1-5 judge scores, similarity proxies);
            the number is over scored samples and a run with failures is flagged as incompletely covered.
        kind: ``mean`` (mean of per-sample values), ``ratio`` (sum of numerators over sum of denominators, such
            as WER) or ``corpus`` (another corpus statistic, recomputed from the outcomes).
        resample: whether a bootstrap may recompute the statistic (False for statistics an external tool
            computes, such as METEOR's Java aggregate).
    """

    higher_is_better: bool = True
    worst: float | None = None
    kind: str = "mean"
    resample: bool = True


#: accuracy-like metrics: higher is better and a failed answer counts as 0.
ACCURACY = MetricSpec(worst=0.0)
#: a rate of something bad (unextracted answers): lower is better, and a failed call is not that thing.
LOWER_RATE = MetricSpec(higher_is_better=False)


class Scoring(Protocol):
    """What report rows need from a judge (``evalkit.judges.base.Judge`` is one)."""

    def metric_spec(self, metric: str) -> MetricSpec: ...

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float: ...

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]: ...


@dataclass(frozen=True)
class MetricValue:
    """One metric over one group of outcomes.

    Attributes:
        value: the primary number (strict where the metric has a worst value), None when nothing was scored.
        value_scored: over scored samples only.
        strict: whether ``value`` counts unanswered samples as the worst value.
        n: samples in the group.
        n_scored: samples with a value.
        n_model_failed: samples without an answer from the model.
        n_other_failed: samples lost to the data or the judge (or the metric undefined for them).
        interval: the CI of ``value`` (None when nothing was scored).
    """

    value: float | None
    value_scored: float | None
    strict: bool
    n: int
    n_scored: int
    n_model_failed: int
    n_other_failed: int
    interval: stats.Interval | None

    @property
    def complete(self) -> bool:
        """True when every sample of the group is reflected in ``value``."""
        counted = self.n_scored + (self.n_model_failed if self.strict else 0)
        return counted == self.n

    def basis(self, spec: MetricSpec) -> str:
        """The cell in words."""
        if self.strict:
            return f"strict: {self.n_model_failed} unanswered counted as {spec.worst:g}"
        return "scored samples only (no natural worst value)"


#: what the report imports on first use (numpy, the intervals, reliability): 0.1-0.4 s, paid after the last answer
#: unless imported while the requests are in flight
TAIL_MODULES = ("numpy", "evalkit.stats", "scipy.special", "evalkit.judges.reliability")
_prefetching: list[bool] = []


def prefetch_tail() -> None:
    """Import :data:`TAIL_MODULES` in a background thread (once per process), for a run that will report.

    Called from inside a running event loop (a job), the thread starts when the loop first gets control back,
    i.e. when the job first waits (for its requests): the imports overlap the wait for answers instead of
    slowing the start or lengthening the time from the last answer to the report. Without a running loop it
    starts at once.
    """
    if _prefetching or all(m in sys.modules for m in TAIL_MODULES):
        return
    _prefetching.append(True)
    try:
        asyncio.get_running_loop().call_soon(_start_prefetch)
    except RuntimeError:  # no running loop
        _start_prefetch()


def _start_prefetch() -> None:
    threading.Thread(target=_import_all, name="evalkit-prefetch-tail", daemon=True).start()


def _import_all() -> None:
    for name in TAIL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # whatever needs it says so itself, in the main thread
            return


class Clusters(dict[str, str]):
    """Sample id -> cluster, holding only the samples that are not their own cluster ``s:<id>`` (most text samples
    are: at 1,000,000 samples an entry each cost ~110 MB); looking up any other id gives ``s:<id>``."""

    def __missing__(self, sid: str) -> str:
        return "s:" + sid


def sample_clusters(samples: Sequence[Sample]) -> Clusters:
    """Sample id -> cluster: samples that share any media file of their prompt (transitively) form one cluster.

    ``meta["cluster"]`` on a sample wins. A sample without media is its own cluster (``s:<id>``, not stored: use
    ``clusters[sid]`` or ``clusters.get(sid, "s:" + sid)``).
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s in samples:
        if s.meta.get("cluster") not in (None, ""):
            continue
        media = [p.value for p in s.msg if p.is_media]
        if not media:  # its own cluster: nothing to join (most text samples)
            continue
        root = find("s:" + s.id)
        for value in media:
            other = find("m:" + value)
            if other != root:
                parent[other] = root
    out = Clusters()
    for s in samples:
        given = s.meta.get("cluster")
        if given not in (None, ""):
            out[s.id] = f"meta:{given}"
        elif parent and (own := "s:" + s.id) in parent and (root := find(own)) != own:
            out[s.id] = root
    return out


def _cluster_codes(items: Sequence[Outcome], clusters: dict[str, str]) -> np.ndarray:
    """One code per cluster, numbered in the order clusters first appear in ``items``.

    A sample missing from ``clusters`` is its own cluster ``s:<id>``; it takes the next number without a map entry
    unless another sample names that cluster (at 1,000,000 text samples, a map of every cluster cost ~0.16 GB).
    """
    import numpy as np  # numpy and the intervals load when the first interval is made, not before the requests

    named = set(clusters.values())
    codes: dict[str, int] = {}
    out = array("q")
    n = 0  # clusters seen so far
    for o in items:
        cluster = clusters.get(o.sample_id)
        if cluster is None:
            own = "s:" + o.sample_id
            if own not in named:
                out.append(n)
                n += 1
                continue
            cluster = own
        code = codes.get(cluster)
        if code is None:
            code = codes[cluster] = n
            n += 1
        out.append(code)
    return np.frombuffer(out, dtype=np.int64) if out else np.array([], dtype=np.int64)


def stand_in(o: Outcome) -> Outcome:
    """The outcome an unanswered sample counts as in strict numbers (its worst scores and details)."""
    return o._replace(scores=o.worst_scores, details=o.worst_details or {}, stage="", reason="")


def metric_value(
    metric: str,
    group: Sequence[Outcome],
    scoring: Scoring,
    clusters: dict[str, str],
    seed: int = SEED,
) -> MetricValue:
    """The primary value, the value over scored samples and the CI of ``metric`` over ``group``."""
    spec = scoring.metric_spec(metric)
    scored = [o for o in group if metric in o.scores]
    failed = [o for o in group if o.stage == "predict"]
    strict = spec.worst is not None and all(metric in o.worst_scores for o in failed)
    used = scored + [stand_in(o) for o in failed] if strict else scored
    value_scored = scoring.summarize(metric, scored) if scored else None
    value = (scoring.summarize(metric, used) if used else None) if strict else value_scored
    interval = None
    if used and value is not None:
        interval = _interval(metric, used, scoring, spec, _cluster_codes(used, clusters), value, seed)
    return MetricValue(
        value=value,
        value_scored=value_scored,
        strict=strict,
        n=len(group),
        n_scored=len(scored),
        n_model_failed=len(failed),
        n_other_failed=len(group) - len(scored) - len(failed),
        interval=interval,
    )


def _interval(
    metric: str,
    used: Sequence[Outcome],
    scoring: Scoring,
    spec: MetricSpec,
    codes: np.ndarray,
    value: float,
    seed: int,
) -> stats.Interval:
    import numpy as np

    from evalkit import stats

    if spec.kind == "mean":
        values = np.array([o.scores[metric] for o in used], dtype=float)
        return stats.ci_mean(values, codes, n_resamples=N_RESAMPLES, seed=seed)
    if spec.kind == "ratio":
        parts = np.array([scoring.ratio_parts(metric, o) for o in used], dtype=float)
        return stats.ci_ratio(parts[:, 0], parts[:, 1], codes, n_resamples=N_RESAMPLES, seed=seed)
    if not spec.resample:
        return stats.Interval(value, None, None, None, "", len(used), int(codes.max()) + 1, _NO_RESAMPLE)

    def statistic(idx: np.ndarray) -> float:
        return scoring.summarize(metric, [used[i] for i in idx])

    return stats.ci_statistic(len(used), statistic, codes, n_resamples=N_RESAMPLES_CORPUS, seed=seed)


_NO_RESAMPLE = "no CI: the statistic is computed by an external tool, not recomputed per resample"

Summarize = Callable[[str, Sequence["Outcome"]], float]
