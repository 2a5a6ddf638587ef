"""save_attn: per-layer head-averaged attention of the first N samples, with tokens, meta and heat maps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torchvision", reason="the hf stack (torch 2.14.1 + torchvision) lives in .venv-hf: .ci/run-hf")

from PIL import Image

from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.factory import build_model
from evalkit.models import hf_base, hf_qwen2_audio, hf_qwen_omni  # noqa: F401
from evalkit.types import Generation, Part


def test_attention_saved_for_the_first_sample_only(
    tmp_path: Path,
    hf_config: Callable[..., Path],
    media: dict[str, Path],
    answer: Callable[..., list[Any]],
    hf_device: tuple[str, str],
) -> None:
    attn_dir = tmp_path / "attn"
    cfg = load_config(hf_config(f", save_attn: {{first_n: 1, layers: [0, -1]}}, attn_dir: '{attn_dir}'"))
    msgs = [
        (Part("text", "Describe "), Part("image", str(media["image"]), "image1"), Part("text", " please.")),
        (Part("text", "Second sample."),),
    ]
    first, second = answer(build_model(cfg, "hf-qwen2.5-omni"), msgs, ["task/1", "task/2"])
    assert isinstance(first, Generation) and isinstance(second, Generation), (first, second)
    assert "attn" not in second.meta
    folder = Path(first.meta["attn"]["dir"])
    assert folder.parent == attn_dir and sorted(p.name for p in attn_dir.iterdir()) == [folder.name]
    assert first.meta["attn"]["layers"] == [0, 1]  # the tiny language model has 2 layers: -1 is layer 1
    seq = first.meta["usage"]["prompt_tokens"] + first.meta["usage"]["completion_tokens"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["shape"] == [seq, seq] and meta["num_layers"] == 2 and meta["num_heads"] == 4
    assert meta["sample_id"] == "task/1" and meta["media"]["image1"]["actions"] == ["sent as image"]
    tokens = json.loads((folder / "tokens.json").read_text())
    assert len(tokens["ids"]) == len(tokens["tokens"]) == seq
    assert "Describe" in "".join(tokens["tokens"])
    for layer in (0, 1):
        attn = np.load(folder / f"layer{layer}.npy")
        assert attn.shape == (seq, seq) and attn.dtype == np.float32
        atol = 1e-5 if hf_device[1] == "float32" else 2e-3  # bfloat16 keeps 8 bits of mantissa
        np.testing.assert_allclose(attn.sum(axis=1), 1.0, atol=atol)  # softmax rows, averaged over heads
        assert np.all(np.triu(attn, k=1) == 0)  # causal: no token attends to a later one
        with Image.open(folder / f"layer{layer}.png") as png:
            assert png.mode == "RGB" and png.size[0] == png.size[1] and png.size[0] % seq == 0
            assert png.size[0] >= 256
    # the eager pass is switched off again: answers match a run without attention saving
    plain = answer(build_model(load_config(hf_config()), "hf-qwen2.5-omni"), msgs)
    assert [g.text for g in plain] == [first.text, second.text]


def test_save_attn_needs_a_folder(hf_config: Callable[..., Path], tmp_path: Path) -> None:
    model = build_model(load_config(hf_config(", save_attn: {first_n: 1}")), "hf-qwen2-audio")
    with pytest.raises(ConfigError, match="attn_dir"):
        asyncio.run(model.start())
    model.bind_run_dir(tmp_path / "run")  # what the job does: maps go under the run's folder
    assert model._attn_root == tmp_path / "run" / "attn"


def test_failed_attention_pass_keeps_the_answer(
    tmp_path: Path, hf_config: Callable[..., Path], answer: Callable[..., list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attention pass failing (out of memory, say) costs the maps only: the answer stands, the error is kept."""

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(hf_base, "head_means", out_of_memory)
    attn_dir = tmp_path / "attn"
    cfg = load_config(hf_config(f", save_attn: {{first_n: 1}}, attn_dir: '{attn_dir}'"))
    (gen,) = answer(build_model(cfg, "hf-qwen2-audio"), [(Part("text", "Hi."),)])
    assert isinstance(gen, Generation) and gen.text
    assert gen.meta["attn"] == {"error": "RuntimeError: CUDA out of memory"}
    assert not attn_dir.exists()


def test_a_layer_the_model_lacks_is_a_config_error(tmp_path: Path, hf_config: Callable[..., Path]) -> None:
    cfg = load_config(hf_config(f", save_attn: {{first_n: 1, layers: [7]}}, attn_dir: '{tmp_path}'"))
    model = build_model(cfg, "hf-qwen2-audio")
    with pytest.raises(ConfigError, match="layer 7 does not exist"):
        asyncio.run(model.start())
