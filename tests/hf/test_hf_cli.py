"""End to end: ``evalkit.cli.main`` runs a tiny HF model over interleaved records with media (--skip-eval)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("torchvision", reason="the hf stack (torch 2.14.1 + torchvision) lives in .venv-hf: .ci/run-hf")

from evalkit.cli import main


def _record(i: int, modal: dict[str, str], content: str) -> dict[str, object]:
    return {
        "domain": "natural_science",
        "subdomain": "programming",
        "id": str(i),
        "difficulty": "easy",
        "input": {"modal": modal, "content": content},
        "output": {"modal": {}, "content": "Anything."},
    }


def test_cli_infers_interleaved_records(tmp_path: Path, hf_config: Callable[..., Path], media: dict[str, Path]) -> None:
    folder = tmp_path / "data" / "natural_science" / "programming"
    folder.mkdir(parents=True)
    shutil.copy(media["audio"], folder / "tone.wav")
    shutil.copy(media["image"], folder / "img.png")
    shutil.copy(media["video"], folder / "clip.mp4")
    records = [
        _record(1, {"code1": "```python\nprint(1)\n```"}, "Explain <code1>."),
        _record(2, {"audio1": "tone.wav", "image1": "img.png"}, "Compare <audio1> with <image1>."),
        _record(3, {"video1": "clip.mp4"}, "What happens in <video1>?"),
        _record(4, {"audio1": "missing.wav"}, "Listen to <audio1>."),  # a bad record: counted, not fatal
    ]
    (tmp_path / "data" / "recs_test.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    cfg = hf_config(", batch_size: 4", datasets="datasets:\n  ds: {class: interleaved, files: ['*.jsonl']}\n")
    argv = ["--config", str(cfg), "--model", "hf-qwen2.5-omni", "--dataset", "ds", "--skip-eval", "--no-progress"]
    assert main(argv) == 0
    run = tmp_path / "results" / "hf-qwen2.5-omni" / "ds"
    preds = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    by_id = {p["sample_id"].removeprefix("recs_test:"): p for p in preds}
    assert set(by_id) == {"1", "2", "3"}  # record 4 is a bad record: reported, never sent
    for sid in ("1", "2", "3"):
        assert by_id[sid]["error"] == "" and by_id[sid]["text"], by_id[sid]
    assert set(by_id["2"]["meta"]["media"]) == {"audio1", "image1"}
    assert by_id["3"]["meta"]["media"]["video1"]["actions"][0].startswith("sent as video")
    assert "print(1)" in by_id["1"]["prompt"]["text"]
    # a rerun finds every prediction stored and generates nothing
    before = (run / "predictions.jsonl").read_text()
    assert main(argv) == 0
    assert (run / "predictions.jsonl").read_text() == before
