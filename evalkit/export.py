"""The scored export in the original interleaved tool's format: captions inlined, ``modal`` tag -> caption."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evalkit.types import Sample, Verdict


def scored_export(samples: Sequence[Sample], verdicts: dict[str, Verdict]) -> str:
    """The judged records in the interleaved results format: captions inlined, ``modal`` tag -> caption.

    Records that could not be judged carry ``score: null`` and the ``error``: never a made-up score.
    """
    lines = []
    for s in samples:
        v = verdicts.get(s.id)
        rec: dict[str, Any] = {
            "domain": s.meta.get("domain", ""),
            "subdomain": s.meta.get("subdomain", ""),
            "id": s.meta.get("record_id", s.id),
        }
        if v is not None:
            rec["content"] = v.details.get("content", "")
            rec["modal"] = v.details.get("modal", {})
        if v is not None and v.ok:
            rec["score"] = v.scores
        else:
            rec["score"] = None
            rec["error"] = v.error if v is not None else "not judged"
        lines.append(json.dumps(rec, ensure_ascii=False, indent=4))
    return "\n".join(lines) + ("\n" if lines else "")
