"""Produced media end to end on the bundled sample and the loopback dev server: a cascade's marks rendered
(espeak-ng speech, a PNG page, a labelled text card, inline code), stored, tagged, cited, captioned by the CPU
judge (Whisper hears the speech back), exported in the original format, reused on rerun; a failed render is a
counted failure with its reason; an endpoint that speaks has its audio stored, one that refuses is told once."""

from __future__ import annotations

import csv
import json
import wave
from pathlib import Path

from support import REPO, Dev

from evalkit.cli import main
from evalkit.datasets.interleaved import iter_json_objects
from evalkit.devserver import MARK_CONTENT
from evalkit.judges.asr import edit_counts


def config(tmp: Path, base_url: str, audio: str = "espeak-ng", extra_models: str = "") -> Path:
    text = f"""
dataset_root: {REPO / "data"}
work_dir: results
defaults: {{model: cascade, dataset: ds}}
datasets:
  ds: {{class: interleaved, root: interleaved_sample, files: [audio_test.jsonl, code_test.jsonl],
        domain_folders: {{general_domain: general_area}}, judge: proxy}}
models:
  cascade: {{backend: openai, base_url: "{base_url}", model: marks, unread_media: note, max_retries: 1,
             backoff_s: 0.01, produce: {{audio: "{audio}", document: page-png, image: text-card, code: inline}}}}
{extra_models}
judges:
  proxy: {{class: caption-agreement}}
"""
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def report(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as f:
        return {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}


def test_cascade_renders_stores_cites_captions_exports_and_reuses(tmp_path: Path, dev: Dev) -> None:
    cfg = config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability"]) == 0
    run = tmp_path / "results" / "cascade" / "ds"
    preds = {p["sample_id"]: p for p in lines(run / "predictions.jsonl")}
    p501 = preds["audio_test:501"]
    # the input holds <audio1>: the spoken reply is <audio2>; no input document/image/code: number 1 of each
    assert "Your answer can include media" in json.dumps(p501["prompt"]) and "<audio2: the words" in json.dumps(
        p501["prompt"]
    )
    parts = {p["tag"]: p for p in p501["parts"]}
    assert set(parts) == {"audio2", "document1", "image1", "code1"}
    assert all(f"<{t}>" in p501["text"] for t in parts) and ": Yes, the concert" not in p501["text"]
    audio = Path(parts["audio2"]["value"])
    assert audio.parent == (run / "media" / "audio_test_501").resolve() and audio.name.startswith("audio2-")
    with wave.open(str(audio)) as w:
        assert 1.5 < w.getnframes() / w.getframerate() < 10  # one sentence of speech
    assert parts["code1"]["value"] == MARK_CONTENT["code"]
    produced = p501["meta"]["produced"]
    assert produced["audio2"]["renderer"].startswith("espeak-ng") and produced["audio2"]["from"] == "mark"
    assert produced["image1"]["renderer"] == "text-card (placeholder)"
    assert produced["document1"]["file"] == f"media/audio_test_501/{Path(parts['document1']['value']).name}"
    # code_test:102 has an input <code1> and <image1>: its produced ones are <code2> and <image2>
    assert {p["tag"] for p in preds["code_test:102"]["parts"]} == {"audio1", "document1", "image2", "code2"}

    verdicts = {v["sample_id"]: v for v in lines(run / "verdicts.proxy.jsonl")}
    modal = verdicts["audio_test:501"]["details"]["modal"]
    # Whisper hears the spoken reply back: word error rate of the round trip
    heard = modal["audio2"].removeprefix("Speech:").strip()
    wer = edit_counts(MARK_CONTENT["audio"], heard, "en")
    print(f"round-trip WER espeak-ng -> whisper-cpu: {wer.errors}/{wer.ref_len}")
    assert wer.errors / wer.ref_len <= 0.3
    assert "library" in modal["document1"].lower()  # OCR reads the rendered page
    assert "textcard-not" in modal["image1"].lower().replace(" ", "")  # the placeholder says what it is
    assert "def mean" in modal["code1"]
    rows = report(run / "report.csv")
    agreement = rows[("all", "media_text_agreement")]
    assert agreement["n"] == "4" and agreement["n_failed"] == "0"

    records = {r["id"]: r for _, r, _ in iter_json_objects((run / "scored.proxy.jsonl").read_text())}
    out = records["501"]["output"]
    assert out["content"] == p501["text"] and out["modal"]["code1"] == MARK_CONTENT["code"]
    assert (run / out["modal"]["audio2"]).resolve() == audio
    per_source = run / "scored.proxy" / "audio_test.jsonl"
    rec = next(r for _, r, _ in iter_json_objects(per_source.read_text()) if r["id"] == "501")
    assert (per_source.parent / rec["output"]["modal"]["audio2"]).resolve() == audio

    media = sorted(p.name for p in (run / "media").rglob("*") if p.is_file())
    before = dev.requests("marks")
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability"]) == 0
    assert dev.requests("marks") == before  # reused, not regenerated
    assert sorted(p.name for p in (run / "media").rglob("*") if p.is_file()) == media


def test_failed_render_fails_that_item_with_its_reason(tmp_path: Path, dev: Dev) -> None:
    cfg = config(tmp_path, dev.base_url, audio=f"speech-endpoint:{dev.base_url}|fail-tts")
    args = ["--config", str(cfg), "--dataset", "ds", "--no-progress", "--no-reliability", "--limit", "1"]
    assert main(args) == 0
    run = tmp_path / "results" / "cascade" / "ds"
    (pred,) = lines(run / "predictions.jsonl")
    assert pred["error"] == "" and "<audio2>" in pred["text"]
    assert "HTTP 400" in pred["meta"]["produced_failed"]["audio2"]
    assert {p["tag"] for p in pred["parts"]} == {"document1", "image1", "code1"}  # the rest of the answer stands
    with (run / "failures.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert any("produced media failed: <audio2> speech-endpoint failed" in r["reason"] for r in rows)
    assert report(run / "report.csv")[("all", "media_text_agreement")]["n_failed"] == "1"


def test_endpoint_audio_is_stored_and_a_refusal_is_said_once(tmp_path: Path, dev: Dev, capsys) -> None:
    extra = f"""  speaker: {{backend: openai, base_url: "{dev.base_url}", model: speaker, unread_media: note,
             audio_out: {{voice: alloy, format: wav}}}}
  mute: {{backend: openai, base_url: "{dev.base_url}", model: echo, unread_media: note, max_retries: 0,
          audio_out: {{voice: alloy}}}}"""
    cfg = config(tmp_path, dev.base_url, extra_models=extra)
    base = ["--config", str(cfg), "--dataset", "ds", "--no-progress", "--skip-eval"]
    assert main([*base, "--model", "speaker"]) == 0
    preds = lines(tmp_path / "results" / "speaker" / "ds" / "predictions.jsonl")
    p501 = next(p for p in preds if p["sample_id"] == "audio_test:501")
    (part,) = p501["parts"]
    assert part["tag"] == "audio2" and "<audio2>" in p501["text"] and "seven thirty" in p501["text"]
    with wave.open(part["value"]) as w:
        assert w.getnframes() > w.getframerate()  # more than a second of speech
    assert "audio_reply" not in p501["meta"] and "data" not in json.dumps(p501["meta"])
    capsys.readouterr()
    assert main([*base, "--model", "mute"]) == 0
    said = capsys.readouterr().out
    assert said.count("does not produce audio") == 1
    mute = lines(tmp_path / "results" / "mute" / "ds" / "predictions.jsonl")
    assert all(p["error"] == "" and p["text"].startswith("Echo:") and not p["parts"] for p in mute)
