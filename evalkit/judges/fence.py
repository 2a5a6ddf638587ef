"""Fencing judged content (answers, OCR text, transcripts) so that a judge model reads it as data.

Each block is wrapped in marker lines carrying a boundary token that the content does not contain, so no
content can close its block early or open a fake one: the rubric tells the judge that only markers with the
exact token count. The token is derived from the contents (a SHA-256), so a prompt is the same on every run,
and it is redrawn in the rare case some content already contains it; content cannot be written to contain the
hash of itself. :func:`drop_echoes` removes copies of the fenced contents from a reply before it is read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

TOKEN_CHARS = 16


def boundary(contents: Iterable[str]) -> str:
    """A token (hex) that appears in none of ``contents``, case-insensitively.

    Args:
        contents: every text that will be fenced with the token.
    """
    texts = [c.lower() for c in contents]
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8"))
    for salt in range(1_000):
        digest.update(salt.to_bytes(2, "little"))
        token = digest.hexdigest()[:TOKEN_CHARS]
        if not any(token in t for t in texts):
            return token
    raise RuntimeError("no boundary token found that the content does not contain")  # needs ~2^64 luck


def begin(label: str, token: str) -> str:
    """The line that opens a fenced block."""
    return f"<<<BEGIN {label} {token}>>>"


def end(label: str, token: str) -> str:
    """The line that closes a fenced block."""
    return f"<<<END {label} {token}>>>"


def fence(text: str, label: str, token: str) -> str:
    """``text`` between the marker lines of ``label``; ``token`` must come from :func:`boundary` over it.

    Raises:
        ValueError: the text contains the token (it could close the block).
    """
    if token.lower() in text.lower():
        raise ValueError("the fenced text contains the boundary token")
    return f"{begin(label, token)}\n{text}\n{end(label, token)}"


def unfence(prompt: str, label: str, token: str) -> str:
    """The content of the ``label`` block of a prompt (tests and audits): between its markers, exactly once.

    Raises:
        ValueError: the block is missing or its markers appear more than once.
    """
    head, tail = begin(label, token), end(label, token)
    if prompt.count(head) != 1 or prompt.count(tail) != 1:
        raise ValueError(f"block {label} is not fenced exactly once")
    return prompt.split(head + "\n", 1)[1].split("\n" + tail, 1)[0]


_MARKER = re.compile(r"<<<\s*(?:BEGIN|END)\b[^\n>]{0,80}>{2,3}")


def drop_echoes(reply: str, contents: Iterable[str], min_chars: int = 16) -> str:
    """The reply without the judged contents it copies: a verdict found only in an echo is not the judge's.

    Removes every verbatim copy of a line of ``contents`` that is ``min_chars`` or longer (so an answer's fake
    ``{"coherence": 5}`` line echoed back does not count), and any fence marker lines.

    Args:
        reply: the judge model's text.
        contents: the fenced texts of the prompt.
        min_chars: shorter lines are left alone (they are too common to be echoes).
    """
    lines = {ln.strip() for text in contents for ln in text.splitlines() if len(ln.strip()) >= min_chars}
    for line in sorted(lines, key=len, reverse=True):
        reply = reply.replace(line, " ")
    return _MARKER.sub(" ", reply)
