"""The record of what was done to one media input, kept on the Prediction."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MediaInfo:
    """Measured properties of a media input, before or after processing; None where they do not apply.

    Attributes:
        width: frame, image or page width in pixels.
        height: frame, image or page height in pixels.
        duration_s: duration in seconds (video, audio).
        fps: frames per second (video).
        frames: number of video frames.
        sample_rate: audio samples per second.
        channels: audio channels.
        samples: audio samples per channel.
        pages: document pages.
        points: point-cloud points.
        chunks: audio windows.
        chars: characters of extracted text.
    """

    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frames: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    samples: int | None = None
    pages: int | None = None
    points: int | None = None
    chunks: int | None = None
    chars: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields that are set, rounded for reading."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = round(value, 6) if isinstance(value, float) else value
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MediaInfo:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass(frozen=True)
class MediaReport:
    """What was done to one media input, by which decoder.

    Attributes:
        kind: video, audio, image, document or threeD.
        path: the input file.
        sha256: the file's content hash.
        decoder: the library that decoded it (``decord``, ``pyav``, ``soundfile``, ``pypdfium2`` ...).
        fallbacks: decoders tried first and why they were not used (``decord: not installed``).
        settings: the settings used, as plain data.
        original: the input as found.
        output: what the caller gets.
        actions: each change made, in order (``resized 1920x1080 -> 812x448``).
        timestamps_s: start time of each sampled video frame.
        chunks_s: (start, end) seconds of each audio window.
        cache: ``""`` when decoded by this call, else ``memory`` or ``disk``.
    """

    kind: str
    path: str
    sha256: str
    decoder: str
    fallbacks: tuple[str, ...] = ()
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    original: MediaInfo = MediaInfo()
    output: MediaInfo = MediaInfo()
    actions: tuple[str, ...] = ()
    timestamps_s: tuple[float, ...] = ()
    chunks_s: tuple[tuple[float, float], ...] = ()
    cache: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``Prediction.meta`` (empty fields left out)."""
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "sha256": self.sha256, "decoder": self.decoder}
        if self.fallbacks:
            out["fallbacks"] = list(self.fallbacks)
        out["settings"] = self.settings
        out["original"] = self.original.to_json()
        out["output"] = self.output.to_json()
        out["actions"] = list(self.actions)
        if self.timestamps_s:
            out["timestamps_s"] = [round(t, 6) for t in self.timestamps_s]
        if self.chunks_s:
            out["chunks_s"] = [[round(a, 6), round(b, 6)] for a, b in self.chunks_s]
        if self.cache:
            out["cache"] = self.cache
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MediaReport:
        return cls(
            kind=d["kind"],
            path=d["path"],
            sha256=d["sha256"],
            decoder=d["decoder"],
            fallbacks=tuple(d.get("fallbacks", ())),
            settings=d.get("settings", {}),
            original=MediaInfo.from_json(d.get("original", {})),
            output=MediaInfo.from_json(d.get("output", {})),
            actions=tuple(d.get("actions", ())),
            timestamps_s=tuple(float(t) for t in d.get("timestamps_s", ())),
            chunks_s=tuple((float(a), float(b)) for a, b in d.get("chunks_s", ())),
            cache=d.get("cache", ""),
        )


def settings_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as JSON-shaped data (tuples become lists), as the report and its cache copy hold it."""
    data: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(settings)))
    return data
