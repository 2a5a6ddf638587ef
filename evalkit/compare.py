"""`python run.py compare`: paired comparison of two or more models' stored runs on the same samples.

Reads each run folder ``<work_dir>/<model>/<dataset>/`` (``manifest.json`` and ``samples.<judge>.jsonl``,
both written by the job); calls no model. Per dataset and model pair it pairs the samples by id, tests the
difference of the chosen metric with :func:`evalkit.stats.paired_test` (or :func:`paired_ratio_test` for
corpus ratios such as WER), clustered by each sample's ``cluster`` key, and Holm-corrects the p-values over
the whole family of comparisons made by one call.

Which value a sample contributes:

- a metric with a ``worst`` value (accuracy: 0): the ``strict`` value, so a failed sample counts as worst in
  that run (how many did is reported) and the comparison is not flattered by dropping failures;
- a metric without one (a 1-5 judge score): the real ``scores`` only; a sample without a value in either run
  is dropped from the pair and counted by reason (failed in A, failed in B, no value, missing from a run);
- ``kind == "ratio"`` (WER): the sample's ``ratio`` pair ``[num, den]`` (already strict: a failed sample
  counts as worst, e.g. ``[ref words, ref words]``);
- ``kind == "corpus"`` (CIDEr-D, BLEU): the per-sample values, with a note that the test is on their mean,
  not on the corpus statistic, which these files cannot recompute.

Runs whose judge identity, judge prompt hashes, dataset prompt version or metric declaration differ are
still compared, with a warning on the comparison: the difference may then come from the judge or prompt,
not the model.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

from evalkit.errors import ConfigError
from evalkit.stats import Paired, holm, paired_ratio_test, paired_test
from evalkit.store import RunStore


@dataclass(frozen=True)
class Run:
    """One stored model x dataset run, as compare and diff read it.

    Attributes:
        model: the model's name (its folder).
        dataset: the dataset's name (its folder).
        path: the run folder.
        manifest: ``manifest.json``.
        judge: the judge whose samples were read.
        samples: sample id -> the sample's line of ``samples.<judge>.jsonl``.
    """

    model: str
    dataset: str
    path: Path
    manifest: dict[str, Any]
    judge: str
    samples: dict[str, dict[str, Any]]

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """Metric -> declaration (``higher_is_better``, ``worst``, ``kind``, ``primary``) of this judge."""
        return dict(self.manifest.get("judges", {}).get(self.judge, {}).get("metrics", {}))


@dataclass(frozen=True)
class Comparison:
    """Model A vs model B on one dataset and metric.

    Attributes:
        dataset: the dataset.
        model_a: run A's model (the baseline when one is given).
        model_b: run B's model.
        judge: the judge both runs were scored by.
        metric: the compared metric.
        kind: ``mean``, ``ratio`` or ``corpus``.
        higher_is_better: the metric's direction.
        values: ``strict`` (failures count as the worst value), ``scores`` (real scores only) or ``ratio``.
        paired: the paired statistics (values of A and B on the paired samples, difference A - B, CI, p, MDE).
        p_holm: Holm-adjusted p-value over every comparison of the call; ``None`` without a p-value.
        n_a: samples in run A.
        n_b: samples in run B.
        worst_a: failed samples of A counted with the worst value.
        worst_b: failed samples of B counted with the worst value.
        dropped: reason -> samples left out of the pair.
        warnings: why the two runs may not be comparable.
        note: how the test was made where it is not the usual one.
    """

    dataset: str
    model_a: str
    model_b: str
    judge: str
    metric: str
    kind: str
    higher_is_better: bool
    values: str
    paired: Paired
    p_holm: float | None
    n_a: int
    n_b: int
    worst_a: int
    worst_b: int
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    note: str = ""


def store_of(run_dir: Path) -> RunStore:
    """The store of a run folder ``<work_dir>/<model>/<dataset>``: the one place that knows its file names."""
    run_dir = Path(run_dir)
    return RunStore(run_dir.parent.parent, run_dir.parent.name, run_dir.name)


def samples_path(run_dir: Path, judge: str) -> Path:
    """The per-sample file of one judge in a run folder."""
    return store_of(run_dir).samples_path(judge)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """``manifest.json`` of a run folder.

    Raises:
        ConfigError: when the folder or its manifest is missing.
    """
    path = store_of(run_dir).manifest_path
    if not path.is_file():
        what = "no run folder" if not run_dir.is_dir() else "no manifest.json in"
        raise ConfigError(f"{what} {run_dir}: run the model on the dataset first")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def read_samples(path: Path) -> dict[str, dict[str, Any]]:
    """Sample id -> line of a ``samples.<judge>.jsonl`` file (a later line of the same id wins)."""
    out: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"{path}:{n}: not JSON ({e.msg})") from e
                out[str(row["sample_id"])] = row
    return out


def shared_judge(manifests: Sequence[dict[str, Any]], dirs: Sequence[Path], judge: str | None) -> str:
    """The judge every run was scored by (and has a samples file for); ``judge`` chooses among several.

    Raises:
        ConfigError: when no judge is shared, ``judge`` is not shared, or several are and none was chosen.
    """
    common = set.intersection(
        *(
            {j for j in m.get("judges", {}) if samples_path(d, j).is_file()}
            for m, d in zip(manifests, dirs, strict=True)
        )
    )
    where = ", ".join(str(d) for d in dirs)
    if judge is not None:
        if judge not in common:
            raise ConfigError(f"judge '{judge}' has not scored every run ({where}); shared: {sorted(common) or 'none'}")
        return judge
    if not common:
        raise ConfigError(f"no judge has scored every run ({where}): evaluate them with the same --judge")
    if len(common) > 1:
        raise ConfigError(f"runs share judges {', '.join(sorted(common))}: choose one with --judge")
    return next(iter(common))


def load_run(work_dir: Path, model: str, dataset: str, judge: str) -> Run:
    """Read one run folder's manifest and the samples file of ``judge``."""
    path = RunStore(Path(work_dir), model, dataset).dir
    return Run(model, dataset, path, read_manifest(path), judge, read_samples(samples_path(path, judge)))


def choose_metric(run: Run, metric: str | None) -> str:
    """``metric`` if the run's judge declares it, else the judge's primary metric.

    Raises:
        ConfigError: when the metric is unknown or no primary metric is declared.
    """
    declared = run.metrics
    if metric is not None:
        if metric not in declared:
            raise ConfigError(f"{run.path}: judge '{run.judge}' has no metric '{metric}'; it has {sorted(declared)}")
        return metric
    primary = [m for m, spec in declared.items() if spec.get("primary")]
    if not primary:
        raise ConfigError(f"{run.path}: judge '{run.judge}' declares no primary metric: choose one with --metric")
    return primary[0]


def _differs(a: Any, b: Any) -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += [f"{key}.{sub}" if sub else str(key) for sub in _differs(a.get(key), b.get(key))]
        return out
    return [] if a == b else [""]


def comparability_warnings(a: Run, b: Run, metric: str) -> list[str]:
    """Why two runs' numbers may differ for reasons other than the model."""
    ja, jb = (r.manifest.get("judges", {}).get(r.judge, {}) for r in (a, b))
    checks = (
        ("judge identity", ja.get("identity"), jb.get("identity")),
        ("judge prompt hashes", ja.get("prompt_hashes"), jb.get("prompt_hashes")),
        ("dataset prompt version", *(r.manifest.get("dataset", {}).get("prompt_version") for r in (a, b))),
        (f"declaration of metric '{metric}'", a.metrics.get(metric), b.metrics.get(metric)),
    )
    out = []
    for what, x, y in checks:
        keys = _differs(x, y)
        if keys:
            detail = f" ({', '.join(k for k in keys if k)[:200]})" if any(keys) else f" ({x!r} vs {y!r})"
            out.append(f"{what} differs between {a.model} and {b.model}{detail}")
    return out


def sample_value(row: dict[str, Any], metric: str, source: str) -> float | tuple[float, float] | None:
    """The value a sample contributes: ``strict``/``scores`` value, ``(num, den)`` for ratio, or ``None``."""
    got = row.get(source, {}).get(metric)
    if got is None:
        return None
    if source == "ratio":
        return float(got[0]), float(got[1])
    return float(got)


def _why_missing(row: dict[str, Any], side: str) -> str:
    return f"failed in {side}" if row.get("stage") else f"no value in {side}"


def pair_samples(a: Run, b: Run, metric: str, source: str) -> tuple[list[str], Counter[str]]:
    """Sample ids with a value in both runs (A's order), and why the others were dropped."""
    dropped: Counter[str] = Counter()
    ids = []
    for sid, row in a.samples.items():
        other = b.samples.get(sid)
        if other is None:
            dropped[f"missing from {b.model}"] += 1
            continue
        va, vb = sample_value(row, metric, source), sample_value(other, metric, source)
        if va is None and vb is None:
            dropped["failed in both" if row.get("stage") and other.get("stage") else "no value in either"] += 1
        elif va is None:
            dropped[_why_missing(row, a.model)] += 1
        elif vb is None:
            dropped[_why_missing(other, b.model)] += 1
        else:
            ids.append(sid)
    dropped[f"missing from {a.model}"] += sum(1 for sid in b.samples if sid not in a.samples)
    return ids, +dropped


def compare_pair(a: Run, b: Run, metric: str, n_resamples: int = 1000, seed: int = 0) -> Comparison:
    """Compare run A with run B on ``metric`` (p_holm left unset: :func:`compare_runs` fills it in)."""
    spec = a.metrics.get(metric, {})
    kind = str(spec.get("kind", "mean"))
    hib = bool(spec.get("higher_is_better", True))
    source = "ratio" if kind == "ratio" else ("strict" if spec.get("worst") is not None else "scores")
    ids, dropped = pair_samples(a, b, metric, source)
    clusters = [str(a.samples[s].get("cluster") or s) for s in ids]
    keys = clusters if len(set(clusters)) < len(clusters) else None
    note = ""
    if source == "ratio":
        num_a, den_a = np.array([sample_value(a.samples[s], metric, source) for s in ids]).reshape(-1, 2).T
        num_b, den_b = np.array([sample_value(b.samples[s], metric, source) for s in ids]).reshape(-1, 2).T
        paired = paired_ratio_test(num_a, den_a, num_b, den_b, keys, hib, n_resamples, seed)
    else:
        va = [float(a.samples[s][source][metric]) for s in ids]
        vb = [float(b.samples[s][source][metric]) for s in ids]
        paired = paired_test(va, vb, keys, hib, n_resamples, seed)
        if kind == "corpus":
            note = "corpus metric: tested on the mean of per-sample values, not on the corpus statistic"
    worst = [sum(1 for s in ids if r.samples[s].get("stage")) for r in (a, b)]
    return Comparison(
        a.dataset, a.model, b.model, a.judge, metric, kind, hib, source, paired, None,
        len(a.samples), len(b.samples), worst[0], worst[1], dict(dropped),
        tuple(comparability_warnings(a, b, metric)), note,
    )  # fmt: skip


def model_pairs(models: Sequence[str], baseline: str | None) -> list[tuple[str, str]]:
    """Every pair of models, or every model against the baseline."""
    if baseline is not None:
        return [(baseline, m) for m in models if m != baseline]
    return list(itertools.combinations(models, 2))


def compare_runs(
    work_dir: Path | str,
    datasets: Sequence[str],
    models: Sequence[str],
    metric: str | None = None,
    baseline: str | None = None,
    judge: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Comparison]:
    """Paired comparisons for each dataset and model pair, Holm-corrected over all of them.

    Args:
        work_dir: the work dir holding ``<model>/<dataset>/`` run folders.
        datasets: datasets to compare on.
        models: models to compare (at least two, or one besides ``baseline``).
        metric: the metric; default: each dataset's primary metric as its judge declares it.
        baseline: compare every model against this one instead of every pair.
        judge: the judge to read when the runs share several.
        n_resamples: permutations and bootstrap resamples per comparison.
        seed: seed of every comparison's random draws.

    Returns:
        One :class:`Comparison` per dataset and pair, in dataset then pair order.

    Raises:
        ConfigError: fewer than two models, a missing run, no shared judge, an unknown metric.
    """
    pairs = model_pairs(models, baseline)
    if not pairs:
        raise ConfigError("compare needs two models, or a --baseline and another model")
    out: list[Comparison] = []
    for dataset in datasets:
        names = list(dict.fromkeys(m for pair in pairs for m in pair))
        dirs = [RunStore(Path(work_dir), m, dataset).dir for m in names]
        chosen = shared_judge([read_manifest(d) for d in dirs], dirs, judge)
        runs = {m: load_run(Path(work_dir), m, dataset, chosen) for m in names}
        name = choose_metric(runs[pairs[0][0]], metric)
        for m in names:
            choose_metric(runs[m], name)  # every run must declare it
        out += [compare_pair(runs[x], runs[y], name, n_resamples, seed) for x, y in pairs]
    tested = [i for i, c in enumerate(out) if c.paired.p_value is not None]
    adjusted = holm([out[i].paired.p_value or 1.0 for i in tested])
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = _with_holm(out[i], p)
    return out


def _with_holm(c: Comparison, p: float) -> Comparison:
    return replace(c, p_holm=p)


def _num(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def _p(x: float | None) -> str:
    return "-" if x is None else ("<0.001" if x < 0.001 else f"{x:.3f}")


def verdict(c: Comparison, alpha: float = 0.05) -> str:
    """One phrase: which model is significantly better (Holm-corrected), or that none is."""
    if c.p_holm is None:
        return "not tested"
    if c.p_holm < alpha and c.paired.favours:
        return f"{c.model_a if c.paired.favours == 'a' else c.model_b} better"
    return "no significant difference"


def render_text(comparisons: Sequence[Comparison]) -> str:
    """A console table (tabulate) plus the drops, warnings and notes of each comparison."""
    rows = []
    for c in comparisons:
        p = c.paired
        ci = f"[{_num(p.ci_low)}, {_num(p.ci_high)}]" if p.ci_low is not None else "-"
        rows.append(
            [
                c.dataset, f"{c.model_a} vs {c.model_b}", f"{c.metric} {'↑' if c.higher_is_better else '↓'}",
                _num(p.value_a), _num(p.value_b), f"{_num(p.diff)} {ci}", _p(p.p_value), _p(c.p_holm),
                p.n, sum(c.dropped.values()), _num(p.mde, 3), verdict(c),
            ]
        )  # fmt: skip
    head = ["dataset", "A vs B", "metric", "A", "B", "A-B [95% CI]", "p", "p Holm", "n", "dropped", "MDE", "result"]
    lines = [tabulate(rows, headers=head, tablefmt="simple", disable_numparse=True)]
    for c in comparisons:
        p = c.paired
        tag = f"{c.dataset} {c.model_a} vs {c.model_b}:"
        worst = f"failed samples counted as worst: {c.model_a} {c.worst_a}, {c.model_b} {c.worst_b}"
        unit = (
            f"{p.n_clusters} clusters" if p.method.startswith("cluster") else "no shared clusters (items independent)"
        )
        lines.append(f"{tag} judge {c.judge}, {c.values} values, {unit}; {worst}")
        lines.append(f"  p: two-sided {p.method}; CI: {p.ci_method}")
        if c.dropped:
            lines.append(f"  dropped: {', '.join(f'{why} {n}' for why, n in sorted(c.dropped.items()))}")
        lines += [f"  WARNING: {w}" for w in c.warnings]
        lines += [f"  note: {x}" for x in (c.note, p.note) if x]
    if comparisons:
        lines.append(
            f"p Holm: Holm-corrected over the {len(comparisons)} comparison(s) above; "
            "MDE: the smallest true difference the test detects with 80% power at alpha 0.05"
        )
    return "\n".join(lines)


def render_json(comparisons: Sequence[Comparison]) -> str:
    """The comparisons as a JSON list (``null`` where a value is undefined)."""
    return json.dumps([asdict(c) for c in comparisons], indent=2, ensure_ascii=False)
