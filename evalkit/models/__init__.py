"""Model backends. Importing this package registers the built-in backends."""

from evalkit.models import catalog, embedding, minilm_embed, openai_compat, replay, vllm_offline, whisper_asr
from evalkit.models.base import MODELS, Model

__all__ = [
    "MODELS",
    "Model",
    "catalog",
    "embedding",
    "minilm_embed",
    "openai_compat",
    "replay",
    "vllm_offline",
    "whisper_asr",
]
