"""evalkit.evaluate / aevaluate: the Python API, called from inside a running event loop as Jupyter does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest
from support import Dev

import evalkit
from evalkit.errors import ConfigError


def setup(tmp_path: Path, base_url: str) -> Path:
    recs = [
        {"id": 1, "question": "Echo: which?", "options": ["Echo", "Other"], "answer": "A"},
        {"id": 2, "question": "Pick one", "options": ["x", "y"], "answer": "B"},
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""dataset_root: data
work_dir: results
datasets:
  mine: {{class: mcq, files: [q.jsonl], prompt: "{{question}}"}}
models:
  echo: {{backend: openai, base_url: "{base_url}", model: echo, max_retries: 0}}
""",
        encoding="utf-8",
    )
    return cfg


def test_evaluate_inside_a_running_loop_and_aevaluate(tmp_path: Path, dev: Dev) -> None:
    cfg = setup(tmp_path, dev.base_url)

    async def notebook() -> tuple[evalkit.Evaluation, evalkit.Evaluation]:
        asyncio.get_running_loop()  # as in a Jupyter cell: a loop is running here
        first = evalkit.evaluate(model="echo", dataset="mine", config=cfg)
        again = await evalkit.aevaluate("echo", "mine", config=cfg)
        return first, again

    first, again = asyncio.run(notebook())
    assert isinstance(first.report, pd.DataFrame) and first.judge == "choice"
    row = first.report[(first.report["subset"] == "all") & (first.report["metric"] == "accuracy")].iloc[0]
    # the echo of record 1 names option A's text only (right); record 2's names no option (unextracted)
    assert (row["value"], row["n"], row["n_failed"]) == (0.5, 2, 0)
    samples = first.samples.set_index("sample_id")
    assert list(samples.index) == ["q:1", "q:2"]
    assert samples.loc["q:1", "scores.accuracy"] == 1.0 and samples.loc["q:2", "scores.accuracy"] == 0.0
    assert samples.loc["q:2", "prediction"] == "Echo: Pick one"
    assert first.run_dir == tmp_path / "results" / "echo" / "mine"
    # the second call reused everything: no new model call, same numbers
    assert dev.requests("echo") == 2
    assert (again.result.infer.reused, again.result.infer.ran) == (2, 0)
    assert again.report.equals(first.report)


def test_infer_only_gives_predictions_and_errors_are_one_line(tmp_path: Path, dev: Dev) -> None:
    cfg = setup(tmp_path, dev.base_url)
    res = evalkit.evaluate("echo", "mine", config=cfg, mode="infer", limit=1, work_dir=tmp_path / "other")
    assert res.report.empty and res.judge == ""
    assert list(res.samples["sample_id"]) == ["q:1"] and list(res.samples["prediction"]) == ["Echo: Echo: which?"]
    with pytest.raises(ConfigError, match="unknown model 'ecco'; did you mean echo"):
        evalkit.evaluate("ecco", "mine", config=cfg)
