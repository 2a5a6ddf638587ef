"""evalkit: a plugin-based evaluation framework for multimodal models."""

from evalkit.api import Evaluation, aevaluate, evaluate
from evalkit.datasets.base import DATASETS, Dataset, LoadResult
from evalkit.errors import ConfigError, DatasetError, EvalkitError, ModelError
from evalkit.judges.base import JUDGES, Judge, JudgeContext, JudgeFailure, Scored
from evalkit.models.base import MODELS, Model
from evalkit.registry import Registry
from evalkit.types import GenConfig, Generation, Part, Prediction, RecordError, Sample, Verdict

__all__ = [
    "DATASETS",
    "JUDGES",
    "MODELS",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "EvalkitError",
    "Evaluation",
    "GenConfig",
    "Generation",
    "Judge",
    "JudgeContext",
    "JudgeFailure",
    "LoadResult",
    "Model",
    "ModelError",
    "Part",
    "Prediction",
    "RecordError",
    "Registry",
    "Sample",
    "Scored",
    "Verdict",
    "aevaluate",
    "evaluate",
]
