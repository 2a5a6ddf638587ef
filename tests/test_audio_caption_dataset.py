"""The audio-caption dataset: the bundled sample, Clotho CSV and JSONL records, bad rows as RecordErrors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from support import REPO

from evalkit.datasets.audio_caption import PROMPT, AudioCaptionDataset, AudioCaptionOptions
from evalkit.errors import ConfigError

SAMPLE = REPO / "data" / "caption_sample"
HEADER = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
FIVE = "one dog,two dogs,three dogs,four dogs,five dogs"


def dataset(data_root: Path, **options: object) -> AudioCaptionDataset:
    return AudioCaptionDataset("caps", AudioCaptionOptions(**options), data_root)  # type: ignore[arg-type]


def clip_dir(tmp: Path, *names: str) -> Path:
    (tmp / "audio").mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SAMPLE / "audio" / "tone_a440.wav", tmp / "audio" / name)
    return tmp


def test_bundled_sample_loads_with_five_references_and_the_prompt() -> None:
    loaded = dataset(REPO / "data", root="caption_sample", audio_dir="audio").load()
    assert loaded.errors == [] and len(loaded.samples) == 6
    first = loaded.samples[0]
    assert first.id == "captions:tone_a440.wav" and first.meta["subset"] == "captions" and first.meta["line"] == 2
    audio, prompt = first.msg
    assert audio.type == "audio" and Path(audio.value).is_file() and Path(audio.value).is_absolute()
    assert prompt.type == "text" and prompt.value == PROMPT == "Describe the audio in one sentence."
    assert all(
        len(s.references) == 5 and all(p.type == "text" and p.value for p in s.references) for s in loaded.samples
    )
    assert first.references[0].value == "A steady high pitched tone plays without changing."


def test_bundled_sample_matches_its_manifest_and_is_small() -> None:
    manifest = json.loads((SAMPLE / "MANIFEST.json").read_text())
    total = 0
    for entry in manifest["files"]:
        data = (SAMPLE / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"], entry["path"]
        total += len(data)
    assert len(manifest["files"]) == 7 and total < 1_000_000


def test_prompt_is_an_option(tmp_path: Path) -> None:
    clip_dir(tmp_path, "a.wav")
    (tmp_path / "c.csv").write_text(HEADER + f"a.wav,{FIVE}\n")
    loaded = dataset(tmp_path, audio_dir="audio", prompt="Caption this clip.").load()
    assert loaded.samples[0].msg[1].value == "Caption this clip."


def test_bad_csv_rows_are_record_errors_with_line_and_field(tmp_path: Path) -> None:
    root = clip_dir(tmp_path / "root", "a.wav", "b.wav", "c.wav")
    (tmp_path / "outside.wav").write_bytes(b"RIFF")
    rows = [
        f"a.wav,{FIVE}",  # 2: good
        'b.wav,"a caption over\ntwo lines",x,y,z,w',  # 3-4: good, a quoted caption spans two lines
        "c.wav,one,two,three,four",  # 5: a cell short
        "c.wav,one,,three,four,five",  # 6: empty caption_2
        f"missing.wav,{FIVE}",  # 7: no such audio
        f"../../outside.wav,{FIVE}",  # 8: escapes the data root
        f"a.wav,{FIVE}",  # 9: duplicate
        f"c.wav,{FIVE},six",  # 10: one cell too many
        f",{FIVE}",  # 11: no file name
        f"c.wav,{FIVE}",  # 12: good
    ]
    (root / "dev.csv").write_text(HEADER + "\n".join(rows) + "\n")
    loaded = dataset(root, audio_dir="audio").load()
    assert [s.id for s in loaded.samples] == ["dev:a.wav", "dev:b.wav", "dev:c.wav"]
    assert loaded.samples[1].references[0].value == "a caption over\ntwo lines"
    assert loaded.samples[2].meta["line"] == 12
    got = [(e.line, e.field) for e in loaded.errors]
    assert got == [
        (5, "caption_5"),
        (6, "caption_2"),
        (7, "file_name"),
        (8, "file_name"),
        (9, "file_name"),
        (10, ""),
        (11, "file_name"),
    ]
    reasons = [e.reason for e in loaded.errors]
    assert "missing caption_5" in reasons[0] and "empty caption_2" in reasons[1]
    assert "audio file not found" in reasons[2] and "escapes the data root" in reasons[3]
    assert "duplicate" in reasons[4] and "more cell" in reasons[5]
    assert all(e.file == str(root / "dev.csv") for e in loaded.errors)
    assert loaded.errors[2].sample_id == "dev:missing.wav"


def test_jsonl_records(tmp_path: Path) -> None:
    clip_dir(tmp_path, "a.wav", "b.wav")
    good = {"file_name": "a.wav", **{f"caption_{i}": f"caption {i}" for i in range(1, 6)}}
    lines = [
        json.dumps(good),  # 1
        "{not json",  # 2
        "[1, 2]",  # 3
        json.dumps({**good, "file_name": "b.wav", "caption_3": 7}),  # 4: not a string
        json.dumps({k: v for k, v in good.items() if k != "caption_4"} | {"file_name": "b.wav"}),  # 5: four captions
        "",
        json.dumps({**good, "file_name": "b.wav"}),  # 7: good
    ]
    (tmp_path / "test.jsonl").write_text("\n".join(lines) + "\n")
    loaded = dataset(tmp_path, audio_dir="audio", files=("*.jsonl",)).load()
    assert [s.id for s in loaded.samples] == ["test:a.wav", "test:b.wav"]
    assert [(e.line, e.field) for e in loaded.errors] == [(2, ""), (3, ""), (4, "caption_3"), (5, "caption_4")]
    assert "invalid JSON" in loaded.errors[0].reason and "expected 5 captions" in loaded.errors[3].reason


def test_any_number_of_references_when_asked(tmp_path: Path) -> None:
    clip_dir(tmp_path, "a.wav")
    (tmp_path / "x.jsonl").write_text(json.dumps({"file_name": "a.wav", "caption_1": "a", "caption_2": "b"}) + "\n")
    loaded = dataset(tmp_path, audio_dir="audio", files=("*.jsonl",), references=0).load()
    assert [p.value for p in loaded.samples[0].references] == ["a", "b"]
    (tmp_path / "x.jsonl").write_text(json.dumps({"file_name": "a.wav", "caption_1": "a", "caption_3": "c"}) + "\n")
    loaded = dataset(tmp_path, audio_dir="audio", files=("*.jsonl",), references=0).load()
    assert [(e.field, e.reason) for e in loaded.errors] == [("caption_2", "missing caption_2")]


def test_file_level_problems_are_configuration_errors(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("name,text\na.wav,hello\n")
    with pytest.raises(ConfigError, match="needs file_name and caption_1"):
        dataset(tmp_path).load()
    with pytest.raises(ConfigError, match="no file matches"):
        dataset(tmp_path, files=("*.jsonl",)).load()
    (tmp_path / "x.tsv").write_text(HEADER)
    with pytest.raises(ConfigError, match=r"neither \.csv nor \.jsonl"):
        dataset(tmp_path, files=("*.tsv",)).load()
