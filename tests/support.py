"""Test helpers: a real OpenAI-compatible dev server on loopback, configs and record files in tmp dirs."""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

from evalkit.embedded.llama_server import LocalServer, free_port

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
  echo: {{backend: openai, base_url: "{base_url}", model: echo, modalities: [image], concurrency: 4,
          max_retries: 2, backoff_s: 0.01}}
  judge: {{backend: openai, base_url: "{base_url}", model: {judge_model}, max_retries: 1, backoff_s: 0.01}}
judges:
  llm: {{class: coherence-llm, judge_model: judge, max_parse_retries: 1}}
{extra}
"""
    cfg = tmp / "config.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg
