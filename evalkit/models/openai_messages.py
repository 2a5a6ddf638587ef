"""Typed msg parts -> OpenAI chat content parts, at the edge of the OpenAI-compatible backend.

Each media part is preceded by its tag (``<audio1>``) so the model can cite it. A part the model cannot
take (its modality is not in ``modalities``) becomes a short text note, and what was done to every media
part is returned so the Prediction records it.

With a media budget (``evalkit.mediaproc``), images are fitted to the model's pixel budget before they are
sent, point clouds go to image readers as a front/side/top projection, and videos go to models that read
images but not video as sampled, time-stamped frames; each processing report is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.media import IMAGE_SUFFIXES, TEXT_SUFFIXES, data_url, read_text_file
from evalkit.mediaproc.budget import MediaBudget
from evalkit.mediaproc.cache import MediaCache
from evalkit.types import Msg, Part

_AUDIO_FORMATS = {".wav": "wav", ".mp3": "mp3", ".flac": "flac", ".ogg": "ogg", ".m4a": "m4a"}


@dataclass
class Converted:
    """The request content for one msg.

    Attributes:
        content: OpenAI content parts, media inlined as the transport requires.
        logged: the same with media as file references (what the Prediction stores).
        handling: tag -> what was done with that media part.
        reports: tag -> the media layer's report (sizes, sampling, decoder) where a budget applied.
    """

    content: list[dict[str, Any]] = field(default_factory=list)
    logged: list[dict[str, Any]] = field(default_factory=list)
    handling: dict[str, str] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)

    def add(self, part: dict[str, Any], logged: dict[str, Any] | None = None) -> None:
        self.content.append(part)
        self.logged.append(logged or part)

    def text(self, text: str) -> None:
        if self.content and self.content[-1]["type"] == "text" and self.logged[-1]["type"] == "text":
            self.content[-1] = {"type": "text", "text": self.content[-1]["text"] + text}
            self.logged[-1] = self.content[-1]
        else:
            self.add({"type": "text", "text": text})


def _url(path: Path, transport: str) -> str:
    return path.resolve().as_uri() if transport == "file_url" else data_url(path)


@dataclass(frozen=True)
class MediaPlan:
    """How media are processed before sending.

    Attributes:
        budget: per-kind settings (pixel budgets, frame sampling); None sends files as they are.
        cache: decoded media kept across samples.
    """

    budget: MediaBudget | None = None
    cache: MediaCache | None = None


def _budgeted(out: Converted, part: Part, kind: str, label: str, plan: MediaPlan) -> bool:
    """Send ``part`` as image parts through the media layer; False when no budget applies.

    ``kind`` is ``image`` (fit to the pixel budget), ``threeD`` (three-view projection) or ``frames``
    (a video as sampled, time-stamped frames).
    """
    if plan.budget is None:
        return False
    from evalkit.mediaproc.image import image_data_url, load_image
    from evalkit.mediaproc.pointcloud import project_point_cloud
    from evalkit.mediaproc.video import sample_video

    path, key = Path(part.value), part.tag or Path(part.value).name
    ref = {"type": part.type, "path": part.value}
    if kind == "frames":
        video = sample_video(path, plan.budget.video, plan.cache)
        out.reports[key] = video.report.to_json()
        out.text(f"{label} (video as {len(video.frames)} frames) ")
        for pixels, t in zip(video.frames, video.timestamps_s, strict=True):
            out.text(f"frame at {float(t):.1f} s: ")
            out.add({"type": "image_url", "image_url": {"url": image_data_url(pixels)}}, {**ref, "t": float(t)})
        out.handling[key] = f"sent as {len(video.frames)} sampled frames"
        return True
    res = (
        project_point_cloud(path, plan.budget.threeD, plan.cache)
        if kind == "threeD"
        else load_image(path, plan.budget.image, plan.cache)
    )
    out.reports[key] = res.report.to_json()
    note = " (three views: front, side, top)" if kind == "threeD" else ""
    out.text(f"{label}{note} ")
    out.add({"type": "image_url", "image_url": {"url": image_data_url(res.pixels)}}, ref)
    out.handling[key] = "sent as a three-view projection" if note else "sent within the pixel budget"
    return True


def not_read_reason(part: Part, modalities: tuple[str, ...], budgeted: bool) -> str:
    """Why ``to_openai_content`` would replace ``part`` by a "not shown" note; empty when the model gets it.

    Decided from the part type and file suffix only (no decoding), so a job can check every sample before the
    first call. ``budgeted``: a media budget is set (videos then reach image readers as frames, 3D as views).
    """
    suffix = Path(part.value).suffix.lower()
    kind = part.type
    if kind == "document" and suffix in IMAGE_SUFFIXES:
        kind = "image"
    if kind == "document" and suffix in TEXT_SUFFIXES:
        return ""
    if kind in ("video", "threeD") and kind not in modalities and "image" in modalities and budgeted:
        return ""
    if kind not in modalities:
        return f"the model does not read {kind}"
    if kind not in ("image", "audio", "video"):
        return f"no OpenAI content type for {part.type}"
    return ""


def _media(out: Converted, part: Part, modalities: tuple[str, ...], transport: str, plan: MediaPlan) -> None:
    path = Path(part.value)
    ref = {"type": part.type, "path": part.value}
    label = f"<{part.tag}>" if part.tag else f"[{part.type}]"
    if not path.is_file():
        raise FileNotFoundError(f"{part.type} file not found: {path}")
    kind = part.type
    if kind == "document" and path.suffix.lower() in IMAGE_SUFFIXES:
        kind = "image"  # a document page given as a picture is read as one
    if kind == "document" and path.suffix.lower() in TEXT_SUFFIXES:
        out.text(f"{label} (document {path.name}):\n{read_text_file(path)}\n")
        out.handling[part.tag or path.name] = "document text inlined"
        return
    if kind == "threeD" and "image" in modalities and _budgeted(out, part, "threeD", label, plan):
        return
    if kind == "video" and kind not in modalities and "image" in modalities:
        if _budgeted(out, part, "frames", label, plan):
            return
    if kind not in modalities:
        out.text(f"{label} [{part.type} not shown: this model does not read {kind}] ")
        out.handling[part.tag or path.name] = f"dropped: model does not read {kind}"
        return
    if kind == "image" and _budgeted(out, part, "image", label, plan):
        return
    out.text(f"{label} ")
    if kind == "image":
        out.add({"type": "image_url", "image_url": {"url": _url(path, transport)}}, ref)
    elif kind == "audio":
        fmt = _AUDIO_FORMATS.get(path.suffix.lower(), "wav")
        if transport == "file_url":
            out.add({"type": "audio_url", "audio_url": {"url": _url(path, transport)}}, ref)
        else:
            payload = data_url(path).split(",", 1)[1]
            out.add({"type": "input_audio", "input_audio": {"data": payload, "format": fmt}}, ref)
    elif kind == "video":
        out.add({"type": "video_url", "video_url": {"url": _url(path, transport)}}, ref)
    else:
        out.text(f"[{part.type} {path.name}: no OpenAI content type] ")
        out.handling[part.tag or path.name] = f"dropped: no OpenAI content type for {part.type}"
        return
    out.handling[part.tag or path.name] = f"sent as {transport}"


def to_openai_content(
    msg: Msg, modalities: tuple[str, ...], transport: str = "data_url", plan: MediaPlan | None = None
) -> Converted:
    """Convert a msg to OpenAI content parts.

    Args:
        msg: the ordered parts.
        modalities: part types the model reads (text is always read).
        transport: ``data_url`` (base64 inline, works everywhere) or ``file_url`` (vLLM with
            ``--allowed-local-media-path``; nothing large crosses the socket).
        plan: media budgets; None sends media files as they are.

    Raises:
        FileNotFoundError: a media file is missing (recorded on the Prediction by the caller).
    """
    out = Converted()
    for part in msg:
        if part.type == "text":
            out.text(part.value)
        elif part.type == "code":
            label = f"<{part.tag}> " if part.tag else ""
            out.text(f"{label}\n{part.value}\n")
        else:
            _media(out, part, modalities, transport, plan or MediaPlan())
    return out
