"""Shared pieces of the core-pipeline benchmarks (not a benchmark itself).

Starts ``python -m evalkit.devserver`` as a subprocess on a free loopback port, builds text-only samples
in memory, builds a real :class:`OpenAICompatModel` against it, and prints result tables. Imported by the
scripts in this folder, which Python puts on ``sys.path`` when one of them is run as ``python bench/x.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing evalkit
    sys.path.insert(0, str(REPO))

from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions  # noqa: E402
from evalkit.types import Part, Sample  # noqa: E402

MODEL = "echo"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class DevServerProc:
    """A running devserver subprocess.

    Attributes:
        proc: the subprocess.
        port: the loopback port it listens on.
    """

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def requests(self) -> int:
        """Chat requests the server has answered so far (``GET /stats``)."""
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/stats", timeout=10) as resp:
            return int(json.load(resp)["requests"])


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/v1/models", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"devserver exited with code {proc.returncode} before answering")
        if _answers(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"devserver did not answer GET /v1/models within {timeout_s:g} s")


@contextmanager
def devserver(latency_s: float = 0.0, timeout_s: float = 30.0) -> Iterator[DevServerProc]:
    """Run the devserver as a subprocess for the duration of the block."""
    port = free_port()
    cmd = [sys.executable, "-m", "evalkit.devserver", "--host", HOST, "--port", str(port), "--latency", str(latency_s)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _wait_ready(proc, port, timeout_s)
        yield DevServerProc(proc, port)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Terminate a server subprocess; kill it if it has not exited within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_samples(n: int) -> list[Sample]:
    """``n`` text-only samples built in memory."""
    return [Sample(id=f"s{i}", msg=(Part("text", f"question {i}"),)) for i in range(n)]


def make_model(base_url: str, concurrency: int) -> OpenAICompatModel:
    """A real OpenAI-compatible model pointed at the devserver's ``echo`` model."""
    opts = OpenAIOptions(base_url=base_url, model=MODEL, modalities=(), concurrency=concurrency)
    return OpenAICompatModel(MODEL, opts)


def raw_body(i: int) -> dict[str, Any]:
    """The request body evalkit sends for sample ``i`` (same shape and defaults), built by hand."""
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"question {i}"}],
        "max_tokens": 512,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 0,
    }


async def raw_posts(base_url: str, n: int, concurrency: int) -> float:
    """Seconds for ``n`` raw POSTs with ``concurrency`` workers over one session (the HTTP floor)."""
    url = f"{base_url}/chat/completions"
    headers = {"Authorization": "Bearer EMPTY"}
    todo = iter(range(n))
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for i in todo:
                async with session.post(url, json=raw_body(i), headers=headers) as resp:
                    resp.raise_for_status()
                    await resp.json(content_type=None)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Print ``(metric, value)`` rows as a two-column table."""
    width = max(len(k) for k, _ in rows)
    vwidth = max(len(v) for _, v in rows)
    print(f"\n{title}")
    print(f"{'metric':<{width}}  {'value':>{vwidth}}")
    print(f"{'-' * width}  {'-' * vwidth}")
    for key, value in rows:
        print(f"{key:<{width}}  {value:>{vwidth}}")


def verdict(met: bool) -> str:
    return "goal met" if met else "goal missed"
