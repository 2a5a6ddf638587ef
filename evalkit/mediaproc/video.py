"""Video frames by fps or by count, within a max-frames and a max-pixels budget.

Decoders, in the order ``auto`` tries them: decord, PyAV (``av``), OpenCV (``cv2``). Each reads only the
frames it needs (seeking to the keyframe before a wanted frame when that skips work), and the one used, with
the reasons the earlier ones were passed over, is recorded on the report.
"""

from __future__ import annotations

import bisect
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from evalkit.errors import missing_extra
from evalkit.media import file_sha256
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.image import fit_size, resize_rgb
from evalkit.mediaproc.report import MediaInfo, MediaReport, settings_dict
from evalkit.mediaproc.settings import DECODERS, VideoSettings

_MODULE = {"decord": "decord", "pyav": "av", "opencv": "cv2"}
_PACKAGE = {"decord": "decord", "pyav": "av", "opencv": "opencv-python-headless"}


@dataclass(frozen=True)
class VideoFrames:
    """Frames sampled from one video.

    Attributes:
        frames: ``(n, h, w, 3)`` uint8 RGB.
        timestamps_s: ``(n,)`` start time of each frame in seconds from the start of the stream.
        report: what was done.
    """

    frames: npt.NDArray[np.uint8]
    timestamps_s: npt.NDArray[np.float64]
    report: MediaReport

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"frames": self.frames, "timestamps_s": self.timestamps_s}

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], report: MediaReport) -> Self:
        return cls(frames=arrays["frames"], timestamps_s=arrays["timestamps_s"], report=report)


@dataclass(frozen=True)
class _Probe:
    """What a decoder knows about a stream before decoding."""

    frames: int
    fps: float
    width: int
    height: int
    duration_s: float


def plan_frames(total: int, fps: float, settings: VideoSettings) -> tuple[list[int], list[str]]:
    """Choose the frame indices to decode and describe the choice.

    Args:
        total: frames in the stream.
        fps: the stream's average frame rate.
        settings: the sampling settings.

    Returns:
        Sorted unique frame indices and the actions taken (for the report).

    Raises:
        ValueError: the stream has no frames or no frame rate.
    """
    if total <= 0 or fps <= 0:
        raise ValueError(f"video has {total} frames at {fps} fps: nothing to sample")
    duration = total / fps
    actions = []
    by_fps = settings.num_frames is None
    if settings.num_frames is None:
        want = max(1, math.ceil(duration * settings.fps - 1e-9))
        actions.append(f"{settings.fps:g} fps over {duration:.3f} s asks for {want} frames")
    else:
        want = settings.num_frames
        actions.append(f"{want} frames asked for, spread uniformly")
    if want < settings.min_frames:
        actions.append(f"raised to min_frames={settings.min_frames}")
        want, by_fps = settings.min_frames, False
    if want > settings.max_frames:
        actions.append(f"capped at max_frames={settings.max_frames}, spread uniformly")
        want, by_fps = settings.max_frames, False
    if want > total:
        actions.append(f"clip has only {total} frames: all taken")
        want, by_fps = total, False
    if by_fps:
        step = fps / settings.fps
        indices = sorted({min(total - 1, math.floor(j * step + 1e-6)) for j in range(want)})
    else:
        indices = sorted({min(total - 1, math.floor((i + 0.5) * total / want)) for i in range(want)})
    actions.append(f"sampled {len(indices)} of {total} frames")
    return indices, actions


# --------------------------------------------------------------------------------------------- decoders

Reader = Callable[[Path, Callable[[_Probe], list[int]]], tuple[_Probe, list[npt.NDArray[np.uint8]], list[float]]]


def _read_decord(
    path: Path, plan: Callable[[_Probe], list[int]]
) -> tuple[_Probe, list[npt.NDArray[np.uint8]], list[float]]:
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        total = len(reader)
        fps = float(reader.get_avg_fps())
        end = float(reader.get_frame_timestamp([total - 1])[0][1]) if total else 0.0
        probe = _Probe(frames=total, fps=fps, width=0, height=0, duration_s=end)
        indices = plan(probe)
        batch = reader.get_batch(indices).asnumpy()
        times = reader.get_frame_timestamp(indices)[:, 0]
    except decord.DECORDError as exc:
        raise ValueError(f"decord cannot read {path.name}: {exc}") from exc
    # decord tells the frame size only by decoding, so it is read off the frames themselves
    probe = replace(probe, width=int(batch.shape[2]), height=int(batch.shape[1]))
    return probe, list(batch), [float(t) for t in times]


def _pyav_index(container: Any, stream: Any) -> tuple[list[int], list[int]]:
    """Presentation timestamps of every frame and of the keyframes, from the packets (no decoding)."""
    pts: list[int] = []
    keys: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        pts.append(int(packet.pts))
        if packet.is_keyframe:
            keys.append(int(packet.pts))
    return sorted(pts), sorted(keys)


def _pyav_frames(container: Any, stream: Any, targets: list[int], pts: list[int], keys: list[int]) -> list[Any]:
    """Decode the frames whose pts are ``targets`` (ascending); seek only when that skips at least one frame.

    ``pts`` are all frame timestamps in presentation order and ``keys`` those of the keyframes.
    """
    out: list[Any] = []
    frames: Any = None
    position = -math.inf  # pts of the last decoded frame
    for target in targets:
        at = bisect.bisect_right(keys, target) - 1
        key = keys[at] if at >= 0 else None
        following = bisect.bisect_right(pts, position)
        next_pts = pts[following] if following < len(pts) else None
        if frames is None or (key is not None and key > position and key != next_pts):
            container.seek(key if key is not None else target, stream=stream, backward=True)
            frames = container.decode(stream)
        found = None
        for frame in frames:
            if frame.pts is None:
                continue
            position = frame.pts
            found = frame
            if frame.pts >= target:
                break
        if found is None:
            raise ValueError(f"no frame decoded at or before pts {target}")
        out.append(found)
    return out


def _read_pyav(
    path: Path, plan: Callable[[_Probe], list[int]]
) -> tuple[_Probe, list[npt.NDArray[np.uint8]], list[float]]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            pts, keys = _pyav_index(container, stream)
            base = Fraction(stream.time_base) if stream.time_base is not None else Fraction(1, 1)
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else (len(pts) / float((pts[-1] - pts[0]) * base) if len(pts) > 1 else 0.0)
            start = stream.start_time if stream.start_time is not None else (pts[0] if pts else 0)
            end = float((pts[-1] - start) * base) + (1.0 / fps if fps else 0.0) if pts else 0.0
            width, height = stream.codec_context.width, stream.codec_context.height
            probe = _Probe(frames=len(pts), fps=fps, width=width, height=height, duration_s=end)
            indices = plan(probe)
            decoded = _pyav_frames(container, stream, [pts[i] for i in indices], pts, keys)
            frames = [f.to_ndarray(format="rgb24") for f in decoded]
            times = [float((f.pts - start) * base) for f in decoded]
    except av.error.FFmpegError as exc:
        raise ValueError(f"PyAV cannot read {path.name}: {exc}") from exc
    return probe, frames, times


def _read_opencv(
    path: Path, plan: Callable[[_Probe], list[int]]
) -> tuple[_Probe, list[npt.NDArray[np.uint8]], list[float]]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ValueError(f"OpenCV cannot open {path.name}")
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        probe = _Probe(frames=total, fps=fps, width=width, height=height, duration_s=total / fps if fps else 0.0)
        indices = plan(probe)
        frames, times = [], []
        position = 0  # index of the frame the next read returns
        for index in indices:
            if index - position > max(1, round(2 * fps)):  # far ahead: let OpenCV seek
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                position = index
            while position < index and capture.grab():
                position += 1
            ok, frame = capture.read()
            if not ok:
                raise ValueError(f"OpenCV could not read frame {index} of {total} in {path.name}")
            position += 1
            frames.append(np.ascontiguousarray(frame[..., ::-1], dtype=np.uint8))
            times.append(index / fps)
    finally:
        capture.release()
    return probe, frames, times


_READERS: dict[str, Reader] = {"decord": _read_decord, "pyav": _read_pyav, "opencv": _read_opencv}


def installed(decoder: str) -> bool:
    """Whether the library behind ``decoder`` (decord, pyav, opencv) can be imported."""
    return importlib.util.find_spec(_MODULE[decoder]) is not None


def decoder_order(choice: str) -> tuple[list[str], list[str]]:
    """The decoders to try for ``choice`` and the reasons the skipped ones were skipped.

    Raises:
        ConfigError: an explicitly chosen decoder, or every decoder for ``auto``, is not installed.
    """
    if choice != "auto":
        if not installed(choice):
            raise missing_extra(_PACKAGE[choice], "video")
        return [choice], []
    order = [d for d in DECODERS if installed(d)]
    skipped = [f"{d}: not installed" for d in DECODERS if not installed(d)]
    if not order:
        raise missing_extra("av", "video")
    return order, skipped


# --------------------------------------------------------------------------------------------- sampling


def _first_success(
    path: Path, plan: Callable[[_Probe], list[int]], order: list[str], fallbacks: list[str]
) -> tuple[str, tuple[_Probe, list[npt.NDArray[np.uint8]], list[float]], list[str]]:
    """Run the decoders in order until one reads the file; return its name, its output and the failures."""
    tried = list(fallbacks)
    for name in order[:-1]:
        try:
            return name, _READERS[name](path, plan), tried
        except ValueError as exc:
            tried.append(str(exc))
    return order[-1], _READERS[order[-1]](path, plan), tried


def _decode_video(path: Path, settings: VideoSettings, order: list[str], fallbacks: list[str]) -> VideoFrames:
    actions: list[str] = []

    def plan(probe: _Probe) -> list[int]:
        actions.clear()
        indices, planned = plan_frames(probe.frames, probe.fps, settings)
        actions.extend(planned)
        return indices

    name, (probe, frames, times), tried = _first_success(path, plan, order, fallbacks)
    if not frames:
        raise ValueError(f"no frames decoded from {path.name}")
    height, width = frames[0].shape[:2]
    size = fit_size(width, height, settings.min_pixels, settings.max_pixels, settings.patch)
    if size != (width, height):
        actions.append(f"resized {width}x{height} -> {size[0]}x{size[1]}")
    stacked = np.stack([resize_rgb(np.ascontiguousarray(f), size, settings.resample) for f in frames])
    report = MediaReport(
        kind="video",
        path=str(path),
        sha256=file_sha256(path),
        decoder=name,
        fallbacks=tuple(tried),
        settings=settings_dict(settings),
        original=MediaInfo(
            width=probe.width, height=probe.height, duration_s=probe.duration_s, fps=probe.fps, frames=probe.frames
        ),
        output=MediaInfo(width=size[0], height=size[1], frames=len(frames)),
        actions=tuple(actions),
        timestamps_s=tuple(times),
    )
    return VideoFrames(frames=stacked, timestamps_s=np.asarray(times, dtype=np.float64), report=report)


def sample_video(path: Path, settings: VideoSettings | None = None, cache: MediaCache | None = None) -> VideoFrames:
    """Sample frames from a video within the settings' frame and pixel budgets.

    Args:
        path: the video file.
        settings: the sampling settings; defaults to :class:`VideoSettings`.
        cache: where decoded results are kept; None decodes every time.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: no decoder could read the file (each decoder's reason is in the message).
        ConfigError: the chosen decoder is not installed.
    """
    settings = settings or VideoSettings()
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    order, fallbacks = decoder_order(settings.decoder)
    # Keyed by the decoder that will run, so a machine with decord never reuses frames PyAV decoded.
    keyed = replace(settings, decoder=order[0])
    if cache is None:
        return _decode_video(path, settings, order, fallbacks)
    return cache.fetch(path, keyed, VideoFrames, lambda: _decode_video(path, settings, order, fallbacks))
