"""Append-only JSONL records per model x dataset; the one place that knows result paths.

Durability: every record is written as one line and flushed to the OS at once, so killing the process at any
moment loses at most the line being written (a torn last line is cut off on the next open). A background
thread fsyncs the file within a few ms of it becoming dirty, so records reach the disk within one fsync
window while the event loop never blocks on the disk (group commit: one fsync covers every record written
before it).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.types import Prediction, Verdict

if TYPE_CHECKING:
    from evalkit.export import ScoredExport

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name: str) -> str:
    """A file-system-safe version of a model, dataset or judge name."""
    return _SAFE.sub("_", name).strip("._") or "_"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a store file; a torn last line (crash mid-write) is skipped."""
    if not path.exists():
        return
    with path.open("rb") as f:
        lines = f.read().split(b"\n")
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield json.loads(raw)
        except json.JSONDecodeError:
            if i < len(lines) - 1 or raw.endswith(b"}"):
                log.warning("%s:%d: unreadable store line skipped", path, i)


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
        _repair_tail(path)
        self._f = path.open("a", encoding="utf-8")
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


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file so that readers see the old or the new version, never a half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """Paths and records of one model x dataset under the work dir.

    Args:
        work_dir: the results root (``eval_results``).
        model: model entry name.
        dataset: dataset entry name.
    """

    def __init__(self, work_dir: Path, model: str, dataset: str) -> None:
        self.work_dir = work_dir
        self.model = model
        self.dataset = dataset
        self.dir = work_dir / safe_name(model) / safe_name(dataset)

    @property
    def predictions_path(self) -> Path:
        return self.dir / "predictions.jsonl"

    def verdicts_path(self, judge: str) -> Path:
        return self.dir / f"verdicts.{safe_name(judge)}.jsonl"

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
        """Write the scored export in its three forms (all, JSON Lines, one per source file); returns the paths."""
        written = [self.export_path(judge), self.export_lines_path(judge)]
        write_atomic(written[0], export.pretty())
        write_atomic(written[1], export.json_lines())
        for source in export.sources():
            path = self.export_source_path(judge, source)
            write_atomic(path, export.pretty(source))
            written.append(path)
        return written

    @property
    def report_path(self) -> Path:
        return self.dir / "report.csv"

    @property
    def failures_path(self) -> Path:
        return self.dir / "failures.csv"

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def load_predictions(self) -> dict[tuple[str, str], Prediction]:
        """(sample id, key) -> latest Prediction written for it."""
        out: dict[tuple[str, str], Prediction] = {}
        for rec in read_jsonl(self.predictions_path):
            p = Prediction.from_json(rec)
            out[(p.sample_id, p.key)] = p
        return out

    def load_verdicts(self, judge: str) -> dict[tuple[str, str], Verdict]:
        """(sample id, key) -> latest Verdict of ``judge``."""
        out: dict[tuple[str, str], Verdict] = {}
        for rec in read_jsonl(self.verdicts_path(judge)):
            v = Verdict.from_json(rec)
            out[(v.sample_id, v.key)] = v
        return out


def cache_dir(work_dir: Path) -> Path:
    """Where caches shared by all runs under a work dir live (captions, file hashes)."""
    return work_dir / ".cache"
