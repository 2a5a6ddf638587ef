"""Single-choice (MQA) accuracy: rule-first choice extraction, an LLM extractor only when the rules fail.

The rules read, in order of trust (first decisive tier wins):

1. a bare letter: the whole answer is ``B``, ``(b)``, ``**B**``, ``[B].``, ``\\boxed{B}``;
2. a final-answer statement (``Final answer: B``, ``最终答案是B``): the last one counts;
3. answer statements (``The answer is (B)``, ``Answer: d``, ``答案是B``, ``选B``, ``I choose B``, ``B is correct``,
   ``The answer is river``): decisive when they all name the same option, ambiguous when they disagree;
4. mentions: a leading ``B.``/``(B)``/``b)``, letters in parentheses, ``option B``/``选项B``, standalone capitals,
   and option texts (``river``) as whole words (a text inside a longer matching option text does not count).
   Decisive when they all point to one option; two options mentioned is ambiguous. A letter right after a
   negation (``not B``, ``不是B``) is not a mention.

Lowercase letters count only where they cannot be an English word (``Answer: d``, ``b)``, a bare ``d``).
An answer none of this reads, nor the optional LLM extractor, is *unextracted*: wrong for accuracy, and
counted in the ``unextracted`` metric. Never a random guess, never dropped from the denominator.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.judges.base import ACCURACY, JUDGES, LOWER_RATE, Judge, JudgeContext, JudgeFailure, MetricSpec, Scored
from evalkit.models.base import Model
from evalkit.types import Part, Prediction, Sample, stable_hash

RULES_VERSION = "choice-rules-v1"
LETTERS = string.ascii_uppercase

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_LATEX = re.compile(r"\\(?:boxed|text|textbf|mathbf|mathrm)\s*\{([^{}]*)\}")
_MARKUP = re.compile(r"[*_`#]+")
_BARE = re.compile(r"[\s\"'“”‘’\[(<{]*(?:option\s+|选项)?([A-Za-z])[\s\"'“”‘’\])>}.,:;!。，：；！]*", re.I)
_NONE_REPLY = re.compile(r"[\s\"'\[(]*(?:none|n/?a|no answer|无)[\s\"'\]).。]*", re.I)
# The letter a statement names: a capital not glued to a word, or a lowercase letter closed by punctuation/end.
_LETTER = r"[(\[（]?\s*(?-i:([A-Z])(?![A-Za-z0-9'’])|([a-z])(?=\s*(?:$|[.,;:!?)\]）。，；：！？\n]|[\u4e00-\u9fff])))"
_OPT = r"(?:option|choice|letter)?\s*"
_FINAL = [
    re.compile(r"final\s+answer\s*(?:is|would be|:|：|-)?\s*[:：]?\s*" + _OPT + _LETTER, re.I),
    re.compile(r"最终(?:答案|选择)\s*(?:是|为|选)?\s*[:：]?\s*(?:选项)?\s*" + _LETTER),
]
_EXPLICIT = [
    re.compile(
        r"\banswer\s*(?:is|would be|should be|will be|must be|:|：|-|=)\s*[:：]?\s*(?:probably\s+|likely\s+)?"
        + _OPT
        + _LETTER,
        re.I,
    ),
    re.compile(r"\b(?:i\s+(?:would\s+|will\s+)?|let's\s+)(?:choose|select|pick|go\s+with)\s+" + _OPT + _LETTER, re.I),
    re.compile(r"\b(?:option|choice)\s+([A-Z])()\s+is\s+(?:the\s+)?(?:correct|right|best|answer)", re.I),
    re.compile(r"(?<![A-Za-z'’])([A-Z])()\s+is\s+(?:the\s+)?(?:correct|right|best)\b"),
    re.compile(r"(?:正确)?答案\s*(?:应该是|应为|是|为|选)?\s*[:：]?\s*(?:选项)?\s*" + _LETTER),
    re.compile(r"(?:我选择|我选|选择|应选|选)\s*(?:选项)?\s*" + _LETTER),
]
_EXPLICIT_TEXT = re.compile(r"\banswer\s*(?:is|would be|should be|:|：)\s*[:：]?\s*([^.\n。;；!?]+)", re.I)
_NEGATED_WORDS = re.compile(r"(?:\b(?:not|never|no|t|except|instead of|rather than)|不是|并非|排除|而非)\s*$")
_ARTICLE_USE = re.compile(r"\s+(?!(?:or|and|nor|is|was|seems|because|but|vs|versus|then|since|as|if)\b)[a-z]")
_NEGATED_PHRASE = re.compile(r"\s*(?:not|never|neither|no|none)\b", re.I)
_LEADING = re.compile(r"\s*[(\[（]?\s*([A-Za-z])\s*[)\]）.:：](?!\d)")
_MENTIONS = [
    re.compile(r"[(\[（]\s*([A-Za-z])\s*[)\]）]"),
    re.compile(r"\b(?:option|choice)\s+[(\[]?(?-i:([A-Z]))(?![A-Za-z0-9'’])", re.I),
    re.compile(r"选项\s*([A-Za-z])(?![A-Za-z])"),
    re.compile(r"(?<![A-Za-z0-9'’\\])([A-Z])(?![A-Za-z0-9'’])"),
]
_NEGATION = re.compile(
    r"(?:\bnot|n't|\bnever|\bexcept|\brather than|\binstead of|\bexclude|\brule out|不是|并非|排除|而非)\s*"
    r"(?:option\s+|choice\s+|选项)?[(\[（]?\s*$",
    re.I,
)
_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[).:：]\s*(.+?)\s*$", re.M)
_OPTION_INLINE = re.compile(r"\(([A-Z])\)\s*")


# ---------------------------------------------------------------- options


def parse_options(question: str) -> dict[str, str]:
    """Options written in a question, letter -> text: ``(A) apple (B) river`` inline, or one per line.

    Lines may read ``(A) apple``, ``A. apple``, ``A) apple`` or ``A: apple``. The letters must run A, B, C ...
    with at least two options; anything else gives ``{}``.
    """
    inline = list(_OPTION_INLINE.finditer(question))
    found: dict[str, str] = {}
    for i, m in enumerate(inline):
        end = inline[i + 1].start() if i + 1 < len(inline) else len(question)
        text = question[m.end() : end].split("\n", 1)[0].strip().rstrip(",;")
        found.setdefault(m.group(1), text)
    if not _consecutive(found):
        found = {}
        for m in _OPTION_LINE.finditer(question):
            found.setdefault(m.group(1), m.group(2).strip())
    return found if _consecutive(found) else {}


def _consecutive(options: dict[str, str]) -> bool:
    return len(options) >= 2 and "".join(options) == LETTERS[: len(options)] and all(options.values())


def options_from_choices(choices: Any) -> dict[str, str]:
    """A record's ``choices``: a list (lettered A, B, ...) or a mapping letter -> text.

    Raises:
        ValueError: not a list or mapping of non-empty strings, or more than 26 options.
    """
    if isinstance(choices, list):
        if len(choices) > len(LETTERS):
            raise ValueError(f"{len(choices)} choices: at most 26 are supported")
        choices = dict(zip(LETTERS, choices, strict=False))
    if not isinstance(choices, dict) or len(choices) < 2:
        raise ValueError("choices must be a list or a letter -> text mapping of at least two options")
    out = {str(k).strip().upper(): v for k, v in choices.items()}
    if any(len(k) != 1 or k not in LETTERS for k in out) or not all(
        isinstance(v, str) and v.strip() for v in out.values()
    ):
        raise ValueError("choices must map single letters to non-empty text")
    return {k: str(v).strip() for k, v in sorted(out.items())}


def format_options(options: dict[str, str]) -> str:
    """``(A) apple`` lines, as they are shown to models and to the LLM extractor."""
    return "\n".join(f"({k}) {v}" for k, v in options.items())


def norm_text(text: str) -> str:
    """Case- and punctuation-insensitive form of a text (``residential_area`` == ``Residential area``)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def gold_letter(answer: str, options: dict[str, str]) -> str | None:
    """The option letter a reference answer names: a letter, ``(B) river``, or the text of one option."""
    text = unicodedata.normalize("NFKC", answer).strip()
    m = re.fullmatch(r"\(?([A-Za-z])\)?[.:]?", text)
    if m and m.group(1).upper() in options:
        return m.group(1).upper()
    m = re.fullmatch(r"\(?([A-Z])[).:]\s*(.+)", text, re.S)
    if m and m.group(1) in options and norm_text(m.group(2)) == norm_text(options[m.group(1)]):
        return m.group(1)
    want = norm_text(text)
    hits = [k for k, v in options.items() if norm_text(v) == want]
    if not hits:  # "subwaystation" for "subway station"
        hits = [k for k, v in options.items() if norm_text(v).replace(" ", "") == want.replace(" ", "")]
    return hits[0] if len(hits) == 1 else None


# ---------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Extraction:
    """What the extractor read from an answer.

    Attributes:
        letter: the chosen option, or None when no option can be read.
        rule: the rule that decided, or why none did.
        candidates: the options seen when the answer is ambiguous.
    """

    letter: str | None
    rule: str
    candidates: tuple[str, ...] = ()


def clean_answer(text: str) -> str:
    """The answer without reasoning blocks, markdown emphasis and LaTeX wrappers; full-width forms folded."""
    text = _THINK.sub(" ", text or "")
    text = unicodedata.normalize("NFKC", text)
    for _ in range(3):  # nested \boxed{\text{B}}
        text = _LATEX.sub(r"\1", text)
    return _MARKUP.sub("", text).strip()


def _letters(patterns: list[re.Pattern[str]], text: str, options: dict[str, str]) -> list[str]:
    """Letters that statement patterns name, in order of appearance, restricted to the options."""
    hits: list[tuple[int, str]] = []
    for pat in patterns:
        for m in pat.finditer(text):
            letter = (m.group(1) or m.group(2) or "").upper()
            if letter in options:
                hits.append((m.start(), letter))
    return [letter for _, letter in sorted(hits)]


def _text_hits(text: str, options: dict[str, str], skip_negated: bool = False) -> set[str]:
    """Options whose text occurs in ``text`` as whole words, ignoring those inside a longer hit.

    With ``skip_negated``, an occurrence right after a negation (``not apple``) does not count.
    """
    hay = norm_text(text)
    found: dict[str, str] = {}
    for k, v in options.items():
        want = norm_text(v)
        if not want:
            continue
        pat = re.escape(want) if _is_cjk(want) else r"(?<!\S)" + re.escape(want) + r"(?!\S)"
        for m in re.finditer(pat, hay):
            if not (skip_negated and _NEGATED_WORDS.search(hay[max(0, m.start() - 30) : m.start()])):
                found[k] = want
                break
    return {k for k, v in found.items() if not any(v != w and v in w for w in found.values())}


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _explicit_text(text: str, options: dict[str, str]) -> list[str]:
    """Options named by text in answer statements: ``The answer is river``."""
    out = []
    for m in _EXPLICIT_TEXT.finditer(text):
        if _NEGATED_PHRASE.match(m.group(1)):
            continue
        hits = _text_hits(m.group(1), options)
        if len(hits) == 1:
            out.append(hits.pop())
    return out


def _mentions(text: str, options: dict[str, str]) -> set[str]:
    """Every option the answer points to, by letter or by text, except right after a negation."""
    seen: set[str] = set()
    m = _LEADING.match(text)
    if m and m.group(1).upper() in options:
        seen.add(m.group(1).upper())
    for pat in _MENTIONS:
        for m in pat.finditer(text):
            letter = m.group(1).upper()
            if letter not in options or _NEGATION.search(text[max(0, m.start() - 40) : m.start()]):
                continue
            if pat is _MENTIONS[-1] and letter in "AI" and _ARTICLE_USE.match(text, m.end()):
                continue  # the article "A" or the pronoun "I", not an option
            seen.add(letter)
    return seen | _text_hits(text, options, skip_negated=True)


def extract_choice(answer: str, options: dict[str, str]) -> Extraction:
    """Read the option an answer chose, by the rules in the module docstring; None when it cannot be read."""
    text = clean_answer(answer)
    if not text:
        return Extraction(None, "empty answer")
    m = _BARE.fullmatch(text)
    if m and m.group(1).upper() in options:
        return Extraction(m.group(1).upper(), "bare letter")
    finals = _letters(_FINAL, text, options)
    if finals:
        return Extraction(finals[-1], "final answer statement")
    stated = _letters(_EXPLICIT, text, options) + _explicit_text(text, options)
    if len(set(stated)) == 1:
        return Extraction(stated[0], "answer statement")
    if stated:
        return Extraction(None, "ambiguous: answer statements disagree", tuple(sorted(set(stated))))
    seen = _mentions(text, options)
    if len(seen) == 1:
        return Extraction(seen.pop(), "single option mentioned")
    if seen:
        return Extraction(None, "ambiguous: several options mentioned", tuple(sorted(seen)))
    return Extraction(None, "no option found")


def read_extractor_reply(reply: str, options: dict[str, str]) -> Extraction:
    """Read the LLM extractor's reply strictly: one letter, ``NONE``, or one short answer statement."""
    text = clean_answer(reply)
    m = _BARE.fullmatch(text)
    if m and m.group(1).upper() in options:
        return Extraction(m.group(1).upper(), "llm extractor")
    if _NONE_REPLY.fullmatch(text):
        return Extraction(None, "llm extractor: no single option")
    stated = _letters(_FINAL + _EXPLICIT, text, options)
    if len(text) <= 80 and len(set(stated)) == 1:
        return Extraction(stated[0], "llm extractor")
    return Extraction(None, "llm extractor: reply unreadable")


EXTRACTOR_PROMPT = """You read a model's reply to a multiple-choice question and report which option the reply chose.

Options:
{options}

The model's reply, between <reply> and </reply>:
<reply>
{answer}
</reply>

Which option did the reply choose? Reply with its letter only ({letters}). Reply NONE if the reply chose no \
option, more than one option, or you cannot tell."""


# ---------------------------------------------------------------- judge


@dataclass(frozen=True)
class ChoiceOptions:
    """Config keys of the choice judge.

    Attributes:
        extractor_model: model entry (config.yaml ``models:``) asked only when the rules read no option;
            empty: rules only.
        concurrency: samples judged at once.
    """

    extractor_model: str = ""
    concurrency: int = 16


@JUDGES.register("choice")
class ChoiceJudge(Judge):
    """``accuracy``: 1 when the extracted option is the reference's; ``unextracted``: 1 when none was read.

    Options come from ``meta["options"]`` (letter -> text); the reference letter from ``meta["answer_letter"]``,
    else from the reference text (a letter or an option's text).
    """

    Options = ChoiceOptions
    metrics: tuple[str, ...] = ("accuracy", "unextracted")
    metric_specs: ClassVar[dict[str, MetricSpec]] = {"accuracy": ACCURACY, "unextracted": LOWER_RATE}
    version = RULES_VERSION
    concurrency = 16
    options: ChoiceOptions

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        self.model: Model | None = (
            ctx.model_factory(self.options.extractor_model) if self.options.extractor_model else None
        )

    def identity(self) -> dict[str, Any]:
        extractor = {"model": self.model.identity(), "prompt": stable_hash(EXTRACTOR_PROMPT)} if self.model else None
        return {**super().identity(), "extractor": extractor}

    def describe(self) -> str:
        how = f"rules, then LLM extractor {self.model.name}" if self.model else "rules only"
        return f"{self.name} (choice extraction: {how}, {RULES_VERSION})"

    def prompt_hashes(self) -> dict[str, str]:
        return {"choice-extractor-v1": stable_hash(EXTRACTOR_PROMPT)} if self.model else {}

    def held_models(self) -> list[Model]:
        return [self.model] if self.model is not None else []

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        options = sample.meta.get("options") or {}
        if not isinstance(options, dict) or len(options) < 2:
            raise JudgeFailure(f"sample {sample.id} has no options (meta['options'])")
        refs = [p.value for p in sample.references if p.type == "text"]
        gold = sample.meta.get("answer_letter") or (gold_letter(refs[0], options) if refs else None)
        if gold not in options:
            raise JudgeFailure(f"sample {sample.id}: reference {refs[:1]!r} names none of the options")
        found = extract_choice(pred.text, options)
        details: dict[str, Any] = {"gold": gold, "extracted": found.letter, "rule": found.rule}
        if found.candidates:
            details["candidates"] = list(found.candidates)
        raw = None
        if found.letter is None and self.model is not None:
            prompt = EXTRACTOR_PROMPT.format(
                options=format_options(options), answer=pred.text, letters=", ".join(options)
            )
            gen = await self.model.generate_inner((Part("text", prompt),))
            raw = gen.text
            llm = read_extractor_reply(gen.text, options)
            details.update(extracted=llm.letter, rule=llm.rule, rules_said=found.rule, extractor_reply=gen.text)
            found = llm
        scores = {"accuracy": float(found.letter == gold), "unextracted": float(found.letter is None)}
        return Scored(scores=scores, raw=raw, details=details)
