"""Decoded media, cached by file content and settings: a size-bounded LRU in memory, optionally npz files on disk.

A key is :func:`evalkit.media.media_key` (content sha256 + settings hash), so an edited file or a changed
budget never returns stale frames, and the same file under two paths is decoded once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from evalkit.media import media_key
from evalkit.mediaproc.report import MediaReport

if TYPE_CHECKING:
    import numpy.typing as npt

_META = "__report__"


class Cacheable(Protocol):
    """A decoded result: arrays plus its report, rebuildable from both."""

    @property
    def report(self) -> MediaReport:
        """What was done to the input."""
        ...

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The result's arrays by name (what the cache stores and counts)."""
        ...

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], report: MediaReport) -> Self:
        """Rebuild the result from :meth:`arrays` and its report."""
        ...


T = TypeVar("T", bound=Cacheable)


@dataclass
class CacheStats:
    """Counters of one cache.

    Attributes:
        hits: results served from memory.
        disk_hits: results read from the disk cache.
        misses: results decoded (the decode function ran).
        evictions: results dropped from memory to stay under the byte budget.
    """

    hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    evictions: int = 0


def _nbytes(value: Cacheable) -> int:
    return sum(int(a.nbytes) for a in value.arrays().values())


class MediaCache:
    """LRU cache of decoded media, bounded by the bytes of its arrays, with an optional npz folder.

    Cached arrays are read-only (every hit shares them): copy one before changing it. Safe to share between
    threads. Two threads that miss the same key at once both decode it; the result is
    the same, so only time is lost.

    Args:
        max_bytes: memory budget of the cached arrays; the least recently used results go first. A single
            result larger than the budget is returned but not kept in memory.
        disk_dir: folder for ``<key>.npz`` files that survive the process; None keeps everything in memory.
    """

    def __init__(self, max_bytes: int = 512 * 1024 * 1024, disk_dir: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.disk_dir = disk_dir
        self.stats = CacheStats()
        self._items: OrderedDict[str, tuple[Cacheable, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of arrays held in memory now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def fetch(self, path: Path, settings: Any, cls: type[T], decode: Callable[[], T]) -> T:
        """The cached result for ``path`` under ``settings``, decoding it on a miss.

        Args:
            path: the media file (its content is hashed).
            settings: the settings dataclass that determines the result.
            cls: the result class, to rebuild it from the disk cache.
            decode: computes the result on a miss.

        Returns:
            The result; its ``report.cache`` says ``memory`` or ``disk`` when it was not decoded by this call.
        """
        key = f"{cls.__name__}-{media_key(path, settings)}"
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return _mark(item[0], "memory", cls)
        loaded = self._load(key, cls)
        if loaded is not None:
            with self._lock:
                self.stats.disk_hits += 1
            self._remember(key, loaded)
            return _mark(loaded, "disk", cls)
        value = decode()
        with self._lock:
            self.stats.misses += 1
        self._remember(key, value)
        self._save(key, value)
        return value

    def clear(self) -> None:
        """Forget everything held in memory (the disk folder is left alone)."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def _remember(self, key: str, value: Cacheable) -> None:
        for array in value.arrays().values():
            array.flags.writeable = False  # shared by every caller that hits this key
        size = _nbytes(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _key, (_value, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
                self.stats.evictions += 1

    def _file(self, key: str) -> Path | None:
        return None if self.disk_dir is None else self.disk_dir / f"{key}.npz"

    def _load(self, key: str, cls: type[T]) -> T | None:
        file = self._file(key)
        if file is None or not file.is_file():
            return None
        import numpy as np  # here, not at the top: a model holding a cache may never decode anything

        try:
            with np.load(file, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files if name != _META}
                report = MediaReport.from_json(json.loads(str(data[_META])))
        except (OSError, ValueError, KeyError):
            return None  # a truncated or foreign file is not an answer: decode again and overwrite it
        return cls.from_arrays(arrays, report)

    def _save(self, key: str, value: Cacheable) -> None:
        file = self._file(key)
        if file is None:
            return
        import numpy as np

        file.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = dict(value.arrays())
        payload[_META] = np.array(json.dumps(value.report.to_json()))
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **payload)
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _mark(value: Cacheable, where: str, cls: type[T]) -> T:
    report = dataclasses.replace(value.report, cache=where)
    return cls.from_arrays(value.arrays(), report)


_default: MediaCache | None = None
_default_lock = threading.Lock()


def default_cache() -> MediaCache:
    """The process-wide in-memory cache (512 MiB), created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MediaCache()
        return _default
