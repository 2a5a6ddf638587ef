"""A CPU proxy for the coherence judge: sentence-embedding agreement between media captions and the text.

No model that runs on 2 CPU cores can judge coherence, so the embedded default reports two clearly named
proxy metrics instead of pretending to give 1-5 coherence scores:

- ``media_text_agreement``: for each media item the answer cites, the cosine similarity between its caption
  and the answer's sentence around the tag (tag removed), averaged. Undefined (and counted as not scored) when
  the answer cites no media, and when a medium the answer produced failed to render (counted, with its reason).
- ``answer_relevance``: cosine similarity between the request and the answer, both with captions inlined.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from evalkit.captions import TAG_RE
from evalkit.judges.base import JUDGES, JudgeContext, Scored
from evalkit.judges.captioned import CaptioningJudge
from evalkit.types import Prediction, Sample

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass(frozen=True)
class ProxyOptions:
    """Config keys of the CPU proxy judge.

    Attributes:
        captioners: modality -> captioner, over the CPU defaults.
        concurrency: samples judged at once.
    """

    captioners: dict[str, str] = field(default_factory=dict)
    concurrency: int = 2


def tag_context(text: str, tag: str) -> str:
    """The sentence(s) of ``text`` that cite ``<tag>``, with all tags removed."""
    sentences = [s for s in _SENTENCE_END.split(text) if f"<{tag}>" in s] or [text]
    return re.sub(r"\s+", " ", TAG_RE.sub(" ", " ".join(sentences))).strip()


@JUDGES.register("caption-agreement")
class CaptionAgreementJudge(CaptioningJudge):
    """CPU proxy judge: MiniLM cosine between captions and the text that cites them."""

    Options = ProxyOptions
    metrics = ("media_text_agreement", "answer_relevance")
    version = "caption-agreement-v1"
    options: ProxyOptions

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        self._embedder: Any = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.name} (CPU proxy: MiniLM caption-text agreement, not an LLM coherence score)"

    def _cosines(self, pairs: list[tuple[str, str]]) -> list[float]:
        with self._lock:
            if self._embedder is None:
                from evalkit.embedded.minilm import MiniLMEmbedder

                self._embedder = MiniLMEmbedder()
            flat = [t for pair in pairs for t in pair]
            vecs = self._embedder.encode(flat)
        return [float(vecs[2 * i] @ vecs[2 * i + 1]) for i in range(len(pairs))]

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        view = await self.view(sample, pred)
        plain_answer = pred.text
        pairs = [(view.captions[t], tag_context(plain_answer, t) or plain_answer) for t in view.answer_tags]
        pairs.append((view.question, view.answer))
        cos = await asyncio.to_thread(self._cosines, pairs)
        scores = {"answer_relevance": round(cos[-1], 6)}
        if view.answer_tags:
            scores["media_text_agreement"] = round(sum(cos[:-1]) / len(view.answer_tags), 6)
        details = view.details()
        details["per_tag_agreement"] = {t: round(c, 6) for t, c in zip(view.answer_tags, cos, strict=False)}
        undefined = {}
        if not view.answer_tags:
            undefined["media_text_agreement"] = "the answer cites no media (metric undefined)"
        failed = pred.meta.get("produced_failed") or {}
        if failed:  # a medium the answer meant to produce is missing: that item failed, with its reason
            details["produced_failed"] = failed
            scores.pop("media_text_agreement", None)
            reasons = "; ".join(f"<{tag}> {why}" for tag, why in failed.items())
            undefined["media_text_agreement"] = f"produced media failed: {reasons}"
        return Scored(scores=scores, raw=None, details=details, metric_errors=undefined)
