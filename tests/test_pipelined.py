"""Pipelined judging: each prediction is judged as it is stored, against real loopback endpoints; results and
resume semantics are those of infer-then-judge."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from pathlib import Path

import pytest
from aiohttp import web
from support import LoopbackApp, code_record, write_config, write_records

from evalkit.cli import main
from evalkit.devserver import answer


class TimedServer(LoopbackApp):
    """An OpenAI-compatible server with a latency that logs (model, start, end) of every chat request (the
    judge's structured-output probe is logged as ``<model> (probe)``).

    ``version`` goes into the echo model's answers: a test changes it to make a model say something else.
    """

    def __init__(self, latency_s: float) -> None:
        super().__init__()
        self.latency_s = latency_s
        self.log: list[tuple[str, float, float]] = []
        self.version = 1

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        t0 = time.monotonic()
        await asyncio.sleep(self.latency_s)
        model = str(body["model"])
        if "answer" in json.dumps(body.get("response_format", {})):  # the judge's one structured-output probe
            model += " (probe)"
        text = "\n".join(str(m["content"]) for m in body["messages"])
        reply = answer(model, text) + (f" (v{self.version})" if model == "echo" else "")
        self.log.append((model, t0, time.monotonic()))
        return web.json_response({"choices": [{"message": {"content": reply}, "finish_reason": "stop"}]})

    def calls(self, model: str) -> list[tuple[float, float]]:
        return [(a, b) for m, a, b in self.log if m == model]


N = 12


@pytest.fixture
def server() -> TimedServer:
    with TimedServer(latency_s=0.15) as s:
        yield s


def setup(tmp: Path, base_url: str) -> Path:
    write_records(tmp / "data" / "code.jsonl", [code_record(i) for i in range(N)])
    return write_config(tmp, base_url)


def run(cfg: Path, work: Path, *flags: str) -> int:
    return main(["--config", str(cfg), "--work-dir", str(work), "--no-progress", "--no-reliability", *flags])


def report(work: Path) -> list[dict[str, str]]:
    with (work / "echo" / "ds" / "report.csv").open(encoding="utf-8") as f:
        return [{k: r[k] for k in ("subset", "metric", "value", "n", "n_failed")} for r in csv.DictReader(f)]


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_judging_starts_before_the_last_answer_and_matches_infer_then_judge(server: TimedServer, tmp_path: Path):
    cfg = setup(tmp_path, server.base_url)
    assert run(cfg, tmp_path / "piped") == 0
    infer_calls, judge_calls = server.calls("echo"), server.calls("judge-json")
    assert len(infer_calls) == N and len(judge_calls) == N
    # 12 answers at concurrency 4 take three rounds: the first verdicts are asked for while answers are still due
    assert min(start for start, _ in judge_calls) < max(end for _, end in infer_calls)

    server.log.clear()
    assert run(cfg, tmp_path / "staged", "--mode", "infer") == 0
    assert run(cfg, tmp_path / "staged", "--mode", "eval") == 0
    assert min(s for s, _ in server.calls("judge-json")) > max(e for _, e in server.calls("echo"))
    assert report(tmp_path / "piped") == report(tmp_path / "staged")
    assert report(tmp_path / "piped")[0]["n"] == str(N)
    # both runs wrote their per-sample files while they went (evalkit/streamed.py); an eval run that judges nothing
    # writes them after its end as before: the same bytes all three ways
    piped, staged = (tmp_path / w / "echo" / "ds" for w in ("piped", "staged"))
    names = ["samples.llm.jsonl", "scored.llm.jsonl", "scored.llm.lines.jsonl", "scored.llm/code.jsonl"]
    streamed = [(piped / x).read_bytes() for x in names]
    assert streamed == [(staged / x).read_bytes() for x in names]
    for x in [*names, ".outputs.llm.json"]:
        (staged / x).unlink()
    server.log.clear()
    assert run(cfg, tmp_path / "staged", "--mode", "eval") == 0
    assert server.calls("judge-json") == []  # every verdict reused: the files were made after the run
    assert [(staged / x).read_bytes() for x in names] == streamed
    assert len(lines(piped / "samples.llm.jsonl")) == N


def test_resume_reuses_stored_answers_and_verdicts(server: TimedServer, tmp_path: Path):
    cfg = setup(tmp_path, server.base_url)
    work = tmp_path / "w"
    assert run(cfg, work, "--mode", "infer", "--limit", "5") == 0  # 5 answers stored, none judged yet
    server.log.clear()
    assert run(cfg, work) == 0
    assert len(server.calls("echo")) == N - 5  # only the missing answers
    assert len(server.calls("judge-json")) == N  # the 5 stored answers are judged too, from the start
    server.log.clear()
    assert run(cfg, work) == 0
    assert server.log == []  # nothing left to do
    verdicts = lines(work / "echo" / "ds" / "verdicts.llm.jsonl")
    assert len(verdicts) == N and len({v["sample_id"] for v in verdicts}) == N


@pytest.mark.parametrize("staged", [False, True])
def test_a_new_answer_under_the_same_key_is_judged_again(server: TimedServer, tmp_path: Path, staged: bool):
    cfg = setup(tmp_path, server.base_url)
    work = tmp_path / "w"
    assert run(cfg, work) == 0
    server.version = 2  # the model now says something else under the same prediction key
    server.log.clear()
    if staged:
        assert run(cfg, work, "--mode", "infer", "--force-reinfer") == 0
        assert run(cfg, work, "--mode", "eval") == 0
    else:
        assert run(cfg, work, "--force-reinfer") == 0
    assert len(server.calls("echo")) == N and len(server.calls("judge-json")) == N
    export = lines(work / "echo" / "ds" / "scored.llm.lines.jsonl")
    assert export and all("(v2)" in json.dumps(r) and "(v1)" not in json.dumps(r) for r in export)


def most_in_flight(calls: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in calls] + [(b, -1) for _, b in calls])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_the_concurrency_flag_raises_what_the_model_keeps_in_flight(server: TimedServer, tmp_path: Path):
    cfg = setup(tmp_path, server.base_url)  # the echo entry says concurrency: 4
    assert run(cfg, tmp_path / "a") == 0
    assert most_in_flight(server.calls("echo")) == 4
    server.log.clear()
    assert run(cfg, tmp_path / "b", "--concurrency", "12") == 0
    assert most_in_flight(server.calls("echo")) > 8
    assert most_in_flight(server.calls("judge-json")) > 8
    keys = [[json.loads(x)["key"] for x in (tmp_path / w / "echo/ds/predictions.jsonl").open()] for w in "ab"]
    assert sorted(keys[0]) == sorted(keys[1])  # the flag is not part of any key
