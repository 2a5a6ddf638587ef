"""The Dataset base class and the DATASETS registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from evalkit.registry import Registry
from evalkit.types import RecordError, Sample


@dataclass(frozen=True)
class NoOptions:
    """A dataset without config keys of its own."""


@dataclass
class LoadResult:
    """What a dataset load gives: the good samples and the records that could not be read.

    Attributes:
        samples: valid samples, in file order.
        errors: one entry per bad record (file, line, field, reason); they count as failed samples.
    """

    samples: list[Sample] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)


class Dataset:
    """Base of every dataset: turns files into typed Samples whose msg is the prompt.

    Args:
        name: the dataset entry's name.
        options: an instance of the class's ``Options`` dataclass.
        root: the config's ``dataset_root``.
    """

    Options: ClassVar[type] = NoOptions
    #: bump when the prompt a Sample carries changes: stored predictions are then redone.
    prompt_version: ClassVar[str] = "v1"
    #: the judge used when the user names none.
    default_judge: ClassVar[str] = ""

    def __init__(self, name: str, options: Any = None, root: Path | None = None) -> None:
        self.name = name
        self.options = options if options is not None else self.Options()
        self.root = root or Path("data")
        #: the judge used when the command line names none (config entry's ``judge``, else the class default)
        self.judge_name = self.default_judge

    def load(self) -> LoadResult:
        """Read the dataset. Bad records go to ``errors``; only configuration problems raise."""
        raise NotImplementedError


DATASETS: Registry[type[Dataset]] = Registry("dataset")
