"""Fixtures of the HF backend tests: tiny checkpoints built once per session, media files, tmp configs.

Nothing heavy is imported here: the test modules skip themselves (``pytest.importorskip("torchvision")``)
where the hf stack is not installed, and the fixtures import torch and transformers only when used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # make_tiny.py sits beside this file (pytest usually put this folder there already)
    sys.path.insert(0, str(HERE))

import make_tiny  # noqa: E402

# The backend runs on CPU here; a GPU host checks its cuda path with EVALKIT_HF_TEST_DEVICE=cuda.
DEVICE = os.environ.get("EVALKIT_HF_TEST_DEVICE", "cpu")
DTYPE = "float32" if DEVICE == "cpu" else "bfloat16"  # what dtype auto resolves to


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Family backend name -> folder of its tiny checkpoint (built once, saved, reloaded by the backend)."""
    root = tmp_path_factory.mktemp("tiny")
    return {backend: make_tiny.BUILDERS[short](root / short) for backend, (short, _) in make_tiny.FAMILIES.items()}


def write_wav(path: Path, seconds: float, rate: int = 44100, freq: float = 440.0) -> Path:
    """A sine tone (at a rate the processor does not use, so it must be resampled)."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)
    return path


def write_png(path: Path, width: int, height: int, seed: int = 0) -> Path:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def write_mp4(path: Path, seconds: float = 2.0) -> Path:
    """A 10 fps clip with a tone track, made with ffmpeg (with PyAV where the ffmpeg CLI is missing)."""
    if shutil.which("ffmpeg"):
        cmd = [
            "ffmpeg", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=96x64:rate=10:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=16000:duration={seconds}",
            "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(path),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, timeout=60, capture_output=True)
        return path
    import av

    rate = 16000
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        for i in range(int(seconds * 10)):
            pixels = np.full((64, 96, 3), (i * 12) % 256, dtype=np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        tone = (0.3 * np.sin(2 * np.pi * 330 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def write_ply(path: Path, points: int = 200) -> Path:
    """An ASCII point cloud on a helix."""
    t = np.linspace(0, 4 * np.pi, points)
    xyz = np.stack([np.cos(t), np.sin(t), t / 4], axis=1)
    properties = "".join(f"property float {axis}\n" for axis in "xyz")
    header = f"ply\nformat ascii 1.0\nelement vertex {points}\n{properties}end_header\n"
    path.write_text(header + "\n".join(" ".join(f"{v:.4f}" for v in row) for row in xyz) + "\n")
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per kind: audio, long audio (two 30 s windows), image, video, document, point cloud."""
    root = tmp_path_factory.mktemp("media")
    return {
        "audio": write_wav(root / "tone.wav", 1.5),
        "long_audio": write_wav(root / "long.wav", 31.0, rate=16000, freq=220.0),
        "image": write_png(root / "img.png", 90, 60),
        "video": write_mp4(root / "clip.mp4"),
        "document": _text(root / "doc.txt", "Section 1. The tiny model reads this text."),
        "threeD": write_ply(root / "helix.ply"),
        "sliver": write_png(root / "sliver.png", 600, 2),  # aspect 300: the Qwen image processor refuses it
    }


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def hf_device() -> tuple[str, str]:
    """The device the tests run the backend on and the dtype ``auto`` gives there."""
    return DEVICE, DTYPE


@pytest.fixture
def hf_config(tmp_path: Path, tiny: dict[str, Path]) -> Callable[..., Path]:
    """Write a config with one entry per family (``extra`` YAML keys and ``gen`` on each); return its path."""

    def write(extra: str = "", datasets: str = "", gen: str = "{max_tokens: 6}") -> Path:
        lines = ["plugins: [evalkit.models.hf_qwen_omni, evalkit.models.hf_qwen2_audio, evalkit.models.hf_qwen_vl]"]
        lines += ["dataset_root: data", "work_dir: results", "models:"]
        for backend, folder in tiny.items():
            entry = f"backend: {backend}, model_path: '{folder}', device: {DEVICE}, gen: {gen}{extra}"
            lines.append(f"  {backend}: {{{entry}}}")
        cfg = tmp_path / "config.yaml"
        cfg.write_text("\n".join(lines) + "\n" + datasets, encoding="utf-8")
        return cfg

    return write


async def _answers(model: Any, msgs: list[tuple[Any, ...]], ids: list[str] | None = None) -> list[Any]:
    """Start the model, answer all msgs concurrently (so they batch), close it; Generations or exceptions."""
    import asyncio

    from evalkit.types import Sample

    await model.start()
    try:
        samples = [Sample(ids[i] if ids else f"s{i}", msg) for i, msg in enumerate(msgs)]
        return list(await asyncio.gather(*(model.respond(s) for s in samples), return_exceptions=True))
    finally:
        await model.close()


@pytest.fixture
def answer() -> Callable[..., list[Any]]:
    """``answer(model, msgs)``: run :func:`_answers` to completion."""
    import asyncio

    def run(model: Any, msgs: list[tuple[Any, ...]], ids: list[str] | None = None) -> list[Any]:
        return asyncio.run(_answers(model, msgs, ids))

    return run
