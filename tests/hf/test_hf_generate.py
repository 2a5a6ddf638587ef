"""Each family, loaded from a config entry, answers text and every modality it reads; media are recorded."""

from __future__ import annotations

import asyncio
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


def _msg(kind: str, media: dict[str, Path]) -> tuple[Part, ...]:
    tag = f"{kind}1"
    return (Part("text", "Describe "), Part(kind, str(media[kind]), tag), Part("text", " briefly."))


@pytest.mark.parametrize("backend", list(FAMILIES))
def test_family_reads_text_and_its_modalities(
    backend: str,
    hf_config: Callable[..., Path],
    media: dict[str, Path],
    answer: Callable[..., list[Any]],
    hf_device: tuple[str, str],
) -> None:
    _, modalities = FAMILIES[backend]
    model = build_model(load_config(hf_config()), backend)
    kinds = list(modalities)
    msgs = [(Part("text", "Say hello."),), *(_msg(kind, media) for kind in kinds)]
    gens = answer(model, msgs)
    for kind, gen in zip(["text", *kinds], gens, strict=True):
        assert isinstance(gen, Generation), f"{backend} {kind}: {gen!r}"
        assert gen.text.strip(), f"{backend} {kind}: empty answer"
        assert gen.meta["usage"]["completion_tokens"] >= 1
        assert (gen.meta["hf"]["device"], gen.meta["hf"]["dtype"]) == hf_device
        assert gen.prompt["messages"][-1]["role"] == "user"
    assert "media" not in gens[0].meta
    for kind, gen in zip(kinds, gens[1:], strict=True):
        record = gen.meta["media"][f"{kind}1"]
        assert record["actions"][0].startswith(f"sent as {kind}"), record
        report = record["reports"][0]
        assert report["kind"] == kind and report["path"] == str(media[kind]) and len(report["sha256"]) == 64
        placeholders = [c for c in gen.prompt["messages"][-1]["content"] if c["type"] == kind]
        assert placeholders and placeholders[0][kind] == str(media[kind])
        if kind == "audio":  # 44.1 kHz in, the processor's 16 kHz out
            assert report["output"]["sample_rate"] == 16000 and report["original"]["sample_rate"] == 44100
        if kind == "video":
            assert report["output"]["frames"] >= 1 and report["timestamps_s"]


def test_unread_media_become_notes(
    hf_config: Callable[..., Path], media: dict[str, Path], answer: Callable[..., list[Any]]
) -> None:
    """Qwen2-Audio hears a video's audio track; an image, a document and a point cloud reach it as text."""
    model = build_model(load_config(hf_config()), "hf-qwen2-audio")
    msg = (
        Part("text", "Compare "),
        Part("image", str(media["image"]), "image1"),
        Part("video", str(media["video"]), "video1"),
        Part("document", str(media["document"]), "document1"),
        Part("threeD", str(media["threeD"]), "threeD1"),
        Part("code", "print(1)", "code1"),
    )
    (gen,) = answer(model, [msg])
    assert isinstance(gen, Generation), gen
    notes = gen.meta["media"]
    assert notes["image1"]["actions"] == ["dropped: model does not read image"]
    assert notes["video1"]["actions"] == ["audio track sent as audio at 16000 Hz"]
    assert (
        notes["document1"]["actions"][0].startswith("sent as ")
        and "characters of text" in notes["document1"]["actions"][0]
    )
    assert notes["threeD1"]["actions"][0].startswith("dropped: 3D point cloud")
    text = gen.prompt["text"]
    assert "[image not shown" in text and "The tiny model reads this text." in text and "print(1)" in text
    assert sum(c["type"] == "audio" for c in gen.prompt["messages"][-1]["content"]) == 1


def test_vl_reads_documents_and_point_clouds_as_images(
    hf_config: Callable[..., Path], media: dict[str, Path], answer: Callable[..., list[Any]]
) -> None:
    model = build_model(load_config(hf_config()), "hf-qwen2.5-vl")
    msg = (Part("document", str(media["image"]), "document1"), Part("threeD", str(media["threeD"]), "threeD1"))
    (gen,) = answer(model, [msg])
    assert isinstance(gen, Generation), gen
    assert gen.meta["media"]["document1"]["actions"] == ["sent as image"]
    assert gen.meta["media"]["threeD1"]["actions"] == ["sent as a three-view projection image"]
    assert [c["type"] for c in gen.prompt["messages"][-1]["content"]].count("image") == 2


def test_long_audio_is_windowed_not_dropped(
    hf_config: Callable[..., Path], media: dict[str, Path], answer: Callable[..., list[Any]]
) -> None:
    model = build_model(load_config(hf_config()), "hf-qwen2.5-omni")
    (gen,) = answer(model, [(Part("audio", str(media["long_audio"]), "audio1"),)])
    assert isinstance(gen, Generation), gen
    record = gen.meta["media"]["audio1"]
    assert record["actions"] == ["sent as audio at 16000 Hz in 2 windows"]
    assert record["reports"][0]["chunks_s"] == [[0.0, 30.0], [30.0, 31.0]]
    windows = [c for c in gen.prompt["messages"][-1]["content"] if c["type"] == "audio"]
    assert [w["window"] for w in windows] == [0, 1]


@pytest.mark.parametrize(
    ("backend", "key"), [("hf-qwen2.5-omni", "video_second_per_grid"), ("hf-qwen2.5-vl", "second_per_grid_ts")]
)
def test_video_time_positions_follow_the_sampled_frames(
    backend: str, key: str, hf_config: Callable[..., Path], media: dict[str, Path]
) -> None:
    """1 fps over the 10 fps clip takes frames at 0 s and 1 s: one temporal step (2 frames) spans 2 s.

    The processors' own defaults would say 1 s (Omni assumes 2 fps) or 1/12 s (VL without metadata: 24 fps).
    """
    model = build_model(load_config(hf_config()), backend)
    asyncio.run(model.start())
    try:
        prompt = model.prepare((Part("video", str(media["video"]), "video1"),))
        assert prompt.videos[0].timestamps_s == (0.0, 1.0)
        assert model._loaded is not None
        inputs, _ = model._encode(model._loaded, [prompt])
        assert [round(float(v), 6) for v in inputs[key]] == [2.0]
    finally:
        asyncio.run(model.close())


def test_sampling_is_seeded(hf_config: Callable[..., Path], answer: Callable[..., list[Any]]) -> None:
    msgs = [(Part("text", "Write anything."),)]
    runs = []
    for seed in (0, 0, 1):
        gen = f"{{max_tokens: 12, temperature: 1.0, seed: {seed}}}"
        runs.append(
            answer(build_model(load_config(hf_config(", batch_size: 1", gen=gen)), "hf-qwen2-audio"), msgs)[0].text
        )
    assert runs[0] == runs[1] and runs[0] != runs[2]
