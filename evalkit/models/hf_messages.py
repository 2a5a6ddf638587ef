"""Typed msg parts -> a Hugging Face processor's chat-template content and media arrays, at the edge of the HF backend.

The chat template gets one ``{"type": "audio" | "image" | "video" | "text"}`` item per piece, in msg order; the
decoded media go to the processor as arrays in the same order. Media are decoded by :mod:`evalkit.mediaproc`
within the model's budget: audio resampled to the processor's rate and long audio cut into windows (one audio
item per window, nothing dropped), images and video frames resized to a pixel budget, video frames sampled by
fps under a max-frames budget. Documents become page images plus their text (text only for a model without
image input), code becomes text, a point cloud becomes a three-view projection image (a text note for a model
without image input), and a video becomes its audio track for an audio-only model. What was done to each input
is returned for ``Generation.meta``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evalkit.media import IMAGE_SUFFIXES
from evalkit.mediaproc.audio import AudioClip, load_audio
from evalkit.mediaproc.budget import MediaBudget
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.document import load_document
from evalkit.mediaproc.image import load_image
from evalkit.mediaproc.pointcloud import project_point_cloud
from evalkit.mediaproc.report import MediaReport
from evalkit.mediaproc.video import sample_video
from evalkit.types import Msg, Part


@dataclass(frozen=True)
class VideoInput:
    """Sampled frames of one video and where they came from (for the processor's temporal positions).

    Attributes:
        frames: ``(n, h, w, 3)`` uint8 RGB.
        timestamps_s: start time of each frame in seconds.
        source_fps: the stream's frame rate.
        source_frames: frames in the stream.
    """

    frames: npt.NDArray[np.uint8]
    timestamps_s: tuple[float, ...]
    source_fps: float
    source_frames: int

    @property
    def sampled_fps(self) -> float:
        """Frames per second of video time actually taken (what the model's time positions should use)."""
        if len(self.timestamps_s) > 1 and self.timestamps_s[-1] > self.timestamps_s[0]:
            return (len(self.timestamps_s) - 1) / (self.timestamps_s[-1] - self.timestamps_s[0])
        return self.source_fps or 1.0

    @property
    def indices(self) -> list[int]:
        """Source frame index of each sampled frame."""
        return [round(t * self.source_fps) for t in self.timestamps_s]


@dataclass
class HFPrompt:
    """One msg made ready for a processor.

    Attributes:
        content: chat-template items of the user turn, media as ``{"type": kind}`` placeholders.
        logged: the same items with the media file paths (what the Prediction stores).
        audio: float32 mono arrays at the processor's rate, in placeholder order.
        images: ``(h, w, 3)`` uint8 arrays, in placeholder order.
        videos: sampled videos, in placeholder order.
        media: tag (or file name) -> what was done to that input.
    """

    content: list[dict[str, Any]] = field(default_factory=list)
    logged: list[dict[str, Any]] = field(default_factory=list)
    audio: list[npt.NDArray[np.float32]] = field(default_factory=list)
    images: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    videos: list[VideoInput] = field(default_factory=list)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)

    def text(self, text: str) -> None:
        """Append text, merged with a text item just before it."""
        if not text:
            return
        if self.content and self.content[-1]["type"] == "text":
            merged = {"type": "text", "text": self.content[-1]["text"] + text}
            self.content[-1] = merged
            self.logged[-1] = merged
        else:
            self.content.append({"type": "text", "text": text})
            self.logged.append({"type": "text", "text": text})

    def placeholder(self, kind: str, path: str, **extra: Any) -> None:
        """Append a media item of ``kind`` for the file at ``path``.

        The item carries the path under its kind's key too (``{"type": "audio", "audio": path}``): some released
        chat templates (Qwen2-Audio's) test for that key rather than for ``type``. Rendering with
        ``tokenize=False`` never opens the file; the decoded arrays go to the processor separately.
        """
        self.content.append({"type": kind, kind: path})
        self.logged.append({"type": kind, kind: path, **extra})

    def note(self, key: str, action: str, report: MediaReport | None = None) -> None:
        """Record what was done to one input (several notes for one input are joined)."""
        entry = self.media.setdefault(key, {"actions": []})
        entry["actions"].append(action)
        if report is not None:
            entry.setdefault("reports", []).append(report.to_json())


def _label(part: Part, path: Path) -> str:
    return f"<{part.tag}>" if part.tag else f"[{part.type} {path.name}]"


def _add_audio(out: HFPrompt, clip: AudioClip, key: str, path: str, what: str) -> None:
    chunks = clip.chunks()
    for i, chunk in enumerate(chunks):
        out.placeholder("audio", path, **({"window": i} if len(chunks) > 1 else {}))
        out.audio.append(np.array(chunk, dtype=np.float32))
    windows = f" in {len(chunks)} windows" if len(chunks) > 1 else ""
    out.note(key, f"{what} as audio at {clip.sample_rate} Hz{windows}", clip.report)


class MessageAdapter:
    """Turns msgs into :class:`HFPrompt` for one model.

    Args:
        modalities: the media kinds the model reads (``audio``, ``image``, ``video``).
        budget: media budgets; the audio rate is the processor's.
        cache: decoded-media cache shared across requests (None decodes every time).
    """

    def __init__(self, modalities: tuple[str, ...], budget: MediaBudget, cache: MediaCache | None) -> None:
        self.modalities = modalities
        self.budget = budget
        self.cache = cache

    def convert(self, msg: Msg) -> HFPrompt:
        """The chat content and media arrays of ``msg``.

        Raises:
            FileNotFoundError: a media file is missing.
            ValueError: a media file cannot be decoded.
            ConfigError: a decoder the input needs is not installed.
        """
        out = HFPrompt()
        for part in msg:
            if part.type == "text":
                out.text(part.value)
            elif part.type == "code":
                out.text(f"<{part.tag}>\n{part.value}\n" if part.tag else f"\n{part.value}\n")
            else:
                self._media(out, part)
        return out

    def _media(self, out: HFPrompt, part: Part) -> None:
        path = Path(part.value)
        if not path.is_file():
            raise FileNotFoundError(f"{part.type} file not found: {path}")
        key = part.tag or path.name
        kind = part.type
        if kind == "document" and path.suffix.lower() in IMAGE_SUFFIXES:
            kind = "image"  # a page given as a picture is read as one
        out.text(f"{_label(part, path)} ")
        if kind == "image":
            self._image(out, path, key)
        elif kind == "audio":
            self._audio(out, path, key)
        elif kind == "video":
            self._video(out, path, key)
        elif kind == "document":
            self._document(out, path, key)
        elif kind == "threeD":
            self._point_cloud(out, path, key)
        else:
            out.text(f"[{part.type} not shown: unknown part type] ")
            out.note(key, f"dropped: unknown part type {part.type}")

    def _not_read(self, out: HFPrompt, key: str, kind: str) -> None:
        out.text(f"[{kind} not shown: this model does not read {kind}] ")
        out.note(key, f"dropped: model does not read {kind}")

    def _image(self, out: HFPrompt, path: Path, key: str) -> None:
        if "image" not in self.modalities:
            self._not_read(out, key, "image")
            return
        result = load_image(path, self.budget.image, self.cache)
        out.placeholder("image", str(path))
        out.images.append(np.array(result.pixels))  # a writable copy: cached arrays are shared and read-only
        out.note(key, "sent as image", result.report)

    def _audio(self, out: HFPrompt, path: Path, key: str) -> None:
        if "audio" not in self.modalities:
            self._not_read(out, key, "audio")
            return
        _add_audio(out, load_audio(path, self.budget.audio, self.cache), key, str(path), "sent")

    def _video(self, out: HFPrompt, path: Path, key: str) -> None:
        if "video" in self.modalities:
            sampled = sample_video(path, self.budget.video, self.cache)
            original = sampled.report.original
            out.placeholder("video", str(path))
            out.videos.append(
                VideoInput(
                    frames=np.array(sampled.frames),
                    timestamps_s=tuple(float(t) for t in sampled.timestamps_s),
                    source_fps=float(original.fps or 0.0),
                    source_frames=int(original.frames or len(sampled.frames)),
                )
            )
            out.note(key, f"sent as video ({len(sampled.frames)} frames)", sampled.report)
        elif "audio" in self.modalities:
            try:
                clip = load_audio(path, self.budget.audio, self.cache)
            except ValueError as exc:  # a silent video: nothing this model can take
                out.text("[video not shown: this model reads audio only and the video has no audio track] ")
                out.note(key, f"dropped: no audio track ({exc})")
                return
            _add_audio(out, clip, key, str(path), "audio track sent")
        else:
            self._not_read(out, key, "video")

    def _document(self, out: HFPrompt, path: Path, key: str) -> None:
        settings = self.budget.document
        if "image" not in self.modalities and settings.mode != "text":
            settings = replace(settings, mode="text")
        doc = load_document(path, settings, self.cache)
        for page in doc.pages:
            out.placeholder("image", str(path))
            out.images.append(np.array(page))
        if doc.text:
            out.text(f"(document {path.name}):\n{doc.text}\n")
        parts = [f"{len(doc.pages)} page images"] if doc.pages else []
        parts += [f"{len(doc.text)} characters of text"] if doc.text else []
        out.note(key, "sent as " + (" and ".join(parts) or "nothing (empty document)"), doc.report)

    def _point_cloud(self, out: HFPrompt, path: Path, key: str) -> None:
        if "image" not in self.modalities:
            out.text(f"[3D point cloud {path.name} not shown: this model does not read images] ")
            out.note(key, "dropped: 3D point cloud needs image input (text note sent)")
            return
        projection = project_point_cloud(path, self.budget.threeD, self.cache)
        out.placeholder("image", str(path))
        out.images.append(np.array(projection.pixels))
        out.note(key, "sent as a three-view projection image", projection.report)
