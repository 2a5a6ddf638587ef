"""Test helpers: a real OpenAI-compatible dev server on loopback, configs and record files in tmp dirs, a local
``prepare`` fetcher and a toy image-capable embedding backend."""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import io
import json
import shutil
import sys
import tarfile
import textwrap
import threading
import urllib.request
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from aiohttp import web

from evalkit.embedded.llama_server import LocalServer, free_port
from evalkit.errors import ConfigError
from evalkit.models.embedding import EmbeddingModel
from evalkit.prepare import command, table
from evalkit.prepare.fetch import Fetcher, verify
from evalkit.prepare.spec import PrepareSpec

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "interleaved_sample"


class Dev:
    """A running devserver with its request counter."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.base_url = server.base_url

    def requests(self, model: str | None = None) -> int:
        root = self.base_url.removesuffix("/v1")
        with urllib.request.urlopen(f"{root}/stats", timeout=5) as resp:
            stats: dict[str, Any] = json.load(resp)
        return int(stats["requests"] if model is None else stats["by_model"].get(model, 0))


def start_dev(*flags: str) -> LocalServer:
    port = free_port()
    argv = [sys.executable, "-m", "evalkit.devserver", "--port", str(port), *flags]
    return LocalServer(argv, f"http://127.0.0.1:{port}/v1", startup_timeout_s=30).start()


def write_records(path: Path, records: list[Any]) -> Path:
    """Write records pretty-printed, one after another, as the real interleaved files are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r, indent=4) for r in records), encoding="utf-8")
    return path


def code_record(i: int, domain: str = "natural_science") -> dict[str, Any]:
    """A valid text+code record (no media files needed)."""
    return {
        "domain": domain,
        "subdomain": "programming",
        "id": str(i),
        "difficulty": "easy" if i % 2 else "hard",
        "input": {"modal": {"code1": f"```python\nprint({i})\n```"}, "content": f"Explain <code1> number {i}."},
        "output": {"modal": {"code2": f"```python\nprint({i} + 1)\n```"}, "content": f"It prints {i}; see <code2>."},
    }


def write_config(tmp: Path, base_url: str, *, judge_model: str = "judge-json", extra: str = "") -> Path:
    """A config with an echo model and an LLM judge on the dev server, over tmp/data."""
    text = f"""
dataset_root: data
work_dir: results
defaults: {{model: echo, dataset: ds}}
datasets:
  ds: {{class: interleaved, files: ["*.jsonl"], judge: llm}}
models:
  echo: {{backend: openai, base_url: "{base_url}", model: echo, modalities: [image], unread_media: note, concurrency: 4,
          max_retries: 2, backoff_s: 0.01}}
  judge: {{backend: openai, base_url: "{base_url}", model: {judge_model}, max_retries: 1, backoff_s: 0.01}}
judges:
  llm: {{class: coherence-llm, judge_model: judge, max_parse_retries: 1}}
{extra}
"""
    cfg = tmp / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    """A tar.gz archive holding ``members`` (name -> bytes), as upstream archives are laid out."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def spec_folder(tmp_path: Path, name: str) -> tuple[PrepareSpec, Path]:
    """A prepare table entry and its folder under ``tmp_path/data``."""
    spec = table.specs()[name]
    return spec, tmp_path / "data" / spec.folder


def offline_error(spec: PrepareSpec, folder: Path, name: str = "") -> str:
    """``prepare`` offline with nothing there: the message, checked to be one line naming the first missing file."""
    try:
        command.prepare(spec, folder, fetcher=Fetcher(offline=True))
    except ConfigError as exc:
        msg = str(exc)
    else:
        raise AssertionError(f"{spec.name}: prepare succeeded offline with nothing there")
    assert "\n" not in msg
    assert msg.startswith(
        f"{name or spec.name}: {folder / spec.files[0]} is missing and {spec.source} cannot be reached"
    )
    return msg


class LocalFetcher(Fetcher):
    """``prepare``'s online path without a network: URLs from local files, hub repos from local folders.

    Hub files are matched by pattern the way the hub client matches them and checked against their sha256 and
    size, as :meth:`Fetcher.hub` checks a real download. ``calls`` lists each URL or repo id fetched, in order;
    ``hub_calls`` each hub call's (repo id, patterns, destination).
    """

    def __init__(self, urls: dict[str, Path] | None = None, repos: dict[str, Path] | None = None) -> None:
        super().__init__(offline=False)
        self.urls, self.repos = dict(urls or {}), dict(repos or {})
        self.calls: list[str] = []
        self.hub_calls: list[tuple[str, list[str], Path]] = []

    def url(self, url: str, dest: Path) -> None:
        self.calls.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.urls[url], dest)

    def hub(self, repo_id: str, patterns: list[str], dest: Path) -> list[Path]:
        self.calls.append(repo_id)
        self.hub_calls.append((repo_id, patterns, dest))
        root, out = self.repos[repo_id], []
        for src in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = src.relative_to(root).as_posix()
            if any(fnmatch.fnmatch(rel, p) for p in patterns):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dest / rel)
                sha = hashlib.sha256(src.read_bytes()).hexdigest()
                verify(dest / rel, sha256=sha, size=src.stat().st_size, origin=f"the record of {repo_id}")
                out.append(dest / rel)
        return out


class ColourEmbedding(EmbeddingModel):
    """A toy image-capable backend: images by mean RGB, texts by the colour words they name."""

    modalities = frozenset({"text", "image"})
    WORDS: ClassVar[dict[str, tuple[float, float, float]]] = {
        "red": (1.0, 0.0, 0.0),
        "green": (0.0, 1.0, 0.0),
        "blue": (0.0, 0.0, 1.0),
    }

    def embed(self, items: Any, role: Any) -> Any:
        from PIL import Image

        rows = []
        for item in items:
            vec = np.zeros(3)
            for p in item:
                if p.type == "image":
                    vec += np.asarray(Image.open(p.value).convert("RGB"), dtype=float).mean(axis=(0, 1)) / 255
                else:
                    vec += sum((np.array(c) for w, c in self.WORDS.items() if w in p.value), np.zeros(3))
            rows.append(vec)
        return np.stack(rows)


# Files that people (and other tools) create in a checkout; a test run that leaves anything else there wrote
# into the tree instead of its tmp dir.
SOURCE_SUFFIXES = (".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".txt", ".sh", ".in", ".typed")
TOOL_CACHES = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".egg-info", ".venv", ".coverage")


def output_entries(porcelain: str) -> set[str]:
    """The entries of ``git status --porcelain`` output that look like test output, not people's source edits."""
    entries = set()
    for line in porcelain.splitlines():
        path = line[3:].strip('"').rstrip("/")
        if any(cache in path for cache in TOOL_CACHES):
            continue
        if line[:2] != "!!" and (path.endswith(SOURCE_SUFFIXES) or path.endswith("Dockerfile")):
            continue  # source edits are people's work in progress (other sessions edit while tests run)
        entries.add(line)
    return entries


class LoopbackApp:
    """A real aiohttp server on 127.0.0.1, run on a thread of its own; a subclass adds its routes in ``routes``.

    Use it as a context manager; ``url`` is the server root, ``base_url`` the OpenAI-style ``/v1`` root.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v1"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the server's routes to ``app``."""
        raise NotImplementedError

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # base64 media in requests
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def write_qa_run(folder: Path, base_url: str, n: int = 5, ignore_case: bool = True) -> None:
    """A ``qa`` dataset of ``n`` questions (``i+0?``, answer ``i``) and a config with the dev server's echo model
    and an exact-match judge in ``folder``."""
    with (folder / "qa.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "question": f"{i}+0?", "answer": str(i)}) + "\n")
    (folder / "config.yaml").write_text(
        textwrap.dedent(
            f"""
            dataset_root: .
            work_dir: results
            models:
              echo: {{backend: openai, base_url: "{base_url}", model: echo}}
            datasets:
              qa: {{class: qa, files: [qa.jsonl], judge: exact-match}}
            judges:
              exact-match: {{class: exact-match, ignore_case: {str(ignore_case).lower()}}}
            """
        )
    )
