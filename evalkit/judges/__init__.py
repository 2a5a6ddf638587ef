"""Judges. Importing this package registers the built-in judges."""

from evalkit.judges import coherence, exact_match, proxy, retrieval
from evalkit.judges.base import JUDGES, Judge, JudgeContext, JudgeFailure, Scored

__all__ = ["JUDGES", "Judge", "JudgeContext", "JudgeFailure", "Scored", "coherence", "exact_match", "proxy", "retrieval"]
