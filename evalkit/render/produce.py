"""Produced media: marks a text model writes (``<audio2: the words to say>``) rendered into files of the run.

Each produced item is written under ``<run dir>/media/<sample>/<tag>-<sha256[:12]>.<ext>`` (content-hashed: a
rerun that renders the same bytes reuses the file), tagged with the next free tag of its kind (``<audio2>``
after an input ``<audio1>``), cited in the answer text and returned as a part of the Generation. A render that
fails leaves its tag cited without a file and records the reason in ``meta["produced_failed"]``; the rest of
the answer stands. Kinds listed in ``when_asked`` are also produced where the request asks for them
(:mod:`evalkit.render.request`) and the answer marked none: the answer itself is rendered as that medium.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.render.base import Rendered, Renderer, make_renderer
from evalkit.render.request import asked_media
from evalkit.store import safe_name
from evalkit.types import Generation, Msg, Part, error_text

PRODUCIBLE = ("audio", "image", "document", "video", "threeD", "code")
MARK_RE = re.compile(r"<(audio|image|document|video|threeD|code)\d*\s*:\s*(.+?)>", re.S)
FENCE_RE = re.compile(r"```[\w+-]*\n.*?```", re.S)
ANY_TAG_RE = re.compile(r"<(?:image|audio|video|document|code|threeD)\d+>")
TAG_NUM_RE = re.compile(r"^(image|audio|video|document|code|threeD)(\d+)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
DESCRIPTIONS = {
    "audio": "<{tag}: the words to say> for a spoken reply",
    "image": "<{tag}: what the picture shows> for a picture",
    "document": "<{tag}: the text of the page> for a printed page",
    "video": "<{tag}: what the video shows | says: the words spoken> for a video",
    "threeD": "<{tag}: what the 3D model shows> for a 3D model",
    "code": "<{tag}: the code> for code",
}
#: how an answer rendered from the request cites it; a placeholder says so in the citing sentence
CITES = {
    "audio": '<{tag}> says it aloud: "{quote}"',
    "image": '<{tag}> pictures it: "{quote}"',
    "document": '<{tag}> prints it as a page: "{quote}"',
    "video": '<{tag}> shows it as a video: "{quote}"',
    "threeD": '<{tag}> gives it as a 3D point cloud: "{quote}"',
}
PLACEHOLDER_CITES = {
    "image": '<{tag}> (a labelled text card, not a picture) reads: "{quote}"',
    "video": '<{tag}> (a placeholder video of labelled text cards, not footage) shows and says: "{quote}"',
    "threeD": '<{tag}> (a labelled placeholder point cloud, not a generated 3D model) stands for: "{quote}"',
}


def next_free_tags(msg: Msg, kinds: tuple[str, ...]) -> dict[str, int]:
    """Kind -> the next tag number not used by the input (``audio: 2`` after an input ``<audio1>``)."""
    used: dict[str, int] = {}
    for p in msg:
        m = TAG_NUM_RE.match(p.tag)
        if m:
            used[m.group(1)] = max(used.get(m.group(1), 0), int(m.group(2)))
    return {k: used.get(k, 0) + 1 for k in kinds}


def first_sentences(text: str, limit: int = 300) -> str:
    """The first two sentences of ``text`` (at most ``limit`` characters), whitespace collapsed."""
    flat = " ".join(text.split())
    short = " ".join(_SENTENCE_END.split(flat)[:2])
    return short if len(short) <= limit else short[: limit - 3].rsplit(" ", 1)[0] + "..."


def store_file(src: Path, run_dir: Path, sample_id: str, tag: str) -> Path:
    """Move a rendered file to its content-hashed place under the run folder; returns the absolute path."""
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    dest = run_dir / "media" / safe_name(sample_id) / f"{tag}-{digest}{src.suffix.lower()}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)  # the same bytes land on the same name: reruns never duplicate
    return dest.resolve()


class Producer:
    """Renders a text model's marks, and on request words the answer itself, into produced media.

    Args:
        specs: kind -> renderer spec (``audio: espeak-ng``, ``document: page-png``, ``image: text-card``,
            ``video: video-card``, ``threeD: placeholder-cloud``, ``code: inline``).
        when_asked: kinds to produce where the request asks for them (:mod:`evalkit.render.request`) and the
            answer marked none of that kind: the answer's own text is rendered as that kind (``from: request``).

    Raises:
        ConfigError: a kind of ``when_asked`` has no renderer in ``specs``, or is code.
    """

    def __init__(self, specs: Mapping[str, str], when_asked: Sequence[str] = ()) -> None:
        self.renderers: dict[str, Renderer] = {
            k: make_renderer(k, s) for k, s in specs.items() if not (k == "code" and s == "inline")
        }
        self.kinds = tuple(k for k in PRODUCIBLE if k in specs)
        if isinstance(when_asked, str | Mapping):
            raise ConfigError(f"produce_when_asked is a list of kinds (e.g. [audio, video]), not {when_asked!r}")
        wrong = [k for k in when_asked if k not in self.renderers]
        if wrong:
            raise ConfigError(
                f"produce_when_asked: {', '.join(map(str, wrong))} has no renderer in produce "
                f"(renderable: {', '.join(self.renderers) or 'none'}; code comes from fenced blocks)"
            )
        self.when_asked = tuple(k for k in PRODUCIBLE if k in when_asked)
        self.run_dir: Path | None = None

    def instruction(self, msg: Msg) -> str:
        """The text appended to the request: how to mark each medium the answer may produce."""
        free = next_free_tags(msg, self.kinds)
        offers = ", ".join(DESCRIPTIONS[k].format(tag=f"{k}{free[k]}") for k in self.kinds)
        return (
            f"\n\nYour answer can include media of its own: write {offers}. "
            "Each mark is turned into a file and cited by its tag."
        )

    async def apply(self, sample_id: str, msg: Msg, gen: Generation) -> Generation:
        """The generation with every mark rendered, stored, tagged and cited (failures recorded per item)."""
        if self.run_dir is None:
            raise RuntimeError("produced media need a run folder (bind_run_dir was not called)")
        free = next_free_tags((*msg, *gen.parts), self.kinds)  # after the input and what the model returned
        items: list[tuple[str, str, str, str]] = []  # (tag, kind, text, from)

        def replace(m: re.Match[str]) -> str:
            kind, content = m.group(1), m.group(2).strip()
            if kind not in self.kinds:
                return m.group(0)
            tag = f"{kind}{free[kind]}"
            free[kind] += 1
            items.append((tag, kind, content, "mark"))
            return f"<{tag}>"

        text = MARK_RE.sub(replace, gen.text)
        if "code" in self.kinds:  # a fenced block is code the answer produced: the original data's <code2> form

            def lift(m: re.Match[str]) -> str:
                tag = f"code{free['code']}"
                free["code"] += 1
                items.append((tag, "code", m.group(0), "fenced block"))
                return f"<{tag}>"

            text = FENCE_RE.sub(lift, text)
        text = self._from_request(msg, gen, text, items, free)
        parts, produced, failed = await self._render_all(sample_id, items)
        meta: dict[str, Any] = {**gen.meta, "produced": {**gen.meta.get("produced", {}), **produced}}
        if failed or gen.meta.get("produced_failed"):
            meta["produced_failed"] = {**gen.meta.get("produced_failed", {}), **failed}
        return Generation(text=text, parts=(*gen.parts, *parts), prompt=gen.prompt, meta=meta)

    def _from_request(
        self, msg: Msg, gen: Generation, text: str, items: list[tuple[str, str, str, str]], free: dict[str, int]
    ) -> str:
        """Queue the answer itself as each medium the request asks for and the answer did not mark; cite it."""
        request = " ".join(p.value for p in msg if p.type == "text")
        marked = {kind for _, kind, _, _ in items} | {p.type for p in gen.parts if p.tag}
        answer = first_sentences(ANY_TAG_RE.sub(" ", text))
        asked = asked_media(request) if self.when_asked and answer else set()
        for kind in self.when_asked:
            if kind in marked or kind not in asked:
                continue
            tag = f"{kind}{free[kind]}"
            free[kind] += 1
            whole = ANY_TAG_RE.sub(" ", text).strip()
            content = {"audio": answer, "video": f"{whole} | says: {answer}"}.get(kind, whole)
            items.append((tag, kind, content, "request"))
            cites = PLACEHOLDER_CITES if self.renderers[kind].placeholder else CITES
            text = text.rstrip() + "\n\n" + cites.get(kind, CITES[kind]).format(tag=tag, quote=answer)
        return text

    async def _render_all(
        self, sample_id: str, items: list[tuple[str, str, str, str]]
    ) -> tuple[list[Part], dict[str, Any], dict[str, str]]:
        assert self.run_dir is not None
        scratch = self.run_dir / "media" / ".scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=scratch))
        try:
            results = await asyncio.gather(
                *(self._render_one(kind, content, work) for _, kind, content, _ in items), return_exceptions=True
            )
            parts: list[Part] = []
            produced: dict[str, Any] = {}
            failed: dict[str, str] = {}
            for (tag, kind, content, origin), res in zip(items, results, strict=True):
                if isinstance(res, BaseException):
                    failed[tag] = f"{self._name(kind)} failed: {error_text(res)}"
                    continue
                if isinstance(res, str):  # code: inline, its own value
                    parts.append(Part("code", res, tag))
                    produced[tag] = {"renderer": "inline", "from": origin}
                    continue
                path = store_file(res.path, self.run_dir, sample_id, tag)
                parts.append(Part(kind, str(path), tag))
                rel = path.relative_to(self.run_dir.resolve()).as_posix()
                produced[tag] = {"renderer": res.renderer, "from": origin, "file": rel, "text": content[:500]}
            return parts, produced, failed
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):  # still in use by another sample: it goes with the last one
                scratch.rmdir()

    def _name(self, kind: str) -> str:
        r = self.renderers.get(kind)
        return r.name if r is not None else "inline"

    async def _render_one(self, kind: str, content: str, work: Path) -> Rendered | str:
        if kind == "code":
            return content
        return await self.renderers[kind].render(content, work)
