"""LLM-as-judge coherence and style consistency (1-5) of interleaved answers, with a versioned rubric."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalkit.judges.ask import ask_until_parsed
from evalkit.judges.base import JUDGES, JudgeContext, Scored
from evalkit.judges.captioned import CaptioningJudge
from evalkit.judges.parse import parse_scores
from evalkit.models.base import Model
from evalkit.types import Prediction, Sample, stable_hash

RUBRIC_VERSION = "coherence-rubric-v1"
RUBRIC = """You evaluate answers to interleaved multimodal requests. Media items appear as <tag:caption>, where the \
caption is a machine description of the image, audio, video, document, code or 3D object; a bare <tag> names \
media that does not exist.

Rate the ANSWER on two integer scales from 1 to 5:
- coherence: the answer responds to the request, and its text agrees with the media it includes or cites \
(5 = fully consistent and well integrated; 3 = partly consistent or loosely connected; 1 = contradicts, ignores \
or invents its media).
- style_consistency: the tone, register and level of detail of the text fit the request and the media \
(5 = fully consistent; 3 = noticeable mismatch; 1 = jarring mismatch).

REQUEST:
{question}

ANSWER:
{answer}

Reply with JSON only, no other text: {{"coherence": <1-5>, "style_consistency": <1-5>, "reason": "<one sentence>"}}"""
RETRY_NOTE = (
    "\n\nYour previous reply could not be read ({reason}). Reply again with JSON only, exactly: "
    '{{"coherence": <1-5>, "style_consistency": <1-5>, "reason": "<one sentence>"}}'
)


@dataclass(frozen=True)
class CoherenceOptions:
    """Config keys of the LLM coherence judge.

    Attributes:
        judge_model: the model entry (config.yaml ``models:``) that judges.
        captioners: modality -> captioner (``whisper-cpu``, ``model:<entry>`` ...), over the CPU defaults.
        max_parse_retries: extra asks when a reply cannot be read.
        concurrency: samples judged at once.
    """

    judge_model: str = "gpt-4o-mini"
    captioners: dict[str, str] = field(default_factory=dict)
    max_parse_retries: int = 2
    concurrency: int = 8


@JUDGES.register("coherence-llm")
class CoherenceJudge(CaptioningJudge):
    """Captions media, inlines ``<tag:caption>``, asks a judge model for coherence and style consistency."""

    Options = CoherenceOptions
    metrics = ("coherence", "style_consistency")
    version = RUBRIC_VERSION
    options: CoherenceOptions

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        self.model: Model = ctx.model_factory(self.options.judge_model)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "judge_model": self.model.identity(), "rubric": stable_hash(RUBRIC)}

    def describe(self) -> str:
        return f"{self.name} (LLM judge {self.model.name}, {RUBRIC_VERSION})"

    def prompt_hashes(self) -> dict[str, str]:
        return {RUBRIC_VERSION: stable_hash(RUBRIC)}

    def held_models(self) -> list[Model]:
        return [self.model]

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        view = await self.view(sample, pred)
        prompt = RUBRIC.format(question=view.question, answer=view.answer)
        scores, replies = await ask_until_parsed(
            self.model,
            prompt,
            lambda reply: parse_scores(reply, self.metrics, 1, 5),
            self.options.max_parse_retries,
            RETRY_NOTE,
            view.details(),
        )
        return Scored(scores=scores, raw=replies, details=view.details())
