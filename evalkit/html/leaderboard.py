"""``leaderboard.html`` beside LEADERBOARD.md: the same summary table, plots and per-metric tables, each
model x dataset cell linking to that run's ``report.html`` (a missing page is linked and marked with the command
that writes it)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

import pandas as pd

from evalkit.html.report import report_html_path
from evalkit.store import RunStore, write_atomic

CSP = "default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'"  # no script, nothing fetched
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:12px 18px;color:#1d232a}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}td,th{border:1px solid #d8dce2;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#eef1f5}a{color:#2457a6}.missing{color:#8a5300;font-size:11.5px}
img{max-width:100%;margin:6px 0}details>summary{cursor:pointer;color:#2457a6}
"""


def _dataset_of(label: str, datasets: Sequence[str]) -> str:
    """The dataset a summary column's label names (labels read ``<dataset> (<metric>...)``)."""
    found = [d for d in datasets if label.startswith(f"{d} (")]
    return max(found, key=len) if found else ""


def _run_link(work_dir: Path, out_dir: Path, model: str, dataset: str, text: str) -> str:
    store = RunStore(work_dir, model, dataset)
    page = report_html_path(store)
    href = escape(Path(os.path.relpath(page.resolve(), out_dir.resolve())).as_posix())
    link = f'<a href="{href}">{text}</a>'
    if page.exists():
        return link
    hint = f"run report first: python run.py report {store.dir} --html"
    return f'{link} <span class="missing" title="{escape(hint)}">(no page yet: {escape(hint)})</span>'


def _cell(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escape(text))


def _summary(work_dir: Path, out_dir: Path, df: pd.DataFrame, header: list[str], body: list[list[str]]) -> str:
    datasets = sorted(str(d) for d in df["dataset"].unique()) if not df.empty else []
    cols = [_dataset_of(h, datasets) for h in header]
    rows = []
    for row in body:
        model = row[0]
        cells = [f"<td>{escape(model)}</td>"]
        for text, dataset in zip(row[1:], cols[1:], strict=False):
            inner = _cell(text)
            if text and dataset:
                inner = _run_link(work_dir, out_dir, model, dataset, inner)
            cells.append(f"<td>{inner}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _details(work_dir: Path, out_dir: Path, df: pd.DataFrame) -> str:
    out = []
    top = df[df["subset"] == "all"]
    head = ("model", "metric (judge)", "value", "95% CI", "over scored", "scored/n", "basis", "flags")
    for dataset in sorted(top["dataset"].unique()):
        part = top[top["dataset"] == dataset].sort_values(["judge", "metric", "model"])
        rows = []
        for r in part.itertuples():
            ci = "" if pd.isna(r.ci_low) else f"[{r.ci_low:.3g}, {r.ci_high:.3g}]"
            cells = [
                "—" if pd.isna(r.value) else f"{r.value:.4g}",
                ci,
                "" if pd.isna(r.value_scored) else f"{r.value_scored:.4g}",
                f"{r.n - r.n_failed}/{r.n}",
                str(r.basis),
                str(r.flags),
            ]
            link = _run_link(work_dir, out_dir, str(r.model), str(dataset), escape(str(r.model)))
            rows.append(
                f"<tr><td>{link}</td><td>{escape(f'{r.metric} ({r.judge})')}</td>"
                + "".join(f"<td>{escape(c)}</td>" for c in cells)
                + "</tr>"
            )
        th = "".join(f"<th>{h}</th>" for h in head)
        out.append(
            f"<details><summary>{escape(str(dataset))}: every metric</summary>"
            f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
        )
    return "".join(out)


def write_leaderboard_html(
    work_dir: Path,
    out: Path,
    df: pd.DataFrame,
    header: list[str],
    body: list[list[str]],
    plots: Sequence[str],
    intro: str = "",
) -> Path:
    """Write ``out`` (leaderboard.html) from what :func:`evalkit.leaderboard.write_leaderboard` computed.

    Args:
        work_dir: the results root the runs live under.
        out: the page's path (beside LEADERBOARD.md).
        df: the tidy report rows (:func:`evalkit.leaderboard.load`).
        header: the summary table's header.
        body: its rows (markdown cells: ``**best**`` becomes bold).
        plots: plot paths relative to the page's folder.
        intro: the explanation paragraph of LEADERBOARD.md (plain text).
    """
    out_dir = out.parent
    summary = _summary(work_dir, out_dir, df, header, body) if body else "<p>(no runs)</p>"
    imgs = "".join(f'<img src="{escape(p)}" alt="{escape(p)}">' for p in plots)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>evalkit leaderboard</title>
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<style>{CSS}</style></head><body>
<h1>Leaderboard</h1><p>{escape(intro)}</p>
<p>Each cell links to that run's page (every sample, its media and the judge's view).</p>
{summary}
{"<h2>Plots</h2>" + imgs if plots else ""}
<h2>Every metric</h2>{_details(work_dir, out_dir, df) if not df.empty else ""}
</body></html>
"""
    write_atomic(out, page)
    return out
