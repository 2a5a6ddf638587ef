"""Dataset formats. Importing this package registers the built-in datasets."""

from evalkit.datasets import audio_caption, generic, ifeval, interleaved, kimi_audio, mmeb, video_qa, vlm_tsv
from evalkit.datasets.base import DATASETS, Dataset, LoadResult

__all__ = [
    "DATASETS",
    "Dataset",
    "LoadResult",
    "audio_caption",
    "generic",
    "ifeval",
    "interleaved",
    "kimi_audio",
    "mmeb",
    "video_qa",
    "vlm_tsv",
]
