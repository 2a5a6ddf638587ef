"""Shards by sample key in the store: part files per worker, the ok-beats-failed rule, merging, interrupted merges."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.launch.torchrun import Rank, cuda_device, is_follower, rank_of, worker_name
from evalkit.shard import shard_of
from evalkit.store import (
    AppendLog,
    Compaction,
    RunStore,
    compact_log,
    compact_run,
    merge_parts,
    part_paths,
    prefer,
    read_jsonl,
)
from evalkit.types import Prediction


def pred(sid: str, key: str = "k", text: str = "", error: str = "") -> Prediction:
    return Prediction(sid, "m", key, text=text, error=error)


def write(path: Path, *preds: Prediction) -> None:
    with AppendLog(path) as log:
        for p in preds:
            log.append(p.to_json())


def texts(store: RunStore) -> dict[tuple[str, str], tuple[str, str]]:
    return {k: (p.text, p.error) for k, p in store.load_predictions().items()}


def test_shard_of_is_stable_and_spreads_keys() -> None:
    keys = [f"key-{i}" for i in range(400)]
    assert [shard_of(k, 4) for k in keys[:6]] == [shard_of(k, 4) for k in keys[:6]]
    counts = [sum(shard_of(k, 4) == s for k in keys) for s in range(4)]
    assert all(70 <= c <= 130 for c in counts), counts
    assert all(shard_of(k, 1) == 0 for k in keys)
    # blake2b, not the salted hash(): the shard of a key is fixed across processes and machines
    assert shard_of("abc", 1000) == int.from_bytes(hashlib.blake2b(b"abc", digest_size=8).digest()) % 1000
    with pytest.raises(ValueError, match="must be >= 1"):
        shard_of("abc", 0)


@pytest.mark.parametrize(
    ("first", "second", "wins"),
    [
        (pred("s", text="a"), pred("s", error="TimeoutError: slow"), "first"),
        (pred("s", error="TimeoutError: slow"), pred("s", text="b"), "second"),
        (pred("s", text="a"), pred("s", text="b"), "second"),
        (pred("s", error="E: one"), pred("s", error="E: two"), "second"),
        (None, pred("s", error="E: two"), "second"),
    ],
)
def test_prefer_ok_beats_failed_else_the_later(first: Prediction | None, second: Prediction, wins: str) -> None:
    assert prefer(first, second) is (first if wins == "first" else second)


def test_loads_read_predictions_jsonl_then_every_part_with_the_rule(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m", "d")
    write(store.predictions_path, pred("a", text="main a"), pred("b", error="E: main b"), pred("c", text="main c"))
    w1, w2 = store.for_worker("20260101T000000-rank0of2-h-1"), store.for_worker("20260101T000001-rank1of2-h-2")
    write(w1.predictions_path, pred("a", error="E: part a"), pred("b", text="part b"), pred("d", text="part d"))
    write(w2.predictions_path, pred("c", text="newer c"), pred("d", error="E: late d"), pred("e", key="k2", text="e"))

    assert w1.predictions_path.parent == store.dir / "parts" and w1.predictions_path != w2.predictions_path
    assert store.prediction_paths() == [store.dir / "predictions.jsonl", w1.predictions_path, w2.predictions_path]
    want = {
        ("a", "k"): ("main a", ""),  # a later failure never hides an ok answer
        ("b", "k"): ("part b", ""),  # an ok answer replaces a failure
        ("c", "k"): ("newer c", ""),  # two ok answers: the later file's
        ("d", "k"): ("part d", ""),
        ("e", "k2"): ("e", ""),
    }
    for view in (store, w1, w2):  # a worker's view reads the same
        assert texts(view) == want
    only = store.load_predictions(wanted={"a": "k", "e": "k"})
    assert list(only) == [("a", "k")]  # wanted filters the parts too


def test_merge_appends_winning_lines_then_deletes_the_part_and_every_load_agrees(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m", "d")
    write(store.predictions_path, pred("a", text="main a"), pred("b", error="E: main b"))
    part = store.for_worker("w1").predictions_path
    write(part, pred("a", error="E: part a"), pred("b", error="E: retry"), pred("b", text="b2"), pred("c", text="c"))
    with part.open("a") as f:
        f.write('{"sample_id": "z", "mod')  # the torn last line of a killed worker
    before = texts(store)

    (done,) = store.merge_parts()

    # appended: b's last line and c; not: a's failure (main has a) and b's first; the torn line is no record
    assert done == Compaction(part, 2, 2)
    assert not part.exists() and part_paths(store.dir) == []
    assert texts(store) == before == {("a", "k"): ("main a", ""), ("b", "k"): ("b2", ""), ("c", "k"): ("c", "")}
    lines = [json.loads(x) for x in store.predictions_path.read_text().splitlines()]
    assert [(r["sample_id"], r["text"]) for r in lines] == [("a", "main a"), ("b", ""), ("b", "b2"), ("c", "c")]


def test_every_mix_of_outcomes_loads_the_same_before_during_and_after_a_merge(tmp_path: Path) -> None:
    """Main and two parts, each with nothing, an ok or a failed line for one sample: 27 cases."""
    outcomes = [None, "ok", "failed"]
    for n, case in enumerate(itertools.product(outcomes, repeat=3)):
        store = RunStore(tmp_path / str(n), "m", "d")
        paths = [store.predictions_path, *(store.for_worker(f"w{i}").predictions_path for i in (1, 2))]
        for i, (path, outcome) in enumerate(zip(paths, case, strict=True)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            if outcome:
                write(path, pred("s", text=f"ok {i}") if outcome == "ok" else pred("s", error=f"E: {i}"))
        before = texts(store)
        oks = [i for i, o in enumerate(case) if o == "ok"]
        fails = [i for i, o in enumerate(case) if o == "failed"]
        expected = ("", f"E: {fails[-1]}") if not oks and fails else (f"ok {oks[-1]}", "") if oks else None
        assert before.get(("s", "k")) == expected, case
        # a merge killed after appending the first part, before deleting it: lines in both files
        kept = paths[1].read_bytes()
        merge_parts(paths[0], [paths[1]])
        paths[1].write_bytes(kept)
        assert texts(store) == before, case
        store.merge_parts()
        assert texts(store) == before and part_paths(store.dir) == [], case
        compact_log(store.predictions_path)
        assert texts(store) == before, case
        assert len(store.predictions_path.read_text().splitlines()) == (expected is not None), case


def test_duplicates_of_an_interrupted_merge_go_with_the_next_merge_and_compaction(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m", "d")
    part = store.for_worker("w1").predictions_path
    write(part, *(pred(f"s{i}", text=f"t{i}") for i in range(4)))
    store.predictions_path.write_bytes(part.read_bytes())  # appended and fsync'd, killed before the delete
    before = texts(store)

    done = compact_run(store.dir)  # `run.py compact`: merges the part (4 identical lines again), then compacts

    assert not part.exists()
    assert done == [Compaction(store.predictions_path, 4, 4)]
    assert texts(store) == before and len(before) == 4
    assert [r["sample_id"] for r in read_jsonl(store.predictions_path)] == ["s0", "s1", "s2", "s3"]


def test_a_part_its_worker_still_writes_is_left_for_later(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m", "d")
    write(store.for_worker("done").predictions_path, pred("a", text="a"))
    busy = store.for_worker("busy").predictions_path
    with AppendLog(busy) as log:
        log.append(pred("b", text="b").to_json())
        done = {c.path.name: c for c in store.merge_parts()}
        assert done["predictions.busy.jsonl"].skipped.startswith("a worker is writing to it")
        assert done["predictions.done.jsonl"] == Compaction(store.for_worker("done").predictions_path, 1, 0)
        assert busy.exists() and set(texts(store)) == {("a", "k"), ("b", "k")}  # read while unmerged
        with AppendLog(store.predictions_path):  # a one-process run appending to predictions.jsonl
            assert all("being written" in c.skipped for c in store.merge_parts())
    assert [c.skipped for c in store.merge_parts()] == [""]
    assert part_paths(store.dir) == [] and set(texts(store)) == {("a", "k"), ("b", "k")}


def test_rank_from_the_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rank_of({}) == rank_of({"WORLD_SIZE": "1"}) == rank_of({"WORLD_SIZE": ""}) == Rank(0, 1, 0)
    assert rank_of({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Rank(3, 4, 1)
    with pytest.raises(ConfigError, match=r"RANK='x' must be a non-negative integer"):
        rank_of({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match=r"RANK=2 is outside 0 \.\. WORLD_SIZE-1 = 1"):
        rank_of({"RANK": "2", "WORLD_SIZE": "2"})
    a, b = worker_name(Rank(0, 2, 0)), worker_name(Rank(1, 2, 1))
    assert a != b and "rank0of2" in a and "rank1of2" in b
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert is_follower() and cuda_device() == "cuda:1"  # an hf model of local rank 1 goes to the second GPU
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert not is_follower() and cuda_device() == "cuda:0"
    monkeypatch.delenv("WORLD_SIZE")
    assert not is_follower() and cuda_device() == "cuda"
