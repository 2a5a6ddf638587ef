"""The ``prepare`` command: resolve ``--dataset`` to a spec and folder, fetch what is missing, verify, convert."""

from __future__ import annotations

import os
from pathlib import Path

from evalkit.config import Config
from evalkit.errors import ConfigError
from evalkit.prepare.fetch import Fetcher, Offline
from evalkit.prepare.spec import PrepareSpec
from evalkit.prepare.table import specs


def resolve(cfg: Config, name: str) -> tuple[PrepareSpec, Path]:
    """The spec and data folder for ``--dataset name``: a config entry (its ``task``, else its name) or a table name."""
    table = specs()
    entry = cfg.datasets.get(name)
    if entry is None:
        if name not in table:
            import difflib

            close = difflib.get_close_matches(name, [*cfg.datasets, *table], n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"prepare: unknown dataset {name!r}{hint} (prepare knows: {', '.join(sorted(table))})")
        return table[name], cfg.dataset_root / table[name].folder
    # a benchmark named by the entry's task (vlm-tsv, video-qa, mmeb), else by the entry's own name (kimi-audio),
    # else the one benchmark of the entry's class whose folder is the entry's root (clotho-eval -> Clotho-evaluation)
    keys = [str(k) for k in (entry.options.get("task"), name) if k]
    spec = next((table[k] for k in keys if k in table and table[k].dataset_class == entry.cls), None)
    if spec is None and entry.options.get("root") is not None:
        same = [s for s in table.values() if s.dataset_class == entry.cls and s.folder == str(entry.options["root"])]
        spec = same[0] if len(same) == 1 else None
    if spec is None:
        raise ConfigError(
            f"prepare: dataset {name} ({entry.cls}) has no prepare step; its files are read as configured "
            f"(prepare knows: {', '.join(sorted(table))})"
        )
    root = entry.options.get("root")
    folder = (entry.dataset_root or cfg.dataset_root) / (spec.folder if root is None else str(root))
    return spec, folder.resolve()


def _manual(spec: PrepareSpec, folder: Path) -> str:
    """What to put where, with ``{folder}`` filled in (``<folder>/../x`` written as the sibling path it names)."""
    return spec.manual.format(folder=folder).replace(f"{folder}/../", f"{folder.parent}/")


def prepare(
    spec: PrepareSpec, folder: Path, *, force: bool = False, fetcher: Fetcher | None = None, label: str = ""
) -> str:
    """Make ``spec``'s files exist under ``folder``: fetch what is missing, verify, convert; returns a summary.

    Raises:
        ConfigError: one line: the missing file, the source, and what to put where (offline, not written yet,
            a checksum mismatch, or a missing extra).
    """
    label = label or spec.name
    expected = [folder / f for f in spec.files]
    missing = [p for p in expected if not p.exists()]
    if spec.fetch is None or spec.convert is None:
        if not missing:
            return f"{label}: present: {', '.join(str(p) for p in expected)} (not verified: no checksum known)"
        raise ConfigError(
            f"{label}: {missing[0]} is missing; automatic download/conversion is not implemented: "
            f"{_manual(spec, folder)} (source: {spec.source})"
        )
    # normpath: an input may sit beside the folder (../_hub/...) before the folder itself exists
    inputs_ready = bool(spec.inputs) and all(Path(os.path.normpath(folder / i)).exists() for i in spec.inputs)
    if not missing and not force and spec.inputs and not inputs_ready:  # converted by hand: nothing to redo
        return f"{label}: present: {', '.join(str(p) for p in expected)} (not converted here: --force downloads)"
    if force or not inputs_ready:
        try:
            spec.fetch(fetcher or Fetcher(), folder)
        except Offline as exc:
            what = missing[0] if missing else expected[0]
            raise ConfigError(
                f"{label}: {what} is missing and {spec.source} cannot be reached ({exc}); "
                f"{_manual(spec, folder)}, then rerun: python run.py prepare --dataset {label}"
            ) from None
    summary = spec.convert(folder)
    still = [p for p in expected if not p.exists()]
    if still:
        raise ConfigError(f"{label}: conversion did not produce {still[0]}")
    return f"{label}: {summary}"


def run_prepare(cfg: Config, names: list[str], *, force: bool = False, fetcher: Fetcher | None = None) -> int:
    """The ``prepare`` command: prepare each named dataset, printing one line each; returns the exit status."""
    for name in names:
        spec, folder = resolve(cfg, name)
        print(prepare(spec, folder, force=force, fetcher=fetcher, label=name))
    return 0
