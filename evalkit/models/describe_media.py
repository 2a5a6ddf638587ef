"""Media a model cannot read, described in text by CPU captioners (a captioner + LLM cascade).

A text-only model given ``<audio1> [audio not shown]`` can only guess. With ``describe_media`` set, each
unreadable media part is replaced by a tagged description (a Whisper transcript, OCR text, a factual image
or point-cloud description), and the Prediction records which captioner described which tag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from evalkit.captions import Captioner, make_captioner
from evalkit.errors import ConfigError
from evalkit.models.base import Model
from evalkit.types import Msg, Part, error_text


def _no_models(name: str) -> Model:
    raise ConfigError(f"describe_media takes CPU captioners only, not model:{name}")


class MediaDescriber:
    """Replaces unreadable media parts with text from per-modality captioners.

    Args:
        specs: modality -> captioner name (``whisper-cpu``, ``image-cpu`` ...).
    """

    def __init__(self, specs: Mapping[str, str]) -> None:
        built: dict[str, Captioner] = {}
        self.captioners: dict[str, Captioner] = {}
        for kind, spec in specs.items():
            if spec not in built:
                built[spec] = make_captioner(spec, _no_models)
            self.captioners[kind] = built[spec]
        self._memo: dict[tuple[str, str], str] = {}

    async def _describe(self, part: Part) -> tuple[str, str]:
        captioner = self.captioners[part.type]
        memo = (captioner.name, part.value)
        if memo not in self._memo:
            self._memo[memo] = await captioner.caption(part)
        return captioner.name, self._memo[memo]

    async def apply(self, msg: Msg, readable: tuple[str, ...]) -> tuple[Msg, dict[str, str]]:
        """The msg with unreadable, describable media as text, and tag -> what was done.

        Raises:
            RuntimeError: a captioner failed (the caller records it on the Prediction).
        """
        todo = [p for p in msg if p.is_media and p.type not in readable and p.type in self.captioners]
        if not todo:
            return msg, {}
        try:
            results = await asyncio.gather(*(self._describe(p) for p in todo))
        except Exception as exc:
            raise RuntimeError(f"describing media failed: {error_text(exc)}") from exc
        described = {id(p): r for p, r in zip(todo, results, strict=True)}
        out: list[Part] = []
        handling: dict[str, str] = {}
        for p in msg:
            if id(p) not in described:
                out.append(p)
                continue
            name, text = described[id(p)]
            label = f"<{p.tag}>" if p.tag else f"[{p.type}]"
            out.append(Part("text", f"{label} [{p.type} description: {text.strip()}] "))
            handling[p.tag or p.value] = f"described by {name}"
        return tuple(out), handling
