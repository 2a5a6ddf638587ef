"""Store lines decoded by typed structs: the records are those the JSON says, odd lines included, and the
whole-file outputs are streamed without ever leaving a half-written file."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import AppendLog, RunStore, write_lines
from evalkit.types import Part, Prediction, Verdict, stable_hash, strings_hash


def run_store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path, "m", "d")


def test_predictions_read_back_equal_to_what_was_written(tmp_path: Path) -> None:
    st = run_store(tmp_path)
    preds = [
        Prediction(
            "s1",
            "m",
            "k1",
            "answer é",
            (Part("audio", "/x.wav", "audio1"),),
            {"messages": [1]},
            "",
            0.5,
            {"usage": {"prompt_tokens": 3}, "media": {"image1": "dropped: too big"}},
        ),
        Prediction("s2", "m", "k2", error="TimeoutError: slow", latency_s=30),
        Prediction("s3", "m", "k3", "x", prompt=None, meta={}),
    ]
    with AppendLog(st.predictions_path) as log:
        for p in preds:
            log.append(p.to_json())
    with_prompts = st.load_predictions()
    assert [with_prompts[(p.sample_id, p.key)] for p in preds] == preds
    without = st.load_predictions(prompts=False)
    assert [without[(p.sample_id, p.key)] for p in preds] == [
        Prediction(p.sample_id, p.model, p.key, p.text, p.parts, None, p.error, p.latency_s, p.meta) for p in preds
    ]
    assert type(without[("s2", "k2")].latency_s) is float  # 30 in the file: a float as before


def test_verdicts_with_nan_or_wrong_types_are_read_as_json_loads_reads_them(tmp_path: Path) -> None:
    """msgspec refuses ``NaN`` (which json.dumps writes) and a field of an unexpected type: such lines take the
    json.loads path and come back exactly as before, never dropped and never re-judged."""
    st = run_store(tmp_path)
    path = st.verdicts_path("j")
    good = Verdict("s1", "j", "v1", "k1", {"acc": 1.0}, raw="reply", details={"content": "c"})
    nan = Verdict("s2", "j", "v2", "k2", {"acc": float("nan")})
    odd = {**Verdict("s3", "j", "v3", "k3").to_json(), "scores": {"acc": "high"}}  # a string score
    with AppendLog(path) as log:
        log.append(good.to_json())
        log.append(nan.to_json())
        log.append(odd)
    got = st.load_verdicts("j")
    assert got[("s1", "v1")] == good
    assert got[("s2", "v2")].scores["acc"] != got[("s2", "v2")].scores["acc"]  # NaN, as json.loads reads it
    assert got[("s3", "v3")].scores == {"acc": "high"}
    assert st.load_verdicts("j", raw=False)[("s1", "v1")].raw is None
    wanted = st.load_verdicts("j", wanted={"s1": "v1", "s2": "nope"})
    assert list(wanted) == [("s1", "v1")]


def test_unreadable_middle_line_is_named_and_a_torn_last_line_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    st = run_store(tmp_path)
    lines = [json.dumps(Prediction(f"s{i}", "m", "k").to_json()) for i in range(3)]
    st.predictions_path.parent.mkdir(parents=True, exist_ok=True)
    st.predictions_path.write_text(f"{lines[0]}\n{{not json}}\n{lines[1]}\n\n{lines[2][:40]}", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="evalkit.store"):
        got = st.load_predictions()
    assert sorted(got) == [("s0", "k"), ("s1", "k")]
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [f"{st.predictions_path}:2: unreadable store line skipped"]


def test_write_lines_streams_and_a_failure_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "samples.j.jsonl"
    write_lines(path, (f'{{"i": {i}}}' for i in range(50_000)))  # several 1 MB chunks
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 50_000 and text.endswith('{"i": 49999}\n')

    def failing() -> object:
        yield '{"i": "new"}'
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_lines(path, failing())  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    write_lines(path, [])
    assert path.read_bytes() == b""


def test_loaded_verdicts_share_equal_scores_but_keep_number_types(tmp_path: Path) -> None:
    """A 0/1 judge's scores are a few dicts for the whole run; an int score stays an int, 1 and 1.0 or 0.0 and -0.0
    never share one dict (the outputs write them differently)."""
    st = run_store(tmp_path)
    scores = [{"acc": 1.0}, {"acc": 1}, {"acc": 0.0}, {"acc": -0.0}, {"acc": 1.0}, {"acc": 0.0}]
    with AppendLog(st.verdicts_path("j")) as log:
        for i, sc in enumerate(scores):
            log.append(Verdict(f"s{i}", "j", "v", "k", sc).to_json())
    loaded = st.load_verdicts("j", pred_keys={"s0": "k"})
    got = [loaded[(f"s{i}", "v")] for i in range(len(scores))]
    assert [repr(v.scores) for v in got] == [repr(sc) for sc in scores]
    assert got[0].scores is got[4].scores and got[2].scores is got[5].scores
    assert got[0].scores is not got[1].scores and got[2].scores is not got[3].scores
    assert type(got[1].scores["acc"]) is int


def test_a_held_verdict_loses_only_its_raw_reply_and_audit_details(tmp_path: Path) -> None:
    from evalkit.judges.base import JudgeContext
    from evalkit.judges.exact_match import ExactMatchJudge
    from evalkit.runner import kept_verdict
    from evalkit.store import Canon

    judge = ExactMatchJudge("em", None, JudgeContext(lambda name: None, tmp_path))  # type: ignore[arg-type,return-value]
    kept = kept_verdict(judge, Canon())
    full = Verdict("s", "em", "v", "k", {"accuracy": 1.0}, raw="reply", details={"normalised": "x", "content": "c"})
    held = kept(full)
    assert held.raw is None and held.details == {"content": "c"} and held.scores == {"accuracy": 1.0}
    assert (held.sample_id, held.key, held.pred_key, held.parse_status) == ("s", "v", "k", "ok")
    only_audit = kept(Verdict("t", "em", "v", "k", {"accuracy": 1.0}, details={"normalised": "y"}))
    assert only_audit.details == {} and only_audit.scores is held.scores  # equal scores: one dict
    plain = Verdict("u", "em", "v", "k", held.scores)
    assert kept(plain) is plain  # nothing to drop: the same object
    assert full.details == {"normalised": "x", "content": "c"}  # the stored record's own dicts are untouched


def test_prediction_and_verdict_keys_hash_the_text_they_always_hashed() -> None:
    """strings_hash (msgspec) must give stable_hash's value (json's text) for every string, or every stored key
    of every user's store would stop matching: every code point but the surrogates, in keys and values."""
    rng = random.Random(5)
    singles = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    objects: list[Any] = [
        {"msg": [["text", "".join(singles[i : i + 512]), ""]], "model": "m", "prompt": "v1"}
        for i in range(0, len(singles), 512)
    ]
    alphabet = [*singles[:300], "\u2028", "é", "漢", "🙂", '"', "\\"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(20))
        objects.append({text: [text, [["image", text, "image1"]], ""], "judge": text[:3], "pred": "k"})
    for obj in objects:
        assert strings_hash(obj) == stable_hash(obj)
        assert strings_hash(obj, 32) == stable_hash(obj, 32)
