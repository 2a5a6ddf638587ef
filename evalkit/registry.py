"""One generic registry; MODELS, DATASETS and JUDGES are its instances.

An entry is either an object registered by decorator (``@MODELS.register("my-model")``, how plugins register) or a
lazy entry, ``"module:attr"``, imported on its first :meth:`Registry.get`: the built-in entries are lazy, so that a
run imports only the backend, dataset and judge it uses while :meth:`Registry.names` (and ``--list``) still shows
every one of them.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from evalkit.errors import ConfigError

T = TypeVar("T")

#: top-level package -> the evalkit extra that installs it (the one-line error of a lazy entry that cannot import)
EXTRAS = {
    "torch": "embedded",
    "llama_cpp": "embedded",
    "faster_whisper": "embedded",
    "ctranslate2": "embedded",
    "sentence_transformers": "embedded",
    "rapidocr_onnxruntime": "embedded",
    "vllm": "vllm",
    "transformers": "hf",
    "accelerate": "hf",
    "torchvision": "hf",
    "soundfile": "media",
    "soxr": "media",
    "av": "media",
    "decord": "media",
    "pypdfium2": "media",
    "pypdf": "media",
    "docx": "media",
    "jiwer": "audio",
    "whisper_normalizer": "audio",
    "cn2an": "audio",
    "opencc": "audio",
    "pycocoevalcap": "captioning",
    "langdetect": "ifeval",
    "matplotlib": "plots",
    "huggingface_hub": "prepare",
    "pyarrow": "prepare",
    "ray": "ray",
}


def install_hint(package: str) -> str:
    """``pip install 'evalkit[extra]'`` for a package of an extra, else ``pip install package``."""
    top = package.split(".", 1)[0]
    return f"pip install 'evalkit[{EXTRAS[top]}]'" if top in EXTRAS else f"pip install {top}"


class Registry(Generic[T]):
    """Name -> class (or factory). Duplicate names are an error; a miss suggests the nearest names.

    Args:
        kind: what is registered (``model``, ``dataset``, ``judge``), used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # name -> "module:attr", until its first get()

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register("my-model")`` on a class."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; raises ConfigError if the name is taken.

        The one exception: the object a lazy entry names, registering itself when its module is imported.
        """
        self._check_new(name)
        if name in self._lazy:
            if self._lazy[name] != _target_of(obj):
                raise ConfigError(f"{self.kind} {name!r} is already registered (lazily, as {self._lazy[name]})")
            del self._lazy[name]
        self._items[name] = obj

    def lazy(self, name: str, target: str) -> None:
        """Register ``name`` as ``"package.module:attr"``, imported on the first :meth:`get`."""
        if name in self._items and _target_of(self._items[name]) == target:
            return  # its module was imported first and registered it by decorator
        self._check_new(name)
        if name in self._lazy:
            raise ConfigError(f"{self.kind} {name!r} is already registered (lazily, as {self._lazy[name]})")
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise ConfigError(f"{self.kind} {name!r}: lazy target {target!r} is not 'package.module:attr'")
        self._lazy[name] = target

    def lazy_table(self, table: Mapping[str, str]) -> None:
        """:meth:`lazy` for each ``name -> "module:attr"`` of ``table``."""
        for name, target in table.items():
            self.lazy(name, target)

    def _check_new(self, name: str) -> None:
        if not name or name != name.strip():
            raise ConfigError(f"invalid {self.kind} name {name!r}")
        if name in self._items:
            raise ConfigError(f"{self.kind} {name!r} is already registered (by {self._items[name]!r})")

    def get(self, name: str) -> T:
        """Look up ``name`` (importing its module if it is lazy); a miss raises ConfigError naming the closest."""
        if name in self._items:
            return self._items[name]
        if name in self._lazy:
            return self._load(name)
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown {self.kind} {name!r}{hint} (see: python run.py --list {self.kind}s)")

    def _load(self, name: str) -> T:
        target = self._lazy[name]
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or str(exc)
            if missing == module_name or module_name.startswith(missing + "."):
                raise ConfigError(f"{self.kind} {name!r}: no module {module_name} (lazy entry {target})") from None
            raise ConfigError(
                f"{self.kind} {name!r} needs package {missing!r}, which module {module_name} imports and is not "
                f"installed: {install_hint(missing)}"
            ) from None
        if name in self._items:  # the module registered it by decorator on import
            return self._items[name]
        try:
            obj: T = getattr(module, attr)
        except AttributeError:
            raise ConfigError(f"{self.kind} {name!r}: module {module_name} has no {attr!r} ({target})") from None
        del self._lazy[name]
        self._items[name] = obj
        return obj

    def loaded(self) -> list[str]:
        """Names whose object is imported (registered by decorator or looked up), sorted."""
        return sorted(self._items)

    def remove(self, name: str) -> None:
        """Unregister ``name`` (for tests and plugins that replace an entry explicitly)."""
        self._items.pop(name, None)
        self._lazy.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, lazy ones included, sorted."""
        return sorted({*self._items, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items) + len(self._lazy)


def _target_of(obj: object) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"
