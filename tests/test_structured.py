"""Structured judge replies: the JSON schema reaches the loopback devserver and the embedded llama.cpp server,
endpoints without it fall back to free text, and a cut-off 200 body is retried within the retry budget."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Dev, code_record, start_dev

from evalkit.errors import ConfigError
from evalkit.judges.ask import ask_for_scores, score_schema
from evalkit.judges.base import JudgeContext, JudgeFailure
from evalkit.judges.coherence import CoherenceJudge, CoherenceOptions
from evalkit.judges.parse import ScoreSpec
from evalkit.models.base import Model
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions, RetryableError
from evalkit.types import Generation, Msg, Part, Prediction, Sample, Verdict


def stats(dev: Dev) -> dict[str, Any]:
    with urllib.request.urlopen(dev.base_url.removesuffix("/v1") + "/stats", timeout=5) as resp:
        out: dict[str, Any] = json.load(resp)
    return out


def factory(base_url: str, **extra: Any) -> Callable[[str], OpenAICompatModel]:
    def make(name: str) -> OpenAICompatModel:
        opts = OpenAIOptions(base_url=base_url, model=name, max_retries=1, backoff_s=0.01, timeout_s=60, **extra)
        return OpenAICompatModel(name, opts)

    return make


def sample(i: int) -> Sample:
    rec = code_record(i)
    return Sample(f"s{i}", (Part("text", rec["input"]["content"]),), (), {"question": rec["input"]["content"]})


def run_judge(judge: CoherenceJudge, answers: list[str]) -> list[Verdict]:
    async def go() -> list[Verdict]:
        try:
            await judge.start()
            return [
                await judge.judge(sample(i), Prediction(f"s{i}", "m", f"k{i}", text=a)) for i, a in enumerate(answers)
            ]
        finally:
            await judge.close()

    return asyncio.run(go())


def coherence(make: Callable[[str], OpenAICompatModel], tmp: Path, **opts: Any) -> CoherenceJudge:
    return CoherenceJudge("coh", CoherenceOptions(**opts), JudgeContext(model_factory=make, cache_dir=tmp))


def test_score_schema_has_an_integer_enum_per_criterion_and_a_reason() -> None:
    schema = score_schema(ScoreSpec(("coherence", "style_consistency"), 1, 5))
    assert schema["properties"]["coherence"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    assert schema["required"] == ["coherence", "style_consistency", "reason"]
    assert schema["additionalProperties"] is False


def test_the_schema_reaches_the_devserver_and_shapes_the_reply(tmp_path: Path, dev: Dev) -> None:
    judge = coherence(factory(dev.base_url), tmp_path, judge_model="judge-json")
    verdicts = run_judge(judge, ["An answer.", "Another answer."])
    st = stats(dev)
    assert st["by_format"] == {"json_schema": 3}  # one probe, then one request per sample
    assert st["last_schema"] == judge.schema
    assert all(v.ok and set(v.scores) == {"coherence", "style_consistency"} for v in verdicts)
    assert all(v.details["reply_mode"] == "json_schema" for v in verdicts)
    assert all(json.loads(v.raw[0])["reason"] == "deterministic dev judge" for v in verdicts)
    assert "replies: json_schema" in judge.describe()


def test_an_endpoint_refusing_the_schema_falls_back_to_free_text(tmp_path: Path, dev: Dev) -> None:
    judge = coherence(factory(dev.base_url), tmp_path, judge_model="judge-noschema")
    [v] = run_judge(judge, ["An answer."])
    assert v.ok and v.details["reply_mode"] == "text" and "replies: text" in judge.describe()
    # both wire forms were tried and refused (HTTP 400), then one free-text request
    assert stats(dev)["by_format"] == {"json_schema": 1, "json_object": 1, "text": 1}


def test_an_endpoint_ignoring_the_schema_costs_one_probe(tmp_path: Path, dev: Dev) -> None:
    judge = coherence(factory(dev.base_url), tmp_path, judge_model="judge-messy")
    [v] = run_judge(judge, ["An answer."])
    assert v.ok and v.details["reply_mode"] == "text"
    assert stats(dev)["by_format"] == {"json_schema": 1, "text": 1}


def test_structured_on_requires_support_and_off_sends_none(tmp_path: Path, dev: Dev) -> None:
    with pytest.raises(ConfigError, match="takes no JSON-schema reply format"):
        run_judge(coherence(factory(dev.base_url), tmp_path, judge_model="judge-noschema", structured="on"), ["a"])
    [v] = run_judge(coherence(factory(dev.base_url), tmp_path, judge_model="judge-json", structured="off"), ["a"])
    assert v.ok and v.details["reply_mode"] == "text"
    assert stats(dev)["by_format"].get("text") == 1
    with pytest.raises(ConfigError, match="structured must be one of"):
        run_judge(coherence(factory(dev.base_url), tmp_path, judge_model="judge-json", structured="yes"), ["a"])


@pytest.fixture
def truncating() -> Iterator[Dev]:
    server = start_dev("--truncate-first", "2")
    try:
        yield Dev(server)
    finally:
        server.stop()


def test_a_cut_off_200_body_is_retried_within_the_budget(truncating: Dev) -> None:
    async def ask(max_retries: int) -> str:
        opts = OpenAIOptions(base_url=truncating.base_url, model="echo", max_retries=max_retries, backoff_s=0.01)
        model = OpenAICompatModel("m", opts)
        await model.start()
        try:
            return (await model.generate_inner((Part("text", "hello"),))).text
        finally:
            await model.close()

    with pytest.raises(RetryableError, match="gave up after 2 attempts: HTTP 200 with a cut-off"):
        asyncio.run(ask(max_retries=1))  # both attempts get cut-off bodies
    assert asyncio.run(ask(max_retries=1)).startswith("Echo: hello")  # the third request is whole
    assert truncating.requests("echo") == 3


def test_the_embedded_llama_cpp_server_takes_the_schema_and_its_replies_parse(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    make = factory("http://unused/v1", embedded="smollm2")
    judge = coherence(
        lambda name: make("smollm2-135m-instruct"), tmp_path, judge_model="smollm2-cpu", max_parse_retries=0
    )
    answers = ["The function returns the mean of the list.", "Bananas are yellow."]
    verdicts = run_judge(judge, answers)
    assert judge.mode == "json_schema" and "replies: json_schema" in judge.describe()
    for v in verdicts:
        assert v.ok, v.error
        assert set(v.scores) == {"coherence", "style_consistency"} and not v.metric_errors
        assert all(s in {1.0, 2.0, 3.0, 4.0, 5.0} for s in v.scores.values())
        assert set(json.loads(v.raw[0])) == {"coherence", "style_consistency", "reason"}


class Replies(Model):
    """A judge model answering with the given replies in turn, recording the prompts."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__("seq")
        self.replies = list(replies)
        self.prompts: list[str] = []

    async def generate_inner(self, msg: Msg) -> Generation:
        self.prompts.append("".join(p.value for p in msg))
        return Generation(text=self.replies.pop(0))


SPEC = ScoreSpec(("coherence", "style_consistency"), 1, 5)


def test_a_partial_reply_is_re_asked_and_a_complete_one_wins() -> None:
    model = Replies(['{"coherence": 4, "style_consistency": "3 or 4"}', '{"coherence": 4, "style_consistency": 3}'])
    reading, raw = asyncio.run(ask_for_scores(model, "P", SPEC, 2, " retry ({reason})"))
    assert reading.scores == {"coherence": 4.0, "style_consistency": 3.0} and len(raw) == 2
    assert model.prompts[1] == "P retry (conflicting values for style_consistency: 3 and 4)"


def test_after_the_retries_the_criterion_that_parsed_keeps_its_value() -> None:
    model = Replies(['{"coherence": 2}', "no idea", '{"coherence": 2, "style_consistency": 7}'])
    reading, raw = asyncio.run(ask_for_scores(model, "P", SPEC, 2, " retry"))
    assert len(raw) == 3 and reading.scores == {"coherence": 2.0}
    assert "outside 1-5" in reading.errors["style_consistency"]  # the latest of the equally good readings


def test_no_criterion_in_any_reply_is_an_unparseable_failure() -> None:
    model = Replies(["I like it.", "Still no numbers."])
    with pytest.raises(JudgeFailure, match="unparseable judge reply after 2 attempts") as exc:
        asyncio.run(ask_for_scores(model, "P", SPEC, 1, " retry"))
    assert exc.value.status == "unparseable" and exc.value.raw == ["I like it.", "Still no numbers."]
