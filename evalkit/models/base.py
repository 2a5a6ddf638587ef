"""The Model base class and the MODELS registry.

A model knows the message and its generation config only. A backend subclasses :class:`Model`, declares its
config keys in an ``Options`` dataclass and implements ``generate_inner``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalkit.media import content_id
from evalkit.registry import Registry
from evalkit.types import (
    GenConfig,
    Generation,
    Msg,
    Part,
    Prediction,
    Price,
    Sample,
    error_text,
    stable_hash,
    strings_hash,
)


@dataclass(frozen=True)
class NoOptions:
    """A backend without config keys of its own."""


class Model:
    """Base of every model backend.

    Args:
        name: the model entry's name (what the user typed after --model).
        options: an instance of the class's ``Options`` dataclass.
        gen: generation parameters.
    """

    Options: ClassVar[type] = NoOptions
    #: Options fields that do not change the answer (endpoints, timeouts); left out of the prediction key.
    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset()
    #: default number of requests in flight; an ``Options.concurrency`` field overrides it.
    concurrency: int = 1

    def __init__(self, name: str, options: Any = None, gen: GenConfig | None = None) -> None:
        self.name = name
        self.options = options if options is not None else self.Options()
        self.gen = gen or GenConfig()
        self.concurrency = int(getattr(self.options, "concurrency", type(self).concurrency))
        self._identity_hash = ""
        #: what this model's tokens cost (the entry's ``price:``), for the run's cost line; None: not priced
        self.price: Price | None = None

    async def start(self) -> None:
        """Connect, check the endpoint, start a local server: called once before the first sample."""

    async def close(self) -> None:
        """Release what ``start`` took."""

    def bind_run_dir(self, run_dir: Path) -> None:
        """Told where this run's files go (models that write files of their own, such as attention maps)."""

    async def generate_inner(self, msg: Msg) -> Generation:
        """Answer one message. Raise on failure: the caller records the error on the Prediction."""
        raise NotImplementedError

    def media_not_read(self, part: Part) -> str:
        """Why ``part`` would not reach this model (it would get a "not shown" note); empty when it does.

        Backends with a ``modalities`` option override this; the job checks every sample before the first call.
        """
        return ""

    @property
    def unread_media_policy(self) -> str:
        """``error`` (default): a run whose samples hold media this model cannot read stops before the first
        call; ``note``: the model gets a "not shown" note and the report counts those samples."""
        return str(getattr(self.options, "unread_media", "error"))

    async def respond(self, sample: Sample) -> Generation:
        """Answer a sample; models that need more than the msg (the replay model) override this."""
        return await self.generate_inner(sample.msg)

    def identity(self) -> dict[str, Any]:
        """What determines this model's answers: backend, options that matter, generation config."""
        opts = asdict(self.options) if is_dataclass(self.options) and not isinstance(self.options, type) else {}
        return {
            "backend": type(self).__name__,
            "options": {k: v for k, v in opts.items() if k not in self.NOT_IN_KEY},
            "gen": self.gen.to_json(),
        }

    def prediction_key(self, sample: Sample, prompt_version: str) -> str:
        """Hash of the msg (media by content), this model's identity and the dataset's prompt version."""
        msg = [[p.type, content_id(Path(p.value)) if p.is_media else p.value, p.tag] for p in sample.msg]
        if not self._identity_hash:  # options are frozen: hash them once, not per sample
            self._identity_hash = stable_hash(self.identity(), 32)
        return strings_hash({"msg": msg, "model": self._identity_hash, "prompt": prompt_version})

    async def predict(self, sample: Sample, key: str) -> Prediction:
        """Run ``respond`` and turn the outcome, answer or exception, into a Prediction."""
        t0 = time.perf_counter()
        try:
            gen = await self.respond(sample)
        except Exception as exc:  # a failed call is data: recorded on the sample, never raised
            return Prediction(
                sample_id=sample.id,
                model=self.name,
                key=key,
                error=error_text(exc),
                latency_s=time.perf_counter() - t0,
                prompt=getattr(exc, "prompt", None),
            )
        return Prediction(
            sample_id=sample.id,
            model=self.name,
            key=key,
            text=gen.text,
            parts=gen.parts,
            prompt=gen.prompt,
            latency_s=time.perf_counter() - t0,
            meta=gen.meta,
        )


MODELS: Registry[type[Model]] = Registry("model")
