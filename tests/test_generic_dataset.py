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


def load(cls: str, root: Path, files: list[str]) -> Any:
    klass = DATASETS.get(cls)
    dataset = klass("mine", build_options(klass.Options, {"files": files}, "test"), root)
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
