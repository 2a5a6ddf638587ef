"""MediaBudget as a config block (validated by build_options) and the part-type dispatcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.config import build_options
from evalkit.errors import ConfigError
from evalkit.mediaproc.audio import AudioClip, wav_bytes
from evalkit.mediaproc.budget import MediaBudget, process
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.document import DocumentPages
from evalkit.mediaproc.image import ImageResult
from evalkit.mediaproc.pointcloud import Projection


def test_budget_from_config_mapping() -> None:
    raw = {
        "image": {"max_pixels": 1003520, "patch": 28, "background": [0, 0, 0]},
        "video": {"fps": 2, "max_frames": 16, "decoder": "pyav"},
        "audio": {"sample_rate": 24000, "max_chunk_s": None},
    }
    budget = build_options(MediaBudget, raw, "models.qwen.media")
    assert budget.image.patch == 28 and budget.image.background == (0, 0, 0)
    assert budget.video.fps == 2.0 and isinstance(budget.video.fps, float) and budget.video.max_frames == 16
    assert budget.audio.max_chunk_s is None and budget.document.max_pages == 8
    with pytest.raises(ConfigError, match="max_frame"):
        build_options(MediaBudget, {"video": {"max_frame": 3}}, "models.qwen.media")
    with pytest.raises(ConfigError, match="video settings: decoder"):
        build_options(MediaBudget, {"video": {"decoder": "ffmpeg"}}, "models.qwen.media")


def test_process_dispatches_by_part_type(tmp_path: Path) -> None:
    Image.new("RGB", (64, 32), "red").save(tmp_path / "i.png")
    (tmp_path / "a.wav").write_bytes(wav_bytes(np.zeros(800, dtype=np.float32), 8000))
    (tmp_path / "d.md").write_text("# title", encoding="utf-8")
    (tmp_path / "p.off").write_text("OFF\n2 0 0\n0 0 0\n1 1 1\n", encoding="ascii")
    cache = MediaCache()
    assert isinstance(process("image", tmp_path / "i.png", cache=cache), ImageResult)
    assert isinstance(process("audio", tmp_path / "a.wav", cache=cache), AudioClip)
    assert isinstance(process("document", tmp_path / "d.md", cache=cache), DocumentPages)
    assert isinstance(process("threeD", tmp_path / "p.off", cache=cache), Projection)
    assert cache.stats.misses == 4
    with pytest.raises(ValueError, match="no media processor"):
        process("code", tmp_path / "i.png")
