"""Config entries -> Model, Dataset and Judge instances; plugin imports."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from evalkit.config import Config, Entry, build_options
from evalkit.datasets.base import DATASETS, Dataset
from evalkit.errors import ConfigError
from evalkit.judges.base import JUDGES, Judge, JudgeContext
from evalkit.models.base import MODELS, Model
from evalkit.registry import Registry
from evalkit.scoring import prefetch_tail
from evalkit.store import cache_dir
from evalkit.types import GenConfig, Price


def import_plugins(specs: tuple[str, ...] | list[str], base: Path) -> None:
    """Import plugin modules (``pkg.module``) or files (``my_models.py``) so their registrations run."""
    for spec in specs:
        path = Path(spec) if Path(spec).is_absolute() else base / spec
        if spec.endswith(".py"):
            if not path.is_file():
                raise ConfigError(f"plugin file not found: {path}")
            name = f"evalkit_plugin_{path.stem}"
            if name in sys.modules:
                continue
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ConfigError(f"cannot import plugin {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(spec)
            except ImportError as exc:
                raise ConfigError(f"cannot import plugin module {spec!r}: {exc}") from None


def _entry(entries: dict[str, Entry], name: str, kind: str, registry_names: list[str]) -> Entry:
    """The named config entry, or a bare entry for a registered class used by its own name."""
    if name in entries:
        return entries[name]
    if name in registry_names:
        return Entry(name=name, cls=name)
    import difflib

    close = difflib.get_close_matches(name, [*entries, *registry_names], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown {kind} {name!r}{hint} (see: python run.py --list {kind}s)")


class _OptionOwners(Mapping[str, list[str]]):
    """Option key -> the registered classes (``backend openai``) whose ``Options`` take it.

    Built on first use only: it names the nearest valid key of a misspelt option, and building it imports every
    registered class (a run with valid options imports only what it uses). Classes that cannot be imported (a
    missing optional package) are left out.
    """

    def __init__(self, registry: Registry[Any], kind: str) -> None:
        self.registry, self.kind = registry, kind
        self._owners: dict[str, list[str]] | None = None

    def _built(self) -> dict[str, list[str]]:
        if self._owners is None:
            self._owners = {}
            for name in self.registry:
                try:
                    options = getattr(self.registry.get(name), "Options", None)
                except ConfigError:
                    continue
                if dataclasses.is_dataclass(options):
                    for f in dataclasses.fields(options):
                        self._owners.setdefault(f.name, []).append(f"{self.kind} {name}")
        return self._owners

    def __getitem__(self, key: str) -> list[str]:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


def _option_owners(registry: Registry[Any], kind: str) -> Mapping[str, list[str]]:
    """Option key -> the registered classes whose ``Options`` take it (computed only if asked)."""
    return _OptionOwners(registry, kind)


def build_model(cfg: Config, name: str, overrides: dict[str, Any] | None = None) -> Model:
    """A Model for a ``models:`` entry (or a registered backend used by name), with command-line overrides."""
    entry = _entry(cfg.models, name, "model", MODELS.names())
    cls = MODELS.get(entry.cls)
    opts = {**entry.options, **(overrides or {})}
    where = f"{entry.source or cfg.path}: models.{name}"
    gen = build_options(GenConfig, opts.pop("gen", None) or {}, f"{where}.gen")
    price = opts.pop("price", None)  # what tokens cost: reported, never part of the prediction key
    owners = _option_owners(MODELS, "backend")
    model = cls(name, build_options(cls.Options, opts, where, owners, owner=f"backend {entry.cls}"), gen)
    model.price = build_options(Price, price, f"{where}.price") if price else None
    return model


def build_dataset(cfg: Config, name: str) -> Dataset:
    """A Dataset for a ``datasets:`` entry (or a registered class used by name).

    Every entry may name its ``judge``; the class's ``default_judge`` applies otherwise.
    """
    entry = _entry(cfg.datasets, name, "dataset", DATASETS.names())
    cls = DATASETS.get(entry.cls)
    opts = dict(entry.options)
    judge = str(opts.pop("judge", "") or "")
    where = f"{entry.source or cfg.path}: datasets.{name}"
    owners = _option_owners(DATASETS, "class")
    options: Any = build_options(cls.Options, opts, where, owners, owner=f"dataset class {entry.cls}")
    dataset = cls(name, options, entry.dataset_root or cfg.dataset_root)  # the root of the file that set the entry
    dataset.judge_name = judge or dataset.judge_name  # the instance may pick its default from its options
    return dataset


def build_judge(cfg: Config, name: str, work_dir: Path) -> Judge:
    """A Judge for a ``judges:`` entry (or a registered class used by name).

    A judged run reports intervals: what they import starts loading now, in the background (see
    :func:`evalkit.scoring.prefetch_tail`).
    """
    prefetch_tail()
    entry = _entry(cfg.judges, name, "judge", JUDGES.names())
    cls = JUDGES.get(entry.cls)
    ctx = JudgeContext(model_factory=lambda m: build_model(cfg, m), cache_dir=cache_dir(work_dir))
    owners = _option_owners(JUDGES, "class")
    where = f"{entry.source or cfg.path}: judges.{name}"
    return cls(name, build_options(cls.Options, entry.options, where, owners, owner=f"judge class {entry.cls}"), ctx)
