"""The generic ``mcq`` / ``qa`` datasets on the bundled sample, end to end through a loopback OpenAI-compatible
server with scripted answers; bad records as file:line:field errors; options on interleaved records."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support import REPO, SAMPLE, LoopbackApp, write_records

from evalkit.cli import main
from evalkit.config import build_options
from evalkit.datasets import DATASETS
from evalkit.datasets.base import FilesDataset

GENERIC = REPO / "data" / "generic_sample"
#: question fragment -> the scripted reply (right, wrong, unreadable ...)
REPLIES = {
    "drawn above": "The answer is (A).",  # right
    "most rainfall": "B",  # wrong: March is C
    "number is spoken": "C",  # right
    "direction does the red square": "I cannot tell from this clip.",  # no option read
    "library closed": "Final answer: C",  # right
    "8611 m": "K2.",  # right after normalisation
    "word is spoken": "River",  # right, case folded
    "2 + 3": "6",  # wrong
    "on the left": "A",  # right
    "Which colour": "The answer is (B) blue.",  # interleaved record with options: right
}


class Scripted(LoopbackApp):
    """A real HTTP server on loopback speaking OpenAI's chat API, answering from :data:`REPLIES`.

    It records the content part types of each request, so tests can see which media reached the model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        parts = body["messages"][-1]["content"]
        parts = [{"type": "text", "text": parts}] if isinstance(parts, str) else parts
        text = "\n".join(p.get("text", "") for p in parts if p["type"] == "text")
        self.requests.append({"text": text, "types": [p["type"] for p in parts]})
        reply = next((r for k, r in REPLIES.items() if k in text), "no idea")
        message = {"role": "assistant", "content": reply}
        return web.json_response({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)

    def request(self, fragment: str) -> dict[str, Any]:
        return next(r for r in self.requests if fragment in r["text"])


@pytest.fixture
def server() -> Iterator[Scripted]:
    with Scripted() as s:
        yield s


def config(tmp_path: Path, port: int, datasets: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""dataset_root: {REPO / "data"}
work_dir: {tmp_path / "results"}
datasets:
{datasets}
models:
  scripted: {{backend: openai, base_url: "http://127.0.0.1:{port}/v1", model: scripted,
              modalities: [image, audio, video], max_retries: 0, concurrency: 2}}
""",
        encoding="utf-8",
    )
    return path


def overall(tmp_path: Path, dataset: str) -> dict[str, dict[str, str]]:
    with (tmp_path / "results" / "scripted" / dataset / "report.csv").open(encoding="utf-8") as f:
        return {r["metric"]: r for r in csv.DictReader(f) if r["subset"] == "all"}


def run(cfg: Path, dataset: str, *extra: str) -> int:
    return main(["--config", str(cfg), "--model", "scripted", "--dataset", dataset, "--no-progress", *extra])


def test_bundled_mcq_and_qa_end_to_end(tmp_path: Path, server: Scripted) -> None:
    shipped = (REPO / "config.yaml").read_text(encoding="utf-8")
    entries = [line for line in shipped.splitlines() if line.startswith(("  generic-mcq:", "  generic-qa:"))]
    assert len(entries) == 2  # the shipped entries, as they are
    cfg = config(tmp_path, server.port, "\n".join(entries))
    assert run(cfg, "generic-mcq") == 0
    rows = overall(tmp_path, "generic-mcq")
    # 3 of 5 right (rainfall answered B, direction unreadable), 1 of 5 unextracted
    assert (rows["accuracy"]["value"], rows["accuracy"]["n"], rows["accuracy"]["n_failed"]) == ("0.6", "5", "0")
    assert rows["unextracted"]["value"] == "0.2"
    assert rows["accuracy"]["judge"] == "choice"
    # each media kind reached the model as itself: image, audio, video; the PNG document as an image
    assert "image_url" in server.request("drawn above")["types"]
    assert "input_audio" in server.request("number is spoken")["types"]
    assert "video_url" in server.request("direction does")["types"]
    assert "image_url" in server.request("library closed")["types"]
    assert "(C) March" in server.request("most rainfall")["text"]

    assert run(cfg, "generic-qa") == 0
    rows = overall(tmp_path, "generic-qa")
    assert (rows["accuracy"]["value"], rows["accuracy"]["n"], rows["accuracy"]["judge"]) == ("0.75", "4", "exact-match")
    assert "Kangchenjunga: 8586 m" in server.request("8611 m")["text"]  # the .txt document, inlined as text
    assert "input_audio" in server.request("word is spoken")["types"]
    assert "(B) a blue square" in server.request("on the left")["text"]  # CSV option columns A, B
    # the same rows judged by choice: the CSV record with options counts, the open ones fail with a reason
    assert run(cfg, "generic-qa", "--judge", "choice", "--mode", "eval") == 0
    rows = overall(tmp_path, "generic-qa")
    assert (rows["accuracy"]["n"], rows["accuracy"]["n_failed"]) == ("4", "3")


def load(cls: str, root: Path, files: list[str], **options: Any) -> Any:
    klass = DATASETS.get(cls)
    dataset = klass("mine", build_options(klass.Options, {"files": files, **options}, "test"), root)
    assert isinstance(dataset, FilesDataset)
    return dataset.load()


def test_bad_records_name_file_line_and_field(tmp_path: Path) -> None:
    shutil.copytree(GENERIC / "media", tmp_path / "media")
    good = {"id": "ok", "question": "Q?", "options": ["x", "y"], "answer": "B", "image": "media/shapes_side.png"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "q", "options": ["x", "y"], "answer": "A"}),
        json.dumps({"id": "a", "question": "Q?", "options": ["x", "y"], "answer": "z"}),
        json.dumps({"id": "m", "question": "Q?", "options": ["x", "y"], "answer": "A", "audio": "media/none.wav"}),
        json.dumps({"id": "e", "question": "Q?", "options": ["x", "y"], "answer": "A", "image": "../secret.png"}),
        json.dumps({"id": "o", "question": "Q?", "answer": "A"}),
        json.dumps({"id": "ok", "question": "Q?", "options": ["x", "y"], "answer": "x"}),
    ]
    (tmp_path / "mcq.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load("mcq", tmp_path, ["mcq.jsonl"])
    assert [s.id for s in result.samples] == ["mcq:ok"]
    assert result.samples[0].meta["answer_letter"] == "B"
    path = tmp_path / "mcq.jsonl"
    got = [str(e) for e in result.errors]
    assert got[0].startswith(f"{path}:2: invalid JSON")
    assert got[1] == f"{path}:3: 'question' must be a non-empty string (field 'question')"
    assert got[2] == f"{path}:4: answer 'z' is neither an option letter nor an option's text (field 'answer')"
    assert got[3].startswith(f"{path}:5: audio file not found:") and got[3].endswith("(field 'audio')")
    assert got[4].startswith(f"{path}:6: path '../secret.png' escapes the data root")
    assert got[5].endswith("(field 'options')") and got[5].startswith(f"{path}:7: this dataset needs 'options'")
    assert got[6] == f"{path}:8: duplicate id 'ok' in this file (field 'id')"

    rows = ["id,question,A,B,C,answer", "1,Q?,x,,z,A", "2,Q?,x,y,,y", "3,Q?,x,y,,A,extra", '4,"Q\nover lines",x,y,,Q']
    (tmp_path / "qa.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = load("qa", tmp_path, ["qa.csv"])
    csv_path = tmp_path / "qa.csv"
    assert [(s.id, s.meta["answer_letter"]) for s in result.samples] == [("qa:2", "B")]
    assert [str(e) for e in result.errors] == [
        f"{csv_path}:2: option column B is empty but a later one is not (field 'B')",
        f"{csv_path}:4: more cells than the header's 6 columns",
        f"{csv_path}:5: answer 'Q' is neither an option letter nor an option's text (field 'answer')",
    ]


def test_bad_records_count_as_failed_in_the_report(tmp_path: Path, server: Scripted) -> None:
    shutil.copytree(GENERIC / "media", tmp_path / "data" / "media")
    recs = [
        {"id": 1, "question": "Which number is spoken?", "options": ["five", "seven"], "answer": "B"},
        {"id": 2, "question": "Which word is spoken?", "answer": "river", "audio": "media/river.wav"},
        {"id": 3, "question": "Which word is spoken?", "answer": "river", "audio": "media/missing.wav"},
    ]
    (tmp_path / "data" / "mine.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    entry = f"  mine: {{class: qa, root: {tmp_path / 'data'}, files: [mine.jsonl]}}"
    assert run(config(tmp_path, server.port, entry), "mine") == 0
    row = overall(tmp_path, "mine")["accuracy"]
    # record 1 answered "C", which is not the letter B; record 2 right; record 3 unreadable: failed, not dropped
    assert (row["n"], row["n_failed"]) == ("3", "1")
    with (tmp_path / "results" / "scripted" / "mine" / "failures.csv").open(encoding="utf-8") as f:
        (failure,) = list(csv.DictReader(f))
    assert "mine.jsonl:3" in json.dumps(failure) and "audio file not found" in json.dumps(failure)


def test_interleaved_records_with_options_are_scored_by_choice(tmp_path: Path, server: Scripted) -> None:
    src = SAMPLE / "natural_science" / "education" / "image" / "img_0602_01.png"
    folder = tmp_path / "data" / "natural_science" / "education" / "image"
    folder.mkdir(parents=True)
    shutil.copy(src, folder / "img.png")
    base = {"domain": "natural_science", "subdomain": "education", "difficulty": "easy"}
    records = [
        {
            **base,
            "id": "1",
            "input": {"modal": {"image1": "image/img.png"}, "content": "Which colour is the square in <image1>?"},
            "options": ["red", "blue", "green"],
            "answer": "blue",
        },
        {**base, "id": "2", "input": {"content": "Which colour is the sky?"}, "options": {"A": "grey"}, "answer": "A"},
        {**base, "id": "3", "input": {"content": "Which colour is grass?"}, "answer": "green"},
    ]
    write_records(tmp_path / "data" / "colours.jsonl", records)
    entry = f"  colours: {{class: interleaved, root: {tmp_path / 'data'}, files: [colours.jsonl], judge: choice}}"
    assert run(config(tmp_path, server.port, entry), "colours") == 0
    row = overall(tmp_path, "colours")["accuracy"]
    assert (row["n"], row["n_failed"], row["judge"]) == ("3", "2", "choice")
    assert "(B) blue" in server.request("Which colour is the square")["text"]
    with (tmp_path / "results" / "scripted" / "colours" / "failures.csv").open(encoding="utf-8") as f:
        reasons = " ".join(r["reason"] for r in csv.DictReader(f))
    assert "at least two options" in reasons and "'answer' needs 'options'" in reasons


def described(sample: Any, root: Path) -> tuple[Any, ...]:
    """A sample as plain values (paths under ``root`` as ``<ROOT>``), meta items in their order."""

    def rel(v: Any) -> Any:
        return v.replace(str(root), "<ROOT>") if isinstance(v, str) else v

    return (
        sample.id,
        [(p.type, rel(p.value), p.tag) for p in sample.msg],
        [(p.type, p.value, p.tag) for p in sample.references],
        [(k, rel(v)) for k, v in sample.meta.items()],
    )


QA_OPEN = "\nAnswer with a word or a short phrase only."
MCQ_TAIL = "\nAnswer with the option's letter from the given choices directly."


def test_loaded_samples_are_byte_for_byte_what_they_were(tmp_path: Path) -> None:
    # prediction keys hash ids and prompts, and reports, breakdowns and exports read the meta (keys in order):
    # the fast paths of the loader must give exactly what the general one gave (figures from before issue 15)
    root = tmp_path.resolve()
    shutil.copytree(GENERIC / "media", root / "media")
    lines = [
        json.dumps({"id": "p1", "question": " What is 1 plus zero? ", "answer": " 1 "}),
        json.dumps({"id": 7, "question": "Int id?", "answer": 42}),
        json.dumps({"id": "  ", "question": "Blank id?", "answer": ["a", " b "]}),
        json.dumps(
            {"question": "No id?", "answer": 3.5, "domain": "d", "difficulty": 2, "category": "c", "subset": "own"}
        ),
        json.dumps(
            {
                "id": "o1",
                "question": "Pick",
                "options": ["A. one", "B. two"],
                "answer": "two",
                "audio": "media/river.wav",
            }
        ),
        '{"id": "n", "question": "NaN?", "answer": NaN}',  # json.loads reads NaN (msgspec does not)
    ]
    (root / "mine.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "mine.csv").write_text(
        "id,question,A,B,answer,subset\nc1,Which?,x,y,B,\nc2,Open?,,,ans,s2\n", encoding="utf-8"
    )
    (root / "mine.tsv").write_text("id\tquestion\tanswer\tdomain\nt1\tTab?\t42\tdom\n", encoding="utf-8")
    result = load("qa", root, ["mine.jsonl", "mine.csv", "mine.tsv"])
    assert result.errors == []
    jsonl, csv_file, tsv_file = (f"<ROOT>/mine.{ext}" for ext in ("jsonl", "csv", "tsv"))
    assert [described(s, root) for s in result.samples] == [
        (
            "mine:p1",
            [("text", "What is 1 plus zero?" + QA_OPEN, "")],
            [("text", "1", "")],
            [
                ("question", " What is 1 plus zero? "),
                ("subset", "mine"),
                ("file", jsonl),
                ("line", 1),
                ("record_id", "p1"),
                ("answer", "1"),
            ],
        ),
        (
            "mine:7",
            [("text", "Int id?" + QA_OPEN, "")],
            [("text", "42", "")],
            [
                ("question", "Int id?"),
                ("subset", "mine"),
                ("file", jsonl),
                ("line", 2),
                ("record_id", "7"),
                ("answer", "42"),
            ],
        ),
        (
            "mine:3",
            [("text", "Blank id?" + QA_OPEN, "")],
            [("text", "a", ""), ("text", "b", "")],
            [
                ("question", "Blank id?"),
                ("subset", "mine"),
                ("file", jsonl),
                ("line", 3),
                ("record_id", "3"),
                ("answer", ["a", "b"]),
            ],
        ),
        (
            "mine:4",
            [("text", "No id?" + QA_OPEN, "")],
            [("text", "3.5", "")],
            [
                ("question", "No id?"),
                ("subset", "own"),
                ("domain", "d"),
                ("difficulty", "2"),
                ("subdomain", "c"),
                ("file", jsonl),
                ("line", 4),
                ("record_id", "4"),
                ("answer", "3.5"),
            ],
        ),
        (
            "mine:o1",
            [
                ("audio", "<ROOT>/media/river.wav", ""),
                ("text", "Question: Pick\nOptions:\n(A) one\n(B) two" + MCQ_TAIL, ""),
            ],
            [("text", "B", "")],
            [
                ("question", "Pick"),
                ("subset", "mine"),
                ("file", jsonl),
                ("line", 5),
                ("record_id", "o1"),
                ("options", {"A": "one", "B": "two"}),
                ("answer_letter", "B"),
                ("answer", "two"),
            ],
        ),
        (
            "mine:n",
            [("text", "NaN?" + QA_OPEN, "")],
            [("text", "nan", "")],
            [
                ("question", "NaN?"),
                ("subset", "mine"),
                ("file", jsonl),
                ("line", 6),
                ("record_id", "n"),
                ("answer", "nan"),
            ],
        ),
        (
            "mine:c1",
            [("text", "Question: Which?\nOptions:\n(A) x\n(B) y" + MCQ_TAIL, "")],
            [("text", "B", "")],
            [
                ("question", "Which?"),
                ("subset", "mine"),
                ("file", csv_file),
                ("line", 2),
                ("record_id", "c1"),
                ("options", {"A": "x", "B": "y"}),
                ("answer_letter", "B"),
                ("answer", "y"),
            ],
        ),
        (
            "mine:c2",
            [("text", "Open?" + QA_OPEN, "")],
            [("text", "ans", "")],
            [
                ("question", "Open?"),
                ("subset", "s2"),
                ("file", csv_file),
                ("line", 3),
                ("record_id", "c2"),
                ("answer", "ans"),
            ],
        ),
        (
            "mine:t1",
            [("text", "Tab?" + QA_OPEN, "")],
            [("text", "42", "")],
            [
                ("question", "Tab?"),
                ("subset", "mine"),
                ("domain", "dom"),
                ("file", tsv_file),
                ("line", 2),
                ("record_id", "t1"),
                ("answer", "42"),
            ],
        ),
    ]
    # the mcq class reads the same records: the ones with options load as they do under qa
    mcq = load("mcq", root, ["mine.jsonl", "mine.csv"])
    assert [described(s, root) for s in mcq.samples] == [
        described(s, root) for s in result.samples if s.id in ("mine:o1", "mine:c1")
    ]
    assert [(e.line, e.field) for e in mcq.errors] == [
        (1, "options"),
        (2, "options"),
        (3, "options"),
        (4, "options"),
        (6, "options"),
        (3, "options"),
    ]


def test_samples_of_one_file_share_its_strings(tmp_path: Path) -> None:
    # one subset (file stem) string per records file, not one per sample; the file string too (pathlib caches it)
    recs = [{"id": f"q{i}", "question": f"What is {i}?", "answer": "yes" if i % 2 else "no"} for i in range(4)]
    (tmp_path / "first.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    (tmp_path / "second.csv").write_text("id,question,answer\n1,Q?,x\n2,R?,y\n", encoding="utf-8")
    samples = load("qa", tmp_path, ["first.jsonl", "second.csv"]).samples
    a, b = samples[:4], samples[4:]
    assert all(s.meta["file"] is a[0].meta["file"] and s.meta["subset"] is a[0].meta["subset"] for s in a)
    assert all(s.meta["file"] is b[0].meta["file"] and s.meta["subset"] is b[0].meta["subset"] for s in b)
    assert (a[0].meta["file"], a[0].meta["subset"]) == (str(tmp_path / "first.jsonl"), "first")
    assert (b[0].meta["file"], b[0].meta["subset"]) == (str(tmp_path / "second.csv"), "second")
    # samples with the same open answer share its references (immutable) and stay equal to fresh ones
    assert a[0].references is a[2].references and a[1].references is a[3].references
    assert [s.references[0].value for s in a] == ["no", "yes", "no", "yes"] == [s.meta["answer"] for s in a]
    # a record's meta is a key-sharing dict (the keys stored once): a dict of its own all the same
    assert all(type(s.meta) is dict for s in samples)
    a[0].meta["note"] = "mine"
    del a[0].meta["question"]
    assert list(a[0].meta) == ["subset", "file", "line", "record_id", "answer", "note"]
    assert list(a[1].meta) == ["question", "subset", "file", "line", "record_id", "answer"]
    assert json.loads(json.dumps(a[1].meta)) == a[1].meta
    b[0].meta["note"] = "mine"  # the general path's (CSV rows) too
    assert list(b[0].meta) == ["question", "subset", "file", "line", "record_id", "answer", "note"]
    assert list(b[1].meta) == ["question", "subset", "file", "line", "record_id", "answer"]


def test_malformed_json_lines_keep_their_errors(tmp_path: Path) -> None:
    # msgspec reads the lines; a line it refuses is read by json.loads, which words the error as before
    lines = [
        "{not json",
        '{"id": "a", "question": "Q?", "answer": "x",}',
        '{"id": "b", "question": "Q?", "answer": "x"} extra',
        '{"id": "c", "question": "Q?", "ans',  # an unterminated string: the newline is the bad character
        '{"id": "d", "question": "Q?", "answer": Infinity}',  # json.loads reads it: a sample, as before
        "[1, 2]",
        "",
        "   ",
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load("qa", tmp_path, ["bad.jsonl"])
    assert [str(e) for e in result.errors] == [
        f"{path}:1: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:2: invalid JSON: Expecting property name enclosed in double quotes (column 45)",
        f"{path}:3: invalid JSON: Extra data (column 46)",
        f"{path}:4: invalid JSON: Invalid control character at (column 35)",
        f"{path}:6: a record must be a JSON object, got list",
    ]
    assert [(s.id, s.meta["answer"], s.meta["line"]) for s in result.samples] == [("bad:d", "inf", 5)]


def test_open_prompt_templates_render_as_str_format(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": 1, "question": " Why {x}? ", "answer": "y"}) + "\n")
    for template in ("{options}Q: {question} {{literal}}", "{question!r} / {question:>12}", "<{question}>{options}"):
        (sample,) = load("qa", tmp_path, ["a.jsonl"], open_prompt=template).samples
        assert sample.msg[-1].value == template.format(question="Why {x}?", options="")
