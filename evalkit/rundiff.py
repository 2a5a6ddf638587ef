"""`python run.py diff RUN_DIR_A RUN_DIR_B`: why did my number change?

Compares two stored run folders (any two: the same model before and after an upgrade, two models, two
judges' configs): first what differs in their ``manifest.json`` (config, judge prompt hashes, package
versions, git sha, dataset and its prompt version, model identity, judge identity), then the samples whose
primary score changed, read from ``samples.<judge>.jsonl``, largest change first, with both answers. Reads
files only; calls no model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from evalkit.compare import Run, choose_metric, read_manifest, read_samples, samples_path
from evalkit.errors import ConfigError

SECTIONS = ("config", "prompt hashes", "packages", "git sha", "dataset", "model", "judge", "other")
"""Manifest sections in the order they are printed."""

VOLATILE = frozenset({"started", "finished", "wall_s", "stats"})
"""Judge-entry keys that differ between any two runs (times, counts) and say nothing about the cause."""


@dataclass(frozen=True)
class Change:
    """One manifest value that differs.

    Attributes:
        section: one of :data:`SECTIONS`.
        key: dotted path inside the section (``""`` for a scalar section such as the git sha).
        a: value in run A (``None`` when absent).
        b: value in run B (``None`` when absent).
    """

    section: str
    key: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Flip:
    """A sample whose value or state differs between the runs.

    Attributes:
        sample_id: the sample.
        value_a: its value in run A (``None``: no value, see ``state_a``).
        value_b: its value in run B.
        delta: ``value_b - value_a``; ``None`` when either is missing.
        state_a: ``""`` when judged, else ``"<stage>: <reason>"``.
        state_b: the same for run B.
        answer_a: run A's answer (short).
        answer_b: run B's answer (short).
        reference: the reference answer (short).
    """

    sample_id: str
    value_a: float | None
    value_b: float | None
    delta: float | None
    state_a: str
    state_b: str
    answer_a: str
    answer_b: str
    reference: str

    @property
    def impact(self) -> float:
        """``|delta|``; infinite when a value appeared or disappeared (sorted first)."""
        return float("inf") if self.delta is None else abs(self.delta)


@dataclass(frozen=True)
class RunDiff:
    """Everything that differs between two runs.

    Attributes:
        dir_a: run A's folder.
        dir_b: run B's folder.
        changes: manifest differences, in :data:`SECTIONS` order.
        judge: the judge whose samples were compared; ``None`` when no judge scored both runs.
        metric: the compared metric (the judge's primary one unless chosen).
        values: ``strict`` (failures counted as worst) or ``scores``.
        flips: samples whose value or state changed, largest impact first.
        n_both: samples in both runs.
        only_a: ids only in run A.
        only_b: ids only in run B.
        notes: what could not be compared, and why.
    """

    dir_a: Path
    dir_b: Path
    changes: tuple[Change, ...]
    judge: str | None
    metric: str | None
    values: str
    flips: tuple[Flip, ...]
    n_both: int
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _flatten(x: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(x, dict) and x:
        out: dict[str, Any] = {}
        for key, value in x.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: x}


def _sections(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manifest split into the printed sections, each flattened to dotted keys."""
    judges = manifest.get("judges", {})
    known = {"config", "packages", "git_sha", "dataset", "model", "judges"}
    return {
        "config": _flatten(manifest.get("config", {})),
        "prompt hashes": _flatten({j: e.get("prompt_hashes", {}) for j, e in judges.items()}),
        "packages": _flatten(manifest.get("packages", {})),
        "git sha": {"": manifest.get("git_sha")},
        "dataset": _flatten(manifest.get("dataset", {})),
        "model": _flatten(manifest.get("model", {})),
        "judge": _flatten(
            {j: {k: v for k, v in e.items() if k not in VOLATILE | {"prompt_hashes"}} for j, e in judges.items()}
        ),
        "other": _flatten({k: v for k, v in manifest.items() if k not in known}),
    }


def manifest_changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """Every manifest value that differs, by section."""
    sa, sb = _sections(a), _sections(b)
    out = []
    for section in SECTIONS:
        for key in sorted(set(sa[section]) | set(sb[section])):
            va, vb = sa[section].get(key), sb[section].get(key)
            if va != vb:
                out.append(Change(section, key, va, vb))
    return out


def _short(text: Any, width: int = 60) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _value(row: dict[str, Any] | None, metric: str, source: str) -> float | None:
    if row is None:
        return None
    got = row.get(source, {}).get(metric)
    if got is None and source == "scores":
        pair = row.get("ratio", {}).get(metric)
        got = pair[0] / pair[1] if pair and pair[1] else None
    return None if got is None else float(got)


def _state(row: dict[str, Any]) -> str:
    return f"{row['stage']}: {row.get('reason', '')}" if row.get("stage") else ""


def sample_flips(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], metric: str, source: str) -> list[Flip]:
    """Samples in both runs whose value or failure state differs, largest ``|delta|`` first."""
    out = []
    for sid, ra in a.items():
        rb = b.get(sid)
        if rb is None:
            continue
        va, vb = _value(ra, metric, source), _value(rb, metric, source)
        delta = None if va is None or vb is None else vb - va
        same_value = (va is None and vb is None) or (delta is not None and abs(delta) <= 1e-12)
        if same_value and _state(ra) == _state(rb):
            continue
        ref = ra.get("reference") or rb.get("reference")
        answers = _short(ra.get("answer")), _short(rb.get("answer"))
        out.append(Flip(sid, va, vb, delta, _state(ra), _state(rb), *answers, _short(ref)))
    return sorted(out, key=lambda f: (-f.impact, f.sample_id))


def _shared_judges(dir_a: Path, dir_b: Path, ma: dict[str, Any], mb: dict[str, Any]) -> list[str]:
    return sorted(
        j
        for j in set(ma.get("judges", {})) & set(mb.get("judges", {}))
        if samples_path(dir_a, j).is_file() and samples_path(dir_b, j).is_file()
    )


def diff_runs(dir_a: Path | str, dir_b: Path | str, judge: str | None = None, metric: str | None = None) -> RunDiff:
    """Compare two run folders: manifest differences, then changed samples of one judge's metric.

    Args:
        dir_a: run A's folder (``<work_dir>/<model>/<dataset>``).
        dir_b: run B's folder.
        judge: the judge whose samples to compare; default: the one both runs share (the first by name,
            noted, when they share several).
        metric: the metric; default: the judge's primary metric.

    Returns:
        The differences.

    Raises:
        ConfigError: a folder or manifest is missing, ``judge`` did not score both runs, unknown ``metric``.
    """
    pa, pb = Path(dir_a), Path(dir_b)
    ma, mb = read_manifest(pa), read_manifest(pb)
    changes = tuple(manifest_changes(ma, mb))
    shared = _shared_judges(pa, pb, ma, mb)
    notes = []
    if judge is not None and judge not in shared:
        raise ConfigError(f"judge '{judge}' has not scored both runs; shared: {shared or 'none'}")
    if judge is None:
        if not shared:
            note = "no judge scored both runs: samples not compared"
            return RunDiff(pa, pb, changes, None, None, "", (), 0, (), (), (note,))
        judge = shared[0]
        if len(shared) > 1:
            notes.append(f"judges shared: {', '.join(shared)}; showing {judge} (choose with --judge)")
    run_a = Run("A", "", pa, ma, judge, read_samples(samples_path(pa, judge)))
    sb = read_samples(samples_path(pb, judge))
    name = choose_metric(run_a, metric)
    source = "strict" if run_a.metrics.get(name, {}).get("worst") is not None else "scores"
    flips = sample_flips(run_a.samples, sb, name, source)
    only_a = tuple(s for s in run_a.samples if s not in sb)
    only_b = tuple(s for s in sb if s not in run_a.samples)
    n_both = len(run_a.samples) - len(only_a)
    return RunDiff(pa, pb, changes, judge, name, source, tuple(flips), n_both, only_a, only_b, tuple(notes))


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return "-" if x is None else _short(x, 70)


def _direction(delta: float | None) -> str:
    if delta is None:
        return "gained or lost a value"
    return "up" if delta > 0 else "down" if delta < 0 else "same value"


def render_text(diff: RunDiff, limit: int = 20) -> str:
    """Manifest differences by section, then the ``limit`` most changed samples as a table."""
    lines = [f"A: {diff.dir_a}", f"B: {diff.dir_b}"]
    if not diff.changes:
        lines.append("manifest: no differences (times and counts aside)")
    section = None
    for c in diff.changes:
        if c.section != section:
            section = c.section
            lines.append(f"{section}:")
        lines.append(f"  {c.key + ': ' if c.key else ''}{_fmt(c.a)} -> {_fmt(c.b)}")
    lines += [f"note: {n}" for n in diff.notes]
    if diff.judge is None:
        return "\n".join(lines)
    kinds = Counter(_direction(f.delta) for f in diff.flips)
    parts = [f"{kinds[k]} {k}" for k in ("up", "down", "gained or lost a value") if kinds[k]]
    if kinds["same value"]:
        parts.append(f"{kinds['same value']} failed or recovered at the same value")
    lines.append(
        f"samples (judge {diff.judge}, {diff.metric}, {diff.values} values): {diff.n_both} in both, "
        f"{len(diff.flips)} changed ({', '.join(parts) or 'none'}), {len(diff.only_a)} only in A, "
        f"{len(diff.only_b)} only in B"
    )
    rows = [
        [
            f.sample_id,
            _fmt(f.value_a) if not f.state_a else f"{_fmt(f.value_a)} ({_short(f.state_a, 30)})",
            _fmt(f.value_b) if not f.state_b else f"{_fmt(f.value_b)} ({_short(f.state_b, 30)})",
            _fmt(f.delta),
            f.answer_a,
            f.answer_b,
        ]
        for f in diff.flips[:limit]
    ]
    if rows:
        head = ["sample", "A", "B", "B-A", "answer A", "answer B"]
        lines.append(tabulate(rows, headers=head, tablefmt="simple", disable_numparse=True))
    if len(diff.flips) > limit:
        lines.append(f"... {len(diff.flips) - limit} more changed samples")
    return "\n".join(lines)
