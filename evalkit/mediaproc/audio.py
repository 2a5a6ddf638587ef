"""Audio at the model's sample rate: decoded, mixed to mono, resampled, and long audio cut into windows.

Nothing is dropped: audio longer than ``max_chunk_s`` becomes consecutive windows that together cover all of
it, with the boundaries recorded. Decoders in ``auto`` order: soundfile (wav, flac, ogg, mp3), then PyAV
(anything ffmpeg reads, the audio track of a video included). Resamplers: soxr, then scipy's polyphase filter.
"""

from __future__ import annotations

import importlib.util
import io
import math
import wave
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from evalkit.errors import missing_extra
from evalkit.media import file_sha256
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.report import MediaInfo, MediaReport, settings_dict
from evalkit.mediaproc.settings import AUDIO_DECODERS, RESAMPLERS, AudioSettings

FloatArray = npt.NDArray[np.float32]
_MODULE = {"soundfile": "soundfile", "pyav": "av", "soxr": "soxr", "scipy": "scipy"}


@dataclass(frozen=True)
class AudioClip:
    """Decoded audio and its windows.

    Attributes:
        samples: float32 in [-1, 1]; ``(n,)`` when mono, else ``(channels, n)``.
        sample_rate: samples per second of ``samples``.
        bounds: ``(k, 2)`` int64 sample index [start, end) of each window; they tile ``[0, n)``.
        report: what was done.
    """

    samples: FloatArray
    sample_rate: int
    bounds: npt.NDArray[np.int64]
    report: MediaReport

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[-1] / self.sample_rate

    def chunks(self) -> list[FloatArray]:
        """The windows, in order (views of ``samples``)."""
        return [self.samples[..., int(a) : int(b)] for a, b in self.bounds]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"samples": self.samples, "bounds": self.bounds, "sample_rate": np.array(self.sample_rate)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], report: MediaReport) -> Self:
        return cls(
            samples=arrays["samples"], sample_rate=int(arrays["sample_rate"]), bounds=arrays["bounds"], report=report
        )


def _installed(name: str) -> bool:
    return importlib.util.find_spec(_MODULE[name]) is not None


def _read_soundfile(path: Path) -> tuple[FloatArray, int]:
    """``(channels, n)`` float32 and the rate, via libsndfile."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"soundfile cannot read {path.name}: {exc}") from exc
    return np.ascontiguousarray(data.T), int(rate)


def _read_pyav(path: Path) -> tuple[FloatArray, int]:
    """``(channels, n)`` float32 and the rate of the first audio stream, via ffmpeg."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{path.name} has no audio stream")
            stream = container.streams.audio[0]
            to_float = av.AudioResampler(format="fltp")  # planar float at the stream's own rate and layout
            blocks = [out.to_ndarray() for frame in container.decode(stream) for out in to_float.resample(frame)]
            blocks += [out.to_ndarray() for out in to_float.resample(None)]
            rate = int(stream.rate or stream.codec_context.sample_rate)
    except av.error.FFmpegError as exc:
        raise ValueError(f"PyAV cannot read {path.name}: {exc}") from exc
    if not blocks:
        raise ValueError(f"{path.name}: the audio stream has no samples")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), rate


_READERS = {"soundfile": _read_soundfile, "pyav": _read_pyav}


def _decode(path: Path, choice: str) -> tuple[str, FloatArray, int, list[str]]:
    """Try the decoders for ``choice``; return the one used, ``(channels, n)`` samples, rate, and the failures."""
    if choice != "auto":
        if not _installed(choice):
            raise missing_extra("soundfile" if choice == "soundfile" else "av", "audio")
        data, rate = _READERS[choice](path)
        return choice, data, rate, []
    tried = [f"{name}: not installed" for name in AUDIO_DECODERS if not _installed(name)]
    order = [name for name in AUDIO_DECODERS if _installed(name)]
    if not order:
        raise missing_extra("soundfile", "audio")
    for name in order[:-1]:
        try:
            data, rate = _READERS[name](path)
            return name, data, rate, tried
        except ValueError as exc:
            tried.append(str(exc))
    data, rate = _READERS[order[-1]](path)
    return order[-1], data, rate, tried


def resampler_for(choice: str) -> str:
    """The resampler ``choice`` resolves to here.

    Raises:
        ConfigError: the chosen resampler (or, for auto, any) is not installed.
    """
    if choice == "auto":
        for name in RESAMPLERS:
            if _installed(name):
                return name
        raise missing_extra("soxr", "audio")
    if not _installed(choice):
        raise missing_extra(choice, "audio")
    return choice


def resample(samples: FloatArray, rate: int, target: int, method: str) -> FloatArray:
    """Resample ``(channels, n)`` float32 audio from ``rate`` to ``target`` Hz with soxr (HQ) or scipy."""
    if rate == target:
        return samples
    if method == "soxr":
        import soxr

        out = soxr.resample(np.ascontiguousarray(samples.T), rate, target, quality="HQ")
        return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(-1, samples.shape[0]).T)
    from scipy.signal import resample_poly

    step = math.gcd(rate, target)
    out = resample_poly(samples, target // step, rate // step, axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def window_bounds(n: int, rate: int, max_chunk_s: float | None) -> npt.NDArray[np.int64]:
    """``(k, 2)`` [start, end) sample bounds of consecutive windows of at most ``max_chunk_s`` covering ``n``."""
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    size = n if max_chunk_s is None else max(1, math.floor(max_chunk_s * rate + 1e-9))
    starts = np.arange(0, n, size, dtype=np.int64)
    return np.stack([starts, np.minimum(starts + size, n)], axis=1)


def _process(path: Path, settings: AudioSettings, method: str) -> AudioClip:
    decoder, data, rate, tried = _decode(path, settings.decoder)
    channels, n = data.shape
    actions: list[str] = []
    if settings.mono and channels > 1:
        data = data.mean(axis=0, keepdims=True, dtype=np.float32)
        actions.append(f"mixed {channels} channels to mono (mean)")
    target = settings.sample_rate or rate
    if target != rate:
        if method == "none":
            raise missing_extra("soxr", "audio")
        data = resample(data, rate, target, method)
        actions.append(f"resampled {rate} -> {target} Hz ({method})")
    bounds = window_bounds(data.shape[1], target, settings.max_chunk_s)
    seconds = tuple((a / target, b / target) for a, b in bounds.tolist())
    if len(bounds) > 1:
        actions.append(
            f"chunked {data.shape[1] / target:.3f} s into {len(bounds)} windows of <= {settings.max_chunk_s:g} s"
        )
    samples = data[0] if settings.mono else data
    report = MediaReport(
        kind="audio",
        path=str(path),
        sha256=file_sha256(path),
        decoder=decoder,
        fallbacks=tuple(tried),
        settings={**settings_dict(settings), "resampler": method},
        original=MediaInfo(duration_s=n / rate, sample_rate=rate, channels=channels, samples=n),
        output=MediaInfo(
            duration_s=data.shape[1] / target,
            sample_rate=target,
            channels=data.shape[0],
            samples=data.shape[1],
            chunks=len(bounds),
        ),
        actions=tuple(actions),
        chunks_s=seconds,
    )
    return AudioClip(samples=samples, sample_rate=target, bounds=bounds, report=report)


def load_audio(path: Path, settings: AudioSettings | None = None, cache: MediaCache | None = None) -> AudioClip:
    """Decode audio (or a video's audio track) to the settings' rate and channels, in windows.

    Args:
        path: the audio or video file.
        settings: the settings; defaults to :class:`AudioSettings` (16 kHz mono, 30 s windows).
        cache: where decoded results are kept; None decodes every time.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: no decoder could read the file.
        ConfigError: a chosen decoder or resampler is not installed.
    """
    settings = settings or AudioSettings()
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    # With auto and no resampler installed, files already at the target rate still load; others raise.
    installed = any(_installed(name) for name in RESAMPLERS)
    method = resampler_for(settings.resampler) if installed or settings.resampler != "auto" else "none"
    if cache is None:
        return _process(path, settings, method)
    keyed = replace(settings, resampler=method)
    return cache.fetch(path, keyed, AudioClip, lambda: _process(path, settings, method))


def wav_bytes(samples: FloatArray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes of float audio (``(n,)`` mono or ``(channels, n)``), clipped to [-1, 1]."""
    data = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    pcm = np.round(np.clip(data, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(pcm.shape[0])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(pcm.T).tobytes())
    return buf.getvalue()
