"""Model backends: the built-in ones are lazy registry entries, imported when a run first uses one."""

from evalkit.models.base import MODELS, Model

#: backend name -> "module:class"; each module also registers its class by decorator (tests check they agree)
BUILTIN = {
    "cascade": "evalkit.models.cascade:CascadeModel",
    "faster-whisper": "evalkit.models.whisper_asr:WhisperASRModel",
    "hf-clip-embed": "evalkit.models.hf_embed:HFClipEmbedding",
    "hf-qwen2-audio": "evalkit.models.hf_qwen2_audio:Qwen2AudioHF",
    "hf-qwen2.5-omni": "evalkit.models.hf_qwen_omni:QwenOmniHF",
    "hf-qwen2.5-vl": "evalkit.models.hf_qwen_vl:QwenVLHF",
    "minilm-embed": "evalkit.models.minilm_embed:MiniLMEmbedding",
    "openai": "evalkit.models.openai_compat:OpenAICompatModel",
    "openai-embed": "evalkit.models.openai_embed:OpenAIEmbedding",
    "replay": "evalkit.models.replay:ReplayModel",
    "vllm-offline": "evalkit.models.vllm_offline:VLLMOfflineModel",
}
MODELS.lazy_table(BUILTIN)

__all__ = ["BUILTIN", "MODELS", "Model"]
