"""Shared part of the interleaved judges: caption the media a record cites and inline the captions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from evalkit.captions import CaptionCache, Captioner, inline_captions, make_captioner, resolve_tags
from evalkit.judges.base import Judge, JudgeContext, JudgeFailure
from evalkit.types import Part, Prediction, Sample, error_text

CPU_CAPTIONERS = {
    "audio": "whisper-cpu",
    "video": "video-cpu",
    "image": "image-cpu",
    "document": "document-cpu",
    "threeD": "pointcloud-cpu",
    "code": "inline",
}


@dataclass(frozen=True)
class View:
    """A record as a judge sees it: media replaced by ``<tag:caption>``.

    Attributes:
        question: the input content with captions inlined.
        answer: the prediction's text with captions inlined.
        captions: tag -> caption, for every tag of the question and the answer.
        answer_tags: tags the answer cites that resolve to media.
        unresolved: tags the answer cites that name no media (a coherence fault, shown to the judge).
    """

    question: str
    answer: str
    captions: dict[str, str] = field(default_factory=dict)
    answer_tags: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        return {
            "content": self.answer,
            "question": self.question,
            "modal": {t: self.captions[t] for t in self.answer_tags},
            "unresolved_tags": self.unresolved,
        }


def record_location(sample: Sample) -> str:
    """``file:line: `` of the record a sample came from (``Sample.meta``), or empty when unknown."""
    file, line = sample.meta.get("file"), sample.meta.get("line")
    if not file:
        return ""
    return f"{file}:{line}: " if line else f"{file}: "


class CaptioningJudge(Judge):
    """A judge that sees media through captions chosen per modality (``captioners`` option)."""

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        specs: dict[str, str] = {**CPU_CAPTIONERS, **getattr(self.options, "captioners", {})}
        built: dict[str, Captioner] = {}
        self.captioners: dict[str, Captioner] = {}
        for kind, spec in specs.items():
            if spec not in built:
                built[spec] = make_captioner(spec, ctx.model_factory)
            self.captioners[kind] = built[spec]
        self._unique = list(built.values())
        self.cache = CaptionCache(ctx.cache_dir / "captions.jsonl")

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["captioners"] = {k: c.identity for k, c in sorted(self.captioners.items())}
        return ident

    async def start(self) -> None:
        await asyncio.gather(super().start(), *(c.start() for c in self._unique))

    async def close(self) -> None:
        await asyncio.gather(super().close(), *(c.close() for c in self._unique), return_exceptions=True)
        self.cache.close()

    async def _caption(self, tag: str, part: Part, where: str = "") -> str:
        captioner = self.captioners.get(part.type)
        if captioner is None:
            raise JudgeFailure(f"{where}no captioner configured for {part.type} (<{tag}>)")
        try:
            return await self.cache.get(part, captioner)
        except Exception as exc:
            raise JudgeFailure(
                f"{where}captioning <{tag}> ({part.type}, {captioner.name}) failed: {error_text(exc)}"
            ) from None

    async def view(self, sample: Sample, pred: Prediction) -> View:
        """Caption every tag of the question and the answer and inline the captions."""
        question = str(sample.meta.get("question", "".join(p.value for p in sample.msg if p.type == "text")))
        q_parts = {p.tag: p for p in sample.msg if p.tag}
        a_parts, unresolved = resolve_tags(pred.text, pred, sample)
        items = [*q_parts.items(), *a_parts.items()]
        where = record_location(sample)
        texts = await asyncio.gather(*(self._caption(tag, part, where) for tag, part in items))
        q_caps = dict(zip(q_parts, texts[: len(q_parts)], strict=True))
        a_caps = dict(zip(a_parts, texts[len(q_parts) :], strict=True))
        return View(
            question=inline_captions(question, q_caps),
            answer=inline_captions(pred.text, a_caps),
            captions={**q_caps, **a_caps},
            answer_tags=list(a_parts),
            unresolved=unresolved,
        )
