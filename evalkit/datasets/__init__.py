"""Dataset formats. Importing this package registers the built-in datasets."""

from evalkit.datasets import interleaved, mmeb
from evalkit.datasets.base import DATASETS, Dataset, LoadResult

__all__ = ["DATASETS", "Dataset", "LoadResult", "interleaved", "mmeb"]
