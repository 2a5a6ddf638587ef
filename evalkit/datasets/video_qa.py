"""Video multiple-choice QA (MVBench, Video-MME style): one video, a question, options, an answer.

Records are JSON objects, one per line (``.jsonl``) or a JSON list (``.json``)::

    {"id": "q1", "video": "videos/abc.mp4", "question": "What happens first?",
     "options": ["A. The man sits.", "B. The man runs."],        # or "candidates": ["sits", "runs"] (MVBench)
     "answer": "A",                                              # an option letter or an option's text
     "task_type": "Temporal Perception", "domain": "Sports", "duration": "short"}   # optional breakdowns

- ``id`` (or ``question_id``): unique in its file; without one, ``<file stem>:<record number>``. In a ``.json``
  list, errors give the record number where a JSONL file gives the line;
- ``video`` (or ``video_path``): relative to the dataset folder (must stay inside it) or absolute;
- options: ``candidates`` (a list of texts, lettered A, B, ...), or ``options``: a list of texts, a list of
  ``"A. text"`` strings in letter order (Video-MME) whose prefixes are removed, or a letter -> text mapping;
- ``answer``: an option letter (Video-MME), ``(B)``, or the text of one option (MVBench).
- ``start``/``end`` (seconds, optional): kept in meta. The media layer receives the whole file, so ``prepare``
  cuts bounded MVBench clips into their own files and converted records carry no bounds.

The video reaches the model as a ``video`` Part; backends sample frames through the media layer (models that
read only images get frames there, not here). The prompt is the dataset's: the task's template (or the entry's
``prompt``) with ``{question}`` and ``{options}`` (``(A) text`` lines). Breakdowns: ``subdomain`` = ``task_type``
(or ``task``/``category``), ``domain`` = ``domain``, ``difficulty`` = ``duration`` (Video-MME's short / medium /
long), ``subset`` = ``subset`` or the file's stem. Judge: ``choice`` (rule-first extraction, LLM when configured).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, Dataset, LoadResult, check_task
from evalkit.datasets.generic import answer_letter, option_map
from evalkit.errors import ConfigError, DatasetError
from evalkit.judges.choice import format_options
from evalkit.types import Part, RecordError, Sample

DEFAULT_PROMPT = (
    "Question: {question}\nOptions:\n{options}\nAnswer with the option's letter from the given choices directly."
)
MVBENCH_PROMPT = (
    "Watch the video closely: the order of events, how objects move and change, and what people do and how.\n"
    "Question: {question}\nOptions:\n{options}\nReply with the letter of the best option only."
)
VIDEOMME_PROMPT = (
    "Answer the multiple-choice question about the video. Reply with the letter of the correct option only.\n"
    "Question: {question}\nOptions:\n{options}\nThe answer is:"
)


@dataclass(frozen=True)
class VideoTask:
    """A registered video QA benchmark.

    Attributes:
        root: folder under ``dataset_root`` holding the converted records and the videos.
        files: the records files in that folder (what ``prepare`` writes).
        prompt: the prompt template.
        option_format: how the original data gives options and answers (for users converting by hand).
    """

    root: str
    files: tuple[str, ...]
    prompt: str
    option_format: str


TASKS: dict[str, VideoTask] = {
    "MVBench": VideoTask(
        "mvbench",
        ("MVBench.jsonl",),
        MVBENCH_PROMPT,
        "candidates: list of option texts; answer: the text of the right candidate; 20 task files",
    ),
    "Video-MME": VideoTask(
        "videomme",
        ("Video-MME.jsonl",),
        VIDEOMME_PROMPT,
        "options: ['A. text', 'B. text', 'C. text', 'D. text']; answer: a letter",
    ),
}


@dataclass(frozen=True)
class VideoQAOptions:
    """Config keys of a video-qa dataset entry.

    Attributes:
        task: a name of :data:`TASKS` whose defaults apply; empty for custom data (then ``files`` is needed).
        root: folder relative to ``dataset_root`` (default: the task's).
        files: records files (glob patterns) in the root (default: the task's).
        prompt: template with ``{question}`` and ``{options}`` (default: the task's).
    """

    task: str = ""
    root: str | None = None
    files: tuple[str, ...] = ()
    prompt: str = ""


@DATASETS.register("video-qa")
class VideoQADataset(Dataset):
    """Video multiple-choice QA; the task picks folder, files and prompt."""

    Options = VideoQAOptions
    prompt_version = "video-qa-v1"
    default_judge = "choice"
    options: VideoQAOptions

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        super().__init__(name, options, root)
        task = self.options.task
        check_task(name, "video-qa", task, TASKS, bool(self.options.files), "files")
        self.spec = TASKS.get(task)
        self.template = self.options.prompt or (self.spec.prompt if self.spec else DEFAULT_PROMPT)
        try:
            self.template.format(question="", options="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"dataset {name}: bad prompt template {self.template!r}: {exc!r}") from None

    @property
    def data_root(self) -> Path:
        sub = self.options.root if self.options.root is not None else (self.spec.root if self.spec else "")
        return (self.root / sub).resolve() if sub else self.root.resolve()

    @property
    def patterns(self) -> tuple[str, ...]:
        return self.options.files or (self.spec.files if self.spec else ())

    def required_files(self) -> list[Path]:
        """The records files this dataset reads (what ``prepare`` must produce); globs are not expanded."""
        return [self.data_root / p for p in self.patterns]

    def files(self) -> list[Path]:
        """The records files; a missing one is a configuration error naming it and the prepare command."""
        found: list[Path] = []
        for pattern in self.patterns:
            hits = sorted(p for p in self.data_root.glob(pattern) if p.is_file())
            if not hits:
                raise ConfigError(
                    f"dataset {self.name}: {self.data_root / pattern} is missing; "
                    f"run `python run.py prepare --dataset {self.name}` or put the records there"
                )
            found.extend(h for h in hits if h not in found)
        return found

    def load(self) -> LoadResult:
        result = LoadResult()
        for path in self.files():
            seen: set[str] = set()
            for line, n, rec, err in _records(path):
                if err:
                    result.errors.append(RecordError(str(path), line, "", err))
                    continue
                try:
                    sample = self.to_sample(rec, path, line, n)
                    if sample.id in seen:
                        raise DatasetError(f"duplicate id {sample.id!r} in this file", field="id")
                except DatasetError as exc:
                    rid = str(rec.get("id", rec.get("question_id", ""))) if isinstance(rec, dict) else ""
                    result.errors.append(RecordError(str(path), line, exc.field, exc.reason, rid))
                    continue
                seen.add(sample.id)
                result.samples.append(sample)
        return result

    def to_sample(self, rec: Any, path: Path, line: int, n: int) -> Sample:
        """Validate one record and build its Sample.

        Raises:
            DatasetError: naming the field at fault.
        """
        if not isinstance(rec, dict):
            raise DatasetError(f"a record must be a JSON object, got {type(rec).__name__}")
        rid = _first(rec, ("id", "question_id"))
        sid = str(rid).strip() if rid is not None and str(rid).strip() else f"{path.stem}:{n}"
        video = self._video(rec)
        question = rec.get("question")
        if not isinstance(question, str) or not question.strip():
            raise DatasetError("'question' must be a non-empty string", field="question")
        options = _options(rec)
        letter = answer_letter(rec, options)
        meta: dict[str, Any] = {
            "question": question,
            "options": options,
            "answer_letter": letter,
            "subset": str(rec.get("subset") or path.stem),
            "file": str(path),
            "line": line,
        }
        for key, src in (("subdomain", ("task_type", "task", "category")), ("domain", ("domain",))):
            value = _first(rec, src)
            if value not in (None, ""):
                meta[key] = str(value)
        if rec.get("duration") not in (None, ""):
            meta["difficulty"] = str(rec["duration"])
        for key in ("start", "end"):
            if key in rec:
                if isinstance(rec[key], bool) or not isinstance(rec[key], int | float):
                    raise DatasetError(f"'{key}' must be a number of seconds", field=key)
                meta[key] = float(rec[key])
        prompt = self.template.format(question=question.strip(), options=format_options(options))
        return Sample(id=sid, msg=(video, Part("text", prompt)), references=(Part("text", letter),), meta=meta)

    def _video(self, rec: dict[str, Any]) -> Part:
        key = "video" if "video" in rec else "video_path"
        value = rec.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DatasetError("'video' must be a non-empty path", field="video")
        root = self.data_root
        raw = Path(value)
        path = raw if raw.is_absolute() else (root / raw).resolve()
        if not raw.is_absolute() and not path.is_relative_to(root):
            raise DatasetError(f"path {value!r} escapes the data root {root}", field=key)
        if path.is_dir():
            raise DatasetError(
                f"{path} is a folder of frames: make it a video file first (prepare does, for MVBench)", field=key
            )
        if not path.is_file():
            raise DatasetError(f"video file not found: {path}", field=key)
        return Part("video", str(path))


def _first(rec: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((rec[k] for k in keys if k in rec), None)


def _options(rec: dict[str, Any]) -> dict[str, str]:
    key = "candidates" if "candidates" in rec else "options"
    return option_map(rec.get(key), key)


def _records(path: Path) -> Iterator[tuple[int, int, Any, str]]:
    """(line, record number, record, error) for a JSONL file or a JSON list."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield exc.lineno, 0, None, f"invalid JSON: {exc.msg}"
            return
        if not isinstance(data, list):
            yield 1, 0, None, "a .json records file must hold a list of records"
            return
        for n, rec in enumerate(data, start=1):
            yield n, n, rec, ""  # a JSON list has no per-record lines: errors name the record number
        return
    n = 0
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        n += 1
        try:
            yield line, n, json.loads(raw), ""
        except json.JSONDecodeError as exc:
            yield line, n, None, f"invalid JSON: {exc.msg}"
