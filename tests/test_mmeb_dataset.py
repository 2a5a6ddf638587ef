"""The mmeb dataset: registered tasks, missing-data errors, record validation, corpus handling, msg shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from evalkit.config import build_options
from evalkit.datasets.mmeb import TASKS, MMEBDataset, MMEBOptions
from evalkit.errors import ConfigError
from evalkit.models.embedding import split_retrieval_msg

REPO = Path(__file__).resolve().parents[1]
REQUIRED = ("ImageNet-1K", "MSCOCO_i2t", "DocVQA", "MSR-VTT", "MSVD")


def dataset(base: Path, **opts: Any) -> MMEBDataset:
    return MMEBDataset("ds", build_options(MMEBOptions, opts, "test"), base)


def write_lines(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def png(path: Path, color: str = "red") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path.name


def test_required_tasks_are_registered_with_defaults() -> None:
    for task in REQUIRED:
        assert task in TASKS
    assert any(t.startswith("ViDoRe_") for t in TASKS) and any(t.startswith("VisRAG_") for t in TASKS)
    assert TASKS["ImageNet-1K"].query == ("image",) and TASKS["ImageNet-1K"].target == ("text",)
    assert TASKS["MSR-VTT"].target == ("video",) and TASKS["MSR-VTT"].scope == "global"
    assert TASKS["ViDoRe_arxivqa"].target == ("image",) and TASKS["VisRAG_ChartQA"].scope == "global"


@pytest.mark.parametrize("task", [*REQUIRED, "ViDoRe_docvqa", "VisRAG_SlideVQA"])
def test_missing_data_names_the_exact_file_and_root(tmp_path: Path, task: str) -> None:
    ds = dataset(tmp_path, task=task)
    with pytest.raises(ConfigError) as err:
        ds.load()
    msg = str(err.value)
    expected = tmp_path.resolve() / "mmeb" / task / f"{task}.jsonl"
    assert str(expected) in msg and f"data root {expected.parent}" in msg and "Prepare the data" in msg
    if TASKS[task].scope == "global":  # with queries present, the corpus file is named next
        write_lines(expected, [{"id": "q", "query": "x"}])
        with pytest.raises(ConfigError, match=f"corpus file .* missing: {expected.parent / (task + '_corpus.jsonl')}"):
            ds.load()


def test_unknown_task_and_bad_options_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean ImageNet-1K"):
        dataset(tmp_path, task="ImageNet1K")
    with pytest.raises(ConfigError, match="set 'task'"):
        dataset(tmp_path)
    with pytest.raises(ConfigError, match="unknown key 'files'"):
        dataset(tmp_path, task="MSVD", files=["a"])


def test_imagenet_style_records_become_retrieval_msgs(tmp_path: Path) -> None:
    root = tmp_path / "mmeb" / "ImageNet-1K"
    labels = ["tench", "goldfish", "great white shark"]
    write_lines(
        root / "ImageNet-1K.jsonl",
        [
            {
                "id": 1,
                "query": {"image": f"img/{png(root / 'img' / 'a.png')}"},
                "candidates": labels,
                "positives": "tench",
            },
            {"id": 2, "query": {"image": "img/b.png"}, "candidates": labels, "positives": ["goldfish"], "subset": "x"},
        ],
    )
    png(root / "img" / "b.png", "blue")
    res = dataset(tmp_path, task="ImageNet-1K").load()
    assert res.errors == [] and [s.id for s in res.samples] == ["ImageNet-1K:1", "ImageNet-1K:2"]
    s = res.samples[0]
    query, cands = split_retrieval_msg(s.msg)
    assert [p.type for p in query] == ["image", "text"] and query[0].value == str((root / "img" / "a.png").resolve())
    assert query[1].value == "Represent the given image for classification"
    assert [c for c, _ in cands] == labels and cands[2][1][0].value == "great white shark"
    assert (
        s.meta["positives"] == {"tench": 1} and s.meta["task"] == "ImageNet-1K" and s.meta["kind"] == "classification"
    )
    assert [p.value for p in s.references] == ["tench"] and res.samples[1].meta["subset"] == "x"


def test_global_task_ranks_against_the_corpus(tmp_path: Path) -> None:
    task = "ViDoRe_arxivqa"
    root = tmp_path / "mmeb" / task
    corpus = [{"id": f"p{i}", "image": png(root / f"p{i}.png", c)} for i, c in enumerate(["red", "green", "blue"])]
    write_lines(root / f"{task}_corpus.jsonl", corpus)
    write_lines(
        root / f"{task}.jsonl",
        [
            {"id": "q1", "query": {"text": "a chart of rainfall"}, "positives": {"p1": 2, "p2": 1}},
            {"id": "q2", "query": "only two pages", "candidates": ["p2", "p0"], "positives": "p0"},
        ],
    )
    res = dataset(tmp_path, task=task).load()
    assert res.errors == []
    q1, q2 = res.samples
    _, cands = split_retrieval_msg(q1.msg)
    assert [c for c, _ in cands] == ["p0", "p1", "p2"] and q1.meta["positives"] == {"p1": 2, "p2": 1}
    assert [p.type for p in cands[0][1]] == ["image", "text"]
    assert cands[0][1][1].value == "Understand the content of the provided document image."
    query, cands2 = split_retrieval_msg(q2.msg)
    assert [c for c, _ in cands2] == ["p2", "p0"] and query[-1].value == "only two pages"
    assert query[0].value == "Find a document image that matches the given query:"
    # instructions can be switched off per entry
    plain = dataset(tmp_path, task=task, query_instruction="", target_instruction="").load().samples[1]
    q, c = split_retrieval_msg(plain.msg)
    assert [p.value for p in q] == ["only two pages"] and [p.type for p in c[0][1]] == ["image"]


def test_bad_records_are_record_errors(tmp_path: Path) -> None:
    root = tmp_path / "mmeb" / "MSCOCO_i2t"
    img = f"i/{png(root / 'i' / 'ok.png')}"
    good = {"id": "g", "query": {"image": img}, "candidates": ["a dog", "a cat"], "positives": "a dog"}
    records: list[Any] = [
        good,
        "{not json",
        {"query": {"image": img}, "candidates": ["x"], "positives": "x"},
        {"id": "nq", "candidates": ["x"], "positives": "x"},
        {"id": "np", "query": {"image": img}, "candidates": ["a", "b"], "positives": "c"},
        {"id": "dc", "query": {"image": img}, "candidates": ["a", "a"], "positives": "a"},
        {"id": "mm", "query": {"image": "i/missing.png"}, "candidates": ["a"], "positives": "a"},
        {"id": "esc", "query": {"image": "../../../etc/passwd"}, "candidates": ["a"], "positives": "a"},
        {"id": "noimg", "query": {"text": "a caption please"}, "candidates": ["a"], "positives": "a"},
        {"id": "grade", "query": {"image": img}, "candidates": ["a"], "positives": {"a": 0}},
        {"id": "key", "query": {"image": img, "audio_path": "x.wav"}, "candidates": ["a"], "positives": "a"},
        {"id": "nocand", "query": {"image": img}, "positives": "a"},
        {"id": "badcand", "query": {"image": img}, "candidates": [{"text": "no id"}], "positives": "a"},
        good,
    ]
    write_lines(root / "MSCOCO_i2t.jsonl", records)
    res = dataset(tmp_path, task="MSCOCO_i2t").load()
    assert [s.id for s in res.samples] == ["MSCOCO_i2t:g"]
    got = {(e.line, e.field): e.reason for e in res.errors}
    expected_fields = {
        2: "",
        3: "id",
        4: "query",
        5: "positives",
        6: "candidates[1]",
        7: "query.image",
        8: "query.image",
        9: "query.image",
        10: "positives",
        11: "query.audio_path",
        12: "candidates",
        13: "candidates[0]",
        14: "id",
    }
    assert {line: fld for line, fld in got} == expected_fields
    assert "invalid JSON" in got[(2, "")] and "not among the candidates" in got[(5, "positives")]
    assert "media file not found" in got[(7, "query.image")] and "escapes the data root" in got[(8, "query.image")]
    assert "needs a image" in got[(9, "query.image")] and "duplicate id" in got[(14, "id")]
    assert all(e.file == str(root / "MSCOCO_i2t.jsonl") for e in res.errors)
    assert {e.sample_id for e in res.errors if e.line == 5} == {"MSCOCO_i2t:np"}


def test_broken_corpus_entries_fail_the_queries_that_need_them(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_lines(
        root / "corpus.jsonl",
        [{"id": "a", "text": "alpha"}, {"id": "b", "image": "gone.png"}, {"id": "c", "text": "gamma"}],
    )
    write_lines(
        root / "q.jsonl",
        [
            {"id": "all", "query": "x", "positives": "a"},
            {"id": "ok", "query": "x", "candidates": ["a", "c"], "positives": "a"},
            {"id": "uses-b", "query": "x", "candidates": ["a", "b"], "positives": "a"},
            {"id": "unknown", "query": "x", "candidates": ["a", "zz"], "positives": "a"},
        ],
    )
    res = dataset(tmp_path, root="c", file="q.jsonl", corpus="corpus.jsonl").load()
    assert [s.id for s in res.samples] == ["q:ok"]
    reasons = {e.sample_id: e.reason for e in res.errors}
    assert "1 unusable entries" in reasons["q:all"] and "corpus.jsonl:2" in reasons["q:all"]
    assert "candidate 'b' is unusable: corpus.jsonl:2" in reasons["q:uses-b"] and "gone.png" in reasons["q:uses-b"]
    assert "'zz' is not in the corpus file" in reasons["q:unknown"]


def test_the_bundled_sample_loads() -> None:
    data = REPO / "data"
    text = dataset(data, root="retrieval_sample", file="text_queries.jsonl", corpus="text_corpus.jsonl").load()
    cls = dataset(data, root="retrieval_sample", file="classification.jsonl").load()
    assert text.errors == [] and cls.errors == [] and len(text.samples) == 12 and len(cls.samples) == 10
    assert all(len(split_retrieval_msg(s.msg)[1]) == 30 for s in text.samples)
    assert all(len(split_retrieval_msg(s.msg)[1]) == 6 for s in cls.samples)
    assert text.samples[-1].meta["positives"] == {"d14": 2, "d26": 1}
