"""IFEval's rule-based instruction checkers, one function per instruction id.

The semantics follow the IFEval paper's reference checkers (Zhou et al., 2023, ``instruction_following_eval``);
the code is evalkit's own. Each checker takes the response and the instruction's keyword arguments and returns
whether the response follows it. Two places differ from the reference implementation, both documented on the
function concerned: sentence splitting is a rule-based splitter written here, and the capital-word tokenizer
is a regex instead of NLTK's ``word_tokenize`` (which needs data that is downloaded at run time).

A missing or unknown keyword argument raises :class:`CheckError`: the reference code would draw a random
value, which evalkit never does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evalkit.errors import missing_extra

RELATIONS = ("less than", "at least")
CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")
_WORD = re.compile(r"\w+")
_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


class CheckError(Exception):
    """An instruction cannot be checked: unknown id, bad keyword arguments, or a missing optional package."""


@dataclass(frozen=True)
class Check:
    """One instruction checker.

    Attributes:
        fn: ``fn(response, **kwargs) -> bool``.
        params: the keyword arguments the instruction takes, all required.
    """

    fn: Callable[..., bool]
    params: tuple[str, ...]


CHECKS: dict[str, Check] = {}


def _check(name: str, *params: str) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    def deco(fn: Callable[..., bool]) -> Callable[..., bool]:
        CHECKS[name] = Check(fn, params)
        return fn

    return deco


def run_check(instruction_id: str, response: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``response`` follows the instruction; ``None`` keyword values are treated as absent.

    Raises:
        CheckError: unknown instruction id, missing or unexpected keyword arguments, a bad value.
    """
    check = CHECKS.get(instruction_id)
    if check is None:
        raise CheckError(f"unknown IFEval instruction id {instruction_id!r}")
    given = {k: v for k, v in kwargs.items() if v is not None}
    extra = sorted(set(given) - set(check.params))
    missing = [p for p in check.params if p not in given]
    if extra or missing:
        raise CheckError(
            f"{instruction_id}: kwargs must be {list(check.params)}; missing {missing}, unexpected {extra}"
        )
    try:
        return bool(check.fn(response, **given))
    except (TypeError, ValueError, re.error) as exc:
        raise CheckError(f"{instruction_id}: bad kwargs {given}: {exc}") from exc


def _compare(count: int, relation: str, target: Any) -> bool:
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
    return count < int(target) if relation == "less than" else count >= int(target)


def _detect_language(text: str) -> str | None:
    """The langdetect language code of ``text``, or None where langdetect finds no features (reference: pass)."""
    try:
        import langdetect
        from langdetect.lang_detect_exception import LangDetectException
    except ImportError as exc:
        raise CheckError(str(missing_extra("langdetect", "ifeval"))) from exc
    langdetect.DetectorFactory.seed = 0  # langdetect samples at random; a fixed seed makes verdicts repeatable
    try:
        return str(langdetect.detect(text))
    except LangDetectException:
        return None


# keywords ---------------------------------------------------------------------------------------------------


@_check("keywords:existence", "keywords")
def keywords_existence(response: str, keywords: list[str]) -> bool:
    """Every keyword occurs (case-insensitive regex search, as the reference does)."""
    return all(re.search(k, response, flags=re.IGNORECASE) for k in keywords)


@_check("keywords:forbidden_words", "forbidden_words")
def forbidden_words(response: str, forbidden_words: list[str]) -> bool:
    """No forbidden word occurs as a whole word (case-insensitive)."""
    return not any(re.search(r"\b" + w + r"\b", response, flags=re.IGNORECASE) for w in forbidden_words)


@_check("keywords:frequency", "keyword", "frequency", "relation")
def keyword_frequency(response: str, keyword: str, frequency: int, relation: str) -> bool:
    """The keyword's case-insensitive occurrence count is ``< frequency`` or ``>= frequency``."""
    return _compare(len(re.findall(keyword, response, flags=re.IGNORECASE)), relation, frequency)


@_check("keywords:letter_frequency", "letter", "let_frequency", "let_relation")
def letter_frequency(response: str, letter: str, let_frequency: int, let_relation: str) -> bool:
    """The letter's case-insensitive count is ``< let_frequency`` or ``>= let_frequency``."""
    return _compare(response.lower().count(letter.lower()), let_relation, let_frequency)


# length -----------------------------------------------------------------------------------------------------


def count_words(text: str) -> int:
    """Words as runs of ``\\w`` characters (the reference uses NLTK's ``RegexpTokenizer(r"\\w+")``, the same)."""
    return len(_WORD.findall(text))


_ABBREV = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Inc|Ltd|Jr|Sr|Co|Ph\.D)\.")
_PROTECT = (
    re.compile(r"(?<=\d)\.(?=\d)"),  # decimals: 3.14
    re.compile(r"\.(?=(?:com|net|org|io|gov|edu|me)\b)"),  # web addresses
    re.compile(r"(?<=\s[A-Za-z])\."),  # a single letter after a space: initials, "option A."
)
_ACRONYM = re.compile(r"\b[A-Za-z]\.[A-Za-z]\.(?:[A-Za-z]\.)?")  # U.S., e.g., U.S.A.
_HOLD = "\x00"


def split_sentences(text: str) -> list[str]:
    """Split into sentences after ``.``, ``?`` and ``!``, not inside titles (Mr., Inc.), acronyms (U.S.), decimals,
    web addresses or after a single letter; a run of dots ends one sentence; a closing quote stays with it.

    The reference uses a similar rule-based splitter; counts can differ on unusual punctuation.
    """
    text = " " + text.replace("\n", " ") + " "
    for rule in (_ABBREV, _ACRONYM):
        text = rule.sub(lambda m: m.group(0).replace(".", _HOLD), text)
    for rule in _PROTECT:
        text = rule.sub(_HOLD, text)
    text = re.sub(r"\.{2,}", lambda m: _HOLD * len(m.group(0)) + "\x01", text)
    text = re.sub(r"([.?!])([\"”’]?)", lambda m: m.group(2) + m.group(1) + "\x01", text)
    parts = [p.replace(_HOLD, ".").strip() for p in text.split("\x01")]
    while parts and not parts[-1]:
        parts.pop()
    return parts


@_check("length_constraints:number_words", "num_words", "relation")
def number_words(response: str, num_words: int, relation: str) -> bool:
    """The word count is ``< num_words`` or ``>= num_words``."""
    return _compare(count_words(response), relation, num_words)


@_check("length_constraints:number_sentences", "num_sentences", "relation")
def number_sentences(response: str, num_sentences: int, relation: str) -> bool:
    """The sentence count (see :func:`split_sentences`) is ``< num_sentences`` or ``>= num_sentences``."""
    return _compare(len(split_sentences(response)), relation, num_sentences)


@_check("length_constraints:number_paragraphs", "num_paragraphs")
def number_paragraphs(response: str, num_paragraphs: int) -> bool:
    """Exactly ``num_paragraphs`` paragraphs separated by ``***``; an empty one is allowed only at either end."""
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for i, para in enumerate(paragraphs):
        if not para.strip():
            if i not in (0, len(paragraphs) - 1):
                return False
            count -= 1
    return count == int(num_paragraphs)


@_check("length_constraints:nth_paragraph_first_word", "num_paragraphs", "nth_paragraph", "first_word")
def nth_paragraph_first_word(response: str, num_paragraphs: int, nth_paragraph: int, first_word: str) -> bool:
    """Exactly ``num_paragraphs`` non-empty paragraphs separated by blank lines, the nth starting with the word."""
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for p in paragraphs if p.strip())
    nth = int(nth_paragraph)
    if not 1 <= nth <= count:
        return False
    para = paragraphs[nth - 1].strip()
    if not para:
        return False
    word = para.split()[0].strip().lstrip("'").lstrip('"')
    found = ""
    for ch in word:
        if ch in ".,?!'\"":
            break
        found += ch.lower()
    return count == int(num_paragraphs) and found == first_word.lower()


# format -----------------------------------------------------------------------------------------------------


@_check("detectable_format:json_format")
def json_format(response: str) -> bool:
    """The whole response (optionally inside a Markdown code fence) parses as JSON."""
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@_check("detectable_format:title")
def title(response: str) -> bool:
    """A non-empty title in double angular brackets, such as ``<<poem of joy>>``."""
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


@_check("detectable_format:number_bullet_lists", "num_bullets")
def number_bullet_lists(response: str, num_bullets: int) -> bool:
    """Exactly ``num_bullets`` Markdown bullet lines (``* item`` or ``- item``)."""
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == int(num_bullets)


@_check("detectable_format:number_highlighted_sections", "num_highlights")
def number_highlighted_sections(response: str, num_highlights: int) -> bool:
    """At least ``num_highlights`` non-empty ``*highlighted*`` spans (``**bold**`` spans count as well)."""
    singles = re.findall(r"\*[^\n\*]*\*", response)
    doubles = re.findall(r"\*\*[^\n\*]*\*\*", response)
    count = sum(1 for h in singles if h.strip("*").strip())
    count += sum(1 for h in doubles if h.removeprefix("**").removesuffix("**").strip())
    return count >= int(num_highlights)


@_check("detectable_format:multiple_sections", "section_spliter", "num_sections")
def multiple_sections(response: str, section_spliter: str, num_sections: int) -> bool:
    """At least ``num_sections`` sections introduced by the splitter and a number (``Section 1``)."""
    return len(re.split(r"\s?" + section_spliter + r"\s?\d+\s?", response)) - 1 >= int(num_sections)


@_check("detectable_format:constrained_response")
def constrained_response(response: str) -> bool:
    """The response contains one of the fixed answers (``My answer is yes.`` ...)."""
    text = response.strip()
    return any(option in text for option in CONSTRAINED_OPTIONS)


# case, start/end, punctuation, content, combination ---------------------------------------------------------


@_check("change_case:english_lowercase")
def english_lowercase(response: str) -> bool:
    """All lowercase and detected as English (langdetect; text it cannot classify passes, as in the reference)."""
    return response.islower() and _detect_language(response) in ("en", None)


@_check("change_case:english_capital")
def english_capital(response: str) -> bool:
    """All capitals and detected as English (langdetect; text it cannot classify passes, as in the reference)."""
    return response.isupper() and _detect_language(response) in ("en", None)


@_check("change_case:capital_word_frequency", "capital_frequency", "capital_relation")
def capital_word_frequency(response: str, capital_frequency: int, capital_relation: str) -> bool:
    """The count of all-capital words is ``< capital_frequency`` or ``>= capital_frequency``.

    Words come from a regex tokenizer (words with an inner apostrophe, or single punctuation marks); the
    reference uses NLTK's ``word_tokenize``, which splits contractions differently.
    """
    return _compare(sum(1 for w in _TOKEN.findall(response) if w.isupper()), capital_relation, capital_frequency)


@_check("startend:end_checker", "end_phrase")
def end_checker(response: str, end_phrase: str) -> bool:
    """The response ends with the phrase (case-insensitive, surrounding spaces ignored)."""
    return response.strip().lower().endswith(end_phrase.strip().lower())


@_check("startend:quotation")
def quotation(response: str) -> bool:
    """The whole response is wrapped in double quotation marks."""
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


@_check("punctuation:no_comma")
def no_comma(response: str) -> bool:
    """No ASCII comma anywhere."""
    return "," not in response


@_check("detectable_content:postscript", "postscript_marker")
def postscript(response: str, postscript_marker: str) -> bool:
    """A postscript starting with the marker (``P.S.``, ``P.P.S``; spaces between letters tolerated)."""
    text = response.lower()
    if postscript_marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif postscript_marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + postscript_marker.lower() + r".*$"
    return bool(re.findall(pattern, text, flags=re.MULTILINE))


@_check("detectable_content:number_placeholders", "num_placeholders")
def number_placeholders(response: str, num_placeholders: int) -> bool:
    """At least ``num_placeholders`` square-bracket placeholders such as ``[address]``."""
    return len(re.findall(r"\[.*?\]", response)) >= int(num_placeholders)


@_check("combination:repeat_prompt", "prompt_to_repeat")
def repeat_prompt(response: str, prompt_to_repeat: str) -> bool:
    """The response starts with the request, repeated word for word (case-insensitive)."""
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


@_check("combination:two_responses")
def two_responses(response: str) -> bool:
    """Two different responses separated by ``******`` (an empty part only at either end)."""
    parts = response.split("******")
    kept = []
    for i, part in enumerate(parts):
        if not part.strip():
            if i not in (0, len(parts) - 1):
                return False
        else:
            kept.append(part)
    return len(kept) == 2 and kept[0].strip() != kept[1].strip()


@_check("language:response_language", "language")
def response_language(response: str, language: str) -> bool:
    """langdetect finds the language code (``kn``, ``fr`` ...); text it cannot classify passes, as in the reference."""
    return _detect_language(response) in (language, None)
