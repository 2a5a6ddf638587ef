"""Whether a run's outputs already hold what this run would write, so that a rerun need not redo them.

``samples.<judge>.jsonl``, the three scored exports and the reports are a function of the dataset's files and
options, the media files the samples send, the model's and judge's identities, the run's store files
(predictions, workers' parts, the judge's verdicts) and evalkit's code that writes them. At the end of a run,
``.outputs.<judge>.json`` in the run folder records a hash of all of these (files by size, modification time
and inode, not content), each output's size and modification time, and the run's result (report rows, counts,
tokens). Two levels use it:

- a **plain rerun** (``--mode all``, one process, nothing forced) that finds the same hash, untouched outputs and
  a last run that answered and judged every readable sample reads no store and writes nothing: its result is
  the recorded one (a run that left failures is not recorded as done: a rerun retries them);
- any other run that computed nothing new (``--mode eval``, a judge that sees the whole corpus first) leaves the
  per-sample outputs as they are when they are current, and writes the reports.

What invalidates it: any append to the store (a new prediction or verdict, a ``--reeval``, another worker's part,
a compaction), a touched data or media file, another model, judge or dataset option, ``--limit``, a changed
evalkit module that writes these files, an output edited or removed (``report.csv`` holds every judge's rows:
another judge's run invalidates it too). Two runs writing to one run folder at the same moment can leave the
earlier one's outputs recorded as current until the next change (concurrent runs' outputs were last-writer-wins
before this, too).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from evalkit.datasets.base import Dataset, FilesDataset
from evalkit.judges.base import Judge
from evalkit.models.base import Model
from evalkit.report import RunFacts
from evalkit.store import RunStore, part_paths, safe_name, write_atomic
from evalkit.types import Sample, stable_hash

#: bump when samples.<judge>.jsonl or the exports change form: every recorded stamp is then stale
OUTPUTS_FORMAT = 1
#: evalkit's modules whose code decides what those files hold
_WRITERS = ("report.py", "export.py", "jsontext.py", "scoring.py", "job.py", "freshness.py", "judges/base.py")


def _stat(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _options(obj: Any) -> Any:
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else repr(obj)


def outputs_inputs(
    store: RunStore,
    judge: Judge,
    model: Model,
    dataset: Dataset,
    facts: RunFacts,
    counts: Sequence[int],
    samples: Sequence[Sample],
) -> str:
    """The hash of what the per-sample outputs of this run depend on; empty where it cannot be told (a dataset not
    read from files)."""
    if not isinstance(dataset, FilesDataset):
        return ""
    media = sorted({p.value for s in samples for p in s.msg if p.is_media})  # prediction keys hash their content
    package = Path(__file__).parent
    code = [(name, _stat(package / name)) for name in _WRITERS]
    judge_file = inspect.getsourcefile(type(judge)) or ""
    code.append((judge_file, _stat(Path(judge_file)) if judge_file else None))
    runs = [store.merged_predictions_path, *part_paths(store.dir), store.verdicts_path(judge.name)]
    return stable_hash(
        {
            "format": OUTPUTS_FORMAT,
            "code": code,
            "judge": [judge.name, judge.identity(), list(judge.metrics)],
            "model": [model.name, model.identity()],
            "dataset": [dataset.name, type(dataset).__name__, dataset.prompt_version, _options(dataset.options)],
            "data": [(str(p), _stat(p)) for p in dataset.files()],
            "media": [(m, _stat(Path(m))) for m in media],
            "facts": [facts.partial, list(facts.empty_files), list(counts)],
            "store": [(str(p), _stat(p)) for p in runs],
            "run_dir": str(store.dir.resolve()),
        },
        32,
    )


def stamp_path(store: RunStore, judge: str) -> Path:
    return store.dir / f".outputs.{safe_name(judge)}.json"


def _recorded(store: RunStore, judge: str, inputs: str) -> dict[str, Any] | None:
    """The stamp of ``judge``'s outputs when they were made from ``inputs`` and are there, untouched since."""
    if not inputs:
        return None
    try:
        recorded = json.loads(stamp_path(store, judge).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or recorded.get("inputs") != inputs or not recorded.get("files"):
        return None
    if any(_stat(store.dir / name) != st for name, st in recorded["files"].items()):
        return None
    return recorded


def outputs_current(store: RunStore, judge: str, inputs: str) -> bool:
    """True when the recorded outputs were made from ``inputs`` and are there, untouched since."""
    return _recorded(store, judge, inputs) is not None


def recorded_summary(store: RunStore, judge: str, inputs: str) -> dict[str, Any] | None:
    """What the last run recorded of its result, when a plain rerun now would compute nothing and write the same:
    the outputs are current for ``inputs`` and that run ended with every sample answered and judged (a failed
    prediction or verdict is retried by a rerun)."""
    recorded = _recorded(store, judge, inputs)
    summary = recorded.get("summary") if recorded is not None else None
    return summary if isinstance(summary, dict) and summary.get("complete") is True else None


def record_outputs(
    store: RunStore, judge: str, inputs: str, paths: Sequence[Path], summary: dict[str, Any] | None = None
) -> None:
    """Record that ``paths`` are current for ``inputs``, with the run's ``summary`` (nothing without ``inputs``)."""
    path = stamp_path(store, judge)
    if not inputs:
        path.unlink(missing_ok=True)
        return
    files = {os.path.relpath(p, store.dir): _stat(p) for p in paths if p.exists()}
    stamp = {"inputs": inputs, "files": files, "summary": summary}
    write_atomic(path, json.dumps(stamp, indent=1, default=str) + "\n")


def stamped_outputs(store: RunStore, judge: str) -> list[Path]:
    """The per-sample outputs (``samples.<judge>.jsonl``, the ``scored.<judge>`` exports) the stamp of ``judge``
    records (empty without a stamp)."""
    try:
        names = list(json.loads(stamp_path(store, judge).read_text(encoding="utf-8")).get("files", {}))
    except (OSError, ValueError, AttributeError):
        return []
    return [store.dir / name for name in names if Path(name).parts[0].startswith(("samples.", "scored."))]
