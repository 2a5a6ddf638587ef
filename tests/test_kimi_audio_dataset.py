"""The kimi-audio dataset: records, prompts, bad lines as RecordErrors, the bundled sample, and end-to-end runs."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import jiwer
import pytest
from support import Dev
from whisper_normalizer.english import EnglishTextNormalizer

import evalkit.judges.asr
import evalkit.judges.choice
import evalkit.models.whisper_asr
from evalkit.cli import main
from evalkit.datasets.kimi_audio import KimiAudioDataset, KimiAudioOptions
from evalkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "audio_sample"
_ = (evalkit.judges.asr, evalkit.judges.choice, evalkit.models.whisper_asr)  # registers asr, choice, faster-whisper


def dataset(data_root: Path, **opts: Any) -> KimiAudioDataset:
    return KimiAudioDataset("ka", KimiAudioOptions(**opts), data_root)


def test_bundled_sample_loads_with_prompts_and_meta() -> None:
    asr = dataset(SAMPLE.parent, root="audio_sample", files=("asr.jsonl",)).load()
    assert len(asr.samples) == 4 and asr.errors == []
    s = asr.samples[0]
    assert s.id == "asr:0" and [p.type for p in s.msg] == ["audio", "text"]  # audio first
    assert Path(s.msg[0].value) == SAMPLE / "audio" / "asr_01.wav"
    assert s.msg[1].value == "Transcribe the speech in the audio into text. Reply with the transcript only."
    assert s.references[0].value == "The quick brown fox jumps over the lazy dog."
    assert s.meta["subset"] == "espeak-en" and s.meta["language"] == "en"

    mqa = dataset(SAMPLE.parent, root="audio_sample", files=("mqa.jsonl",), task="mqa", audio_type="audio event").load()
    assert len(mqa.samples) == 3 and mqa.errors == []
    first, second, third = mqa.samples
    assert first.meta["options"] == {"A": "apple", "B": "river", "C": "mountain", "D": "yellow"}
    assert [m.meta["answer_letter"] for m in mqa.samples] == ["B", "C", "B"]
    assert first.msg[1].value.startswith("Listen to the sound events in the audio.\nWhich word is spoken? (A) apple")
    assert "(A)" not in first.msg[1].value.split("yellow", 1)[1]  # options already in the question: not repeated
    assert third.msg[1].value == (
        "Listen to the sound events in the audio.\nWhich animal is mentioned?\n"
        "(A) dog\n(B) cat\n(C) bird\n(D) horse\nAnswer with the letter of the correct option."
    )
    assert second.meta["subset"] == "word" and third.meta["subset"] == "sentence"

    openqa = dataset(SAMPLE.parent, root="audio_sample", files=("openqa.jsonl",), task="openqa").load()
    [o] = openqa.samples
    assert o.references == () and o.meta["audio_content"] == "What is the capital of France?"
    assert o.msg[1].value == "Listen to the speech in the audio and respond to the request in it."
    refqa = dataset(SAMPLE.parent, root="audio_sample", files=("refqa.jsonl",), task="refqa").load()
    assert refqa.samples[0].references[0].value == "Seven."


def test_bundled_sample_matches_its_manifest_and_is_small() -> None:
    manifest = json.loads((SAMPLE / "MANIFEST.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(SAMPLE).as_posix() for p in SAMPLE.rglob("*") if p.is_file()}
    assert on_disk - {"MANIFEST.json", "README.md"} == set(listed)
    for rel, entry in listed.items():
        data = (SAMPLE / rel).read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"], rel
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 1_000_000


def write_lines(path: Path, lines: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n")


def rec(i: int, **kw: Any) -> dict[str, Any]:
    base = {"index": i, "audio_path": "a.wav", "question": "", "answer": "hello world", "subset": "s"}
    return {**base, **kw}


def test_bad_lines_become_record_errors_and_the_rest_load(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes((SAMPLE / "audio" / "mqa_01.wav").read_bytes())
    outside = tmp_path.parent / "outside.wav"
    lines: list[Any] = [
        rec(0),
        '{"index": 1, "audio_path": ',  # invalid JSON
        {k: v for k, v in rec(2).items() if k != "subset"},
        rec(3, audio_path="missing.wav"),
        rec(4, audio_path=["a.wav", "gone.wav"]),
        rec(5, answer="  "),
        rec(6, audio_path=f"../{outside.name}"),
        rec(0, answer="duplicate index"),
        "[1, 2]",
        rec(9, meta="not an object"),
        rec(10, index=True),
        rec(11, audio_path=[]),
        "",
        rec(13, audio_path=["a.wav", "a.wav"], answer=7),
    ]
    write_lines(tmp_path / "t.jsonl", lines)
    loaded = dataset(tmp_path, files=("t.jsonl",)).load()
    assert [s.id for s in loaded.samples] == ["t:0", "t:13"]
    assert [p.type for p in loaded.samples[1].msg] == ["audio", "audio", "text"]
    assert loaded.samples[1].references[0].value == "7"
    errs = {e.line: e for e in loaded.errors}
    assert sorted(errs) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert all(e.file == str(tmp_path / "t.jsonl") for e in errs.values())
    expect = {
        2: ("", "invalid JSON"),
        3: ("subset", "missing field 'subset'"),
        4: ("audio_path", "audio file not found"),
        5: ("audio_path[1]", "gone.wav"),
        6: ("answer", "empty answer"),
        7: ("audio_path", "escapes the data root"),
        8: ("index", "duplicate index"),
        9: ("", "must be a JSON object"),
        10: ("meta", "'meta' must be an object"),
        11: ("index", "'index' must be"),
        12: ("audio_path", "non-empty string or list"),
    }
    for line, (fld, reason) in expect.items():
        assert errs[line].field == fld and reason in errs[line].reason, (line, errs[line])
    assert errs[4].sample_id == "t:3" and errs[4].meta == {"subset": "s"}
    assert str(errs[5]).startswith(f"{tmp_path / 't.jsonl'}:5: audio file not found")


def test_mqa_records_need_options_and_an_answer_among_them(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes((SAMPLE / "audio" / "mqa_01.wav").read_bytes())
    q = "Which? (A) apple (B) river"
    lines = [
        rec(0, question=q, answer="B"),
        rec(1, question="Which word?", answer="apple"),
        rec(2, question=q, answer="lake"),
        rec(3, question="Which?", choices=["only"], answer="only"),
        rec(4, question="Which?", choices={"A": "x", "B": "y"}, answer="y"),
    ]
    write_lines(tmp_path / "m.jsonl", lines)
    loaded = dataset(tmp_path, task="mqa").load()
    assert [s.id for s in loaded.samples] == ["m:0", "m:4"] and loaded.samples[1].meta["answer_letter"] == "B"
    fields = {e.line: (e.field, e.reason) for e in loaded.errors}
    assert fields[2][0] == "question" and "needs options" in fields[2][1]
    assert fields[3][0] == "answer" and "neither an option letter" in fields[3][1]
    assert fields[4][0] == "choices"


def test_prompt_template_audio_type_and_config_errors(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    write_lines(tmp_path / "x.jsonl", [rec(0, question="Name the instrument.")])
    custom = dataset(tmp_path, task="refqa", audio_type="music", prompt="[{audio_type}] {question}").load()
    assert custom.samples[0].msg[-1].value == "[music] Name the instrument."
    default = dataset(tmp_path, task="refqa", audio_type="music").load()
    assert default.samples[0].msg[-1].value == "Listen to the music in the audio.\nName the instrument."
    assert dataset(tmp_path, task="mqa").judge_name == "choice"
    with pytest.raises(ConfigError, match="task must be one of"):
        dataset(tmp_path, task="captioning")
    with pytest.raises(ConfigError, match="audio_type must be one of"):
        dataset(tmp_path, audio_type="noise")
    with pytest.raises(ConfigError, match="bad prompt template"):
        dataset(tmp_path, prompt="{answer}")
    with pytest.raises(ConfigError, match="no file matches"):
        dataset(tmp_path, files=("nothing*.jsonl",)).load()


def copy_asr_sample(data: Path) -> None:
    shutil.copytree(SAMPLE / "audio", data / "audio")
    text = (SAMPLE / "asr.jsonl").read_text()
    bad = json.dumps(rec(9, audio_path="audio/missing.wav", subset="espeak-en"))
    (data / "asr.jsonl").write_text(text + bad + "\n")


def config(tmp: Path, models: str, datasets: str, judges: str = "") -> Path:
    cfg = tmp / "config.yaml"
    body = f"models:\n{models}\ndatasets:\n{datasets}\njudges:\n{judges or '  {}'}\n"
    cfg.write_text("dataset_root: data\nwork_dir: results\n" + body)
    return cfg


def report(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as f:
        return {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}


def hand_wer(preds_path: Path, refs: dict[str, str]) -> float:
    norm = EnglishTextNormalizer()
    preds = [json.loads(x) for x in preds_path.read_text().splitlines()]
    pairs = [(norm(refs[p["sample_id"]]), norm(p["text"])) for p in preds]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def sample_refs() -> dict[str, str]:
    lines = (SAMPLE / "asr.jsonl").read_text().splitlines()
    return {f"asr:{json.loads(x)['index']}": json.loads(x)["answer"] for x in lines}


def test_asr_end_to_end_with_the_echo_model(tmp_path: Path, dev: Dev) -> None:
    copy_asr_sample(tmp_path / "data")
    cfg = config(
        tmp_path,
        f'  echo: {{backend: openai, base_url: "{dev.base_url}", model: echo, modalities: [audio], max_retries: 0}}',
        "  audio-asr: {class: kimi-audio, files: [asr.jsonl], task: asr, language: en, judge: asr}",
    )
    assert main(["--config", str(cfg), "--model", "echo", "--dataset", "audio-asr", "--no-progress"]) == 0
    run = tmp_path / "results" / "echo" / "audio-asr"
    rows = report(run / "report.csv")
    assert set(m for _, m in rows) == {"wer"}  # an English corpus reports WER only
    row = rows[("all", "wer")]
    assert (row["n"], row["n_failed"]) == ("5", "1")
    expected = hand_wer(run / "predictions.jsonl", sample_refs())
    assert float(row["value"]) == pytest.approx(expected, abs=1e-6) and expected > 1
    assert rows[("subset=espeak-en", "wer")]["n"] == "5"
    failures = list(csv.DictReader((run / "failures.csv").open()))
    assert len(failures) == 1 and failures[0]["stage"] == "record" and "audio file not found" in failures[0]["reason"]
    assert dev.requests("echo") == 4


def test_mqa_end_to_end_counts_unextracted_answers(tmp_path: Path, dev: Dev) -> None:
    shutil.copytree(SAMPLE, tmp_path / "data")
    cfg = config(
        tmp_path,
        f'  echo: {{backend: openai, base_url: "{dev.base_url}", model: echo, modalities: [audio], max_retries: 0}}',
        "  audio-mqa: {class: kimi-audio, files: [mqa.jsonl], task: mqa, judge: choice}",
    )
    assert main(["--config", str(cfg), "--model", "echo", "--dataset", "audio-mqa", "--no-progress"]) == 0
    rows = report(tmp_path / "results" / "echo" / "audio-mqa" / "report.csv")
    # the echo repeats the prompt, options and all: every answer names several options, none is guessed
    assert (rows[("all", "accuracy")]["value"], rows[("all", "accuracy")]["n"]) == ("0", "3")
    assert rows[("all", "unextracted")]["value"] == "1" and rows[("all", "unextracted")]["n_failed"] == "0"
    assert rows[("subset=sentence", "accuracy")]["n"] == "1"


whisper_ready = all(importlib.util.find_spec(m) is not None for m in ("faster_whisper", "ctranslate2", "av")) and all(
    importlib.util.find_spec(m) is not None for m in ("whisper_normalizer", "jiwer")
)


@pytest.mark.skipif(not whisper_ready, reason="needs the embedded extra (faster-whisper and the Whisper packages)")
def test_whisper_cpu_gives_a_real_wer_on_the_sample(tmp_path: Path) -> None:
    try:
        from evalkit.embedded.whisper import whisper_model_dir

        whisper_model_dir()
    except ConfigError as exc:
        pytest.skip(str(exc))
    (tmp_path / "data").symlink_to(SAMPLE)
    cfg = config(
        tmp_path,
        "  whisper-cpu: {backend: faster-whisper, language: en}",
        "  audio-asr: {class: kimi-audio, files: [asr.jsonl], task: asr, language: en, judge: asr}",
    )
    assert main(["--config", str(cfg), "--model", "whisper-cpu", "--dataset", "audio-asr", "--no-progress"]) == 0
    run = tmp_path / "results" / "whisper-cpu" / "audio-asr"
    row = report(run / "report.csv")[("all", "wer")]
    assert (row["n"], row["n_failed"]) == ("4", "0")
    assert float(row["value"]) == pytest.approx(hand_wer(run / "predictions.jsonl", sample_refs()), abs=1e-6)
    assert float(row["value"]) < 0.2  # espeak speech is clear: Whisper base gets most words right
