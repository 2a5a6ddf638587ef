"""The Dataset base class and the DATASETS registry."""

from __future__ import annotations

import difflib
import glob
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from evalkit.errors import ConfigError, DatasetError
from evalkit.gcpause import collector_paused
from evalkit.registry import Registry
from evalkit.types import RecordError, Sample

log = logging.getLogger(__name__)

#: msgspec's JSON decoder: about three times as fast as ``json.loads`` on a record line. It rejects a few things
#: ``json.loads`` accepts (NaN, Infinity, 1e400, lone surrogates): such a line is read again by ``json.loads``,
#: which also words the error of a line that neither reads, exactly as before.
_decode_json = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class FileInfo:
    """Per-file strings that every Sample of a records file shares (one object each, not one per sample).

    Attributes:
        path: the records file.
        name: ``str(path)`` (``meta["file"]``).
        stem: ``path.stem`` (the subset and the sample id prefix).
        suffix: ``path.suffix``, lower-cased.
    """

    path: Path
    name: str
    stem: str
    suffix: str


@dataclass(frozen=True)
class NoOptions:
    """A dataset without config keys of its own."""


@dataclass
class LoadResult:
    """What a dataset load gives: the good samples and the records that could not be read.

    Attributes:
        samples: valid samples, in file order.
        errors: one entry per bad record (file, line, field, reason); they count as failed samples.
        empty_files: records files that hold no record at all (an empty dataset is not a clean run).
    """

    samples: list[Sample] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)


class Dataset:
    """Base of every dataset: turns files into typed Samples whose msg is the prompt.

    Args:
        name: the dataset entry's name.
        options: an instance of the class's ``Options`` dataclass.
        root: the config's ``dataset_root``.
    """

    Options: ClassVar[type] = NoOptions
    #: bump when the prompt a Sample carries changes: stored predictions are then redone.
    prompt_version: ClassVar[str] = "v1"
    #: the judge used when the user names none.
    default_judge: ClassVar[str] = ""

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        self.name = name
        self.options = options if options is not None else self.Options()
        self.root = root or Path("data")
        #: the judge used when the command line names none (config entry's ``judge``, else the class default)
        self.judge_name = self.default_judge

    def load(self) -> LoadResult:
        """Read the dataset. Bad records go to ``errors``; only configuration problems raise."""
        raise NotImplementedError


DATASETS: Registry[type[Dataset]] = Registry("dataset")


class FilesDataset(Dataset):
    """A dataset read from files matched by ``options.files`` under ``options.root`` (relative to dataset_root).

    Subclasses implement ``_load_file(path, result)``; each file is read in sorted order.
    """

    @property
    def data_root(self) -> Path:
        """The folder the records files and media paths are relative to."""
        sub = str(getattr(self.options, "root", ""))
        key = (self.root, sub)
        cached: tuple[tuple[Path, str], Path] | None = getattr(self, "_data_root", None)
        if cached is None or cached[0] != key:  # resolved once: records ask for it per record (syscalls each)
            cached = (key, (self.root / sub).resolve() if sub else self.root.resolve())
            self._data_root = cached
        return cached[1]

    def files(self) -> list[Path]:
        """The records files, sorted; a pattern that matches nothing is a configuration error.

        A pattern is relative to :attr:`data_root` unless it is absolute (``/data/x/*.jsonl``, ``~/x.jsonl``).
        """
        root = self.data_root
        patterns = [str(p) for p in getattr(self.options, "files", ())]
        if not root.is_dir() and not all(Path(p).expanduser().is_absolute() for p in patterns):
            raise ConfigError(
                f"dataset {self.name}: data root {root} does not exist: python run.py prepare --dataset {self.name} "
                "says what to put there (or set dataset_root / root in config.yaml)"
            )
        found: list[Path] = []
        for pattern in patterns:
            hits = glob_files(root, pattern)
            if not hits:
                where = "" if Path(pattern).expanduser().is_absolute() else f" under {root}"
                raise ConfigError(
                    f"dataset {self.name}: no file matches {pattern!r}{where} "
                    f"(python run.py prepare --dataset {self.name})"
                )
            found.extend(h for h in hits if h not in found)
        return found

    #: the last file's :class:`FileInfo` (records of one file come one after another)
    _file_info: FileInfo | None = None

    def file_info(self, path: Path) -> FileInfo:
        """The shared per-file strings of ``path``, computed once per file rather than once per record."""
        info = self._file_info
        if info is None or info.path is not path:
            info = FileInfo(path, str(path), path.stem, path.suffix.lower())
            self._file_info = info
        return info

    def load(self) -> LoadResult:
        result = LoadResult()
        with collector_paused():
            for path in self.files():
                self._load_file(path, result)
        return result

    #: the record field that names a sample: duplicate checks and the ids of bad records use it.
    id_field: ClassVar[str] = "id"

    def records(self, path: Path) -> Iterator[tuple[int, Any, str]]:
        """(line, record, error) for each record of a file; the default reads one JSON object per line."""
        decode = _decode_json
        with path.open(encoding="utf-8-sig", errors="replace") as f:  # -sig: tolerate a BOM
            for line, text in enumerate(f, start=1):
                if text.isspace():  # what str.strip() strips; a line read from a file is never empty
                    continue
                try:
                    rec = decode(text)
                except msgspec.MsgspecError:
                    try:  # json.loads reads what msgspec refuses (NaN ...) and words the error as before
                        rec = json.loads(text)
                    except json.JSONDecodeError as exc:
                        yield line, None, f"invalid JSON: {exc.msg} (column {exc.colno})"
                        continue
                yield line, rec, ""

    def to_sample(self, rec: Any, path: Path, line: int) -> Sample:
        """Validate one record and build its Sample; raise DatasetError naming the field at fault."""
        raise NotImplementedError

    def record_meta(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Breakdown keys (domain, subset ...) of a record that could not become a Sample."""
        return {}

    def _load_file(self, path: Path, result: LoadResult) -> None:
        seen: set[str] = set()
        count = 0
        to_sample, add, keep = self.to_sample, seen.add, result.samples.append  # looked up once, not per record
        for line, rec, err in self.records(path):
            count += 1
            if err:
                result.errors.append(RecordError(str(path), line, "", err))
                continue
            try:
                sample = to_sample(rec, path, line)
                sid = sample.id
                if sid in seen:
                    rid = rec.get(self.id_field) if isinstance(rec, dict) else None
                    raise DatasetError(f"duplicate {self.id_field} {rid!r} in this file", field=self.id_field)
            except DatasetError as exc:
                result.errors.append(self._record_error(rec, path, line, exc))
                continue
            add(sid)
            keep(sample)
        if not count:
            result.empty_files.append(str(path))
            log.warning("%s: empty data file (0 records)", path)

    def _record_error(self, rec: Any, path: Path, line: int, exc: DatasetError) -> RecordError:
        if not isinstance(rec, dict):
            return RecordError(str(path), line, exc.field, exc.reason)
        rid = rec.get(self.id_field)
        named = isinstance(rid, int | str) and not isinstance(rid, bool) and str(rid).strip()
        sid = f"{path.stem}:{rid}" if named else ""
        return RecordError(str(path), line, exc.field, exc.reason, sid, self.record_meta(rec))


def glob_files(root: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern``, sorted: relative to ``root``, or absolute (``~`` expanded); ``**`` recurses."""
    expanded = Path(pattern).expanduser()
    if expanded.is_absolute():
        hits = (Path(p) for p in glob.glob(str(expanded), recursive=True))
    else:
        hits = root.glob(pattern)
    return sorted(p for p in hits if p.is_file())


def check_media_file(path: Path, fld: str, kind: str = "media") -> Path:
    """``path`` if it is a readable regular file; else a DatasetError saying what it is instead.

    Args:
        path: the resolved media path.
        fld: the record field that holds it.
        kind: ``media``, ``audio``, ``video`` ... for the message.

    Raises:
        DatasetError: the path is a directory, or nothing is there.
    """
    if path.is_dir():
        raise DatasetError(f"{kind} path is a directory, not a file: {path}", field=fld)
    if not path.is_file():
        raise DatasetError(f"{kind} file not found: {path}", field=fld)
    return path


def check_task(dataset: str, kind: str, task: str, tasks: Iterable[str], has_files: bool, files_key: str) -> None:
    """Validate a dataset entry's ``task`` name (nearest names suggested) or, without one, its own files.

    Raises:
        ConfigError: an unknown task, or neither a task nor ``files_key`` given.
    """
    names = list(tasks)
    listing = ", ".join(names) if len(names) <= 12 else f"{', '.join(names[:12])}, ..."
    if task and task not in names:
        close = difflib.get_close_matches(task, names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"dataset {dataset}: unknown {kind} task {task!r}{hint} (tasks: {listing})")
    if not task and not has_files:
        raise ConfigError(f"dataset {dataset}: set 'task' ({listing}) or '{files_key}'")
