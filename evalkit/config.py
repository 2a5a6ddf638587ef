"""config.yaml -> typed, validated config objects. Unknown keys are errors.

Secrets never live here: API keys are read from the environment (optionally loaded from a ``.env`` file by
the CLI) at the moment a request is made, and only the *name* of the variable appears in config.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import ConfigError

TOP_KEYS = ("extends", "dataset_root", "work_dir", "plugins", "defaults", "datasets", "models", "judges")
DEFAULT_KEYS = ("model", "dataset")
#: entry options that name a file: a relative one resolves against the folder of the config file that sets it
FILE_OPTIONS = ("few_shot",)
#: top-level keys of other tools that mean ``extends``
EXTENDS_ALIASES = ("include", "includes", "import", "imports", "base", "inherit", "inherits")


@dataclass(frozen=True)
class Entry:
    """One named entry of ``models:``, ``datasets:`` or ``judges:``.

    Attributes:
        name: the entry's name, as given on the command line.
        cls: the registered class name (``backend`` for models, ``class`` for datasets and judges).
        options: the remaining keys, validated later against the class's own Config dataclass.
        source: the config file that defined the entry (a later layer's entry replaces an earlier one whole).
        dataset_root: datasets only: the ``dataset_root`` of that file, which the entry's relative ``root`` and
            ``files`` resolve against (None: the config's own ``dataset_root``).
    """

    name: str
    cls: str
    options: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    dataset_root: Path | None = None


@dataclass(frozen=True)
class Config:
    """The whole validated config: one file, or layers of files (``extends:``, repeated ``--config``).

    Attributes:
        path: where it was read from (with layers: the last, top file).
        dataset_root: root of dataset files; relative paths resolve against the folder of the file that sets it
            (with layers: the last file that sets it; each dataset entry keeps its own file's, see Entry).
        work_dir: where results go, relative to the folder of the file that sets it (the CLI's --work-dir
            overrides it).
        plugins: modules or .py files imported before lookup, so their registrations count (files: absolute,
            resolved against the folder of the config file that lists them).
        defaults: default model and dataset names (a dataset entry's ``judge`` key picks its judge).
        datasets: named dataset entries.
        models: named model entries.
        judges: named judge entries.
        layers: the files read, bottom (extended) first, top last.
    """

    path: Path
    dataset_root: Path
    work_dir: Path
    plugins: tuple[str, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    models: dict[str, Entry] = field(default_factory=dict)
    judges: dict[str, Entry] = field(default_factory=dict)
    layers: tuple[Path, ...] = ()

    def public(self) -> dict[str, Any]:
        """The config as plain data for manifests (it holds no secrets by construction)."""
        return {
            "path": str(self.path),
            "layers": [str(p) for p in self.layers],
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


def load_config(path: Path | str | typing.Sequence[Path | str]) -> Config:
    """Read and validate a config file, or layers of them: later files win, entry by entry.

    Each file may name the file(s) it builds on with ``extends:`` (relative to itself; chains allowed). Several
    paths (``--config A --config B``) stack in order, each with its own ``extends`` chain; a file reached twice is
    read once. Relative paths mean in each file what they would mean if that file were used alone.

    Raises:
        ConfigError: a file is missing, is not YAML, has unknown or ill-typed keys, or the files extend each
            other in a cycle.
    """
    paths = [path] if isinstance(path, str | Path) else list(path)
    if not paths:
        raise ConfigError("no config file given (pass --config PATH)")
    return _merge(_layers([Path(p) for p in paths]))


def _read_layer(path: Path, extended_by: Path | None) -> dict[str, Any]:
    """One config file's top-level mapping, its keys checked."""
    if not path.is_file():
        by = f" (extended by {extended_by})" if extended_by else " (pass --config PATH)"
        raise ConfigError(f"config file not found: {path}{by}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    alias = next((k for k in raw if k in EXTENDS_ALIASES), None)
    if alias is not None:
        raise ConfigError(f"{path}: unknown key '{alias}' (did you mean 'extends'? it layers this file over another)")
    _reject_unknown(raw, TOP_KEYS, str(path))
    _reject_unknown(raw.get("defaults") or {}, DEFAULT_KEYS, f"{path}: defaults")
    if not isinstance(raw.get("plugins") or [], list):
        raise ConfigError(f"{path}: 'plugins' must be a list")
    return raw


def _extends(raw: dict[str, Any], path: Path) -> list[Path]:
    """The files a config extends, resolved against its folder."""
    value = raw.get("extends") or []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(f"{path}: 'extends' must be a file path or a list of them")
    return [Path(os.path.normpath(path.parent / Path(n).expanduser())) for n in names]  # no a/../b in messages


def _layers(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every file to read, bases before the files that extend them; each file once."""
    out: list[tuple[Path, dict[str, Any]]] = []
    done: set[Path] = set()

    def visit(path: Path, chain: tuple[Path, ...], by: Path | None) -> None:
        real = path.resolve()
        if real in chain:
            loop = " -> ".join(str(p) for p in (*chain[chain.index(real) :], real))
            raise ConfigError(f"config files extend each other in a cycle: {loop}")
        if real in done:
            return
        raw = _read_layer(path, by)
        for base in _extends(raw, path):
            visit(base, (*chain, real), path)
        done.add(real)
        out.append((path, raw))

    for p in paths:
        visit(p, (), None)
    return out


def _file_option(base: Path, value: Any) -> Any:
    """A file-naming option's value made absolute against ``base`` (the folder of the file that set it)."""
    if not isinstance(value, str) or not value.strip() or Path(value).expanduser().is_absolute():
        return value
    return str(base / value)


def _merge(layers: list[tuple[Path, dict[str, Any]]]) -> Config:
    """Stack the layers: scalars and defaults from the last file that sets them, entries replaced whole."""
    bottom = layers[0][0].parent
    dataset_root, work_dir = (bottom / "data").resolve(), bottom / "eval_results"
    plugins: list[str] = []
    defaults: dict[str, str] = {}
    sections: dict[str, dict[str, Entry]] = {"datasets": {}, "models": {}, "judges": {}}
    for path, raw in layers:
        base = path.parent
        own_root = (base / str(raw.get("dataset_root", "data"))).resolve()
        if "dataset_root" in raw:
            dataset_root = own_root
        if "work_dir" in raw:
            work_dir = base / str(raw["work_dir"])
        for p in (str(p) for p in raw.get("plugins") or []):
            spec = str(base / Path(p).expanduser()) if p.endswith(".py") else p
            plugins.extend([spec] if spec not in plugins else [])
        defaults.update({str(k): str(v) for k, v in (raw.get("defaults") or {}).items()})
        for section, key in (("datasets", "class"), ("models", "backend"), ("judges", "class")):
            for name, e in _entries(raw.get(section), section, key, path).items():
                root = own_root if section == "datasets" else None
                opts = {k: _file_option(base, v) if k in FILE_OPTIONS else v for k, v in e.options.items()}
                sections[section][name] = dataclasses.replace(e, options=opts, source=path, dataset_root=root)
    return Config(
        path=layers[-1][0],
        dataset_root=dataset_root,
        work_dir=work_dir,
        plugins=tuple(plugins),
        defaults=defaults,
        datasets=sections["datasets"],
        models=sections["models"],
        judges=sections["judges"],
        layers=tuple(p for p, _ in layers),
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
