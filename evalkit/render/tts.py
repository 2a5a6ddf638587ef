"""Speech renderers: espeak-ng on CPU, or any OpenAI-compatible ``/v1/audio/speech`` endpoint (a GPU TTS host)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import aiohttp

from evalkit.render.base import Rendered, Renderer, endpoint_spec

#: espeak-ng refuses nothing, but minutes of speech for one item is a runaway answer: cut at this many characters
MAX_SPEECH_CHARS = 1500


class EspeakRenderer(Renderer):
    """espeak-ng (the synthesiser the project's sample media are made with) into a 22.05 kHz mono wav.

    Args:
        voice: espeak-ng voice name.
        wpm: speaking rate in words per minute.
    """

    kind = "audio"
    name = "espeak-ng"

    def __init__(self, voice: str = "en-us", wpm: int = 150) -> None:
        self.voice = voice
        self.wpm = wpm

    async def render(self, text: str, out_dir: Path) -> Rendered:
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
        words = " ".join(text.split())[:MAX_SPEECH_CHARS]
        if not words:
            raise ValueError("nothing to say: the mark holds no words")
        out = Path(tempfile.mkstemp(suffix=".wav", dir=out_dir)[1])
        proc = await asyncio.create_subprocess_exec(
            exe, "-v", self.voice, "-s", str(self.wpm), "-w", str(out), "--stdin",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate(words.encode("utf-8"))
        if proc.returncode != 0 or out.stat().st_size <= 44:
            out.unlink(missing_ok=True)
            raise RuntimeError(f"espeak-ng failed (exit {proc.returncode}): {err.decode(errors='replace').strip()}")
        return Rendered(out, f"espeak-ng ({self.voice})")


class SpeechEndpointRenderer(Renderer):
    """An OpenAI-compatible ``POST {base_url}/audio/speech`` (``response_format: wav``).

    Args:
        base_url: endpoint root ending in ``/v1``.
        model: the TTS model name the server knows.
        voice: the voice to ask for.
        timeout_s: per-request timeout.
    """

    kind = "audio"
    name = "speech-endpoint"

    def __init__(self, base_url: str, model: str, voice: str = "alloy", timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.voice = voice
        self.timeout_s = timeout_s

    @classmethod
    def from_spec(cls, spec: str) -> SpeechEndpointRenderer:
        """``speech-endpoint:<base_url>|<model>[|<voice>]``."""
        base_url, model, *rest = endpoint_spec(spec, "voice")
        return cls(base_url, model, rest[0]) if rest else cls(base_url, model)

    async def render(self, text: str, out_dir: Path) -> Rendered:
        body = {"model": self.model, "input": text[:4096], "voice": self.voice, "response_format": "wav"}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{self.base_url}/audio/speech", json=body) as resp,
        ):
            data = await resp.read()
            if resp.status >= 400:
                raise RuntimeError(f"HTTP {resp.status} from {self.base_url}/audio/speech: {data[:200]!r}")
        if not data.startswith(b"RIFF"):
            raise RuntimeError(f"{self.base_url}/audio/speech returned {len(data)} bytes that are not a wav")
        out = Path(tempfile.mkstemp(suffix=".wav", dir=out_dir)[1])
        out.write_bytes(data)
        return Rendered(out, f"speech-endpoint ({self.model}, {self.voice})")
