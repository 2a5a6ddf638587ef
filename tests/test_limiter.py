"""evalkit.limiter: the AIMD arithmetic on a fake clock, the gate on a real loop, one limiter per endpoint and
loop, and a real loopback server that answers 429 above a hidden concurrency limit."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from loopback_chat import ThrottlingChat, predict_all, text_samples
from support import code_record, write_config, write_records

from evalkit.cli import main
from evalkit.config import build_options
from evalkit.errors import ConfigError
from evalkit.limiter import (
    HOLD_WINDOWS,
    MAX_HOLD_WINDOWS,
    MAX_PAUSE_S,
    Limiter,
    endpoint_of,
    endpoint_snapshot,
    limiter_for,
)
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_decrease_cuts_once_per_congestion_event_and_stops_at_the_floor() -> None:
    lim = Limiter("http://h:1", floor=3, ceiling=32)
    assert lim.slots == 32
    gen = lim.generation
    lim.on_overload("throttled", gen)
    lim.on_overload("throttled", gen)  # a second answer to a request sent before the cut: no second cut
    assert lim.slots == 22 and lim.decreases == 1 and lim.seen["throttled"] == 2  # 32 x 0.7 = 22.4
    slots = []
    for _ in range(5):
        lim.on_overload("unavailable", lim.generation)
        slots.append(lim.slots)
    assert slots == [15, 10, 7, 5, 3]  # 15.68, 10.98, 7.68, 5.38, 3.76
    lim.on_overload("timeout", lim.generation)
    lim.on_overload("timeout", lim.generation)
    snap = lim.snapshot()
    assert (snap.final, snap.min, snap.max, snap.throttled, snap.unavailable, snap.timeouts) == (3, 3, 32, 2, 5, 2)
    assert lim.limit == 3.0  # never below the floor


def _window(lim: Limiter, latency_s: float = 0.1) -> None:
    for _ in range(lim.slots):
        lim.on_success(latency_s)


def test_increase_needs_a_window_of_fast_answers_holds_below_the_last_cut_and_stops_at_the_ceiling() -> None:
    lim = Limiter("http://h:1", floor=1, ceiling=20)
    lim.on_success(0.1)  # the best latency seen: 0.1 s
    for _ in range(3):
        lim.on_overload("throttled", lim.generation)  # 20 -> 14 -> 9.8 -> 6.86; the last cut came at 9
    assert lim.slots == 6
    for _ in range(5):
        lim.on_success(0.1)
    assert lim.slots == 6  # a window is 6 answers
    lim.on_success(0.1)
    assert lim.slots == 7 and lim.increases == 1
    for _ in range(6):
        lim.on_success(0.1)
    lim.on_success(0.5)  # latency did not hold (5x the best): the window starts over
    for _ in range(6):
        lim.on_success(0.1)
    assert lim.slots == 7
    lim.on_success(0.1)
    assert lim.slots == 8  # one below the level of the last cut (9): held for HOLD_WINDOWS windows
    for _ in range(HOLD_WINDOWS):
        _window(lim)
    assert lim.slots == 8
    _window(lim)
    assert lim.slots == 9
    _window(lim)
    assert lim.slots == 10  # at and beyond the last cut: one per window again
    for _ in range(40):
        _window(lim)
    assert lim.slots == 20 == lim.snapshot().max  # never above the ceiling


def test_refusals_at_the_same_level_double_the_hold_up_to_a_cap() -> None:
    lim = Limiter("http://h:1", floor=1, ceiling=10)
    lim.on_success(0.1)
    holds = []
    for _ in range(5):
        lim.on_overload("throttled", lim.generation)  # refused at 10 (the first time from the ceiling)
        windows = 0
        while lim.slots < 10:
            _window(lim)
            windows += 1
        holds.append(windows)
    # 7 -> 8 -> 9 takes 2 windows, the hold at 9 is 8, 16, 32, 64, 64 windows, then 1 window to 10
    assert holds == [3 + 8, 3 + 16, 3 + 32, 3 + MAX_HOLD_WINDOWS, 3 + MAX_HOLD_WINDOWS]
    lim.on_overload("throttled", lim.generation)  # 7; now refused at a lower level: the hold starts over
    _window(lim)
    lim.on_overload("throttled", lim.generation)  # cut at 8 -> 5
    windows = 0
    while lim.slots < 8:
        _window(lim)
        windows += 1
    assert windows == 3 + HOLD_WINDOWS  # 5 -> 6 -> 7, held at 7, -> 8


def test_slow_start_grows_per_answer_until_the_first_cut() -> None:
    lim = Limiter("http://h:1", floor=1, ceiling=64, start=1)
    for _ in range(10):
        lim.on_success(0.1)
    assert lim.slots == 11
    lim.on_overload("throttled", lim.generation)
    assert lim.slots == 7  # 11 x 0.7 = 7.7
    for _ in range(6):
        lim.on_success(0.1)
    assert lim.slots == 7  # additive now: one per window of 7
    lim.on_success(0.1)
    assert lim.slots == 8


def test_retry_after_pauses_new_requests_capped() -> None:
    clock = FakeClock()
    lim = Limiter("http://h:1", floor=1, ceiling=8, clock=clock)
    lim.on_overload("throttled", lim.generation, retry_after=2.0)
    assert lim.pause_left() == pytest.approx(2.0)
    clock.now += 1.5
    assert lim.pause_left() == pytest.approx(0.5)
    lim.on_overload("throttled", lim.generation, retry_after=1.0)  # extends to now + 1
    assert lim.pause_left() == pytest.approx(1.0)
    assert lim.snapshot().paused_s == pytest.approx(2.5)
    lim.pause(3600)
    assert lim.pause_left() == pytest.approx(MAX_PAUSE_S)


def test_bounds_are_validated_naming_the_fields() -> None:
    with pytest.raises(ConfigError, match=r"concurrency \(2\) must be at least concurrency_floor \(4\)"):
        build_options(OpenAIOptions, {"concurrency": 2, "concurrency_floor": 4}, "cfg: models.m")
    with pytest.raises(ConfigError, match="concurrency_floor must be at least 1; got 0"):
        OpenAIOptions(concurrency_floor=0)
    with pytest.raises(ConfigError, match="expected bool"):
        build_options(OpenAIOptions, {"adaptive": "yes"}, "cfg: models.m")


def test_the_gate_holds_requests_beyond_the_limit_and_during_a_pause() -> None:
    async def scenario() -> tuple[list[str], float]:
        lim = Limiter("http://h:1", floor=1, ceiling=2)
        events: list[str] = []

        async def request(name: str, hold_s: float) -> None:
            async with lim.slot():
                events.append(f"start {name}")
                await asyncio.sleep(hold_s)
            events.append(f"end {name}")

        await asyncio.gather(request("a", 0.05), request("b", 0.05), request("c", 0.0))
        lim.pause(0.2)
        t0 = time.monotonic()
        await request("d", 0.0)
        return events, time.monotonic() - t0

    events, waited = asyncio.run(scenario())
    assert events.index("start c") > events.index("end a")  # c waited for a slot
    assert waited >= 0.18  # d waited out the Retry-After pause


def test_one_limiter_per_endpoint_and_loop() -> None:
    async def in_one_loop() -> tuple[Limiter, Limiter, Limiter, dict[str, dict[str, object]]]:
        a = limiter_for("http://127.0.0.1:9001/v1", 1, 8)
        b = limiter_for("http://127.0.0.1:9001/other/v1/", 2, 32)  # the judge's entry on the same server
        c = limiter_for("http://127.0.0.1:9002/v1", 1, 8)
        return a, b, c, endpoint_snapshot()

    a, b, c, snap = asyncio.run(in_one_loop())
    assert a is b and a is not c
    assert (a.floor, a.ceiling, a.slots) == (1, 32, 32)  # widened: no congestion seen yet, so from the top
    assert list(snap) == ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    again = asyncio.run(in_one_loop())[0]
    assert again is not a  # a new loop starts fresh
    assert endpoint_snapshot() == {}  # outside a loop
    assert endpoint_of("https://user:secret@api.example.com/v1") == "https://api.example.com:443"


def _model(base_url: str, concurrency: int, adaptive: bool = True) -> OpenAICompatModel:
    opts = OpenAIOptions(
        base_url=base_url, model="echo", concurrency=concurrency, adaptive=adaptive, max_retries=12, backoff_s=0.01
    )
    return OpenAICompatModel("m", opts)


def _run(model: OpenAICompatModel, n: int) -> tuple[int, dict[str, object]]:
    async def go() -> tuple[int, dict[str, object]]:
        preds = await predict_all(model, text_samples(n))
        assert len(preds) == n
        return sum(1 for p in preds if not p.ok), endpoint_snapshot()

    return asyncio.run(go())


def test_a_hidden_limit_is_found_with_few_wasted_requests_and_no_failed_sample() -> None:
    n, hidden = 400, 6
    with ThrottlingChat(latency_s=0.02, limit=hidden, retry_after="0.02") as server:
        failed, snap = _run(_model(server.base_url, concurrency=24), n)
        refused_adaptive = server.refused
        state = snap[endpoint_of(server.base_url)]
        assert isinstance(state, dict)
    with ThrottlingChat(latency_s=0.02, limit=hidden, retry_after="0.02") as fixed:
        failed_fixed, _ = _run(_model(fixed.base_url, concurrency=24, adaptive=False), n)
    assert failed == 0
    assert server.served == n
    assert state["throttled"] == refused_adaptive  # the limiter saw every 429
    assert state["decreases"] >= 1 and state["min"] >= 1 and state["max"] == 24
    assert state["final"] <= hidden + 1  # settled at (or one step above, about to be cut) the hidden limit
    assert refused_adaptive <= n // 4, refused_adaptive
    # what adapting saves: a fixed 24 in flight wastes many times more and, retries spent, fails samples
    assert refused_adaptive * 5 < fixed.refused, (refused_adaptive, fixed.refused, failed_fixed)


def test_the_manifest_records_each_endpoints_limiter(tmp_path: Path) -> None:
    with ThrottlingChat(latency_s=0.0) as server:
        write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(3)])
        cfg = write_config(tmp_path, server.base_url, judge_model="echo")
        main(["--config", str(cfg), "--no-progress"])  # infer and judge (echoed replies do not parse: failures)
    manifest = json.loads((tmp_path / "results" / "echo" / "ds" / "manifest.json").read_text())
    endpoints = manifest["dataset"]["endpoints"]
    state = endpoints[endpoint_of(server.base_url)]
    assert state["requests"] >= 3 and state["final"] == state["ceiling"] == 8  # the judge entry's default widened 4
    assert state["throttled"] == 0 and state["decreases"] == 0
