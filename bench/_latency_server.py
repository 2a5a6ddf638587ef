"""A loopback OpenAI-compatible server for ``bench/peers.py`` (not a benchmark itself).

Run as its own process (``python bench/_latency_server.py --port P --latency 0.2``) so that no measured tool
shares its event loop. ``POST /v1/chat/completions`` waits ``--latency`` seconds and answers a complete
chat completion (every field the ``openai`` client validates); ``POST /v1/responses`` does the same in the
Responses API's shape. Each request's arrival and finish are recorded on ``time.monotonic()`` (one clock
for every process on Linux), so the caller can compute the request window: the first arrival to the last
finish. ``GET /stats`` returns the count, the number of distinct prompts and the window; ``POST /reset``
clears them between tools.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from aiohttp import web


class LatencyServer:
    """Request log and fixed latency.

    Args:
        latency_s: seconds before every reply.
    """

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.arrivals: list[float] = []
        self.finishes: list[float] = []
        self.by_text: dict[str, int] = {}

    async def _wait(self, text: str) -> int:
        self.arrivals.append(time.monotonic())
        self.by_text[text] = self.by_text.get(text, 0) + 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return len(self.arrivals)

    @staticmethod
    def _reply(text: str) -> str:
        return "Echo: " + text[:200]

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        messages = body.get("messages") or [{}]
        content = messages[-1].get("content", "")
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        n = await self._wait(text)
        reply = self._reply(text)
        payload = {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "echo")),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 3, "total_tokens": 3},
        }
        self.finishes.append(time.monotonic())
        return web.json_response(payload)

    async def responses(self, request: web.Request) -> web.Response:
        body = await request.json()
        raw = body.get("input", "")
        text = raw if isinstance(raw, str) else str(raw)[:200]
        n = await self._wait(text)
        reply = self._reply(text)
        payload: dict[str, Any] = {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": str(body.get("model", "echo")),
            "output": [
                {
                    "type": "message",
                    "id": f"msg_{n}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": reply, "annotations": []}],
                }
            ],
            "parallel_tool_calls": False,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 1,
                "output_tokens": 3,
                "total_tokens": 4,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
        self.finishes.append(time.monotonic())
        return web.json_response(payload)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "echo", "object": "model", "owned_by": "bench"}]})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": len(self.arrivals),
                "answered": len(self.finishes),
                "first_arrival": min(self.arrivals, default=None),
                "last_finish": max(self.finishes, default=None),
                "distinct": len(self.by_text),
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.arrivals.clear()
        self.finishes.clear()
        self.by_text.clear()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/responses", self.responses)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/reset", self.reset)
        return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--latency", type=float, default=0.2, help="seconds before each reply")
    args = p.parse_args()
    # backlog: a peer may open hundreds of connections at once
    web.run_app(
        LatencyServer(args.latency).app(), host=args.host, port=args.port, print=None, access_log=None, backlog=1024
    )


if __name__ == "__main__":
    main()
