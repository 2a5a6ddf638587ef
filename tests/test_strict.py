"""Numbers that cannot flatter a model: strict values, coverage flags, unread media, replay and partial runs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from support import LoopbackApp

from evalkit.cli import main
from evalkit.judges import JUDGES
from evalkit.judges.base import JudgeContext
from evalkit.report import Outcome, failure_rows, report_rows
from evalkit.scoring import MetricSpec
from evalkit.types import Part, Sample

PLUGIN = """
import json
from dataclasses import dataclass

from evalkit import DATASETS, Dataset, LoadResult, Part, RecordError, Sample


@dataclass(frozen=True)
class QuizOptions:
    file: str = "quiz.jsonl"


@DATASETS.register("quiz")
class Quiz(Dataset):
    Options = QuizOptions
    default_judge = "exact-match"

    def load(self):
        out = LoadResult()
        path = self.root / self.options.file
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            rec = json.loads(line)
            msg = (Part("text", rec["question"]),)
            if rec.get("image"):
                msg += (Part("image", str(self.root / rec["image"])),)
            out.samples.append(Sample(rec["id"], msg, (Part("text", rec["answer"]),)))
        return out
"""


class QuizServer(LoopbackApp):
    """An OpenAI-compatible server on loopback: knows the answers to q0..q5; model ``flaky`` answers HTTP 503 for
    q0 and q6..q14 (retries are off, so those samples fail)."""

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        content = body["messages"][-1]["content"]
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        n = int(text.split("question ")[1].split("?")[0])
        if body["model"] == "flaky" and (n == 0 or 6 <= n <= 14):
            return web.json_response({"error": "injected"}, status=503)
        answer = f"answer {n}" if n <= 5 else "no idea"
        return web.json_response(
            {
                "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2},
            }
        )


@pytest.fixture(scope="module")
def quiz() -> Iterator[QuizServer]:
    with QuizServer() as server:
        yield server


def setup(tmp: Path, base_url: str, *, image: bool = False, extra_model: str = "") -> Path:
    data = tmp / "data"
    data.mkdir(parents=True)
    recs = [{"id": f"q{i}", "question": f"What is question {i}?", "answer": f"answer {i}"} for i in range(20)]
    if image:
        from PIL import Image

        Image.new("RGB", (8, 8), "red").save(data / "red.png")
        for r in recs[:3]:
            r["image"] = "red.png"
    (data / "quiz.jsonl").write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")
    (tmp / "quiz_plugin.py").write_text(PLUGIN, encoding="utf-8")
    cfg = tmp / "config.yaml"
    model = f'{{backend: openai, base_url: "{base_url}", max_retries: 0, concurrency: 4'
    cfg.write_text(
        f"""
dataset_root: data
plugins: [{tmp / "quiz_plugin.py"}]
defaults: {{model: clean, dataset: quiz}}
datasets:
  quiz: {{class: quiz}}
models:
  clean: {model}, model: clean}}
  flaky: {model}, model: flaky, price: {{prompt_per_mtok: 2.5, completion_per_mtok: 10}}}}
{extra_model}
""",
        encoding="utf-8",
    )
    return cfg


def rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}


def test_a_flaky_run_never_outranks_the_clean_run(tmp_path: Path, quiz: QuizServer) -> None:
    cfg = setup(tmp_path, quiz.base_url)
    work = tmp_path / "work"
    assert main(["--config", str(cfg), "--model", "clean", "flaky", "--work-dir", str(work), "--no-progress"]) == 0
    clean = rows(work / "clean" / "quiz" / "report.csv")[("all", "accuracy")]
    flaky = rows(work / "flaky" / "quiz" / "report.csv")[("all", "accuracy")]
    assert clean["value"] == "0.3" and clean["n_failed"] == "0" and clean["value_scored"] == "0.3"
    # 10 calls failed: over the 10 answered samples the flaky run looks better (0.5) than the clean one (0.3)...
    assert flaky["value_scored"] == "0.5" and flaky["n_scored"] == "10" and flaky["n_model_failed"] == "10"
    # ...but the primary value counts every unanswered sample as wrong
    assert flaky["value"] == "0.25" and float(flaky["value"]) < float(clean["value"])
    assert flaky["basis"] == "strict: 10 unanswered counted as 0" and flaky["higher_is_better"] == "yes"
    assert float(flaky["ci_low"]) <= 0.25 <= float(flaky["ci_high"]) and float(flaky["stderr"]) > 0
    assert "small n: 20 " in flaky["flags"] and "interval approximate" in flaky["flags"]
    # the per-sample file carries strict values (failed = 0) beside the real scores
    lines = [json.loads(x) for x in (work / "flaky" / "quiz" / "samples.exact-match.jsonl").read_text().splitlines()]
    failed = [x for x in lines if x["stage"] == "predict"]
    assert len(failed) == 10 and all(x["strict"] == {"accuracy": 0.0} and x["scores"] == {} for x in failed)
    manifest = json.loads((work / "flaky" / "quiz" / "manifest.json").read_text())
    assert manifest["judges"]["exact-match"]["metrics"]["accuracy"] == {
        "higher_is_better": True,
        "worst": 0.0,
        "kind": "mean",
        "resample": True,
        "primary": True,
    }
    tokens = manifest["dataset"]["tokens"]
    assert tokens["prompt_tokens"] == 100 and tokens["mean_completion_tokens"] == 2  # 10 answered x (10 + 2) tokens
    assert tokens["cost"] == pytest.approx((100 * 2.5 + 20 * 10) / 1e6) and tokens["currency"] == "USD"
    assert manifest["judges"]["exact-match"]["uncertainty"]["seed"] == 0


def test_limit_runs_are_marked_partial(tmp_path: Path, quiz: QuizServer) -> None:
    cfg = setup(tmp_path, quiz.base_url)
    work = tmp_path / "work"
    assert main(["--config", str(cfg), "--limit", "5", "--work-dir", str(work), "--no-progress"]) == 0
    row = rows(work / "clean" / "quiz" / "report.csv")[("all", "accuracy")]
    assert row["n"] == "5" and "partial run (--limit 5: first 5 of 20 samples)" in row["flags"]
    assert json.loads((work / "clean" / "quiz" / "manifest.json").read_text())["dataset"]["partial"]


def test_replay_of_gold_answers_is_refused(tmp_path: Path, quiz: QuizServer, capsys: pytest.CaptureFixture) -> None:
    cfg = setup(tmp_path, quiz.base_url, extra_model="  replay: {backend: replay}")
    assert main(["--config", str(cfg), "--model", "replay", "--work-dir", str(tmp_path / "w"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "gold answers" in err and "Traceback" not in err
    assert not (tmp_path / "w" / "replay" / "quiz" / "predictions.jsonl").exists()


def test_media_a_model_cannot_read_stop_the_run_before_any_call(
    tmp_path: Path, quiz: QuizServer, capsys: pytest.CaptureFixture
) -> None:
    note = f'  noted: {{backend: openai, base_url: "{quiz.base_url}", model: clean, unread_media: note}}'
    cfg = setup(tmp_path, quiz.base_url, image=True, extra_model=note)
    work = tmp_path / "work"
    assert main(["--config", str(cfg), "--model", "clean", "--work-dir", str(work), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot read image (3 samples)" in err
    assert "modalities: [image]" in err and "unread_media: note" in err
    assert not (work / "clean" / "quiz" / "predictions.jsonl").exists()
    # opting in runs, and every row says how many samples had media the model never saw
    assert main(["--config", str(cfg), "--model", "noted", "--work-dir", str(work), "--no-progress"]) == 0
    row = rows(work / "noted" / "quiz" / "report.csv")[("all", "accuracy")]
    assert "media not shown to the model in 3 sample(s)" in row["flags"]
    manifest = json.loads((work / "noted" / "quiz" / "manifest.json").read_text())
    assert manifest["dataset"]["unread_media"] == {"image": 3}


def test_wer_counts_an_unanswered_utterance_as_all_deleted() -> None:
    judge = JUDGES.get("asr")("asr", None, JudgeContext(model_factory=lambda n: None, cache_dir=Path(".")))  # type: ignore[arg-type,return-value]
    sample = Sample("u2", (Part("text", "x"),), (Part("text", "the cat sat down"),), {"language": "en"})
    worst = judge.worst_details(sample)
    assert worst == {**worst, "errors": 4, "ref_len": 4}
    items = [
        Outcome("u1", {}, {"wer": 0.25}, details={"errors": 1, "ref_len": 4}),
        Outcome("u2", {}, {}, "predict", "timeout", worst_scores={"wer": 1.0}, worst_details=worst),
    ]
    row = report_rows("asr", "asr", ("wer",), items, scoring=judge)[0]
    assert row["value"] == "0.625" and row["value_scored"] == "0.25"  # (1 + 4) / (4 + 4) vs 1 / 4
    assert row["higher_is_better"] == "no" and row["basis"].startswith("strict")


def test_judge_scores_without_a_worst_value_are_flagged_when_incomplete() -> None:
    items = [
        Outcome("a", {}, {"coherence": 4.0, "style_consistency": 4.0}),
        Outcome("b", {}, {"coherence": 2.0}, metric_errors={"style_consistency": "unreadable: '3 or 4'"}),
        Outcome("c", {}, {}, "predict", "HTTP 503"),
    ]

    class Specs:  # the coherence judge's: 1-5 scores, no natural worst value
        def metric_spec(self, metric: str) -> MetricSpec:
            return JUDGES.get("coherence-llm").metric_specs.get(metric, MetricSpec())

        summarize = staticmethod(lambda m, xs: sum(o.scores[m] for o in xs) / len(xs))

        def ratio_parts(self, metric: str, outcome: Outcome) -> tuple[float, float]:
            raise NotImplementedError

    got = {r["metric"]: r for r in report_rows("d", "c", ("coherence", "style_consistency"), items, scoring=Specs())}
    assert got["coherence"]["value"] == "3" and got["coherence"]["basis"].startswith("scored samples only")
    assert "coverage 2/3" in got["coherence"]["flags"]
    assert got["style_consistency"]["n_failed"] == "2"
    fails = failure_rows(items, "c")
    assert {"sample_id": "b", "stage": "metric", "reason": "style_consistency: unreadable: '3 or 4'", "judge": "c"} in (
        fails
    )
    assert len(fails) == 2  # one row per counted failure: c's failed call, b's unreadable criterion
