"""The README's add-a-model and add-a-dataset examples work exactly as written."""

from __future__ import annotations

import base64
import csv
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from support import REPO, LoopbackApp

from evalkit import DATASETS, MODELS
from evalkit.cli import main
from evalkit.config import load_config
from evalkit.factory import build_dataset


def block(name: str) -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(rf"<!-- example: {name} -->\s*```\w+\n(.*?)```", text, re.S)
    assert m, f"README example {name} not found"
    return m.group(1)


@pytest.fixture
def clean_registries():
    yield
    MODELS.remove("shout")
    DATASETS.remove("my-qa")


def test_readme_examples_run(tmp_path: Path, clean_registries) -> None:
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(block("add-a-model") + "\n\n" + block("add-a-dataset"))
    (tmp_path / "data").mkdir()
    qa = [{"id": 1, "question": "paris", "answer": "PARIS"}, {"id": 2, "question": "2+2", "answer": "4"}]
    (tmp_path / "data" / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in qa) + "\n{broken\n")
    (tmp_path / "config.yaml").write_text("dataset_root: data\n" + block("add-a-dataset-config"))
    args = [
        "--config",
        str(tmp_path / "config.yaml"),
        "--plugin",
        str(plugin),
        "--model",
        "shout",
        "--dataset",
        "my-qa",
        "--no-progress",
    ]
    assert main(args) == 0
    with (tmp_path / "eval_results" / "shout" / "my-qa" / "report.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["subset"] == "all")
    # PARIS matches, "2+2" does not, the broken line counts as failed: 1 right of 3
    assert (row["metric"], row["value"], row["n"], row["n_failed"], row["judge"]) == (
        "accuracy",
        "0.5",
        "3",
        "1",
        "exact-match",
    )


class InHouse(LoopbackApp):
    """A real HTTP server on loopback with the in-house API of the README's my-api example: it answers "A" to a
    request with images and "B" to one without, and keeps each request's headers and body."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def generate(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append((dict(request.headers), body))
        return web.json_response({"text": "A" if body["images"] else "B"})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/generate", self.generate)


@pytest.fixture
def in_house() -> Iterator[InHouse]:
    with InHouse() as server:
        yield server
    MODELS.remove("my-api")
    sys.modules.pop("evalkit_plugin_my_api", None)


def test_readme_http_model_example_runs(
    tmp_path: Path, in_house: InHouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_api.py").write_text(block("add-a-model-http"))
    image = REPO / "data" / "generic_sample" / "media" / "shapes_above.png"
    recs = [
        {
            "id": 1,
            "question": "Which shape is on top?",
            "options": ["circle", "square"],
            "answer": "A",
            "image": str(image),
        },
        {"id": 2, "question": "Pick one", "options": ["x", "y"], "answer": "A"},
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    entry = block("add-a-model-http-config").replace("http://gpu-box:9000", in_house.url)
    cfg = tmp_path / "config.yaml"
    generic = REPO / "data" / "generic_sample"
    cfg.write_text(
        "dataset_root: data\ndatasets:\n  mine: {class: mcq, files: [q.jsonl]}\n"
        f"  generic-mcq: {{class: mcq, root: {generic}, files: [mcq.jsonl]}}\n" + entry
    )
    monkeypatch.setenv("MY_API_KEY", "secret-value-123")
    assert main(["--config", str(cfg), "--model", "my-vlm", "--dataset", "mine", "--no-progress"]) == 0
    with (tmp_path / "eval_results" / "my-vlm" / "mine" / "report.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["subset"] == "all" and r["metric"] == "accuracy")
    # the record with a picture is answered A (right), the text-only one B (wrong)
    assert (row["value"], row["n"], row["n_failed"]) == ("0.5", "2", "0")
    (headers, body), _ = sorted(in_house.seen, key=lambda s: -len(s[1]["images"]))
    assert headers["Authorization"] == "Bearer secret-value-123" and body["max_tokens"] == 64
    assert body["images"][0] == base64.b64encode(image.read_bytes()).decode()
    manifest = (tmp_path / "eval_results" / "my-vlm" / "mine" / "manifest.json").read_text()
    assert "secret-value-123" not in manifest and "MY_API_KEY" in manifest
    # media the example says it cannot read stop the run before the first call, in one line
    calls = len(in_house.seen)
    assert main(["--config", str(cfg), "--model", "my-vlm", "--dataset", "generic-mcq", "--no-progress"]) == 2
    assert "model my-vlm cannot read audio (1 sample)" in capsys.readouterr().err
    assert len(in_house.seen) == calls


def test_readme_layered_config_example_loads(tmp_path: Path) -> None:
    text = block("my-config").replace("../evalkit/config.yaml", str(REPO / "config.yaml"))
    (tmp_path / "my.yaml").write_text(text)
    (tmp_path / "my_data").mkdir()
    (tmp_path / "my_data" / "questions.csv").write_text("id,question,A,B,answer\n1,Q?,x,y,B\n")
    cfg = load_config(tmp_path / "my.yaml")
    assert {"my-vlm", "smollm2-cpu"} <= set(cfg.models) and {"my-mcq", "interleaved"} <= set(cfg.datasets)
    assert [s.meta["answer_letter"] for s in build_dataset(cfg, "my-mcq").load().samples] == ["B"]
    assert build_dataset(cfg, "interleaved").data_root == REPO / "data" / "interleaved_sample"
