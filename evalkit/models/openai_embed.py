"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint: vLLM serving VLM2Vec-style models on a GPU.

Request shapes (both POST ``{base_url}/embeddings`` with ``"encoding_format": "float"``):

* **text-only items**: the OpenAI embeddings form, ``{"model": ..., "input": [text, ...]}``, up to
  ``batch_size`` items per request; the reply's ``data[i].embedding`` (ordered by ``index``) is item ``i``.
  An item's text parts are joined with a space, as the CPU backend does.
* **items with an image**: vLLM's chat-style embeddings form, ``{"model": ..., "messages": [{"role": "user",
  "content": [{"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}}, ..., {"type": "text",
  "text": ...}]}]}``, one item per request. The OpenAI form has no place for images; vLLM's ``/v1/embeddings``
  accepts ``messages`` instead of ``input`` and renders them with the model's chat template (for VLM2Vec the
  server must be started with ``--task embed`` / ``--runner pooling`` and VLM2Vec's chat template), which puts
  the image placeholder where VLM2Vec's own code puts it. Parts keep the msg's order (the mmeb dataset puts the
  media first, then the instruction, then the text). Images always travel as ``data:`` URLs, so the server
  needs no access to our files. One conversation makes one vector, hence one request per image item.

Pooling happens on the server (vLLM's pooler config of the model: VLM2Vec uses last-token pooling), so the
``pooling`` option is not sent; ``normalize`` is applied here on the returned vectors as for every backend.
Retries: HTTP 408/409/425/429/5xx, timeouts and dropped connections, with :func:`backoff_delay` (honouring
``Retry-After``); other HTTP errors fail the sample at once with the server's message.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import numpy as np

from evalkit.errors import ConfigError, ModelError
from evalkit.media import data_url
from evalkit.models.base import MODELS
from evalkit.models.embedding import EmbeddingModel, EmbeddingOptions, Role, Vectors, item_text
from evalkit.models.openai_compat import RETRY_STATUS, RetryableError, backoff_delay, retry_after
from evalkit.types import Msg

KNOWN_MODALITIES = ("text", "image")


@dataclass(frozen=True)
class OpenAIEmbedOptions(EmbeddingOptions):
    """Config keys of an ``openai-embed`` model entry (those of :class:`EmbeddingOptions`, plus these).

    Attributes:
        base_url: endpoint root ending in ``/v1``.
        model: the model name the server knows (``TIGER-Lab/VLM2Vec-Qwen2VL-2B``); empty = the entry's name.
        api_key_env: name of the environment variable holding the key; empty for local servers.
        modalities: part types the model reads: ``text`` and/or ``image``. An item with another part type fails
            its sample with a recorded ``UnsupportedInput``.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt on retryable failures.
        backoff_s: first backoff; doubles each retry, with jitter, capped at 60 s.
        concurrency: embedding requests in flight at once within one batch of items.
        serve_command: the command that starts the server, printed when nothing answers at base_url
            (default ``python run.py serve --model <entry name>``).
        serve: overrides of :class:`evalkit.models.catalog.VLLMSettings` for ``run.py serve`` (an embedding
            model needs ``extra_args: [--runner, pooling, --chat-template, <its template>]``).
    """

    base_url: str = "http://localhost:8000/v1"
    model: str = ""
    api_key_env: str = ""
    modalities: tuple[str, ...] = ("text",)
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 1.0
    concurrency: int = 8
    serve_command: str = ""
    serve: dict[str, Any] = field(default_factory=dict)


@MODELS.register("openai-embed")
class OpenAIEmbedding(EmbeddingModel):
    """Text and image embeddings from a server's ``/embeddings`` endpoint (vLLM, or any OpenAI-compatible one)."""

    Options: ClassVar[type] = OpenAIEmbedOptions
    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset(
        {"batch_size", "base_url", "api_key_env", "timeout_s", "max_retries", "backoff_s", "concurrency"}
        | {"serve_command", "serve"}
    )
    options: OpenAIEmbedOptions

    def __init__(self, name: str, options: Any = None, gen: Any = None) -> None:
        super().__init__(name, options, gen)
        unknown = [m for m in self.options.modalities if m not in KNOWN_MODALITIES]
        if unknown:
            raise ConfigError(
                f"model {name}: modalities {unknown[0]!r} is not supported by openai-embed; "
                f"use {' and/or '.join(KNOWN_MODALITIES)}"
            )
        if self.options.max_retries < 0 or self.options.concurrency < 1:
            raise ConfigError(f"model {name}: max_retries must be >= 0 and concurrency >= 1")
        # the part types this entry reads come from config, so they shadow the class default per instance
        setattr(self, "modalities", frozenset(("text", *self.options.modalities)))  # noqa: B010
        self.base_url = self.options.base_url.rstrip("/")
        self.requests_sent = 0

    @property
    def model_name(self) -> str:
        """The model name sent to the server."""
        return self.options.model or self.name

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["weights"] = f"{self.model_name} (server-side pooling)"
        return ident

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.options.api_key_env, "") if self.options.api_key_env else ""
        return {"Authorization": f"Bearer {key or 'EMPTY'}"}

    def _not_running(self) -> ModelError:
        hint = self.options.serve_command or f"python run.py serve --model {self.name}"
        return ModelError(f"model {self.name}: nothing answers at {self.base_url}. Start it with: {hint}")

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(f"{self.base_url}/models", headers=self._headers()) as resp:
                    if resp.status in (401, 403):
                        raise ModelError(
                            f"model {self.name}: {self.base_url} refused the API key (HTTP {resp.status}); "
                            f"set {self.options.api_key_env or 'the key variable'} in the environment or .env"
                        )
        except (TimeoutError, aiohttp.ClientConnectionError):
            raise self._not_running() from None

    def request_bodies(self, items: Sequence[Msg]) -> list[tuple[list[int], dict[str, Any]]]:
        """The requests for ``items``: (the item indices each answers, in order; its JSON body)."""
        out: list[tuple[list[int], dict[str, Any]]] = []
        texts: list[int] = []
        for i, item in enumerate(items):
            if any(p.type != "text" for p in item):
                content = [
                    {"type": "text", "text": p.value}
                    if p.type == "text"
                    else {"type": "image_url", "image_url": {"url": data_url(Path(p.value))}}
                    for p in item
                ]
                body = {"model": self.model_name, "messages": [{"role": "user", "content": content}]}
                out.append(([i], {**body, "encoding_format": "float"}))
            else:
                texts.append(i)
        step = self.options.batch_size
        for start in range(0, len(texts), step):
            idx = texts[start : start + step]
            body = {"model": self.model_name, "input": [item_text(items[i]) for i in idx], "encoding_format": "float"}
            out.append((idx, body))
        return out

    def embed(self, items: Sequence[Msg], role: Role) -> Vectors:
        if not items:
            return np.zeros((0, 1), dtype=np.float32)
        requests = self.request_bodies(items)
        replies = asyncio.run(self._send_all([body for _, body in requests]))
        rows: dict[int, Vectors] = {}
        for (idx, _), vectors in zip(requests, replies, strict=True):
            if vectors.shape[0] != len(idx):
                raise ModelError(
                    f"{self.base_url}/embeddings returned {vectors.shape[0]} vectors for {len(idx)} inputs"
                )
            rows.update(zip(idx, vectors, strict=True))
        dims = {v.shape[0] for v in rows.values()}
        if len(dims) != 1:
            raise ModelError(f"{self.base_url}/embeddings returned vectors of different sizes: {sorted(dims)}")
        return np.stack([rows[i] for i in range(len(items))])

    async def _send_all(self, bodies: list[dict[str, Any]]) -> list[Vectors]:
        gate = asyncio.Semaphore(self.options.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(body: dict[str, Any]) -> Vectors:
                async with gate:
                    return await self._post_with_retries(session, body)

            return list(await asyncio.gather(*(one(b) for b in bodies)))

    async def _post_with_retries(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> Vectors:
        attempt = 0
        while True:
            try:
                return await self._post(session, body)
            except RetryableError as exc:
                attempt += 1
                if attempt > self.options.max_retries:
                    if "ClientConnectorError" in str(exc):
                        raise self._not_running() from None
                    raise RetryableError(f"gave up after {attempt} attempts: {exc}") from None
                await asyncio.sleep(backoff_delay(attempt, self.options.backoff_s, exc.retry_after))

    async def _post(self, session: aiohttp.ClientSession, body: dict[str, Any]) -> Vectors:
        self.requests_sent += 1
        try:
            async with session.post(f"{self.base_url}/embeddings", json=body, headers=self._headers()) as resp:
                if resp.status in RETRY_STATUS:
                    text = (await resp.text())[:200]
                    raise RetryableError(f"HTTP {resp.status}: {text}", retry_after(resp.headers))
                if resp.status >= 400:
                    text = (await resp.text())[:500]
                    raise ModelError(f"HTTP {resp.status} from {self.base_url}/embeddings: {text}")
                data: Any = await resp.json(content_type=None)
        except TimeoutError:
            raise RetryableError(f"no reply within {self.options.timeout_s:g} s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from None
        try:
            rows = sorted(data["data"], key=lambda d: int(d["index"]))
            return np.asarray([d["embedding"] for d in rows], dtype=np.float32).reshape(len(rows), -1)
        except (KeyError, TypeError, ValueError):
            raise ModelError(
                f"{self.base_url}/embeddings: reply is not an embeddings list: {str(data)[:200]}"
            ) from None
