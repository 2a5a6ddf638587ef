"""Token totals of a run, tallied as predictions become part of it, so that the predictions a run holds need not
keep their per-sample usage.

A backend's ``meta`` carries ``usage`` (prompt and completion tokens) and ``finish_reason`` for people (the store,
the HTML report); a run reads them back only to sum the tokens. At 1,000,000 samples those two entries were about
0.45 GB of a run's memory; a :class:`TokenTally` sums them once and :func:`slim` drops them from what is held.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from evalkit.types import Prediction, Price

#: meta keys a run reads back only for the token totals
TALLIED = frozenset({"usage", "finish_reason"})


@dataclass
class TokenTally:
    """Prompt and completion tokens summed over the predictions whose backend reported usage.

    Attributes:
        prompt: prompt tokens.
        completion: completion tokens.
        counted: predictions with usage.
    """

    prompt: int = 0
    completion: int = 0
    counted: int = 0

    def add(self, pred: Prediction, usage: Any = None) -> None:
        """Count ``pred``'s usage (``usage`` when given: its meta's, held apart, maybe :func:`packed`); a failure
        counts nothing."""
        if usage is None:
            usage = pred.meta.get("usage")
        if not pred.ok:
            return
        if type(usage) is int:
            self.prompt += usage >> _BITS
            self.completion += usage & _MASK
            self.counted += 1
        elif isinstance(usage, dict) and ("prompt_tokens" in usage or "completion_tokens" in usage):
            self.prompt += int(usage.get("prompt_tokens") or 0)
            self.completion += int(usage.get("completion_tokens") or 0)
            self.counted += 1

    def totals(self, price: Price | None = None) -> dict[str, Any]:
        """The sums, per-sample means and their cost when the model entry has a ``price`` (empty: no usage)."""
        if not self.counted:
            return {}
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "samples_with_usage": self.counted,
            "mean_prompt_tokens": round(self.prompt / self.counted, 1),
            "mean_completion_tokens": round(self.completion / self.counted, 1),
        }
        if price is not None:
            out["cost"] = round(price.cost(self.prompt, self.completion), 6)
            out["currency"] = price.currency
        return out


def token_totals(preds: Iterable[Prediction], price: Price | None = None) -> dict[str, Any]:
    """:meth:`TokenTally.totals` over ``preds``."""
    tally = TokenTally()
    for p in preds:
        tally.add(p)
    return tally.totals(price)


_EMPTY: dict[str, Any] = {}
_BITS = 32
_MASK = (1 << _BITS) - 1


def packed(usage: Any) -> Any:
    """A meta's ``usage`` as one int (prompt tokens in the high bits) where :meth:`TokenTally.add` counts it as it
    would count the dict (a dict is ~0.2 KB, the int 32 B); anything else as it is."""
    if not isinstance(usage, dict) or not ("prompt_tokens" in usage or "completion_tokens" in usage):
        return usage
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    if (
        type(prompt) is not int
        or type(completion) is not int
        or not (0 <= prompt <= _MASK and 0 <= completion <= _MASK)
    ):
        return usage
    return prompt << _BITS | completion


def slim(pred: Prediction) -> Prediction:
    """``pred`` as a run holds it once its tokens are tallied: without the request as sent and the tallied meta."""
    meta = pred.meta
    if pred.prompt is None and not any(k in meta for k in TALLIED):
        return pred
    kept = {k: v for k, v in meta.items() if k not in TALLIED} if meta else _EMPTY
    # positional: a third of dataclasses.replace's time (it is called once per prediction of a run)
    p = pred
    return Prediction(p.sample_id, p.model, p.key, p.text, p.parts, None, p.error, p.latency_s, kept or _EMPTY)
