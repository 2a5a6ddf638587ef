"""Config and dataset mistakes a new user makes: each gives one clear line, never a traceback or a silent n = 0."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support import code_record, write_records

from evalkit.config import load_config
from evalkit.datasets.base import check_media_file
from evalkit.datasets.interleaved import InterleavedDataset, InterleavedOptions
from evalkit.errors import ConfigError, DatasetError
from evalkit.factory import build_dataset, build_model


def config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_misspelt_key_of_a_backend_without_options_says_so_and_names_the_nearest_key(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, "models:\n  replay: {backend: replay, concurency: 4}\n"))
    with pytest.raises(ConfigError) as exc:
        build_model(cfg, "replay")
    msg = str(exc.value)
    assert "allowed: ;" not in msg and not msg.rstrip().endswith("allowed:")
    assert "unknown key 'concurency'" in msg
    assert "backend replay takes no options of its own" in msg
    assert "nearest valid key: 'concurrency', an option of backend " in msg
    assert "\n" not in msg


def test_misspelt_key_of_a_backend_with_options_still_suggests_its_own_key(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, "models:\n  m: {backend: openai, concurency: 4}\n"))
    with pytest.raises(ConfigError, match=r"did you mean 'concurrency'\?\); allowed: base_url"):
        build_model(cfg, "m")


def test_dataset_files_may_be_absolute_paths_and_patterns(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_records(elsewhere / "a_test.jsonl", [code_record(1), code_record(2)])
    write_records(elsewhere / "b_test.jsonl", [code_record(3)])
    body = (
        "dataset_root: data\n"
        "datasets:\n"
        f"  exact: {{class: interleaved, files: ['{elsewhere / 'a_test.jsonl'}']}}\n"
        f"  pattern: {{class: interleaved, files: ['{elsewhere}/*_test.jsonl']}}\n"
        f"  none: {{class: interleaved, files: ['{elsewhere}/*_nothing.jsonl']}}\n"
    )
    cfg = load_config(config(tmp_path, body))  # dataset_root does not even exist: absolute files need none
    assert [s.id for s in build_dataset(cfg, "exact").load().samples] == ["a_test:1", "a_test:2"]
    assert len(build_dataset(cfg, "pattern").load().samples) == 3
    with pytest.raises(ConfigError, match=r"no file matches '.*_nothing.jsonl' \(python run.py prepare"):
        build_dataset(cfg, "none").load()


def test_relative_pattern_under_a_missing_root_is_still_a_config_error(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, "dataset_root: nowhere\ndatasets:\n  d: {class: interleaved}\n"))
    with pytest.raises(ConfigError, match=r"data root .*nowhere does not exist"):
        build_dataset(cfg, "d").load()


def test_an_empty_data_file_is_named_and_listed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_records(tmp_path / "full.jsonl", [code_record(1)])
    (tmp_path / "empty.jsonl").write_text("\n  \n", encoding="utf-8")
    ds = InterleavedDataset("t", InterleavedOptions(files=("*.jsonl",)), tmp_path)
    with caplog.at_level(logging.WARNING):
        res = ds.load()
    assert len(res.samples) == 1 and res.errors == []
    assert res.empty_files == [str(tmp_path / "empty.jsonl")]
    lines = [r.getMessage() for r in caplog.records if "empty" in r.getMessage()]
    assert lines == [f"{tmp_path / 'empty.jsonl'}: empty data file (0 records)"]


def test_a_file_of_broken_records_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    res = InterleavedDataset("t", InterleavedOptions(files=("*.jsonl",)), tmp_path).load()
    assert res.empty_files == [] and len(res.errors) == 1


def test_a_media_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    rec = code_record(1)
    rec["input"]["modal"]["image1"] = "image"
    rec["input"]["content"] += " <image1>"
    (tmp_path / "natural_science" / "programming" / "image").mkdir(parents=True)
    write_records(tmp_path / "a.jsonl", [rec])
    res = InterleavedDataset("t", InterleavedOptions(files=("*.jsonl",)), tmp_path).load()
    [err] = res.errors
    assert "is a directory" in err.reason and "not found" not in err.reason
    assert err.field == "input.modal.image1" and err.line == 1


def test_every_file_dataset_says_is_a_directory_through_one_check(tmp_path: Path) -> None:
    (tmp_path / "clip.wav").mkdir()
    with pytest.raises(
        DatasetError, match=r"^audio path is a directory, not a file: .*clip.wav \(field 'audio'\)$"
    ) as exc:
        check_media_file(tmp_path / "clip.wav", "audio", "audio")
    assert exc.value.field == "audio"
    with pytest.raises(DatasetError, match=r"^audio file not found: .*gone.wav \(field 'audio'\)$"):
        check_media_file(tmp_path / "gone.wav", "audio", "audio")
