"""One model's media budgets, a settings block per kind, and the dispatcher from a part type to its processor.

``MediaBudget`` is meant as a field of a model's ``Options`` (a nested mapping in config.yaml, validated by
``build_options`` like any other key)::

    media:
      image: {max_pixels: 1003520, patch: 28}
      video: {fps: 2.0, max_frames: 32, max_pixels: 401408, patch: 28}
      audio: {sample_rate: 16000, max_chunk_s: 30}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from evalkit.mediaproc.settings import AudioSettings, DocumentSettings, ImageSettings, ProjectionSettings, VideoSettings

if TYPE_CHECKING:  # the processors import numpy and their decoders: only a part to process loads its kind's module
    from evalkit.mediaproc.audio import AudioClip
    from evalkit.mediaproc.cache import MediaCache
    from evalkit.mediaproc.document import DocumentPages
    from evalkit.mediaproc.image import ImageResult
    from evalkit.mediaproc.pointcloud import Projection
    from evalkit.mediaproc.video import VideoFrames

    Processed: TypeAlias = ImageResult | VideoFrames | AudioClip | DocumentPages | Projection


@dataclass(frozen=True)
class MediaBudget:
    """The settings for every media kind of one model.

    Attributes:
        image: pixel budget of images.
        video: frame sampling and per-frame pixel budget of videos.
        audio: sample rate, channels and window length of audio.
        document: mode, page budget and page-image budget of documents.
        threeD: how point clouds are drawn as a three-view image.
    """

    image: ImageSettings = field(default_factory=ImageSettings)
    video: VideoSettings = field(default_factory=VideoSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    document: DocumentSettings = field(default_factory=DocumentSettings)
    threeD: ProjectionSettings = field(default_factory=ProjectionSettings)  # named after the part type


def process(
    part_type: str, path: Path, budget: MediaBudget | None = None, cache: MediaCache | None = None
) -> Processed:
    """Decode one media part within its budget.

    Args:
        part_type: image, video, audio, document or threeD (``Part.type``).
        path: the media file.
        budget: the settings; defaults to :class:`MediaBudget`.
        cache: where decoded results are kept; None decodes every time.

    Raises:
        ValueError: an unknown part type, or an unreadable file.
        FileNotFoundError: the file is missing.
        ConfigError: a needed decoder is not installed.
    """
    budget = budget or MediaBudget()
    if part_type == "image":
        from evalkit.mediaproc.image import load_image

        return load_image(path, budget.image, cache)
    if part_type == "video":
        from evalkit.mediaproc.video import sample_video

        return sample_video(path, budget.video, cache)
    if part_type == "audio":
        from evalkit.mediaproc.audio import load_audio

        return load_audio(path, budget.audio, cache)
    if part_type == "document":
        from evalkit.mediaproc.document import load_document

        return load_document(path, budget.document, cache)
    if part_type == "threeD":
        from evalkit.mediaproc.pointcloud import project_point_cloud

        return project_point_cloud(path, budget.threeD, cache)
    raise ValueError(f"no media processor for part type '{part_type}'")
