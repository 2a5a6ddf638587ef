"""Judges. Importing this package registers the built-in judges."""

from evalkit.judges import (
    asr,
    audio_qa,
    captioning,
    choice,
    coherence,
    exact_match,
    ifeval,
    mcq,
    proxy,
    retrieval,
    yes_no,
)
from evalkit.judges.base import JUDGES, Judge, JudgeContext, JudgeFailure, Scored

__all__ = [
    "JUDGES",
    "Judge",
    "JudgeContext",
    "JudgeFailure",
    "Scored",
    "asr",
    "audio_qa",
    "captioning",
    "choice",
    "coherence",
    "exact_match",
    "ifeval",
    "mcq",
    "proxy",
    "retrieval",
    "yes_no",
]
