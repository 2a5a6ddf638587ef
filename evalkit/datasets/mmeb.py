"""MMEB-style retrieval and classification-as-ranking (VLM2Vec's benchmark), one JSON record per line.

A record is one query with its candidates and its relevant candidate(s)::

    {"id": "q1",
     "query": {"text": "...", "image": "images/q1.jpg"},         # text and/or media paths; a string = text
     "candidates": [{"id": "c1", "text": "..."}, "c2", ...],    # objects, or ids of the corpus file
     "positives": ["c1"],                                       # or {"c1": 2, "c4": 1} for graded relevance
     "instruction": "...", "subset": "..."}                     # optional

Media paths are relative to the task's data folder and must stay inside it. Candidates given as plain strings
are ids of the task's corpus file when one is configured, and otherwise text candidates whose id is the text
(MMEB lists class labels that way). A record without ``candidates`` is ranked against the whole corpus (VLM2Vec's
``eval_type: global``). Corpus lines are ``{"id": ..., "text"/"image"/"video": ...}``.

A task name (``ImageNet-1K``, ``MSCOCO_i2t``, ``DocVQA``, ``MSR-VTT``, ``MSVD``, ``ViDoRe_*``, ``VisRAG_*``)
selects the data folder ``mmeb/<task>``, the files, the modalities each side must have and the instructions;
every default can be overridden in config. The msg is a retrieval msg (:mod:`evalkit.models.embedding`): the
query's media, instruction and text tagged ``query``, then each candidate's parts tagged ``cand:<id>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, Dataset, LoadResult, check_media_file, check_task
from evalkit.errors import ConfigError, DatasetError
from evalkit.models.embedding import cand_tag, retrieval_msg
from evalkit.types import Msg, Part, RecordError, Sample

SIDE_KEYS = ("image", "video", "audio", "document", "text")
VIDEO_QUERY = "Find a video that contains the following visual content:"
VIDEO_TARGET = "Understand the content of the provided video."
VISDOC_QUERY = "Find a document image that matches the given query:"
VISDOC_TARGET = "Understand the content of the provided document image."


@dataclass(frozen=True)
class TaskSpec:
    """Defaults of one MMEB task.

    Attributes:
        kind: classification, vqa, retrieval, video_retrieval or visdoc_retrieval.
        query: part types every query must have.
        target: part types every candidate must have.
        query_instruction: text put before the query's own text.
        target_instruction: text put before each candidate's own content.
        scope: ``local`` (each record lists its candidates) or ``global`` (ranked against the corpus file).
    """

    kind: str
    query: tuple[str, ...]
    target: tuple[str, ...]
    query_instruction: str
    target_instruction: str = ""
    scope: str = "local"


_VIDORE = (
    "arxivqa docvqa infovqa tabfquad tatdqa shiftproject syntheticDocQA_artificial_intelligence "
    "syntheticDocQA_energy syntheticDocQA_government_reports syntheticDocQA_healthcare_industry "
    "esg_reports_human_labeled_v2 biomedical_lectures_v2 biomedical_lectures_v2_multilingual economics_reports_v2 "
    "economics_reports_v2_multilingual esg_reports_v2 esg_reports_v2_multilingual"
).split()
_VISRAG = "ArxivQA ChartQA MP-DocVQA SlideVQA InfoVQA PlotQA".split()
_VISDOC = TaskSpec("visdoc_retrieval", ("text",), ("image",), VISDOC_QUERY, VISDOC_TARGET, "global")

#: task name -> defaults; the data of task T is expected at <dataset_root>/mmeb/T/T.jsonl (+ T_corpus.jsonl)
TASKS: dict[str, TaskSpec] = {
    "ImageNet-1K": TaskSpec("classification", ("image",), ("text",), "Represent the given image for classification"),
    "MSCOCO_i2t": TaskSpec(
        "retrieval", ("image",), ("text",), "Find an image caption describing the given everyday image."
    ),
    "DocVQA": TaskSpec("vqa", ("image", "text"), ("text",), "Represent the given image with the following question:"),
    "MSR-VTT": TaskSpec("video_retrieval", ("text",), ("video",), VIDEO_QUERY, VIDEO_TARGET, "global"),
    "MSVD": TaskSpec(
        "video_retrieval",
        ("text",),
        ("video",),
        "Find the video snippet that corresponds to the given summary:",
        VIDEO_TARGET,
        "global",
    ),
    **{f"ViDoRe_{name}": _VISDOC for name in _VIDORE},
    **{f"VisRAG_{name}": _VISDOC for name in _VISRAG},
}


@dataclass(frozen=True)
class MMEBOptions:
    """Config keys of an mmeb dataset entry.

    Attributes:
        task: a name of :data:`TASKS` whose defaults apply; empty for a custom task (then ``file`` is needed).
        root: data folder relative to ``dataset_root`` (default ``mmeb/<task>``).
        file: the queries file in the root (default ``<task>.jsonl``).
        corpus: the corpus file in the root (default ``<task>_corpus.jsonl`` for global tasks, else none).
        query_instruction: overrides the task's query instruction (``""`` for none).
        target_instruction: overrides the task's target instruction (``""`` for none).
        require: part types queries and candidates must have, overriding the task's (``{query: [text]}``).
    """

    task: str = ""
    root: str | None = None
    file: str = ""
    corpus: str | None = None
    query_instruction: str | None = None
    target_instruction: str | None = None
    require: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Corpus:
    """The corpus file's entries: id -> parts, and the reasons entries (or lines) are unusable."""

    items: dict[str, Msg]
    broken: dict[str, str]
    unreadable: tuple[str, ...]


def _tagged(parts: Msg, cid: str) -> Msg:
    tag = cand_tag(cid)
    return tuple(Part(p.type, p.value, tag) for p in parts)


@DATASETS.register("mmeb")
class MMEBDataset(Dataset):
    """MMEB-style ranking tasks; the task name picks files, modalities and instructions."""

    Options = MMEBOptions
    prompt_version = "mmeb-v1"
    default_judge = "retrieval"
    options: MMEBOptions

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        super().__init__(name, options, root)
        task = self.options.task
        check_task(name, "MMEB", task, TASKS, bool(self.options.file), "file")
        bad = set(self.options.require) - {"query", "target"}
        if bad:
            raise ConfigError(f"dataset {name}: 'require' takes keys query and target, got {sorted(bad)}")
        self.spec = TASKS.get(task) or TaskSpec("custom", (), (), "")
        self._labels: dict[str, Msg] = {}

    @property
    def data_root(self) -> Path:
        sub = self.options.root if self.options.root is not None else (f"mmeb/{self.options.task}")
        return (self.root / sub).resolve() if sub else self.root.resolve()

    @property
    def query_file(self) -> Path:
        return self.data_root / (self.options.file or f"{self.options.task}.jsonl")

    @property
    def corpus_file(self) -> Path | None:
        name = self.options.corpus
        if name is None:
            name = f"{self.options.task}_corpus.jsonl" if self.spec.scope == "global" else ""
        return self.data_root / name if name else None

    def instruction(self, role: str) -> str:
        """The query or target instruction in force."""
        if role == "query":
            opt, default = self.options.query_instruction, self.spec.query_instruction
        else:
            opt, default = self.options.target_instruction, self.spec.target_instruction
        return default if opt is None else opt

    def required(self, role: str) -> tuple[str, ...]:
        """Part types each query (``query``) or candidate (``target``) must have."""
        if role in self.options.require:
            return self.options.require[role]
        return self.spec.query if role == "query" else self.spec.target

    def _missing(self, path: Path, what: str) -> ConfigError:
        task = f"MMEB task {self.options.task}" if self.options.task else "this MMEB dataset"
        return ConfigError(
            f"dataset {self.name}: {what} of {task} is missing: {path} (data root {self.data_root}). "
            "Prepare the data first (the prepare step converts the published data into this file; "
            "see docs/retrieval.md for the record format)."
        )

    def load(self) -> LoadResult:
        qfile = self.query_file
        if not qfile.is_file():
            raise self._missing(qfile, "the queries file")
        corpus = self._load_corpus()
        self._labels = {}
        result = LoadResult()
        seen: set[str] = set()
        with qfile.open(encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                rec: Any = None
                try:
                    rec = json.loads(line)
                    sample = self.to_sample(rec, qfile, line_no, corpus)
                    if sample.id in seen:
                        raise DatasetError(f"duplicate id {rec.get('id')!r} in this file", field="id")
                except json.JSONDecodeError as exc:
                    result.errors.append(RecordError(str(qfile), line_no, "", f"invalid JSON: {exc.msg}"))
                    continue
                except DatasetError as exc:
                    rid = str(rec.get("id", "")) if isinstance(rec, dict) else ""
                    sid = f"{qfile.stem}:{rid}" if rid else ""
                    result.errors.append(RecordError(str(qfile), line_no, exc.field, exc.reason, sid))
                    continue
                seen.add(sample.id)
                result.samples.append(sample)
        return result

    def _load_corpus(self) -> _Corpus | None:
        path = self.corpus_file
        if path is None:
            return None
        if not path.is_file():
            raise self._missing(path, "the corpus file")
        items: dict[str, Msg] = {}
        broken: dict[str, str] = {}
        unreadable: list[str] = []
        instruction = self.instruction("target")
        with path.open(encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path.name}:{line_no}"
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    unreadable.append(f"{where}: invalid JSON: {exc.msg}")
                    continue
                if not isinstance(rec, dict) or not isinstance(rec.get("id"), str | int) or rec.get("id") == "":
                    unreadable.append(f"{where}: a corpus line needs an 'id'")
                    continue
                cid = str(rec["id"])
                try:
                    if cid in items or cid in broken:
                        raise DatasetError(f"duplicate corpus id {cid!r}", field="id")
                    # tagged once here, so that every query's msg shares these parts instead of copying them
                    items[cid] = _tagged(self._side(rec, instruction, "target", "corpus"), cid)
                except DatasetError as exc:
                    items.pop(cid, None)
                    broken[cid] = f"{where}: {exc}"
        return _Corpus(items, broken, tuple(unreadable))

    def to_sample(self, rec: Any, path: Path, line: int, corpus: _Corpus | None) -> Sample:
        """Validate one record and build its Sample.

        Raises:
            DatasetError: naming the field at fault.
        """
        if not isinstance(rec, dict):
            raise DatasetError(f"a record must be a JSON object, got {type(rec).__name__}")
        rid = rec.get("id")
        if not isinstance(rid, str | int) or isinstance(rid, bool) or str(rid) == "":
            raise DatasetError("missing field 'id' (a string or integer)", field="id")
        query_rec = rec.get("query")
        if isinstance(query_rec, str):
            query_rec = {"text": query_rec}
        if not isinstance(query_rec, dict):
            raise DatasetError("missing field 'query' (an object with text and/or media paths)", field="query")
        instruction = rec.get("instruction", self.instruction("query"))
        if not isinstance(instruction, str):
            raise DatasetError("'instruction' must be a string", field="instruction")
        query = self._side(query_rec, instruction, "query", "query")
        candidates = self._candidates(rec, corpus)
        gains = self._positives(rec.get("positives"), {cid for cid, _ in candidates})
        subset = rec.get("subset") or path.stem
        meta: dict[str, Any] = {
            "task": self.options.task or path.stem,
            "kind": self.spec.kind,
            "subset": str(subset),
            "record_id": str(rid),
            "positives": gains,
            "file": str(path),
            "line": line,
        }
        refs = tuple(Part("text", cid) for cid in gains)
        return Sample(id=f"{path.stem}:{rid}", msg=retrieval_msg(query, candidates), references=refs, meta=meta)

    def _candidates(self, rec: dict[str, Any], corpus: _Corpus | None) -> list[tuple[str, Msg]]:
        raw = rec.get("candidates")
        if raw is None:
            if corpus is None:
                raise DatasetError("missing field 'candidates' (and no corpus file is configured)", field="candidates")
            if corpus.unreadable or corpus.broken:
                first = (*corpus.unreadable, *corpus.broken.values())[0]
                n = len(corpus.unreadable) + len(corpus.broken)
                raise DatasetError(f"the corpus has {n} unusable entries, so no full ranking is possible; {first}")
            return list(corpus.items.items())
        if not isinstance(raw, list) or not raw:
            raise DatasetError("'candidates' must be a non-empty list", field="candidates")
        instruction = self.instruction("target")
        out: list[tuple[str, Msg]] = []
        seen: set[str] = set()
        for n, cand in enumerate(raw):
            fld = f"candidates[{n}]"
            if isinstance(cand, str) and corpus is not None:
                cid, parts = cand, self._from_corpus(cand, corpus, fld)
            elif isinstance(cand, str):  # a label: shared by many queries, so its parts are built once
                if cand not in self._labels:
                    self._labels[cand] = _tagged(self._side({"text": cand}, instruction, "target", fld), cand)
                cid, parts = cand, self._labels[cand]
            elif isinstance(cand, dict) and isinstance(cand.get("id"), str | int) and str(cand["id"]):
                cid, parts = str(cand["id"]), self._side(cand, instruction, "target", fld)
            else:
                raise DatasetError("a candidate is an id string or an object with an 'id'", field=fld)
            if cid in seen:
                raise DatasetError(f"duplicate candidate id {cid!r}", field=fld)
            seen.add(cid)
            out.append((cid, parts))
        return out

    @staticmethod
    def _from_corpus(cid: str, corpus: _Corpus, fld: str) -> Msg:
        if cid in corpus.items:
            return corpus.items[cid]
        if cid in corpus.broken:
            raise DatasetError(f"candidate {cid!r} is unusable: {corpus.broken[cid]}", field=fld)
        note = f" ({len(corpus.unreadable)} corpus lines are unreadable)" if corpus.unreadable else ""
        raise DatasetError(f"candidate {cid!r} is not in the corpus file{note}", field=fld)

    @staticmethod
    def _positives(raw: Any, ids: set[str]) -> dict[str, float]:
        if isinstance(raw, str | int) and not isinstance(raw, bool):
            raw = [raw]
        if isinstance(raw, list):
            raw = {str(p): 1 for p in raw}
        if not isinstance(raw, dict) or not raw:
            raise DatasetError("'positives' must be an id, a list of ids or an object id -> grade", field="positives")
        gains: dict[str, float] = {}
        for pid, grade in raw.items():
            if isinstance(grade, bool) or not isinstance(grade, int | float) or not grade > 0:
                raise DatasetError(f"the grade of positive {pid!r} must be a number > 0", field="positives")
            if str(pid) not in ids:
                raise DatasetError(f"positive {pid!r} is not among the candidates", field="positives")
            gains[str(pid)] = grade
        return gains

    def _side(self, obj: dict[str, Any], instruction: str, role: str, fld: str) -> Msg:
        """The parts of a query or candidate: its media, then the instruction, then its text."""
        unknown = [k for k in obj if k not in (*SIDE_KEYS, "id")]
        if unknown:
            raise DatasetError(f"unknown key {unknown[0]!r}; use {', '.join(SIDE_KEYS)}", field=f"{fld}.{unknown[0]}")
        parts: list[Part] = []
        for kind in SIDE_KEYS[:-1]:
            values = obj.get(kind, [])
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, str) or not value.strip():
                    raise DatasetError(f"'{kind}' must be a path or a list of paths", field=f"{fld}.{kind}")
                parts.append(Part(kind, str(self._media_path(value, f"{fld}.{kind}"))))
        text = obj.get("text")
        if text is not None and not isinstance(text, str):
            raise DatasetError("'text' must be a string", field=f"{fld}.text")
        have = {p.type for p in parts} | ({"text"} if text else set())
        lacking = [t for t in self.required(role) if t not in have]
        if lacking:
            raise DatasetError(f"this task's {role} needs a {lacking[0]}", field=f"{fld}.{lacking[0]}")
        if not parts and not text:
            raise DatasetError("empty: give text and/or a media path", field=fld)
        if instruction:
            parts.append(Part("text", instruction))
        if text:
            parts.append(Part("text", text))
        return tuple(parts)

    def _media_path(self, value: str, fld: str) -> Path:
        root = self.data_root
        path = (root / value).resolve()
        if not path.is_relative_to(root):
            raise DatasetError(f"path {value!r} escapes the data root {root}", field=fld)
        check_media_file(path, fld)
        return path
