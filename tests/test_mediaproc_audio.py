"""Audio loading on real files made with sox and ffmpeg: resampling, mono mixing, chunking, decoder fallback."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import ConfigError
from evalkit.mediaproc.audio import AudioSettings, load_audio, resample, wav_bytes, window_bounds

pytest.importorskip("soundfile", reason="soundfile is not installed (the audio extra)")
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def sox_tone(out: Path, seconds: float, rate: int = 44100, channels: int = 2, freq: int = 440) -> Path:
    cmd = ["sox", "-n", "-r", str(rate), "-c", str(channels), "-b", "16", str(out), "synth", str(seconds), "sine"]
    subprocess.run([*cmd, str(freq), "vol", "0.5"], check=True, capture_output=True, timeout=60)
    return out


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@pytest.fixture(scope="module")
def long_tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    return sox_tone(tmp_path_factory.mktemp("audio") / "tone70.wav", 70)


@needs_sox
def test_long_audio_is_resampled_mixed_and_chunked(long_tone: Path) -> None:
    clip = load_audio(long_tone, AudioSettings(sample_rate=16000, max_chunk_s=30.0))
    assert clip.sample_rate == 16000 and clip.samples.dtype == np.float32
    assert clip.samples.shape == (70 * 16000,)
    assert clip.bounds.tolist() == [[0, 480_000], [480_000, 960_000], [960_000, 1_120_000]]
    assert [len(c) for c in clip.chunks()] == [480_000, 480_000, 160_000]
    report = clip.report
    assert report.chunks_s == ((0.0, 30.0), (30.0, 60.0), (60.0, 70.0))
    assert (report.original.sample_rate, report.original.channels, report.original.samples) == (44100, 2, 3_087_000)
    assert (report.output.sample_rate, report.output.channels, report.output.chunks) == (16000, 1, 3)
    assert report.actions == (
        "mixed 2 channels to mono (mean)",
        f"resampled 44100 -> 16000 Hz ({report.settings['resampler']})",
        "chunked 70.000 s into 3 windows of <= 30 s",
    )
    assert report.decoder == "soundfile"
    for chunk in clip.chunks():
        assert peak_hz(chunk, 16000) == pytest.approx(440, abs=1.0)
        assert float(np.sqrt(np.mean(chunk[1000:-1000] ** 2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


@needs_sox
@pytest.mark.parametrize("method", ["soxr", "scipy"])
def test_resamplers_match_their_reference_library(tmp_path: Path, method: str) -> None:
    import soundfile

    path = sox_tone(tmp_path / "t.wav", 1.3, rate=22050, channels=1, freq=1000)
    clip = load_audio(path, AudioSettings(sample_rate=16000, resampler=method))
    raw, rate = soundfile.read(str(path), dtype="float32")
    if method == "soxr":
        soxr = pytest.importorskip("soxr")

        expected = soxr.resample(raw, rate, 16000, quality="HQ")
    else:
        from scipy.signal import resample_poly

        expected = resample_poly(raw, 320, 441)
    np.testing.assert_allclose(clip.samples, expected, atol=1e-6)
    assert clip.report.settings["resampler"] == method
    assert peak_hz(clip.samples, 16000) == pytest.approx(1000, abs=2.0)


@needs_sox
def test_pyav_decoder_equals_soundfile(tmp_path: Path) -> None:
    path = sox_tone(tmp_path / "t.wav", 2.0, rate=16000, channels=2)
    a = load_audio(path, AudioSettings(decoder="soundfile", mono=False))
    b = load_audio(path, AudioSettings(decoder="pyav", mono=False))
    assert a.samples.shape == b.samples.shape == (2, 32000)
    np.testing.assert_allclose(a.samples, b.samples, atol=1e-6)
    assert (a.report.decoder, b.report.decoder) == ("soundfile", "pyav")
    assert a.report.actions == () and a.bounds.tolist() == [[0, 32000]]


@needs_ffmpeg
def test_video_audio_track_falls_back_to_pyav(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-f", "lavfi"]
    cmd += ["-i", "sine=frequency=440:sample_rate=44100", "-t", "3", "-c:v", "libx264", "-c:a", "aac", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    clip = load_audio(path, AudioSettings(sample_rate=8000))
    assert clip.report.decoder == "pyav"
    assert len(clip.report.fallbacks) == 1 and clip.report.fallbacks[0].startswith("soundfile cannot read v.mp4")
    assert clip.duration_s == pytest.approx(3.0, abs=0.05)
    assert peak_hz(clip.samples[2000:-2000], 8000) == pytest.approx(440, abs=2.0)


@needs_sox
def test_keep_rate_and_channels(tmp_path: Path) -> None:
    path = sox_tone(tmp_path / "t.wav", 1.0, rate=22050, channels=2)
    clip = load_audio(path, AudioSettings(sample_rate=0, mono=False, max_chunk_s=None))
    assert clip.samples.shape == (2, 22050) and clip.sample_rate == 22050 and clip.report.actions == ()


def test_window_bounds_tile_the_signal() -> None:
    for n, rate, size in [(1, 10, 0.5), (100, 10, 2.5), (101, 10, 2.5), (1000, 16000, 30.0)]:
        bounds = window_bounds(n, rate, size)
        assert bounds[0, 0] == 0 and bounds[-1, 1] == n
        assert (bounds[1:, 0] == bounds[:-1, 1]).all()
        assert ((bounds[:, 1] - bounds[:, 0]) <= max(1, int(size * rate))).all()
    assert window_bounds(0, 10, 1.0).shape == (0, 2)


def test_resample_identity_and_wav_roundtrip() -> None:
    import soundfile

    x = np.sin(np.linspace(0, 100, 8000, dtype=np.float32))[None, :] * 0.9
    assert resample(x, 8000, 8000, "soxr") is x
    data, rate = soundfile.read(io.BytesIO(wav_bytes(x[0], 8000)), dtype="float32")
    assert rate == 8000 and data.shape == (8000,)
    np.testing.assert_allclose(data, x[0], atol=1.5 / 32767)  # 16-bit quantisation


def test_bad_settings_and_missing_file(tmp_path: Path) -> None:
    for kwargs in ({"sample_rate": -1}, {"max_chunk_s": 0.0}, {"decoder": "sox"}, {"resampler": "librosa"}):
        with pytest.raises(ConfigError, match="audio settings"):
            AudioSettings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        load_audio(tmp_path / "absent.wav")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(ValueError, match=r"broken\.wav"):
        load_audio(broken)


@needs_sox
def test_without_any_resampler_only_matching_rates_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.mediaproc import audio

    real = audio._installed
    monkeypatch.setattr(audio, "_installed", lambda name: name not in audio.RESAMPLERS and real(name))
    path = sox_tone(tmp_path / "t.wav", 0.5, rate=16000, channels=1)
    assert load_audio(path).samples.shape == (8000,)
    with pytest.raises(ConfigError, match=r"'soxr' is not installed.*\[audio\]"):
        load_audio(path, AudioSettings(sample_rate=8000))
