"""Behaviour that must hold at any size: exact line numbers late in a big file, a run reading only what it needs."""

from __future__ import annotations

import json
from pathlib import Path

from support import code_record

from evalkit.datasets.interleaved import InterleavedDataset, InterleavedOptions, iter_json_objects
from evalkit.store import AppendLog, RunStore, read_jsonl
from evalkit.types import Prediction


def test_late_records_in_a_big_file_keep_their_exact_lines(tmp_path: Path) -> None:
    n, broken, missing = 3000, 2501, 2877
    chunks: list[str] = []
    starts: dict[int, int] = {}
    line = 1
    for i in range(n):
        rec = code_record(i)
        if i == missing:
            del rec["input"]
        text = json.dumps(rec, indent=4 if i % 3 else None)
        if i == broken:  # a record cut short: its value does not parse; the next record still loads
            text = text[: len(text) // 2]
        starts[i] = line
        chunks.append(text)
        line += text.count("\n") + 1 + (i % 5 == 0)  # blank lines between some records
        chunks.append("\n" * (1 + (i % 5 == 0)))
    path = tmp_path / "big.jsonl"
    path.write_text("".join(chunks), encoding="utf-8")

    loaded = InterleavedDataset("t", InterleavedOptions(), tmp_path).load()
    assert len(loaded.samples) == n - 2
    assert {s.meta["record_id"]: s.meta["line"] for s in loaded.samples} == {
        str(i): starts[i] for i in range(n) if i not in (broken, missing)
    }
    errors = {e.line: e for e in loaded.errors}
    assert set(errors) == {starts[broken], starts[missing]}
    assert errors[starts[missing]].field == "input" and errors[starts[missing]].sample_id == f"big:{missing}"
    assert "invalid JSON" in errors[starts[broken]].reason


def test_an_error_late_in_a_record_names_its_own_line() -> None:
    text = "\n".join(json.dumps({"i": i}) for i in range(1000)) + '\n{\n  "a": 1,\n  "b": ]\n}\n{"z": 0}\n'
    got = list(iter_json_objects(text))
    assert got[999] == (1000, {"i": 999}, "")
    assert got[1000][0] == 1001 and got[1000][1] is None
    assert got[1000][2].startswith("invalid JSON at line 1003:")
    assert got[1001] == (1005, {"z": 0}, "")


def test_a_run_reads_only_the_records_it_asks_for_and_keeps_no_request(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m", "d")
    prompt = {"messages": [{"role": "user", "content": "q"}]}
    with AppendLog(store.predictions_path) as log:
        for key in ("old", "new"):
            for i in range(3):
                log.append(Prediction(f"s{i}", "m", key, text=f"{key} {i}", prompt=prompt).to_json())
    got = store.load_predictions(wanted={"s1": "new", "s2": "old", "s9": "new"}, prompts=False)
    assert {k: (p.text, p.prompt) for k, p in got.items()} == {
        ("s1", "new"): ("new 1", None),
        ("s2", "old"): ("old 2", None),
    }
    assert all(r["prompt"] == prompt for r in read_jsonl(store.predictions_path))  # the store keeps the request
    assert store.load_predictions()[("s0", "old")].prompt == prompt
