"""The README's add-a-model and add-a-dataset examples work exactly as written."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from support import REPO

from evalkit import DATASETS, MODELS
from evalkit.cli import main


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
