"""The interleaved text+media format (records with ``input``/``output``, tags such as ``<audio1>``).

Records are JSON objects, pretty-printed over many lines or one per line, one after another in a ``.jsonl``
file. ``modal`` values are paths relative to ``<root>/<domain folder>/<subdomain>/`` except ``code``, whose
value is the code itself. The msg is the input content split into ordered parts, then an instruction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, FilesDataset, check_media_file
from evalkit.datasets.generic import record_choice
from evalkit.errors import DatasetError
from evalkit.judges.choice import format_options
from evalkit.types import Msg, Part, Sample

TAG_RE = re.compile(r"<(image|audio|video|document|code|threeD)(\d+)>")
TAG_NAME_RE = re.compile(r"^(image|audio|video|document|code|threeD)(\d+)$")
INSTRUCTION = (
    "\n\nAnswer the request above in text. When your answer relies on one of the media items, "
    "cite it by its tag in angle brackets, exactly as it appears above."
)


@dataclass(frozen=True)
class InterleavedOptions:
    """Config keys of an interleaved dataset entry.

    Attributes:
        root: data root of this dataset, relative to ``dataset_root`` (empty: ``dataset_root`` itself).
        files: glob patterns of records files, relative to the root.
        domain_folders: domain -> folder name, where they differ (the original tool's mapping is the default).
        instruction: text appended to every prompt.
    """

    root: str = ""
    files: tuple[str, ...] = ("*.jsonl",)
    domain_folders: dict[str, str] = field(default_factory=lambda: {"general_domain": "general_area"})
    instruction: str = INSTRUCTION


def iter_json_objects(text: str) -> Iterator[tuple[int, Any, str]]:
    """Yield (line, object, error) for each JSON value in a file of concatenated JSON objects.

    A value that does not parse yields its line and an error; reading resumes at the next line that starts
    with ``{``, so one broken record never hides the others.
    """
    decoder = json.JSONDecoder()
    pos, n = 0, len(text)
    # line numbers are counted incrementally from the last record's start: counting from the file's start
    # for every record made loading quadratic in the file's size
    mark, mark_line = 0, 1
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return
        mark_line += text.count("\n", mark, pos)
        mark = pos
        line = mark_line
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            err_line = line + text.count("\n", pos, exc.pos)
            yield line, None, f"invalid JSON at line {err_line}: {exc.msg}"
            nxt = text.find("\n{", pos + 1)
            if nxt < 0:
                return
            pos = nxt + 1
            continue
        yield line, obj, ""
        pos = end


class _Meta:
    """Builds a record's meta dict as an instance ``__dict__``: keys in this order, then the optional ones.

    CPython stores the keys of such dicts once for all of them (a key-sharing dict): about 120 bytes a sample less
    than a dict literal. It is a plain ``dict`` all the same, equal, ordered and mutable as any other.
    """

    def __init__(
        self, record_id: str, domain: str, subdomain: str, subset: str, question: str, file: str, line: int
    ) -> None:
        self.record_id = record_id
        self.domain = domain
        self.subdomain = subdomain
        self.subset = subset
        self.question = question
        self.file = file
        self.line = line


def _check_tags(content: str, own: dict[str, Part], fallback: dict[str, Part], name: str) -> None:
    """Raise what ``InterleavedDataset._split`` raises for ``content``, without building its parts."""
    for m in TAG_RE.finditer(content):
        tag = m.group(1) + m.group(2)
        if tag not in own and tag not in fallback:
            raise DatasetError(f"tag <{tag}> in {name}.content has no modal entry", field=f"{name}.modal.{tag}")


def _require(obj: Any, key: str, kind: type, where: str) -> Any:
    if type(obj) is dict and type(value := obj.get(key)) is kind:  # the common case: there, of the exact type
        return value
    if not isinstance(obj, dict) or key not in obj:
        raise DatasetError(f"missing field '{where}{key}'", field=f"{where}{key}")
    value = obj[key]
    if kind is str and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind):
        raise DatasetError(f"'{where}{key}' must be {kind.__name__}, got {type(value).__name__}", field=f"{where}{key}")
    return value


@DATASETS.register("interleaved")
class InterleavedDataset(FilesDataset):
    """Interleaved coherence records; each file of ``files`` is a subset."""

    Options = InterleavedOptions
    prompt_version = "interleaved-v1"
    #: a record's ``output`` is content to judge (the replay model may answer with it), not a gold answer
    references_are_outputs = True
    default_judge = "proxy-cpu"
    options: InterleavedOptions
    #: (data root, domain folder, subdomain) -> the media folder, made once per pair
    _folders: dict[tuple[Path, str, str], Path] | None = None
    _instruction_part: Part | None = None

    def records(self, path: Path) -> Iterator[tuple[int, Any, str]]:
        return iter_json_objects(path.read_text(encoding="utf-8", errors="replace"))

    def record_meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {k: rec[k] for k in ("domain", "subdomain", "difficulty") if k in rec}

    def to_sample(self, rec: Any, path: Path, line: int) -> Sample:
        """Validate one record and build its Sample.

        Raises:
            DatasetError: naming the field at fault.
        """
        if not isinstance(rec, dict):
            raise DatasetError(f"a record must be a JSON object, got {type(rec).__name__}")
        rid = _require(rec, "id", str, "")
        domain = _require(rec, "domain", str, "")
        subdomain = _require(rec, "subdomain", str, "")
        folder = (domain, subdomain)  # the media folder, made into a path only for a record with media
        inp = _require(rec, "input", dict, "")
        in_modal = self._modal(inp, "input", folder)
        question = _require(inp, "content", str, "input.")
        choice = record_choice(rec)  # optional options + answer: the choice judge can score the record
        shown = (Part("text", "\n\nOptions:\n" + format_options(choice[0])),) if choice else ()
        msg = (*self._split(question, in_modal, {}, "input"), *shown, self._instruction())
        references: Msg = ()
        if "output" in rec:
            out = _require(rec, "output", dict, "")
            out_modal = self._modal(out, "output", folder)
            content = _require(out, "content", str, "output.")
            _check_tags(content, out_modal, in_modal, "output")
            references = (Part("text", content), *out_modal.values())
        info = self.file_info(path)  # one file and subset string for all the file's samples
        meta: dict[str, Any] = vars(_Meta(rid, domain, subdomain, info.stem, question, info.name, line))
        if "difficulty" in rec:
            meta["difficulty"] = str(rec["difficulty"])
        if choice:
            meta.update(options=choice[0], answer_letter=choice[1], answer=choice[0][choice[1]])
        if isinstance(rec.get("score"), dict | int | float):  # the original tool's scores: reliability.csv's reference
            meta["score"] = rec["score"]
        return Sample(f"{info.stem}:{rid}", msg, references, meta)  # positional: faster than keywords

    def _instruction(self) -> Part:
        """The instruction part that ends every prompt: one (immutable) Part shared by all samples."""
        text = self.options.instruction
        part = self._instruction_part
        if part is None or part.value is not text:
            part = self._instruction_part = Part("text", text)
        return part

    def _folder(self, domain: str, subdomain: str) -> Path:
        """``<root>/<domain folder>/<subdomain>``, the folder a record's media paths are relative to."""
        key = (self.data_root, self.options.domain_folders.get(domain, domain), subdomain)
        folders = self._folders
        if folders is None:
            folders = self._folders = {}
        folder = folders.get(key)
        if folder is None:
            folder = folders[key] = key[0] / key[1] / key[2]
        return folder

    def _modal(self, side: dict[str, Any], name: str, folder: tuple[str, str]) -> dict[str, Part]:
        modal = side.get("modal", {})
        if not isinstance(modal, dict):
            raise DatasetError(f"'{name}.modal' must be an object", field=f"{name}.modal")
        parts: dict[str, Part] = {}
        for tag, value in modal.items():
            m = TAG_NAME_RE.match(tag)
            if not m:
                raise DatasetError(f"'{tag}' is not a tag like audio1 or image2", field=f"{name}.modal.{tag}")
            if not isinstance(value, str) or not value.strip():
                raise DatasetError("modal value must be a non-empty string", field=f"{name}.modal.{tag}")
            kind = m.group(1)
            if kind == "code":
                parts[tag] = Part("code", value, tag)
                continue
            path = self._media_path(self._folder(*folder), value, f"{name}.modal.{tag}")
            parts[tag] = Part(kind, str(path), tag)
        return parts

    def _media_path(self, folder: Path, value: str, fld: str) -> Path:
        root = self.data_root
        path = (folder / value).resolve()
        if not path.is_relative_to(root):
            raise DatasetError(f"path {value!r} escapes the data root {root}", field=fld)
        return check_media_file(path, fld)

    @staticmethod
    def _split(content: str, own: dict[str, Part], fallback: dict[str, Part], name: str) -> Msg:
        parts: list[Part] = []
        pos = 0
        for m in TAG_RE.finditer(content):
            tag = m.group(1) + m.group(2)
            part = own.get(tag) or fallback.get(tag)
            if part is None:
                raise DatasetError(f"tag <{tag}> in {name}.content has no modal entry", field=f"{name}.modal.{tag}")
            if m.start() > pos:
                parts.append(Part("text", content[pos : m.start()]))
            parts.append(part)
            pos = m.end()
        if pos < len(content):
            parts.append(Part("text", content[pos:]))
        cited = {p.tag for p in parts if p.tag}
        parts.extend(p for tag, p in own.items() if tag not in cited)
        return tuple(parts)
