"""The decoded-media cache: hits by content hash and settings, LRU eviction by bytes, npz files on disk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from evalkit.media import media_key, settings_key
from evalkit.mediaproc import video
from evalkit.mediaproc.audio import AudioSettings, load_audio, wav_bytes
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.document import DocumentSettings, load_document
from evalkit.mediaproc.image import ImageSettings, load_image
from evalkit.mediaproc.pointcloud import project_point_cloud
from evalkit.mediaproc.video import VideoSettings, sample_video

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    out = tmp_path_factory.mktemp("cache") / "clip.mp4"
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "3"]
    subprocess.run(
        [*cmd, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)], check=True, capture_output=True, timeout=60
    )
    return out


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every PyAV video decode, recorded."""
    calls: list[Path] = []
    real = video._READERS["pyav"]

    def counting(path: Path, plan: Any) -> Any:
        calls.append(path)
        return real(path, plan)

    monkeypatch.setitem(video._READERS, "pyav", counting)
    return calls


def test_second_call_is_a_memory_hit(clip: Path, decodes: list[Path]) -> None:
    cache = MediaCache()
    settings = VideoSettings(num_frames=4, decoder="pyav")
    first = sample_video(clip, settings, cache)
    second = sample_video(clip, settings, cache)
    assert len(decodes) == 1 and (cache.stats.misses, cache.stats.hits) == (1, 1)
    assert first.report.cache == "" and second.report.cache == "memory"
    np.testing.assert_array_equal(first.frames, second.frames)
    assert not second.frames.flags.writeable  # shared with every later hit
    sample_video(clip, VideoSettings(num_frames=5, decoder="pyav"), cache)  # other settings: decoded again
    assert len(decodes) == 2 and len(cache) == 2


def test_key_follows_content_not_path(clip: Path, tmp_path: Path, decodes: list[Path]) -> None:
    cache = MediaCache()
    copy = shutil.copy(clip, tmp_path / "renamed.mp4")
    settings = VideoSettings(num_frames=2, decoder="pyav")
    sample_video(clip, settings, cache)
    assert sample_video(Path(copy), settings, cache).report.cache == "memory"
    assert len(decodes) == 1
    Path(copy).write_bytes(Path(copy).read_bytes() + b"\x00")  # changed content: a new key
    assert media_key(Path(copy), settings) != media_key(clip, settings)
    sample_video(Path(copy), settings, cache)
    assert len(decodes) == 2


def test_settings_key_is_stable_and_specific() -> None:
    assert settings_key(VideoSettings()) == settings_key(VideoSettings())
    assert settings_key(VideoSettings()) != settings_key(VideoSettings(max_frames=31))
    assert settings_key(ImageSettings()) != settings_key(VideoSettings())


def test_lru_eviction_by_bytes(tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (100, 100), (i, 0, 0)).save(paths[-1])  # 30,000 bytes each once decoded
    cache = MediaCache(max_bytes=70_000)
    for path in paths:
        load_image(path, ImageSettings(), cache)
    assert len(cache) == 2 and cache.nbytes == 60_000 and cache.stats.evictions == 1
    assert load_image(paths[2], cache=cache).report.cache == "memory"
    assert load_image(paths[0], cache=cache).report.cache == ""  # evicted first: decoded again
    huge = MediaCache(max_bytes=10_000)
    assert load_image(paths[0], cache=huge).pixels.shape == (100, 100, 3) and len(huge) == 0


def test_disk_cache_survives_a_new_process_cache(clip: Path, tmp_path: Path, decodes: list[Path]) -> None:
    settings = VideoSettings(num_frames=3, decoder="pyav")
    first = sample_video(clip, settings, MediaCache(disk_dir=tmp_path / "c"))
    fresh = MediaCache(disk_dir=tmp_path / "c")
    again = sample_video(clip, settings, fresh)
    assert len(decodes) == 1 and fresh.stats.disk_hits == 1 and again.report.cache == "disk"
    np.testing.assert_array_equal(first.frames, again.frames)
    np.testing.assert_array_equal(first.timestamps_s, again.timestamps_s)
    assert again.report.timestamps_s == first.report.timestamps_s
    assert sample_video(clip, settings, fresh).report.cache == "memory"
    for file in (tmp_path / "c").glob("*.npz"):
        file.write_bytes(b"truncated")
    assert sample_video(clip, settings, MediaCache(disk_dir=tmp_path / "c")).report.cache == ""
    assert len(decodes) == 2


def test_every_kind_roundtrips_through_disk(tmp_path: Path) -> None:
    rate = 8000
    wav = tmp_path / "a.wav"
    wav.write_bytes(wav_bytes(np.sin(np.arange(3 * rate) * 0.05).astype(np.float32) * 0.5, rate))
    (tmp_path / "d.txt").write_text("hello document", encoding="utf-8")
    (tmp_path / "p.off").write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 1\n", encoding="ascii")
    Image.new("RGBA", (40, 30), (0, 0, 255, 0)).save(tmp_path / "i.png")
    jobs = [
        lambda c: load_image(tmp_path / "i.png", ImageSettings(max_pixels=600, background=(1, 2, 3)), c),
        lambda c: load_audio(wav, AudioSettings(sample_rate=rate, max_chunk_s=1.0), c),
        lambda c: load_document(tmp_path / "d.txt", DocumentSettings(), c),
        lambda c: project_point_cloud(tmp_path / "p.off", cache=c),
    ]
    for job in jobs:
        first = job(MediaCache(disk_dir=tmp_path / "c"))
        again = job(MediaCache(disk_dir=tmp_path / "c"))
        assert again.report.cache == "disk"
        assert again.report == first.report.__class__(**{**first.report.__dict__, "cache": "disk"})
        for name, array in first.arrays().items():
            np.testing.assert_array_equal(again.arrays()[name], array)
    clip = load_audio(wav, AudioSettings(sample_rate=rate, max_chunk_s=1.0), MediaCache(disk_dir=tmp_path / "c"))
    assert clip.sample_rate == rate and clip.bounds.tolist() == [[0, 8000], [8000, 16000], [16000, 24000]]
    doc = load_document(tmp_path / "d.txt", DocumentSettings(), MediaCache(disk_dir=tmp_path / "c"))
    assert doc.text == "hello document" and doc.pages == ()
