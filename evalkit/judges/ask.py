"""Ask a judge model until its reply parses, a bounded number of times, keeping every raw reply.

A judge model that can constrain its reply to a JSON schema (:class:`StructuredModel`, such as
:class:`evalkit.models.openai_compat.OpenAICompatModel` against OpenAI, vLLM or llama.cpp's server) is asked
for one; any other model answers in free text, which the parser reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from evalkit.errors import ConfigError
from evalkit.judges.base import JudgeFailure
from evalkit.judges.fence import drop_echoes
from evalkit.judges.parse import ParseError, ScoreReading, ScoreSpec, read_scores
from evalkit.models.base import Model
from evalkit.types import Generation, Msg, Part

T = TypeVar("T")
STRUCTURED_SETTINGS = ("auto", "on", "off")


@runtime_checkable
class StructuredModel(Protocol):
    """A model that can be asked for replies in a JSON schema."""

    async def json_schema_form(self) -> str:
        """The schema reply format the endpoint honours, or "" when none (probed once)."""
        ...

    async def generate_structured(self, msg: Msg, name: str, schema: dict[str, Any]) -> Generation:
        """Answer ``msg`` with a reply constrained to ``schema``."""
        ...


def score_schema(spec: ScoreSpec) -> dict[str, Any]:
    """The JSON schema of a scores reply: one integer enum (or bounded number) per criterion, then a short reason."""
    props: dict[str, Any] = {}
    for name in spec.names:
        if spec.integer:
            props[name] = {"type": "integer", "enum": list(range(int(spec.lo), int(spec.hi) + 1))}
        else:
            props[name] = {"type": "number", "minimum": spec.lo, "maximum": spec.hi}
    props["reason"] = {"type": "string"}
    return {"type": "object", "properties": props, "required": [*spec.names, "reason"], "additionalProperties": False}


async def reply_mode(model: Model, setting: str, who: str) -> str:
    """``json_schema`` when the judge model will be asked for a schema, else ``text``.

    Args:
        model: the judge model (started).
        setting: ``auto`` (probe the endpoint once), ``on`` (require it) or ``off``.
        who: the judge entry, for errors.

    Raises:
        ConfigError: ``on`` with a model or endpoint that takes no schema, or an unknown setting.
    """
    if setting not in STRUCTURED_SETTINGS:
        raise ConfigError(f"judge {who}: structured must be one of {', '.join(STRUCTURED_SETTINGS)}, got {setting!r}")
    if setting == "off":
        return "text"
    form = await model.json_schema_form() if isinstance(model, StructuredModel) else ""
    if setting == "on" and not form:
        raise ConfigError(f"judge {who}: structured: on, but model {model.name} takes no JSON-schema reply format")
    return "json_schema" if form else "text"


async def _ask(model: Model, text: str, schema: dict[str, Any] | None) -> str:
    msg = (Part("text", text),)
    if schema is not None and isinstance(model, StructuredModel):
        return (await model.generate_structured(msg, "scores", schema)).text
    return (await model.generate_inner(msg)).text


async def ask_for_scores(
    model: Model,
    prompt: str,
    spec: ScoreSpec,
    retries: int,
    retry_note: str,
    details: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
    echoes: Sequence[str] = (),
) -> tuple[ScoreReading, list[str]]:
    """Ask for the scores of ``spec``; re-ask with ``retry_note`` (``{reason}``) while a criterion is unread.

    Args:
        model: the judge model.
        prompt: the rubric with the item filled in.
        spec: the criteria and scale.
        retries: extra asks at most.
        retry_note: appended to the prompt on a re-ask.
        details: what the judge saw, kept on a failure.
        schema: the reply's JSON schema, for a model that takes one.
        echoes: the fenced contents of the prompt: copies of them in a reply are not read (see drop_echoes).

    Returns:
        (the reading with the most criteria read, the latest among equals; every raw reply).

    Raises:
        JudgeFailure: status ``unparseable``, with the raw replies, when no reply gave any criterion.
    """
    replies: list[str] = []
    best: ScoreReading | None = None
    for attempt in range(retries + 1):
        text = prompt if attempt == 0 else prompt + retry_note.format(reason=best.reason() if best else "")
        replies.append(await _ask(model, text, schema))
        reading = read_scores(drop_echoes(replies[-1], echoes) if echoes else replies[-1], spec)
        if best is None or len(reading.scores) >= len(best.scores):
            best = reading
        if best.complete:
            break
    assert best is not None
    if not best.scores:
        raise JudgeFailure(
            f"unparseable judge reply after {len(replies)} attempts: {best.reason()}",
            status="unparseable",
            raw=replies,
            details=details or {},
        )
    return best, replies


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
