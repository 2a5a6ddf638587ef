"""The scored export in the original interleaved tool's format: captions inlined, ``modal`` tag -> caption.

Three views of the same records are written by :meth:`evalkit.store.RunStore.write_exports`:

- ``scored.<judge>/<source file name>``: one file per source records file, pretty-printed JSON objects one after
  another, exactly as the original tool writes its results (so ids never collide across files);
- ``scored.<judge>.jsonl``: every record in that same pretty-printed format, each with its ``file``;
- ``scored.<judge>.lines.jsonl``: real JSON Lines (one object per line, each with its ``file``) for tools.

Produced media: a prediction with media parts of its own (a cascade's spoken reply, a rendered page) carries
``output``, the original tool's form of an answer: ``content`` (the answer text with its tags) and ``modal`` (tag ->
file path relative to the export file that holds the record, or the code itself for code parts).

Score types: a metric whose every value in the export is a whole number (a 1-5 rubric such as coherence, a 0/1
correctness) is written as integers (``4``, as the original tool writes them), any other metric as floats.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit import jsontext
from evalkit.types import Prediction, Sample, Verdict

#: one scored record and the tags of its ``output.modal`` that are file paths (re-based per source file)
Record = tuple[dict[str, Any], frozenset[str]]


@dataclass(frozen=True)
class ScoredExport:
    """The judged records of one run, made one at a time as they are written (never all held at once).

    Attributes:
        records: makes the records in sample order, each with its source ``file``: its path relative to the folder
            common to all source files (its name, when they share a folder); empty when there is none. Each comes
            with the ``output.modal`` tags that are file paths, written relative to the run folder (where the
            all-records exports lie) and re-based for the per-source files below it.
        sources: the source file names, in first-seen order.
        integer_metrics: metrics written as integers (every value whole).
    """

    records: Callable[[], Iterator[Record]]
    sources: tuple[str, ...] = ()
    integer_metrics: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, records: Sequence[dict[str, Any]], relocatable: frozenset[tuple[int, str]] = frozenset()
    ) -> ScoredExport:
        """An export of records already made (``relocatable``: (record index, tag) of paths to re-base)."""
        moved = [frozenset(t for i, t in relocatable if i == n) for n in range(len(records))]
        sources = tuple(dict.fromkeys(r["file"] for r in records if r.get("file")))
        return cls(lambda: iter(zip(records, moved, strict=True)), sources)

    def texts(self) -> Iterator[tuple[str, bytes, bytes, bytes]]:
        """Per record, as UTF-8: (its source, pretty with ``file``, pretty as its source's file holds it, one JSON
        line) (:func:`record_texts`)."""
        for r, moved in self.records():
            yield record_texts(r, moved)

    def pretty(self, source: str | None = None) -> str:
        """Pretty-printed objects one after another: all records (with ``file``), or one source's without it."""
        if source is None:
            lines = [full for _, full, _, _ in self.texts()]
        else:
            lines = [bare for src, _, bare, _ in self.texts() if src == source]
        return (b"\n".join(lines) + (b"\n" if lines else b"")).decode("utf-8")

    def json_lines(self) -> str:
        """One compact JSON object per line, every record with its ``file``."""
        return b"".join(line + b"\n" for _, _, _, line in self.texts()).decode("utf-8")


def record_texts(r: dict[str, Any], moved: frozenset[str]) -> tuple[str, bytes, bytes, bytes]:
    """One record as UTF-8: (its source, pretty with ``file``, pretty as its source's file holds it, one JSON line).

    ``file`` is the last key, so the one pretty text is the other with its last line added, unless the record has
    produced media re-based for the per-source file (``moved``: those tags).
    """
    source = r.get("file", "")
    line, full = jsontext.compact_and_pretty(r)
    if moved or next(reversed(r), None) != "file" or len(r) < 2:
        up = "../" * len(Path(source).parts)  # scored.<judge>/<source>: one folder per part below the run
        bare = {k: _rebased(v, moved, up) if k == "output" else v for k, v in r.items() if k != "file"}
        return source, full, jsontext.pretty_bytes(bare), line
    cut = full.rindex(b",\n")  # the last line before the closing brace is the file's
    return source, full, full[:cut] + b"\n}", line


def _rebased(output: dict[str, Any], moved: frozenset[str], up: str) -> dict[str, Any]:
    return {**output, "modal": {t: up + v if t in moved else v for t, v in output["modal"].items()}}


def _typed(scores: dict[str, float], integer_metrics: frozenset[str]) -> dict[str, Any]:
    return {k: int(v) if k in integer_metrics else v for k, v in scores.items()}


def _whole(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def produced_output(pred: Prediction, run_dir: Path) -> tuple[dict[str, Any], set[str]] | None:
    """``{"modal": tag -> path relative to run_dir (or code), "content": text}`` and the tags that are paths;
    None when the prediction holds no tagged parts."""
    tagged = [p for p in pred.parts if p.tag]
    if not tagged:
        return None
    modal: dict[str, str] = {}
    paths: set[str] = set()
    for p in tagged:
        if p.is_media:
            modal[p.tag] = Path(os.path.relpath(Path(p.value).resolve(), run_dir.resolve())).as_posix()
            paths.add(p.tag)
        else:
            modal[p.tag] = p.value
    return {"modal": modal, "content": pred.text}, paths


def scored_export(
    samples: Sequence[Sample],
    verdicts: Mapping[str, Verdict],
    preds: Mapping[str, Prediction] | None = None,
    run_dir: Path | None = None,
) -> ScoredExport:
    """The judged records in the interleaved results format: captions inlined, ``modal`` tag -> caption.

    Records that could not be judged carry ``score: null`` and the ``error``: never a made-up score. With
    ``preds`` and ``run_dir`` (where the all-records exports are written), answers with produced media carry
    ``output`` (see the module docstring). The records are made as the export is written, one at a time.
    """
    layout = ExportLayout.of(samples)
    whole = WholeMetrics()
    for s in samples:
        v = verdicts.get(s.id)
        if v is not None and v.ok:
            whole.note(v.scores)
    integer = whole.integer()
    by_id = preds or {}

    def records() -> Iterator[Record]:
        for s in samples:
            yield export_record(s, verdicts.get(s.id), by_id.get(s.id), run_dir, layout, integer)

    return ScoredExport(records, layout.sources, integer)


@dataclass(frozen=True)
class ExportLayout:
    """Where a run's samples come from, as the export names them.

    Attributes:
        relative: source file as a sample's meta names it -> its path relative to the folder all share.
        sources: those relative paths, in the samples' first-seen order.
    """

    relative: dict[str, str]
    sources: tuple[str, ...]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> ExportLayout:
        """The layout of ``samples``."""
        paths = sorted({str(f) for s in samples if (f := s.meta.get("file"))})
        common = Path(os.path.commonpath([str(Path(p).parent) for p in paths])) if paths else Path()
        relative = {p: Path(p).relative_to(common).as_posix() for p in paths}
        sources = tuple(dict.fromkeys(relative[str(f)] for s in samples if (f := s.meta.get("file"))))
        return cls(relative, sources)


_NO_PATHS: frozenset[str] = frozenset()


def export_record(
    s: Sample,
    v: Verdict | None,
    pred: Prediction | None,
    run_dir: Path | None,
    layout: ExportLayout,
    integer: frozenset[str],
) -> Record:
    """One sample's scored record and the ``output.modal`` tags that are file paths (see :func:`scored_export`;
    ``integer``: the metrics written as integers)."""
    meta = s.meta
    rec: dict[str, Any] = {
        "domain": meta.get("domain", ""),
        "subdomain": meta.get("subdomain", ""),
        "id": meta.get("record_id", s.id),
    }
    if v is not None:
        rec["content"] = v.details.get("content", "")
        rec["modal"] = v.details.get("modal", {})
    if v is not None and v.ok:
        rec["score"] = _typed(v.scores, integer)
    else:
        rec["score"] = None
        rec["error"] = v.error if v is not None else "not judged"
    out = produced_output(pred, run_dir) if pred is not None and run_dir is not None else None
    if out is not None:
        rec["output"] = out[0]
    file = meta.get("file")
    rec["file"] = layout.relative[str(file)] if file else ""
    return rec, frozenset(out[1]) if out is not None else _NO_PATHS


class WholeMetrics:
    """Which metrics have had only whole values so far (those are written as integers)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self.fractional: set[str] = set()

    def note(self, scores: Mapping[str, Any]) -> bool:
        """Count one ok verdict's scores; True when that may change :meth:`integer` (a metric first seen, or one
        whole until now that is not any more)."""
        changed = False
        for m, x in scores.items():
            if m not in self._seen:
                self._seen.add(m)
                changed = True
            if m not in self.fractional and not _whole(x):
                self.fractional.add(m)
                changed = True
        return changed

    def integer(self) -> frozenset[str]:
        """The metrics whose every value so far is a whole number."""
        return frozenset(self._seen - self.fractional)
