"""Dense captions of media for judges: captioners per modality, a cross-run cache, tag resolution, inlining.

A captioner is either a built-in CPU one (``whisper-cpu``, ``image-cpu``, ``video-cpu``, ``document-cpu``,
``pointcloud-cpu``, ``inline``) or ``model:<entry>``: a model entry of config.yaml (an omni model on vLLM)
asked to describe the file. Captions are cached by file content hash + captioner identity, so each distinct
file is captioned once per captioner across runs.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.media import TEXT_SUFFIXES, file_sha256, probe_media, read_text_file
from evalkit.models.base import Model
from evalkit.store import AppendLog, read_jsonl
from evalkit.types import Msg, Part, Prediction, Sample, stable_hash

CAPTION_PROMPT_VERSION = "caption-v1"
CAPTION_PROMPTS = {
    "audio": "Describe this audio in dense detail: transcribe any speech, then describe sounds, music and mood.",
    "video": "Describe this video in dense detail: what is shown, what happens, and what is said or heard.",
    "image": "Describe this image in dense detail: objects, colours, layout, any text, and style.",
    "document": "Transcribe and summarise this document page: its title, text, tables and figures.",
    "threeD": "Describe the 3D object shown: its shape, proportions and what it likely is.",
}
TAG_RE = re.compile(r"<((?:image|audio|video|document|code|threeD)\d+)>")


class Captioner:
    """Turns one media part into text. Subclasses set ``identity`` and implement ``_caption``."""

    def __init__(self, name: str, identity: dict[str, Any]) -> None:
        self.name = name
        self.identity = identity

    async def start(self) -> None:
        """Load or connect what the captioner needs."""

    async def close(self) -> None:
        """Release it."""

    async def caption(self, part: Part) -> str:
        """Caption one part; raises on failure (the judge records it)."""
        raise NotImplementedError


class FunctionCaptioner(Captioner):
    """A blocking function run in a worker thread, one call at a time (CPU models are not re-entrant)."""

    def __init__(self, name: str, identity: dict[str, Any], fn: Callable[[Path], str]) -> None:
        super().__init__(name, identity)
        self._fn = fn
        self._lock = threading.Lock()

    def _call(self, path: Path) -> str:
        with self._lock:
            return self._fn(path)

    async def caption(self, part: Part) -> str:
        return await asyncio.to_thread(self._call, Path(part.value))


class InlineCaptioner(Captioner):
    """Code and text documents are their own caption."""

    def __init__(self) -> None:
        super().__init__("inline", {"captioner": "inline", "version": 1})

    async def caption(self, part: Part) -> str:
        if part.type == "code":
            return part.value.strip()
        path = Path(part.value)
        if path.suffix.lower() in TEXT_SUFFIXES:
            return read_text_file(path, 4000).strip()
        raise ValueError(f"the inline captioner reads code and text files only, not {path.name}")


class ModelCaptioner(Captioner):
    """Asks a model entry (an omni model served by vLLM) to describe the media densely."""

    def __init__(self, model: Model) -> None:
        super().__init__(f"model:{model.name}", {"model": model.identity(), "prompt": CAPTION_PROMPT_VERSION})
        self.model = model

    async def start(self) -> None:
        await self.model.start()

    async def close(self) -> None:
        await self.model.close()

    async def caption(self, part: Part) -> str:
        """Decode the file here first, so a corrupt one fails clearly instead of whatever the server makes of it."""
        if part.type != "code":
            await asyncio.to_thread(probe_media, part.type, Path(part.value))
        prompt = CAPTION_PROMPTS.get(part.type, "Describe this in dense detail.")
        gen = await self.model.generate_inner((Part(part.type, part.value), Part("text", prompt)))
        return gen.text.strip()


def _whisper() -> Callable[[Path], str]:
    from evalkit.embedded.whisper import WhisperTranscriber

    t = WhisperTranscriber()

    def run(path: Path) -> str:
        text = t.transcribe(path)
        return f"Speech: {text}" if text else "No speech detected."

    return run


def _video() -> Callable[[Path], str]:
    from evalkit.embedded.describe import describe_video
    from evalkit.embedded.whisper import WhisperTranscriber

    t = WhisperTranscriber()
    return lambda path: describe_video(path, t)


def _describe(fn_name: str) -> Callable[[], Callable[[Path], str]]:
    def make() -> Callable[[Path], str]:
        from evalkit.embedded import describe

        fn: Callable[[Path], str] = getattr(describe, fn_name)
        return fn

    return make


BUILTIN_CAPTIONERS: dict[str, Callable[[], Callable[[Path], str]]] = {
    "whisper-cpu": _whisper,
    "video-cpu": _video,
    "image-cpu": _describe("describe_image"),
    "document-cpu": _describe("describe_document"),
    "pointcloud-cpu": _describe("describe_point_cloud"),
}


def make_captioner(spec: str, model_factory: Callable[[str], Model]) -> Captioner:
    """Build a captioner from its config name (``whisper-cpu``, ``inline``, ``model:<entry>``)."""
    if spec == "inline":
        return InlineCaptioner()
    if spec.startswith("model:"):
        return ModelCaptioner(model_factory(spec.removeprefix("model:")))
    if spec in BUILTIN_CAPTIONERS:
        return FunctionCaptioner(spec, {"captioner": spec, "version": 1}, BUILTIN_CAPTIONERS[spec]())
    known = ", ".join([*BUILTIN_CAPTIONERS, "inline", "model:<model entry>"])
    raise ConfigError(f"unknown captioner {spec!r}; known: {known}")


class CaptionCache:
    """Captions by (content hash, captioner identity), persisted as JSONL and shared by all runs.

    Concurrent requests for the same file wait for one captioning call.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mem: dict[str, str] = {}
        for rec in read_jsonl(path):
            self._mem[rec["key"]] = rec["caption"]
        self._log: AppendLog | None = None
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self.calls = 0

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def key(part: Part, captioner: Captioner) -> str:
        content = stable_hash(part.value, 64) if part.type == "code" else file_sha256(Path(part.value))
        return stable_hash({"content": content, "captioner": captioner.identity}, 32)

    async def get(self, part: Part, captioner: Captioner) -> str:
        """The cached caption, or a new one (errors propagate and are not cached)."""
        key = self.key(part, captioner)
        if key in self._mem:
            return self._mem[key]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            self.calls += 1
            text = await captioner.caption(part)
            self._mem[key] = text
            if self._log is None:
                self._log = AppendLog(self.path)
            self._log.append({"key": key, "captioner": captioner.name, "file": part.value, "caption": text})
            fut.set_result(text)
            return text
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]


def resolve_tags(text: str, pred: Prediction, sample: Sample) -> tuple[dict[str, Part], list[str]]:
    """Media for every tag the text cites: the prediction's own parts first, then the input's.

    Returns:
        (tag -> part, tags that name no media).
    """
    own = {p.tag: p for p in pred.parts if p.tag}
    given = {p.tag: p for p in sample.msg if p.tag}
    found: dict[str, Part] = {}
    missing: list[str] = []
    for tag in dict.fromkeys(TAG_RE.findall(text)):
        part = own.get(tag) or given.get(tag)
        if part is None:
            missing.append(tag)
        else:
            found[tag] = part
    return found, missing


def inline_captions(text: str, captions: dict[str, str]) -> str:
    """Replace ``<tag>`` with ``<tag:caption>`` (tags without a caption stay as they are)."""
    return TAG_RE.sub(
        lambda m: f"<{m.group(1)}:{captions[m.group(1)]}>" if m.group(1) in captions else m.group(0), text
    )


def input_media(msg: Msg) -> dict[str, Part]:
    """Tag -> media part of the sample's input."""
    return {p.tag: p for p in msg if p.tag}
