"""Image QA in VLMEvalKit's TSV format: MCQ (MMBench, SEEDBench) and Yes/No (MME) items.

One row per question, tab-separated, with a header. Columns:

- ``index``: unique id (MMBench's circular passes are ``index + k * 1_000_000``);
- ``image``: base64 image bytes, a JSON/Python list of them (several images), or the ``index`` of another row
  whose image this row shares (VLMEvalKit writes a value of 64 characters or fewer for that); or instead
- ``image_path``: a path (or list) relative to the dataset's folder. When both columns exist, ``image`` is the
  image and ``image_path`` only names it (MME groups the two questions of one image by it);
- ``question``, ``hint`` (optional), options ``A`` ... ``Z`` (empty cells are absent options), ``answer`` (an option
  letter, an option's text, or ``Yes``/``No``), ``category``, and where present ``l2-category`` and ``split``.

A row with at least two options is an MCQ item; a row without options whose answer is Yes or No is a Yes/No
item. Base64 images are decoded once into ``<root>/images/<file stem>/`` under content-hash names, so msgs carry
file paths and a rerun writes nothing. Bad rows become RecordErrors (file, line, field); the others load.

Prompts (the dataset's, in VLMEvalKit's MCQ style): images first, then ``Hint: ...`` (if any), ``Question: ...``,
``Options:`` with one ``A. text`` line per option, and ``Answer with the option's letter from the given choices
directly.``. Yes/No items: the question, plus ``Please answer yes or no.`` unless it already asks that.

Report breakdowns: ``domain`` = ``l2-category`` (MME: perception / cognition), ``subdomain`` = ``category``,
``subset`` = ``split``. A ``task`` (:data:`TASKS`) names the file and the judge; each can be overridden.
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import hashlib
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, Dataset, LoadResult, check_media_file, check_task
from evalkit.errors import ConfigError, DatasetError
from evalkit.judges.choice import gold_letter
from evalkit.media import sniff_suffix
from evalkit.types import Part, RecordError, Sample

MCQ_INSTRUCTION = "Answer with the option's letter from the given choices directly."
YES_NO_INSTRUCTION = "Please answer yes or no."
CIRCULAR_STRIDE = 1_000_000
MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork")
MME_DOMAINS = {
    **{c: "perception" for c in (*MME_PERCEPTION, "OCR")},
    **{
        c: "cognition" for c in ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
    },
}


@dataclass(frozen=True)
class TsvTask:
    """A registered VLMEvalKit TSV benchmark.

    Attributes:
        file: the TSV's name (VLMEvalKit's) in the task folder.
        judge: the judge entry that scores it.
        circular: rows ``i + k * 1_000_000`` are passes of one question (MMBench's circular evaluation).
        domains: category -> domain where the TSV has no ``l2-category`` (MME's perception / cognition).
    """

    file: str
    judge: str
    circular: bool = False
    domains: dict[str, str] = field(default_factory=dict)


#: task name -> defaults; task T is read from <dataset_root>/vlmeval/<file> (prepare puts it there)
TASKS: dict[str, TsvTask] = {
    "MMBench_DEV_EN": TsvTask("MMBench_DEV_EN.tsv", "mcq-circular", circular=True),
    "MME": TsvTask("MME.tsv", "mme", domains=MME_DOMAINS),
    "SEEDBench_IMG": TsvTask("SEEDBench_IMG.tsv", "vlm-qa"),
}


@dataclass(frozen=True)
class VLMTsvOptions:
    """Config keys of a vlm-tsv dataset entry.

    Attributes:
        task: a name of :data:`TASKS` whose defaults apply; empty for a custom TSV (then ``file`` is needed).
        root: folder relative to ``dataset_root`` (default ``vlmeval``).
        file: the TSV in the root (default: the task's).
        circular: override the task's circular grouping.
        image_cache: where decoded images go, relative to the root (default ``images/<file stem>``).
    """

    task: str = ""
    root: str | None = None
    file: str = ""
    circular: bool | None = None
    image_cache: str = ""


@DATASETS.register("vlm-tsv")
class VLMTsvDataset(Dataset):
    """VLMEvalKit TSV image QA; the task picks the file and the judge."""

    Options = VLMTsvOptions
    prompt_version = "vlm-tsv-v1"
    default_judge = "vlm-qa"
    options: VLMTsvOptions

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        super().__init__(name, options, root)
        task = self.options.task
        check_task(name, "vlm-tsv", task, TASKS, bool(self.options.file), "file")
        self.spec = TASKS.get(task) or TsvTask(self.options.file, "vlm-qa")
        self.judge_name = self.spec.judge
        self.circular = self.spec.circular if self.options.circular is None else self.options.circular

    @property
    def data_root(self) -> Path:
        sub = "vlmeval" if self.options.root is None else self.options.root
        return (self.root / sub).resolve() if sub else self.root.resolve()

    @property
    def tsv_path(self) -> Path:
        return self.data_root / (self.options.file or self.spec.file)

    @property
    def cache_dir(self) -> Path:
        return self.data_root / (self.options.image_cache or f"images/{self.tsv_path.stem}")

    def required_files(self) -> list[Path]:
        """The files this dataset reads (what ``prepare`` must produce)."""
        return [self.tsv_path]

    def load(self) -> LoadResult:
        path = self.tsv_path
        if not path.is_file():
            task = f" (VLMEvalKit's {self.spec.file})" if self.options.task else ""
            raise ConfigError(
                f"dataset {self.name}: {path} is missing{task}; run `python run.py prepare --dataset {self.name}` "
                "or put the TSV there"
            )
        result = LoadResult()
        images: dict[str, tuple[str, ...] | str] = {}
        rows = self._rows(path, images, result)
        seen: set[str] = set()
        for line, row in rows:
            try:
                sample = self.to_sample(row, images, path, line)
                if sample.id in seen:
                    raise DatasetError(f"duplicate index {sample.id!r}", field="index")
            except DatasetError as exc:
                rid = (row.get("index") or "").strip()
                meta = {"subdomain": row.get("category")} if row.get("category") else {}
                result.errors.append(RecordError(str(path), line, exc.field, exc.reason, rid, meta))
                continue
            seen.add(sample.id)
            result.samples.append(sample)
        return result

    def _rows(
        self, path: Path, images: dict[str, tuple[str, ...] | str], result: LoadResult
    ) -> list[tuple[int, dict[str, str]]]:
        """(start line, row) for every well-formed row; the header must name the required columns.

        Base64 images are decoded as rows are read (``images``: index -> paths, or why there are none) and
        dropped from the rows, so a large TSV is never held in memory with its images.
        """
        csv.field_size_limit(2**31 - 1)  # base64 images are far longer than csv's 128 KiB default
        rows: list[tuple[int, dict[str, str]]] = []
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t")
            header = reader.fieldnames or []
            missing = [c for c in ("index", "question", "answer") if c not in header]
            if missing or not {"image", "image_path"} & set(header):
                need = missing or ["image or image_path"]
                raise ConfigError(f"dataset {self.name}: {path} is not a VLMEvalKit TSV: no column {', '.join(need)}")
            start = reader.line_num + 1
            for row in reader:
                line, start = start, reader.line_num + 1
                if None in row or any(v is None for v in row.values()):
                    result.errors.append(RecordError(str(path), line, "", "row has a different number of cells"))
                    continue
                value = (row.get("image") or "").strip()
                if len(value) > 64:
                    row["image"] = ""
                    try:
                        images[row["index"].strip()] = tuple(self._store(b64) for b64 in _image_list(value))
                    except DatasetError as exc:
                        images[row["index"].strip()] = exc.reason
                rows.append((line, row))
        return rows

    def _store(self, b64: str) -> str:
        """Decode one base64 image into the cache (content-hash name); returns its path."""
        try:
            data = base64.b64decode(b64, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise DatasetError(f"image is not valid base64: {exc}", field="image") from None
        ext = _image_ext(data)
        if not ext:
            raise DatasetError("image bytes are not PNG, JPEG, GIF, BMP or WEBP", field="image")
        target = self.cache_dir / (hashlib.sha256(data).hexdigest()[:32] + ext)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return str(target)

    def to_sample(self, row: dict[str, str], images: dict[str, tuple[str, ...] | str], path: Path, line: int) -> Sample:
        """Validate one row and build its Sample.

        Raises:
            DatasetError: naming the column at fault.
        """
        index = row["index"].strip()
        if not index:
            raise DatasetError("empty index", field="index")
        question = row["question"].strip()
        if not question:
            raise DatasetError("empty question", field="question")
        answer = row["answer"].strip()
        if not answer:
            raise DatasetError("empty answer", field="answer")
        parts = self._image_parts(row, images)
        options = {k: row[k].strip() for k in string.ascii_uppercase if (row.get(k) or "").strip()}
        category = (row.get("category") or "").strip()
        meta: dict[str, Any] = {"index": index, "question": question, "file": str(path), "line": line}
        if category:
            meta.update(category=category, subdomain=category)
        domain = (row.get("l2-category") or row.get("L2-category") or "").strip() or self.spec.domains.get(category)
        if domain:
            meta["domain"] = domain
        if (row.get("split") or "").strip():
            meta["subset"] = row["split"].strip()
        meta["image_key"] = (row.get("image_path") or "").strip() or "|".join(Path(p.value).name for p in parts)
        if self.circular:
            if not index.isdigit():
                raise DatasetError("circular evaluation needs integer indices", field="index")
            meta["circular_group"] = str(int(index) % CIRCULAR_STRIDE)
        if len(options) >= 2:
            letter = gold_letter(answer, options)
            if letter is None:
                raise DatasetError(
                    f"answer {answer!r} is neither an option letter nor an option's text", field="answer"
                )
            meta.update(question_type="mcq", options=options, answer_letter=letter)
            text = self._mcq_prompt(row, question, options)
            refs = (Part("text", letter),)
        elif answer.casefold() in ("yes", "no") and not options:
            meta["question_type"] = "yes_no"
            asks = "yes or no" in question.casefold()
            text = question if asks else f"{question} {YES_NO_INSTRUCTION}"
            refs = (Part("text", answer.capitalize()),)
        else:
            what = "one option" if options else "no options"
            raise DatasetError(f"{what} and an answer that is not Yes/No: neither MCQ nor Yes/No", field="A")
        return Sample(id=index, msg=(*parts, Part("text", text)), references=refs, meta=meta)

    @staticmethod
    def _mcq_prompt(row: dict[str, str], question: str, options: dict[str, str]) -> str:
        hint = (row.get("hint") or "").strip()
        lines = [f"Hint: {hint}"] if hint and hint.casefold() != "nan" else []
        lines += [f"Question: {question}", "Options:", *(f"{k}. {v}" for k, v in options.items()), MCQ_INSTRUCTION]
        return "\n".join(lines)

    def _image_parts(self, row: dict[str, str], images: dict[str, tuple[str, ...] | str]) -> tuple[Part, ...]:
        index, ref = row["index"].strip(), (row.get("image") or "").strip()
        if index in images or ref:
            got = images.get(index) if index in images else images.get(ref)
            if got is None:
                raise DatasetError(f"image refers to row {ref!r}, which has no base64 image", field="image")
            if isinstance(got, str):
                where = "" if index in images else f" (the image of row {ref})"
                raise DatasetError(got + where, field="image")
            return tuple(Part("image", p) for p in got)
        raw = (row.get("image_path") or "").strip()
        if not raw:
            raise DatasetError("no image: both image and image_path are empty", field="image_path")
        root = self.data_root
        parts = []
        for item in _image_list(raw):
            p = Path(item)
            full = p if p.is_absolute() else (root / p).resolve()
            if not p.is_absolute() and not full.is_relative_to(root):
                raise DatasetError(f"path {item!r} escapes the data root {root}", field="image_path")
            check_media_file(full, "image_path", "image")
            parts.append(Part("image", str(full)))
        return tuple(parts)


def _image_list(value: str) -> list[str]:
    """One image value, or the items of a list written as JSON or Python (VLMEvalKit's multi-image rows)."""
    if not value.startswith("["):
        return [value]
    try:
        items = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise DatasetError("image list is not a valid list literal", field="image") from None
    if not isinstance(items, list) or not items or not all(isinstance(x, str) and x for x in items):
        raise DatasetError("image list must hold non-empty strings", field="image")
    return items


def _image_ext(data: bytes) -> str:
    return sniff_suffix(data, "image")
