"""Yes/No accuracy (MME, POPE-style items) and MME's corpus-level score.

Extraction rules (after :func:`evalkit.judges.choice.clean_answer`: reasoning blocks, markdown and LaTeX removed):

1. the answer opens with ``yes`` or ``no`` closed by punctuation or the end (``Yes, there is no dog.``, ``No.``;
   not ``Yes or no ...``), or the whole answer is one of 是 / 是的 / 对 / 否 / 不是 / 不对 / 不;
2. otherwise VLMEvalKit's rule: the words contain ``yes`` and not ``no`` -> Yes; ``no`` and not ``yes`` -> No.

Anything else (both words, neither) is *unextracted*: wrong for accuracy and counted in ``unextracted``, unless
the optional LLM extractor (``extractor_model``) reads one answer from it. Never a guess.

MME (``mme`` judge): each image of a category carries two questions (one Yes, one No). Per category ``c``,
``acc_c`` is the share of correct questions and ``acc+_c`` the share of images whose questions are all correct;
the category score is ``100 * (acc_c + acc+_c)`` (0-200), and a report row's ``mme_score`` is the *sum* of the
category scores of the samples in that row, as MME reports it: the ``all`` row is perception + cognition, the
``domain=perception`` row the perception total (max 2000), ``subdomain=<category>`` one category. This is a
corpus-level aggregate computed in :meth:`MMEJudge.summarize`; the per-sample ``acc_plus`` and ``mme_score``
values in a verdict are only that sample's correctness, the inputs of the aggregate.

An image whose questions are not all scored (a failed call or judge reply, counted in ``n_failed``) is left
out of ``acc+``: it is neither counted correct nor wrong. A category without any complete image has no
``acc+``, and a row summing it is ``nan`` rather than a made-up number.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from evalkit.judges.base import ACCURACY, JUDGES, LOWER_RATE, JudgeFailure, MetricSpec, Scored
from evalkit.judges.choice import ChoiceJudge, clean_answer
from evalkit.models.base import Model
from evalkit.report import Outcome, mean_of
from evalkit.types import Part, Prediction, Sample, stable_hash

RULES_VERSION = "yes-no-rules-v1"
_WORDS = re.compile(r"[a-z]+")
_OPENING = re.compile(r"[^a-z]*\b(yes|no)\s*(?:[.,!;:。，！；：]|$)")
_ZH_YES = ("是", "是的", "对", "对的")
_ZH_NO = ("否", "不是", "不对", "不")
_PUNCT = string.punctuation + " \n\t。，！？、：；“”‘’（）"

EXTRACTOR_PROMPT = """You read a model's reply to a yes/no question and report whether the reply answers yes or no.

Question: {question}

The model's reply, between <reply> and </reply>:
<reply>
{answer}
</reply>

Does the reply answer yes or no? Reply with one word: Yes, No, or Unknown when the reply says neither, says \
both, or you cannot tell."""


@dataclass(frozen=True)
class YesNo:
    """What the extractor read from an answer.

    Attributes:
        answer: ``Yes``, ``No``, or None when no single answer can be read.
        rule: the rule that decided, or why none did.
    """

    answer: str | None
    rule: str


def extract_yes_no(text: str) -> YesNo:
    """Read Yes or No from an answer by the rules in the module docstring."""
    cleaned = clean_answer(text)
    if not cleaned:
        return YesNo(None, "empty answer")
    bare = cleaned.strip(_PUNCT)
    if bare in _ZH_YES:
        return YesNo("Yes", "chinese yes/no")
    if bare in _ZH_NO:
        return YesNo("No", "chinese yes/no")
    folded = cleaned.casefold()
    opening = _OPENING.match(folded)
    if opening:
        return YesNo(opening.group(1).capitalize(), "opening yes/no")
    words = _WORDS.findall(folded)
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes and not has_no:
        return YesNo("Yes", "only yes mentioned")
    if has_no and not has_yes:
        return YesNo("No", "only no mentioned")
    if has_yes:
        return YesNo(None, "ambiguous: both yes and no")
    return YesNo(None, "no yes/no found")


def read_extractor_reply(reply: str) -> YesNo:
    """Read the LLM extractor's reply strictly: one word, Yes, No or Unknown."""
    word = clean_answer(reply).strip(_PUNCT).casefold()
    if word in ("yes", "no"):
        return YesNo(word.capitalize(), "llm extractor")
    if word == "unknown":
        return YesNo(None, "llm extractor: neither yes nor no")
    return YesNo(None, "llm extractor: reply unreadable")


def gold_yes_no(sample: Sample) -> str:
    """The reference answer, ``Yes`` or ``No``.

    Raises:
        JudgeFailure: the sample's reference is not yes or no.
    """
    refs = [p.value for p in sample.references if p.type == "text"]
    gold = refs[0].strip(_PUNCT).casefold() if refs else ""
    if gold not in ("yes", "no"):
        raise JudgeFailure(f"sample {sample.id}: reference {refs[:1]!r} is not Yes or No")
    return gold.capitalize()


async def score_yes_no(sample: Sample, pred: Prediction, model: Model | None) -> Scored:
    """Score one Yes/No answer: rules first, then ``model`` (when given) only if the rules read nothing."""
    gold = gold_yes_no(sample)
    found = extract_yes_no(pred.text)
    details: dict[str, Any] = {"gold": gold, "extracted": found.answer, "rule": found.rule}
    raw = None
    if found.answer is None and model is not None:
        prompt = EXTRACTOR_PROMPT.format(question=sample.meta.get("question", ""), answer=pred.text)
        gen = await model.generate_inner((Part("text", prompt),))
        raw = gen.text
        llm = read_extractor_reply(gen.text)
        details.update(extracted=llm.answer, rule=llm.rule, rules_said=found.rule, extractor_reply=gen.text)
        found = llm
    scores = {"accuracy": float(found.answer == gold), "unextracted": float(found.answer is None)}
    return Scored(scores=scores, raw=raw, details=details)


def all_correct_rate(
    scored: Sequence[Outcome], key: Callable[[Outcome], Hashable], sizes: dict[Hashable, int]
) -> tuple[float, int]:
    """Share of groups whose samples are all correct (``accuracy`` 1), over complete groups only.

    Args:
        scored: outcomes with an ``accuracy`` score.
        key: the group of an outcome (MME's image, MMBench's circular question).
        sizes: group -> number of samples the group has in the job; a group with fewer scored samples is left
            out. A group missing from ``sizes`` counts as complete.

    Returns:
        (rate, number of complete groups); the rate is ``nan`` when no group is complete.
    """
    groups: dict[Hashable, list[float]] = defaultdict(list)
    for o in scored:
        groups[key(o)].append(o.scores["accuracy"])
    complete = [v for k, v in groups.items() if len(v) >= sizes.get(k, len(v))]
    if not complete:
        return math.nan, 0
    return sum(all(x == 1.0 for x in v) for v in complete) / len(complete), len(complete)


@JUDGES.register("yes-no")
class YesNoJudge(ChoiceJudge):
    """``accuracy``: 1 when the extracted Yes/No is the reference's; ``unextracted``: 1 when none was read.

    Options are the choice judge's: ``extractor_model`` (asked only when the rules read nothing), ``concurrency``.
    """

    version = RULES_VERSION

    def identity(self) -> dict[str, Any]:
        extractor = {"model": self.model.identity(), "prompt": stable_hash(EXTRACTOR_PROMPT)} if self.model else None
        return {**super().identity(), "extractor": extractor}

    def describe(self) -> str:
        how = f"rules, then LLM extractor {self.model.name}" if self.model else "rules only"
        return f"{self.name} (yes/no extraction: {how}, {RULES_VERSION})"

    def prompt_hashes(self) -> dict[str, str]:
        return {"yes-no-extractor-v1": stable_hash(EXTRACTOR_PROMPT)} if self.model else {}

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        return await score_yes_no(sample, pred, self.model)


def _category(o: Outcome) -> str:
    return str(o.meta.get("category", ""))


def _image(o: Outcome) -> tuple[str, str]:
    return _category(o), str(o.meta.get("image_key", o.sample_id))


@JUDGES.register("mme")
class MMEJudge(YesNoJudge):
    """Yes/No judge with MME's scores: ``acc_plus`` per image and ``mme_score`` summed per category.

    Samples carry ``meta['category']`` and ``meta['image_key']`` (VLMEvalKit's ``image_path``: the two questions
    of one image share it).
    """

    metrics = ("accuracy", "unextracted", "acc_plus", "mme_score")
    # a failed question counts as wrong, which also makes its image's acc+ wrong
    metric_specs: ClassVar[dict[str, MetricSpec]] = {
        "accuracy": ACCURACY,
        "unextracted": LOWER_RATE,
        "acc_plus": MetricSpec(worst=0.0, kind="corpus"),
        "mme_score": MetricSpec(worst=0.0, kind="corpus"),
    }
    version = f"{RULES_VERSION}+mme-v1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._image_sizes: dict[Hashable, int] = {}

    def prepare(self, samples: Sequence[Sample], preds: dict[str, Prediction]) -> None:
        counts: Counter[Hashable] = Counter(
            (str(s.meta.get("category", "")), str(s.meta.get("image_key", s.id))) for s in samples
        )
        self._image_sizes = dict(counts)

    async def score(self, sample: Sample, pred: Prediction) -> Scored:
        res = await super().score(sample, pred)
        acc = res.scores["accuracy"]
        return Scored(scores={**res.scores, "acc_plus": acc, "mme_score": acc}, raw=res.raw, details=res.details)

    def summarize(self, metric: str, scored: Sequence[Outcome]) -> float:
        if metric == "acc_plus":
            return all_correct_rate(scored, _image, self._image_sizes)[0]
        if metric == "mme_score":
            return mme_score(scored, self._image_sizes)
        return mean_of(metric, scored)


def mme_score(scored: Sequence[Outcome], image_sizes: dict[Hashable, int]) -> float:
    """Sum over the categories present of ``100 * (acc + acc+)`` (MME's perception/cognition totals)."""
    by_cat: dict[str, list[Outcome]] = defaultdict(list)
    for o in scored:
        by_cat[_category(o)].append(o)
    total = 0.0
    for items in by_cat.values():
        acc = mean_of("accuracy", items)
        plus, _ = all_correct_rate(items, _image, image_sizes)
        total += 100.0 * (acc + plus)
    return total
