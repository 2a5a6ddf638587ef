"""Ask a judge model until its reply parses, a bounded number of times, keeping every raw reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from evalkit.judges.base import JudgeFailure
from evalkit.judges.parse import ParseError
from evalkit.models.base import Model
from evalkit.types import Part

T = TypeVar("T")


async def ask_until_parsed(
    model: Model,
    prompt: str,
    parse: Callable[[str], T],
    retries: int,
    retry_note: str,
    details: dict[str, Any] | None = None,
) -> tuple[T, list[str]]:
    """Send ``prompt``; on a ParseError re-ask with ``retry_note`` (formatted with ``reason``), ``retries`` times.

    Returns:
        (what ``parse`` returned, every raw reply).

    Raises:
        JudgeFailure: status ``unparseable``, with the raw replies, when no reply could be read.
    """
    replies: list[str] = []
    reason = ""
    for attempt in range(retries + 1):
        text = prompt if attempt == 0 else prompt + retry_note.format(reason=reason)
        gen = await model.generate_inner((Part("text", text),))
        replies.append(gen.text)
        try:
            return parse(gen.text), replies
        except ParseError as exc:
            reason = str(exc)
    raise JudgeFailure(
        f"unparseable judge reply after {len(replies)} attempts: {reason}",
        status="unparseable",
        raw=replies,
        details=details or {},
    )
