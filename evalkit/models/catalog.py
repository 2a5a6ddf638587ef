"""vLLM settings per registered GPU model, rendered as a ``vllm serve`` command or as ``vllm.LLM`` arguments.

One :class:`VLLMSettings` record per model is the single source of both the server command
(``python run.py serve``, the ``serve_command`` hints in config.yaml) and the in-process engine arguments of the
``vllm-offline`` backend, so the two ways of running a model cannot drift apart. Like VLMEvalKit's model table,
an entry is a few lines; what a model needs beyond the defaults is said next to it.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from evalkit.config import build_options
from evalkit.errors import ConfigError

#: vLLM's own default is 4 MiB (``vllm.entrypoints.constants.H11_MAX_INCOMPLETE_EVENT_SIZE_DEFAULT``); base64
#: video and long audio in one request need more.
H11_EVENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class VLLMSettings:
    """How vLLM runs one model, on a server or in process.

    Attributes:
        dtype: weight and activation dtype (``--dtype``).
        max_model_len: context length in tokens, prompt with media tokens plus answer (``--max-model-len``).
        max_num_batched_tokens: tokens scheduled per engine step (``--max-num-batched-tokens``).
        max_num_seqs: sequences decoded at once (``--max-num-seqs``).
        gpu_memory_utilization: share of GPU memory vLLM takes for weights and KV cache.
        limit_mm_per_prompt: most items per modality in one prompt (``--limit-mm-per-prompt`` as JSON).
        tensor_parallel_size: GPUs one model is split across.
        trust_remote_code: run the model repository's own Python code (models without a built-in loader).
        h11_max_incomplete_event_size: server only: bytes h11 may buffer for one HTTP event (base64 media).
        allowed_local_media_path: directory whose files requests may name as ``file://`` URLs (empty: none).
        extra_args: further ``vllm serve`` flags, verbatim.
    """

    dtype: str = "bfloat16"
    max_model_len: int = 32768
    max_num_batched_tokens: int = 8192
    max_num_seqs: int = 32
    gpu_memory_utilization: float = 0.9
    limit_mm_per_prompt: dict[str, int] = field(default_factory=dict)
    tensor_parallel_size: int = 1
    trust_remote_code: bool = False
    h11_max_incomplete_event_size: int = H11_EVENT_BYTES
    allowed_local_media_path: str = ""
    extra_args: tuple[str, ...] = ()

    def serve_argv(self, model: str, port: int, host: str = "") -> list[str]:
        """The ``vllm serve`` command line for ``model`` listening on ``port``."""
        argv = ["vllm", "serve", model]
        if host:
            argv += ["--host", host]
        argv += [
            "--port",
            str(port),
            "--dtype",
            self.dtype,
            "--max-model-len",
            str(self.max_model_len),
            "--max-num-batched-tokens",
            str(self.max_num_batched_tokens),
            "--max-num-seqs",
            str(self.max_num_seqs),
            "--gpu-memory-utilization",
            f"{self.gpu_memory_utilization:g}",
        ]
        if self.tensor_parallel_size > 1:
            argv += ["--tensor-parallel-size", str(self.tensor_parallel_size)]
        if self.trust_remote_code:
            argv.append("--trust-remote-code")
        if self.allowed_local_media_path:
            argv += ["--allowed-local-media-path", self.allowed_local_media_path]
        argv += ["--h11-max-incomplete-event-size", str(self.h11_max_incomplete_event_size)]
        if self.limit_mm_per_prompt:
            argv += ["--limit-mm-per-prompt", json.dumps(self.limit_mm_per_prompt)]
        return [*argv, *self.extra_args]

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM`` with the same meaning as :meth:`serve_argv`'s flags."""
        kwargs: dict[str, Any] = {
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "max_num_seqs": self.max_num_seqs,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "tensor_parallel_size": self.tensor_parallel_size,
            "trust_remote_code": self.trust_remote_code,
        }
        if self.limit_mm_per_prompt:
            kwargs["limit_mm_per_prompt"] = dict(self.limit_mm_per_prompt)
        if self.allowed_local_media_path:
            kwargs["allowed_local_media_path"] = self.allowed_local_media_path
        return kwargs

    def with_overrides(self, overrides: dict[str, Any], where: str) -> VLLMSettings:
        """A copy with ``overrides`` (config keys, validated like any options mapping) applied."""
        if not overrides:
            return self
        merged = {**_as_config(self), **overrides}
        return build_options(VLLMSettings, merged, where)


def _as_config(settings: VLLMSettings) -> dict[str, Any]:
    out = dataclasses.asdict(settings)
    out["extra_args"] = list(settings.extra_args)
    return out


@dataclass(frozen=True)
class CatalogEntry:
    """A GPU model evalkit knows how to serve.

    Attributes:
        model: the Hugging Face model id vLLM loads (and the name the server answers to).
        settings: how vLLM runs it.
        note: what the model needs beyond ``pip install -e '.[vllm]'`` (gated access, custom loader).
    """

    model: str
    settings: VLLMSettings
    note: str = ""


_OMNI = VLLMSettings(limit_mm_per_prompt={"image": 8, "audio": 8, "video": 4})
_VL = VLLMSettings(limit_mm_per_prompt={"image": 8, "video": 2})
_GEMMA3N = VLLMSettings(limit_mm_per_prompt={"image": 8, "audio": 8})

CATALOG: dict[str, CatalogEntry] = {
    "Qwen2.5-Omni-3B": CatalogEntry("Qwen/Qwen2.5-Omni-3B", _OMNI),
    "Qwen2.5-Omni-7B": CatalogEntry("Qwen/Qwen2.5-Omni-7B", _OMNI),
    "Qwen3-Omni-30B-A3B-Instruct": CatalogEntry(
        "Qwen/Qwen3-Omni-30B-A3B-Instruct",
        dataclasses.replace(_OMNI, max_num_seqs=16, gpu_memory_utilization=0.95),
        note="about 62 GB of bf16 weights: one 80 GB GPU, or tensor_parallel_size 2 on smaller ones; "
        "vLLM serves its thinker (text answers)",
    ),
    "Qwen2-Audio-7B-Instruct": CatalogEntry(
        "Qwen/Qwen2-Audio-7B-Instruct",
        VLLMSettings(max_model_len=8192, limit_mm_per_prompt={"audio": 5}),
        note="its context is 8192 tokens",
    ),
    "Qwen2.5-VL-3B-Instruct": CatalogEntry("Qwen/Qwen2.5-VL-3B-Instruct", _VL),
    "Qwen2.5-VL-7B-Instruct": CatalogEntry("Qwen/Qwen2.5-VL-7B-Instruct", _VL),
    "gemma-3n-E2B-it": CatalogEntry(
        "google/gemma-3n-E2B-it", _GEMMA3N, note="gated: accept the licence on the hub and set HF_TOKEN"
    ),
    "gemma-3n-E4B-it": CatalogEntry(
        "google/gemma-3n-E4B-it", _GEMMA3N, note="gated: accept the licence on the hub and set HF_TOKEN"
    ),
    "Kimi-Audio-7B-Instruct": CatalogEntry(
        "moonshotai/Kimi-Audio-7B-Instruct",
        VLLMSettings(max_model_len=8192, limit_mm_per_prompt={"audio": 1}, trust_remote_code=True),
        note="custom code (trust_remote_code); vLLM's loader (KimiAudioForConditionalGeneration, vLLM >= 0.22) "
        "targets speech recognition; its chat and speech-out need the kimia_infer package from the "
        "MoonshotAI/Kimi-Audio repository (not on PyPI) with the GLM-4-Voice tokenizer and Whisper encoder weights",
    ),
}


def catalog_entry(name: str) -> CatalogEntry | None:
    """The catalog entry of a model entry name, or None."""
    return CATALOG.get(name)


def settings_for(preset: str, overrides: dict[str, Any], where: str) -> VLLMSettings:
    """``preset``'s settings (a catalog name; empty: the defaults) with ``overrides`` applied.

    Raises:
        ConfigError: the preset is unknown or an override is not a :class:`VLLMSettings` field.
    """
    if preset and preset not in CATALOG:
        import difflib

        close = difflib.get_close_matches(preset, list(CATALOG), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(CATALOG)}"
        raise ConfigError(f"{where}: unknown vLLM preset {preset!r}{hint}")
    base = CATALOG[preset].settings if preset else VLLMSettings()
    return base.with_overrides(overrides, where)


def serve_command_text(name: str, port: int = 8000) -> str:
    """The ``serve_command`` hint config.yaml carries for a catalog model (one shell line)."""
    entry = CATALOG[name]
    return shlex.join(entry.settings.serve_argv(entry.model, port))
