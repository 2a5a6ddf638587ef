"""Qwen2.5-Omni's talker (``speak: true``) on the tiny random checkpoint: a 24 kHz wav stored, tagged, cited."""

from __future__ import annotations

import asyncio
import os
import wave
from pathlib import Path

import pytest

pytest.importorskip("torchvision", reason="the hf stack (torch 2.14.1 + torchvision) lives in .venv-hf: .ci/run-hf")

from evalkit.config import load_config
from evalkit.factory import build_model
from evalkit.models import hf_qwen_omni  # noqa: F401
from evalkit.types import Generation, Part, Sample

DEVICE = os.environ.get("EVALKIT_HF_TEST_DEVICE", "cpu")  # as tests/hf/conftest.py


def test_talker_speech_is_stored_tagged_and_cited(tmp_path: Path, tiny: dict[str, Path]) -> None:
    cfg = tmp_path / "config.yaml"
    folder = tiny["hf-qwen2.5-omni"]
    cfg.write_text(
        "plugins: [evalkit.models.hf_qwen_omni]\nmodels:\n"
        f"  talk: {{backend: hf-qwen2.5-omni, model_path: '{folder}', device: {DEVICE}, speak: true,"
        " talker_max_new_tokens: 40, gen: {max_tokens: 6}}\n",
        encoding="utf-8",
    )
    model = build_model(load_config(cfg), "talk")
    run = tmp_path / "run"
    model.bind_run_dir(run)
    sample = Sample("s:1", (Part("text", "Say hello."),))

    async def go() -> Generation:
        await model.start()
        try:
            return await model.respond(sample)
        finally:
            await model.close()

    gen = asyncio.run(go())
    (part,) = gen.parts
    assert part.tag == "audio1" and "<audio1>" in gen.text
    path = Path(part.value)
    assert path.parent == (run / "media" / "s_1").resolve() and path.name.startswith("audio1-")
    with wave.open(str(path)) as w:
        assert w.getframerate() == 24000 and w.getnchannels() == 1
        seconds = w.getnframes() / w.getframerate()
    # a random talker stops at talker_max_new_tokens at the latest: some audio, bounded
    assert 0.0 < seconds < 60.0
    assert gen.meta["produced"]["audio1"]["renderer"] == "qwen2.5-omni talker (Chelsie)"
