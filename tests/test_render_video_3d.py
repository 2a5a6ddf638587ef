"""Produced video and 3D: labelled placeholders (text-card mp4 narrated by espeak-ng, a .ply sphere) rendered,
stored, tagged, cited, captioned and exported; failures counted with their reason; reruns reuse. And the fixed
request lexicon that decides which media a request asks for, on requests that are not in the bundled sample."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import av
import pytest
from support import REPO, Dev

from evalkit.cli import main
from evalkit.datasets.interleaved import iter_json_objects
from evalkit.embedded.describe import describe_point_cloud, describe_video
from evalkit.errors import ConfigError
from evalkit.judges.asr import edit_counts
from evalkit.mediaproc.pointcloud import read_points
from evalkit.render.point_cloud import placeholder_ply
from evalkit.render.produce import Producer
from evalkit.render.request import asked_media
from evalkit.render.video_card import VideoCardRenderer, card_texts, split_mark
from evalkit.types import Generation, Part

SPECS = {"audio": "espeak-ng", "video": "video-card", "threeD": "placeholder-cloud", "code": "inline"}


# ----------------------------------------------------------------------------------- the request lexicon

# requests of the real records in /work/shared/examples/interleaved (not the bundled sample), with what they ask
HELD_OUT = [
    ("Create a video representation based on the following: <audio1>.", {"video"}),
    ("Imagine a scene where <audio1> is taking place. How would you create a video to visually represent "
     "this description?", {"video"}),
    ("Based on the description in <audio1>, what kind of food could this be? How might 3D point cloud data be "
     "applied to study its geometric structure and unique features?", set()),  # mentions 3D, asks for none
    ("What is Artificial Intelligence? Explain with historical context and include <image1> in the "
     "explanation.", set()),  # cites an input image: nothing to produce
]  # fmt: skip
OWN = [
    ("Please answer out loud: is it raining?", {"audio"}),
    ("Reply with a voice message telling Sam the meeting moved to Friday.", {"audio"}),
    ("Listen to the audio and give me the date it mentions.", set()),  # "audio" is not what is given
    ("Read the chart in <image1>. Which bar is tallest?", set()),
    ("Sketch a floor plan of a two-room flat.", {"image"}),
    ("Design a one-page flyer for the bake sale.", {"document"}),
    ("Generate an animation of a bouncing ball with a narrated explanation.", {"video"}),  # narration: its track
    ("Watch <video1>. What does the narrator say?", set()),
    ("Produce a 3D mesh of a teapot, then say it aloud: what is it for?", {"threeD", "audio"}),
    ("Give me a point-cloud of a chair.", {"threeD"}),
]


@pytest.mark.parametrize(("request_text", "kinds"), HELD_OUT + OWN)
def test_request_lexicon_asks_only_what_is_requested(request_text: str, kinds: set[str]) -> None:
    assert asked_media(request_text) == kinds


def test_when_asked_needs_kinds_with_renderers() -> None:
    with pytest.raises(ConfigError, match="video has no renderer in produce"):
        Producer({"audio": "espeak-ng"}, ["video"])
    with pytest.raises(ConfigError, match="a list of kinds"):
        Producer({"audio": "espeak-ng"}, {"audio": ["spoken"]})  # type: ignore[arg-type]  # the old form


# ----------------------------------------------------------------------------------- rendering marks


def apply(p: Producer, text: str, msg: tuple[Part, ...], sample: str = "set:1") -> Generation:
    return asyncio.run(p.apply(sample, msg, Generation(text=text)))


def test_split_mark_and_cards() -> None:
    assert split_mark("A red ball rolls. | Says:  Look at it  go. ") == ("A red ball rolls.", "Look at it go.")
    assert split_mark("A red ball rolls.") == ("A red ball rolls.", "")
    cards = card_texts(" ".join(f"Sentence number {i} is here." for i in range(80)))
    assert len(cards) == 6 and cards[-1] == "[...]" and all(len(c) <= 280 for c in cards)


def test_video_and_3d_marks_are_stored_tagged_cited_and_say_what_they_are(tmp_path: Path) -> None:
    p = Producer(SPECS)
    p.run_dir = tmp_path
    msg = (Part("threeD", "/in/cloud.ply", "threeD1"), Part("text", "Show it."))
    text = (
        "Here. <video: A red ball rolls across a table. | says: The ball rolls to the left.> "
        "And <threeD: a ripe avocado, oval with a ridge>."
    )
    gen = apply(p, text, msg)
    assert gen.text == "Here. <video1> And <threeD2>."  # the input holds <threeD1>
    video, cloud = gen.parts
    assert (video.type, video.tag, cloud.type, cloud.tag) == ("video", "video1", "threeD", "threeD2")
    assert Path(video.value).parent == tmp_path / "media" / "set_1" and Path(video.value).name.startswith("video1-")
    produced = gen.meta["produced"]
    assert produced["video1"]["renderer"] == "video-card (placeholder), espeak-ng narration"
    assert produced["threeD2"] == {
        "renderer": "placeholder-cloud (placeholder)",
        "from": "mark",
        "file": f"media/set_1/{Path(cloud.value).name}",
        "text": "a ripe avocado, oval with a ridge",
    }
    with av.open(video.value) as c:  # a real mp4: H.264 cards and an AAC narration, longer than the speech
        assert c.streams.video[0].codec_context.name == "h264" and len(c.streams.audio) == 1
        assert c.metadata["comment"].startswith("placeholder: placeholder video made of text cards")
        assert 2.0 < c.duration / 1e6 < 10.0
    caption = describe_video(Path(video.value), None)
    assert caption.startswith("Placeholder video made of text cards, not generated footage; it shows: A red ball")
    assert read_points(Path(cloud.value)).shape == (512, 3)  # the media readers take it as any other cloud
    caption = describe_point_cloud(Path(cloud.value))
    assert caption.startswith("Placeholder point cloud, not a generated 3D model; it stands for: a ripe avocado")
    assert "A point cloud of 512 points" in caption


def test_request_renders_the_answer_as_video_and_3d(tmp_path: Path) -> None:
    p = Producer(SPECS, ["audio", "video", "threeD"])
    p.run_dir = tmp_path
    msg = (Part("audio", "/in/a.wav", "audio1"), Part("text", "Make a short narrated video of what <audio1> asks."))
    gen = apply(p, "A dog runs on the beach. It catches a ball.", msg)
    (video,) = gen.parts  # narration belongs to the video: no separate audio; no 3D was asked for
    assert video.tag == "video1" and gen.meta["produced"]["video1"]["from"] == "request"
    assert (
        '<video1> (a placeholder video of labelled text cards, not footage) shows and says: "A dog runs on the '
        'beach. It catches a ball."' in gen.text
    )
    with av.open(video.value) as c:
        assert len(c.streams.audio) == 1  # the answer's first sentences, spoken
    nothing = apply(p, "It is a dog.", (Part("text", "Which animal barks?"),), "set:2")
    assert nothing.parts == () and "produced_failed" not in nothing.meta


def test_a_failed_video_fails_that_item_with_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VideoCardRenderer, "ffmpeg", "no-such-ffmpeg")
    p = Producer(SPECS)
    p.run_dir = tmp_path
    gen = apply(p, "See <video: a ball> and <audio: hello there>.", (Part("text", "Go."),))
    assert gen.text == "See <video1> and <audio1>."
    assert gen.meta["produced_failed"] == {
        "video1": "video-card failed: RuntimeError: no-such-ffmpeg is not installed (apt-get install ffmpeg)"
    }
    assert [x.tag for x in gen.parts] == ["audio1"]  # the rest of the answer stands
    assert not any(p.is_file() for p in (tmp_path / "media").rglob("*.mp4"))
    with pytest.raises(ValueError, match="nothing to stand for"):
        placeholder_ply(" \n ")


# ----------------------------------------------------------------------------------- end to end, CLI


def config(tmp: Path, base_url: str) -> Path:
    text = f"""
dataset_root: {REPO / "data"}
work_dir: results
defaults: {{model: cascade, dataset: ds}}
datasets:
  ds: {{class: interleaved, root: interleaved_sample, files: [video_test.jsonl, threeD_test.jsonl],
        domain_folders: {{general_domain: general_area}}, judge: proxy}}
models:
  cascade: {{backend: openai, base_url: "{base_url}", model: echo, unread_media: note, max_retries: 0,
             produce: {{audio: espeak-ng, video: video-card, threeD: placeholder-cloud}}, produce_marks: false,
             produce_when_asked: [audio, video, threeD]}}
judges:
  proxy: {{class: caption-agreement}}
"""
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_cli_video_and_3d_stored_captioned_exported_reused(tmp_path: Path, dev: Dev) -> None:
    cfg = config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability"]) == 0
    run = tmp_path / "results" / "cascade" / "ds"
    preds = {p["sample_id"]: p for p in lines(run / "predictions.jsonl")}
    made = {sid: {p["tag"]: p for p in pred["parts"]} for sid, pred in preds.items()}
    # the bundled sample asks for a narrated video (901) and two 3D models (1101 after <audio1>, 1102 after
    # <threeD1>); 902 asks about its input video and gets nothing
    assert {sid: set(parts) for sid, parts in made.items()} == {
        "video_test:901": {"video1"},
        "video_test:902": set(),
        "threeD_test:1101": {"threeD1"},
        "threeD_test:1102": {"threeD2"},
    }
    video = Path(made["video_test:901"]["video1"]["value"])
    assert video.parent == (run / "media" / "video_test_901").resolve() and video.suffix == ".mp4"
    assert "<video1> (a placeholder video" in preds["video_test:901"]["text"]

    verdicts = {v["sample_id"]: v for v in lines(run / "verdicts.proxy.jsonl")}
    modal = verdicts["video_test:901"]["details"]["modal"]
    assert modal["video1"].startswith("Placeholder video made of text cards, not generated footage; it shows: Echo:")
    said = preds["video_test:901"]["meta"]["produced"]["video1"]["text"].split("| says:")[1]
    heard = modal["video1"].split("Speech:")[1].strip(' ".')  # Whisper hears the narration track back
    wer = edit_counts(said, heard, "en")
    print(f"round-trip WER of the narration, espeak-ng -> whisper-cpu: {wer.errors}/{wer.ref_len}")
    # the echo answer reads out a bracketed note ("[audio not shown: ...]") that speech garbles; its plain words
    assert {"make", "video", "answer", "request", "above"} <= set(heard.lower().replace(",", " ").split())
    cloud = verdicts["threeD_test:1102"]["details"]["modal"]["threeD2"]
    assert cloud.startswith("Placeholder point cloud, not a generated 3D model; it stands for: Echo:")
    for sid in ("video_test:901", "threeD_test:1101", "threeD_test:1102"):
        assert 0.3 < verdicts[sid]["scores"]["media_text_agreement"] <= 1.0

    records = {r["id"]: r for _, r, _ in iter_json_objects((run / "scored.proxy.jsonl").read_text())}
    assert (run / records["901"]["output"]["modal"]["video1"]).resolve() == video
    assert (run / records["1102"]["output"]["modal"]["threeD2"]).resolve().suffix == ".ply"

    media = sorted(p.name for p in (run / "media").rglob("*") if p.is_file())
    assert len(media) == 3
    before = dev.requests("echo")
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability"]) == 0
    assert dev.requests("echo") == before  # reused, not regenerated
    assert sorted(p.name for p in (run / "media").rglob("*") if p.is_file()) == media


def test_cli_failed_video_is_a_counted_failure(tmp_path: Path, dev: Dev, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(VideoCardRenderer, "ffmpeg", "no-such-ffmpeg")
    cfg = config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability", "--limit", "1"]) == 0
    run = tmp_path / "results" / "cascade" / "ds"
    (pred,) = lines(run / "predictions.jsonl")
    assert pred["sample_id"] == "video_test:901" and pred["error"] == "" and pred["parts"] == []
    assert pred["meta"]["produced_failed"]["video1"].startswith("video-card failed: RuntimeError: no-such-ffmpeg")
    with (run / "failures.csv").open() as f:
        reasons = [r["reason"] for r in csv.DictReader(f)]
    assert any("produced media failed: <video1> video-card failed" in r for r in reasons)
    with (run / "report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    assert rows[("all", "media_text_agreement")]["n_failed"] == "1"
