"""Audio captioning in the Clotho-v2 layout: one clip per row, its reference captions in ``caption_1..caption_N``.

Accepted records files (each file is a subset, named by its stem):

- ``.csv``: Clotho's own format, a header ``file_name,caption_1,...,caption_5`` then one row per clip
  (UTF-8, a BOM is allowed, quoted fields may span lines);
- ``.jsonl``: one JSON object per line with the same keys, ``{"file_name": ..., "caption_1": ..., ...}``.

``file_name`` is a path relative to ``<root>/<audio_dir>``. The message is the clip, then the prompt (an
option). The references are the captions, in column order. A record with a missing or empty caption, a
missing audio file or a path outside the data root becomes a RecordError naming file, line and field.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, FilesDataset, check_media_file
from evalkit.errors import ConfigError, DatasetError
from evalkit.types import Part, Sample

PROMPT = "Describe the audio in one sentence."
_CAPTION = re.compile(r"^caption_(\d+)$")


@dataclass(frozen=True)
class AudioCaptionOptions:
    """Config keys of an audio-caption dataset entry.

    Attributes:
        root: data root of this dataset, relative to ``dataset_root`` (empty: ``dataset_root`` itself).
        files: glob patterns of records files (``.csv`` or ``.jsonl``), relative to the root.
        audio_dir: folder of the clips, relative to the root (Clotho: ``evaluation``).
        prompt: the text sent after the clip.
        references: captions each record must have (Clotho: 5); 0 accepts any number from 1 up.
    """

    root: str = ""
    files: tuple[str, ...] = ("*.csv",)
    audio_dir: str = ""
    prompt: str = PROMPT
    references: int = 5


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(first line of the row, row) for each data row of a CSV file with a header."""
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""))
    _check_header(path, list(reader.fieldnames or []))
    start = reader.line_num + 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _check_header(path: Path, names: list[str]) -> None:
    if "file_name" not in names or not any(_CAPTION.match(n) for n in names):
        raise ConfigError(
            f"{path}: not a Clotho-style captions file: the header needs file_name and caption_1.. "
            f"(found: {', '.join(names) or 'nothing'})"
        )


@DATASETS.register("audio-caption")
class AudioCaptionDataset(FilesDataset):
    """Clotho-style audio captioning: references are each clip's captions; judged by corpus metrics."""

    Options = AudioCaptionOptions
    prompt_version = "audio-caption-v1"
    default_judge = "captioning"
    id_field = "file_name"
    options: AudioCaptionOptions

    def records(self, path: Path) -> Iterator[tuple[int, Any, str]]:
        if path.suffix.lower() == ".csv":
            for line, row in _csv_rows(path):
                yield line, row, ""
            return
        if path.suffix.lower() != ".jsonl":
            raise ConfigError(f"dataset {self.name}: {path} is neither .csv nor .jsonl")
        yield from super().records(path)

    def to_sample(self, rec: Any, path: Path, line: int) -> Sample:
        """Validate one record and build its Sample.

        Raises:
            DatasetError: naming the field at fault.
        """
        if not isinstance(rec, dict):
            raise DatasetError(f"a record must be an object, got {type(rec).__name__}")
        if None in rec:  # csv.DictReader puts cells beyond the header under None
            raise DatasetError(f"the row has {len(rec[None])} more cell(s) than the header")
        name = rec.get("file_name")
        if not isinstance(name, str) or not name.strip():
            raise DatasetError("missing or empty file_name", field="file_name")
        captions = self._captions(rec)
        audio = self._audio_path(name.strip())
        meta = {"subset": path.stem, "file_name": name.strip(), "file": str(path), "line": line}
        return Sample(
            id=f"{path.stem}:{name.strip()}",
            msg=(Part("audio", str(audio)), Part("text", self.options.prompt)),
            references=tuple(Part("text", c) for c in captions),
            meta=meta,
        )

    def _captions(self, rec: dict[str, Any]) -> list[str]:
        numbered = sorted((int(m.group(1)), k) for k in rec if isinstance(k, str) and (m := _CAPTION.match(k)))
        want = self.options.references
        expected = [f"caption_{i}" for i in range(1, (want or len(numbered)) + 1)]
        if not numbered:
            raise DatasetError("no caption_1.. field", field="caption_1")
        if want and len(numbered) != want:
            extra = [k for _, k in numbered if k not in expected]
            fld = extra[0] if extra else next(k for k in expected if k not in rec)
            raise DatasetError(f"expected {want} captions (caption_1..caption_{want}), got {len(numbered)}", field=fld)
        out = []
        for key in expected:
            value = rec.get(key)
            if value is None:
                raise DatasetError(f"missing {key}", field=key)
            if not isinstance(value, str):
                raise DatasetError(f"{key} must be a string, got {type(value).__name__}", field=key)
            if not value.strip():
                raise DatasetError(f"empty {key}", field=key)
            out.append(value.strip())
        return out

    def _audio_path(self, name: str) -> Path:
        root = self.data_root
        path = (root / self.options.audio_dir / name).resolve()
        if not path.is_relative_to(root):
            raise DatasetError(f"path {name!r} escapes the data root {root}", field="file_name")
        check_media_file(path, "file_name", "audio")
        return path
