"""Kimi-Audio-Evalkit's JSONL format: ASR, single-choice (MQA), open (OpenQA) and reference (RefQA) audio QA.

One JSON object per line:

- ``index`` (int or str): unique within its file;
- ``audio_path`` (str or list of str): audio files, relative to the dataset root (absolute paths are used as
  they are; a relative path may not leave the root);
- ``question`` (str, may be empty): the record's question or instruction;
- ``answer`` (str): the transcript (ASR), the option letter or option text (MQA), the reference (RefQA);
  may be empty for OpenQA;
- ``subset`` (str): report rows are given per subset;
- ``audio_content`` (optional str): transcript of a spoken request, shown to LLM judges (Audio-QA sets);
- ``choices`` (optional, MQA): options as a list or a letter -> text mapping; without it they are read from
  the question (``(A) apple (B) river`` or one ``A. apple`` per line);
- ``meta`` (optional object): merged into the sample's meta.

The prompt belongs to the dataset: audio first, then the task's text (:data:`DEFAULT_PROMPTS`, or the entry's
``prompt`` template with ``{question}``, ``{options}`` and ``{audio_type}``). Bad lines become RecordErrors
naming file, line and field; the rest load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, FilesDataset, check_media_file
from evalkit.errors import ConfigError, DatasetError
from evalkit.judges.choice import format_options, gold_letter, options_from_choices, parse_options
from evalkit.types import Part, Sample

TASKS = ("asr", "mqa", "openqa", "refqa")
AUDIO_TYPES = {"speech": "speech", "audio event": "sound events", "music": "music"}
REQUIRED = ("index", "audio_path", "question", "answer", "subset")
DEFAULT_PROMPTS = {
    "asr": "Transcribe the {audio_type} in the audio into text. Reply with the transcript only.",
    "mqa": "Listen to the {audio_type} in the audio.\n{question}\n{options}"
    "Answer with the letter of the correct option.",
    "openqa": "{question}",
    "refqa": "Listen to the {audio_type} in the audio.\n{question}",
}
DEFAULT_QUESTIONS = {
    "asr": "",
    "mqa": "",
    "openqa": "Listen to the {audio_type} in the audio and respond to the request in it.",
    "refqa": "Answer the question asked in the audio.",
}
DEFAULT_JUDGES = {"asr": "asr", "mqa": "choice", "openqa": "audio-openqa", "refqa": "audio-refqa"}


@dataclass(frozen=True)
class KimiAudioOptions:
    """Config keys of a Kimi-Audio-Evalkit dataset entry.

    Attributes:
        root: data root of this dataset, relative to ``dataset_root`` (empty: ``dataset_root`` itself).
        files: glob patterns of JSONL files, relative to the root.
        task: ``asr``, ``mqa``, ``openqa`` or ``refqa``.
        audio_type: ``speech``, ``audio event`` or ``music``; named to the model in the prompt.
        language: language of the answers (``en``, ``zh``): picks the ASR normaliser and WER or CER.
        prompt: prompt template with ``{question}``, ``{options}``, ``{audio_type}``; empty: the task's default.
        default_question: used where a record's question is empty; empty: the task's default.
    """

    root: str = ""
    files: tuple[str, ...] = ("*.jsonl",)
    task: str = "asr"
    audio_type: str = "speech"
    language: str = "en"
    prompt: str = ""
    default_question: str = ""


@DATASETS.register("kimi-audio")
class KimiAudioDataset(FilesDataset):
    """Kimi-Audio-Evalkit JSONL records; ``task`` picks the prompt and the default judge."""

    Options = KimiAudioOptions
    prompt_version = "kimi-audio-v1"
    default_judge = "asr"
    id_field = "index"
    options: KimiAudioOptions

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        super().__init__(name, options, root)
        opts = self.options
        where = f"dataset {name}"
        if opts.task not in TASKS:
            raise ConfigError(f"{where}: task must be one of {', '.join(TASKS)}, got {opts.task!r}")
        if opts.audio_type not in AUDIO_TYPES:
            raise ConfigError(f"{where}: audio_type must be one of {', '.join(AUDIO_TYPES)}, got {opts.audio_type!r}")
        if not opts.language or opts.language != opts.language.strip().lower():
            raise ConfigError(f"{where}: language must be a lower-case code such as en or zh, got {opts.language!r}")
        self.template = opts.prompt or DEFAULT_PROMPTS[opts.task]
        self.question_default = opts.default_question or DEFAULT_QUESTIONS[opts.task]
        for text in (self.template, self.question_default):
            try:
                text.format(question="", options="", audio_type="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(f"{where}: bad prompt template {text!r}: {exc!r}") from None
        self.judge_name = DEFAULT_JUDGES[opts.task]

    def record_meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        subset = rec.get("subset")
        return {"subset": subset} if isinstance(subset, str) and subset else {}

    def to_sample(self, rec: Any, path: Path, line: int) -> Sample:
        """Validate one record and build its Sample.

        Raises:
            DatasetError: naming the field at fault.
        """
        if not isinstance(rec, dict):
            raise DatasetError(f"a record must be a JSON object, got {type(rec).__name__}")
        for key in REQUIRED:
            if key not in rec:
                raise DatasetError(f"missing field '{key}'", field=key)
        if isinstance(rec["index"], bool) or not isinstance(rec["index"], int | str) or not str(rec["index"]).strip():
            raise DatasetError("'index' must be an integer or a non-empty string", field="index")
        index, question, answer, subset = (_text(rec, k) for k in ("index", "question", "answer", "subset"))
        audio = self._audio_parts(rec["audio_path"])
        task = self.options.task
        if task != "openqa" and not answer.strip():
            raise DatasetError(f"empty answer: a {task} record needs a reference", field="answer")
        extra = rec.get("meta", {})
        if not isinstance(extra, dict):
            raise DatasetError("'meta' must be an object", field="meta")
        content = rec.get("audio_content", "")
        if not isinstance(content, str):
            raise DatasetError("'audio_content' must be a string", field="audio_content")
        meta: dict[str, Any] = {
            **extra,
            "subset": subset or path.stem,
            "language": self.options.language,
            "task": task,
            "audio_type": self.options.audio_type,
            "index": index,
            "question": question,
            "file": str(path),
            "line": line,
        }
        if content:
            meta["audio_content"] = content
        shown_options = ""
        if task == "mqa":
            options, shown_options = self._options(rec, question)
            letter = gold_letter(answer, options)
            if letter is None:
                raise DatasetError(
                    f"answer {answer!r} is neither an option letter nor an option's text", field="answer"
                )
            meta.update(options=options, answer_letter=letter)
        kind = AUDIO_TYPES[self.options.audio_type]
        ask = question.strip() or self.question_default.format(audio_type=kind)
        prompt = self.template.format(question=ask, options=shown_options, audio_type=kind)
        refs = (Part("text", answer),) if answer.strip() else ()
        return Sample(id=f"{path.stem}:{index}", msg=(*audio, Part("text", prompt)), references=refs, meta=meta)

    def _options(self, rec: dict[str, Any], question: str) -> tuple[dict[str, str], str]:
        """The record's options, and the text listing them when the question does not already show them."""
        if "choices" in rec:
            try:
                options = options_from_choices(rec["choices"])
            except ValueError as exc:
                raise DatasetError(str(exc), field="choices") from None
            shown = parse_options(question) == options
            return options, "" if shown else format_options(options) + "\n"
        options = parse_options(question)
        if not options:
            raise DatasetError(
                "an mqa record needs options: a 'choices' field or '(A) ...' in the question", field="question"
            )
        return options, ""

    def _audio_parts(self, value: Any) -> tuple[Part, ...]:
        is_list = isinstance(value, list)
        paths = value if is_list else [value]
        if not paths or not all(isinstance(p, str) and p.strip() for p in paths):
            raise DatasetError("audio_path must be a non-empty string or list of strings", field="audio_path")
        root = self.data_root
        parts = []
        for i, item in enumerate(paths):
            fld = f"audio_path[{i}]" if is_list else "audio_path"
            raw = Path(item)
            path = raw if raw.is_absolute() else (root / raw).resolve()
            if not raw.is_absolute() and not path.is_relative_to(root):
                raise DatasetError(f"path {item!r} escapes the data root {root}", field=fld)
            check_media_file(path, fld, "audio")
            parts.append(Part("audio", str(path)))
        return tuple(parts)


def _text(rec: dict[str, Any], key: str) -> str:
    """A string field; numbers are accepted and written as text (indices, numeric answers)."""
    value = rec[key]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DatasetError(f"'{key}' must be a string, got {type(value).__name__}", field=key)
    return str(value)
