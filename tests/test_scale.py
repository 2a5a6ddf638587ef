"""Behaviour that must hold at any size: exact line numbers late in a big interleaved file."""

from __future__ import annotations

import json
from pathlib import Path

from support import code_record

from evalkit.datasets.interleaved import InterleavedDataset, InterleavedOptions, iter_json_objects


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
