"""What a judge family adds to a sample's entry: the WER alignment, the extracted choice, the top-k candidates."""

from __future__ import annotations

from typing import Any

from evalkit.types import Sample

TOP_K = 10


def asr_alignment(details: dict[str, Any]) -> list[list[str]]:
    """``[op, reference piece, hypothesis piece]`` per alignment chunk (op: eq, sub, del, ins), from jiwer.

    The pieces are the normalised texts the judge scored (``details`` of the ASR judge); characters are the
    unit for languages scored by CER.
    """
    import jiwer

    ref, hyp = str(details.get("reference", "")), str(details.get("hypothesis", ""))
    if not ref.strip():
        return [["ins", "", hyp]] if hyp.strip() else []
    by_char = details.get("unit") == "char"
    if not hyp.strip():
        return [["del", ref, ""]]
    out = jiwer.process_characters(ref, hyp) if by_char else jiwer.process_words(ref, hyp)
    r_tok = list(out.references[0])
    h_tok = list(out.hypotheses[0])
    sep = "" if by_char else " "
    names = {"equal": "eq", "substitute": "sub", "delete": "del", "insert": "ins"}
    ops: list[list[str]] = []
    for c in out.alignments[0]:
        ref_part, hyp_part = r_tok[c.ref_start_idx : c.ref_end_idx], h_tok[c.hyp_start_idx : c.hyp_end_idx]
        if c.type == "substitute":  # one pair per word: which word became which
            ops += [["sub", r, h] for r, h in zip(ref_part, hyp_part, strict=True)]
        else:
            ops.append([names[c.type], sep.join(ref_part), sep.join(hyp_part)])
    return ops


def retrieval_top(raw: Any, details: dict[str, Any], sample: Sample | None) -> list[dict[str, Any]]:
    """The ranked candidates the judge kept (best first), each with its text when the sample is known."""
    texts = {p.tag.removeprefix("cand:"): p.value for p in (sample.msg if sample else ()) if p.tag.startswith("cand:")}
    positives = details.get("positive_ranks") or {}
    ranked = raw if isinstance(raw, list) else []
    return [
        {"rank": n, "id": str(cid), "text": texts.get(str(cid), ""), "positive": str(cid) in positives}
        for n, cid in enumerate(ranked[:TOP_K], start=1)
    ]


def family_view(raw: Any, details: dict[str, Any], sample: Sample | None) -> dict[str, Any]:
    """The family-specific part of a verdict's page entry, chosen by the keys its details hold."""
    if "hypothesis" in details and "substitutions" in details:
        return {
            "kind": "asr",
            "align": asr_alignment(details),
            "counts": {k: details.get(k) for k in ("substitutions", "deletions", "insertions", "hits", "ref_len")},
        }
    if "extracted" in details:
        keys = ("extracted", "gold", "rule", "candidates", "extractor_reply", "question_type")
        return {"kind": "choice", **{k: details[k] for k in keys if k in details}}
    if "positive_ranks" in details:
        return {"kind": "retrieval", "top": retrieval_top(raw, details, sample), "positives": details["positive_ranks"]}
    return {}
