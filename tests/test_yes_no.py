"""Yes/No extraction on messy answers, the LLM extractor, and MME's scoring checked by hand and by a reference."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from pathlib import Path

import pytest
from support import Dev

from evalkit.judges.base import JudgeContext
from evalkit.judges.choice import ChoiceOptions
from evalkit.judges.yes_no import MMEJudge, YesNoJudge, all_correct_rate, extract_yes_no, read_extractor_reply
from evalkit.report import Outcome, outcomes, report_rows
from evalkit.types import Part, Prediction, Sample


@pytest.mark.parametrize(
    ("answer", "want"),
    [
        ("Yes", "Yes"),
        ("no.", "No"),
        ("**Yes**", "Yes"),
        ("Yes, there is no dog in the picture.", "Yes"),  # the opening decides (VLMEvalKit would say Unknown)
        ("Yes or no: I think no.", None),
        ("No, the answer is not yes.", "No"),
        ("There is no cat in the image.", "No"),
        ("I can see it, so yes.", "Yes"),
        ("<think>maybe no</think> Yes", "Yes"),
        ("是", "Yes"),
        ("不是。", "No"),
        ("Nope", None),  # not the word "no"
        ("It could be yes or no.", None),
        ("The circle is red.", None),
        ("", None),
    ],
)
def test_extract_yes_no(answer: str, want: str | None) -> None:
    assert extract_yes_no(answer).answer == want


def test_unreadable_reasons_are_kept() -> None:
    assert extract_yes_no("yes or no?").rule == "ambiguous: both yes and no"
    assert extract_yes_no("blue").rule == "no yes/no found"
    assert read_extractor_reply("Yes.").answer == "Yes"
    assert read_extractor_reply("Unknown").rule == "llm extractor: neither yes nor no"
    assert read_extractor_reply("I think yes").answer is None


def _sample(sid: str, gold: str, category: str = "existence", image: str = "", question: str = "Is it red?") -> Sample:
    meta = {"question": question, "question_type": "yes_no", "category": category, "subdomain": category}
    meta["image_key"] = image or sid
    return Sample(sid, (Part("text", question),), (Part("text", gold),), meta)


def _pred(sid: str, text: str, error: str = "") -> Prediction:
    return Prediction(sid, "m", f"k-{sid}", text=text, error=error)


def _ctx(dev_url: str = "") -> JudgeContext:
    from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
    from evalkit.types import GenConfig

    def factory(name: str) -> OpenAICompatModel:
        return OpenAICompatModel(name, OpenAIOptions(base_url=dev_url, model=name, max_retries=0), GenConfig())

    return JudgeContext(model_factory=factory, cache_dir=Path("/nonexistent"))


def _judge_all(judge: YesNoJudge, samples: list[Sample], preds: list[Prediction]) -> list:
    pmap = {p.sample_id: p for p in preds}
    judge.prepare(samples, pmap)

    async def go() -> list:
        await judge.start()
        try:
            return [await judge.judge(s, pmap[s.id]) for s in samples]
        finally:
            await judge.close()

    return asyncio.run(go())


def test_yes_no_judge_counts_unextracted_as_wrong() -> None:
    samples = [_sample("1", "Yes"), _sample("2", "No"), _sample("3", "No"), _sample("4", "Yes")]
    preds = [_pred("1", "Yes."), _pred("2", "Yes"), _pred("3", "yes or no"), _pred("4", "", error="Timeout")]
    verdicts = _judge_all(YesNoJudge("yn", ChoiceOptions(), _ctx()), samples, preds)
    assert [v.scores for v in verdicts[:3]] == [
        {"accuracy": 1.0, "unextracted": 0.0},
        {"accuracy": 0.0, "unextracted": 0.0},
        {"accuracy": 0.0, "unextracted": 1.0},
    ]
    assert verdicts[3].parse_status == "skipped" and verdicts[3].scores == {}
    bad = _judge_all(YesNoJudge("yn", ChoiceOptions(), _ctx()), [_sample("5", "Maybe")], [_pred("5", "yes")])
    assert bad[0].error.endswith("is not Yes or No")


def test_llm_extractor_only_when_rules_fail(dev: Dev) -> None:
    samples = [_sample("1", "Yes"), _sample("2", "No")]
    preds = [_pred("1", "Yes"), _pred("2", "hard to say")]
    judge = YesNoJudge("yn", ChoiceOptions(extractor_model="judge-bad"), _ctx(dev.base_url))
    verdicts = _judge_all(judge, samples, preds)
    assert dev.requests("judge-bad") == 1  # only the unreadable answer went to the extractor
    assert verdicts[0].scores["accuracy"] == 1.0
    assert verdicts[1].scores == {"accuracy": 0.0, "unextracted": 1.0}
    assert verdicts[1].details["rule"] == "llm extractor: reply unreadable"
    assert verdicts[1].details["rules_said"] == "no yes/no found"
    assert "yes-no-extractor-v1" in judge.prompt_hashes()


def _mme_rows(samples: list[Sample], preds: list[Prediction]) -> dict[tuple[str, str], str]:
    judge = MMEJudge("mme", ChoiceOptions(), _ctx())
    verdicts = {v.sample_id: v for v in _judge_all(judge, samples, preds)}
    items = outcomes(samples, [], {p.sample_id: p for p in preds}, verdicts)
    rows = report_rows("MME", "mme", judge.metrics, items, judge.summarize)
    return {(r["subset"], r["metric"]): r["value"] for r in rows}


def test_mme_score_by_hand() -> None:
    cases = [  # (id, category, domain, image, gold, answer)
        ("e1", "existence", "perception", "i1", "Yes", "Yes"),
        ("e2", "existence", "perception", "i1", "No", "No"),
        ("e3", "existence", "perception", "i2", "Yes", "Yes"),
        ("e4", "existence", "perception", "i2", "No", "Yes"),
        ("c1", "count", "perception", "i3", "Yes", "No"),
        ("c2", "count", "perception", "i3", "No", "Yes"),
        ("c3", "count", "perception", "i4", "Yes", "Yes"),
        ("c4", "count", "perception", "i4", "No", "No"),
        ("c5", "count", "perception", "i6", "Yes", "Yes"),
        ("c6", "count", "perception", "i6", "No", "FAIL"),  # failed call: image i6 is incomplete
        ("r1", "code_reasoning", "cognition", "i5", "Yes", "Yes"),
        ("r2", "code_reasoning", "cognition", "i5", "No", "maybe yes, maybe no"),  # unextracted
    ]
    samples, preds = [], []
    for sid, cat, dom, img, gold, ans in cases:
        s = _sample(sid, gold, cat, img)
        samples.append(Sample(s.id, s.msg, s.references, {**s.meta, "domain": dom, "subdomain": cat}))
        preds.append(_pred(sid, "", error="Timeout") if ans == "FAIL" else _pred(sid, ans))
    rows = _mme_rows(samples, preds)
    # existence: acc 3/4, acc+ 1/2 -> 125; count: acc 3/5 (c6 failed), acc+ over i3, i4 = 1/2 -> 110;
    # code_reasoning: acc 1/2, acc+ 0 -> 50
    assert float(rows[("subdomain=existence", "mme_score")]) == pytest.approx(125.0, abs=1e-6)
    assert float(rows[("subdomain=count", "mme_score")]) == pytest.approx(110.0, abs=1e-6)
    assert float(rows[("subdomain=code_reasoning", "mme_score")]) == pytest.approx(50.0, abs=1e-6)
    assert float(rows[("domain=perception", "mme_score")]) == pytest.approx(235.0, abs=1e-6)
    assert float(rows[("domain=cognition", "mme_score")]) == pytest.approx(50.0, abs=1e-6)
    assert float(rows[("all", "mme_score")]) == pytest.approx(285.0, abs=1e-6)
    assert float(rows[("all", "accuracy")]) == pytest.approx(7 / 11, abs=1e-6)
    assert float(rows[("all", "acc_plus")]) == pytest.approx(2 / 5, abs=1e-6)  # i1, i4 of i1-i5 (i6 left out)
    assert float(rows[("all", "unextracted")]) == pytest.approx(1 / 11, abs=1e-6)


def _reference_mme(data: list[dict]) -> dict[str, float]:
    """VLMEvalKit's MME_rating, restated: per category acc*100 + acc+*100 with pairs grouped by image_path."""
    stats: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row in data:
        stats[row["category"]][row["image_path"]].append(row["score"])
    out = {}
    for cat, images in stats.items():
        flat = [s for v in images.values() for s in v]
        plus = [v[0] * v[1] for v in images.values()]
        out[cat] = 100 * sum(flat) / len(flat) + 100 * sum(plus) / len(plus)
    return out


def test_mme_matches_reference_formula_on_a_random_corpus() -> None:
    rng = random.Random(7)
    cats = ["existence", "count", "position", "color", "OCR", "code_reasoning", "text_translation"]
    samples, preds, data = [], [], []
    for c in cats:
        for i in range(rng.randint(3, 9)):
            for gold in ("Yes", "No"):
                sid = f"{c}-{i}-{gold}"
                answer = rng.choice(["Yes", "No", "Yes, surely", "no idea, maybe yes"])
                samples.append(_sample(sid, gold, c, f"{c}/{i}.png"))
                preds.append(_pred(sid, answer))
                data.append(
                    {"category": c, "image_path": f"{c}/{i}.png", "score": int(extract_yes_no(answer).answer == gold)}
                )
    rows = _mme_rows(samples, preds)
    ref = _reference_mme(data)
    for c in cats:
        assert float(rows[(f"subdomain={c}", "mme_score")]) == pytest.approx(ref[c], abs=1e-6)
    assert float(rows[("all", "mme_score")]) == pytest.approx(sum(ref.values()), abs=1e-6)


def test_all_correct_rate_leaves_out_incomplete_groups() -> None:
    def o(sid: str, group: str, acc: float) -> Outcome:
        return Outcome(sid, {"g": group}, {"accuracy": acc})

    scored = [o("1", "a", 1.0), o("2", "a", 1.0), o("3", "b", 1.0), o("4", "c", 0.0), o("5", "c", 1.0)]
    rate, n = all_correct_rate(scored, lambda x: x.meta["g"], {"a": 2, "b": 2, "c": 2})
    assert (rate, n) == (0.5, 2)  # b has one of its two samples scored: left out
    rate, n = all_correct_rate(scored[2:3], lambda x: x.meta["g"], {"b": 2})
    assert n == 0 and rate != rate  # nan: no complete group, no made-up number
