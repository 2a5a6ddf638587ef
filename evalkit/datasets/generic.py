"""Your own questions without code: JSONL or CSV records with a question, options, an answer and media paths.

Two registered classes read the same records: ``mcq`` (every record needs options; judge ``choice``) and ``qa``
(options optional; judge ``exact-match``, or ``choice`` when every record has options). One JSON object per
line in ``.jsonl``; a header row then one record per row in ``.csv`` (``.tsv``: tab-separated)::

    {"id": "shapes-1", "question": "Which shape is on top?", "options": ["a red circle", "a blue square"],
     "answer": "A", "image": "media/shapes.png", "subset": "shapes"}

    id,question,A,B,C,answer,audio,subset
    num-1,Which number is spoken?,three,five,seven,C,media/seven.wav,speech

Fields (every one but ``question`` and ``answer`` optional):

- ``id``: unique in its file; without one, the line number. Sample ids are ``<file stem>:<id>``.
- ``question``: the question text, put into the entry's ``prompt`` template as ``{question}``.
- ``options``: a list of texts (lettered A, B, ...), a letter -> text mapping, or ``"A. text"`` strings in
  letter order. In CSV: columns ``A`` ... ``Z`` (empty cells are absent options), or an ``options`` cell holding
  a JSON list or mapping. Shown to the model as ``(A) text`` lines in ``{options}``.
- ``answer``: with options, an option letter (``B``, ``(B)``) or the text of one option; without options, the
  reference text, or in JSONL a list of accepted texts.
- ``image``, ``audio``, ``video``, ``document``: a path or (JSONL) a list of paths; in CSV several paths are
  separated by ``;``. Relative paths are relative to the entry's root and must stay inside it; absolute paths
  are taken as they are. Every file must exist. The media go to the model first, in this order, then the text.
- ``subset`` (default: the file's stem), ``domain``, ``subdomain`` (or ``category``), ``difficulty``: report
  breakdowns.

A bad record (invalid JSON, a missing field, an answer that names no option, a missing media file) is reported as
``file:line: reason (field 'x')`` and counted as a failed sample; the other records load.
"""

from __future__ import annotations

import csv
import io
import json
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalkit.datasets.base import DATASETS, FileInfo, FilesDataset, check_media_file
from evalkit.errors import ConfigError, DatasetError
from evalkit.judges.choice import LETTERS, format_options, gold_letter, options_from_choices
from evalkit.types import Part, Sample

MCQ_PROMPT = (
    "Question: {question}\nOptions:\n{options}\nAnswer with the option's letter from the given choices directly."
)
QA_PROMPT = "{question}\nAnswer with a word or a short phrase only."
MEDIA_FIELDS = ("image", "audio", "video", "document")
_PREFIX = re.compile(r"^\s*\(?([A-Z])[.):]\s*")
_MEDIA_FIELDS = frozenset(MEDIA_FIELDS)
#: the record fields _breakdowns reads
_BREAKDOWN_FIELDS = frozenset(("subset", "domain", "difficulty", "subdomain", "category"))
#: the fields that a record without options, media and breakdowns lacks
_OPTIONAL_FIELDS = frozenset(("options", *MEDIA_FIELDS, *_BREAKDOWN_FIELDS))
#: how many distinct open answers a dataset shares one references tuple (and answer string) for
_SHARED_ANSWERS = 4096
#: letter -> the references of an option answer, one shared (immutable) tuple per letter
_LETTER_REFERENCES: dict[str, tuple[Part, ...]] = {}


@dataclass(frozen=True)
class GenericOptions:
    """Config keys of an ``mcq`` or ``qa`` dataset entry.

    Attributes:
        root: data root of this dataset, relative to ``dataset_root``; records' relative media paths resolve here.
        files: glob patterns of records files (``.jsonl``, ``.csv`` or ``.tsv``), relative to the root.
        prompt: template for records with options, with ``{question}`` and ``{options}``
            (default: the MCQ prompt that asks for the option's letter).
        open_prompt: template for records without options, with ``{question}`` (default: a short-answer prompt).
    """

    root: str = ""
    files: tuple[str, ...] = ()
    prompt: str = MCQ_PROMPT
    open_prompt: str = QA_PROMPT


class GenericDataset(FilesDataset):
    """Questions with optional options and media, from JSONL or CSV (see the module docstring)."""

    Options = GenericOptions
    prompt_version = "generic-v1"
    #: every record must carry options
    needs_options: ClassVar[bool] = False
    options: GenericOptions

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        super().__init__(name, options, root)
        if not self.options.files:
            raise ConfigError(f"dataset {name}: set 'files' (JSONL or CSV records files, relative to 'root')")
        for key, template in (("prompt", self.options.prompt), ("open_prompt", self.options.open_prompt)):
            try:
                template.format(question="", options="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ConfigError(f"dataset {name}: bad {key} template {template!r}: {exc!r}") from None
        #: the open prompt as (text before, text after) the question, when that is all ``format`` does with it
        self._open_parts = _around_question(self.options.open_prompt)
        #: answer text -> its references, shared by the samples with that answer (yes, no, 4 ...); bounded
        self._answer_references: dict[str, tuple[Part, ...]] = {}

    def records(self, path: Path) -> Iterator[tuple[int, Any, str]]:
        suffix = path.suffix.lower()
        if suffix in (".csv", ".tsv"):
            return _table_rows(path, "\t" if suffix == ".tsv" else ",")
        if suffix == ".jsonl":
            return super().records(path)
        raise ConfigError(f"dataset {self.name}: {path} is not .jsonl, .csv or .tsv")

    def record_meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        return _breakdowns(rec)

    def to_sample(self, rec: Any, path: Path, line: int) -> Sample:
        """Validate one record and build its Sample.

        Every sample of a file shares the file's ``file`` and ``subset`` strings (:meth:`file_info`), and a
        record's strings (question, id, answer) are kept as read when nothing is stripped from them.

        Raises:
            DatasetError: naming the field at fault.
        """
        if not isinstance(rec, dict):
            raise DatasetError(f"a record must be a JSON object, got {type(rec).__name__}")
        info = self._file_info
        if info is None or info.path is not path:
            info = self.file_info(path)
        rid = rec.get("id")
        if type(rid) is str:  # the common cases first: the same id as str(rid).strip() below
            sid = rid.strip() or str(line)
        elif rid is None:
            sid = str(line)
        elif type(rid) is int:
            sid = str(rid)
        elif isinstance(rid, bool) or not isinstance(rid, str | int):
            raise DatasetError("'id' must be a string or an integer", field="id")
        else:  # subclasses of str or int
            sid = str(rid).strip() or str(line)
        question = rec.get("question")
        if not isinstance(question, str) or not (stripped := question.strip()):
            raise DatasetError("'question' must be a non-empty string", field="question")
        tabular = info.suffix in (".csv", ".tsv")
        if not tabular and _OPTIONAL_FIELDS.isdisjoint(rec):
            return self._plain_sample(rec, info, line, sid, question, stripped)
        options = _options(rec, tabular)
        if self.needs_options and not options:
            raise DatasetError(
                "this dataset needs 'options' (a list, a mapping, or columns A, B, ...)", field="options"
            )
        media: tuple[Part, ...] = ()
        if not _MEDIA_FIELDS.isdisjoint(rec):
            media = tuple(part for fld in MEDIA_FIELDS for part in self._media(rec, fld, tabular))
        meta: dict[str, Any] = vars(_Meta())  # {"question": ..., "subset": ..., **breakdowns, "file": ...}
        meta["question"] = question
        meta["subset"] = info.stem
        meta.update(_breakdowns(rec))  # a record's own subset keeps the second place
        meta.update(file=info.name, line=line, record_id=sid)
        if options:
            letter = answer_letter(rec, options)
            meta.update(options=options, answer_letter=letter, answer=options[letter])
            text = self.options.prompt.format(question=stripped, options=format_options(options))
            references = _letter_references(letter)
        else:
            answers = _answers(rec)
            meta["answer"] = answers[0] if len(answers) == 1 else answers
            text = self._open_prompt(stripped)
            references = tuple(Part("text", a) for a in answers)
        # Sample(id, msg, references, meta), positional: keywords cost a frozen dataclass ~0.2 us more a call
        return Sample(f"{info.stem}:{sid}", (*media, Part("text", text)), references, meta)

    def _plain_sample(
        self, rec: dict[str, Any], info: FileInfo, line: int, sid: str, question: str, stripped: str
    ) -> Sample:
        """The Sample of a JSON record without options, media or breakdown fields: the same as the general
        path of :meth:`to_sample` gives, with the meta dict built at once (same keys, same order)."""
        if self.needs_options:
            raise DatasetError(
                "this dataset needs 'options' (a list, a mapping, or columns A, B, ...)", field="options"
            )
        answer = rec.get("answer")
        if type(answer) is str and (single := answer.strip()):  # one text answer: what _answers gives
            known = self._answer_references
            shared = known.get(single)
            if shared is None:
                shared = (Part("text", single),)
                if len(known) < _SHARED_ANSWERS:
                    known[single] = shared
            references: tuple[Part, ...] = shared
            value: Any = shared[0].value
        else:
            answers = _answers(rec)
            value = answers[0] if len(answers) == 1 else answers
            references = tuple(Part("text", a) for a in answers)
        meta = vars(_PlainMeta(question, info.stem, info.name, line, sid, value))
        return Sample(f"{info.stem}:{sid}", (Part("text", self._open_prompt(stripped)),), references, meta)

    def _open_prompt(self, question: str) -> str:
        """The open prompt around a (stripped) question: ``open_prompt.format(question=..., options="")``."""
        parts = self._open_parts
        if parts is None:
            return self.options.open_prompt.format(question=question, options="")
        return parts[0] + question + parts[1]

    def _media(self, rec: dict[str, Any], fld: str, tabular: bool) -> list[Part]:
        value = rec.get(fld)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            paths = [v.strip() for v in value.split(";")] if tabular else [value]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            paths = list(value)
        else:
            raise DatasetError(f"'{fld}' must be a path or a list of paths", field=fld)
        root = self.data_root
        out = []
        for raw in paths:
            if not raw.strip():
                raise DatasetError(f"'{fld}' holds an empty path", field=fld)
            given = Path(raw)
            path = given if given.is_absolute() else (root / given).resolve()
            if not given.is_absolute() and not path.is_relative_to(root):
                raise DatasetError(f"path {raw!r} escapes the data root {root}", field=fld)
            check_media_file(path, fld, fld)
            out.append(Part(fld, str(path)))
        return out


@DATASETS.register("mcq")
class MCQDataset(GenericDataset):
    """Multiple-choice questions with optional media; every record has options. Judge: ``choice``."""

    default_judge = "choice"
    needs_options = True


@DATASETS.register("qa")
class QADataset(GenericDataset):
    """Questions with optional options and media; open answers are matched exactly. Judge: ``exact-match``."""

    default_judge = "exact-match"


class _PlainMeta:
    """Builds the meta dict of a plain record as an instance ``__dict__``, keys in the same order as a literal.

    CPython stores the six keys of such dicts once for all of them (a key-sharing dict): 135 bytes a sample less
    than a dict literal. It is a plain ``dict`` all the same, equal, ordered and mutable as any other.
    """

    def __init__(self, question: str, subset: str, file: str, line: int, record_id: str, answer: Any) -> None:
        self.question = question
        self.subset = subset
        self.file = file
        self.line = line
        self.record_id = record_id
        self.answer = answer


class _Meta:
    """An empty instance whose ``__dict__`` is the meta of a record of the general path, filled in by the caller.

    Its keys are shared with the other such dicts as far as they agree (CPython's key-sharing dicts, up to 30
    keys): about 100 bytes a sample less than a dict literal, and a plain ``dict`` all the same.
    """


def _letter_references(letter: str) -> tuple[Part, ...]:
    refs = _LETTER_REFERENCES.get(letter)
    if refs is None:
        refs = _LETTER_REFERENCES.setdefault(letter, (Part("text", letter),))
    return refs


def _around_question(template: str) -> tuple[str, str] | None:
    """``(before, after)`` when ``template.format(question=q, options="")`` is ``before + q + after`` for every q.

    That holds when the template's fields are plain ``{question}`` (once) and ``{options}``: no conversion, no
    format spec, no attribute or index. Otherwise None (the caller formats).
    """
    fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    names = [name for name, _, _ in fields]
    if names.count("question") != 1 or any(n not in ("question", "options") or s or c for n, s, c in fields):
        return None
    marker = "\x00question\x00"
    rendered = template.format(question=marker, options="")
    if rendered.count(marker) != 1:
        return None
    before, after = rendered.split(marker)
    return before, after


def _table_rows(path: Path, delimiter: str) -> Iterator[tuple[int, Any, str]]:
    """(line, row, error) per CSV/TSV row; a row is a dict of its non-empty cells."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames or "question" not in reader.fieldnames:
        yield 1, None, f"the header must name a 'question' column (got {reader.fieldnames or []})"
        return
    start = 2
    for row in reader:
        line, start = start, reader.line_num + 1
        if None in row:
            yield line, None, f"more cells than the header's {len(reader.fieldnames)} columns"
            continue
        cells = {k: v.strip() for k, v in row.items() if isinstance(v, str) and v.strip()}
        if cells:
            yield line, cells, ""


def _breakdowns(rec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, src in (("subset", "subset"), ("domain", "domain"), ("difficulty", "difficulty")):
        if rec.get(src) not in (None, ""):
            out[key] = str(rec[src])
    sub = rec.get("subdomain", rec.get("category"))
    if sub not in (None, ""):
        out["subdomain"] = str(sub)
    return out


def _options(rec: dict[str, Any], tabular: bool) -> dict[str, str]:
    """The record's options, letter -> text; {} when it has none. CSV rows give columns A-Z or a JSON cell."""
    value = rec.get("options")
    if tabular:
        if value is not None:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise DatasetError(
                    f"'options' cell is not a JSON list or mapping: {exc.msg}", field="options"
                ) from None
        else:
            columns = [rec.get(letter) for letter in LETTERS]
            while columns and columns[-1] is None:
                columns.pop()
            if not columns:
                return {}
            if None in columns:
                gap = LETTERS[columns.index(None)]
                raise DatasetError(f"option column {gap} is empty but a later one is not", field=gap)
            value = columns
    if value is None:
        return {}
    return option_map(value, "options")


def option_map(value: Any, key: str) -> dict[str, str]:
    """Letter -> text from a list (``["A. x", "B. y"]`` prefixes stripped) or a mapping; DatasetError naming ``key``."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        prefixes = [_PREFIX.match(v) for v in value]
        if all(prefixes) and [m.group(1) for m in prefixes if m] == list(LETTERS[: len(value)]):
            value = [v[m.end() :] for v, m in zip(value, prefixes, strict=True) if m]
    try:
        return options_from_choices(value)
    except ValueError as exc:
        raise DatasetError(f"bad '{key}': {exc}", field=key) from None


def record_choice(rec: dict[str, Any]) -> tuple[dict[str, str], str] | None:
    """A JSON record's ``options`` and the letter its ``answer`` names; None when it has neither.

    Other formats (the interleaved records) call this to carry options and answers for the ``choice`` judge.

    Raises:
        DatasetError: bad options, an answer that names no option, or one of the two fields without the other.
    """
    if "options" not in rec and "answer" not in rec:
        return None
    options = _options(rec, tabular=False)
    if not options:
        raise DatasetError("'answer' needs 'options' (a list or a letter -> text mapping)", field="options")
    return options, answer_letter(rec, options)


def answer_letter(rec: dict[str, Any], options: dict[str, str]) -> str:
    """The option letter of a record's ``answer`` (a letter, an option's text or a number); DatasetError if none."""
    answer = rec.get("answer")
    if isinstance(answer, int) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise DatasetError("'answer' must be an option letter or an option's text", field="answer")
    letter = gold_letter(answer, options)
    if letter is None:
        raise DatasetError(f"answer {answer!r} is neither an option letter nor an option's text", field="answer")
    return letter


def _answers(rec: dict[str, Any]) -> list[str]:
    answer = rec.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    items = answer if isinstance(answer, list) else [answer]
    texts = [a.strip() for a in items if isinstance(a, str)]
    if not texts or len(texts) != len(items) or not all(texts):
        raise DatasetError("'answer' must be a non-empty text (or, in JSONL, a list of texts)", field="answer")
    return texts
