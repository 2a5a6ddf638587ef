"""CIDEr-D over a whole corpus, vectorised with numpy.

It computes the same numbers as pycocoevalcap 1.2's ``Cider`` (the CIDEr-D of the COCO caption evaluation
code, which DCASE/Clotho evaluation tools also use), with every definition kept, quirks included:

- n-grams of orders 1..n from whitespace-split, already tokenised text;
- document frequency: in how many clips' reference *sets* an n-gram occurs; ``idf = log(N) - log(max(1, df))``
  with N the number of clips in the corpus, so an n-gram that no reference has gets ``log(N)``;
- per order, cosine of tf-idf vectors with the candidate's weights clipped to the reference's
  (``min(h, r) * r``), divided by the unclipped norms (no division when a norm is 0);
- Gaussian length penalty ``exp(-(lh - lr)^2 / (2 sigma^2))`` where a sentence's length is its number of
  *bigrams* (pycocoevalcap counts term frequencies of the order-2 vectors);
- a clip's score: 10 x the mean over orders of the sum over references, divided by the number of references;
  the corpus score is the mean of the clips' scores.

Instead of one Python dictionary per sentence, every distinct n-gram gets an integer id (an order-k id is the
rank of ``(id of its first k-1 words) * V + id of its last word``), and the sums are ``np.bincount`` calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CiderResult:
    """CIDEr-D of a corpus.

    Attributes:
        score: the corpus value (the mean of ``per_sample``).
        per_sample: one value per candidate, in input order.
    """

    score: float
    per_sample: FloatArray


@dataclass(frozen=True)
class _Grams:
    """The n-gram term frequencies of every sentence, one row per (sentence, n-gram).

    Attributes:
        sentence: sentence index of each row.
        order: n-gram order minus one (0 for unigrams).
        gram: corpus-wide n-gram id.
        tf: occurrences of the n-gram in the sentence.
        n_grams: number of distinct n-grams (ids are below it).
    """

    sentence: IntArray
    order: IntArray
    gram: IntArray
    tf: FloatArray
    n_grams: int


def _token_ids(sentences: Sequence[str]) -> tuple[IntArray, IntArray, int]:
    """Word ids of all sentences, concatenated, the length of each sentence, and the vocabulary size."""
    vocab: dict[str, int] = {}
    lengths = np.zeros(len(sentences), dtype=np.int64)
    ids: list[int] = []
    for i, sentence in enumerate(sentences):
        words = sentence.split()
        lengths[i] = len(words)
        ids.extend([vocab.setdefault(w, len(vocab)) for w in words])
    return np.asarray(ids, dtype=np.int64), lengths, len(vocab)


def _distinct(values: IntArray) -> IntArray:
    """Sorted distinct values (sort-based: faster here than ``np.unique``'s hash path for large int arrays)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _count_grams(sentences: Sequence[str], n: int) -> _Grams:
    tokens, lengths, vocab_size = _token_ids(sentences)
    n_sent = len(sentences)
    sent_of_tok = np.repeat(np.arange(n_sent, dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    left = lengths[sent_of_tok] - (np.arange(len(tokens), dtype=np.int64) - starts[sent_of_tok])
    rows_s, rows_o, rows_g, rows_tf = [], [], [], []
    prev = tokens  # ids of the order-k n-gram starting at each position (valid where left >= k)
    offset = 0
    for k in range(1, n + 1):
        pos = np.flatnonzero(left >= k)
        codes = tokens[pos] if k == 1 else prev[pos] * max(vocab_size, 1) + tokens[pos + k - 1]
        uniq, local = np.unique(codes, return_inverse=True)
        ids = np.full(len(tokens), -1, dtype=np.int64)
        ids[pos] = local
        prev = ids
        n_local = len(uniq)
        pair, tf = np.unique(sent_of_tok[pos] * max(n_local, 1) + local, return_counts=True)
        rows_s.append(pair // max(n_local, 1))
        rows_g.append(pair % max(n_local, 1) + offset)
        rows_o.append(np.full(len(pair), k - 1, dtype=np.int64))
        rows_tf.append(tf.astype(np.float64))
        offset += n_local
    return _Grams(
        sentence=np.concatenate(rows_s),
        order=np.concatenate(rows_o),
        gram=np.concatenate(rows_g),
        tf=np.concatenate(rows_tf),
        n_grams=offset,
    )


def cider_d(
    candidates: Sequence[str], references: Sequence[Sequence[str]], *, n: int = 4, sigma: float = 6.0
) -> CiderResult:
    """CIDEr-D of tokenised candidates against their references (pycocoevalcap's ``Cider`` numbers).

    Args:
        candidates: one tokenised sentence per clip (words separated by whitespace).
        references: the tokenised reference sentences of each clip (at least one per clip).
        n: highest n-gram order.
        sigma: standard deviation of the length penalty.

    Raises:
        ValueError: the two lists differ in length, or a clip has no reference.
    """
    n_clips = len(candidates)
    if len(references) != n_clips:
        raise ValueError(f"{n_clips} candidates but {len(references)} reference lists")
    if any(len(r) == 0 for r in references):
        raise ValueError("every clip needs at least one reference")
    if n_clips == 0:
        return CiderResult(0.0, np.zeros(0))
    n_refs = np.array([len(r) for r in references], dtype=np.int64)
    ref_clip = np.repeat(np.arange(n_clips, dtype=np.int64), n_refs)
    sentences = [*candidates, *(s for refs in references for s in refs)]
    g = _count_grams(sentences, n)
    is_ref = g.sentence >= n_clips

    # document frequency: distinct (clip, n-gram) pairs over the references
    clip_of_row = np.where(is_ref, ref_clip[np.maximum(g.sentence - n_clips, 0)], g.sentence)
    ref_pairs = _distinct(clip_of_row[is_ref] * g.n_grams + g.gram[is_ref])
    df = np.bincount(ref_pairs % g.n_grams, minlength=g.n_grams).astype(np.float64)
    idf = np.log(float(n_clips)) - np.log(np.maximum(df, 1.0))
    value = g.tf * idf[g.gram]

    n_sent = len(sentences)
    norm = np.sqrt(np.bincount(g.sentence * n + g.order, weights=value * value, minlength=n_sent * n))
    norm = norm.reshape(n_sent, n)
    bigram = g.order == 1  # pycocoevalcap's "length" of a sentence: its number of bigrams
    length: FloatArray = np.bincount(g.sentence[bigram], weights=g.tf[bigram], minlength=n_sent).astype(np.float64)

    # clipped dot products: each reference row meets the candidate row of the same clip and n-gram
    hyp = ~is_ref
    hyp_key = clip_of_row[hyp] * g.n_grams + g.gram[hyp]
    order_idx = np.argsort(hyp_key)
    hyp_key, hyp_val = hyp_key[order_idx], value[hyp][order_idx]
    ref_key = clip_of_row[is_ref] * g.n_grams + g.gram[is_ref]
    at = np.minimum(np.searchsorted(hyp_key, ref_key), max(len(hyp_key) - 1, 0))
    ref_val = value[is_ref]
    if len(hyp_key):
        h = np.where(hyp_key[at] == ref_key, hyp_val[at], 0.0)
    else:
        h = np.zeros(len(ref_key))
    ref_local = g.sentence[is_ref] - n_clips
    n_ref_sent = len(ref_clip)
    dot = np.bincount(
        ref_local * n + g.order[is_ref], weights=np.minimum(h, ref_val) * ref_val, minlength=n_ref_sent * n
    ).reshape(n_ref_sent, n)

    denom = norm[ref_clip] * norm[n_clips:]
    cos = np.divide(dot, denom, out=dot.copy(), where=denom != 0)
    delta = length[ref_clip] - length[n_clips:]
    penalised = cos * np.exp(-(delta**2) / (2.0 * sigma**2))[:, None]
    per_clip = np.bincount(ref_clip, weights=penalised.sum(axis=1), minlength=n_clips)
    scores = per_clip / n / n_refs * 10.0
    return CiderResult(float(np.mean(scores)), scores)
