"""``report.html``: one static page per run with every sample, its media in place, the judge's view, filters.

The header (report table, failures by stage, manifest facts) is rendered here with every value escaped; the
entries are one JSON blob that the inline script renders lazily (:mod:`evalkit.html.assets`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from evalkit.html.assets import CSS, JS
from evalkit.html.collect import RunData, collect
from evalkit.html.media import MediaLinker
from evalkit.store import RunStore, write_atomic
from evalkit.types import Sample

REPORT_HTML = "report.html"
#: nothing leaves the machine: no fetch, no remote script, style or media; media only from files or data: URLs
CSP = (
    "default-src 'none'; img-src 'self' data: file:; media-src 'self' data: file:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'"
)
REPORT_COLUMNS = ("subset", "metric", "value", "ci_low", "ci_high", "n", "n_failed", "value_scored", "basis", "flags")


def report_html_path(store: RunStore) -> Path:
    """Where a run's page goes: ``report.html`` in the run folder."""
    return store.dir / REPORT_HTML


def json_for_script(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and line separators as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _report_tables(data: RunData) -> str:
    out = []
    for judge in dict.fromkeys(r.get("judge", "") for r in data.report):
        rows = [r for r in data.report if r.get("judge", "") == judge]
        cells = [[r.get(c, "") for c in REPORT_COLUMNS] for r in rows if r.get("subset") == "all"]
        rest = [[r.get(c, "") for c in REPORT_COLUMNS] for r in rows if r.get("subset") != "all"]
        out.append(
            f'<h2>Report: judge {escape(judge)}</h2><div class="scroll">{_table(REPORT_COLUMNS, cells, "report")}</div>'
        )
        if rest:
            out.append(f"<details><summary>{len(rest)} rows by subset, domain, difficulty</summary>")
            out.append(_table(REPORT_COLUMNS, rest, "report") + "</details>")
    return "".join(out) or "<p>No report rows (infer-only run, or not judged yet).</p>"


def _facts(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    ds, model = manifest.get("dataset", {}), manifest.get("model", {})
    facts = [
        ("model backend", str(model.get("identity", {}).get("backend", ""))),
        ("dataset class", f"{ds.get('class', '')} (prompt {ds.get('prompt_version', '')})"),
        ("samples", f"{ds.get('samples', '')} ({ds.get('bad_records', 0)} bad records)"),
        ("partial", str(ds.get("partial", "") or "no")),
        ("unread media", json.dumps(ds.get("unread_media", {}))),
        ("tokens", json.dumps(ds.get("tokens", {}))),
        ("git sha", str(manifest.get("git_sha", ""))),
        (
            "config files",
            ", ".join(map(str, manifest.get("config", {}).get("layers", [])))
            or str(manifest.get("config", {}).get("path", "")),
        ),
        ("packages", ", ".join(f"{k} {v}" for k, v in manifest.get("packages", {}).items())),
    ]
    for name, j in manifest.get("judges", {}).items():
        stats = j.get("stats", {})
        facts.append(
            (
                f"judge {name}",
                f"{j.get('started', '')} → {j.get('finished', '')} ({j.get('wall_s', '')} s); "
                f"infer {json.dumps(stats.get('infer', {}))}; judge {json.dumps(stats.get('judge', {}))}",
            )
        )
    return [(k, v) for k, v in facts if v]


def render(data: RunData, model: str, dataset: str) -> str:
    """The whole page."""
    judges = ", ".join(data.judges) or "none"
    fails = sorted(data.failures.items())
    fail_html = _table(("stage", "judge", "samples"), [[s, j, n] for (s, j), n in fails]) if fails else "<p>None.</p>"
    metrics = []
    for r in data.report:
        key = f"{r.get('judge', '')}/{r.get('metric', '')}"
        if r.get("subset") == "all" and key not in metrics:
            metrics.append(key)
    blob = {"entries": data.entries, "metrics": metrics, "note": data.note}
    note = f'<p class="note">{escape(data.note)}</p>' if data.note else ""
    title = escape(f"{model} on {dataset}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{title}: evalkit run</title><style>{CSS}</style></head><body>
<header class="top"><h1>{title}</h1>
<p>model <b>{escape(model)}</b> · dataset <b>{escape(dataset)}</b> · judge(s) <b>{escape(judges)}</b> ·
{len(data.entries)} samples</p>{note}
{_report_tables(data)}
<h2>Failed samples by stage</h2>{fail_html}
<details><summary>Manifest facts</summary>{_table(("fact", "value"), _facts(data.manifest), "facts")}</details>
</header>
<div id="controls">
<label>subset <select id="f-subset"><option value="">all</option></select></label>
<label>domain <select id="f-domain"><option value="">all</option></select></label>
<label>difficulty <select id="f-difficulty"><option value="">all</option></select></label>
<label>score <select id="f-metric"></select></label>
<label>from <input id="f-min" type="number" step="any"></label>
<label>to <input id="f-max" type="number" step="any"></label>
<label><input id="f-failed" type="checkbox"> failed only</label>
<label>sort <select id="f-sort"><option value="">dataset order</option><option value="asc">score ↑</option>
<option value="desc">score ↓</option></select></label>
<input id="f-q" type="search" placeholder="search text">
<span id="count"></span></div>
<main><div id="entries"></div><div id="sentinel"></div></main>
<script type="application/json" id="run-data">{json_for_script(blob)}</script>
<script>{JS}</script>
</body></html>
"""


def write_run_report(
    store: RunStore,
    samples: Sequence[Sample] | None,
    *,
    embed_media: bool = False,
    note: str = "",
    secrets: Sequence[str] = (),
) -> Path:
    """Write ``report.html`` (and ``report_media/``) in the run folder; returns the page's path.

    Args:
        store: the run.
        samples: the dataset's samples (prompts, references); None renders from the stored files only.
        embed_media: embed media files below the size limit as data: URLs instead of relative links.
        note: shown in the header (why the prompts are missing).
        secrets: values replaced by ``***`` anywhere on the page (API keys from the environment).
    """
    data = collect(store, samples, MediaLinker(store.dir, embed_media), note)
    text = render(data, store.model, store.dataset)
    for value in sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True):
        text = text.replace(value, "***")
    path = report_html_path(store)
    write_atomic(path, text)
    return path
