"""LEADERBOARD.md, leaderboard.csv and plots from every run under a work dir; ``evalkit.results.load`` reads it.

The summary table has one column per dataset (and judge): each cell is the dataset's primary metric as
``value [ci_low, ci_high]`` with its n, the best model in bold, and every model that a paired test (Holm-corrected
over the column) cannot tell apart from it marked as tied. Rules that keep a failure from flattering a model:
values are strict where the metric has a worst value (see :mod:`evalkit.scoring`), and a run whose value leaves
out failed samples (incomplete coverage) is never ranked above a fully covered run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tabulate import tabulate

from evalkit.errors import EvalkitError
from evalkit.store import write_atomic

TIDY_COLUMNS = (
    "model",
    "dataset",
    "subset",
    "metric",
    "value",
    "stderr",
    "ci_low",
    "ci_high",
    "n",
    "n_failed",
    "judge",
    "value_scored",
    "basis",
    "higher_is_better",
    "primary",
    "complete",
    "flags",
    "fingerprint",
    "run_time",
)
ALPHA = 0.05


def _manifest(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def load(work_dir: Path | str) -> pd.DataFrame:
    """Every report row under ``work_dir`` in tidy long form (columns :data:`TIDY_COLUMNS`).

    ``value`` and the CI are floats (NaN where a row has none); ``primary`` marks each judge's ranking metric;
    ``complete`` is False where the value leaves failed samples out.
    """
    frames = []
    for path in sorted(Path(work_dir).glob("*/*/report.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        if df.empty:
            continue
        manifest = _manifest(path.parent)
        df.insert(0, "model", path.parent.parent.name)
        judges = manifest.get("judges", {})
        df["primary"] = [bool(judges.get(j, {}).get("metrics", {}).get(m, {}).get("primary")) for j, m in
                         zip(df["judge"], df["metric"], strict=True)]  # fmt: skip
        df["fingerprint"] = [
            f"{manifest.get('model', {}).get('identity', {}).get('backend', '')}:"
            f"{_short(manifest.get('model', {}).get('identity'))}/{_short(judges.get(j, {}).get('identity'))}"
            for j in df["judge"]
        ]
        df["run_time"] = [judges.get(j, {}).get("finished", "") for j in df["judge"]]
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=list(TIDY_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    for col in TIDY_COLUMNS:
        if col not in out.columns:
            out[col] = ""
    for col in ("value", "stderr", "ci_low", "ci_high", "value_scored"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    for col in ("n", "n_failed"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    out["higher_is_better"] = out["higher_is_better"] != "no"
    out["complete"] = ~out["flags"].str.contains("coverage ", regex=False)
    return out[list(TIDY_COLUMNS)]


def _short(obj: Any) -> str:
    from evalkit.types import stable_hash

    return stable_hash(obj, 8) if obj else ""


@dataclass(frozen=True)
class Column:
    """One summary column: a dataset scored by one judge, ranked on its primary metric."""

    dataset: str
    judge: str
    metric: str
    higher_is_better: bool
    label: str


def _columns(primary: pd.DataFrame) -> list[Column]:
    out = []
    pairs = primary[["dataset", "judge", "metric", "higher_is_better"]].drop_duplicates(["dataset", "judge"])
    judges_per = pairs.groupby("dataset")["judge"].nunique()
    for r in pairs.itertuples():
        label = f"{r.dataset} ({r.metric}, {r.judge})" if judges_per[r.dataset] > 1 else f"{r.dataset} ({r.metric})"
        arrow = "↑" if r.higher_is_better else "↓"
        out.append(Column(str(r.dataset), str(r.judge), str(r.metric), bool(r.higher_is_better), f"{label} {arrow}"))
    return sorted(out, key=lambda c: (c.dataset, c.judge))


def ranked(rows: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Rows of one column in rank order: fully covered runs first, then by value in the metric's direction."""
    rows = rows.assign(_v=rows["value"] if higher_is_better else -rows["value"])
    rows = rows.sort_values(["complete", "_v"], ascending=[False, False], na_position="last")
    return rows.drop(columns="_v")


def _ties(work_dir: Path, col: Column, order: list[str]) -> dict[str, str]:
    """Model -> "tied" or "differs" against the column's best model (paired test, Holm over the column)."""
    from evalkit.compare import compare_runs

    if len(order) < 2:
        return {}
    try:
        comps = compare_runs(work_dir, [col.dataset], order, metric=col.metric, baseline=order[0], judge=col.judge)
    except (EvalkitError, OSError, KeyError, ValueError):
        return {}  # runs without per-sample files (older runs): no test, no tie marks
    out = {}
    for c in comps:
        p = c.p_holm if c.p_holm is not None else c.paired.p_value
        out[c.model_b] = "differs" if p is not None and p < ALPHA else "tied"
    return out


def _cell(r: Any, mark: str) -> str:
    if pd.isna(r.value):
        return f"— (n={r.n})"
    ci = f" [{r.ci_low:.3g}, {r.ci_high:.3g}]" if not pd.isna(r.ci_low) else ""
    value = f"**{r.value:.4g}**" if mark == "best" else f"{r.value:.4g}"
    tags = []
    if mark == "tied":
        tags.append("≈")
    if not r.complete:
        tags.append("⚠ coverage")
    if "partial run" in r.flags:
        tags.append("partial")
    if "media not shown" in r.flags:
        tags.append("media not shown")
    return f"{value}{ci} n={r.n}" + (f" ({', '.join(tags)})" if tags else "")


def summary(work_dir: Path, df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the models x datasets summary (best in bold, ≈ tied with it, mean rank).

    The mean rank is over the columns where at least two models have a value; "—" for a model never compared.
    """
    top = df[(df["subset"] == "all") & df["primary"]]
    columns = _columns(top)
    models = sorted(top["model"].unique())
    cells: dict[tuple[str, str], str] = {}
    ranks: dict[str, list[int]] = {m: [] for m in models}
    for col in columns:
        rows = ranked(top[(top["dataset"] == col.dataset) & (top["judge"] == col.judge)], col.higher_is_better)
        order = [str(m) for m, v in zip(rows["model"], rows["value"], strict=True) if not pd.isna(v)]
        ties = _ties(work_dir, col, order)
        for rank, r in enumerate(rows.itertuples(), start=1):
            mark = "best" if rank == 1 and not pd.isna(r.value) else ties.get(str(r.model), "")
            cells[(str(r.model), col.label)] = _cell(r, mark)
            if not pd.isna(r.value) and len(order) >= 2:  # a model alone in a column is not ranked there
                ranks[str(r.model)].append(rank)
    mean_rank = {m: (sum(v) / len(v) if v else math.inf) for m, v in ranks.items()}
    body = [
        [
            m,
            *(cells.get((m, c.label), "") for c in columns),
            f"{mean_rank[m]:.2f} ({len(ranks[m])})" if ranks[m] else "—",
        ]
        for m in sorted(models, key=lambda m: (mean_rank[m], m))
    ]
    return ["model", *(c.label for c in columns), "mean rank (columns)"], body


def _details(df: pd.DataFrame) -> list[str]:
    lines: list[str] = []
    top = df[df["subset"] == "all"]
    for dataset in sorted(top["dataset"].unique()):
        part = top[top["dataset"] == dataset]
        rows = [
            [
                r.model,
                f"{r.metric} ({r.judge})",
                "—" if pd.isna(r.value) else f"{r.value:.4g}",
                "" if pd.isna(r.ci_low) else f"[{r.ci_low:.3g}, {r.ci_high:.3g}]",
                "" if pd.isna(r.value_scored) else f"{r.value_scored:.4g}",
                f"{r.n - r.n_failed}/{r.n}",
                r.basis,
                r.flags,
            ]
            for r in part.sort_values(["judge", "metric", "model"]).itertuples()
        ]
        header = ["model", "metric (judge)", "value", "95% CI", "over scored", "scored/n", "basis", "flags"]
        lines += [
            "",
            f"<details><summary>{dataset}: every metric</summary>",
            "",
            tabulate(rows, header, tablefmt="github"),
            "",
            "</details>",
        ]
    return lines


def _plots(df: pd.DataFrame, out_dir: Path) -> list[str]:
    """PNG plots (per dataset: models with CI bars; model x subset heat map); their paths relative to out_dir."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made: list[str] = []
    plot_dir = out_dir / "leaderboard_plots"
    primary = df[df["primary"]]
    for (dataset, judge), part in primary.groupby(["dataset", "judge"]):
        top = part[part["subset"] == "all"].dropna(subset=["value"]).sort_values("model")
        if top.empty:
            continue
        plot_dir.mkdir(parents=True, exist_ok=True)
        metric = str(top["metric"].iloc[0])
        lo = (top["value"] - top["ci_low"]).clip(lower=0).fillna(0)
        hi = (top["ci_high"] - top["value"]).clip(lower=0).fillna(0)
        fig, ax = plt.subplots(figsize=(6, 1.6 + 0.4 * len(top)))
        # a bar over part of the samples says so, in its label and its colour
        labels = [m if ok else f"{m} (⚠ {n - f}/{n} scored)" for m, ok, n, f in
                  zip(top["model"], top["complete"], top["n"], top["n_failed"], strict=True)]  # fmt: skip
        colours = ["#4c72b0" if ok else "#c0c0c0" for ok in top["complete"]]
        ax.barh(labels, top["value"], xerr=[lo, hi], color=colours, capsize=3)
        ax.set_xlabel(f"{metric} ({judge}), 95% CI")
        ax.set_title(str(dataset))
        fig.tight_layout()
        name = f"{dataset}.{judge}.png".replace("/", "_")
        fig.savefig(plot_dir / name, dpi=100)
        plt.close(fig)
        made.append(f"leaderboard_plots/{name}")
        grid = part[part["subset"] != "all"].pivot_table(index="model", columns="subset", values="value")
        if grid.shape[1] >= 2:
            fig, ax = plt.subplots(figsize=(2.5 + 0.6 * grid.shape[1], 2.5 + 0.4 * grid.shape[0]))
            im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis")
            ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=60, ha="right", fontsize=7)
            ax.set_yticks(range(grid.shape[0]), [str(i) for i in grid.index], fontsize=8)
            fig.colorbar(im, ax=ax, label=metric)
            ax.set_title(f"{dataset}: {metric} by subset")
            fig.tight_layout()
            heat = f"{dataset}.{judge}.subsets.png".replace("/", "_")
            fig.savefig(plot_dir / heat, dpi=100)
            plt.close(fig)
            made.append(f"leaderboard_plots/{heat}")
    return made


def write_leaderboard(work_dir: Path, out: Path, html: bool = False) -> int:
    """Write LEADERBOARD.md (``out``), leaderboard.csv and plots beside it; returns the number of runs read.

    With ``html``, also leaderboard.html beside it: the same tables and plots, each cell linking to its run's page.
    """
    df = load(work_dir)
    n_runs = df[["model", "dataset"]].drop_duplicates().shape[0] if not df.empty else 0
    header, body = summary(work_dir, df) if not df.empty else (["model"], [])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out.parent / "leaderboard.csv", df.to_csv(index=False))
    plots = _plots(df, out.parent) if not df.empty else []
    lines = [
        "# Leaderboard",
        "",
        f"Generated by `python run.py leaderboard` from `{work_dir}` ({n_runs} runs). Each cell is the dataset's "
        "primary metric (↑ higher is better, ↓ lower is better) as `value [95% CI] n=samples`.",
        "Values are **strict** where the metric has a natural worst value: a sample the model gave no answer for "
        "counts as that worst value (accuracy 0, WER with every reference word deleted). Judge scores without one "
        "(1–5 coherence, similarity proxies) are over scored samples; a run whose value leaves failed samples out "
        "is marked ⚠ coverage and never ranked above a fully covered run. **Bold**: best; ≈: not significantly "
        "different from the best (paired cluster test on shared samples, Holm-corrected per column, α = 0.05): "
        '"not shown to differ", not "equal" (with 5 or fewer clusters no difference can be significant). '
        "The mean rank is over the columns where at least two models have a value (their count in brackets). "
        "CIs are cluster bootstraps (samples sharing a media file resample together); `partial` marks `--limit` "
        "runs. Every metric, subset and flag: `leaderboard.csv` and the folded tables below.",
        "",
        tabulate(body, header, tablefmt="github") if body else "(no runs)",
    ]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    lines += ["", "## Every metric", *_details(df)] if not df.empty else []
    write_atomic(out, "\n".join(lines) + "\n")
    if html:
        from evalkit.html.leaderboard import write_leaderboard_html

        write_leaderboard_html(work_dir, out.parent / "leaderboard.html", df, header, body, plots, lines[2])
    return n_runs
