"""Captions: cache across runs, tag resolution, inlining; the LLM judge with a model captioner; leaderboard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from support import REPO, Dev, code_record, write_config, write_records

from evalkit.captions import CaptionCache, Captioner, inline_captions, resolve_tags
from evalkit.cli import main
from evalkit.types import Part, Prediction, Sample


class Counting(Captioner):
    def __init__(self) -> None:
        super().__init__("counting", {"captioner": "counting"})
        self.calls = 0

    async def caption(self, part: Part) -> str:
        self.calls += 1
        await asyncio.sleep(0.01)
        return f"caption of {Path(part.value).name}"


def test_each_distinct_file_is_captioned_once_across_runs(tmp_path: Path) -> None:
    a, b, a_copy = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "a_copy.wav"
    a.write_bytes(b"AAAA")
    b.write_bytes(b"BBBB")
    a_copy.write_bytes(b"AAAA")
    cap = Counting()

    async def run(cache: CaptionCache) -> list[str]:
        parts = [Part("audio", str(p)) for p in (a, b, a_copy, a, b)]
        try:
            return list(await asyncio.gather(*(cache.get(p, cap) for p in parts)))
        finally:
            cache.close()

    first = asyncio.run(run(CaptionCache(tmp_path / "captions.jsonl")))
    assert cap.calls == 2  # a and its byte-identical copy share one caption; concurrent asks wait for one call
    assert first[0] == first[2] == first[3] == "caption of a.wav"
    second = asyncio.run(run(CaptionCache(tmp_path / "captions.jsonl")))
    assert cap.calls == 2 and second == first
    cap.identity = {"captioner": "counting", "version": 2}  # a changed captioner config captions again
    asyncio.run(run(CaptionCache(tmp_path / "captions.jsonl")))
    assert cap.calls == 4


def test_failed_captions_are_not_cached(tmp_path: Path) -> None:
    class Failing(Captioner):
        calls = 0

        async def caption(self, part: Part) -> str:
            Failing.calls += 1
            raise RuntimeError("decoder crashed")

    f = tmp_path / "x.png"
    f.write_bytes(b"x")
    cache = CaptionCache(tmp_path / "c.jsonl")
    for _ in range(2):
        try:
            asyncio.run(cache.get(Part("image", str(f)), Failing("f", {"f": 1})))
        except RuntimeError:
            pass
    assert Failing.calls == 2 and not (tmp_path / "c.jsonl").exists()


def test_tags_resolve_from_the_prediction_first_then_the_input() -> None:
    sample = Sample(
        "s", (Part("text", "q "), Part("image", "/in/1.png", "image1"), Part("audio", "/in/a.wav", "audio1"))
    )
    pred = Prediction(
        "s", "m", "k", text="See <image1>, <audio1> and <video7>.", parts=(Part("image", "/out/1.png", "image1"),)
    )
    found, missing = resolve_tags(pred.text, pred, sample)
    assert found["image1"].value == "/out/1.png" and found["audio1"].value == "/in/a.wav"
    assert missing == ["video7"]
    assert inline_captions(pred.text, {"image1": "a cat"}) == "See <image1:a cat>, <audio1> and <video7>."


def test_llm_judge_sees_model_captions_inlined(tmp_path: Path, dev: Dev) -> None:
    img_dir = tmp_path / "data" / "natural_science" / "programming" / "image"
    img_dir.mkdir(parents=True)
    src = REPO / "data/interleaved_sample/natural_science/education/image/img_0602_01.png"
    (img_dir / "c.png").write_bytes(src.read_bytes())
    rec = code_record(1) | {"input": {"modal": {"image1": "image/c.png"}, "content": "What does <image1> show?"}}
    write_records(tmp_path / "data" / "a.jsonl", [rec, code_record(2)])
    extra = '  llm2: {class: coherence-llm, judge_model: judge, captioners: {image: "model:echo"}}\n'
    cfg = write_config(tmp_path, dev.base_url, extra=extra)
    assert main(["--config", str(cfg), "--judge", "llm2", "--no-progress", "--no-reliability"]) == 0
    verdicts = [json.loads(x) for x in (tmp_path / "results/echo/ds/verdicts.llm2.jsonl").read_text().splitlines()]
    v = next(v for v in verdicts if v["sample_id"] == "a:1")
    assert v["details"]["question"].startswith("What does <image1:Echo: [image]   Describe this image in dense detail")
    assert v["scores"] and set(v["scores"]) == {"coherence", "style_consistency"}
    assert v["details"]["reply_mode"] == "json_schema"
    # 2 subject calls, one caption call for the one image; one reply-format probe and 2 judge calls
    assert dev.requests("echo") == 3 and dev.requests("judge-json") == 3


def test_leaderboard_lists_every_report_with_its_judge(tmp_path: Path, dev: Dev) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(3)])
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    assert main(["--config", str(cfg), "--model", "replay", "--no-progress"]) == 0
    assert main(["--config", str(cfg), "--model", "replay", "--judge", "exact-match", "--no-progress"]) == 0
    # one report per model x dataset holds the rows of every judge run on it
    report = (tmp_path / "results" / "replay" / "ds" / "report.csv").read_text()
    assert ",coherence," in report and ",accuracy,1,3,0,exact-match" in report
    out = tmp_path / "LB.md"
    assert main(["leaderboard", "--config", str(cfg), "--output", str(out)]) == 0
    text = out.read_text()
    # one summary column per dataset and judge, ranked on the judge's primary metric
    assert "ds (coherence, llm) ↑" in text and "ds (accuracy, exact-match) ↑" in text
    summary: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(("| echo", "| replay")):
            summary.setdefault(line.split("|")[1].strip(), line)
    assert set(summary) == {"echo", "replay"}
    assert "**1** n=3" in summary["replay"]  # all three right: no CI to show (every value equal)
    assert "<summary>ds: every metric</summary>" in text and "| replay  | accuracy (exact-match)" in text
