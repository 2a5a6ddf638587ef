"""IFEval: each instruction checker on a following and a violating response, strict vs loose, corpus-level
instruction accuracy, the dataset's record errors, and an end-to-end run through the CLI with the echo model."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO, Dev

import evalkit.datasets.ifeval
import evalkit.judges.ifeval
from evalkit.cli import main
from evalkit.datasets.ifeval import IFEvalDataset, IFEvalOptions
from evalkit.judges.base import JudgeContext
from evalkit.judges.ifeval import IFEvalJudge, follows
from evalkit.judges.ifeval_checks import CHECKS, CheckError, run_check, split_sentences
from evalkit.report import Outcome
from evalkit.types import Part, Prediction, Sample

assert evalkit.datasets.ifeval and evalkit.judges.ifeval  # registered by import

# (instruction id, kwargs, a response that follows it, one that does not)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("keywords:existence", {"keywords": ["sea", "salt"]}, "The SEA tastes of Salt.", "The sea is wide."),
    ("keywords:forbidden_words", {"forbidden_words": ["red", "blue"]}, "A reddish sky.", "The sky is Blue today."),
    ("keywords:frequency", {"keyword": "cat", "frequency": 3, "relation": "at least"}, "Cat, cat and CAT.", "cat cat"),
    ("keywords:frequency", {"keyword": "dog", "frequency": 2, "relation": "less than"}, "one dog", "dog and dog"),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"}, "Zzz", "zz top"),
    ("keywords:letter_frequency", {"letter": "a", "let_frequency": 2, "let_relation": "less than"}, "a b", "A a"),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"}, "one two three four-five", "a b c d"),
    ("length_constraints:number_words", {"num_words": 3, "relation": "less than"}, "hi there", "one, two, three"),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "less than"},
        "Mr. Smith paid $3.50.",
        "It rained. We stayed in.",
    ),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 3, "relation": "at least"},
        "Yes! Why? Because.",
        "The U.S. economy grew. It was fine.",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "First part.\n***\nSecond part.\n***",
        "First.\n***\n\n***\nThird.",
    ),
    (
        "length_constraints:nth_paragraph_first_word",
        {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
        'Start here.\n\n"Then, we end.',
        "Start here.\n\nAnd then end.",
    ),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', 'Here: {"a": 1}'),
    ("detectable_format:title", {}, "<<Sea Song>>\nWaves.", "<<  >> no title here"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* one\n* two\n- three", "* one\n* two\n**bold**"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", "*one* and ** **"),
    (
        "detectable_format:multiple_sections",
        {"section_spliter": "Section", "num_sections": 2},
        "Section 1\nintro\nSection 2\nend",
        "Section 1\nonly one",
    ),
    ("detectable_format:constrained_response", {}, "Thinking... My answer is maybe.", "My answer is perhaps."),
    (
        "change_case:english_lowercase",
        {},
        "the quick brown fox jumps over the lazy dog near the river bank.",
        "The quick brown fox jumps over the lazy dog.",
    ),
    (
        "change_case:english_lowercase",
        {},
        "all of this answer is written in small letters, as the user asked.",
        "le chat est sur la table et il dort profondement dans la maison",
    ),
    (
        "change_case:english_capital",
        {},
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG NEAR THE RIVER.",
        "THE QUICK BROWN FOX jumps.",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "at least"},
        "USE CAPS here",
        "Only ONE capital word",
    ),
    (
        "change_case:capital_word_frequency",
        {"capital_frequency": 2, "capital_relation": "less than"},
        "Only ONE here",
        "NASA and ESA",
    ),
    (
        "startend:end_checker",
        {"end_phrase": "Any other questions?"},
        "Done. any other questions?  ",
        "Any other questions? Thanks.",
    ),
    ("startend:quotation", {}, '  "All quoted."  ', '"Not closed.'),
    ("punctuation:no_comma", {}, "No commas here.", "One, two."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Letter body.\np. s. see you", "Letter. PS hi"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Body.\nP.P.S Bye", "Body.\nP.S. Bye"),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Send to [name] at [address].", "To [name]."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Name a planet."}, "name a planet. Saturn.", "Saturn."),
    ("combination:two_responses", {}, "Yes.\n******\nNo.", "Same.\n******\nSame."),
    (
        "language:response_language",
        {"language": "fr"},
        "Le chat dort sur le canapé pendant que nous préparons le dîner ce soir.",
        "The cat sleeps on the sofa while we cook dinner tonight.",
    ),
]


@pytest.mark.parametrize(("iid", "kwargs", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_checker_passes_and_fails(iid: str, kwargs: dict[str, Any], good: str, bad: str) -> None:
    assert run_check(iid, good, kwargs) is True
    assert run_check(iid, bad, kwargs) is False


def test_every_official_instruction_has_a_case() -> None:
    assert len(CHECKS) == 25
    assert set(CHECKS) == {c[0] for c in CASES}


def test_sentence_splitter_keeps_abbreviations_decimals_and_quotes() -> None:
    text = 'Dr. Lee earned $3.5 million at example.com in the U.S. in 2020. "Really?" she said... Yes!'
    assert split_sentences(text) == [
        "Dr. Lee earned $3.5 million at example.com in the U.S. in 2020.",
        '"Really"?',  # as in the reference, a closing quote moves before the end mark
        "she said...",
        "Yes!",
    ]


def test_bad_kwargs_and_unknown_ids_raise() -> None:
    with pytest.raises(CheckError, match="unknown IFEval instruction id 'keywords:nope'"):
        run_check("keywords:nope", "x", {})
    with pytest.raises(CheckError, match="missing \\['relation'\\]"):
        run_check("length_constraints:number_words", "x", {"num_words": 3})
    with pytest.raises(CheckError, match="unexpected \\['extra'\\]"):
        run_check("punctuation:no_comma", "x", {"extra": 1})
    with pytest.raises(CheckError, match="relation must be one of"):
        run_check("length_constraints:number_words", "x", {"num_words": 3, "relation": "at most"})
    # None values (the Hugging Face copy lists every key) are absent
    assert run_check("punctuation:no_comma", "x", {"keywords": None}) is True


def test_loose_accepts_what_strict_rejects() -> None:
    # a chatty first line breaks the quotation; markdown stars break the end phrase
    quoted = 'Sure, here it is:\n"The whole answer in quotes."'
    assert follows(quoted, "startend:quotation", {}, loose=False) is False
    assert follows(quoted, "startend:quotation", {}, loose=True) is True
    ending = "Answer.\n**Is there anything else?**"
    kw = {"end_phrase": "Is there anything else?"}
    assert follows(ending, "startend:end_checker", kw, loose=False) is False
    assert follows(ending, "startend:end_checker", kw, loose=True) is True
    # a response that fails both ways, and an empty response, which follows nothing (not even no_comma)
    assert follows("a, b", "punctuation:no_comma", {}, loose=True) is False
    assert follows("  \n ", "punctuation:no_comma", {}, loose=True) is False


def _judge() -> IFEvalJudge:
    return IFEvalJudge("ifeval", None, JudgeContext(model_factory=lambda name: None, cache_dir=Path(".")))  # type: ignore[arg-type,return-value]


def _sample(sid: str, ids: list[str], kwargs: list[dict[str, Any]]) -> Sample:
    return Sample(sid, (Part("text", "p"),), meta={"instruction_id_list": ids, "kwargs": kwargs})


def test_corpus_instruction_level_differs_from_prompt_level_and_per_sample_mean() -> None:
    judge = _judge()
    records = [
        # 3 instructions, 2 followed strictly (no comma fails); loose the same
        (
            _sample(
                "a",
                ["punctuation:no_comma", "detectable_format:title", "keywords:existence"],
                [{}, {}, {"keywords": ["sun"]}],
            ),
            "<<Sun>>\nThe sun, rising.\nBye",
        ),
        # 1 instruction, followed
        (_sample("b", ["startend:quotation"], [{}]), '"quoted"'),
        # 2 instructions: strict 0 followed, loose 1 (the quotation, once the first line goes)
        (
            _sample(
                "c",
                ["startend:quotation", "length_constraints:number_words"],
                [{}, {"num_words": 50, "relation": "at least"}],
            ),
            'Here:\n"short"',
        ),
    ]
    outcomes = []
    for sample, text in records:
        v = asyncio.run(judge.judge(sample, Prediction(sample.id, "m", "k" + sample.id, text=text)))
        assert v.ok, v.error
        outcomes.append(Outcome(sample.id, {}, v.scores, details=v.details))
    summary = {m: judge.summarize(m, outcomes) for m in judge.metrics}
    # by hand: prompt-level strict 1/3 (only b), loose 1/3 (c still misses the word count)
    assert summary["prompt_level_strict"] == pytest.approx(1 / 3, abs=1e-9)
    assert summary["prompt_level_loose"] == pytest.approx(1 / 3, abs=1e-9)
    # instruction-level, pooled: strict (2 + 1 + 0) / 6, loose (2 + 1 + 1) / 6
    assert summary["inst_level_strict"] == pytest.approx(3 / 6, abs=1e-9)
    assert summary["inst_level_loose"] == pytest.approx(4 / 6, abs=1e-9)
    # not the mean of per-prompt shares: (2/3 + 1 + 0) / 3 = 5/9
    assert summary["inst_level_strict"] != pytest.approx(5 / 9, abs=1e-6)
    assert outcomes[2].details["strict"] == [False, False] and outcomes[2].details["loose"] == [True, False]


def test_unknown_instruction_fails_the_sample_naming_it() -> None:
    sample = _sample("x", ["punctuation:no_comma", "detectable_format:sparkles"], [{}, {}])
    v = asyncio.run(_judge().judge(sample, Prediction("x", "m", "k", text="fine")))
    assert not v.ok and v.scores == {} and v.parse_status == "error"
    assert "detectable_format:sparkles" in v.error


def test_dataset_loads_sample_and_reports_bad_lines(tmp_path: Path) -> None:
    ds = IFEvalDataset("ifeval-sample", IFEvalOptions(root="ifeval_sample"), REPO / "data")
    res = ds.load()
    assert len(res.samples) == 6 and not res.errors
    s = res.samples[0]
    assert s.id == "ifeval:1001" and s.msg[0].type == "text" and "<<title>>" in s.msg[0].value
    assert s.meta["instruction_id_list"] == ["detectable_format:title", "punctuation:no_comma"]

    good = {"key": 1, "prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{"x": None}]}
    lines = [
        json.dumps(good),
        "{broken",
        json.dumps({**good, "key": 2, "kwargs": []}),
        json.dumps({k: v for k, v in good.items() if k != "prompt"} | {"key": 3}),
        json.dumps({**good, "key": 4, "instruction_id_list": "punctuation:no_comma"}),
        json.dumps(good),
    ]
    (tmp_path / "x.jsonl").write_text("\n".join(lines) + "\n")
    res = IFEvalDataset("t", IFEvalOptions(), tmp_path).load()
    assert [s.id for s in res.samples] == ["x:1"] and res.samples[0].meta["kwargs"] == [{}]
    got = [(e.line, e.field) for e in res.errors]
    assert got == [(2, ""), (3, "kwargs"), (4, "prompt"), (5, "instruction_id_list"), (6, "key")]
    assert "invalid JSON" in res.errors[0].reason and "duplicate key" in res.errors[4].reason


def test_end_to_end_with_the_echo_model(tmp_path: Path, dev: Dev) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: {REPO / "data"}
work_dir: results
defaults: {{model: echo, dataset: ifeval-sample}}
datasets:
  ifeval-sample: {{class: ifeval, root: ifeval_sample}}
models:
  echo: {{backend: openai, base_url: "{dev.base_url}", model: echo, max_retries: 1, backoff_s: 0.01}}
""",
        encoding="utf-8",
    )
    assert main(["--config", str(cfg), "--work-dir", str(tmp_path / "results"), "--no-progress"]) == 0
    run_dir = tmp_path / "results" / "echo" / "ifeval-sample"
    with (run_dir / "report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    # The echo model answers "Echo: " + the prompt on one line. By hand: 1001 follows the title but not no_comma;
    # 1002-1005 follow none of their 6 instructions; 1006 follows all 3 (2 *** paragraphs, both keywords, P.S.).
    expected = {
        "prompt_level_strict": 1 / 6,
        "prompt_level_loose": 1 / 6,
        "inst_level_strict": 4 / 11,
        "inst_level_loose": 4 / 11,
    }
    for metric, value in expected.items():
        row = rows[("all", metric)]
        assert abs(float(row["value"]) - value) < 1e-6, metric
        assert row["n"] == "6" and row["n_failed"] == "0"


def test_missing_langdetect_fails_only_the_language_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langdetect", None)  # makes `import langdetect` raise ImportError
    judge = _judge()
    lang = _sample("l", ["language:response_language"], [{"language": "fr"}])
    v = asyncio.run(judge.judge(lang, Prediction("l", "m", "k", text="Bonjour tout le monde.")))
    assert not v.ok and v.scores == {} and "language:response_language" in v.error and "ifeval" in v.error
    other = _sample("o", ["punctuation:no_comma"], [{}])
    assert asyncio.run(judge.judge(other, Prediction("o", "m", "k2", text="fine"))).scores["prompt_level_strict"] == 1
