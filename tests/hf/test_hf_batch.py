"""Batching: a padded-left batch gives the one-at-a-time answers; one bad input fails only its own sample."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torchvision", reason="the hf stack (torch 2.14.1 + torchvision) lives in .venv-hf: .ci/run-hf")

from make_tiny import FAMILIES

from evalkit.config import load_config
from evalkit.factory import build_model
from evalkit.models import hf_qwen2_audio, hf_qwen_omni, hf_qwen_vl  # noqa: F401
from evalkit.types import Generation, Part


def _msgs(modalities: tuple[str, ...], media: dict[str, Path]) -> list[tuple[Part, ...]]:
    """Four prompts of different lengths, with the family's media among them."""
    msgs: list[tuple[Part, ...]] = [(Part("text", "Hi."),), (Part("text", "Tell me a long story about a tiny model."),)]
    for kind in modalities:
        msgs.append((Part("text", f"What is in this {kind}? "), Part(kind, str(media[kind]), f"{kind}1")))
    while len(msgs) < 4:
        msgs.append((Part("text", "Count: one two three four five six seven."),))
    return msgs[:4]


@pytest.mark.parametrize("backend", list(FAMILIES))
def test_batch_of_four_equals_one_at_a_time(
    backend: str, hf_config: Callable[..., Path], media: dict[str, Path], answer: Callable[..., list[Any]]
) -> None:
    msgs = _msgs(FAMILIES[backend][1], media)
    # float32 everywhere: in bfloat16 a padded row's logits differ from the unpadded ones in the last bits,
    # enough to flip a near-tie of a random model's greedy choice
    batched = answer(
        build_model(load_config(hf_config(", dtype: float32, batch_size: 4, batch_wait_s: 2.0")), backend), msgs
    )
    single = answer(build_model(load_config(hf_config(", dtype: float32, batch_size: 1")), backend), msgs)
    assert all(isinstance(g, Generation) for g in [*batched, *single]), [*batched, *single]
    assert [g.meta["hf"]["batch_size"] for g in batched] == [4, 4, 4, 4]
    assert [g.meta["hf"]["batch_size"] for g in single] == [1, 1, 1, 1]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.meta["usage"] for g in batched] == [g.meta["usage"] for g in single]
    # the prompts differ in length, so the batch really was padded
    assert len({g.meta["usage"]["prompt_tokens"] for g in batched}) > 1


def test_one_bad_input_fails_only_its_sample(
    hf_config: Callable[..., Path], media: dict[str, Path], answer: Callable[..., list[Any]]
) -> None:
    """A 600x2 image decodes fine but the Qwen image processor refuses it: the batch is retried one by one."""
    model = build_model(load_config(hf_config(", batch_size: 4, batch_wait_s: 2.0")), "hf-qwen2.5-vl")
    msgs = [
        (Part("text", "Hi."),),
        (Part("text", "Look: "), Part("image", str(media["sliver"]), "image1")),
        (Part("text", "Look: "), Part("image", str(media["image"]), "image1")),
        (Part("text", "Bye."),),
    ]
    out = answer(model, msgs)
    assert isinstance(out[1], ValueError) and "aspect ratio" in str(out[1]), out[1]
    good = [out[0], out[2], out[3]]
    assert all(isinstance(g, Generation) and g.text for g in good), good
    assert [g.meta["hf"]["batch_size"] for g in good] == [1, 1, 1]  # answered in the one-by-one retry


def test_missing_media_file_fails_its_sample(hf_config: Callable[..., Path], answer: Callable[..., list[Any]]) -> None:
    model = build_model(load_config(hf_config()), "hf-qwen2-audio")
    out = answer(model, [(Part("audio", "/nonexistent/a.wav", "audio1"),), (Part("text", "Hi."),)])
    assert isinstance(out[0], FileNotFoundError) and "a.wav" in str(out[0])
    assert isinstance(out[1], Generation) and out[1].text
