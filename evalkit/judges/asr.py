"""Corpus-level ASR error rates: WER for English, CER for Chinese, after Whisper-style normalisation.

Each sample's edit counts come from jiwer (``process_words``, or ``process_characters`` for CER) on the
normalised texts (:mod:`evalkit.judges.text_norm`) and are kept in the verdict's details. A report row is
corpus-level: the summed errors (substitutions + deletions + insertions) over the summed reference length, over
the samples of that row (each subset separately), as Kimi-Audio-Evalkit and Whisper's evaluations compute it.
The per-sample score is that sample's own rate, kept for inspection only.

A reference that is empty after normalisation (``"Hmm."``) has no defined rate: the sample is a recorded
failure, not a zero. An empty hypothesis is scored (all deletions).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.errors import ConfigError, missing_extra
from evalkit.judges.base import JUDGES, Judge, JudgeContext, JudgeFailure, MetricSpec, Scored
from evalkit.judges.text_norm import metric_name, normalise, unit
from evalkit.report import Outcome
from evalkit.types import Prediction, Sample


@dataclass(frozen=True)
class EditCounts:
    """Edit operations between one normalised reference and hypothesis.

    Attributes:
        language: the language code that chose normaliser and unit.
        unit: ``word`` or ``char``.
        substitutions: substituted units.
        deletions: reference units missing from the hypothesis.
        insertions: hypothesis units not in the reference.
        hits: matching units.
        ref_len: units in the normalised reference (hits + substitutions + deletions).
        reference: the normalised reference.
        hypothesis: the normalised hypothesis.
    """

    language: str
    unit: str
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    ref_len: int
    reference: str
    hypothesis: str

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    def to_details(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "unit": self.unit,
            "errors": self.errors,
            "ref_len": self.ref_len,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "hits": self.hits,
            "reference": self.reference,
            "hypothesis": self.hypothesis,
        }


def edit_counts(reference: str, hypothesis: str, language: str, normalize: bool = True) -> EditCounts:
    """Normalise both texts for ``language`` and count edits with jiwer.

    Args:
        reference: the reference transcript.
        hypothesis: the model's transcript.
        language: ``en`` (WER, English normaliser), ``zh`` (CER, Chinese normaliser: numbers, t2s), other (WER, basic).
        normalize: apply the Whisper normaliser (off: only whitespace is collapsed, and removed for CER).
    """
    try:
        import jiwer
    except ImportError:
        raise missing_extra("jiwer", "audio") from None
    kind = unit(language)
    if normalize:
        ref, hyp = normalise(reference, language), normalise(hypothesis, language)
    else:
        sep = "" if kind == "char" else " "
        ref, hyp = sep.join(reference.split()), sep.join(hypothesis.split())
    if not ref:
        return EditCounts(language, kind, 0, 0, len(hyp if kind == "char" else hyp.split()), 0, 0, ref, hyp)
    out = jiwer.process_characters(ref, hyp) if kind == "char" else jiwer.process_words(ref, hyp)
    return EditCounts(
        language=language,
        unit=kind,
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
        hits=out.hits,
        ref_len=out.hits + out.substitutions + out.deletions,
        reference=ref,
        hypothesis=hyp,
    )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class ASROptions:
    """Config keys of the ASR judge.

    Attributes:
        language: ``en``, ``zh`` or another code for every sample; empty: each sample's ``meta["language"]``.
        normalize: apply Whisper-style normalisation (the standard; off only to reproduce raw-text numbers).
        concurrency: samples scored at once.
    """

    language: str = ""
    normalize: bool = True
    concurrency: int = 64


@JUDGES.register("asr")
class ASRJudge(Judge):
    """``wer`` (word error rate) for English and other spaced languages, ``cer`` for Chinese: corpus-level."""

    Options = ASROptions
    metrics: tuple[str, ...] = ("wer", "cer")
    # a sample without an answer counts as every reference unit deleted (per-sample rate 1.0)
    metric_specs: ClassVar[dict[str, MetricSpec]] = {
        m: MetricSpec(higher_is_better=False, worst=1.0, kind="ratio") for m in ("wer", "cer")
    }
    version = "asr-v2"  # v2: Chinese numbers and traditional characters normalised (evalkit.judges.zh_norm)
    concurrency = 64
    options: ASROptions

    def __init__(self, name: str, options: Any, ctx: JudgeContext) -> None:
        super().__init__(name, options, ctx)
        lang = self.options.language
        if lang and (lang != lang.strip().lower() or not lang.isascii()):
            raise ConfigError(f"judge {name}: language must be a lower-case code such as en or zh, got {lang!r}")
        if lang:
            self._report_metrics((metric_name(lang),))

    def _report_metrics(self, names: tuple[str, ...]) -> None:
        # metrics follow the options or the corpus: rows for units that are absent would be noise
        self.metrics = names

    def identity(self) -> dict[str, Any]:
        # a new normaliser or jiwer release may change the counts: it re-judges rather than mixing versions
        return {
            **super().identity(),
            "packages": {p: _version(p) for p in ("jiwer", "whisper-normalizer", "cn2an", "opencc")},
        }

    def describe(self) -> str:
        norm = "Whisper normaliser" if self.options.normalize else "no normaliser"
        return f"{self.name} (corpus-level WER/CER with jiwer, {norm})"

    def prepare(self, samples: Sequence[Sample], preds: dict[str, Prediction]) -> None:
        if self.options.language or not samples:
            return
        present = {metric_name(str(s.meta.get("language", ""))) for s in samples if s.meta.get("language")}
        self._report_metrics(tuple(m for m in type(self).metrics if m in present) or type(self).metrics)

    def worst_details(self, sample: Sample) -> dict[str, Any] | None:
        lang = self.options.language or str(sample.meta.get("language", ""))
        refs = [p.value for p in sample.references if p.type == "text"]
        if not lang or not refs:
            return None
        return edit_counts(refs[0], "", lang, self.options.normalize).to_details()

    def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
        return float(outcome.details["errors"]), float(outcome.details["ref_len"])

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        lang = self.options.language or str(sample.meta.get("language", ""))
        if not lang:
            raise JudgeFailure(f"sample {sample.id} has no language: set 'language' on the dataset or the judge")
        refs = [p.value for p in sample.references if p.type == "text"]
        if not refs:
            raise JudgeFailure(f"sample {sample.id} has no reference transcript")
        counts = edit_counts(refs[0], pred.text, lang, self.options.normalize)
        details = counts.to_details()
        if counts.ref_len == 0:
            raise JudgeFailure(
                f"reference is empty after normalisation: {refs[0]!r} has no {counts.unit}s to score", details=details
            )
        return Scored(scores={metric_name(lang): counts.errors / counts.ref_len}, details=details)

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        """Total errors over total reference units of the outcomes that have ``metric``."""
        words = sum(int(o.details["ref_len"]) for o in scored)
        return sum(int(o.details["errors"]) for o in scored) / words
