"""The ``vllm-offline`` backend: ``vllm.LLM`` in process, fed in batches.

The runner calls ``respond`` once per sample with bounded concurrency; a small asyncio batcher gathers the
requests in flight (up to ``batch_size``, waiting at most ``batch_wait_s`` after the first) into one
``LLM.chat`` call. Messages go through the same OpenAI-style content adapter as the server backend; vLLM
applies the model's chat template and turns the media parts into the prompt's ``multi_modal_data``.

Limitation: ``LLM.chat`` returns when its whole batch is done, so the next batch starts after the slowest
answer of the current one (a server keeps batching continuously). When a batch call raises, its requests are
retried one by one, so one bad input fails one sample, never its batch mates.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalkit.errors import ConfigError, ModelError, missing_extra
from evalkit.models.base import MODELS, Model
from evalkit.models.batching import MicroBatcher, run_isolated
from evalkit.models.catalog import CATALOG, VLLMSettings, settings_for
from evalkit.models.openai_messages import not_read_reason, to_openai_content
from evalkit.types import GenConfig, Generation, Msg, Part

Conversation = list[dict[str, Any]]


@dataclass(frozen=True)
class VLLMOfflineOptions:
    """Config keys of a ``vllm-offline`` model entry.

    Attributes:
        model: Hugging Face id or local folder (default: the preset's model, else the entry's name).
        preset: a catalog name (``Qwen2.5-Omni-3B``) whose vLLM settings are the base.
        engine: overrides of :class:`~evalkit.models.catalog.VLLMSettings` fields (``max_model_len: 8192``).
        modalities: part types the model reads; others become a text note recorded on the Prediction.
        media_transport: ``data_url`` (base64) or ``file_url`` (needs ``engine.allowed_local_media_path``).
        system_prompt: optional system message.
        batch_size: most requests per ``LLM.chat`` call (0: the engine's ``max_num_seqs``).
        batch_wait_s: how long a batch waits for more requests after its first.
        concurrency: requests the runner keeps in flight; at least ``batch_size`` for full batches.
        unread_media: ``error`` (default) stops before the first call when samples hold media the model does
            not read; ``note`` sends a "not shown" note and counts those samples in the report.
    """

    model: str = ""
    preset: str = ""
    engine: dict[str, Any] = field(default_factory=dict)
    modalities: tuple[str, ...] = ("text",)
    media_transport: str = "data_url"
    system_prompt: str = ""
    batch_size: int = 0
    batch_wait_s: float = 0.05
    concurrency: int = 64
    unread_media: str = "error"


@dataclass(frozen=True)
class EngineResult:
    """One answer from the engine.

    Attributes:
        text: the generated text.
        finish_reason: ``stop``, ``length`` or the engine's own word.
        prompt_tokens: tokens of the rendered prompt, media tokens included.
        completion_tokens: tokens generated.
    """

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Engine(Protocol):
    """What the backend needs from an engine: batched chat generation, blocking."""

    def generate(self, conversations: list[Conversation], gen: GenConfig) -> list[EngineResult]:
        """One result per conversation, in order."""
        ...

    def close(self) -> None:
        """Free the GPU."""
        ...


class VLLMEngine:
    """:class:`Engine` over ``vllm.LLM``."""

    def __init__(self, model: str, settings: VLLMSettings) -> None:
        """Load the model (blocking: minutes for large checkpoints).

        Raises:
            ConfigError: vllm is not installed (names the extra).
        """
        if importlib.util.find_spec("vllm") is None:
            raise missing_extra("vllm", "vllm")
        import vllm

        self._vllm = vllm
        self._llm: Any = vllm.LLM(model=model, **settings.engine_kwargs())

    def generate(self, conversations: list[Conversation], gen: GenConfig) -> list[EngineResult]:
        params = self._vllm.SamplingParams(
            max_tokens=gen.max_tokens, temperature=gen.temperature, top_p=gen.top_p, seed=gen.seed
        )
        outputs = self._llm.chat(conversations, params, use_tqdm=False)
        results = []
        for out in outputs:
            best = out.outputs[0]
            results.append(
                EngineResult(
                    text=best.text,
                    finish_reason=best.finish_reason,
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    completion_tokens=len(best.token_ids or ()),
                )
            )
        return results

    def close(self) -> None:
        shutdown = getattr(self._llm, "shutdown", None)
        if callable(shutdown):
            shutdown()
        self._llm = None
        gc.collect()


@dataclass(frozen=True)
class _Request:
    conversation: Conversation
    logged: Conversation
    handling: dict[str, str]


@MODELS.register("vllm-offline")
class VLLMOfflineModel(Model):
    """A model run by ``vllm.LLM`` in this process, requests batched.

    Args:
        name: the model entry's name.
        options: :class:`VLLMOfflineOptions`.
        gen: generation parameters.
        engine: an already built :class:`Engine` (default: a :class:`VLLMEngine` built by ``start``).
    """

    Options = VLLMOfflineOptions
    NOT_IN_KEY = frozenset({"batch_size", "batch_wait_s", "concurrency", "unread_media"})
    options: VLLMOfflineOptions

    def __init__(
        self, name: str, options: Any = None, gen: GenConfig | None = None, engine: Engine | None = None
    ) -> None:
        super().__init__(name, options, gen)
        where = f"models.{name}.engine"
        self.settings = settings_for(self.options.preset, dict(self.options.engine), where)
        preset = CATALOG.get(self.options.preset)
        self.model_id = self.options.model or (preset.model if preset is not None else name)
        if self.options.media_transport not in ("data_url", "file_url"):
            raise ConfigError(f"models.{name}.media_transport: expected data_url or file_url")
        if self.options.media_transport == "file_url" and not self.settings.allowed_local_media_path:
            raise ConfigError(
                f"models.{name}: media_transport file_url needs engine.allowed_local_media_path "
                "(the folder the media lie under)"
            )
        self._engine = engine
        self._owns_engine = engine is None
        size = self.options.batch_size or self.settings.max_num_seqs
        self.batcher: MicroBatcher[_Request, EngineResult] = MicroBatcher(
            self._run_batch, size, self.options.batch_wait_s
        )

    async def start(self) -> None:
        if self._engine is None:
            # built on the loop's thread: vLLM sets up its workers and signal handling at construction
            self._engine = VLLMEngine(self.model_id, self.settings)

    async def close(self) -> None:
        await self.batcher.close()
        if self._engine is not None and self._owns_engine:
            await asyncio.to_thread(self._engine.close)
            self._engine = None

    def identity(self) -> dict[str, Any]:
        """The base identity plus the resolved model id and the engine settings that change answers."""
        out = super().identity()
        s = self.settings
        out["engine"] = {
            "model": self.model_id,
            "dtype": s.dtype,
            "max_model_len": s.max_model_len,
            "limit_mm_per_prompt": s.limit_mm_per_prompt,
            "trust_remote_code": s.trust_remote_code,
        }
        return out

    def media_not_read(self, part: Part) -> str:
        return not_read_reason(part, ("text", *self.options.modalities), budgeted=False)

    def build_request(self, msg: Msg) -> _Request:
        """The chat conversation for one msg, its loggable form (media as paths) and the media handling."""
        conv = to_openai_content(msg, ("text", *self.options.modalities), self.options.media_transport)
        only_text = all(p["type"] == "text" for p in conv.content)
        content: Any = "".join(p["text"] for p in conv.content) if only_text else conv.content
        logged_content: Any = content if only_text else conv.logged
        head: Conversation = []
        if self.options.system_prompt:
            head.append({"role": "system", "content": self.options.system_prompt})
        return _Request(
            conversation=[*head, {"role": "user", "content": content}],
            logged=[*head, {"role": "user", "content": logged_content}],
            handling=conv.handling,
        )

    async def _run_batch(self, batch: list[_Request]) -> list[EngineResult | BaseException]:
        engine = self._engine
        if engine is None:
            raise ModelError(f"model {self.name} was not started")
        return await run_isolated(batch, lambda reqs: engine.generate([r.conversation for r in reqs], self.gen))

    async def generate_inner(self, msg: Msg) -> Generation:
        request = self.build_request(msg)
        result = await self.batcher.submit(request)
        meta: dict[str, Any] = {
            "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens},
            "finish_reason": result.finish_reason,
        }
        if request.handling:
            meta["media"] = request.handling
        prompt = {"model": self.model_id, "messages": request.logged, **self.gen.to_json()}
        return Generation(text=result.text, prompt=prompt, meta=meta)
