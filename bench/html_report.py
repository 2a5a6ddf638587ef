"""How fast a 2,000-sample run page opens and filters in headless Chromium.

What it measures: a real run made for the bench (``--n`` interleaved records in a temporary data root: code,
image and audio records cycling, domains and difficulties varied; the ``replay`` model; the coherence LLM judge
on the loopback devserver's ``judge-json`` model; audio captioned ``inline``, which fails, so a quarter of the
samples are failed samples), then ``run.py report RUN_DIR --html``. Chromium (``--headless --dump-dom``) opens
the page from disk ``--repeats`` times; the page records ``performance.now()`` when its first window of entries
is in the DOM (``data-ready-ms``: from navigation start, so HTML parse, JSON parse and first render) and, with
``#bench=1``, the time of each filter applied after opening (failed only, text search, score range, sort,
none). Also printed: the page size, the time to write it, and the wall time of the whole browser process.
Goal: open and filter in under 2 s.

Run: ``python bench/html_report.py [--n 2000] [--repeats 3]``. Needs ``chromium``. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, devserver, print_table, verdict

SAMPLE = REPO / "data" / "interleaved_sample"
GOAL_MS = 2000.0
DOMAINS = ("natural_science", "general_domain", "humanities")


def write_records(root: Path, n: int) -> None:
    """``n`` interleaved records under ``root`` (pretty-printed, as the real files are), media copied in."""
    for domain in DOMAINS:  # modal paths are relative to <root>/<domain folder>/<subdomain>/
        media = root / ("general_area" if domain == "general_domain" else domain) / "bench" / "media"
        media.mkdir(parents=True)
        shutil.copy(next(SAMPLE.rglob("img_0601_01.png")), media / "chart.png")
        shutil.copy(next(SAMPLE.rglob("aud_0502_01.wav")), media / "tea.wav")
    recs = []
    for i in range(n):
        kind = ("code", "image", "code", "audio")[i % 4]
        modal = {"code": {"code1": f"```python\nprint({i} * 2)\n```"}, "image": {"image1": "media/chart.png"},
                 "audio": {"audio1": "media/tea.wav"}}[kind]  # fmt: skip
        tag = next(iter(modal))
        recs.append(
            {
                "domain": DOMAINS[i % 3],
                "subdomain": "bench",
                "id": str(i),
                "difficulty": ("easy", "medium", "hard")[i % 5 % 3],
                "input": {"modal": modal, "content": f"Question {i}: what does <{tag}> show?"},
                "output": {"modal": {}, "content": f"Answer {i}: <{tag}> shows item {i} in detail."},
            }
        )
    (root / "bench_test.jsonl").write_text("\n".join(json.dumps(r, indent=4) for r in recs), encoding="utf-8")


def make_run(tmp: Path, n: int) -> tuple[Path, Path]:
    """A real run of ``n`` records with the devserver judge; returns (config, run folder)."""
    write_records(tmp / "data", n)
    with devserver() as dev:
        cfg = tmp / "config.yaml"
        cfg.write_text(
            f"""
dataset_root: {tmp / "data"}
work_dir: {tmp / "results"}
datasets: {{bench: {{class: interleaved, files: ["*.jsonl"]}}}}
models:
  replay: {{backend: replay}}
  judge: {{backend: openai, base_url: "{dev.base_url}", model: judge-json, max_retries: 1, concurrency: 32}}
judges:
  llm: {{class: coherence-llm, judge_model: judge, max_parse_retries: 1, concurrency: 32,
         captioners: {{audio: inline, image: image-cpu, code: inline}}}}
""",
            encoding="utf-8",
        )
        argv = [sys.executable, str(REPO / "run.py"), "--config", str(cfg), "--model", "replay", "--dataset", "bench"]
        subprocess.run([*argv, "--judge", "llm", "--no-progress"], check=True, capture_output=True, cwd=tmp)
    return cfg, tmp / "results" / "replay" / "bench"


def chromium(browser: str, tmp: Path, url: str) -> tuple[str, float]:
    """The DOM after load and the wall time of the browser process."""
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
            "--window-size=1280,2000", "--dump-dom", url]  # fmt: skip
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    return res.stdout, time.perf_counter() - t0


def attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    if m is None:
        raise RuntimeError(f"the page set no {name}: did its script run?")
    return m.group(1).replace("&quot;", '"')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("no chromium on PATH: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="bench-html-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        cfg, run_dir = make_run(tmp, args.n)
        run_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "run.py"), "report", str(run_dir), "--html", "--config", str(cfg)],
                       check=True, capture_output=True)  # fmt: skip
        write_s = time.perf_counter() - t0
        page = run_dir / "report.html"
        ready, walls, shown, filters = [], [], "", {}
        for _ in range(args.repeats):
            dom, wall = chromium(browser, tmp, page.as_uri() + "#bench=1")
            ready.append(float(attr(dom, "data-ready-ms")))
            walls.append(wall)
            for name, ms in json.loads(attr(dom, "data-bench")).items():
                filters.setdefault(name, []).append(float(ms))
        dom, _ = chromium(browser, tmp, page.as_uri() + "#failed=1&difficulty=hard")
        shown = attr(dom, "data-shown")
        worst = max(statistics.median(ready), *(max(v) for v in filters.values()))
        rows = [
            ("samples", f"{args.n} ({len(re.findall('<article ', dom))} entries in the DOM after load)"),
            ("page size", f"{page.stat().st_size / 1e6:.2f} MB (one file; media by relative path)"),
            ("real run (replay + devserver judge)", f"{run_s:.1f} s"),
            ("run.py report --html (dataset rebuilt)", f"{write_s:.2f} s"),
            ("open: navigation to first render (median)", f"{statistics.median(ready):.0f} ms ({args.repeats} loads)"),
            *((f"filter '{k}' after open (max)", f"{max(v):.1f} ms") for k, v in filters.items()),
            ("#failed=1&difficulty=hard shows", f"{shown} of {args.n}"),
            ("whole chromium process (median, incl. browser start)", f"{statistics.median(walls):.2f} s"),
            ("goal: opens and filters in < 2 s", verdict(worst < GOAL_MS)),
        ]
        print_table(f"HTML run page in headless Chromium ({Path(browser).name})", rows)


if __name__ == "__main__":
    main()
