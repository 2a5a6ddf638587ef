"""``cascade``: any model entry wrapped with renderers, so that a text-only model answers with media.

The wrapped model is written inline (``text_model: {backend: hf-qwen2.5-omni, model_path: ...}``); it is asked
to mark the media it produces and each mark is rendered into a file of the run (:mod:`evalkit.render`). The
OpenAI-compatible backend takes the same ``produce`` keys itself; this backend brings them to every other one
(transformers, vLLM offline, your own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.config import build_options
from evalkit.errors import ConfigError
from evalkit.models.base import MODELS, Model
from evalkit.render.produce import Producer
from evalkit.types import GenConfig, Generation, Msg, Part, Sample


@dataclass(frozen=True)
class CascadeOptions:
    """Config keys of a cascade entry.

    Attributes:
        text_model: the wrapped model, as an inline entry (``backend`` plus that backend's keys; no ``gen``:
            the cascade's own ``gen`` applies).
        produce: kind -> renderer (``audio: espeak-ng``, ``document: page-png``, ``image: text-card``,
            ``video: video-card``, ``threeD: placeholder-cloud``, ``code: inline``).
        produce_marks: ask the wrapped model to mark the media it produces.
        produce_when_asked: kinds rendered from the answer itself where the request asks for them (the fixed
            lexicon of :mod:`evalkit.render.request`) and the answer marked none of that kind.
    """

    text_model: dict[str, Any] = field(default_factory=dict)
    produce: dict[str, str] = field(default_factory=dict)
    produce_marks: bool = True
    produce_when_asked: tuple[str, ...] = ()


@MODELS.register("cascade")
class CascadeModel(Model):
    """A wrapped model whose answers' media marks are rendered, stored, tagged and cited."""

    Options = CascadeOptions
    options: CascadeOptions

    def __init__(self, name: str, options: Any = None, gen: GenConfig | None = None) -> None:
        super().__init__(name, options, gen)
        entry = dict(self.options.text_model)
        backend = str(entry.pop("backend", ""))
        if not backend or backend == "cascade":
            raise ConfigError(f"models.{name}.text_model: name the wrapped model's backend (not cascade)")
        cls = MODELS.get(backend)
        where = f"models.{name}.text_model"
        self.inner: Model = cls(f"{name}/text", build_options(cls.Options, entry, where, owner=backend), self.gen)
        self.concurrency = self.inner.concurrency
        if not self.options.produce:
            raise ConfigError(f"models.{name}: a cascade needs produce (kind -> renderer)")
        self.producer = Producer(self.options.produce, self.options.produce_when_asked)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def bind_run_dir(self, run_dir: Path) -> None:
        self.producer.run_dir = run_dir
        self.inner.bind_run_dir(run_dir)

    def media_not_read(self, part: Part) -> str:
        return self.inner.media_not_read(part)

    @property
    def unread_media_policy(self) -> str:
        return self.inner.unread_media_policy

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "text_model": self.inner.identity()}

    async def generate_inner(self, msg: Msg) -> Generation:
        return await self.inner.generate_inner(msg)

    async def respond(self, sample: Sample) -> Generation:
        msg = sample.msg
        if self.options.produce_marks:
            msg = (*msg, Part("text", self.producer.instruction(sample.msg)))
        gen = await self.inner.respond(Sample(sample.id, msg, sample.references, sample.meta))
        return await self.producer.apply(sample.id, sample.msg, gen)
