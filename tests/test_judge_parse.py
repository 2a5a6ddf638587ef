"""The judge-reply parser: every rule on real-shaped replies (data/judge_replies/replies.yaml), options, safety."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evalkit.judges.coherence import COHERENCE_ALIASES
from evalkit.judges.parse import ParseError, ScoreSpec, parse_scores, read_scores, strip_thinking

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "data" / "judge_replies" / "replies.yaml").read_text(encoding="utf-8")
)
SPEC = ScoreSpec(("coherence", "style_consistency"), 1, 5, aliases=COHERENCE_ALIASES)


def test_the_table_covers_every_rule_with_several_replies() -> None:
    rules: dict[str, int] = {}
    for case in CASES:
        rules[case["rule"]] = rules.get(case["rule"], 0) + 1
    wanted = {"json", "nested", "python-dict", "alias", "lines", "out-of-5", "table", "words", "chinese", "think"}
    wanted |= {"partial", "conflict", "non-integer", "scale", "range", "bad-type", "no-scores"}
    assert wanted <= set(rules)
    assert all(n >= 3 for rule, n in rules.items() if rule != "bad-type"), rules


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['rule']}" for i, c in enumerate(CASES)])
def test_reply_reads_as_the_table_says(case: dict[str, Any]) -> None:
    reading = read_scores(case["reply"], SPEC)
    assert reading.scores == {k: float(v) for k, v in (case.get("scores") or {}).items()}
    fails: dict[str, str] = case.get("fails") or {}
    assert set(reading.errors) == set(fails)
    for name, fragment in fails.items():
        assert fragment in reading.errors[name]


@pytest.mark.parametrize(
    ("reply", "value"),
    [("Coherence: 8/10\nStyle consistency: 4/5", 4.0), ("Coherence: 6 out of 10\nStyle: 2", 3.0)],
)
def test_rescaling_only_when_the_spec_asks(reply: str, value: float) -> None:
    assert "scale" in read_scores(reply, SPEC).errors["coherence"]
    rescaling = ScoreSpec(SPEC.names, 1, 5, rescale=True, aliases=COHERENCE_ALIASES)
    assert read_scores(reply, rescaling).scores["coherence"] == value


def test_rescaled_value_must_still_be_an_integer() -> None:
    rescaling = ScoreSpec(SPEC.names, 1, 5, rescale=True, aliases=COHERENCE_ALIASES)
    reading = read_scores("Coherence: 7/10\nStyle consistency: 4", rescaling)
    assert "not an integer" in reading.errors["coherence"] and reading.scores == {"style_consistency": 4.0}


def test_non_integer_scale_accepts_halves() -> None:
    spec = ScoreSpec(("score",), 0, 10, integer=False)
    assert read_scores('{"score": 7.5}', spec).scores == {"score": 7.5}
    assert "outside" in read_scores('{"score": 10.5}', spec).errors["score"]


def test_per_judge_aliases_are_needed_and_enough() -> None:
    plain = ScoreSpec(("coherence", "style_consistency"))
    assert "style_consistency" in read_scores('{"coherence": 4, "tone": 3}', plain).errors
    aliased = ScoreSpec(("coherence", "style_consistency"), aliases={"style_consistency": ("tone",)})
    assert read_scores('{"coherence": 4, "tone": 3}', aliased).scores == {"coherence": 4.0, "style_consistency": 3.0}


def test_python_dicts_are_read_as_literals_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    reply = f"{{'coherence': __import__('pathlib').Path({str(marker)!r}).touch(), 'style_consistency': 3}}"
    reading = read_scores(reply, SPEC)
    assert not marker.exists()
    assert reading.scores == {"style_consistency": 3.0}


def test_a_huge_or_deeply_nested_reply_is_refused_not_crashed() -> None:
    deep = '{"a": ' * 3000 + "1" + "}" * 3000
    assert read_scores(deep + ' {"coherence": 2, "style_consistency": 2}', SPEC).scores == {
        "coherence": 2.0,
        "style_consistency": 2.0,
    }


def test_parse_scores_is_all_or_nothing_and_names_each_failure() -> None:
    assert parse_scores('{"coherence": 4, "style_consistency": 5}') == {"coherence": 4.0, "style_consistency": 5.0}
    with pytest.raises(ParseError, match=r"conflicting values for coherence: 3 and 4"):
        parse_scores("Coherence: 3-4\nStyle consistency: 4")
    with pytest.raises(ParseError, match=r"coherence=3\.5 is not an integer.*style_consistency=9 is outside"):
        parse_scores('{"coherence": 3.5, "style_consistency": 9}')


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("<think>coherence 1</think>answer", "answer"),
        ("reasoning, coherence 1</think>\nCoherence: 4", "Coherence: 4"),
        ("Coherence: 4<think>unfinished", "Coherence: 4"),
        ("<THINK>a</THINK>b<think>c</think>d", "bd"),
    ],
)
def test_thinking_is_ignored(reply: str, kept: str) -> None:
    assert strip_thinking(reply) == kept
