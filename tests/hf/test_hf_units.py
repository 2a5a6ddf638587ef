"""HF backend pieces that need no torch: options, prediction keys, layer selection, heat maps, the missing extra.

These run in every venv; the main .venv (no torchvision) checks the one-line missing-extra error.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from evalkit.config import build_options
from evalkit.errors import ConfigError
from evalkit.models.hf_attn import heatmap, select_layers
from evalkit.models.hf_base import HFOptions
from evalkit.models.hf_qwen2_audio import Qwen2AudioHF
from evalkit.models.hf_qwen_vl import QwenVLHF
from evalkit.types import Part, Sample


def _options(**kw: object) -> HFOptions:
    return build_options(HFOptions, {"model_path": "/ckpt", **kw}, "models.m")


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="dtype must be one of"):
        _options(dtype="fp8")
    with pytest.raises(ConfigError, match="device must be one of"):
        _options(device="tpu")
    with pytest.raises(ConfigError, match=r"unknown key 'batchsize'.*batch_size"):
        _options(batchsize=4)
    with pytest.raises(ConfigError, match=r"save_attn\.first_n"):
        _options(save_attn={"first_n": -1})
    opts = _options(media={"video": {"fps": 2.0, "max_frames": 8}}, save_attn={"first_n": 2, "layers": [-1]})
    assert opts.media.video.max_frames == 8 and opts.save_attn.layers == (-1,)
    with pytest.raises(ConfigError, match="model_path: required"):
        Qwen2AudioHF("m", HFOptions())
    with pytest.raises(ConfigError, match="reads audio only; not image"):
        Qwen2AudioHF("m", _options(modalities=["image"]))


def test_prediction_key_ignores_batching_but_not_dtype() -> None:
    sample = Sample("1", (Part("text", "hi"),))
    base = Qwen2AudioHF("m", _options()).prediction_key(sample, "v1")
    batched = Qwen2AudioHF("m", _options(batch_size=32, concurrency=64, save_attn={"first_n": 3})).prediction_key(
        sample, "v1"
    )
    assert batched == base
    assert Qwen2AudioHF("m", _options(dtype="bfloat16")).prediction_key(sample, "v1") != base
    assert QwenVLHF("m", _options()).prediction_key(sample, "v1") != base  # another family, another key
    assert Qwen2AudioHF("m", _options(batch_size=4)).concurrency == 8  # twice the batch keeps batches full


def test_select_layers() -> None:
    assert select_layers([0, -1], 4) == [0, 3]
    assert select_layers([-1, 3, 1], 4) == [1, 3]
    assert select_layers([], 3) == [0, 1, 2]
    with pytest.raises(ConfigError, match="layer 4 does not exist"):
        select_layers([4], 4)
    with pytest.raises(ConfigError, match="layer -5"):
        select_layers([-5], 4)


def test_heatmap_colours_and_size() -> None:
    matrix = np.zeros((4, 4), dtype=np.float32)
    matrix[2, 1] = 1.0
    image = heatmap(matrix, min_side=256)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == (68, 1, 84)  # zero: the dark end of the ramp
    assert tuple(image[2 * 64, 1 * 64]) == (253, 231, 37)  # the maximum: the bright end
    assert heatmap(np.ones((300, 300)), min_side=256).shape == (300, 300, 3)  # large maps keep one pixel per token


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed here")
def test_missing_torchvision_names_the_hf_extra(tmp_path: Path) -> None:
    model = QwenVLHF("vl", _options(model_path=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"'torchvision' is not installed.*\.\[hf\]"):
        asyncio.run(model.start())
