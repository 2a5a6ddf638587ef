"""A text-only model gets CPU descriptions of the media it cannot read, and the Prediction says so."""

from __future__ import annotations

import json
from pathlib import Path

from support import REPO, Dev, code_record, write_config, write_records

from evalkit.cli import main


def test_text_only_model_reads_media_through_cpu_captioners(tmp_path: Path, dev: Dev) -> None:
    img_dir = tmp_path / "data" / "natural_science" / "programming" / "image"
    img_dir.mkdir(parents=True)
    src = REPO / "data/interleaved_sample/natural_science/education/image/img_0602_01.png"
    (img_dir / "c.png").write_bytes(src.read_bytes())
    rec = code_record(1) | {"input": {"modal": {"image1": "image/c.png"}, "content": "What does <image1> show?"}}
    write_records(tmp_path / "data" / "a.jsonl", [rec])
    cfg = write_config(tmp_path, dev.base_url)
    text = cfg.read_text().replace(
        "models:\n",
        f'models:\n  blind: {{backend: openai, base_url: "{dev.base_url}", model: echo, modalities: [],'
        " describe_media: {image: image-cpu}}\n",
    )
    cfg.write_text(text)
    assert main(["--config", str(cfg), "--model", "blind", "echo", "--skip-eval", "--no-progress"]) == 0
    blind = json.loads((tmp_path / "results/blind/ds/predictions.jsonl").read_text())
    assert blind["meta"]["media"] == {"image1": "described by image-cpu"}
    sent = blind["prompt"]["messages"][0]["content"]
    assert "<image1> [image description: An image of 256x256 pixels" in sent and "red" in sent
    # the same record for a model that reads images: sent as an image, no description
    seeing = json.loads((tmp_path / "results/echo/ds/predictions.jsonl").read_text())
    assert seeing["meta"]["media"] == {"image1": "sent as data_url"}
    assert blind["key"] != seeing["key"]
