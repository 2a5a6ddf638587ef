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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit import jsontext
from evalkit.types import Prediction, Sample, Verdict


@dataclass(frozen=True)
class ScoredExport:
    """The judged records of one run, ready to write in each format.

    Attributes:
        records: one record per sample, in sample order, each with its source ``file``: its path relative to the
            folder common to all source files (its name, when they share a folder); empty when there is none.
        integer_metrics: metrics written as integers (every value whole).
        relocatable: (record index, tag) of ``output.modal`` entries that are file paths, written relative to the
            run folder (where the all-records exports lie) and re-based for the per-source files below it.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    integer_metrics: frozenset[str] = frozenset()
    relocatable: frozenset[tuple[int, str]] = frozenset()
    #: each record pretty-printed with its ``file`` and, for its own source's file, without; made once, on first use
    _texts: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False, compare=False)

    def sources(self) -> list[str]:
        """The source file names, in first-seen order (records without a file are left out)."""
        return list(dict.fromkeys(r["file"] for r in self.records if r["file"]))

    def pretty(self, source: str | None = None) -> str:
        """Pretty-printed objects one after another: all records (with ``file``), or one source's without it."""
        texts = self._pretty_texts()
        if source is None:
            lines = [full for full, _ in texts]
        else:
            lines = [bare for (_, bare), r in zip(texts, self.records, strict=True) if r["file"] == source]
        return "\n".join(lines) + ("\n" if lines else "")

    def _pretty_texts(self) -> list[tuple[str, str]]:
        """(record with ``file``, record without it as its source's file holds it), encoded once per record.

        ``file`` is the last key, so the one text is the other with its last line added, unless the record has
        produced media re-based for the per-source file.
        """
        if len(self._texts) == len(self.records):
            return self._texts
        moved = {i for i, _ in self.relocatable}
        for i, r in enumerate(self.records):
            source = r.get("file", "")
            if i in moved or next(reversed(r), None) != "file" or len(r) < 2:
                up = "../" * len(Path(source).parts)  # scored.<judge>/<source>: one folder per part below the run
                bare = {k: self._rebased(i, v, up) if k == "output" else v for k, v in r.items() if k != "file"}
                self._texts.append((jsontext.pretty(r), jsontext.pretty(bare)))
                continue
            bare_text = jsontext.pretty({k: v for k, v in r.items() if k != "file"})
            self._texts.append((f'{bare_text[:-2]},\n    "file": {jsontext.compact(source)}\n}}', bare_text))
        return self._texts

    def _rebased(self, index: int, output: dict[str, Any], up: str) -> dict[str, Any]:
        modal = {t: up + v if (index, t) in self.relocatable else v for t, v in output["modal"].items()}
        return {**output, "modal": modal}

    def json_lines(self) -> str:
        """One compact JSON object per line, every record with its ``file``."""
        return "\n".join(map(jsontext.compact, self.records)) + ("\n" if self.records else "")


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
    verdicts: dict[str, Verdict],
    preds: dict[str, Prediction] | None = None,
    run_dir: Path | None = None,
) -> ScoredExport:
    """The judged records in the interleaved results format: captions inlined, ``modal`` tag -> caption.

    Records that could not be judged carry ``score: null`` and the ``error``: never a made-up score. With
    ``preds`` and ``run_dir`` (where the all-records exports are written), answers with produced media carry
    ``output`` (see the module docstring).
    """
    paths = sorted({str(s.meta["file"]) for s in samples if s.meta.get("file")})
    common = Path(os.path.commonpath([str(Path(p).parent) for p in paths])) if paths else Path()
    ok = [v for v in (verdicts.get(s.id) for s in samples) if v is not None and v.ok]
    metrics = {m for v in ok for m in v.scores}
    integer = frozenset(m for m in metrics if all(_whole(v.scores[m]) for v in ok if m in v.scores))
    records: list[dict[str, Any]] = []
    relocatable: set[tuple[int, str]] = set()
    relative = {p: Path(p).relative_to(common).as_posix() for p in paths}
    by_id = preds or {}
    for s in samples:
        meta, v = s.meta, verdicts.get(s.id)
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
        pred = by_id.get(s.id)
        out = produced_output(pred, run_dir) if pred is not None and run_dir is not None else None
        if out is not None:
            rec["output"] = out[0]
            relocatable.update((len(records), t) for t in out[1])
        file = meta.get("file")
        rec["file"] = relative[str(file)] if file else ""
        records.append(rec)
    return ScoredExport(records=records, integer_metrics=integer, relocatable=frozenset(relocatable))
