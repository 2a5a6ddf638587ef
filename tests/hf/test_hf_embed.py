"""hf-clip-embed on a tiny random CLIP built locally: vectors equal the model called directly, fusion, video
frames, config errors, and an image-to-image MMEB-style run through the CLI scored by the retrieval judge."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torchvision", reason="the hf stack (torch 2.14.1 + torchvision) lives in .venv-hf: .ci/run-hf")

from conftest import DEVICE, DTYPE, write_png
from make_tiny_clip import make_clip

from evalkit.cli import main
from evalkit.config import build_options
from evalkit.errors import ConfigError
from evalkit.mediaproc.image import load_image
from evalkit.mediaproc.video import VideoSettings, sample_video
from evalkit.models.embedding import UnsupportedInput, cand_tag, retrieval_msg
from evalkit.models.hf_embed import HFClipEmbedding, HFEmbedOptions
from evalkit.types import Part

# The backend runs in DTYPE (bfloat16 on a GPU) while the direct call runs in float32: the elementwise tolerance
# follows the backend's dtype (bfloat16 keeps 8 significand bits: ~4e-3 relative; seen: 3e-3 on an H200).
ATOL = {"float32": 1e-5, "float16": 2e-3, "bfloat16": 1e-2}[DTYPE]


def assert_same_vectors(got: np.ndarray, want: np.ndarray) -> None:
    """Equal within the dtype's tolerance, and pointing the same way (cosine ~1 whatever the dtype)."""
    got, want = np.atleast_2d(got), np.atleast_2d(want)
    np.testing.assert_allclose(got, want, atol=ATOL)
    cosine = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert np.all(cosine > 1 - 10 * ATOL), cosine


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def _model(path: Path, **kw: Any) -> HFClipEmbedding:
    opts = build_options(HFEmbedOptions, {"model_path": str(path), "device": DEVICE, **kw}, "models.clip")
    return HFClipEmbedding("clip", opts)


def _direct(path: Path, texts: list[str], images: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised text and image features from transformers, without evalkit."""
    import torch
    from transformers import AutoModel, AutoProcessor

    processor, model = AutoProcessor.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        t = model.get_text_features(**processor(text=texts, padding=True, return_tensors="pt")).pooler_output
        i = model.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
    t, i = t.numpy(), i.numpy()
    return t / np.linalg.norm(t, axis=1, keepdims=True), i / np.linalg.norm(i, axis=1, keepdims=True)


def test_vectors_match_the_model_called_directly(clip_dir: Path, tmp_path: Path, media: dict[str, Path]) -> None:
    model = _model(clip_dir)
    img = write_png(tmp_path / "a.png", 70, 50, seed=3)
    texts = ["a red square", "two dogs"]
    got_text = model.encode([(Part("text", t),) for t in texts], "target")
    got_img = model.encode([(Part("image", str(img)),)], "target")
    want_text, want_img = _direct(clip_dir, texts, [np.array(load_image(img).pixels)])
    assert_same_vectors(got_text, want_text)
    assert_same_vectors(got_img, want_img)
    assert abs(float(got_text[0] @ got_text[1])) < 0.999  # two texts, two directions

    # text + image fused: the mean of the two normalised vectors (then normalised by encode)
    fused = model.encode([(Part("image", str(img)), Part("text", texts[0]))], "query")[0]
    mean = (want_text[0] + want_img[0]) / 2
    assert_same_vectors(fused, mean / np.linalg.norm(mean))

    # a video: the mean of its normalised frame vectors
    frames = sample_video(media["video"], VideoSettings(num_frames=4, max_frames=4, max_pixels=1024 * 1024)).frames
    _, frame_vecs = _direct(clip_dir, ["x"], [np.array(f) for f in frames])
    video = _model(clip_dir, video_frames=4).encode([(Part("video", str(media["video"])),)], "target")[0]
    want_video = frame_vecs.mean(axis=0)
    assert_same_vectors(video, want_video / np.linalg.norm(want_video))


def test_options_and_unreadable_parts(clip_dir: Path, media: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="model_path"):
        HFClipEmbedding("clip", HFEmbedOptions())
    with pytest.raises(ConfigError, match="own pooling"):
        _model(clip_dir, pooling="last")
    with pytest.raises(ConfigError, match="fusion must be one of"):
        _model(clip_dir, fusion="max")
    with pytest.raises(UnsupportedInput, match="audio part"):
        _model(clip_dir).encode([(Part("audio", str(media["audio"])),)], "query")
    # sum fusion differs from mean before normalisation only: the same direction
    item = [(Part("image", str(media["image"])), Part("text", "a tone"))]
    np.testing.assert_allclose(
        _model(clip_dir, fusion="sum").encode(item, "query"), _model(clip_dir).encode(item, "query"), atol=1e-6
    )


def test_identical_image_ranks_first(clip_dir: Path, tmp_path: Path, answer: Callable[..., list[Any]]) -> None:
    pics = [write_png(tmp_path / f"p{i}.png", 64, 48, seed=10 + i) for i in range(4)]
    msg = retrieval_msg(
        [Part("image", str(pics[2]))],
        [(f"c{i}", [Part("image", str(p), cand_tag(f"c{i}"))]) for i, p in enumerate(pics)],
    )
    (gen,) = answer(_model(clip_dir), [msg])
    assert gen.meta["ranking"][0] == "c2" and gen.text == "c2"
    assert gen.meta["scores"][0] == pytest.approx(1.0, abs=1e-5)
    assert sorted(gen.meta["ranking"]) == ["c0", "c1", "c2", "c3"]


def test_cli_runs_an_image_retrieval_task(clip_dir: Path, tmp_path: Path) -> None:
    """MMEB-style i2i task: each query image is one of the candidates, so hit@1 is 1.0 whatever the weights."""
    folder = tmp_path / "data" / "i2i"
    (folder / "images").mkdir(parents=True)
    pics = [write_png(folder / "images" / f"p{i}.png", 64, 48, seed=20 + i) for i in range(3)]
    records = [
        {
            "id": f"q{i}",
            "query": {"image": f"images/{p.name}"},
            "candidates": [{"id": f"c{j}", "image": f"images/{q.name}"} for j, q in enumerate(pics)],
            "positives": [f"c{i}"],
        }
        for i, p in enumerate(pics)
    ]
    records.append({"id": "bad", "query": {"image": "images/missing.png"}, "candidates": ["c0"], "positives": ["c0"]})
    (folder / "i2i.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "dataset_root: data\nwork_dir: results\n"
        f"models:\n  clip: {{backend: hf-clip-embed, model_path: '{clip_dir}', device: {DEVICE}}}\n"
        "datasets:\n  i2i: {class: mmeb, root: i2i, file: i2i.jsonl, judge: retrieval}\n"
        "judges:\n  retrieval: {class: retrieval}\n",
        encoding="utf-8",
    )
    assert main(["run", "--config", str(cfg), "--model", "clip", "--dataset", "i2i", "--no-progress"]) == 0
    rows = list(csv.DictReader((tmp_path / "results" / "clip" / "i2i" / "report.csv").open()))
    hit1 = next(r for r in rows if r["metric"] == "hit@1" and r["subset"] == "all")
    assert float(hit1["value"]) == 1.0
    assert int(hit1["n"]) == 4 and int(hit1["n_failed"]) == 1  # the record with a missing image is counted
