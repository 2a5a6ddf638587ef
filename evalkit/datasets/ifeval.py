"""IFEval's JSONL: one object per line with ``key``, ``prompt``, ``instruction_id_list`` and ``kwargs``.

``kwargs`` is a list of objects, one per instruction id, holding that instruction's arguments (``null`` values,
as in the Hugging Face copy of the data, mean absent). The msg is the prompt alone; the instruction ids and
their arguments go to the sample's meta for the ``ifeval`` judge. Bad lines become RecordErrors naming file,
line and field; the rest load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.datasets.base import DATASETS, FilesDataset
from evalkit.errors import DatasetError
from evalkit.types import Part, Sample


@dataclass(frozen=True)
class IFEvalOptions:
    """Config keys of an IFEval dataset entry.

    Attributes:
        root: data root of this dataset, relative to ``dataset_root`` (empty: ``dataset_root`` itself).
        files: glob patterns of JSONL files, relative to the root.
    """

    root: str = ""
    files: tuple[str, ...] = ("*.jsonl",)


@DATASETS.register("ifeval")
class IFEvalDataset(FilesDataset):
    """IFEval prompts with verifiable instructions, judged by rule-based checkers."""

    Options = IFEvalOptions
    prompt_version = "ifeval-v1"
    default_judge = "ifeval"
    id_field = "key"
    options: IFEvalOptions

    def to_sample(self, rec: Any, path: Path, line: int) -> Sample:
        return to_sample(rec, path, line)


def to_sample(rec: Any, path: Path, line: int) -> Sample:
    """Validate one IFEval record and build its Sample.

    Raises:
        DatasetError: naming the field at fault.
    """
    if not isinstance(rec, dict):
        raise DatasetError(f"a record must be a JSON object, got {type(rec).__name__}")
    for name in ("key", "prompt", "instruction_id_list", "kwargs"):
        if name not in rec:
            raise DatasetError(f"missing field '{name}'", field=name)
    key = rec["key"]
    if isinstance(key, bool) or not isinstance(key, int | str) or not str(key).strip():
        raise DatasetError("'key' must be an integer or a non-empty string", field="key")
    prompt = rec["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise DatasetError("'prompt' must be a non-empty string", field="prompt")
    ids = rec["instruction_id_list"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise DatasetError("'instruction_id_list' must be a non-empty list of strings", field="instruction_id_list")
    kwargs = rec["kwargs"]
    if not isinstance(kwargs, list) or not all(isinstance(k, dict) for k in kwargs):
        raise DatasetError("'kwargs' must be a list of objects", field="kwargs")
    if len(kwargs) != len(ids):
        raise DatasetError(f"'kwargs' has {len(kwargs)} entries for {len(ids)} instruction ids", field="kwargs")
    clean = [{k: v for k, v in kw.items() if v is not None} for kw in kwargs]
    meta = {"key": key, "instruction_id_list": ids, "kwargs": clean, "file": str(path), "line": line}
    return Sample(id=f"{path.stem}:{key}", msg=(Part("text", prompt),), meta=meta)
