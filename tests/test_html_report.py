"""run.py report --html: a real run of the bundled interleaved sample (replay model, LLM judge on the loopback dev
server) rendered to report.html, checked as data and in headless Chromium (skipped when no browser is installed)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from support import REPO, code_record, start_dev, write_records

from evalkit.cli import main
from evalkit.html.families import asr_alignment, family_view
from evalkit.html.report import json_for_script

HOSTILE = '</script><script>document.title="pwned"</script><img src=x onerror="document.body.dataset.pwned=1">'
SECRET, SECRET_ENV = "sk-evalkit-test-4f2a9c", "EVALKIT_HTML_TEST_API_KEY"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _config(tmp: Path, base_url: str, data_root: Path) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
extends: {REPO / "config.yaml"}
dataset_root: {data_root}
work_dir: {tmp / "results"}
datasets:
  hostile: {{class: interleaved, root: {tmp / "hostile"}, files: ["*.jsonl"]}}
models:
  judge: {{backend: openai, base_url: "{base_url}", model: judge-json, max_retries: 1, backoff_s: 0.01}}
  echo: {{backend: openai, base_url: "{base_url}", model: echo, modalities: [image], unread_media: note}}
judges:
  llm:
    class: coherence-llm
    judge_model: judge
    max_parse_retries: 1
    captioners: {{audio: inline, video: inline, image: image-cpu, document: inline, threeD: inline, code: inline}}
""",
        encoding="utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(config, work dir) after two real runs with --html: the bundled interleaved sample, and a hostile one."""
    tmp = tmp_path_factory.mktemp("html")
    rec = code_record(1)
    rec["output"]["content"] = f"It prints 1 {HOSTILE} see <code2>. Key: {SECRET}"
    write_records(tmp / "hostile" / "code_test.jsonl", [rec])
    server = start_dev()
    os.environ[SECRET_ENV] = SECRET  # a key in the environment never reaches a page
    try:
        cfg = _config(tmp, server.base_url, REPO / "data")
        for ds in ("interleaved", "hostile"):
            argv = ["--config", str(cfg), "--model", "replay", "--dataset", ds, "--judge", "llm", "--no-progress"]
            assert main([*argv, "--html"]) == 0
        yield cfg, tmp / "results"
    finally:
        os.environ.pop(SECRET_ENV, None)
        server.stop()


def _blob(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', text, re.S)
    assert m is not None
    return dict(json.loads(m.group(1)))


def _ids(samples_file: Path) -> list[str]:
    return [json.loads(line)["sample_id"] for line in samples_file.read_text(encoding="utf-8").splitlines()]


def test_page_holds_every_sample_with_its_media(runs: tuple[Path, Path]) -> None:
    run_dir = runs[1] / "replay" / "interleaved"
    page = run_dir / "report.html"
    data = _blob(page)
    entries = {e["id"]: e for e in data["entries"]}
    assert sorted(entries) == sorted(_ids(run_dir / "samples.llm.jsonl")) and len(entries) == 12
    kinds = {p["t"] for e in entries.values() for p in e["prompt"]}
    assert {"audio", "image", "video", "document", "code", "threeD"} <= kinds
    for e in entries.values():
        for p in e["prompt"] + list(e["answer"]["media"].values()):
            if p.get("src"):
                assert (run_dir / unquote(p["src"])).is_file(), (e["id"], p)
    # a 3D point cloud is shown as its projection written under report_media/
    shots = [p for e in entries.values() for p in e["prompt"] if p["t"] == "threeD"]
    assert shots and all(p["src"].startswith("report_media/3d-") for p in shots)
    failed = [e for e in entries.values() if e["failed"]]
    assert 0 < len(failed) < 12 and all(e["judges"]["llm"]["stage"] == "judge" for e in failed)
    ok = next(e for e in entries.values() if not e["failed"])
    assert ok["judges"]["llm"]["scores"] and ok["judges"]["llm"]["raw"]
    text = page.read_text(encoding="utf-8")
    assert "Failed samples by stage" in text and "ci_low" in text


def test_model_text_is_escaped(runs: tuple[Path, Path]) -> None:
    page = runs[1] / "replay" / "hostile" / "report.html"
    text = page.read_text(encoding="utf-8")
    assert text.count("<script") == 2 and "<img src=x" not in text  # only as \u003c-escaped JSON text
    answer = _blob(page)["entries"][0]["answer"]["text"]
    assert HOSTILE in answer and answer.endswith("Key: ***") and SECRET not in text
    assert "</" not in json_for_script({"a": "</script>"})


def test_report_command_rebuilds_prompts_or_renders_stored_files(runs: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, work = runs
    run_dir = work / "replay" / "interleaved"
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir), "--html", "--embed-media", "--config", str(cfg)]) == 0
    data = _blob(run_dir / "report.html")
    srcs = [p.get("src", "") for e in data["entries"] for p in e["prompt"]]
    assert any(s.startswith("data:audio/") for s in srcs) and any(s.startswith("data:image/") for s in srcs)
    bare = tmp_path / "bare.yaml"
    bare.write_text(f"dataset_root: {tmp_path}\nwork_dir: {work}\n", encoding="utf-8")
    assert main(["report", str(run_dir), "--html", "--config", str(bare)]) == 0
    data = _blob(run_dir / "report.html")
    assert "could not be loaded" in data["note"] and len(data["entries"]) == 12
    assert all(e["prompt"] == [] and e["answer"]["text"] for e in data["entries"])
    assert main(["report", str(tmp_path), "--html", "--config", str(cfg)]) == 2


def test_family_views() -> None:
    align = asr_alignment({"reference": "a b c d", "hypothesis": "a x c e f"})
    assert align == [["eq", "a", "a"], ["sub", "b", "x"], ["eq", "c", "c"], ["ins", "", "e"], ["sub", "d", "f"]]
    assert asr_alignment({"reference": "the cat sat", "hypothesis": "the sat"})[1] == ["del", "cat", ""]
    chars = asr_alignment({"reference": "你好吗", "hypothesis": "你们好", "unit": "char"})
    assert ["eq", "你", "你"] == chars[0] and {c[0] for c in chars} - {"eq"}
    asr = family_view(None, {"reference": "a b", "hypothesis": "a c", "substitutions": 1}, None)
    assert asr["kind"] == "asr" and asr["align"] == [["eq", "a", "a"], ["sub", "b", "c"]]
    choice = family_view(None, {"gold": "A", "extracted": "B", "rule": "letter"}, None)
    assert (choice["kind"], choice["extracted"], choice["gold"]) == ("choice", "B", "A")
    top = family_view(["d2", "d1"], {"positive_ranks": {"d1": 2}}, None)["top"]
    assert [(t["id"], t["positive"]) for t in top] == [("d2", False), ("d1", True)]


def _browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    pytest.skip(f"no headless browser installed ({', '.join(BROWSERS)}): apt-get install chromium")


def _chromium(browser: str, tmp: Path, url: str, *extra: str) -> str:
    argv = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
        "--window-size=1280,2000",
        "--virtual-time-budget=3000",
        *extra,
        url,
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=tmp)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _attr(dom: str, name: str) -> str:
    m = re.search(rf'{name}="([^"]*)"', dom)
    assert m is not None, name
    return m.group(1)


def test_page_in_chromium(runs: tuple[Path, Path], tmp_path: Path) -> None:
    browser = _browser()
    run_dir = runs[1] / "replay" / "interleaved"
    page = run_dir / "report.html"
    dom = _chromium(browser, tmp_path, page.as_uri(), "--dump-dom")
    ids = re.findall(r'<article class="entry[^"]*" id="[^"]*" data-id="([^"]*)"', dom)
    assert sorted(ids) == sorted(_ids(run_dir / "samples.llm.jsonl"))
    assert _attr(dom, "data-shown") == "12"
    for tag in ("audio", "img"):
        srcs = [html.unescape(s) for s in re.findall(rf'<{tag}[^>]* src="([^"]+)"', dom)]
        assert srcs and all((run_dir / unquote(s)).is_file() for s in srcs), (tag, srcs[:3])
    failed = _chromium(browser, tmp_path, page.as_uri() + "#failed=1", "--dump-dom")
    n_failed = int(_attr(failed, "data-shown"))
    assert 0 < n_failed < 12 and len(re.findall(r"<article ", failed)) == n_failed
    subset = _chromium(browser, tmp_path, page.as_uri() + "#subset=audio_test&q=concert", "--dump-dom")
    assert re.findall(r'data-id="([^"]*)"', subset) == ["audio_test:501"]
    shot = tmp_path / "report.png"
    _chromium(browser, tmp_path, page.as_uri(), f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hostile_text_does_not_run_in_chromium(runs: tuple[Path, Path], tmp_path: Path) -> None:
    browser = _browser()
    page = runs[1] / "replay" / "hostile" / "report.html"
    dom = _chromium(browser, tmp_path, page.as_uri(), "--dump-dom")
    assert "pwned" not in re.sub(r'<script type="application/json".*?</script>', "", dom, flags=re.S).replace(
        html.escape(HOSTILE, quote=False), ""
    )
    assert "<title>pwned" not in dom and "data-pwned" not in dom
    assert html.escape(HOSTILE, quote=False) in dom  # shown as text


def test_leaderboard_html_links_each_cell_to_its_run_page(runs: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, work = runs
    out = tmp_path / "board" / "LEADERBOARD.md"
    assert main(["leaderboard", "--html", "--config", str(cfg), "--output", str(out)]) == 0
    page = (out.parent / "leaderboard.html").read_text(encoding="utf-8")
    hrefs = set(re.findall(r'<a href="([^"]+)"', page))
    pages = {(out.parent / unquote(h)).resolve() for h in hrefs}
    assert pages == {(work / "replay" / ds / "report.html").resolve() for ds in ("interleaved", "hostile")}
    assert "run report first" not in page and "<b>" in page
    hostile = work / "replay" / "hostile"
    (hostile / "report.html").unlink()
    try:
        assert main(["leaderboard", "--html", "--config", str(cfg), "--output", str(out)]) == 0
        page = (out.parent / "leaderboard.html").read_text(encoding="utf-8")
        assert f"run report first: python run.py report {hostile} --html" in page
    finally:
        assert main(["report", str(hostile), "--html", "--config", str(cfg)]) == 0


def test_every_family_shows_its_view(runs: tuple[Path, Path]) -> None:
    """Real runs: Whisper on the ASR sample, MiniLM on text retrieval, the echo model on the MCQ sample."""
    cfg, work = runs
    for model, ds in (("whisper-cpu", "audio-asr"), ("minilm-embed-cpu", "retrieval-text"), ("echo", "generic-mcq")):
        argv = ["--config", str(cfg), "--model", model, "--dataset", ds, "--limit", "2", "--no-progress", "--html"]
        assert main(argv) == 0
    asr = _blob(work / "whisper-cpu" / "audio-asr" / "report.html")["entries"][0]["judges"]["asr"]["family"]
    assert asr["kind"] == "asr" and asr["align"] and {c[0] for c in asr["align"]} <= {"eq", "sub", "del", "ins"}
    assert " ".join(c[1] for c in asr["align"] if c[1]).startswith("the quick brown fox")
    ret = _blob(work / "minilm-embed-cpu" / "retrieval-text" / "report.html")["entries"][0]["judges"]["retrieval"]
    top = ret["family"]["top"]
    assert ret["family"]["kind"] == "retrieval" and top[0]["positive"] and "Eiffel" in top[0]["text"]
    mcq = _blob(work / "echo" / "generic-mcq" / "report.html")["entries"]
    choice = mcq[0]["judges"]["choice"]["family"]
    assert choice["kind"] == "choice" and choice["gold"] == "A" and "rule" in choice
    assert mcq[0]["prompt"][0]["t"] == "image" and mcq[0]["prompt"][0]["show"] == "img"
