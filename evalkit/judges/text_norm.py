"""Whisper-style text normalisation for ASR scoring, from the ``whisper-normalizer`` package.

``whisper-normalizer`` carries the English and basic normalisers of openai-whisper (``whisper.normalizers``)
without torch, numba or tiktoken, so it is the lighter of the two; both give the same text.

- English (``en``): Whisper's ``EnglishTextNormalizer``: lower case, no punctuation or bracketed text,
  contractions expanded, numbers and currencies written as digits, British spellings made American, fillers
  (``uh``, ``um``) removed. Scored as WER.
- Chinese (``zh``): Whisper's ``BasicTextNormalizer`` (lower case, symbols and punctuation removed, NFKC), then
  every space removed: scored as CER over characters. Traditional/simplified characters are not converted.
- Any other language: the basic normaliser, scored as WER over space-separated words.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from evalkit.errors import missing_extra

#: languages scored by character error rate (no word boundaries in writing)
CER_LANGUAGES = frozenset({"zh"})


def unit(language: str) -> str:
    """``char`` for CER languages, ``word`` for the others."""
    return "char" if language in CER_LANGUAGES else "word"


def metric_name(language: str) -> str:
    """``cer`` for CER languages, ``wer`` for the others."""
    return "cer" if language in CER_LANGUAGES else "wer"


@cache
def _normaliser(language: str) -> Callable[[str], str]:
    try:
        if language == "en":
            from whisper_normalizer.english import EnglishTextNormalizer

            return EnglishTextNormalizer()
        from whisper_normalizer.basic import BasicTextNormalizer

        return BasicTextNormalizer()
    except ImportError:
        raise missing_extra("whisper-normalizer", "audio") from None


def normalise(text: str, language: str) -> str:
    """The text as it is scored: Whisper-normalised, and for CER languages without any whitespace."""
    out = _normaliser(language)(text)
    if unit(language) == "char":
        return "".join(out.split())
    return " ".join(out.split())
