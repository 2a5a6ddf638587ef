"""Which media a request asks the answer to produce: one fixed lexicon per medium, the same for every dataset.

A model too small to mark its media (SmolLM2-135M) still answers requests such as "Confirm it with a short
spoken answer" or "Give a 3D point cloud of its shape"; the cascade then renders the answer itself as the medium
asked for. The rule reads only the request text (media tags removed), sentence by sentence. A sentence asks
for a medium when

1. a request verb in its base form (``make``, ``give``, ``create``, ``turn ... into``, ``confirm ... with``; see
   REQUEST_VERBS) is followed, within WINDOW words, by a noun or adjective naming the medium (MEDIUM_WORDS:
   ``video``, ``point cloud``, ``spoken``, ``printed``, ``chart`` ...), or
2. it holds a word that asks for the medium by itself (SELF_NAMING: ``draw``, ``sketch``, ``aloud``, ``narrate``,
   ``animate`` ...).

Words that only mention a medium ("Listen to the audio", "Read the bar chart", "what does the narrator say")
ask for nothing: nothing requests them. In a sentence that asks for a video, words of speech ("a narrated
video") describe the video's soundtrack, which the video renderer speaks; they do not ask for a separate audio.
Code is never rendered from the request: an answer produces code by writing a fenced block.

The lists were written from how requests for media are phrased in English, not from any dataset's records;
``docs/produced_media.md`` measures them against the declared outputs of the real example records.
"""

from __future__ import annotations

import re

#: how far (in words) after a request verb the medium may be named ("give me a short spoken answer": 4)
WINDOW = 6

#: base forms of verbs that ask for something to be made or handed over
REQUEST_VERBS = (
    "make", "create", "give", "generate", "produce", "provide", "render", "build", "design", "prepare",
    "compose", "write", "turn", "convert", "confirm", "answer", "reply", "respond", "include", "attach", "add",
    "send", "output", "return", "record", "show", "present", "deliver", "share", "export", "print",
)  # fmt: skip

#: words naming each medium (whole words; a space matches any run of spaces or hyphens)
MEDIUM_WORDS: dict[str, tuple[str, ...]] = {
    "audio": (
        "audio", "spoken", "speech", "voice", "voiced", "voice message", "voice note", "voiceover", "voice over",
        "recording", "narration", "narrated", "podcast", "sound file", "audio clip",
    ),
    "image": (
        "image", "images", "picture", "pictures", "drawing", "illustration", "diagram", "chart", "graph", "plot",
        "figure", "photo", "photograph", "sketch", "infographic", "visualization", "visualisation", "icon", "logo",
    ),
    "document": (
        "document", "page", "one page", "pdf", "printed", "printable", "notice", "leaflet", "flyer", "brochure",
        "handout", "poster", "pamphlet", "certificate", "menu", "booklet", "newsletter",
    ),
    "video": ("video", "videos", "animation", "movie", "film", "footage", "video clip", "slideshow"),
    "threeD": (
        "3d", "3 d", "three dimensional", "point cloud", "point clouds", "mesh", "3d model", "3d shape",
    ),
}  # fmt: skip

#: words that ask for their medium on their own, wherever they stand in the sentence
SELF_NAMING: dict[str, tuple[str, ...]] = {
    "audio": ("aloud", "out loud", "narrate", "speak", "say it", "read it out", "voice it"),
    "image": ("draw", "sketch", "plot", "illustrate", "paint", "visualize", "visualise", "diagram"),
    "document": (),
    "video": ("animate", "film"),
    "threeD": ("model it in 3d",),
}  # fmt: skip

KINDS = tuple(MEDIUM_WORDS)
_TAG = re.compile(r"<(?:image|audio|video|document|code|threeD)\d+>")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _words(sentence: str) -> list[str]:
    return _WORD.findall(sentence.lower())


def _phrase_at(words: list[str], start: int, phrases: tuple[str, ...]) -> bool:
    for phrase in phrases:
        parts = phrase.split()
        if words[start : start + len(parts)] == parts:
            return True
    return False


def _names(words: list[str], start: int, stop: int, phrases: tuple[str, ...]) -> bool:
    return any(_phrase_at(words, i, phrases) for i in range(start, min(stop, len(words))))


def asked_in_sentence(sentence: str) -> set[str]:
    """The media one sentence asks for (see the module docstring for the rule)."""
    words = _words(sentence.replace("-", " "))
    found: set[str] = set()
    verbs = [i for i, w in enumerate(words) if w in REQUEST_VERBS]
    for kind in KINDS:
        if _names(words, 0, len(words), SELF_NAMING[kind]):
            found.add(kind)
        elif any(_names(words, i + 1, i + 1 + WINDOW, MEDIUM_WORDS[kind]) for i in verbs):
            found.add(kind)
    if "video" in found:
        found.discard("audio")  # "a narrated video": its soundtrack, spoken by the video renderer
    return found


def asked_media(request: str) -> set[str]:
    """The media kinds a request asks its answer to produce (tags removed, sentence by sentence)."""
    found: set[str] = set()
    for sentence in _SENTENCE.split(_TAG.sub(" ", request)):
        found |= asked_in_sentence(sentence)
    return found
