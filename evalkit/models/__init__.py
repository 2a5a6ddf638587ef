"""Model backends. Importing this package registers the built-in backends."""

from evalkit.models import (
    cascade,
    catalog,
    embedding,
    hf_embed,
    hf_qwen2_audio,
    hf_qwen_omni,
    hf_qwen_vl,
    minilm_embed,
    openai_compat,
    openai_embed,
    replay,
    vllm_offline,
    whisper_asr,
)
from evalkit.models.base import MODELS, Model

__all__ = [
    "MODELS",
    "Model",
    "cascade",
    "catalog",
    "embedding",
    "hf_embed",
    "hf_qwen2_audio",
    "hf_qwen_omni",
    "hf_qwen_vl",
    "minilm_embed",
    "openai_compat",
    "openai_embed",
    "replay",
    "vllm_offline",
    "whisper_asr",
]
