"""Video sampling on real clips made with ffmpeg: frame counts, timestamps, budgets and decoder fallbacks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import ConfigError
from evalkit.mediaproc import video
from evalkit.mediaproc.video import VideoSettings, plan_frames, sample_video

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
DECODERS = [d for d in video.DECODERS if video.installed(d)]


def make_clip(out: Path, seconds: int = 5, size: str = "320x240", rate: int = 10, gop: int = 0) -> Path:
    """A testsrc MP4 (H.264 with B-frames) with a 440 Hz sine audio track; ``gop`` > 0 sets the keyframe interval."""
    gop_args = ["-g", str(gop), "-keyint_min", str(gop)] if gop else []
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds)]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", *gop_args, "-c:a", "aac", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


def all_frames(path: Path) -> np.ndarray:
    """Every frame decoded in order by PyAV without seeking: the reference."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("video") / "clip.mp4")


@pytest.fixture(scope="module")
def reference(clip: Path) -> np.ndarray:
    return all_frames(clip)


@pytest.mark.parametrize("decoder", DECODERS)
def test_fps_sampling_frames_and_timestamps(clip: Path, reference: np.ndarray, decoder: str) -> None:
    out = sample_video(clip, VideoSettings(fps=2.0, decoder=decoder, max_pixels=320 * 240))
    assert out.frames.shape == (10, 240, 320, 3) and out.frames.dtype == np.uint8
    np.testing.assert_allclose(out.timestamps_s, np.arange(10) * 0.5, atol=1e-6)
    assert out.report.decoder == decoder and out.report.fallbacks == ()
    assert (out.report.original.frames, out.report.original.fps) == (50, 10.0)
    assert out.report.original.duration_s == pytest.approx(5.0)
    assert out.report.timestamps_s == pytest.approx(tuple(np.arange(10) * 0.5), abs=1e-6)
    # the frames are those at 0, 0.5, ... s: each is nearer its reference frame than that frame's neighbours
    for k, index in enumerate(range(0, 50, 5)):
        diffs = [np.abs(out.frames[k].astype(int) - reference[j]).mean() for j in (index, index + 1)]
        assert diffs[0] < 1.0 < diffs[1]


@pytest.mark.parametrize("decoder", DECODERS)
def test_count_sampling_is_uniform_and_matches_sequential_decode(
    clip: Path, reference: np.ndarray, decoder: str
) -> None:
    out = sample_video(clip, VideoSettings(num_frames=8, decoder=decoder, max_pixels=320 * 240))
    indices = [3, 9, 15, 21, 28, 34, 40, 46]  # floor((i + 0.5) * 50 / 8)
    np.testing.assert_allclose(out.timestamps_s, np.array(indices) / 10, atol=1e-6)
    if decoder == "pyav":
        np.testing.assert_array_equal(out.frames, reference[indices])
    else:
        assert np.abs(out.frames.astype(int) - reference[indices]).mean() < 1.0


@pytest.mark.parametrize("decoder", DECODERS)
def test_frame_and_pixel_budgets(clip: Path, decoder: str) -> None:
    settings = VideoSettings(fps=2.0, max_frames=4, max_pixels=28 * 28 * 50, patch=28, decoder=decoder)
    out = sample_video(clip, settings)
    assert out.frames.shape == (4, 168, 224, 3)  # 320x240 scaled into 39200 px, sides multiples of 28
    np.testing.assert_allclose(out.timestamps_s, [0.6, 1.8, 3.1, 4.3], atol=1e-6)
    assert (out.report.output.width, out.report.output.height, out.report.output.frames) == (224, 168, 4)
    assert "capped at max_frames=4, spread uniformly" in out.report.actions
    assert "resized 320x240 -> 224x168" in out.report.actions


def test_pyav_seeks_across_keyframes(tmp_path: Path) -> None:
    # Keyframe every 7 frames: sparse targets make the PyAV reader seek; dense ones make it decode forward.
    clip = make_clip(tmp_path / "gop.mp4", seconds=6, rate=25, gop=7)
    reference = all_frames(clip)
    for num_frames in (5, 40, 150):
        out = sample_video(clip, VideoSettings(num_frames=num_frames, max_frames=150, decoder="pyav"))
        indices = [int((i + 0.5) * len(reference) / num_frames) for i in range(num_frames)]
        np.testing.assert_array_equal(out.frames, reference[indices])
        np.testing.assert_allclose(out.timestamps_s, np.array(indices) / 25, atol=1e-6)


def test_auto_falls_back_when_decord_is_missing(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "installed", lambda name: name != "decord")
    out = sample_video(clip, VideoSettings(num_frames=3))
    assert out.report.decoder == "pyav"
    assert out.report.fallbacks == ("decord: not installed",)
    assert out.report.settings["decoder"] == "auto"


@pytest.mark.skipif("decord" not in DECODERS, reason="decord is not installed")
def test_auto_prefers_decord_when_installed(clip: Path) -> None:
    assert sample_video(clip, VideoSettings(num_frames=2)).report.decoder == "decord"


def test_missing_chosen_decoder_names_the_extra(clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "installed", lambda name: name != "decord")
    with pytest.raises(ConfigError, match=r"'decord' is not installed.*\[video\]"):
        sample_video(clip, VideoSettings(decoder="decord"))


def test_unreadable_file_reports_every_decoder(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(ValueError) as info:
        sample_video(broken, VideoSettings(decoder=DECODERS[-1]))
    assert "broken.mp4" in str(info.value)
    with pytest.raises(FileNotFoundError):
        sample_video(tmp_path / "absent.mp4")


def test_plan_frames_edges() -> None:
    # fps above the source rate: every frame once
    indices, actions = plan_frames(20, 10.0, VideoSettings(fps=30.0, max_frames=100))
    assert indices == list(range(20)) and "clip has only 20 frames: all taken" in actions
    # a 0.5 s clip at 1 fps would give 1 frame; min_frames raises it
    indices, actions = plan_frames(5, 10.0, VideoSettings(fps=1.0, min_frames=4))
    assert indices == [0, 1, 3, 4] and "raised to min_frames=4" in actions
    with pytest.raises(ValueError):
        plan_frames(0, 10.0, VideoSettings())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fps": 0},
        {"num_frames": 0},
        {"min_frames": 5, "max_frames": 4},
        {"decoder": "ffmpeg"},
        {"max_pixels": 100, "patch": 28},
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="video settings"):
        VideoSettings(**kwargs)  # type: ignore[arg-type]
