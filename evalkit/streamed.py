"""``samples.<judge>.jsonl`` and the scored exports written while a pipelined run goes, not after its last answer.

A pipelined run (:func:`evalkit.runner.infer_and_judge`) hands each sample over once its verdict is final (stored
now or reused). :class:`StreamedOutputs` makes that sample's outcome and, for every sample up to the first one not
yet final, its line of ``samples.<judge>.jsonl`` and its scored records, and writes them in sample order into new
files beside the old ones. After the last answer only the run-wide numbers are left to compute (report rows,
failures) and the files are put in place (:meth:`StreamedOutputs.close`). The bytes are those the tail would write
(:func:`evalkit.report.sample_lines`, :func:`evalkit.export.scored_export`).

A metric is exported as integers while every value so far is whole (:class:`evalkit.export.WholeMetrics`); when a
fractional value shows up after records were written, the exports are begun again with the records so far. A
failure while streaming stops it (logged): the tail then writes the files whole as for any other run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from evalkit.export import ExportLayout, WholeMetrics, export_record, record_texts
from evalkit.judges.base import Judge
from evalkit.report import Outcome, WorstOf, outcome_of, ratio_metrics_of, record_outcome, sample_line
from evalkit.scoring import Clusters, sample_clusters
from evalkit.store import ExportFiles, LinesFile, RunStore
from evalkit.types import Prediction, RecordError, Sample, Verdict

log = logging.getLogger(__name__)


def sample_extras(sample: Sample, pred: Prediction | None) -> tuple[str, str, str]:
    """(prediction key, answer, reference) of a sample's line in ``samples.<judge>.jsonl``."""
    reference = "".join(p.value if p.type == "text" else f"<{p.tag or p.type}>" for p in sample.references)
    return ("", "", reference) if pred is None else (pred.key, pred.text, reference)


class StreamedOutputs:
    """The per-sample outputs of one judge, written in sample order as samples are handed over (:meth:`done`).

    Nothing is computed before the first sample is handed over (the run's start pays nothing); the run's maps of
    predictions and verdicts come with :meth:`bind` (an :class:`evalkit.runner.Handover`).

    Attributes:
        items: the outcomes written so far, bad records first, then the samples in order.
        clusters: sample id -> cluster (set up with the first sample).
        stopped: why streaming stopped (empty while it goes): the tail writes the files instead.
    """

    def __init__(
        self,
        store: RunStore,
        judge: Judge,
        name: str,
        samples: Sequence[Sample],
        errors: Sequence[RecordError],
        worst: WorstOf,
    ) -> None:
        self._store, self._judge, self._name = store, judge, name
        self._samples, self._errors, self._worst = samples, errors, worst
        self._preds: Mapping[str, Prediction] = {}
        self._verdicts: Mapping[str, Verdict] = {}
        self.items: list[Outcome] = []
        self.clusters = Clusters()
        self.stopped = ""
        self._pending: dict[str, Outcome] = {}  # handed over, waiting for an earlier sample
        self._next = 0  # index of the first sample not written
        self._whole = WholeMetrics()
        self._integer: frozenset[str] = frozenset()
        self._lines: LinesFile | None = None
        self._exports: ExportFiles | None = None
        self._layout = ExportLayout({}, ())
        self._ratio: list[str] = []

    @property
    def complete(self) -> bool:
        """Every sample written and nothing stopped streaming."""
        return not self.stopped and self._lines is not None and self._next == len(self._samples)

    def bind(self, preds: Mapping[str, Prediction], verdicts: Mapping[str, Verdict]) -> None:
        """The run's maps: sample id -> current prediction / verdict (read as samples are handed over)."""
        self._preds, self._verdicts = preds, verdicts

    def done(self, sample: Sample) -> None:
        """``sample``'s verdict is final: make its outcome, and write every sample up to the first not yet final.

        Never raises: a failure stops streaming (the tail writes the files instead).
        """
        if self.stopped:
            return
        try:
            if self._lines is None:
                self._start()
            sid = sample.id
            v = self._verdicts.get(sid)
            self._pending[sid] = outcome_of(sample, self._preds.get(sid), v, self._worst)
            if v is not None and v.ok and self._whole.note(v.scores):
                integer, self._integer = self._integer, self._whole.integer()
                if self._next and integer - self._integer:  # records written with integers that are not any more
                    self._restart_exports()
            self._write_ready()
        except Exception as exc:  # streaming only saves time: the tail writes the files the usual way
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("per-sample outputs not streamed (written after the run instead): %s", reason)
            self.stop(reason)

    def _start(self) -> None:
        self.clusters = sample_clusters(self._samples)
        self._layout = ExportLayout.of(self._samples)
        self._ratio = ratio_metrics_of(self._judge, self._judge.metrics)
        self._lines = LinesFile(self._store.samples_path(self._name))
        self._exports = ExportFiles(self._store, self._name, self._layout.sources)
        for e in self._errors:  # the bad records come first in samples.<judge>.jsonl, and are not exported
            o = record_outcome(e)
            self.items.append(o)
            self._lines.add(self._sample_line(o, ("", "", "")))

    def _sample_line(self, o: Outcome, extra: tuple[str, str, str]) -> bytes:
        cluster = self.clusters.get(o.sample_id, "s:" + o.sample_id)
        return sample_line(o, self._judge, self._ratio, cluster, extra).encode("utf-8")

    def _write_ready(self) -> None:
        assert self._lines is not None and self._exports is not None
        samples, pending, n = self._samples, self._pending, len(self._samples)
        while self._next < n:
            s = samples[self._next]
            o = pending.pop(s.id, None)
            if o is None:
                return
            pred = self._preds.get(s.id)
            self._lines.add(self._sample_line(o, sample_extras(s, pred)))
            self._exports.add(*self._texts(s, pred))
            self.items.append(o)
            self._next += 1

    def _texts(self, s: Sample, pred: Prediction | None) -> tuple[str, bytes, bytes, bytes]:
        v = self._verdicts.get(s.id)
        return record_texts(*export_record(s, v, pred, self._store.dir, self._layout, self._integer))

    def _restart_exports(self) -> None:
        """Write the exports anew: the records so far with the metrics typed as they are now."""
        assert self._exports is not None
        self._exports.abort()
        self._exports = ExportFiles(self._store, self._name, self._layout.sources)
        for s in self._samples[: self._next]:
            self._exports.add(*self._texts(s, self._preds.get(s.id)))

    def close(self) -> list[Path]:
        """Put the files in place (each is fsync'd, then renamed over the old one); returns their paths:
        ``samples.<judge>.jsonl``, then the exports. Only when :attr:`complete`."""
        if not self.complete or self._lines is None or self._exports is None:
            raise RuntimeError(f"streamed outputs are incomplete ({self.stopped or 'samples not handed over'})")
        exports, self._exports = self._exports, None
        try:
            paths = [self._lines.close()]
        except BaseException as exc:
            exports.abort(exc)
            raise
        return paths + exports.close()

    def stop(self, reason: str) -> None:
        """Give up streaming: the half-written files are removed, the old ones stay."""
        self.stopped = self.stopped or reason
        self._pending.clear()
        for f in (self._lines, self._exports):
            if f is not None:
                f.abort()
        self._exports = None
