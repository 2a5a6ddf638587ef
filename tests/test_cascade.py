"""The cascade's producer on hand-built answers: tags, marks, fenced code, request words, failures, storage."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest
from PIL import Image
from support import Dev, code_record, write_records

from evalkit.cli import main
from evalkit.errors import ConfigError
from evalkit.models.cascade import CascadeModel, CascadeOptions
from evalkit.render import make_renderer
from evalkit.render.image_card import CARD_LABEL
from evalkit.render.produce import Producer, next_free_tags, store_file
from evalkit.types import Generation, Part

MSG = (Part("audio", "/x/in.wav", "audio1"), Part("text", "Listen to it and confirm with a short spoken answer."))


def producer(tmp_path: Path, audio: str = "espeak-ng", asked: tuple[str, ...] = ()) -> Producer:
    p = Producer({"audio": audio, "document": "page-pdf", "image": "text-card", "code": "inline"}, asked)
    p.run_dir = tmp_path
    return p


def apply(p: Producer, text: str, msg: tuple[Part, ...] = MSG) -> Generation:
    return asyncio.run(p.apply("set:7", msg, Generation(text=text, meta={"usage": {"x": 1}})))


def test_next_free_tags_follow_the_input() -> None:
    msg = (Part("image", "/a.png", "image3"), Part("audio", "/b.wav", "audio1"), Part("text", "hi"))
    assert next_free_tags(msg, ("audio", "image", "document")) == {"audio": 2, "image": 4, "document": 1}


def test_marks_become_tagged_cited_stored_parts(tmp_path: Path) -> None:
    gen = apply(producer(tmp_path), "Sure. <audio1: Yes it starts at seven.> See <document: Hours\nNine to five> too.")
    assert gen.text == "Sure. <audio2> See <document1> too."  # the model's audio1 is taken by the input
    audio, page = gen.parts
    assert (audio.tag, page.tag) == ("audio2", "document1")
    assert Path(audio.value).parent == tmp_path / "media" / "set_7" and Path(page.value).suffix == ".pdf"
    with wave.open(audio.value) as w:
        assert w.getnframes() > w.getframerate() // 2
    assert gen.meta["usage"] == {"x": 1} and gen.meta["produced"]["audio2"]["from"] == "mark"
    assert gen.meta["produced"]["document1"]["renderer"] == "page-pdf (Pillow)"
    assert not (tmp_path / "media" / ".scratch").exists() or not any((tmp_path / "media" / ".scratch").iterdir())


def test_fenced_code_and_request_words(tmp_path: Path) -> None:
    p = producer(tmp_path, asked=("audio", "document"))
    gen = apply(p, "Fixed:\n```python\nprint(1)\n```\nIt prints one. Done.")
    assert "<code1>" in gen.text and "```" not in gen.text
    code, audio = gen.parts
    assert code == Part("code", "```python\nprint(1)\n```", "code1")
    assert audio.tag == "audio2" and gen.meta["produced"]["audio2"]["from"] == "request"
    assert '<audio2> says it aloud: "Fixed: It prints one. Done."' in gen.text  # no tag read aloud
    assert "document1" not in gen.meta["produced"]  # the request asks for no printed page


def test_a_failed_render_fails_that_item_only(tmp_path: Path) -> None:
    p = producer(tmp_path, audio="speech-endpoint:http://127.0.0.1:9|tts")  # nothing listens on port 9
    gen = apply(p, "A <audio2: hello> and <image: a red circle>.")
    assert gen.text == "A <audio2> and <image1>."
    assert [x.tag for x in gen.parts] == ["image1"]
    assert gen.meta["produced_failed"]["audio2"].startswith("speech-endpoint failed: ")


def test_text_card_says_what_it_is(tmp_path: Path) -> None:
    gen = apply(producer(tmp_path), "<image2: a red circle>")
    (card,) = gen.parts
    assert gen.meta["produced"]["image1"]["renderer"] == "text-card (placeholder)"
    assert Image.open(card.value).size == (960, 720) and "NOT A GENERATED IMAGE" in CARD_LABEL


def test_storage_is_content_hashed(tmp_path: Path) -> None:
    for _ in range(2):
        src = tmp_path / "tmp.wav"
        src.write_bytes(b"RIFF same bytes")
        dest = store_file(src, tmp_path / "run", "a/b", "audio2")
    assert [p.name for p in dest.parent.iterdir()] == [dest.name] and dest.name.startswith("audio2-")


def test_renderer_specs_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown renderer"):
        make_renderer("audio", "festival")
    with pytest.raises(ConfigError, match="produces image, not audio"):
        make_renderer("audio", "text-card")
    with pytest.raises(ConfigError, match="speech-endpoint:<base_url>"):
        make_renderer("audio", "speech-endpoint:")


def test_tags_follow_media_the_model_returned(tmp_path: Path) -> None:
    spoken = Part("audio", str(tmp_path / "reply.wav"), "audio2")  # e.g. an endpoint's own audio reply
    gen = Generation(text="Yes. <audio2> <audio: again>", parts=(spoken,), meta={"produced": {"audio2": {"x": 1}}})
    p = producer(tmp_path, asked=("audio",))
    out = asyncio.run(p.apply("s", MSG, gen))
    assert out.text == "Yes. <audio2> <audio3>" and [x.tag for x in out.parts] == ["audio2", "audio3"]
    assert set(out.meta["produced"]) == {"audio2", "audio3"}  # no request-word audio: the answer already speaks


def test_cascade_backend_wraps_another_model_entry(tmp_path: Path, dev: Dev) -> None:
    data = tmp_path / "data"
    write_records(data / "code_test.jsonl", [code_record(1)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: data
work_dir: results
datasets:
  ds: {{class: interleaved, files: ["*.jsonl"], judge: proxy}}
models:
  wrapped:
    backend: cascade
    text_model: {{backend: openai, base_url: "{dev.base_url}", model: marks}}
    produce: {{audio: espeak-ng, code: inline}}
judges:
  proxy: {{class: caption-agreement}}
""",
        encoding="utf-8",
    )
    assert main(["--config", str(cfg), "--model", "wrapped", "--dataset", "ds", "--skip-eval", "--no-progress"]) == 0
    (pred,) = [json.loads(x) for x in (tmp_path / "results" / "wrapped" / "ds" / "predictions.jsonl").open()]
    assert pred["error"] == "" and {p["tag"] for p in pred["parts"]} == {"audio1", "code2"}  # input holds <code1>
    assert pred["text"] == "Here is my answer. <audio1> <code2>" and dev.requests("marks") == 1
    with pytest.raises(ConfigError, match="text_model: name the wrapped model's backend"):
        CascadeModel("c", CascadeOptions(produce={"audio": "espeak-ng"}))
