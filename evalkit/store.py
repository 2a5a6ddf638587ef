"""Append-only JSONL records per model x dataset; the one place that knows result paths.

Durability: every record is written as one line and flushed to the OS at once, so killing the process at any
moment loses at most the line being written (a torn last line is cut off on the next open). A background
thread fsyncs the file within a few ms of it becoming dirty, so records reach the disk within one fsync
window while the event loop never blocks on the disk (group commit: one fsync covers every record written
before it).

Size: files are read as streams, line by line, and only the records a run asks for become objects. A line is
superseded when a later line holds the same sample and key (a retried failure, a re-judged verdict); a store
where superseded lines outnumber live ones is compacted on load (``compact_log``: write new, fsync, rename, so
a kill at any moment leaves the old or the new file, both complete). Records under other keys (another model
config, another judge version) are history a run switched back reuses: compaction keeps them.

Several workers (torchrun ranks, Ray actors): each appends to a part file of its own,
``parts/predictions.<worker>.jsonl``, where ``<worker>`` names one process incarnation (start time, rank, host,
pid), so two runs never append to one file and no lock is shared while predicting. Every read of predictions
reads ``predictions.jsonl`` and then every part file in name order (= start order), so a run resumed with
another number of workers, or as one process, reuses all of them. Where one (sample, key) has a record in
several files, the rule is :func:`prefer`: an ok prediction beats a failed one, else the later file wins
(within one file the last line wins, as ever). The coordinator merges the parts into ``predictions.jsonl``
(:func:`merge_parts`): under the exclusive lock compaction takes, the winning lines of a part are appended,
fsync'd, then the part is deleted; a kill between the two leaves lines that are in both files, identical, so
every load reads the same predictions and a later merge or compaction removes the copies. Why one file per
worker rather than one writer fed by the others: nothing to stream or acknowledge, a dead worker loses at most
its torn last line, and the merge is an append that can be redone.
"""

from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Generic, TypeVar

import msgspec

from evalkit.tokens import TALLIED, packed
from evalkit.types import Part, Prediction, Verdict

if TYPE_CHECKING:
    from evalkit.export import ScoredExport

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
#: the folder of a run where each worker appends its predictions (``predictions.<worker>.jsonl``)
PARTS = "parts"


def safe_name(name: str) -> str:
    """A file-system-safe version of a model, dataset or judge name."""
    return _SAFE.sub("_", name).strip("._") or "_"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a store file, streamed; a torn last line (crash mid-write) is skipped."""
    for _offset, rec in _scan(path):
        yield rec


def _scan(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(byte offset, record) of each readable line, read line by line, never the whole file at once."""
    if not path.exists():
        return
    with path.open("rb") as f:
        yield from _scan_file(f, path)


def _scan_file(f: BinaryIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    offset = 0
    for i, raw in enumerate(f, start=1):
        start, offset = offset, offset + len(raw)
        if not raw.strip():
            continue
        try:
            rec = _decode(raw)
        except msgspec.DecodeError:
            rec = _parse_slow(raw, path, i)
        if type(rec) is dict:
            yield start, rec
        elif rec is not None:
            log.warning("%s:%d: store line is not a JSON object: skipped", path, i)


#: any JSON value; ~2x faster than ``json.loads`` on store lines
_decode = msgspec.json.Decoder().decode


def _parse_slow(raw: bytes, path: Path, line: int) -> Any:
    """A line msgspec refused, read by ``json.loads`` (it also reads ``NaN``); None for an unreadable line.

    Only a last line without its newline can be a write cut short by a kill: that one is skipped silently.
    """
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        if raw.endswith(b"\n") or raw.rstrip().endswith(b"}"):
            log.warning("%s:%d: unreadable store line skipped", path, line)
        return None


def _repair_tail(path: Path) -> None:
    """Cut a torn last line so the next append starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        cut = data.rfind(b"\n") + 1
        f.truncate(cut)
        log.warning("%s: cut a torn last line (%d bytes) left by an interrupted run", path, len(data) - cut)


GROUP_WINDOW_S = 0.005


class _Syncer(threading.Thread):
    """fsyncs a file whenever it is marked dirty; one fsync covers every write before it.

    After the first dirty mark it waits ``GROUP_WINDOW_S`` (or until close) so that the records of a burst
    share one fsync instead of waking this thread, and contending for the GIL, once per record.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self._fd = fd
        self._dirty = threading.Event()
        self._closing = threading.Event()

    def run(self) -> None:
        while True:
            self._dirty.wait()
            self._closing.wait(GROUP_WINDOW_S)
            self._dirty.clear()
            os.fsync(self._fd)
            if self._closing.is_set() and not self._dirty.is_set():
                return

    def mark(self) -> None:
        self._dirty.set()

    def finish(self) -> None:
        self._closing.set()
        self._dirty.set()
        self.join()


class AppendLog:
    """An append-only JSONL file: one record per line, flushed per record, fsync'd by group commit.

    Args:
        path: the file; parent folders are created.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = _open_locked(path)
        _repair_tail(path)
        self._syncer = _Syncer(self._f.fileno())
        self._syncer.start()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line and hand it to the OS now."""
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        self._syncer.mark()

    def close(self) -> None:
        """fsync what is left and close."""
        if self._f.closed:
            return
        self._syncer.finish()
        self._f.close()

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_locked(path: Path) -> Any:
    """Open ``path`` to append, holding a shared lock on the file that is at ``path`` once the lock is held.

    Compaction takes the exclusive lock and replaces the file: a writer that opened the old one reopens.
    """
    while True:
        f = path.open("a", encoding="utf-8")
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
        try:
            if os.fstat(f.fileno()).st_ino == path.stat().st_ino:
                return f
        except FileNotFoundError:
            pass
        f.close()


@contextmanager
def replacing(path: Path, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A new file that replaces ``path`` whole once the block ends: written beside it, fsync'd, renamed over it.

    A failure (or a kill) before the rename leaves ``path`` as it was; the half-written ``.<name>.*<suffix>`` file
    is removed on failure. Its writer holds a lock on it: one left by a killed process (a run's streamed outputs,
    :mod:`evalkit.streamed`, lie there for the whole run) is removed by the next writer of ``path``
    (:func:`remove_stale_temps`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path, suffix)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with suppress(OSError):  # a file system without locks: its temp files are never removed
            fcntl.flock(fd, fcntl.LOCK_EX)  # while written: not a dead writer's file (released when closed)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: a temp file written to this recently is never taken for a dead writer's (its writer may not hold its lock yet)
STALE_AFTER_S = 60.0


def remove_stale_temps(path: Path, suffix: str = ".tmp") -> list[Path]:
    """Remove the ``.<name>.*<suffix>`` files beside ``path`` that a killed writer left: unlocked and untouched for
    :data:`STALE_AFTER_S`. Returns them."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*{suffix}"):
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:
            continue
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # its writer is alive (or locks cannot tell)
                continue
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            log.info("removed %s, left half-written by a run that was killed", tmp)
        finally:
            os.close(fd)
    return removed


class _Lines:
    """UTF-8 lines written to a binary file in chunks (one ``write`` per ~1 MB, not per line)."""

    def __init__(self, f: BinaryIO, chunk: int = 1 << 20) -> None:
        self._f = f
        self._buf: list[bytes] = []
        self._size = 0
        self._chunk = chunk

    def add(self, line: bytes) -> None:
        """Write ``line`` and a newline."""
        self._buf.append(line)
        self._size += len(line)
        if self._size >= self._chunk:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._buf.append(b"")
            self._f.write(b"\n".join(self._buf))
            self._buf.clear()
            self._size = 0

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.flush()


class LinesFile:
    """A file written line by line that replaces ``path`` whole at :meth:`close` (as :func:`replacing`), or is
    removed by :meth:`abort` leaving ``path`` as it was."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stack = ExitStack()
        self._lines = self._stack.enter_context(_Lines(self._stack.enter_context(replacing(path))))

    def add(self, line: bytes) -> None:
        """Write ``line`` and a newline."""
        self._lines.add(line)

    def close(self) -> Path:
        """Flush, fsync and rename the file over ``path``."""
        self._stack.close()
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Remove the half-written file (``path`` stays as it was)."""
        reason = exc if exc is not None else _Aborted()
        self._stack.__exit__(type(reason), reason, reason.__traceback__)


class _Aborted(Exception):
    """Why a :class:`LinesFile` was given up when its caller gives no exception."""


class ExportFiles:
    """The three views of a scored export (:mod:`evalkit.export`) written record by record: every record, every
    record as one JSON line, and each source file's records. Each file replaces its path whole at :meth:`close`."""

    def __init__(self, store: RunStore, judge: str, sources: Iterable[str]) -> None:
        self._files: list[LinesFile] = []
        try:
            self._every = self._open(store.export_path(judge))
            self._lines = self._open(store.export_lines_path(judge))
            self._by_source = {source: self._open(store.export_source_path(judge, source)) for source in sources}
        except BaseException as exc:
            self.abort(exc)
            raise

    def _open(self, path: Path) -> LinesFile:
        self._files.append(LinesFile(path))
        return self._files[-1]

    def add(self, source: str, full: bytes, bare: bytes, line: bytes) -> None:
        """One record's texts (:func:`evalkit.export.record_texts`)."""
        self._every.add(full)
        self._lines.add(line)
        if source:
            self._by_source[source].add(bare)

    def close(self) -> list[Path]:
        """Put every file in place; returns their paths (all records, JSON Lines, then the per-source files).

        A file that fails to close is raised after the ones not yet closed are removed."""
        paths: list[Path] = []
        try:
            for f in self._files:
                paths.append(f.close())
        except BaseException as exc:
            for f in self._files[len(paths) + 1 :]:
                f.abort(exc)
            raise
        return paths

    def abort(self, exc: BaseException | None = None) -> None:
        """Remove every half-written file."""
        for f in self._files:
            f.abort(exc)


def write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` (each without its newline) as a whole new file, streamed: readers see the old or the new
    file, never a half, and the lines are never all held in memory at once."""
    with replacing(path) as f, _Lines(f) as out:
        for line in lines:
            out.add(line.encode("utf-8"))


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file so that readers see the old or the new version, never a half."""
    with replacing(path) as f:
        f.write(text.encode("utf-8"))


@dataclass(frozen=True)
class Compaction:
    """What compacting one store file did.

    Attributes:
        path: the file.
        kept: lines kept (the latest per sample and key).
        dropped: superseded or unreadable lines removed.
        skipped: why nothing was done (a run is writing to the file), else empty.
    """

    path: Path
    kept: int
    dropped: int
    skipped: str = ""


def _identity(rec: dict[str, Any]) -> tuple[str, str]:
    return str(rec.get("sample_id", "")), str(rec.get("key", ""))


def _scan_idents(f: BinaryIO, path: Path) -> Iterator[tuple[int, tuple[str, str], bool]]:
    """(byte offset, (sample id, key), no error) of each readable line; the rest of a line is skipped unread."""
    offset = 0
    for i, raw in enumerate(f, start=1):
        start, offset = offset, offset + len(raw)
        try:
            line = _decode_ident(raw)
            yield start, (line.sample_id, line.key), not line.error
        except msgspec.DecodeError:
            if not raw.strip():
                continue
            rec = _parse_slow(raw, path, i)
            if type(rec) is dict:
                yield start, _identity(rec), not rec.get("error")


def compact_log(path: Path) -> Compaction:
    """Keep only the latest line per (sample id, key) of a store file, crash-safe.

    The kept lines are copied byte for byte, in file order, to a temporary file beside it, which is fsync'd and
    renamed over the original (then the folder is fsync'd): a kill at any moment leaves either file whole.
    Nothing happens while a run holds the file open to append (its shared lock).
    """
    if not path.exists():
        return Compaction(path, 0, 0)
    with path.open("rb") as src:
        try:
            fcntl.flock(src.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Compaction(path, 0, 0, "a run is writing to it")
        if os.fstat(src.fileno()).st_ino != path.stat().st_ino:
            return Compaction(path, 0, 0, "another compaction replaced it")
        for stale in path.parent.glob(f".{path.name}.*.compact"):  # left by a compaction that was killed
            stale.unlink(missing_ok=True)
        latest: dict[tuple[str, str], int] = {}
        for offset, ident, _ok in _scan_idents(src, path):
            latest[ident] = offset
        keep = set(latest.values())
        del latest
        src.seek(0)
        total = sum(1 for raw in src if raw.strip())
        if total == len(keep):
            return Compaction(path, total, 0)
        src.seek(0)
        with replacing(path, ".compact") as dst:
            offset = 0
            for raw in src:
                if offset in keep:
                    dst.write(raw if raw.endswith(b"\n") else raw + b"\n")
                offset += len(raw)
    _fsync_dir(path.parent)
    log.info("%s: compacted: kept %d lines, dropped %d", path, len(keep), total - len(keep))
    return Compaction(path, len(keep), total - len(keep))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


R = TypeVar("R")


class _Ident(msgspec.Struct):
    """The fields of a store line that say which sample and key it is for (the rest is skipped unread)."""

    sample_id: str = ""
    key: str = ""
    error: str = ""


_decode_ident = msgspec.json.Decoder(_Ident).decode


class _PredictionLine(msgspec.Struct):
    """A predictions line as a run reads it back: everything but the request as sent (``prompt``)."""

    sample_id: str
    model: str
    key: str
    text: str = ""
    parts: tuple[Part, ...] = ()
    error: str = ""
    latency_s: float = 0.0
    meta: dict[str, Any] = {}


class _PredictionLineWithPrompt(_PredictionLine):
    prompt: Any = None


class _VerdictLine(msgspec.Struct):
    """A verdicts line as a run reads it back: everything but the judge's raw reply (``raw``)."""

    sample_id: str
    judge: str
    key: str
    pred_key: str
    scores: dict[str, Any] = {}  # Any: an int stays an int, as json.loads reads it (a float type makes 1 into 1.0)
    parse_status: str = "ok"
    error: str = ""
    details: dict[str, Any] = {}
    metric_errors: dict[str, Any] = {}


class _VerdictLineWithRaw(_VerdictLine):
    raw: Any = None


class _Kind(Generic[R]):
    """How the lines of one kind of store file become records.

    Args:
        line_type: the msgspec Struct a line is decoded into (typed: ~4x faster than ``json.loads`` and building
            the record from the dict, and fields it does not name are skipped without being built).
        build: (decoded line, its key string, the load's :class:`Canon`) -> the record.
        from_dict: the record from a ``json.loads`` dict (lines msgspec refuses, such as ``NaN`` scores).
    """

    def __init__(
        self,
        line_type: type[Any],
        build: Callable[[Any, str, Canon], R],
        from_dict: Callable[[dict[str, Any]], R],
    ) -> None:
        self.decode = msgspec.json.Decoder(line_type).decode
        self.build = build
        self.from_dict = from_dict


#: the empty dict loaded records share for their empty fields (records and their dicts are never changed)
_EMPTY: dict[str, Any] = {}
#: distinct score dicts a load shares (a judge with few possible scores: 0/1, a 1-5 rubric); beyond, no sharing
SHARED_SCORES_MAX = 4096


class Canon:
    """One object per repeated value among the records of a run: names, statuses, sample ids, prediction keys and
    small score dicts (a 0/1 judge's scores are two dicts, not one per sample), and the empty dict.

    Args:
        ids: the run's sample ids (their string objects are used for the records' sample ids).
        pred_keys: sample id -> its current prediction key (for verdicts' ``pred_key``).
    """

    def __init__(
        self,
        ids: Iterable[str] = (),
        pred_keys: Mapping[str, str] | None = None,
        usage: dict[int, Any] | None = None,
    ) -> None:
        self.strings: dict[str, str] = {}
        self.ids = {i: i for i in ids}
        self.pred_keys = pred_keys or {}
        self._scores: dict[str, dict[str, Any]] = {}
        #: where loaded predictions leave their ``usage`` (by ``id()`` of the prediction) instead of their meta
        self.usage = usage

    def string(self, text: str) -> str:
        return self.strings.setdefault(text, text) if text else ""

    def sample_id(self, sid: str) -> str:
        return self.ids.get(sid, sid)

    def pred_key(self, sid: str, key: str) -> str:
        current = self.pred_keys.get(sid)
        return current if current == key else key

    def meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A freshly decoded ``meta`` with one object per short string value (``finish_reason: stop``)."""
        if not meta:
            return _EMPTY
        for k, v in meta.items():
            if type(v) is str and len(v) <= 16:
                meta[k] = self.strings.setdefault(v, v)
        return meta

    def scores(self, scores: dict[str, Any]) -> dict[str, Any]:
        """``scores``, or an equal dict already held (equal by ``repr``: 1 and 1.0, 0.0 and -0.0 stay apart)."""
        if not scores:
            return _EMPTY
        if len(scores) > 8:
            return scores
        key = repr(scores)
        held = self._scores.get(key)
        if held is not None:
            return held
        if len(self._scores) < SHARED_SCORES_MAX:
            self._scores[key] = scores
        return scores


def _prediction(line: _PredictionLine, key: str, canon: Canon) -> Prediction:
    prompt = line.prompt if type(line) is _PredictionLineWithPrompt else None
    meta, usage = line.meta, None
    if canon.usage is not None and meta:  # held without what is tallied: the usage goes to the side map
        usage = packed(meta.get("usage"))
        for k in TALLIED:
            meta.pop(k, None)
    pred = Prediction(
        canon.sample_id(line.sample_id),
        canon.string(line.model),
        key,
        line.text,
        line.parts,
        prompt,
        canon.string(line.error),
        line.latency_s,
        canon.meta(meta),
    )
    if canon.usage is not None:  # always set: a freed record's id may be reused by this one
        canon.usage[id(pred)] = usage
    return pred


def _verdict_builder(drop: frozenset[str]) -> Callable[[_VerdictLine, str, Canon], Verdict]:
    """Verdicts from lines, without the ``drop`` keys of their details (see ``Judge.audit_details``)."""

    def build(line: _VerdictLine, key: str, canon: Canon) -> Verdict:
        raw = line.raw if type(line) is _VerdictLineWithRaw else None
        details = line.details
        if drop and details:
            details = {k: v for k, v in details.items() if k not in drop}
        sid = canon.sample_id(line.sample_id)
        return Verdict(
            sid,
            canon.string(line.judge),
            key,
            canon.pred_key(sid, line.pred_key),
            canon.scores(line.scores),
            raw,
            canon.string(line.parse_status),
            canon.string(line.error),
            details or _EMPTY,
            line.metric_errors or _EMPTY,
        )

    return build


def _prediction_from_dict(rec: dict[str, Any], prompts: bool) -> Prediction:
    if not prompts:
        rec.pop("prompt", None)
    return Prediction.from_json(rec)


def _verdict_from_dict(rec: dict[str, Any], raw: bool, drop: frozenset[str]) -> Verdict:
    if not raw:
        rec.pop("raw", None)
    if drop and type(rec.get("details")) is dict:
        rec["details"] = {k: v for k, v in rec["details"].items() if k not in drop}
    return Verdict.from_json(rec)


def _verdicts(raw: bool, drop: frozenset[str] = frozenset()) -> _Kind[Verdict]:
    line_type = _VerdictLineWithRaw if raw else _VerdictLine
    return _Kind(line_type, _verdict_builder(drop), lambda d: _verdict_from_dict(d, raw, drop))


_PREDICTIONS = _Kind(_PredictionLine, _prediction, lambda d: _prediction_from_dict(d, False))
_PREDICTIONS_WITH_PROMPTS = _Kind(_PredictionLineWithPrompt, _prediction, lambda d: _prediction_from_dict(d, True))
_IDENTS: _Kind[None] = _Kind(_Ident, lambda line, key, canon: None, lambda d: None)


def load_latest(
    path: Path,
    kind: _Kind[R],
    wanted: Mapping[str, str] | None = None,
    compact: bool = False,
    canon: Canon | None = None,
) -> dict[tuple[str, str], R]:
    """(sample id, key) -> the latest record of ``path``, streamed.

    Args:
        path: a predictions or verdicts file.
        kind: how its lines become records.
        wanted: sample id -> its current key: only those records become objects; None: all of them.
        compact: compact the file when superseded lines outnumber live ones. Superseded lines are counted among
            the wanted records (the lines a rerun or reeval repeats); lines under other keys count as live.
        canon: the values records share (default: names and statuses, and the sample ids of ``wanted``).
    """
    out: dict[tuple[str, str], R] = {}
    lines = hits = 0
    if not path.exists():
        return out
    decode, build, from_dict = kind.decode, kind.build, kind.from_dict
    if canon is None:
        canon = Canon(wanted or ())
    with path.open("rb") as f:
        for i, raw in enumerate(f, start=1):
            try:
                line = decode(raw)
                sid, key = line.sample_id, line.key
            except msgspec.DecodeError:
                if not raw.strip():
                    continue
                rec = _parse_slow(raw, path, i)
                if type(rec) is not dict:
                    continue
                line = None
                sid, key = _identity(rec)
            lines += 1
            current = key if wanted is None else wanted.get(sid)
            if current != key:
                continue
            hits += 1
            if line is None:
                out[(sid, key)] = from_dict(_shared(rec, canon.strings))
            else:
                out[(sid, current)] = build(line, current, canon)
    superseded = hits - len(out)
    if compact and superseded > lines - superseded:
        compact_log(path)
    return out


#: record fields whose values repeat from line to line (a model or judge name, a status, an error message)
_REPEATED = ("model", "judge", "parse_status", "error")


def _shared(rec: dict[str, Any], strings: dict[str, str]) -> dict[str, Any]:
    """``rec`` with one string object per distinct dict key, name and short nested value (lines read by
    ``json.loads``, which makes a fresh copy of every string of every line)."""
    for k in _REPEATED:
        v = rec.get(k)
        if type(v) is str:
            rec[k] = strings.setdefault(v, v)
    for k, v in rec.items():
        if type(v) is dict:
            rec[k] = _shared_dict(v, strings)
    return rec


def _shared_dict(d: dict[str, Any], strings: dict[str, str]) -> dict[str, Any]:
    return {
        strings.setdefault(k, k): _shared_dict(v, strings)
        if type(v) is dict
        else strings.setdefault(v, v)
        if type(v) is str and len(v) <= 16
        else v
        for k, v in d.items()
    }


def prefer(current: Prediction | None, new: Prediction) -> Prediction:
    """Which of two predictions of one (sample, key) from two files stands: ok beats failed, else the later."""
    if current is not None and current.ok and not new.ok:
        return current
    return new


def part_paths(run_dir: Path) -> list[Path]:
    """The workers' prediction part files of a run folder, in name order (their start order)."""
    return sorted((run_dir / PARTS).glob("predictions.*.jsonl"))


def merge_parts(main: Path, parts: list[Path]) -> list[Compaction]:
    """Append the winning lines of each part file to ``main``, fsync, then delete the part (see the module doc).

    Per (sample id, key), the last line of a part is appended unless ``main`` already holds an ok prediction and
    that line is a failure (:func:`prefer`), so every load reads the same before and after.

    Returns:
        one entry per part: merged (``kept`` lines appended, ``dropped`` not), or ``skipped`` with why: a part a
        worker still writes, or ``main`` while a run appends to it or a compaction holds it.
    """
    if not parts:
        return []
    main.parent.mkdir(parents=True, exist_ok=True)
    with main.open("ab") as dst:
        try:
            fcntl.flock(dst.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return [Compaction(p, 0, 0, f"{main.name} is being written to (merged later)") for p in parts]
        if os.fstat(dst.fileno()).st_ino != main.stat().st_ino:
            return [Compaction(p, 0, 0, f"{main.name} was replaced meanwhile (merged later)") for p in parts]
        _repair_tail(main)
        with main.open("rb") as f:
            ok = {ident: good for _offset, ident, good in _scan_idents(f, main)}
        done = [_merge_part(part, dst, ok) for part in parts]
    _fsync_dir(main.parent / PARTS)
    return done


def _merge_part(part: Path, dst: BinaryIO, ok: dict[tuple[str, str], bool]) -> Compaction:
    try:
        src = part.open("rb")
    except FileNotFoundError:
        return Compaction(part, 0, 0, "merged meanwhile")
    with src:
        try:
            fcntl.flock(src.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Compaction(part, 0, 0, "a worker is writing to it (merged later)")
        last: dict[tuple[str, str], tuple[int, bool]] = {}
        lines = 0
        for offset, ident, good in _scan_idents(src, part):
            lines += 1
            last[ident] = (offset, good)
        keep = {off for ident, (off, good) in last.items() if good or not ok.get(ident, False)}
        src.seek(0)
        offset = 0
        for raw in src:
            if offset in keep:
                dst.write(raw if raw.endswith(b"\n") else raw + b"\n")
            offset += len(raw)
        dst.flush()
        os.fsync(dst.fileno())
        for ident, (off, good) in last.items():
            if off in keep:
                ok[ident] = good
        part.unlink()
    log.info("%s: merged %d lines into %s, dropped %d", part, len(keep), dst.name, lines - len(keep))
    return Compaction(part, len(keep), lines - len(keep))


def compact_run(run_dir: Path) -> list[Compaction]:
    """Merge the workers' part files, then compact the predictions and every judge's verdicts of a run folder."""
    merged = [c for c in merge_parts(run_dir / "predictions.jsonl", part_paths(run_dir)) if c.skipped]
    paths = [run_dir / "predictions.jsonl", *sorted(run_dir.glob("verdicts.*.jsonl"))]
    return merged + [compact_log(p) for p in paths if p.exists()]


class RunStore:
    """Paths and records of one model x dataset under the work dir.

    Args:
        work_dir: the results root (``eval_results``).
        model: model entry name.
        dataset: dataset entry name.
        worker: empty: predictions are appended to ``predictions.jsonl``; else the name of one worker process
            (see :meth:`for_worker`), whose predictions go to its own part file.
    """

    def __init__(self, work_dir: Path, model: str, dataset: str, worker: str = "") -> None:
        self.work_dir = work_dir
        self.model = model
        self.dataset = dataset
        self.worker = worker
        self.dir = work_dir / safe_name(model) / safe_name(dataset)

    def for_worker(self, worker: str) -> RunStore:
        """The same run seen by one of several workers: it appends to its own part file, it reads everything."""
        return RunStore(self.work_dir, self.model, self.dataset, worker)

    @property
    def predictions_path(self) -> Path:
        """Where this store appends predictions: ``predictions.jsonl``, or the worker's part file."""
        if self.worker:
            return self.dir / PARTS / f"predictions.{safe_name(self.worker)}.jsonl"
        return self.merged_predictions_path

    @property
    def merged_predictions_path(self) -> Path:
        """``predictions.jsonl``: one process's predictions and the merged parts of several workers."""
        return self.dir / "predictions.jsonl"

    def prediction_paths(self) -> list[Path]:
        """Every file holding predictions of this run, in the order loads read them (see :func:`prefer`)."""
        return [self.merged_predictions_path, *part_paths(self.dir)]

    def merge_parts(self) -> list[Compaction]:
        """Merge the workers' part files into ``predictions.jsonl`` (see :func:`merge_parts`)."""
        return merge_parts(self.merged_predictions_path, part_paths(self.dir))

    def verdicts_path(self, judge: str) -> Path:
        return self.dir / f"verdicts.{safe_name(judge)}.jsonl"

    @property
    def reliability_path(self) -> Path:
        """How far each judge's scores can be trusted on this run (parse failures, self-consistency, agreement)."""
        return self.dir / "reliability.csv"

    def samples_path(self, judge: str) -> Path:
        """Per-sample outcomes of one judge (scores, strict values, cluster): what compare and diff read."""
        return self.dir / f"samples.{safe_name(judge)}.jsonl"

    def export_path(self, judge: str) -> Path:
        """All scored records, pretty-printed one after another (the original tool's format), each with its file."""
        return self.dir / f"scored.{safe_name(judge)}.jsonl"

    def export_lines_path(self, judge: str) -> Path:
        """All scored records as real JSON Lines: one object per line."""
        return self.dir / f"scored.{safe_name(judge)}.lines.jsonl"

    def export_source_path(self, judge: str, source: str) -> Path:
        """The scored records of one source records file (``source``: its path relative to the data folder)."""
        parts = [safe_name(p) for p in Path(source).parts if p not in ("", ".", "..", "/")]
        return self.dir.joinpath(f"scored.{safe_name(judge)}", *parts)

    def write_exports(self, judge: str, export: ScoredExport) -> list[Path]:
        """Write the scored export in its three forms (all, JSON Lines, one per source file); returns the paths.

        One pass over the records writes every file (each replaced whole once complete, as :func:`replacing`).
        """
        files = ExportFiles(self, judge, export.sources)
        try:
            for texts in export.texts():
                files.add(*texts)
        except BaseException as exc:
            files.abort(exc)
            raise
        return files.close()

    @property
    def report_path(self) -> Path:
        return self.dir / "report.csv"

    @property
    def failures_path(self) -> Path:
        return self.dir / "failures.csv"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def load_predictions(
        self,
        wanted: Mapping[str, str] | None = None,
        compact: bool = False,
        prompts: bool = True,
        usage: dict[int, Any] | None = None,
    ) -> dict[tuple[str, str], Prediction]:
        """(sample id, key) -> latest Prediction written for it, over ``predictions.jsonl`` and the part files.

        Args:
            wanted: sample id -> its current key: only those records are read into objects; None: all.
            compact: compact ``predictions.jsonl`` when superseded lines outnumber live ones.
            prompts: keep each request as sent (``prompt``); without it a loaded prediction costs about half
                the memory, and a run never reads it back (it is in the file for people and reports).
            usage: when given, the predictions come without ``usage`` and ``finish_reason`` in their meta (what a
                run reads back only to sum tokens, :mod:`evalkit.tokens`), and each one's ``usage`` is left here
                under ``id(prediction)`` (while the prediction lives).
        """
        kind = _PREDICTIONS_WITH_PROMPTS if prompts else _PREDICTIONS
        canon = Canon(wanted or (), usage=usage)
        out = load_latest(self.merged_predictions_path, kind, wanted, compact, canon)
        for part in part_paths(self.dir):
            for ident, pred in load_latest(part, kind, wanted, canon=canon).items():
                out[ident] = prefer(out.get(ident), pred)
        return out

    def load_verdicts(
        self,
        judge: str,
        wanted: Mapping[str, str] | None = None,
        compact: bool = False,
        raw: bool = True,
        drop_details: frozenset[str] = frozenset(),
        pred_keys: Mapping[str, str] | None = None,
    ) -> dict[tuple[str, str], Verdict]:
        """(sample id, key) -> latest Verdict of ``judge`` (``wanted`` and ``compact`` as in load_predictions).

        Args:
            raw: keep the judge's raw reply (an LLM judge's whole answer); a run never reads it back.
            drop_details: keys of each verdict's details not to keep (the judge's ``audit_details``).
            pred_keys: sample id -> its current prediction key: verdicts of those share its string object.
        """
        kind, canon = _verdicts(raw, drop_details), Canon(wanted or (), pred_keys)
        return load_latest(self.verdicts_path(judge), kind, wanted, compact, canon)

    def compact_verdicts_if_due(self, judge: str, wanted: Mapping[str, str]) -> None:
        """Compact ``judge``'s verdicts when superseded lines outnumber live ones, reading no record into memory.

        For a reeval, which reuses no stored verdict: each one adds a line per sample.
        """
        load_latest(self.verdicts_path(judge), _IDENTS, wanted, compact=True, canon=Canon())

    def compact(self) -> list[Compaction]:
        """Compact this run's predictions and verdicts (see :func:`compact_log`)."""
        return compact_run(self.dir)


def cache_dir(work_dir: Path) -> Path:
    """Where caches shared by all runs under a work dir live (captions, file hashes)."""
    return work_dir / ".cache"
