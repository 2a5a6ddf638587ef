"""Video on CPU: a plainly labelled placeholder, text cards of what the video should show, narrated by espeak-ng.

No CPU renderer here can make footage, and no OpenAI-compatible video endpoint is standard, so a video mark
(``<video2: what it shows | says: the words spoken>``) becomes an H.264 mp4 of text cards, each card headed
"VIDEO PLACEHOLDER - TEXT CARDS, NOT FOOTAGE", with the words to say as its espeak-ng audio track when the mark
has any. The file states what it is in its own ``comment`` tag (``placeholder: ...``), which the CPU video
captioner reports, and the prediction records ``video-card (placeholder)`` as its renderer.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import wave
from pathlib import Path

from evalkit.render.base import Rendered, Renderer
from evalkit.render.document import draw_text_page
from evalkit.render.tts import EspeakRenderer

VIDEO_LABEL = "VIDEO PLACEHOLDER - TEXT CARDS, NOT FOOTAGE"
#: what the file's own ``comment`` tag says, before the requested content
VIDEO_STATEMENT = "placeholder video made of text cards, not generated footage; it shows"
SIZE = (640, 360)
CARD_S = 3.0  # seconds each card stays on screen when nothing is said
CARD_CHARS = 280  # text on one card
MAX_CARDS = 6
_SAYS = re.compile(r"\|\s*(?:says|narration)\s*:", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_mark(text: str) -> tuple[str, str]:
    """``what it shows | says: the words`` -> (what it shows, the words); no ``| says:`` -> (text, "")."""
    parts = _SAYS.split(text, maxsplit=1)
    shows = " ".join(parts[0].split())
    says = " ".join(parts[1].split()) if len(parts) > 1 else ""
    return shows, says


def card_texts(shows: str) -> list[str]:
    """The description cut at sentence ends into cards of at most CARD_CHARS characters (MAX_CARDS at most)."""
    cards: list[str] = []
    for sentence in _SENTENCE_END.split(shows):
        if cards and len(cards[-1]) + 1 + len(sentence) <= CARD_CHARS:
            cards[-1] += " " + sentence
        else:
            cards.append(sentence if len(sentence) <= CARD_CHARS else sentence[: CARD_CHARS - 3] + "...")
    if len(cards) > MAX_CARDS:
        cards = [*cards[: MAX_CARDS - 1], "[...]"]
    return cards


def wav_seconds(path: Path) -> float:
    """The length of a wav file in seconds."""
    with wave.open(str(path)) as w:
        return w.getnframes() / float(w.getframerate())


class VideoCardRenderer(Renderer):
    """Text cards of what the video shows as an mp4 (10 fps, 640x360), narrated by espeak-ng when it says words.

    Args:
        voice: espeak-ng voice of the narration.
    """

    kind = "video"
    name = "video-card"
    placeholder = True
    ffmpeg = "ffmpeg"

    def __init__(self, voice: str = "en-us") -> None:
        self.speech = EspeakRenderer(voice)

    async def render(self, text: str, out_dir: Path) -> Rendered:
        exe = shutil.which(self.ffmpeg)
        if exe is None:
            raise RuntimeError(f"{self.ffmpeg} is not installed (apt-get install ffmpeg)")
        shows, says = split_mark(text)
        if not shows:
            raise ValueError("nothing to show: the mark holds no description of the video")
        work = Path(tempfile.mkdtemp(dir=out_dir))
        cards = card_texts(shows)
        for i, card in enumerate(cards):
            header = f"{VIDEO_LABEL} ({i + 1}/{len(cards)})"
            img = await asyncio.to_thread(draw_text_page, card, SIZE, header, 20)
            await asyncio.to_thread(img.save, work / f"card{i}.png", format="PNG")
        narration = (await self.speech.render(says, work)).path if says else None
        total = max(CARD_S * len(cards), wav_seconds(narration) + 0.5 if narration else 0.0)
        each = round(total / len(cards), 3)
        listing = "".join(f"file 'card{i}.png'\nduration {each}\n" for i in range(len(cards)))
        (work / "cards.txt").write_text(listing + f"file 'card{len(cards) - 1}.png'\n", encoding="utf-8")
        out = Path(tempfile.mkstemp(suffix=".mp4", dir=out_dir)[1])
        audio = ["-i", str(narration), "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "64k"] if narration else []
        statement = f"{VIDEO_STATEMENT}: {shows}" + (f" | says: {says}" if says else "")
        cmd = [
            exe, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(work / "cards.txt"), *audio,
            "-vf", "fps=10,format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
            "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1", "-metadata", f"comment=placeholder: {statement[:2000]}", str(out),
        ]  # fmt: skip
        try:  # bit-exact and single-threaded: the same mark gives the same bytes, so the same stored file
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            _, err = await proc.communicate()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if proc.returncode != 0 or out.stat().st_size == 0:
            out.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg failed (exit {proc.returncode}): {err.decode(errors='replace').strip()[:300]}")
        return Rendered(out, "video-card (placeholder)" + (", espeak-ng narration" if says else ""))
