"""Replicas of an OpenAI-compatible model: least outstanding requests over real loopback servers, a replica dying
mid-run, the prediction key unchanged by the replica list, and ``serve --data-parallel-size``."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import pytest
from loopback_chat import ThrottlingChat, predict_all, text_samples
from support import REPO

from evalkit.cli import main
from evalkit.config import build_options, load_config
from evalkit.errors import ConfigError, ModelError
from evalkit.factory import build_model
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.models.replicas import ReplicaPool


def _model(urls: list[str], concurrency: int = 8, max_retries: int = 0) -> OpenAICompatModel:
    opts = OpenAIOptions(base_url=tuple(urls), model="echo", concurrency=concurrency, max_retries=max_retries)
    return OpenAICompatModel("m", opts)


def test_pool_picks_least_outstanding_round_robin_on_ties_and_cools_failures_down() -> None:
    now = [0.0]
    pool = ReplicaPool(["http://a/v1", "http://b/v1/", "http://c/v1"], clock=lambda: now[0])
    picks = [pool.pick().url for _ in range(4)]
    assert picks == ["http://a/v1", "http://b/v1", "http://c/v1", "http://a/v1"]  # ties: round robin
    b = pool.replicas[1]
    pool.done(b, failed=False)  # b now has the fewest outstanding
    assert pool.pick().url == "http://b/v1"
    for r in pool.replicas:
        while r.outstanding:
            pool.done(r, failed=False)
    pool.mark(pool.replicas[0], failed=True)  # a cools down for 1 s
    assert {pool.pick().url for _ in range(6)} == {"http://b/v1", "http://c/v1"}
    assert pool.another_healthy({"http://b/v1"}) and not pool.another_healthy({"http://b/v1", "http://c/v1"})
    assert pool.pick(avoid={"http://b/v1", "http://c/v1"}).url in {"http://b/v1", "http://c/v1"}  # healthy first
    now[0] = 1.5
    assert pool.pick().url == "http://a/v1"  # cooled down, and least loaded


def test_the_faster_replica_gets_more_requests() -> None:
    with ThrottlingChat(latency_s=0.01) as fast, ThrottlingChat(latency_s=0.08) as slow:
        preds = asyncio.run(predict_all(_model([slow.base_url, fast.base_url]), text_samples(200)))
    assert all(p.ok for p in preds) and len(preds) == 200
    assert fast.served + slow.served == 200
    assert slow.served > 0 and fast.served > 3 * slow.served, (fast.served, slow.served)


def test_a_replica_dying_mid_run_loses_no_sample() -> None:
    n = 240
    with ThrottlingChat(latency_s=0.02) as survivor:
        dying = ThrottlingChat(latency_s=0.02).__enter__()
        model = _model([dying.base_url, survivor.base_url], max_retries=0)  # no retry: only failover saves a sample

        async def run() -> list:
            async def kill_when_busy() -> None:
                while dying.served < 40:
                    await asyncio.sleep(0.005)
                await asyncio.to_thread(dying.__exit__, None, None, None)

            killer = asyncio.create_task(kill_when_busy())
            preds = await predict_all(model, text_samples(n))
            await killer
            return preds

        preds = asyncio.run(run())
    assert sorted(p.sample_id for p in preds) == sorted(str(i) for i in range(n))
    assert [p.error for p in preds if not p.ok] == []
    assert 40 <= dying.served < n // 2 and survivor.served + dying.served == n


def test_nothing_answering_at_one_replica_is_a_note_at_all_an_error(capsys) -> None:
    with ThrottlingChat(latency_s=0.0) as live:
        preds = asyncio.run(predict_all(_model(["http://127.0.0.1:9/v1", live.base_url]), text_samples(5)))
    assert all(p.ok for p in preds) and live.served == 5
    assert "nothing answers at http://127.0.0.1:9/v1; using the other replicas" in capsys.readouterr().out
    with pytest.raises(ModelError, match=r"nothing answers at http://127.0.0.1:9/v1 or http://127.0.0.1:10/v1\."):
        asyncio.run(predict_all(_model(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]), text_samples(1)))


def test_the_prediction_key_does_not_depend_on_the_replicas(tmp_path: Path) -> None:
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(
        "models:\n"
        '  one: {backend: openai, base_url: "http://10.0.0.1:8000/v1", model: Qwen/Qwen2.5-VL-7B-Instruct}\n'
        "  two: {backend: openai, model: Qwen/Qwen2.5-VL-7B-Instruct, concurrency: 64, concurrency_floor: 4,\n"
        '        base_url: ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]}\n'
        '  other: {backend: openai, base_url: "http://10.0.0.1:8000/v1", model: Qwen/Qwen2.5-VL-3B-Instruct}\n',
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    sample = text_samples(1)[0]
    one, two, other = (build_model(cfg, name) for name in ("one", "two", "other"))
    assert two.options.urls == ("http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1")
    assert one.identity() == two.identity()
    assert one.prediction_key(sample, "v1") == two.prediction_key(sample, "v1")
    assert other.prediction_key(sample, "v1") != one.prediction_key(sample, "v1")  # the key does see the model


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "base_url: give at least one URL"),
        (["http://a:1/v1", "http://a:1/v1/"], "base_url: a replica is listed twice"),
        (["http://a:1/v1", "a:2/v1"], "base_url: 'a:2/v1' is not an http:// or https:// URL"),
        ([1], "expected str"),
    ],
)
def test_bad_replica_lists_name_the_field(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_options(OpenAIOptions, {"base_url": value}, "cfg: models.m")


def test_serve_dry_run_passes_data_parallel_and_keeps_tensor_parallel(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"extends: {REPO / 'config.yaml'}\n"
        "models:\n"
        "  big: {backend: openai, model: Qwen/Qwen2.5-VL-72B-Instruct, serve: {tensor_parallel_size: 2},\n"
        '        base_url: ["http://127.0.0.1:8100/v1", "http://127.0.0.1:8101/v1"]}\n',
        encoding="utf-8",
    )
    assert main(["serve", "--config", str(cfg), "--model", "big", "--dry-run", "--data-parallel-size", "2"]) == 0
    argv = shlex.split(capsys.readouterr().out.splitlines()[0])
    flags = {a: argv[i + 1] for i, a in enumerate(argv) if a.startswith("--") and i + 1 < len(argv)}
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-VL-72B-Instruct"]
    assert flags["--data-parallel-size"] == "2" and flags["--tensor-parallel-size"] == "2"
    assert flags["--port"] == "8100"  # the first replica's
    assert main(["serve", "--config", str(cfg), "--model", "big", "--dry-run"]) == 0
    assert "--data-parallel-size" not in capsys.readouterr().out
    assert main(["serve", "--config", str(cfg), "--model", "big", "--dry-run", "--data-parallel-size", "0"]) == 2
    assert "--data-parallel-size must be at least 1; got 0" in capsys.readouterr().err
