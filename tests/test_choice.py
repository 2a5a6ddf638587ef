"""Choice extraction on messy answers, gold letters, and the choice judge with and without its LLM extractor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support import Dev
from test_audio_qa import ReplyServer, factory

from evalkit.judges.base import JudgeContext
from evalkit.judges.choice import (
    ChoiceJudge,
    ChoiceOptions,
    extract_choice,
    gold_letter,
    options_from_choices,
    parse_options,
    read_extractor_reply,
)
from evalkit.report import Outcome, report_rows
from evalkit.types import Part, Prediction, Sample, Verdict

OPTS = {"A": "apple", "B": "river", "C": "mountain", "D": "yellow"}


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("(B)", "B"),
        ("B", "B"),
        ("b", "B"),
        ("**B**", "B"),
        ("[B].", "B"),
        ("\\boxed{C}", "C"),
        ("Ｂ", "B"),  # full-width
        ("（B）", "B"),
        ("Answer: d", "D"),
        ("answer: D.", "D"),
        ("The answer is (B).", "B"),
        ("The correct answer is **(A) apple**.", "A"),
        ("The answer is mountain.", "C"),
        ("I choose option D", "D"),
        ("B is correct.", "B"),
        ("B. river", "B"),
        ("b) river", "B"),
        ("B. Because the speaker clearly says it.", "B"),
        ("river", "B"),  # the option text instead of the letter
        ("The spoken word is River.", "B"),
        ("I heard river instead of apple", "B"),
        ("答案是B", "B"),
        ("答案是b", "B"),
        ("答案：C", "C"),
        ("我选C", "C"),
        ("选项C是正确的", "C"),
        ("It could be A or B, but the answer is B.", "B"),  # two letters, one clearly final
        ("Final answer: C. Earlier I thought A.", "C"),
        ("The answer is river, not (A).", "B"),
        ("Not apple; the spoken word is (B).", "B"),  # a negated option is not a mention
        ("<think>Maybe A? No.</think>B", "B"),
    ],
)
def test_extracts_messy_answers(answer: str, letter: str) -> None:
    got = extract_choice(answer, OPTS)
    assert got.letter == letter, got


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("It could be A or B.", "ambiguous"),
        ("A or B", "ambiguous"),
        ("The answer is A. Actually, the answer is B.", "ambiguous"),
        ("I heard apple and river.", "ambiguous"),
        ("The answer is not B.", "no option"),
        ("The answer is not apple.", "no option"),
        ("The answer is a dog.", "no option"),
        ("A dog is barking.", "no option"),
        ("I'm not sure.", "no option"),
        ("E", "no option"),  # not one of the options
        ("", "empty"),
    ],
)
def test_ambiguous_or_unreadable_answers_are_unextracted(answer: str, why: str) -> None:
    got = extract_choice(answer, OPTS)
    assert got.letter is None and why in got.rule, got


def test_longer_option_text_wins_over_the_text_inside_it() -> None:
    opts = {"A": "subway", "B": "subway station", "C": "bus"}
    assert extract_choice("It sounds like a subway station.", opts).letter == "B"
    assert extract_choice("a bus or a subway", opts).letter is None
    zh = {"A": "苹果", "B": "河流"}
    assert extract_choice("我听到的是河流", zh).letter == "B"
    assert extract_choice("不是苹果，是河流", zh).letter == "B"


def test_parse_options_and_gold_letters() -> None:
    assert parse_options("Which word is spoken? (A) apple (B) river (C) mountain (D) yellow") == OPTS
    kimi = "Identify the emotion.\nOptions:\n(A) neutral\n(B) joy\n(C) sadness\n.Answer with the option's letter."
    assert parse_options(kimi) == {"A": "neutral", "B": "joy", "C": "sadness"}
    assert parse_options("Q?\nA. cat\nB. dog") == {"A": "cat", "B": "dog"}
    assert parse_options("What is (B) here?") == {} and parse_options("No options.") == {}
    assert options_from_choices(["x", "y"]) == {"A": "x", "B": "y"}
    assert options_from_choices({"b": "y", "a": "x"}) == {"A": "x", "B": "y"}
    with pytest.raises(ValueError):
        options_from_choices(["only one"])
    assert [gold_letter(a, OPTS) for a in ("river", "B", "(b)", "(B) river", "RIVER", "lake")] == [
        "B",
        "B",
        "B",
        "B",
        "B",
        None,
    ]
    assert gold_letter("residential_area", {"A": "bus", "B": "residential area"}) == "B"
    assert gold_letter("CrowdedIndoor", {"A": "bus", "B": "crowdedindoor"}) == "B"


def test_reading_the_llm_extractor_reply_is_strict() -> None:
    assert read_extractor_reply("B", OPTS).letter == "B"
    assert read_extractor_reply("**(c)**", OPTS).letter == "C"
    assert read_extractor_reply("The answer is C.", OPTS).letter == "C"
    assert read_extractor_reply("NONE", OPTS).letter is None
    echo = "Echo: You read a model's reply to a multiple-choice question ... (A) apple (B) river"
    assert read_extractor_reply(echo, OPTS).rule == "llm extractor: reply unreadable"


def mqa_sample(i: int, answer: str = "river") -> Sample:
    meta = {"options": OPTS, "subset": "word"}
    return Sample(f"m{i}", (Part("text", "Which word?"),), (Part("text", answer),), meta)


def run_judge(j: ChoiceJudge, answers: list[str]) -> list[Verdict]:
    async def go() -> list[Verdict]:
        await j.start()
        try:
            return [
                await j.judge(mqa_sample(i), Prediction(f"m{i}", "m", f"k{i}", text=a)) for i, a in enumerate(answers)
            ]
        finally:
            await j.close()

    return asyncio.run(go())


def rules_only() -> ChoiceJudge:
    def no_models(name: str) -> None:
        raise AssertionError("rules only: no model")

    return ChoiceJudge("choice", ChoiceOptions(), JudgeContext(no_models, Path("/nonexistent")))  # type: ignore[arg-type]


def test_unextracted_counts_as_wrong_and_is_reported() -> None:
    j = rules_only()
    answers = ["(B)", "apple", "A or B", "no idea", "Answer: b"]
    vs = run_judge(j, answers)
    assert [v.scores["accuracy"] for v in vs] == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert [v.scores["unextracted"] for v in vs] == [0.0, 0.0, 1.0, 1.0, 0.0]
    assert vs[2].details["candidates"] == ["A", "B"] and vs[3].details["extracted"] is None
    items = [Outcome(v.sample_id, {"subset": "word"}, v.scores, details=v.details) for v in vs]
    rows = {(r["subset"], r["metric"]): r for r in report_rows("mqa", "choice", j.metrics, items, j.summarize)}
    assert rows[("all", "accuracy")]["value"] == "0.4" and rows[("all", "accuracy")]["n_failed"] == "0"
    assert rows[("all", "unextracted")]["value"] == "0.4"


def test_reference_letter_comes_from_meta_or_reference_text() -> None:
    j = rules_only()
    s = Sample("x", (), (Part("text", "whatever"),), {"options": OPTS, "answer_letter": "C"})
    v = asyncio.run(j.judge(s, Prediction("x", "m", "k", text="mountain")))
    assert v.scores["accuracy"] == 1.0
    bad = Sample("y", (), (Part("text", "lake"),), {"options": OPTS})
    v = asyncio.run(j.judge(bad, Prediction("y", "m", "k", text="B")))
    assert v.scores == {} and "names none of the options" in v.error
    none = Sample("z", (), (Part("text", "B"),), {})
    assert "has no options" in asyncio.run(j.judge(none, Prediction("z", "m", "k", text="B"))).error


def test_llm_extractor_is_asked_only_when_rules_fail() -> None:
    replies = {
        "pick-b": "B",
        "pick-none": "NONE",
        "chatty": "Well... the answer is D.",
        "ramble": "Hard to say, really.",
    }
    with ReplyServer(dict(replies)) as srv:

        def judge(model: str) -> ChoiceJudge:
            ctx = JudgeContext(model_factory=factory(srv.base_url), cache_dir=Path("/nonexistent"))
            return ChoiceJudge("choice", ChoiceOptions(extractor_model=model), ctx)

        vs = run_judge(judge("pick-b"), ["(B)", "Answer: a", "I'd go with the flowing water one", "A or B"])
        assert srv.count("pick-b") == 2  # only the two answers the rules could not read
        assert [v.scores["accuracy"] for v in vs] == [1.0, 0.0, 1.0, 1.0]
        assert vs[2].details["rule"] == "llm extractor" and vs[2].details["rules_said"] == "no option found"
        assert vs[2].details["extractor_reply"] == "B" and vs[0].details["rule"] == "bare letter"
        prompt = srv.requests[0][1]
        assert "(B) river" in prompt and "I'd go with the flowing water one" in prompt
        [v] = run_judge(judge("pick-none"), ["something else"])
        assert v.scores == {"accuracy": 0.0, "unextracted": 1.0} and v.details["rule"].endswith("no single option")
        [v] = run_judge(judge("chatty"), ["dunno"])
        assert v.details["extracted"] == "D" and v.scores["accuracy"] == 0.0
        [v] = run_judge(judge("ramble"), ["dunno"])
        assert v.scores["unextracted"] == 1.0 and v.details["rule"] == "llm extractor: reply unreadable"
        [v] = run_judge(judge("missing-model"), ["dunno"])  # HTTP 404: a judge error, not an unextracted answer
        assert v.parse_status == "error" and v.scores == {}


def test_llm_extractor_against_the_devserver(dev: Dev) -> None:
    ctx = JudgeContext(model_factory=factory(dev.base_url), cache_dir=Path("/nonexistent"))
    j = ChoiceJudge("choice", ChoiceOptions(extractor_model="echo"), ctx)
    vs = run_judge(j, ["B", "hmm, hard to say"])
    assert dev.requests("echo") == 1
    assert vs[1].scores == {"accuracy": 0.0, "unextracted": 1.0}
    assert vs[1].details["extractor_reply"].startswith("Echo: ")
    assert j.identity()["extractor"]["model"]["options"]["model"] == "echo"
    assert rules_only().identity()["extractor"] is None
