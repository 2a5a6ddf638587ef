"""config.yaml -> typed, validated config objects. Unknown keys are errors.

Secrets never live here: API keys are read from the environment (optionally loaded from a ``.env`` file by
the CLI) at the moment a request is made, and only the *name* of the variable appears in config.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import ConfigError

TOP_KEYS = ("dataset_root", "work_dir", "plugins", "defaults", "datasets", "models", "judges")
DEFAULT_KEYS = ("model", "dataset")


@dataclass(frozen=True)
class Entry:
    """One named entry of ``models:``, ``datasets:`` or ``judges:``.

    Attributes:
        name: the entry's name, as given on the command line.
        cls: the registered class name (``backend`` for models, ``class`` for datasets and judges).
        options: the remaining keys, validated later against the class's own Config dataclass.
    """

    name: str
    cls: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The whole validated config file.

    Attributes:
        path: where it was read from.
        dataset_root: root of dataset files; relative paths resolve against the config file's folder.
        work_dir: where results go, relative to the config file's folder (the CLI's --work-dir overrides it).
        plugins: modules or .py files imported before lookup, so their registrations count.
        defaults: default model and dataset names (a dataset entry's ``judge`` key picks its judge).
        datasets: named dataset entries.
        models: named model entries.
        judges: named judge entries.
    """

    path: Path
    dataset_root: Path
    work_dir: Path
    plugins: tuple[str, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    models: dict[str, Entry] = field(default_factory=dict)
    judges: dict[str, Entry] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The config as plain data for manifests (it holds no secrets by construction)."""
        return {
            "path": str(self.path),
            "dataset_root": str(self.dataset_root),
            "work_dir": str(self.work_dir),
            "plugins": list(self.plugins),
            "defaults": self.defaults,
            "datasets": {k: {"class": e.cls, **e.options} for k, e in self.datasets.items()},
            "models": {k: {"backend": e.cls, **e.options} for k, e in self.models.items()},
            "judges": {k: {"class": e.cls, **e.options} for k, e in self.judges.items()},
        }


def _reject_unknown(
    keys: typing.Iterable[str],
    allowed: typing.Sequence[str],
    where: str,
    elsewhere: typing.Mapping[str, typing.Sequence[str]] | None = None,
    owner: str = "this entry",
) -> None:
    """Raise on the first key not in ``allowed``, naming the nearest valid key.

    Args:
        keys: the keys given.
        allowed: the keys this entry takes.
        where: prefix for the message.
        elsewhere: key -> classes that take it, searched for the nearest key when ``allowed`` has none close.
        owner: what takes ``allowed`` (``backend replay``), for the message when it takes no keys at all.
    """
    for k in keys:
        if k in allowed:
            continue
        close = difflib.get_close_matches(k, list(allowed), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        if not close and elsewhere:
            other = difflib.get_close_matches(k, list(elsewhere), n=1)
            if other:
                names = sorted(elsewhere[other[0]])
                owners = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
                hint = f" (nearest valid key: '{other[0]}', an option of {owners}, not of {owner})"
        listing = f"allowed: {', '.join(allowed)}" if allowed else f"{owner} takes no options of its own"
        raise ConfigError(f"{where}: unknown key '{k}'{hint}; {listing}")


def _entries(raw: Any, section: str, class_key: str, path: Path) -> dict[str, Entry]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: '{section}' must be a mapping of name -> entry")
    out: dict[str, Entry] = {}
    for name, body in raw.items():
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {section}.{name} must be a mapping")
        if class_key not in body:
            raise ConfigError(f"{path}: {section}.{name} needs '{class_key}'")
        opts = {k: v for k, v in body.items() if k != class_key}
        out[str(name)] = Entry(name=str(name), cls=str(body[class_key]), options=opts)
    return out


def load_config(path: Path | str) -> Config:
    """Read and validate a config file.

    Raises:
        ConfigError: the file is missing, is not YAML, or has unknown or ill-typed keys.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (pass --config PATH)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    _reject_unknown(raw, TOP_KEYS, str(path))
    defaults = raw.get("defaults") or {}
    _reject_unknown(defaults, DEFAULT_KEYS, f"{path}: defaults")
    base = path.parent
    plugins = raw.get("plugins") or []
    if not isinstance(plugins, list):
        raise ConfigError(f"{path}: 'plugins' must be a list")
    return Config(
        path=path,
        dataset_root=(base / str(raw.get("dataset_root", "data"))).resolve(),
        work_dir=base / str(raw.get("work_dir", "eval_results")),
        plugins=tuple(str(p) for p in plugins),
        defaults={str(k): str(v) for k, v in defaults.items()},
        datasets=_entries(raw.get("datasets"), "datasets", "class", path),
        models=_entries(raw.get("models"), "models", "backend", path),
        judges=_entries(raw.get("judges"), "judges", "class", path),
    )


_T = typing.TypeVar("_T")


def build_options(
    cls: type[_T],
    options: dict[str, Any],
    where: str,
    elsewhere: typing.Mapping[str, typing.Sequence[str]] | None = None,
    owner: str = "this entry",
) -> _T:
    """Build an options dataclass from a config mapping, rejecting unknown keys and wrong types.

    Args:
        cls: a dataclass whose fields are the allowed keys.
        options: the mapping from config.yaml.
        where: prefix for error messages (``config.yaml: models.gpt-4o``).
        elsewhere: key -> classes that take it (sibling classes' options), to name the nearest valid key
            when this class takes none close to a misspelt one.
        owner: what the options belong to (``backend replay``), named when it takes no keys at all.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _reject_unknown(options, list(fields), where, elsewhere, owner)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return build_options(hint, value, where)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value
