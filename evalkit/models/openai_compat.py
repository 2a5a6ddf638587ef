"""OpenAI-compatible chat backend: vLLM, llama.cpp's server, the OpenAI API and any compatible endpoint.

Async over one aiohttp session; the runner bounds how many requests are in flight and the endpoint's shared
:mod:`evalkit.limiter` how many of them are on the wire. Retries with exponential backoff and jitter on 429, 5xx,
timeouts and dropped connections, honouring ``Retry-After``. Several ``base_url``s are replicas of one model
(:mod:`evalkit.models.replicas`): requests go to the least loaded, a failing replica's retries to another.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from evalkit.errors import ConfigError, ModelError
from evalkit.limiter import Limiter, check_bounds, endpoint_of, limiter_for
from evalkit.mediaproc.budget import MediaBudget
from evalkit.mediaproc.cache import MediaCache
from evalkit.models.base import MODELS, Model
from evalkit.models.openai_messages import Converted, MediaPlan, not_read_reason, to_openai_content
from evalkit.models.replicas import Replica, ReplicaPool
from evalkit.types import Generation, Msg, Part, Sample

if TYPE_CHECKING:  # imported where an entry asks for them: a plain text run loads none of them
    from evalkit.models.describe_media import MediaDescriber
    from evalkit.models.openai_audio import AudioOut
    from evalkit.render.produce import Producer

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: statuses that say "too many requests": the endpoint's limiter cuts its limit
OVERLOAD_STATUS = {429: "throttled", 503: "unavailable", 504: "unavailable"}
#: wire forms of a JSON-schema reply format, tried in this order when probing an endpoint
SCHEMA_FORMS = ("openai", "llama-cpp")
_PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "integer", "enum": [7]}},
    "required": ["answer"],
    "additionalProperties": False,
}


def response_format(form: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` field asking for replies in ``schema``.

    Args:
        form: ``openai`` (OpenAI structured outputs; vLLM takes the same field) or ``llama-cpp``
            (llama-cpp-python's server, whose ``json_object`` format carries the schema).
        name: the schema's name (OpenAI requires one).
        schema: the JSON schema.
    """
    if form == "openai":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if form == "llama-cpp":
        return {"type": "json_object", "schema": schema}
    raise ValueError(f"unknown response_format form {form!r} (known: {', '.join(SCHEMA_FORMS)})")


@dataclass(frozen=True)
class OpenAIOptions:
    """Config keys of an OpenAI-compatible model entry.

    Attributes:
        base_url: endpoint root ending in ``/v1``, or a list of them: replicas of one model (vLLM servers on
            several GPUs or nodes), balanced by least outstanding requests. Not part of the prediction key.
        model: the model name the server knows (``Qwen/Qwen2.5-Omni-3B``, ``gpt-4o-mini``).
        api_key_env: name of the environment variable holding the key; empty for local servers.
        modalities: part types the model reads; others become a text note recorded on the Prediction.
        media_transport: ``data_url`` (base64 in the request) or ``file_url`` (server reads local files).
        system_prompt: optional system message.
        timeout_s: per-request timeout.
        max_retries: retries after the first attempt on retryable failures.
        backoff_s: first backoff; doubles each retry, with jitter, capped at 60 s.
        concurrency: requests in flight at once; with ``adaptive``, the ceiling of each endpoint's limit.
        concurrency_floor: with ``adaptive``, the lowest limit an endpoint's 429s, 503s and timeouts may cut to.
        adaptive: share one AIMD limiter per endpoint (:mod:`evalkit.limiter`) with every other entry calling it;
            off: ``concurrency`` requests in flight whatever the endpoint answers.
        serve_command: the command that starts the server, printed when nothing answers at base_url.
        embedded: ``smollm2`` to have evalkit start llama.cpp's server on loopback (CPU default).
        describe_media: modality -> CPU captioner for media the model cannot read (``audio: whisper-cpu``);
            the model then gets a tagged description instead of a "not shown" note.
        unread_media: ``error`` (default): stop before the first call when samples hold media the model
            cannot read (not in ``modalities``, not described); ``note``: send a "not shown" note instead and
            count those samples in every report row.
        serve: overrides of evalkit.models.catalog.VLLMSettings for ``run.py serve``.
        media: per-kind media budgets (``evalkit.mediaproc.budget.MediaBudget``): images fitted to a pixel
            budget, videos as sampled frames for image-only models, point clouds as three-view images.
            Unset: media files are sent as they are.
        produce: kind -> renderer (``audio: espeak-ng``, ``document: page-png``, ``image: text-card``,
            ``video: video-card``, ``threeD: placeholder-cloud``, ``code: inline``): a cascade; the model is
            asked to mark the media its answer produces and evalkit renders each mark into a file of the run
            (``evalkit.render``).
        produce_when_asked: kinds (``[audio, document, image, video, threeD]``) rendered from the answer itself
            where the request asks for them (the fixed lexicon of ``evalkit.render.request``) and the answer
            marked none of that kind (recorded as ``from: request``).
        produce_marks: ask the model to mark the media it produces (off for models too small to follow the
            protocol: they produce media only where ``produce_when_asked`` or a fenced code block says so).
        audio_out: ask the endpoint for spoken output (``{voice: alloy, format: wav}``: ``modalities:
            ["text", "audio"]``); the reply's audio is stored and cited as produced media. An endpoint that
            refuses is told once and answered in text from then on.
    """

    base_url: str | tuple[str, ...] = "http://localhost:8000/v1"
    model: str = ""
    api_key_env: str = ""
    modalities: tuple[str, ...] = ("text",)
    media_transport: str = "data_url"
    system_prompt: str = ""
    timeout_s: float = 300.0
    max_retries: int = 4
    backoff_s: float = 1.0
    concurrency: int = 8
    concurrency_floor: int = 1
    adaptive: bool = True
    serve_command: str = ""
    embedded: str = ""
    describe_media: dict[str, str] = field(default_factory=dict)
    unread_media: str = "error"
    serve: dict[str, Any] = field(default_factory=dict)
    media: MediaBudget | None = None
    produce: dict[str, str] = field(default_factory=dict)
    produce_when_asked: tuple[str, ...] = ()
    produce_marks: bool = True
    audio_out: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        urls = self.urls
        if not urls:
            raise ConfigError("base_url: give at least one URL")
        for url in urls:
            try:
                endpoint_of(url)
            except ConfigError:
                raise ConfigError(f"base_url: {url!r} is not an http:// or https:// URL") from None
        if len(set(urls)) != len(urls):
            raise ConfigError(f"base_url: a replica is listed twice: {', '.join(urls)}")
        check_bounds(self.concurrency_floor, self.concurrency, "concurrency_floor", "concurrency")

    @property
    def urls(self) -> tuple[str, ...]:
        """The replicas' roots, without trailing slashes."""
        given = (self.base_url,) if isinstance(self.base_url, str) else self.base_url
        return tuple(u.rstrip("/") for u in given)


class RetryableError(Exception):
    """A failure worth another try (429, 5xx, timeout, dropped connection).

    Args:
        message: what happened.
        retry_after: the server's Retry-After in seconds, if any.
        overload: the limiter's name for a "too many requests" signal (``throttled``, ``unavailable``,
            ``timeout``), or "".
        fault: the replica itself failed (dropped connection, 5xx): cool it down, retry on another.
    """

    def __init__(self, message: str, retry_after: float | None = None, overload: str = "", fault: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.overload = overload
        self.fault = fault
        self.url = ""  # the replica it happened on, set by the model


def retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def backoff_delay(attempt: int, base: float, retry_after: float | None, cap: float = 60.0) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): Retry-After if given, else jittered exponential."""
    if retry_after is not None:
        return min(retry_after, cap)
    return min(cap, base * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


@MODELS.register("openai")
class OpenAICompatModel(Model):
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    Options = OpenAIOptions
    NOT_IN_KEY = frozenset(
        {
            "base_url",
            "api_key_env",
            "timeout_s",
            "max_retries",
            "backoff_s",
            "concurrency",
            "concurrency_floor",
            "adaptive",
            "serve_command",
            "serve",
            "unread_media",
        }
    )
    options: OpenAIOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool = ReplicaPool(self.options.urls)
        self.base_url = self.options.urls[0]  # named in messages; requests go to the pool's pick
        self._session: aiohttp.ClientSession | None = None
        self._server: Any = None
        self.requests_sent = 0
        self._plan = MediaPlan(self.options.media, MediaCache() if self.options.media is not None else None)
        self._schema_form: str | None = None  # probed once: a SCHEMA_FORMS entry, or "" when none is honoured
        self._schema_lock = asyncio.Lock()
        self._describer: MediaDescriber | None = None
        if self.options.describe_media:
            from evalkit.models.describe_media import MediaDescriber

            self._describer = MediaDescriber(self.options.describe_media)
        self._producer: Producer | None = None
        if self.options.produce:
            from evalkit.render.produce import Producer

            self._producer = Producer(self.options.produce, self.options.produce_when_asked)
        self._audio_out: AudioOut | None = None
        if self.options.audio_out:
            from evalkit.models.openai_audio import AudioOut

            self._audio_out = AudioOut(self.options.audio_out)

    def bind_run_dir(self, run_dir: Path) -> None:
        if self._producer is not None:
            self._producer.run_dir = run_dir
        if self._audio_out is not None:
            self._audio_out.run_dir = run_dir

    async def respond(self, sample: Sample) -> Generation:
        """Answer; with ``produce`` set, ask for media marks and render them (see :mod:`evalkit.render`)."""
        if self._producer is None and self._audio_out is None:
            return await self.generate_inner(sample.msg)
        msg = sample.msg
        if self._producer is not None and self.options.produce_marks:
            msg = (*msg, Part("text", self._producer.instruction(sample.msg)))
        gen = await self._generate(msg, None)
        if self._audio_out is not None:
            gen = self._audio_out.store(sample.id, sample.msg, gen)
        if self._producer is not None:
            gen = await self._producer.apply(sample.id, sample.msg, gen)
        return gen

    async def start(self) -> None:
        if self.options.embedded:
            await self._start_embedded()
        connector = aiohttp.TCPConnector(limit=max(1, self.concurrency), ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.options.timeout_s)
        )
        await self._check_endpoint()

    async def _start_embedded(self) -> None:
        if self.options.embedded != "smollm2":
            raise ModelError(f"model {self.name}: unknown embedded server {self.options.embedded!r} (known: smollm2)")
        from evalkit.embedded.llama_server import start_smollm2_server

        self._server = await asyncio.to_thread(start_smollm2_server)
        self.base_url = self._server.base_url.rstrip("/")
        self._pool = ReplicaPool([self.base_url])

    async def _check_endpoint(self) -> None:
        """Every replica is asked for ``/models``; silent ones start cooled down, none answering is an error."""
        replicas = self._pool.replicas
        answered = await asyncio.gather(*(self._answers(r.url) for r in replicas), return_exceptions=True)
        for outcome in answered:
            if isinstance(outcome, BaseException):
                await self.close()
                raise outcome
        if not any(answered):
            await self.close()
            hint = self.options.serve_command or "an OpenAI-compatible server"
            where = " or ".join(r.url for r in replicas)
            raise ModelError(f"model {self.name}: nothing answers at {where}. Start it with: {hint}")
        for replica, ok in zip(replicas, answered, strict=True):
            if not ok:
                self._pool.mark(replica, failed=True)
                print(
                    f"note: model {self.name}: nothing answers at {replica.url}; using the other replicas", flush=True
                )

    async def _answers(self, url: str) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(
                f"{url}/models", headers=self._headers(), timeout=aiohttp.ClientTimeout(total=10)
            ) as resp:
                if resp.status in (401, 403):
                    raise ModelError(
                        f"model {self.name}: {url} refused the API key (HTTP {resp.status}); "
                        f"set {self.options.api_key_env or 'the key variable'} in the environment or .env"
                    )
        except (TimeoutError, aiohttp.ClientConnectionError):
            return False
        return True

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._server is not None:
            await asyncio.to_thread(self._server.stop)
            self._server = None

    def media_not_read(self, part: Part) -> str:
        if part.type in self.options.describe_media:
            return ""
        return not_read_reason(part, ("text", *self.options.modalities), self.options.media is not None)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.options.api_key_env, "") if self.options.api_key_env else ""
        return {"Authorization": f"Bearer {key or 'EMPTY'}"}

    def build_request(self, msg: Msg) -> tuple[dict[str, Any], dict[str, Any], Converted]:
        """The request body, its loggable form (media as paths) and the converted content (handling, reports)."""
        conv = to_openai_content(msg, ("text", *self.options.modalities), self.options.media_transport, self._plan)
        messages: list[dict[str, Any]] = []
        logged: list[dict[str, Any]] = []
        if self.options.system_prompt:
            messages.append({"role": "system", "content": self.options.system_prompt})
            logged.append(messages[0])
        only_text = all(p["type"] == "text" for p in conv.content)
        content: Any = "".join(p["text"] for p in conv.content) if only_text else conv.content
        messages.append({"role": "user", "content": content})
        logged.append({"role": "user", "content": content if only_text else conv.logged})
        gen = self.gen
        body: dict[str, Any] = {
            "model": self.options.model or self.name,
            "messages": messages,
            "max_tokens": gen.max_tokens,
            "temperature": gen.temperature,
            "top_p": gen.top_p,
        }
        if gen.seed is not None:
            body["seed"] = gen.seed
        return body, {**body, "messages": logged}, conv

    async def generate_inner(self, msg: Msg) -> Generation:
        return await self._generate(msg, None)

    async def json_schema_form(self) -> str:
        """The ``response_format`` form this endpoint honours for a JSON schema (``openai``, ``llama-cpp``), or "".

        Probed once per model with a small request whose schema admits a single reply: a form counts when the
        endpoint accepts it and the reply is exactly that JSON; the next form is tried only after a refusal
        (HTTP 4xx), so an endpoint that ignores the field costs one probe.
        """
        async with self._schema_lock:
            if self._schema_form is None:
                self._schema_form = ""
                for form in SCHEMA_FORMS:
                    honoured = await self._honours(form)
                    if honoured is not None:  # accepted: honoured, or ignored (another form will be too)
                        self._schema_form = form if honoured else ""
                        break
            return self._schema_form

    async def _honours(self, form: str) -> bool | None:
        """Whether the endpoint honours one form of the field; None when it refuses the request (HTTP 4xx)."""
        body = {
            "model": self.options.model or self.name,
            "messages": [{"role": "user", "content": "Reply with a JSON object."}],
            "max_tokens": 24,
            "temperature": 0.0,
            "response_format": response_format(form, "probe", _PROBE_SCHEMA),
        }
        try:
            data = await self._post(body)
        except ModelError:  # HTTP 4xx: the field or this form of it is refused
            return None
        except RetryableError as exc:
            if "response_format" in str(exc):  # llama-cpp-python answers a refused field with HTTP 500
                return None
            data = await self._post_with_retries(body)
        content = ((data.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
        try:
            return bool(json.loads(content) == {"answer": 7})
        except ValueError:
            return False

    async def generate_structured(self, msg: Msg, name: str, schema: dict[str, Any]) -> Generation:
        """Answer ``msg`` with a reply constrained to ``schema`` (see :meth:`json_schema_form`).

        Raises:
            ModelError: the endpoint honours no JSON-schema reply format.
        """
        form = await self.json_schema_form()
        if not form:
            raise ModelError(f"model {self.name}: {self.base_url} honours no JSON-schema response_format")
        return await self._generate(msg, response_format(form, name, schema))

    async def _generate(self, msg: Msg, fmt: dict[str, Any] | None) -> Generation:
        described: dict[str, str] = {}
        if self._describer is not None:
            msg, described = await self._describer.apply(msg, self.options.modalities)
        if self._plan.budget is not None and any(p.is_media for p in msg):
            body, logged, conv = await asyncio.to_thread(self.build_request, msg)  # decoding blocks
        else:
            body, logged, conv = self.build_request(msg)
        handling = {**conv.handling, **described}
        if fmt is not None:
            body["response_format"] = logged["response_format"] = fmt
        elif self._audio_out is not None and self._audio_out.supported is not False:
            self._audio_out.add_to(body)
            self._audio_out.add_to(logged)
        data = await self._post_audio_aware(body)
        choice = (data.get("choices") or [{}])[0]
        content = (choice.get("message") or {}).get("content")
        audio = (choice.get("message") or {}).get("audio")
        if content is None and isinstance(audio, dict) and audio.get("transcript"):
            content = str(audio["transcript"])  # OpenAI audio replies carry the text as the audio's transcript
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content is None:
            raise ModelError(f"reply has no message content (finish_reason={choice.get('finish_reason')!r})")
        meta: dict[str, Any] = {"usage": data.get("usage"), "finish_reason": choice.get("finish_reason")}
        if handling:
            meta["media"] = handling
        if conv.reports:
            meta["media_reports"] = conv.reports
        if isinstance(audio, dict) and audio.get("data"):
            meta["audio_reply"] = audio
        return Generation(text=content, prompt=logged, meta=meta)

    async def _post_audio_aware(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post; an endpoint that refuses the audio fields (HTTP 4xx) is told once and asked in text only."""
        if "audio" not in body or self._audio_out is None:
            return await self._post_with_retries(body)
        try:
            return await self._post_with_retries(body)
        except ModelError as exc:
            if "HTTP 4" not in str(exc):
                raise
            self._audio_out.refused(self.name, self.base_url, str(exc))
            plain = {k: v for k, v in body.items() if k not in ("audio", "modalities")}
            return await self._post_with_retries(plain)

    async def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        tried: set[str] = set()
        while True:
            try:
                return await self._post(body, avoid=tried)
            except RetryableError as exc:
                tried.add(exc.url)
                if exc.fault and self._pool.another_healthy(tried):
                    continue  # a failing replica: another one takes the request at once, no attempt spent
                attempt += 1
                if attempt > self.options.max_retries:
                    raise RetryableError(f"gave up after {attempt} attempts: {exc}") from None
                await asyncio.sleep(backoff_delay(attempt, self.options.backoff_s, exc.retry_after))
                if len(tried) >= len(self._pool):
                    tried.clear()  # every replica failed once: any may take the next try

    def _limiter(self, url: str) -> Limiter | None:
        if not self.options.adaptive:
            return None
        ceiling = max(1, self.concurrency)  # --concurrency may set it below the entry's floor: the flag wins
        return limiter_for(url, min(self.options.concurrency_floor, ceiling), ceiling)

    async def _post(self, body: dict[str, Any], avoid: set[str] | None = None) -> dict[str, Any]:
        """One request to the replica the pool picks, through its endpoint's limiter."""
        if self._session is None:
            raise ModelError(f"model {self.name} was not started")
        replica = self._pool.pick(avoid or ())
        failed = False
        try:
            limiter = self._limiter(replica.url)
            if limiter is None:
                return await self._send(replica, body)
            async with limiter.slot() as generation:
                t0 = time.monotonic()
                try:
                    data = await self._send(replica, body)
                except RetryableError as exc:
                    if exc.overload:
                        limiter.on_overload(exc.overload, generation, exc.retry_after)
                    raise
                limiter.on_success(time.monotonic() - t0)
                return data
        except RetryableError as exc:
            exc.url, failed = replica.url, exc.fault
            raise
        finally:
            self._pool.done(replica, failed=failed)

    async def _send(self, replica: Replica, body: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        self.requests_sent += 1
        try:
            async with self._session.post(
                f"{replica.url}/chat/completions", json=body, headers=self._headers()
            ) as resp:
                if resp.status in RETRY_STATUS:
                    text = (await resp.text())[:200]
                    raise RetryableError(
                        f"HTTP {resp.status}: {text}",
                        retry_after(resp.headers),
                        overload=OVERLOAD_STATUS.get(resp.status, ""),
                        fault=resp.status >= 500,
                    )
                if resp.status >= 400:
                    text = (await resp.text())[:500]
                    raise ModelError(f"HTTP {resp.status} from {replica.url}: {text}")
                try:
                    data = await resp.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError) as exc:
                    raise RetryableError(f"HTTP {resp.status} with a cut-off or non-JSON body: {exc}") from None
                if not isinstance(data, dict):
                    raise RetryableError(f"HTTP {resp.status} with a body that is not a JSON object: {data!r:.80}")
                return data
        except TimeoutError:
            raise RetryableError(
                f"no reply within {self.options.timeout_s:g} s", overload="timeout", fault=True
            ) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}", fault=True) from None
