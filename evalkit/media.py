"""Media helpers shared by every backend and judge: content hashes, MIME types, data URLs, cache keys.

Decoding, sampling and budgets (video frames, audio resampling and chunking, image resizing, document pages,
point-cloud projections) live in :mod:`evalkit.mediaproc`, keyed by :func:`media_key`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import mimetypes
import os
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.types import error_text, stable_hash

log = logging.getLogger(__name__)

_EXTRA_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".pdf": "application/pdf",
    ".ply": "model/ply",
    ".off": "model/off",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
TEXT_SUFFIXES = (".txt", ".md", ".csv", ".json", ".tsv")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus", ".aac")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")
DOCUMENT_SUFFIXES = (".pdf", ".docx", *TEXT_SUFFIXES)
POINT_CLOUD_SUFFIXES = (".ply", ".off")
# Leading bytes of encoded media -> file suffix (what the bytes are, whatever a file was called upstream).
IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)
AUDIO_MAGIC = ((b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"ID3", ".mp3"), (b"\xff\xfb", ".mp3"))
# Bump when a change to evalkit.mediaproc changes its output for the same file and settings (disk caches).
PROCESSING_VERSION = 1

_digests: dict[tuple[str, int, int], str] = {}


def sniff_suffix(data: bytes, kind: str) -> str:
    """The file suffix of encoded ``image`` or ``audio`` bytes by their leading bytes; ``""`` when unknown."""
    if kind not in ("image", "audio"):
        raise ValueError(f"sniff_suffix: kind must be image or audio, got {kind!r}")
    riff = {b"WEBP": ".webp", b"WAVE": ".wav"}.get(data[8:12], "") if data[:4] == b"RIFF" else ""
    if riff:
        return riff if (riff == ".webp") == (kind == "image") else ""
    table = IMAGE_MAGIC if kind == "image" else AUDIO_MAGIC
    return next((suffix for magic, suffix in table if data.startswith(magic)), "")


def mime_type(path: Path) -> str:
    """MIME type of a media file from its suffix."""
    suffix = path.suffix.lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, memoised by (path, size, mtime) so a run hashes each file once.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    st = os.stat(path)
    memo = (str(path), st.st_size, st.st_mtime_ns)
    digest = _digests.get(memo)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        _digests[memo] = digest
    return digest


def content_id(path: Path) -> str:
    """A file's content hash, or ``missing:<name>`` if it does not exist (the key still changes when it appears)."""
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return f"missing:{path.name}"


def data_url(path: Path) -> str:
    """The file as a ``data:<mime>;base64,...`` URL."""
    payload = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime_type(path)};base64,{payload}"


def read_text_file(path: Path, limit: int = 20_000) -> str:
    """A text document's content, cut at ``limit`` characters."""
    return path.read_text(encoding="utf-8", errors="replace")[:limit]


def settings_key(settings: Any) -> str:
    """Hash of a settings dataclass: its class name, its fields and :data:`PROCESSING_VERSION`."""
    is_instance = dataclasses.is_dataclass(settings) and not isinstance(settings, type)
    fields = dataclasses.asdict(settings) if is_instance else settings
    return stable_hash([type(settings).__name__, PROCESSING_VERSION, fields])


def media_key(path: Path, settings: Any) -> str:
    """Cache key of a decoded media file: its content hash plus :func:`settings_key` of the settings.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    return f"{file_sha256(path)[:32]}-{settings_key(settings)}"


def probe_media(kind: str, path: Path) -> None:
    """Decode a media file cheaply (one video frame, one document page, audio at its own rate) to prove it reads.

    Used before a file is sent to an endpoint (``model:`` captioners), so that a corrupt file is a clear local
    failure. A decoder that is not installed skips the probe: the file is then sent as before.

    Args:
        kind: the part type (image, audio, video, document, threeD).
        path: the media file.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file cannot be decoded (``<name> cannot be decoded as <kind>: <reason>``).
    """
    from evalkit.mediaproc.audio import AudioSettings
    from evalkit.mediaproc.budget import MediaBudget, process
    from evalkit.mediaproc.document import DocumentSettings
    from evalkit.mediaproc.pointcloud import read_points
    from evalkit.mediaproc.video import VideoSettings

    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a {kind} file")
    if not path.is_file():
        raise FileNotFoundError(f"{kind} file not found: {path}")
    budget = MediaBudget(
        video=VideoSettings(num_frames=1, max_frames=1),
        audio=AudioSettings(sample_rate=0, max_chunk_s=None),
        document=DocumentSettings(mode="text", max_pages=1),
    )
    try:
        if kind == "threeD":
            read_points(path)
        elif kind in ("image", "video", "audio", "document"):
            process(kind, path, budget, cache=None)
    except ConfigError as exc:  # no decoder here: the endpoint decodes it as before
        log.debug("probe of %s skipped: %s", path, exc)
    except Exception as exc:
        raise ValueError(f"{path.name} cannot be decoded as {kind}: {error_text(exc)}") from None
