"""A small OpenAI-compatible server for benchmarks and pipeline tests: ``python -m evalkit.devserver``.

It answers ``/v1/chat/completions`` deterministically according to the requested model name, with an
optional fixed latency and injected failures, and counts requests (``GET /stats``), so tests can check
that a rerun makes no model calls. It is not a model: real runs use vLLM or llama.cpp's server.

``/v1/embeddings`` answers both request shapes of vLLM: ``input`` (a string or a list of strings, one vector
each) and ``messages`` (one chat conversation whose images are ``data:`` URLs, one vector). Vectors are
:func:`dev_embedding` of the pieces: a text's UTF-8 bytes, an image's decoded bytes; a messages input is the
sum of the vectors of its images and of its text parts joined with newlines. Only ``data:`` URLs are accepted
(HTTP 400 otherwise): the server fetches nothing.

Model names it understands:
    echo          "Echo: " + the request's text (first 300 characters), citing its media tags.
    judge-json    a JSON verdict whose scores depend on the request text (stable across runs).
    judge-messy   the same scores as prose ("Coherence: 4/5 ...").
    judge-bad     a reply with no scores.
    judge-range   scores out of range (coherence 9).
    judge-noschema  like judge-json, but refuses any ``response_format`` with HTTP 400 (a server without
                  structured outputs).
    marks         a cascade's text model: one short sentence, then a mark for each medium the request offers
                  (``<audio2: ...>``, ``<document1: ...>``, ``<image2: ...>``, ``<code2: ...>``).
    speaker       an omni model: with ``modalities: ["text", "audio"]`` it adds ``message.audio`` (a wav spoken by
                  espeak-ng, base64, with its transcript). Every other model refuses the audio fields (HTTP 400).

``/v1/audio/speech`` speaks ``input`` with espeak-ng (a real wav, so Whisper can hear it back); the model name
``fail-tts`` is refused with HTTP 400, as a TTS endpoint that cannot serve a request.

A request with a JSON-schema ``response_format`` (OpenAI's ``json_schema`` form, or llama-cpp-python's
``json_object`` with a ``schema``) to ``judge-json`` is answered with an object of the schema's shape (enum
members and integers chosen from the request text); the other models ignore the field, as some servers do.
``GET /stats`` counts requests per reply format and returns the last schema seen, so tests can check what
reached the server. ``--truncate-first N`` answers the first N chat requests with HTTP 200 and a body cut off
mid-JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

TAG = re.compile(r"<((?:image|audio|video|document|code|threeD)\d+)>")
EMBED_DIM = 64


def dev_embedding(data: bytes) -> np.ndarray:
    """The devserver's unit vector (``EMBED_DIM`` float64) for some bytes: normal noise seeded by their sha256."""
    seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    vec = np.random.default_rng(seed).standard_normal(EMBED_DIM)
    return np.asarray(vec / np.linalg.norm(vec), dtype=np.float64)


def _message_vector(messages: Any) -> np.ndarray:
    """The vector of a ``messages`` embedding input; ValueError for anything but text and data-URL images."""
    texts: list[str] = []
    vec = np.zeros(EMBED_DIM)
    for m in messages if isinstance(messages, list) else []:
        content = m.get("content") if isinstance(m, dict) else None
        parts: list[Any] = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for p in parts:
            if not isinstance(p, dict):
                raise ValueError("a message content part must be an object")
            if p.get("type") == "text":
                texts.append(str(p.get("text", "")))
            elif p.get("type") == "image_url":
                url = str((p.get("image_url") or {}).get("url", ""))
                head, _, payload = url.partition(",")
                if not (head.startswith("data:") and head.endswith(";base64")):
                    raise ValueError(f"only data: URLs are accepted, got {url[:40]!r}")
                try:
                    vec += dev_embedding(base64.b64decode(payload, validate=True))
                except binascii.Error:
                    raise ValueError("bad base64 in a data: URL") from None
            else:
                raise ValueError(f"unsupported content part {p.get('type')!r}")
    if texts:
        vec += dev_embedding("\n".join(texts).encode())
    if not vec.any():
        raise ValueError("messages hold no text and no image")
    return vec


def _text(body: dict[str, Any]) -> str:
    out = []
    for m in body.get("messages", []):
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(out)


def _scores(text: str) -> tuple[int, int]:
    h = hashlib.sha256(text.encode()).digest()
    return 1 + h[0] % 5, 1 + h[1] % 5


def request_schema(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The reply format a request asks for: (``text`` | ``json_schema`` | ``json_object``, its schema)."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return "text", None
    kind = str(fmt.get("type", "text"))
    if kind == "json_schema":
        inner = fmt.get("json_schema") or {}
        return kind, inner.get("schema") if isinstance(inner, dict) else None
    return kind, fmt.get("schema") if isinstance(fmt.get("schema"), dict) else None


def schema_reply(schema: dict[str, Any], text: str) -> str:
    """A JSON object of the schema's shape whose values depend on the request text (stable across runs)."""
    h = hashlib.sha256(text.encode()).digest()
    out: dict[str, Any] = {}
    for i, (name, prop) in enumerate((schema.get("properties") or {}).items()):
        prop = prop if isinstance(prop, dict) else {}
        if prop.get("enum"):
            out[name] = prop["enum"][h[i % len(h)] % len(prop["enum"])]
        elif prop.get("type") == "integer":
            lo, hi = int(prop.get("minimum", 1)), int(prop.get("maximum", 5))
            out[name] = lo + h[i % len(h)] % (hi - lo + 1)
        elif prop.get("type") == "boolean":
            out[name] = bool(h[i % len(h)] % 2)
        else:
            out[name] = "deterministic dev judge"
    return json.dumps(out)


MARK_OFFER = re.compile(r"<((audio|document|image|code)\d+): [^>]*>")
MARK_CONTENT = {
    "audio": "Yes, the concert begins this evening in the city park, near the old fountain.",
    "document": "Library opening hours\nMonday to Friday: nine in the morning to five in the afternoon.",
    "image": "Two shapes side by side: a red circle on the left and a blue square on the right.",
    "code": "def mean(values):\n    return sum(values) / len(values)",
}


def marks_answer(text: str) -> str:
    """The ``marks`` model's reply: a sentence and one mark per medium the request offers."""
    offered = dict.fromkeys(MARK_OFFER.findall(text))
    marks = " ".join(f"<{tag}: {MARK_CONTENT[kind]}>" for tag, kind in offered)
    return f"Here is my answer. {marks}".strip()


async def espeak_wav(text: str) -> bytes:
    """``text`` spoken by espeak-ng, as wav bytes.

    Raises:
        RuntimeError: espeak-ng is missing or failed.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        proc = await asyncio.create_subprocess_exec(
            exe, "-w", str(out), "--stdin", stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        await proc.communicate(text.encode("utf-8"))
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"espeak-ng failed (exit {proc.returncode})")
        return out.read_bytes()


def answer(model: str, text: str) -> str:
    """The deterministic reply for a model name and request text."""
    coh, sty = _scores(text)
    if model in ("judge-json", "judge-noschema"):
        return json.dumps({"coherence": coh, "style_consistency": sty, "reason": "deterministic dev judge"})
    if model == "judge-messy":
        return f"Sure! Here is my assessment.\n**Coherence**: {coh}/5\n**Style consistency** - {sty}/5\nThanks."
    if model == "judge-bad":
        return "I think the answer is quite good overall."
    if model == "judge-range":
        return '{"coherence": 9, "style_consistency": 3}'
    if model == "marks":
        return marks_answer(text)
    if model == "speaker":
        return "The concert starts at seven thirty in the city park."
    tags = list(dict.fromkeys(TAG.findall(text)))
    cite = f" As {' and '.join(f'<{t}>' for t in tags[:2])} show." if tags else ""
    return "Echo: " + text[:300].replace("\n", " ") + cite


class DevServer:
    """State of the server: latency, failures to inject, request counts.

    Args:
        latency_s: delay before every reply.
        fail_first: answer the first N requests (chat and embeddings) with HTTP 503 (Retry-After: 0).
        truncate_first: answer the first N chat requests with HTTP 200 and a body cut off mid-JSON.
    """

    def __init__(self, latency_s: float = 0.0, fail_first: int = 0, truncate_first: int = 0) -> None:
        self.latency_s = latency_s
        self.fail_first = fail_first
        self.truncate_first = truncate_first
        self.requests = 0
        self.chats = 0
        self.by_model: dict[str, int] = {}
        self.by_format: dict[str, int] = {}
        self.last_schema: dict[str, Any] | None = None

    async def _admit(self, body: dict[str, Any]) -> web.Response | None:
        """Count the request, wait the latency, and answer 503 while injected failures remain."""
        self.requests += 1
        model = str(body.get("model", "echo"))
        self.by_model[model] = self.by_model.get(model, 0) + 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.requests <= self.fail_first:
            return web.json_response({"error": "injected failure"}, status=503, headers={"Retry-After": "0"})
        return None

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = await self._admit(body)
        if refused is not None:
            return refused
        model = str(body.get("model", "echo"))
        kind, schema = request_schema(body)
        self.by_format[kind] = self.by_format.get(kind, 0) + 1
        if schema is not None:
            self.last_schema = schema
        if kind != "text" and model == "judge-noschema":
            return web.json_response({"error": {"message": "response_format is not supported"}}, status=400)
        wants_audio = "audio" in body or "audio" in (body.get("modalities") or [])
        if wants_audio:
            self.by_format["audio"] = self.by_format.get("audio", 0) + 1
        if wants_audio and model != "speaker":
            return web.json_response({"error": {"message": "audio output is not supported"}}, status=400)
        text = _text(body)
        reply = schema_reply(schema, text) if schema is not None and model == "judge-json" else answer(model, text)
        message: dict[str, Any] = {"role": "assistant", "content": reply}
        if wants_audio:
            wav = await espeak_wav(reply)
            message = {
                "role": "assistant",
                "content": None,
                "audio": {"id": f"audio-{self.requests}", "data": base64.b64encode(wav).decode(), "transcript": reply},
            }
        payload = {
            "id": f"dev-{self.requests}",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": len(reply.split())},
        }
        self.chats += 1
        if self.chats <= self.truncate_first:
            cut = json.dumps(payload)
            return web.Response(body=cut[: len(cut) // 2].encode(), content_type="application/json")
        return web.json_response(payload)

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = await self._admit(body)
        if refused is not None:
            return refused
        model = str(body.get("model", "echo"))
        try:
            if "messages" in body:
                vectors = [_message_vector(body["messages"])]
            else:
                raw = body.get("input")
                inputs = [raw] if isinstance(raw, str) else raw
                if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
                    raise ValueError("'input' must be a string or a non-empty list of strings")
                vectors = [dev_embedding(x.encode()) for x in inputs]
        except ValueError as exc:
            return web.json_response({"error": {"message": str(exc)}}, status=400)
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return web.json_response({"object": "list", "model": model, "data": data, "usage": {"prompt_tokens": 0}})

    async def speech(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = await self._admit(body)
        if refused is not None:
            return refused
        self.by_format["speech"] = self.by_format.get("speech", 0) + 1
        text = str(body.get("input", "")).strip()
        if body.get("model") == "fail-tts" or not text:
            return web.json_response({"error": {"message": "this voice cannot speak that"}}, status=400)
        return web.Response(body=await espeak_wav(text), content_type="audio/wav")

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "echo", "object": "model"}]})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": self.requests,
                "by_model": self.by_model,
                "by_format": self.by_format,
                "last_schema": self.last_schema,
            }
        )

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/audio/speech", self.speech)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/stats", self.stats)
        return app


def main(argv: list[str] | None = None) -> None:
    """Run the dev server until interrupted."""
    p = argparse.ArgumentParser(
        prog="python -m evalkit.devserver", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    p.add_argument("--fail-first", type=int, default=0, help="answer the first N requests with 503")
    p.add_argument("--truncate-first", type=int, default=0, help="answer the first N chats with a cut-off body")
    args = p.parse_args(argv)
    server = DevServer(args.latency, args.fail_first, args.truncate_first)
    web.run_app(
        server.app(),
        host=args.host,
        port=args.port,
        print=lambda *_: print(f"evalkit devserver on http://{args.host}:{args.port}/v1", flush=True),
        access_log=None,
    )


if __name__ == "__main__":
    main()
