"""The records that flow through evalkit: Part -> Sample -> Prediction -> Verdict.

Every record is a frozen dataclass with ``to_json``/``from_json`` so that the store can write it as one
JSONL line and read it back unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import json.encoder
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

PartType = Literal["text", "image", "audio", "video", "document", "code", "threeD"]
PART_TYPES: tuple[str, ...] = ("text", "image", "audio", "video", "document", "code", "threeD")
MEDIA_TYPES: tuple[str, ...] = ("image", "audio", "video", "document", "threeD")


@dataclass(frozen=True, slots=True)
class Part:
    """One ordered piece of a multimodal message.

    Attributes:
        type: text, image, audio, video, document, code or threeD.
        value: the text or code itself, or an absolute path for media.
        tag: the interleaved tag this part stands for (``audio1``), empty for plain text.
    """

    type: str
    value: str
    tag: str = ""

    @property
    def is_media(self) -> bool:
        """True for parts whose value is a file path."""
        return self.type in MEDIA_TYPES

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "value": self.value}
        if self.tag:
            d["tag"] = self.tag
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Part:
        return cls(type=d["type"], value=d["value"], tag=d.get("tag", ""))


Msg = tuple[Part, ...]


def msg_to_json(msg: Msg) -> list[dict[str, Any]]:
    """Serialise a message (ordered parts)."""
    return [p.to_json() for p in msg]


def msg_from_json(items: list[dict[str, Any]]) -> Msg:
    """Read a message written by :func:`msg_to_json`."""
    return tuple(Part.from_json(d) for d in items)


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
#: the C encoder ``json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)`` builds
#: on every call (with a JSONEncoder around it), built once: the same text in half the time of a prediction key.
#: No circular-reference check (nothing hashed is circular).
_hash_encoder: Any = None
if _c_make_encoder is not None:
    _hash_encoder = _c_make_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True)


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable object that does not depend on key order.

    The values are stored (prediction and verdict keys): the text hashed must never change.
    """
    if _hash_encoder is None:  # no C accelerator: the standard path, same text
        blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    else:
        blob = "".join(_hash_encoder(obj, 0))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


#: sorted keys, no spaces, UTF-8 as is: for strings, lists and str-keyed dicts the bytes of ``stable_hash``'s text
_strings_encoder = msgspec.json.Encoder(order="sorted")


def strings_hash(obj: Any, length: int = 16) -> str:
    """:func:`stable_hash` of an object made of strings, lists and str-keyed dicts only (prediction and verdict
    keys): the same text, encoded in a third of the time (tests/test_store_decode.py compares them)."""
    return hashlib.sha256(_strings_encoder.encode(obj)).hexdigest()[:length]


@dataclass(frozen=True, slots=True)
class Sample:
    """One evaluation item, as a dataset produces it.

    Attributes:
        id: unique within its dataset.
        msg: the ordered parts sent to the model (the prompt belongs to the dataset).
        references: reference answer(s) as parts; for interleaved records, the record's own ``output``.
        meta: domain, subdomain, difficulty, source file and line, and anything else for breakdowns.
    """

    id: str
    msg: Msg
    references: Msg = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "msg": msg_to_json(self.msg),
            "references": msg_to_json(self.references),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Sample:
        return cls(
            id=d["id"],
            msg=msg_from_json(d["msg"]),
            references=msg_from_json(d.get("references", [])),
            meta=d.get("meta", {}),
        )


@dataclass(frozen=True)
class GenConfig:
    """Generation parameters sent with every request of a model.

    Attributes:
        max_tokens: upper bound of generated tokens.
        temperature: sampling temperature (0 = greedy).
        top_p: nucleus sampling mass.
        seed: sampling seed where the backend honours one.
    """

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0

    def to_json(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}


@dataclass(frozen=True)
class Price:
    """What a model's tokens cost (a model entry's optional ``price:``), for the cost line of a run.

    Attributes:
        prompt_per_mtok: price of one million prompt tokens.
        completion_per_mtok: price of one million completion tokens.
        currency: the currency the prices are in.
    """

    prompt_per_mtok: float = 0.0
    completion_per_mtok: float = 0.0
    currency: str = "USD"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of that many tokens."""
        return (prompt_tokens * self.prompt_per_mtok + completion_tokens * self.completion_per_mtok) / 1e6


@dataclass(frozen=True)
class Generation:
    """What a model's ``generate_inner`` returns.

    Attributes:
        text: the answer text (may cite tags such as ``<audio1>``).
        parts: media the model returned itself (any-to-any models, the replay model).
        prompt: the request actually sent, with media as file references, not bytes.
        meta: backend facts worth keeping (token usage, what was done to each media input).
    """

    text: str
    parts: Msg = ()
    prompt: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prediction:
    """A model's answer to one sample, or the reason it has none.

    Attributes:
        sample_id: the Sample's id.
        model: registered model name.
        key: hash of everything that determines the answer (msg, model config, generation, prompt version).
        text: the answer text; empty when ``error`` is set.
        parts: media parts returned by the model.
        prompt: the request actually sent.
        error: ``"ExceptionType: message"`` when the call failed, else empty.
        latency_s: wall time of the call, retries included.
        meta: backend facts (usage, media handling).
    """

    sample_id: str
    model: str
    key: str
    text: str = ""
    parts: Msg = ()
    prompt: Any = None
    error: str = ""
    latency_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the model answered."""
        return not self.error

    def to_json(self) -> dict[str, Any]:
        return {
            "sample_id": self.sample_id,
            "model": self.model,
            "key": self.key,
            "text": self.text,
            "parts": msg_to_json(self.parts),
            "prompt": self.prompt,
            "error": self.error,
            "latency_s": round(self.latency_s, 6),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Prediction:
        return cls(
            sample_id=d["sample_id"],
            model=d["model"],
            key=d["key"],
            text=d.get("text", ""),
            parts=msg_from_json(d.get("parts", [])),
            prompt=d.get("prompt"),
            error=d.get("error", ""),
            latency_s=float(d.get("latency_s", 0.0)),
            meta=d.get("meta", {}),
        )


ParseStatus = Literal["ok", "unparseable", "error", "skipped"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's scores for one prediction, or the reason there are none.

    Attributes:
        sample_id: the Sample's id.
        judge: registered judge name.
        key: hash of the judge config, the judged answer and what the judge reads of the sample (references, meta).
        pred_key: the judged Prediction's key.
        scores: metric name -> value; empty when ``error`` is set (never a default score).
        raw: the judge's raw output(s), kept for audit.
        parse_status: ok, unparseable (reply could not be read), error (a call or input failed), skipped.
        error: why there are no scores.
        details: what the judge saw (captions, the inlined content).
        metric_errors: metric -> why that metric has no value although the verdict is ok (undefined for this
            sample, or one criterion of a judge reply unreadable while the others were read).
    """

    sample_id: str
    judge: str
    key: str
    pred_key: str
    scores: dict[str, float] = field(default_factory=dict)
    raw: Any = None
    parse_status: str = "ok"
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    metric_errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the judge produced scores."""
        return not self.error and self.parse_status == "ok"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclass(frozen=True)
class RecordError:
    """A dataset record that could not become a Sample; counted as a failed sample in reports.

    Attributes:
        file: the records file.
        line: 1-based line where the record starts.
        field: the offending field, if known.
        reason: what is wrong.
        sample_id: the record's id if it could be read.
        meta: domain/subdomain/difficulty if they could be read, for breakdowns.
    """

    file: str
    line: int
    field: str
    reason: str
    sample_id: str = ""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        fld = f" (field '{self.field}')" if self.field else ""
        return f"{self.file}:{self.line}: {self.reason}{fld}"


def error_text(exc: BaseException) -> str:
    """Render an exception for a record's ``error`` field."""
    msg = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {msg}"
