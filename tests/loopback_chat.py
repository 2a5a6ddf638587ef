"""A scripted OpenAI-compatible chat server on loopback for the limiter and replica tests: a fixed latency, and
HTTP 429 (with Retry-After) for any request beyond a hidden concurrency limit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web
from support import LoopbackApp

from evalkit.models.base import Model
from evalkit.runner import run_pool
from evalkit.types import Part, Prediction, Sample


class ThrottlingChat(LoopbackApp):
    """Answers ``/v1/chat/completions`` after ``latency_s``; refuses with 429 while ``limit`` requests are in flight.

    Args:
        latency_s: seconds each answer takes.
        limit: the hidden concurrency limit (None: none).
        retry_after: the Retry-After header of a 429, in seconds ("" to send none).
    """

    def __init__(self, latency_s: float = 0.02, limit: int | None = None, retry_after: str = "0.05") -> None:
        super().__init__()
        self.latency_s, self.limit, self.retry_after = latency_s, limit, retry_after
        self.in_flight = self.max_in_flight = self.served = self.refused = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "echo"}]})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.limit is not None and self.in_flight >= self.limit:
            self.refused += 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response({"error": "too many requests"}, status=429, headers=headers)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1
        self.served += 1
        text = f"Echo: {body['messages'][-1]['content']}"
        return web.json_response({"choices": [{"message": {"content": text}, "finish_reason": "stop"}]})


def text_samples(n: int) -> list[Sample]:
    """``n`` one-line text samples."""
    return [Sample(id=str(i), msg=(Part("text", f"question {i}"),)) for i in range(n)]


async def predict_all(model: Model, samples: Sequence[Sample]) -> list[Prediction]:
    """Start ``model``, predict every sample through the runner's pool (``model.concurrency`` workers), close."""
    out: list[Prediction] = []

    async def one(s: Sample) -> None:
        out.append(await model.predict(s, s.id))

    await model.start()
    try:
        await run_pool(samples, one, model.concurrency, "test", progress=False)
    finally:
        await model.close()
    return out
