"""``run.py report RUN_DIR --html`` and ``--html`` on a run: find the run's store, rebuild its dataset, write."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from evalkit.config import Config
from evalkit.errors import ConfigError, EvalkitError
from evalkit.factory import build_dataset
from evalkit.html.report import write_run_report
from evalkit.store import RunStore
from evalkit.types import Sample

log = logging.getLogger(__name__)


def store_of(run_dir: Path) -> RunStore:
    """The RunStore of a run folder, from the model and dataset its manifest names."""
    path = run_dir / "manifest.json"
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a run folder (expected eval_results/<model>/<dataset>/)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        model, dataset = str(manifest["model"]["name"]), str(manifest["dataset"]["name"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot read the run's model and dataset ({type(exc).__name__}: {exc})") from None
    store = RunStore(run_dir.parent.parent, model, dataset)
    if store.dir.resolve() != run_dir.resolve():
        raise ConfigError(f"{run_dir}: its manifest names {model} / {dataset}, whose folder is {store.dir}")
    return store


def dataset_samples(cfg: Config, dataset: str) -> tuple[list[Sample] | None, str]:
    """The dataset's samples, or None and why they could not be loaded (the page then shows stored text only)."""
    try:
        return list(build_dataset(cfg, dataset).load().samples), ""
    except (EvalkitError, OSError, ValueError) as exc:
        log.debug("dataset %s not loaded", dataset, exc_info=True)
        return None, f"dataset {dataset} could not be loaded ({exc}); prompts are not shown, answers as stored"


def write_report(cfg: Config, store: RunStore, *, embed_media: bool = False, secrets: Sequence[str] = ()) -> Path:
    """Write the run page of ``store``, with the prompts of its dataset when the config can load it."""
    samples, note = dataset_samples(cfg, store.dataset)
    return write_run_report(store, samples, embed_media=embed_media, note=note, secrets=secrets)


def report_command(
    cfg: Config, run_dirs: Sequence[Path], *, html: bool, embed_media: bool, secrets: Sequence[str] = ()
) -> int:
    """``run.py report RUN_DIR [RUN_DIR ...] --html``: write each run's page, print its path."""
    if not run_dirs:
        raise ConfigError("report needs a run folder: python run.py report eval_results/<model>/<dataset> --html")
    if not html:
        raise ConfigError("report writes HTML only for now: add --html")
    for run_dir in run_dirs:
        path = write_report(cfg, store_of(run_dir), embed_media=embed_media, secrets=secrets)
        print(f"wrote {path}")
    return 0
