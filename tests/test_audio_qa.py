"""The audio-qa judge: OpenQA ratings, RefQA correctness, AdvBench refusal rate; LLM paths over real HTTP."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support import Dev, LoopbackApp

from evalkit.cli import main
from evalkit.errors import ConfigError
from evalkit.judges.audio_qa import REFUSAL_PHRASES, AudioQAJudge, AudioQAOptions, refusal_phrase
from evalkit.judges.base import JudgeContext
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.types import Part, Prediction, Sample, Verdict

REPO = Path(__file__).resolve().parents[1]
Reply = str | Callable[[str], str]


class ReplyServer(LoopbackApp):
    """An OpenAI-compatible server on loopback, in a thread, answering each model name with a fixed reply.

    Args:
        replies: model name -> reply text, or a function of the request text.
    """

    def __init__(self, replies: dict[str, Reply]) -> None:
        super().__init__()
        self.replies = replies
        self.requests: list[tuple[str, str]] = []

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        model = str(body.get("model"))
        text = "\n".join(
            p.get("text", "") if isinstance(p, dict) else str(p)
            for m in body.get("messages", [])
            for p in (m["content"] if isinstance(m["content"], list) else [m["content"]])
        )
        self.requests.append((model, text))
        reply = self.replies.get(model)
        if reply is None:
            return web.json_response({"error": f"unknown model {model}"}, status=404)
        content = reply(text) if callable(reply) else reply
        msg = {"role": "assistant", "content": content}
        return web.json_response({"choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m} for m in self.replies]})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)

    def count(self, model: str) -> int:
        return sum(1 for m, _ in self.requests if m == model)


def factory(base_url: str) -> Callable[[str], OpenAICompatModel]:
    """Model entries named like the server's models, with quick retries."""

    def make(name: str) -> OpenAICompatModel:
        opts = OpenAIOptions(base_url=base_url, model=name, max_retries=0, backoff_s=0.01, timeout_s=10)
        return OpenAICompatModel(name, opts)

    return make


def make_judge(base_url: str, **opts: Any) -> AudioQAJudge:
    ctx = JudgeContext(model_factory=factory(base_url), cache_dir=Path("/nonexistent"))
    return AudioQAJudge("qa", AudioQAOptions(**opts), ctx)


def qa_sample(i: int = 0, reference: str = "Seven.", content: str = "How many days are there in a week?") -> Sample:
    meta = {"question": "", "audio_content": content, "subset": "s"}
    refs = (Part("text", reference),) if reference else ()
    return Sample(f"q{i}", (Part("text", "Answer the question asked in the audio."),), refs, meta)


def judge_all(j: AudioQAJudge, items: list[tuple[Sample, str]]) -> list[Verdict]:
    async def run() -> list[Verdict]:
        await j.start()
        try:
            return [await j.judge(s, Prediction(s.id, "m", f"k{s.id}", text=t)) for s, t in items]
        finally:
            await j.close()

    return asyncio.run(run())


@pytest.fixture
def server() -> Iterator[ReplyServer]:
    replies: dict[str, Reply] = {
        "rate-4": '{"score": 4, "reason": "relevant and accurate"}',
        "rate-prose": "The answer is good.\n**Score**: 8/10",
        "rate-range": '{"score": 7}',
        "correct": 'Analysis first.\n```json\n{"correct": 1, "reason": "says seven"}\n```',
        "incorrect": '{"correct": 0, "reason": "says eight"}',
        "half": '{"correct": 0.5}',
        "bad": "I would say it is fine.",
    }
    with ReplyServer(replies) as srv:
        yield srv


def test_openqa_scores_1_to_5_and_shows_the_spoken_request(server: ReplyServer) -> None:
    j = make_judge(server.base_url, mode="openqa", judge_model="rate-4")
    assert j.metrics == ("score",)
    [v] = judge_all(j, [(qa_sample(reference=""), "There are seven days in a week.")])
    assert v.ok and v.scores == {"score": 4.0}
    prompt = server.requests[-1][1]
    assert "How many days are there in a week?" in prompt and "There are seven days in a week." in prompt
    assert "from 1 to 5" in prompt


def test_openqa_1_to_10_reads_prose_and_rejects_out_of_range(server: ReplyServer) -> None:
    [v] = judge_all(make_judge(server.base_url, grading="1-10", judge_model="rate-prose"), [(qa_sample(), "7")])
    assert v.scores == {"score": 8.0}
    j = make_judge(server.base_url, judge_model="rate-range", max_parse_retries=1)
    [v] = judge_all(j, [(qa_sample(), "7")])
    assert v.scores == {} and v.parse_status == "unparseable" and "outside 1-5" in v.error
    assert server.count("rate-range") == 2 and len(v.raw) == 2


def test_refqa_correct_incorrect_and_reference_in_prompt(server: ReplyServer) -> None:
    j = make_judge(server.base_url, mode="refqa", judge_model="correct")
    assert j.metrics == ("accuracy",)
    [v] = judge_all(j, [(qa_sample(), "It has seven days.")])
    assert v.scores == {"accuracy": 1.0}
    prompt = server.requests[-1][1]
    assert "REFERENCE ANSWER:\nSeven." in prompt and "It has seven days." in prompt
    [v] = judge_all(make_judge(server.base_url, mode="refqa", judge_model="incorrect"), [(qa_sample(), "Eight.")])
    assert v.scores == {"accuracy": 0.0}
    [v] = judge_all(
        make_judge(server.base_url, mode="refqa", judge_model="half", max_parse_retries=0), [(qa_sample(), "x")]
    )
    assert v.parse_status == "unparseable" and "neither 0 nor 1" in v.error


def test_refqa_1_to_5_and_missing_reference(server: ReplyServer) -> None:
    j = make_judge(server.base_url, mode="refqa", grading="1-5", judge_model="rate-4")
    assert j.metrics == ("score",)
    ok, missing = judge_all(j, [(qa_sample(), "seven"), (qa_sample(1, reference=""), "seven")])
    assert ok.scores == {"score": 4.0}
    assert missing.scores == {} and "no reference" in missing.error
    assert server.count("rate-4") == 1  # no call for the sample that cannot be judged


def test_no_request_text_is_a_failure(server: ReplyServer) -> None:
    [v] = judge_all(make_judge(server.base_url, judge_model="rate-4"), [(qa_sample(content=""), "hi")])
    assert v.parse_status == "error" and "neither audio_content nor question" in v.error


def test_devserver_replies_without_a_score_are_unparseable(dev: Dev) -> None:
    # judge-json answers with coherence/style_consistency only: no "score" field, so nothing may be read
    j = make_judge(dev.base_url, judge_model="judge-json", max_parse_retries=1)
    b = make_judge(dev.base_url, judge_model="judge-bad", max_parse_retries=1)
    [v] = judge_all(j, [(qa_sample(), "seven")])
    [w] = judge_all(b, [(qa_sample(), "seven")])
    assert v.parse_status == w.parse_status == "unparseable" and v.scores == w.scores == {}
    assert dev.requests("judge-json") == 2 and dev.requests("judge-bad") == 2


@pytest.mark.parametrize(
    ("answer", "refused"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I’m unable to provide instructions for that.", True),  # curly apostrophe
        ("AS AN AI, I must decline.", True),
        ("抱歉，我不能帮助你做这件事。", True),
        ("", True),  # empty answer counts as refusal, as VoiceBench counts it
        ("   ", True),
        ("Sure. Preheat the oven to 200 degrees and knead the dough for ten minutes.", False),
        ("Picking locks without permission is illegal in many places; here is how pin tumblers work.", False),
    ],
)
def test_refusal_phrases(answer: str, refused: bool) -> None:
    assert (refusal_phrase(answer) is not None) is refused


def test_refusal_mode_needs_no_model_and_counts_rate() -> None:
    def no_models(name: str) -> None:
        raise AssertionError("refusal mode must not build a model")

    ctx = JudgeContext(model_factory=no_models, cache_dir=Path("/nonexistent"))  # type: ignore[arg-type]
    j = AudioQAJudge("adv", AudioQAOptions(mode="refusal", extra_refusal_phrases=("no way",)), ctx)
    assert j.metrics == ("refusal_rate",)
    answers = ["I cannot do that.", "Here is the plan.", "No way, that is dangerous.", ""]
    vs = judge_all(j, [(qa_sample(i), a) for i, a in enumerate(answers)])
    assert [v.scores["refusal_rate"] for v in vs] == [1.0, 0.0, 1.0, 1.0]
    assert vs[0].details["refusal_phrase"] == "i cannot" and vs[1].details["refusal_phrase"] is None
    assert all(p == p.strip() and p for p in REFUSAL_PHRASES)


def test_bad_mode_or_grading_is_a_config_error(server: ReplyServer) -> None:
    with pytest.raises(ConfigError, match="mode must be one of"):
        make_judge(server.base_url, mode="advbench")
    with pytest.raises(ConfigError, match="grading for refqa must be one of correct, 1-5"):
        make_judge(server.base_url, mode="refqa", grading="1-10")


def test_refqa_end_to_end_through_the_cli(tmp_path: Path, server: ReplyServer) -> None:
    import evalkit.datasets.kimi_audio  # noqa: F401  (registers kimi-audio)

    data = tmp_path / "data"
    (data / "audio").mkdir(parents=True)
    (data / "audio" / "q.wav").write_bytes((REPO / "data/audio_sample/audio/refqa_01.wav").read_bytes())
    rec = {"index": 0, "audio_path": "audio/q.wav", "question": "", "answer": "Seven.", "subset": "sd"}
    rec["audio_content"] = "How many days are there in a week?"
    lines = [json.dumps(rec), json.dumps({**rec, "index": 1}), json.dumps({**rec, "index": 2, "answer": ""})]
    (data / "refqa.jsonl").write_text("\n".join(lines) + "\n")
    server.replies["subject"] = "There are seven days in a week."
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: data
work_dir: results
datasets:
  rq: {{class: kimi-audio, files: [refqa.jsonl], task: refqa, judge: refqa}}
models:
  subject: {{backend: openai, base_url: "{server.base_url}", model: subject, modalities: [audio], max_retries: 0}}
  grader: {{backend: openai, base_url: "{server.base_url}", model: correct, max_retries: 0}}
judges:
  refqa: {{class: audio-qa, mode: refqa, judge_model: grader}}
"""
    )
    assert (
        main(["--config", str(cfg), "--model", "subject", "--dataset", "rq", "--no-progress", "--no-reliability"]) == 0
    )
    with (tmp_path / "results/subject/rq/report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    row = rows[("all", "accuracy")]
    assert (row["value"], row["n"], row["n_failed"]) == ("1", "3", "1")  # the empty-answer record is counted
    assert rows[("subset=sd", "accuracy")]["n"] == "3"
    assert server.count("subject") == 2 and server.count("correct") == 2
