"""Spoken output from an OpenAI-compatible chat endpoint (``modalities: ["text", "audio"]``).

OpenAI's audio models and omni servers answer with ``message.audio`` = ``{data: <base64>, transcript: ...}``.
The audio is stored as produced media of the run (``evalkit.render.produce``) and cited in the answer; an
endpoint that refuses the fields is reported once and asked in text only from then on.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from evalkit.render.produce import next_free_tags, store_file
from evalkit.types import Generation, Msg, Part

log = logging.getLogger(__name__)


class AudioOut:
    """Asks for spoken replies and stores them.

    Args:
        options: the entry's ``audio_out`` (``voice``, ``format``; default ``alloy`` and ``wav``).
    """

    def __init__(self, options: dict[str, str]) -> None:
        self.voice = options.get("voice", "alloy")
        self.format = options.get("format", "wav")
        self.supported: bool | None = None  # None: not known yet; False: the endpoint refused once
        self.run_dir: Path | None = None

    def add_to(self, body: dict[str, Any]) -> None:
        """Add the audio-output fields to a request body."""
        body["modalities"] = ["text", "audio"]
        body["audio"] = {"voice": self.voice, "format": self.format}

    def refused(self, model: str, base_url: str, reason: str) -> None:
        """Note (once) that the endpoint does not produce audio."""
        if self.supported is not False:
            log.warning("model %s: %s does not produce audio (%s); answering in text", model, base_url, reason[:160])
            print(f"note: model {model}: {base_url} does not produce audio; answering in text", flush=True)
        self.supported = False

    def store(self, sample_id: str, msg: Msg, gen: Generation) -> Generation:
        """Move the reply's audio out of ``gen.meta`` into a stored, tagged and cited part."""
        meta = dict(gen.meta)
        audio = meta.pop("audio_reply", None)
        if not isinstance(audio, dict):
            return Generation(gen.text, gen.parts, gen.prompt, meta)
        self.supported = True
        tag = f"audio{next_free_tags(msg, ('audio',))['audio']}"
        try:
            raw = base64.b64decode(str(audio.get("data", "")), validate=True)
            if not raw:
                raise ValueError("empty audio data")
        except (binascii.Error, ValueError) as exc:
            meta["produced_failed"] = {tag: f"audio reply unreadable: {exc}"}
            return Generation(f"{gen.text.rstrip()} <{tag}>", gen.parts, gen.prompt, meta)
        assert self.run_dir is not None, "bind_run_dir was not called"
        scratch = self.run_dir / "media" / ".scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkstemp(suffix=f".{self.format}", dir=scratch)[1])
        tmp.write_bytes(raw)
        path = store_file(tmp, self.run_dir, sample_id, tag)
        with contextlib.suppress(OSError):  # another sample's file is still there: it goes with the last one
            scratch.rmdir()
        rel = path.relative_to(self.run_dir.resolve()).as_posix()
        meta["produced"] = {tag: {"renderer": "endpoint audio output", "from": "reply", "file": rel}}
        text = gen.text.rstrip() + f"\n\n<{tag}> says it aloud."
        return Generation(text, (*gen.parts, Part("audio", str(path), tag)), gen.prompt, meta)
