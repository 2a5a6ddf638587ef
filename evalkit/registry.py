"""One generic registry; MODELS, DATASETS and JUDGES are its instances."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from evalkit.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> class (or factory). Duplicate names are an error; a miss suggests the nearest names.

    Args:
        kind: what is registered (``model``, ``dataset``, ``judge``), used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register("my-model")`` on a class."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; raises ConfigError if the name is taken."""
        if not name or name != name.strip():
            raise ConfigError(f"invalid {self.kind} name {name!r}")
        if name in self._items:
            raise ConfigError(f"{self.kind} {name!r} is already registered (by {self._items[name]!r})")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """Look up ``name``; a miss raises ConfigError naming the closest registered names."""
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown {self.kind} {name!r}{hint} (see: python run.py --list {self.kind}s)") from None

    def remove(self, name: str) -> None:
        """Unregister ``name`` (for tests and plugins that replace an entry explicitly)."""
        self._items.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
