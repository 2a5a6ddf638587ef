"""Embedding models as evalkit Models: retrieval and classification as ranking over candidates.

A retrieval sample's msg holds the query and its candidates as tagged parts: query parts carry the tag
``query`` and the parts of candidate ``c7`` the tag ``cand:c7`` (one candidate may have several parts, say an
instruction and an image). :func:`retrieval_msg` builds such a msg and :func:`split_retrieval_msg` reads it
back, so the dataset and every embedding backend agree on one shape.

:class:`EmbeddingModel` does the work common to all backends: it checks that the backend can read every part
(a text-only model given an image fails that sample with :class:`UnsupportedInput`, never a made-up vector),
adds the per-role instruction prefix, encodes the query, encodes the candidates once per run (an in-memory
cache keyed by content hash, so a shared set such as 1,000 class labels is encoded once), scores by dot
product of the (normalised) vectors and returns the ranking in ``Generation.meta``. A backend implements
``embed(items, role)`` only, pooling included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from evalkit.errors import ConfigError
from evalkit.media import content_id
from evalkit.models.base import Model
from evalkit.types import Generation, Msg, Part, msg_to_json, stable_hash

Role = Literal["query", "target"]
Vectors = npt.NDArray[np.float32]

QUERY_TAG = "query"
CAND_PREFIX = "cand:"
POOLINGS = ("mean", "cls", "last")


class UnsupportedInput(Exception):
    """The backend cannot read a part of this sample (an image given to a text-only model)."""


def cand_tag(cand_id: str) -> str:
    """The part tag of candidate ``cand_id``."""
    return CAND_PREFIX + cand_id


def retrieval_msg(query: Sequence[Part], candidates: Sequence[tuple[str, Sequence[Part]]]) -> Msg:
    """Build a retrieval msg: the query's parts, then each candidate's parts, tagged.

    Args:
        query: the query's parts (instruction, text, image ...), in order.
        candidates: (candidate id, its parts) in the dataset's candidate order.
    """
    parts = [Part(p.type, p.value, QUERY_TAG) for p in query]
    for cid, cparts in candidates:
        tag = cand_tag(cid)
        parts.extend(p if p.tag == tag else Part(p.type, p.value, tag) for p in cparts)
    return tuple(parts)


def split_retrieval_msg(msg: Msg) -> tuple[Msg, list[tuple[str, Msg]]]:
    """The query parts and the (id, parts) of each candidate, in msg order.

    Raises:
        UnsupportedInput: the msg is not a retrieval msg (untagged parts, no query, no candidate).
    """
    query: list[Part] = []
    cands: dict[str, list[Part]] = {}
    for p in msg:
        if p.tag == QUERY_TAG:
            query.append(p)
        elif p.tag.startswith(CAND_PREFIX):
            cands.setdefault(p.tag[len(CAND_PREFIX) :], []).append(p)
        else:
            raise UnsupportedInput(f"not a retrieval msg: part tagged {p.tag!r} (expected 'query' or 'cand:<id>')")
    if not query or not cands:
        raise UnsupportedInput("not a retrieval msg: it needs query parts and at least one candidate")
    return tuple(query), [(cid, tuple(parts)) for cid, parts in cands.items()]


def candidate_ids(msg: Msg) -> list[str]:
    """Candidate ids of a retrieval msg, in the dataset's order."""
    return [cid for cid, _ in split_retrieval_msg(msg)[1]]


def with_prefix(item: Msg, prefix: str) -> Msg:
    """The item with ``prefix`` put before its first text part (or as a text part of its own if it has none)."""
    if not prefix:
        return tuple(item)
    for i, p in enumerate(item):
        if p.type == "text":
            return (*item[:i], Part("text", prefix + p.value, p.tag), *item[i + 1 :])
    tag = item[0].tag if item else ""
    return (Part("text", prefix, tag), *item)


def item_text(item: Msg, sep: str = " ") -> str:
    """The text parts of one query or candidate, joined."""
    return sep.join(p.value for p in item if p.type == "text")


@dataclass(frozen=True)
class EmbeddingOptions:
    """Config keys shared by embedding backends.

    Attributes:
        pooling: how token states become one vector: ``mean`` (masked mean), ``cls`` (first token) or
            ``last`` (last real token, the usual choice for decoder models such as VLM2Vec's).
        normalize: L2-normalise vectors, so that the dot product is the cosine similarity.
        query_prefix: text put before every query (an E5-style ``"query: "``; include the separator).
        target_prefix: text put before every candidate.
        batch_size: items per forward pass.
    """

    pooling: str = "mean"
    normalize: bool = True
    query_prefix: str = ""
    target_prefix: str = ""
    batch_size: int = 32


class EmbeddingModel(Model):
    """Base of embedding backends: ranks a retrieval msg's candidates by similarity to its query.

    Subclasses set ``modalities`` (part types they can encode) and implement :meth:`embed`.
    ``Generation.text`` is the id of the top-ranked candidate; ``Generation.meta`` holds ``ranking`` (every
    candidate id, best first; ties keep the candidates' order) and ``scores`` (their similarities).
    """

    Options: ClassVar[type] = EmbeddingOptions
    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset({"batch_size"})
    #: part types this backend can encode
    modalities: ClassVar[frozenset[str]] = frozenset({"text"})
    options: EmbeddingOptions

    def __init__(self, name: str, options: Any = None, gen: Any = None) -> None:
        super().__init__(name, options, gen)
        if self.options.pooling not in POOLINGS:
            raise ConfigError(
                f"model {name}: pooling must be one of {', '.join(POOLINGS)}, got {self.options.pooling!r}"
            )
        if self.options.batch_size < 1:
            raise ConfigError(f"model {name}: batch_size must be >= 1")
        self._targets: dict[str, Vectors] = {}
        self._lock: asyncio.Lock | None = None
        self.encoded_targets = 0

    def embed(self, items: Sequence[Msg], role: Role) -> Vectors:
        """Encode items (prefix already added) into one row each, pooled but not normalised."""
        raise NotImplementedError

    def encode(self, items: Sequence[Msg], role: Role) -> Vectors:
        """Encode queries or targets: ``(len(items), dim)`` float32, normalised if ``options.normalize``.

        Raises:
            UnsupportedInput: an item has a part type this backend cannot read, or encodes to a zero vector.
        """
        for item in items:
            self.check_readable(item, role)
        prefix = self.options.query_prefix if role == "query" else self.options.target_prefix
        ready = [with_prefix(item, prefix) for item in items]
        vectors = np.asarray(self.embed(ready, role), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(items):
            raise RuntimeError(f"{type(self).__name__}.embed returned shape {vectors.shape} for {len(items)} items")
        if self.options.normalize and len(items):
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            if not np.all(norms > 0):
                raise UnsupportedInput(f"a {role} encodes to a zero vector and cannot be normalised")
            vectors = vectors / norms
        return vectors

    def check_readable(self, item: Msg, role: str) -> None:
        """Raise UnsupportedInput naming the first part this backend cannot read."""
        for p in item:
            if p.type not in self.modalities:
                what = "the query" if role == "query" else f"candidate {p.tag[len(CAND_PREFIX) :]!r}"
                reads = ", ".join(sorted(self.modalities))
                article = "an" if p.type[0] in "aeiou" else "a"
                raise UnsupportedInput(
                    f"{self.name} reads {reads} only; {what} has {article} {p.type} part ({p.value}): "
                    "use an embedding backend that reads it"
                )
        if not item:
            raise UnsupportedInput(f"an empty {role}")

    def target_key(self, item: Msg) -> str:
        """Cache key of a target: its parts' types and contents (media by content hash)."""
        return stable_hash([[p.type, content_id(Path(p.value)) if p.is_media else p.value] for p in item], 32)

    async def close(self) -> None:
        self._targets.clear()

    async def generate_inner(self, msg: Msg) -> Generation:
        query, cands = split_retrieval_msg(msg)
        self.check_readable(query, "query")
        for _, item in cands:
            self.check_readable(item, "target")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one forward pass at a time; a shared candidate set is encoded once
            q = await asyncio.to_thread(self.encode, [query], "query")
            keys = [self.target_key(item) for _, item in cands]
            missing = {k: item for k, (_, item) in zip(keys, cands, strict=True) if k not in self._targets}
            if missing:
                vecs = await asyncio.to_thread(self.encode, list(missing.values()), "target")
                self._targets.update(zip(missing, vecs, strict=True))
                self.encoded_targets += len(missing)
        matrix = np.stack([self._targets[k] for k in keys])
        scores = matrix @ q[0]
        order = np.argsort(-scores, kind="stable")
        ids = [cid for cid, _ in cands]
        ranking = [ids[i] for i in order]
        prompt = {"query": msg_to_json(query), "query_prefix": self.options.query_prefix, "candidates": len(ids)}
        meta = {
            "ranking": ranking,
            "scores": [float(scores[i]) for i in order],
            "dim": int(matrix.shape[1]),
            "targets_encoded": len(missing),
        }
        return Generation(text=ranking[0], prompt=prompt, meta=meta)


def pool_tokens(tokens: npt.NDArray[np.floating[Any]], pooling: str) -> npt.NDArray[np.float32]:
    """One vector from a ``(n_tokens, dim)`` array of a single item's real (unpadded) token states."""
    if tokens.shape[0] == 0:
        raise UnsupportedInput("an item with no tokens")
    if pooling == "mean":
        return np.asarray(tokens.mean(axis=0), dtype=np.float32)
    if pooling == "cls":
        return np.asarray(tokens[0], dtype=np.float32)
    if pooling == "last":
        return np.asarray(tokens[-1], dtype=np.float32)
    raise ConfigError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
