"""Reading a judge model's reply as per-criterion scores, by rules rather than first matches.

Every value the reply gives for a criterion is collected (JSON or Python-dict objects, markdown tables, labelled
lines such as ``Coherence: 4/5`` or ``连贯性：4分``, "4 out of 5 for coherence"). A criterion is read only when
its evidence agrees and fits the scale; otherwise it fails with a reason:

- two different values ("3 or 4", "3-4", a score restated differently later) fail, naming both;
- a non-integer on an integer rubric fails (``4.0`` is 4);
- ``N/M`` with M other than the scale's top fails, unless the spec asks for rescaling;
- out-of-range values, booleans, nulls and words that are not numbers fail.

``<think>`` blocks are ignored. Failures are per criterion: one unreadable criterion leaves the others read.
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_ZH = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM = r"(?:\d+(?:\.\d+)?|(?<![a-z])(?:" + "|".join(_WORDS) + r")(?![a-z])|[" + "".join(_ZH) + "])"
_NUM_RE = re.compile(_NUM, re.I)
_FRACTION = re.compile(r"\s*\(?\s*(?:/|out\s+of\b|of\b|满分)\s*(" + _NUM + r")\s*\)?", re.I)
_UNIT = re.compile(r"\s*(?:分|points?\b|pts\b|stars?\b)", re.I)
_RANGE = re.compile(r"\s*(?:-|–|—|~|\bto\b|\bor\b|或者?|到|至)\s*(" + _NUM + r")(?![\d.])", re.I)
#: words that offer another value: anywhere later on the line (strong), or just before a number (weak)
_HEDGE_STRONG = re.compile(
    r"\b(?:actually|wait|revised\s+to|changed\s+to|make\s+that|more\s+like|closer\s+to|on\s+second\s+thought"
    r"|correction|realistically|rather)\b|->|→|改为|其实",
    re.I,
)
_HEDGE_WEAK = re.compile(r"\b(?:or|maybe|perhaps|possibly|might\s+be|arguably|instead)\b|或者?|也许|可能|或许", re.I)
_NUM_ALONE = re.compile(r"(?<![\w.<])" + _NUM + r"(?![\w>])", re.I)
_FOLLOW_OK = re.compile(
    r"\s*(?:$|\n|[.,;:!?)\]}|*\"'`，。；：！？、）】」》]|[-–—]\s|->|→|\((?!\d)|（"
    r"|(?:because|since|as|given|for|and|but|while|with|overall|which|so|on|due|here|there|out)\b"
    r"|[A-Z])"
)
_CONNECT_CHARS = re.compile(r"[\s*_\"'`:=|>→#\-–—]+")
_CONNECT_WORDS = re.compile(
    r"(?:(?:score|scores|rating|rated|rate|grade|is|was|of|a|an|at|as|i|i'd|i'll|would|will|give|gives|given"
    r"|it|this|put|say|gets|get|deserves|solid|about|around|roughly|approximately|earns|receives|be|should|my|final|overall|level)(?![a-z'])"
    r"|得分|评分|分数|打分|给出|我给|可以给|方面|为|是|给|打)",
    re.I,
)
_BEFORE = re.compile(
    r"(" + _NUM + r")(?:\s*(?:/|out\s+of)\s*(" + _NUM + r"))?\s*(?:points?\s+)?(?:for|on|in|to)\s+"
    r"(?:the\s+|its\s+|my\s+)?\**\s*$",
    re.I,
)
_SCALE_HINT = re.compile(
    r"\s*(?:(?:on\s+a\s+)?scale\s*(?:of\s*)?)?\d+\s*(?:-|–|~|to)\s*\d+\s*(?:分制?|points?)?\s*(?:scale)?\s*"
    r"|\s*(?:满分|out\s+of)\s*\d+\s*分?\s*|\s*\d+\s*分制\s*",
    re.I,
)
_OPEN = re.compile(r"\{|\[\s*\{")
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_SCORE_KEYS = ("score", "value", "rating", "points", "分数", "得分", "评分", "分")
_MAX_KEYS = ("max", "maxscore", "outof", "scale", "of", "满分")
_NAME_KEYS = ("criterion", "name", "metric", "aspect", "dimension", "category", "维度", "指标")
_KEY_SUFFIXES = ("scores", "score", "rating", "分数", "得分", "评分", "分")
_MAX_LITERAL = 10_000  # characters of one object; judge replies are far shorter
_MAX_ATTEMPTS = 64  # objects tried per reply, so that a pathological reply costs little


class ParseError(ValueError):
    """The reply could not be read as scores; the message says why."""


def norm_key(name: str) -> str:
    """A label or key as compared: NFKC, lower case, no spaces, underscores, dashes or markup, no 'score' suffix."""
    key = re.sub(r"[\s_\-*`'\".:：#]+", "", unicodedata.normalize("NFKC", name)).lower()
    for suffix in _KEY_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key


@dataclass(frozen=True)
class ScoreSpec:
    """What to read from a reply.

    Attributes:
        names: the criteria, in report order.
        lo: smallest allowed value.
        hi: largest allowed value (also the only accepted ``N/M`` denominator unless ``rescale``).
        integer: values must be whole numbers.
        rescale: read ``N/M`` with another M as ``N * hi / M`` (it must still be a whole number on an integer scale).
        aliases: criterion -> further labels that name it (``style`` for ``style_consistency``, ``连贯性``).
    """

    names: tuple[str, ...]
    lo: float = 1
    hi: float = 5
    integer: bool = True
    rescale: bool = False
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def labels(self) -> dict[str, str]:
        """Normalised label -> criterion."""
        out: dict[str, str] = {}
        for name in self.names:
            for label in (name, *self.aliases.get(name, ())):
                out.setdefault(norm_key(label), name)
        return out

    @cached_property
    def label_re(self) -> re.Pattern[str]:
        """Any label in running text, longest first; ASCII labels only as whole words."""
        forms: set[str] = set()
        for name in self.names:
            forms.update(label for label in (name, *self.aliases.get(name, ())) if label.strip())
        parts = []
        for label in sorted(forms, key=len, reverse=True):
            words = r"[\s_\-]*".join(re.escape(w) for w in re.split(r"[\s_\-]+", label.strip()))
            parts.append(rf"(?<![a-z]){words}(?![a-z])" if label.isascii() else words)
        return re.compile("|".join(parts), re.I)

    def criterion_of(self, label: str) -> str | None:
        """The criterion a key or label names, if any."""
        return self.labels.get(norm_key(label))


@dataclass(frozen=True)
class ScoreReading:
    """What a reply gave: values of the criteria that were read, a reason for each of the others.

    Attributes:
        scores: criterion -> value.
        errors: criterion -> why it has no value.
    """

    scores: dict[str, float]
    errors: dict[str, str]

    @property
    def complete(self) -> bool:
        """Every criterion was read."""
        return not self.errors

    def reason(self) -> str:
        """The failures in one line."""
        return "; ".join(dict.fromkeys(self.errors.values()))


@dataclass(frozen=True)
class _Hit:
    """One piece of evidence: a value, or a reason the stated value cannot be used."""

    value: float | None
    shown: str
    error: str = ""


def _num(token: str) -> float:
    token = token.strip().lower()
    if token in _WORDS:
        return float(_WORDS[token])
    if token in _ZH:
        return float(_ZH[token])
    return float(token)


def _fmt(x: float) -> str:
    return f"{x:g}"


class _Reader:
    """The rules for one spec and one criterion."""

    def __init__(self, spec: ScoreSpec, name: str) -> None:
        self.spec = spec
        self.name = name

    def check(self, value: float, shown: str, den: float | None = None) -> _Hit:
        spec, name = self.spec, self.name
        if den is not None and den != spec.hi:
            if not spec.rescale or den <= 0:
                return _Hit(None, shown, f"{name}: {shown!r} is not on the {_fmt(spec.lo)}-{_fmt(spec.hi)} scale")
            value = value * spec.hi / den
        if spec.integer and value != int(value):
            return _Hit(None, shown, f"{name}={_fmt(value)} is not an integer ({shown!r})")
        if not spec.lo <= value <= spec.hi:
            return _Hit(None, shown, f"{name}={_fmt(value)} is outside {_fmt(spec.lo)}-{_fmt(spec.hi)}")
        return _Hit(value, shown)

    def at(self, text: str, pos: int, *, whole: bool = False) -> tuple[_Hit | None, int]:
        """The value stated at ``text[pos:]`` (a number, fraction, range, hedge), and where it ends."""
        m = _NUM_RE.match(text, pos)
        if m is None:
            return None, pos
        word = not m.group(0)[0].isdigit()
        negative = pos > 0 and text[pos - 1] == "-" and (pos < 2 or text[pos - 2] in " :\t\n")
        value = -_num(m.group(0)) if negative else _num(m.group(0))
        end = m.end()
        if re.match(r",\d", text[end : end + 2]) and not re.match(r",\d{3}", text[end : end + 4]):
            shown = text[pos : end + 2]
            return _Hit(None, shown, f"{self.name}: {shown!r} has a decimal comma, not an integer"), end + 2
        if m.group(0)[0].isdigit() and text[end : end + 1] == "%":
            return _Hit(None, text[pos : end + 1], f"{self.name}: {text[pos : end + 1]!r} is a percentage"), end + 1
        den: float | None = None
        frac = _FRACTION.match(text, end)
        if frac and not (frac.group(0).lstrip().startswith("of") and word):
            den, end = _num(frac.group(1)), frac.end()
        unit = _UNIT.match(text, end)
        if unit:
            end = unit.end()
        shown = text[pos - negative : end].strip()
        rng = _RANGE.match(text, end)
        if rng and den is None:
            other = _num(rng.group(1))
            if other != value:
                low, high = sorted((value, other))
                why = f"conflicting values for {self.name}: {_fmt(low)} and {_fmt(high)}"
                return _Hit(None, text[pos : rng.end()].strip(), why), rng.end()
        rest = text[end:]
        if whole:
            if rest.strip(" \t\n.,;:!?。，*()（）") and not _FOLLOW_OK.match(rest):
                return None, pos
        elif not _FOLLOW_OK.match(rest) and not self.spec.label_re.match(rest.lstrip()):
            return None, pos
        hedge = self._hedged(text, end, value)
        if hedge is not None:
            return hedge, end
        return self.check(value, shown, den), end

    def _hedged(self, text: str, end: int, value: float) -> _Hit | None:
        """A second value offered as an alternative right after the first ("4, or maybe 3", "4 -> 3")."""
        window = text[end : end + 80].split("\n", 1)[0]
        label = self.spec.label_re.search(window)
        if label:
            window = window[: label.start()]
        m = None
        strong = _HEDGE_STRONG.search(window)
        if strong is not None:
            m = _NUM_ALONE.search(window, strong.end())
        for weak in _HEDGE_WEAK.finditer(window):
            if m is not None:
                break
            gap = re.match(r"\s*,?\s*(?:(?:an?|even|even\s+a)\s+)?", window[weak.end() :])
            m = _NUM_ALONE.match(window, weak.end() + (gap.end() if gap else 0))
        if m is None:
            return None
        other = _num(m.group(0))
        if other == value:
            return None
        low, high = sorted((value, other))
        return _Hit(None, window.strip(), f"conflicting values for {self.name}: {_fmt(low)} and {_fmt(high)}")

    def from_value(self, v: Any) -> _Hit:
        """A value found under the criterion's key in a JSON or Python object."""
        name = self.name
        if isinstance(v, bool):
            return _Hit(None, str(v), f"{name} is a boolean, not a score")
        if isinstance(v, int | float):
            return self.check(float(v), _fmt(float(v)))
        if isinstance(v, str):
            text = unicodedata.normalize("NFKC", v).strip().strip("*")
            hit, _ = self.at(text, 0, whole=True) if text else (None, 0)
            return hit or _Hit(None, v, f"{name} is not a number: {v!r}")
        if isinstance(v, dict):
            flat = {norm_key(str(k)): x for k, x in v.items()}
            score = next((flat[k] for k in _SCORE_KEYS if k in flat), None)
            if score is None:
                return _Hit(None, str(v)[:60], f"{name} holds no score: {str(v)[:60]!r}")
            top = next((flat[k] for k in _MAX_KEYS if k in flat), None)
            hit = self.from_value(score)
            if hit.value is not None and isinstance(top, int | float) and not isinstance(top, bool):
                return self.check(hit.value, f"{hit.shown}/{_fmt(float(top))}", float(top))
            return hit
        if isinstance(v, list) and v:
            hits = [self.from_value(x) for x in v]
            bad = next((h for h in hits if h.error), None)
            values = sorted({h.value for h in hits if h.value is not None})
            if bad is not None:
                return bad
            if len(values) > 1:
                shown = " and ".join(_fmt(x) for x in values)
                return _Hit(None, str(v), f"conflicting values for {name}: {shown}")
            return hits[0]
        return _Hit(None, repr(v)[:60], f"{name} is not a number: {v!r}")


# ----------------------------------------------------------------------------------------------- objects


def _balanced_end(text: str, start: int) -> int | None:
    """End of the bracketed literal starting at ``start`` (quote-aware), or None when it never closes."""
    depth, quote, i = 0, "", start
    while i < len(text) and i - start < _MAX_LITERAL:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _literal(span: str) -> Any:
    """A JSON or Python literal (ast.literal_eval, never eval); None when the span is neither."""
    for text in (span, re.sub(r",\s*([}\]])", r"\1", span)):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass
    try:
        return ast.literal_eval(span)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _objects(text: str) -> Iterator[tuple[int, int, Any]]:
    """Every outermost JSON or Python dict (or list of dicts) in the text, with its span."""
    i = 0
    for _ in range(_MAX_ATTEMPTS):
        m = _OPEN.search(text, i)
        if m is None:
            return
        end = _balanced_end(text, m.start())
        obj = _literal(text[m.start() : end]) if end is not None else None
        if isinstance(obj, dict | list):
            yield m.start(), end or m.end(), obj
            i = end or m.end()
        else:
            i = m.start() + 1


def _walk(obj: Any, spec: ScoreSpec, hits: dict[str, list[_Hit]], depth: int = 0) -> None:
    """Collect values under criterion keys, nested objects and ``{"criterion": ..., "score": ...}`` records."""
    if depth > 6:
        return
    if isinstance(obj, list):
        for item in obj:
            _walk(item, spec, hits, depth + 1)
        return
    if not isinstance(obj, dict):
        return
    flat = {norm_key(str(k)): v for k, v in obj.items()}
    named = next((flat[k] for k in _NAME_KEYS if isinstance(flat.get(k), str)), None)
    crit = spec.criterion_of(named) if named else None
    if crit is not None and any(k in flat for k in _SCORE_KEYS):
        rest = {k: v for k, v in obj.items() if norm_key(str(k)) != norm_key(str(named))}
        hits[crit].append(_Reader(spec, crit).from_value(rest))
        return
    for key, value in obj.items():
        crit = spec.criterion_of(str(key))
        if crit is not None:
            hits[crit].append(_Reader(spec, crit).from_value(value))
        elif isinstance(value, dict | list):
            _walk(value, spec, hits, depth + 1)


# ----------------------------------------------------------------------------------------------- tables


def _cells(line: str) -> list[str]:
    return [c.strip().strip("*").strip() for c in line.strip().strip("|").split("|")]


def _tables(text: str) -> Iterator[tuple[int, int, list[list[str]]]]:
    """Markdown tables: (start, end, rows of cells), separator rows left out."""
    for m in re.finditer(r"(?:^[ \t]*\|.*\|[ \t]*(?:\n|$))+", text, re.M):
        rows = [_cells(line) for line in m.group(0).splitlines() if line.strip()]
        rows = [r for r in rows if not all(re.fullmatch(r":?-+:?", c) for c in r if c)]
        if len(rows) >= 2:
            yield m.start(), m.end(), rows


def _from_table(rows: list[list[str]], spec: ScoreSpec, hits: dict[str, list[_Hit]]) -> bool:
    head = rows[0]
    found = False
    columns = {i: spec.criterion_of(c) for i, c in enumerate(head) if spec.criterion_of(c)}
    if columns:  # criteria across the header, values in the rows below
        for row in rows[1:]:
            for i, crit in columns.items():
                if crit is not None and i < len(row):
                    hit, _ = _Reader(spec, crit).at(row[i], 0, whole=True)
                    if hit is not None:
                        hits[crit].append(hit)
                        found = True
        return found
    score_col = next((i for i, c in enumerate(head) if norm_key(c) in {norm_key(k) for k in _SCORE_KEYS}), None)
    for row in rows:
        crit = spec.criterion_of(row[0]) if row else None
        if crit is None:
            continue
        reader = _Reader(spec, crit)
        cells = [row[score_col]] if score_col is not None and score_col < len(row) else row[1:]
        row_hits = [h for h in (reader.at(c, 0, whole=True)[0] for c in cells) if h is not None]
        if len(row_hits) > 1 and score_col is None and len({h.value for h in row_hits}) > 1:
            hits[crit].append(_Hit(None, " | ".join(row), f"the table row for {crit} holds several numbers"))
        elif row_hits:
            hits[crit].append(row_hits[0])
        found = found or bool(row_hits)
    return found


# ----------------------------------------------------------------------------------------------- prose


def _after_label(text: str, pos: int, reader: _Reader) -> _Hit | None:
    """The value a label introduces: skip separators, filler words and a parenthetical, then read a value."""
    limit = pos + 80
    while pos < min(limit, len(text)):
        m = _CONNECT_CHARS.match(text, pos) or _CONNECT_WORDS.match(text, pos)
        if m is not None and m.end() > pos:
            pos = m.end()
            continue
        if text[pos] in "([（":
            close = {"(": ")", "[": "]", "（": "）"}[text[pos]]
            end = text.find(close, pos, pos + 100)
            if end < 0:
                return None
            inside = text[pos + 1 : end]
            inner, _ = reader.at(inside.strip(), 0, whole=True)
            if inner is not None and not _SCALE_HINT.fullmatch(inside):
                return inner
            pos = end + 1
            continue
        break
    hit, _ = reader.at(text, pos)
    return hit


def _from_prose(text: str, spec: ScoreSpec, hits: dict[str, list[_Hit]]) -> None:
    for m in spec.label_re.finditer(text):
        crit = spec.criterion_of(m.group(0))
        if crit is None:
            continue
        reader = _Reader(spec, crit)
        hit = _after_label(text, m.end(), reader)
        if hit is None:
            before = _BEFORE.search(text[max(0, m.start() - 40) : m.start()])
            if before is not None:
                den = _num(before.group(2)) if before.group(2) else None
                hit = reader.check(_num(before.group(1)), before.group(0).strip(), den)
        if hit is not None:
            hits[crit].append(hit)


# ----------------------------------------------------------------------------------------------- entry points


def strip_thinking(reply: str) -> str:
    """The reply without ``<think>`` blocks (an unclosed one runs to the end; a bare ``</think>`` ends one)."""
    text = _THINK.sub("", reply or "")
    if "</think>" in text.lower():
        text = text[text.lower().rindex("</think>") + len("</think>") :]
    low = text.lower()
    if "<think>" in low:
        text = text[: low.index("<think>")]
    return text.strip()


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def read_scores(reply: str, spec: ScoreSpec) -> ScoreReading:
    """Read every criterion of ``spec`` from a judge reply, each with a value or a reason.

    Args:
        reply: the judge model's text.
        spec: the criteria, scale and labels.
    """
    text = unicodedata.normalize("NFKC", strip_thinking(reply))
    if not text:
        why = "empty reply" if not (reply or "").strip() else "the reply holds only thinking"
        return ScoreReading({}, {n: why for n in spec.names})
    hits: dict[str, list[_Hit]] = {n: [] for n in spec.names}
    prose = text
    for start, end, obj in list(_objects(text)):
        before = sum(len(h) for h in hits.values())
        _walk(obj, spec, hits)
        if sum(len(h) for h in hits.values()) > before:
            prose = _blank(prose, start, end)
    for start, end, rows in list(_tables(prose)):
        if _from_table(rows, spec, hits):
            prose = _blank(prose, start, end)
    _from_prose(prose, spec, hits)
    scores: dict[str, float] = {}
    errors: dict[str, str] = {}
    for name in spec.names:
        found = hits[name]
        bad = next((h for h in found if h.error), None)
        values = sorted({h.value for h in found if h.value is not None})
        if bad is not None:
            errors[name] = bad.error
        elif len(values) > 1:
            errors[name] = f"conflicting values for {name}: {' and '.join(_fmt(v) for v in values)}"
        elif values:
            scores[name] = values[0]
        else:
            errors[name] = f"no scores found for {name}" + ("" if scores or errors else f" in: {text[:80]!r}")
    return ScoreReading(scores, errors)


def parse_scores(
    reply: str,
    names: tuple[str, ...] = ("coherence", "style_consistency"),
    lo: float = 1,
    hi: float = 5,
    *,
    integer: bool = True,
    rescale: bool = False,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, float]:
    """Read all named scores out of a judge reply, or fail (see :func:`read_scores` for partial results).

    Args:
        reply: the judge model's text.
        names: the score names that must all be present.
        lo: smallest allowed value.
        hi: largest allowed value.
        integer: values must be whole numbers.
        rescale: accept ``N/M`` with another M, rescaled to ``hi``.
        aliases: criterion -> further labels.

    Raises:
        ParseError: a score is missing, conflicting, not a number, not an integer, off the scale or out of range.
    """
    spec = ScoreSpec(names, lo, hi, integer, rescale, dict(aliases or {}))
    reading = read_scores(reply, spec)
    if not reading.complete:
        raise ParseError(reading.reason())
    return reading.scores
