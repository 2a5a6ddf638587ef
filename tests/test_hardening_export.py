"""The scored export (integers for integer rubrics, one file per source file, real JSON Lines) and corrupt media
found at judge time (named by the record's file:line; ``model:`` captioners decode locally before sending)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from support import Dev, code_record, write_config, write_records

from evalkit.cli import main
from evalkit.datasets.interleaved import iter_json_objects
from evalkit.export import scored_export
from evalkit.types import Part, Sample, Verdict

CAPTIONER_MODEL = '  capt: {{backend: openai, base_url: "{base}", model: capt, modalities: [image], max_retries: 0}}\n'
MODEL_CAPTIONS_JUDGE = (
    "  llm-model-captions: {class: coherence-llm, judge_model: judge, max_parse_retries: 1, "
    'captioners: {image: "model:capt"}}\n'
)


def pretty_records(path: Path) -> list[dict]:
    return [obj for _, obj, err in iter_json_objects(path.read_text()) if not err]


def test_export_keeps_integer_rubrics_and_writes_each_source_file_and_json_lines(tmp_path: Path, dev: Dev) -> None:
    write_records(tmp_path / "data" / "a_test.jsonl", [code_record(1), code_record(2)])
    write_records(tmp_path / "data" / "b_test.jsonl", [code_record(1)])  # the same id in another file
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--model", "replay", "--no-progress"]) == 0
    run = tmp_path / "results" / "replay" / "ds"

    text = (run / "scored.llm.jsonl").read_text()
    assert '"coherence": ' in text and ".0," not in text and ".0\n" not in text  # 4, not 4.0
    combined = pretty_records(run / "scored.llm.jsonl")
    assert [(r["file"], r["id"]) for r in combined] == [
        ("a_test.jsonl", "1"),
        ("a_test.jsonl", "2"),
        ("b_test.jsonl", "1"),
    ]
    assert all(type(v) is int for r in combined for v in r["score"].values())

    per_file = {p.name: pretty_records(p) for p in (run / "scored.llm").iterdir()}
    assert sorted(per_file) == ["a_test.jsonl", "b_test.jsonl"]
    assert [r["id"] for r in per_file["a_test.jsonl"]] == ["1", "2"] and len(per_file["b_test.jsonl"]) == 1
    assert all(
        "file" not in r and set(r) >= {"domain", "subdomain", "id", "content", "modal", "score"}
        for r in per_file["a_test.jsonl"]
    )

    lines = (run / "scored.llm.lines.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == combined  # the same records, one object per line


def sample(i: int, file: str) -> Sample:
    return Sample(id=f"s{i}", msg=(Part("text", "q"),), meta={"record_id": str(i), "file": file, "line": 1})


def verdict(i: int, scores: dict[str, float], error: str = "") -> Verdict:
    return Verdict(
        f"s{i}", "j", "k", "p", scores={} if error else scores, error=error, parse_status="error" if error else "ok"
    )


def test_only_metrics_whole_everywhere_become_integers() -> None:
    samples = [sample(1, "/d/x.jsonl"), sample(2, "/d/x.jsonl"), sample(3, "/d/sub/y.jsonl")]
    verdicts = {
        "s1": verdict(1, {"rubric": 4.0, "cosine": 0.5}),
        "s2": verdict(2, {"rubric": 2.0, "cosine": 1.0}),
        "s3": verdict(3, {}, error="judge call failed"),
    }
    export = scored_export(samples, verdicts)
    assert export.integer_metrics == frozenset({"rubric"})
    records = [record for record, _paths in export.records()]
    first, second, failed = records
    assert first["score"] == {"rubric": 4, "cosine": 0.5} and type(first["score"]["rubric"]) is int
    assert type(second["score"]["cosine"]) is float  # 1.0 stays a float: the metric is not whole everywhere
    assert failed["score"] is None and failed["error"] == "judge call failed"
    assert [r["file"] for r in records] == ["x.jsonl", "x.jsonl", "sub/y.jsonl"]
    assert export.sources == ("x.jsonl", "sub/y.jsonl")


def corrupt_image_records(tmp_path: Path) -> Path:
    img = tmp_path / "data" / "natural_science" / "programming" / "image"
    img.mkdir(parents=True)
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, then nothing
    rec = code_record(7) | {"input": {"modal": {"image1": "image/broken.png"}, "content": "What is in <image1>?"}}
    return write_records(tmp_path / "data" / "img_test.jsonl", [code_record(1), rec])


def failure_reasons(run: Path) -> list[str]:
    with (run / "failures.csv").open() as f:
        return [r["reason"] for r in csv.DictReader(f) if r["stage"] == "judge"]


def test_corrupt_media_at_judge_time_names_the_record_file_and_line(tmp_path: Path, dev: Dev) -> None:
    path = corrupt_image_records(tmp_path)
    cfg = write_config(tmp_path, dev.base_url)  # the llm judge captions images with the CPU image captioner
    assert main(["--config", str(cfg), "--model", "replay", "--no-progress"]) == 0
    [reason] = failure_reasons(tmp_path / "results" / "replay" / "ds")
    line = path.read_text().splitlines().index("{", 1) + 1  # the second record starts here
    assert f"{path}:{line}: captioning <image1> (image, image-cpu) failed" in reason, reason


def test_model_captioners_decode_media_locally_before_sending(tmp_path: Path, dev: Dev) -> None:
    path = corrupt_image_records(tmp_path)
    cfg = write_config(tmp_path, dev.base_url, extra=MODEL_CAPTIONS_JUDGE)  # appended under judges:
    text = cfg.read_text().replace("models:\n", "models:\n" + CAPTIONER_MODEL.format(base=dev.base_url), 1)
    cfg.write_text(text)
    argv = ["--config", str(cfg), "--model", "replay", "--judge", "llm-model-captions", "--no-progress"]
    assert main(argv) == 0
    [reason] = failure_reasons(tmp_path / "results" / "replay" / "ds")
    assert f"{path}:" in reason and "(image, model:capt) failed" in reason
    assert "broken.png cannot be decoded as image" in reason
    assert dev.requests("capt") == 0  # the corrupt file never reached the endpoint
