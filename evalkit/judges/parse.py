"""Robust reading of a judge model's reply: JSON, fenced JSON, or lines such as ``Coherence: 4/5``.

Out-of-range or missing values are errors, never clipped or defaulted.
"""

from __future__ import annotations

import json
import re
from typing import Any

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_NUM = r"(-?\d+(?:\.\d+)?)"


class ParseError(ValueError):
    """The reply could not be read as scores; the message says why."""


def _loose_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name).lower()


def _candidates(text: str) -> list[Any]:
    """Every JSON object found in the text, fenced blocks first, in order of appearance."""
    found: list[Any] = []
    for block in _FENCE.findall(text):
        try:
            found.append(json.loads(block.strip()))
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        found.append(obj)
    return [c for c in found if isinstance(c, dict)]


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ParseError(f"{name} is a boolean, not a score")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*" + _NUM + r"\s*(?:/\s*\d+|out of \d+)?\s*", value)
        if m:
            return float(m.group(1))
    raise ParseError(f"{name} is not a number: {value!r}")


def _from_json(obj: dict[str, Any], names: tuple[str, ...]) -> dict[str, float] | None:
    flat = {_loose_key(k): v for k, v in obj.items()}
    for nested in ("scores", "score", "rating", "ratings"):
        inner = flat.get(nested)
        if isinstance(inner, dict):
            flat.update({_loose_key(k): v for k, v in inner.items()})
    if not all(_loose_key(n) in flat for n in names):
        return None
    return {n: _number(flat[_loose_key(n)], n) for n in names}


def _from_lines(text: str, names: tuple[str, ...]) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for name in names:
        words = r"[\s_-]*".join(re.escape(w) for w in re.split(r"[\s_-]+", name))
        pat = re.compile(r"\**\b" + words + r"\b\**\s*(?:score)?\s*[:=：\-]?\s*\**\s*" + _NUM, re.I)
        m = pat.search(text)
        if not m:
            return None
        out[name] = float(m.group(1))
    return out


def parse_scores(
    reply: str, names: tuple[str, ...] = ("coherence", "style_consistency"), lo: float = 1, hi: float = 5
) -> dict[str, float]:
    """Read named scores out of a judge reply.

    Args:
        reply: the judge model's text.
        names: the score names that must all be present.
        lo: smallest allowed value.
        hi: largest allowed value.

    Raises:
        ParseError: a score is missing, not a number, or outside [lo, hi].
    """
    text = _THINK.sub("", reply or "").strip()
    if not text:
        raise ParseError("empty reply")
    scores = None
    for obj in reversed(_candidates(text)):
        scores = _from_json(obj, names)
        if scores is not None:
            break
    if scores is None:
        scores = _from_lines(text, names)
    if scores is None:
        missing = [n for n in names if _loose_key(n) not in _loose_key(text)]
        raise ParseError(f"no scores found (missing: {', '.join(missing) or 'values'}) in: {text[:120]!r}")
    for name, value in scores.items():
        if not lo <= value <= hi:
            raise ParseError(f"{name}={value:g} is outside {lo:g}-{hi:g}")
    return scores
