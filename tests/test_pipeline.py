"""infer -> eval -> reeval -> CSV through a real loopback server, resume after SIGKILL, failures as data."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import REPO, Dev, code_record, start_dev, write_config, write_records

from evalkit.cli import main


def report(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open() as f:
        return {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_infer_eval_reeval_reuses_predictions(tmp_path: Path, dev: Dev) -> None:
    write_records(tmp_path / "data" / "code_test.jsonl", [code_record(i) for i in range(6)])
    cfg = write_config(tmp_path, dev.base_url)
    run_dir = tmp_path / "results" / "echo" / "ds"

    assert main(["--config", str(cfg), "--skip-eval", "--no-progress"]) == 0
    assert dev.requests("echo") == 6 and dev.requests("judge-json") == 0
    assert not (run_dir / "report.csv").exists()

    assert main(["--config", str(cfg), "--mode", "eval", "--no-progress", "--no-reliability"]) == 0
    assert dev.requests("echo") == 6 and dev.requests("judge-json") == 7  # 6 verdicts + 1 reply-format probe
    rows = report(run_dir / "report.csv")
    assert rows[("all", "coherence")]["n"] == "6" and rows[("all", "coherence")]["n_failed"] == "0"
    # the devserver's scores are a hash of the judge prompt; the mean must equal the verdicts' mean
    verdicts = lines(run_dir / "verdicts.llm.jsonl")
    mean = sum(v["scores"]["coherence"] for v in verdicts) / 6
    assert abs(float(rows[("all", "coherence")]["value"]) - mean) < 1e-6
    assert rows[("difficulty=easy", "coherence")]["n"] == "3"

    # a changed judge config re-judges; predictions are reused: zero model calls
    cfg2 = write_config(tmp_path, dev.base_url, judge_model="judge-messy")
    assert main(["--config", str(cfg2), "--reeval", "--no-progress", "--no-reliability"]) == 0
    assert dev.requests("echo") == 6
    assert dev.requests("judge-messy") == 7
    assert len(lines(run_dir / "predictions.jsonl")) == 6

    # plain rerun of everything: nothing to do
    before = dev.requests()
    assert main(["--config", str(cfg2), "--no-progress", "--no-reliability"]) == 0
    assert dev.requests() == before
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(manifest["judges"]) == {"llm"}  # the llm judge entry was replaced by its rerun, not duplicated
    assert "coherence-rubric-v2" in manifest["judges"]["llm"]["prompt_hashes"]
    assert manifest["dataset"]["prompt_version"] == "interleaved-v1" and manifest["dataset"]["samples"] == 6


def test_reeval_ignores_stored_verdicts(tmp_path: Path, dev: Dev) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(3)])
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability"]) == 0
    assert main(["--config", str(cfg), "--reeval", "--no-progress", "--no-reliability"]) == 0
    assert dev.requests("echo") == 3
    assert dev.requests("judge-json") == 8  # 2 runs x (3 verdicts + 1 reply-format probe)


def test_unparseable_judge_is_a_counted_failure_not_a_score(tmp_path: Path, dev: Dev) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(4)])
    cfg = write_config(tmp_path, dev.base_url, judge_model="judge-bad")
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability"]) == 0
    run_dir = tmp_path / "results" / "echo" / "ds"
    row = report(run_dir / "report.csv")[("all", "coherence")]
    assert row["value"] == "" and row["n"] == "4" and row["n_failed"] == "4"
    verdicts = lines(run_dir / "verdicts.llm.jsonl")
    assert all(v["parse_status"] == "unparseable" and v["scores"] == {} for v in verdicts)
    assert all(len(v["raw"]) == 2 for v in verdicts)  # first ask + one bounded retry, replies kept
    assert dev.requests("judge-bad") == 9  # 4 x 2 asks + 1 reply-format probe
    exported = (run_dir / "scored.llm.jsonl").read_text()
    assert '"score": null' in exported and "unparseable" in exported
    failures = list(csv.DictReader((run_dir / "failures.csv").open()))
    assert {f["stage"] for f in failures} == {"judge"} and len(failures) == 4


def test_out_of_range_judge_scores_are_rejected(tmp_path: Path, dev: Dev) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(1)])
    cfg = write_config(tmp_path, dev.base_url, judge_model="judge-range")
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    v = lines(tmp_path / "results" / "echo" / "ds" / "verdicts.llm.jsonl")[0]
    # per criterion: the readable one is kept, the out-of-range one fails with its reason
    assert v["scores"] == {"style_consistency": 3} and "outside 1-5" in v["metric_errors"]["coherence"]


def test_bad_records_are_reported_and_the_rest_scored(tmp_path: Path, dev: Dev) -> None:
    data = tmp_path / "data"
    img_dir = data / "natural_science" / "programming" / "image"
    img_dir.mkdir(parents=True)
    (img_dir / "ok.png").write_bytes(
        (REPO / "data/interleaved_sample/natural_science/education/image/img_0602_01.png").read_bytes()
    )
    missing_media = code_record(10) | {"input": {"modal": {"image1": "image/nope.png"}, "content": "See <image1>."}}
    no_modal = code_record(11) | {"input": {"modal": {}, "content": "See <audio3>."}}
    escape = code_record(12) | {"input": {"modal": {"image1": "../../../../etc/passwd"}, "content": "<image1>"}}
    no_input = {k: v for k, v in code_record(13).items() if k != "input"}
    good_media = code_record(14) | {"input": {"modal": {"image1": "image/ok.png"}, "content": "Describe <image1>."}}
    text = "\n".join(json.dumps(r, indent=4) for r in [code_record(1), missing_media, no_modal])
    text += '\n{\n    "id": "broken",\n    "domain": \n}\n'  # invalid JSON
    text += "\n".join(json.dumps(r, indent=4) for r in [escape, no_input, good_media, code_record(2)])
    (data / "mixed.jsonl").write_text(text)
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    run_dir = tmp_path / "results" / "echo" / "ds"
    row = report(run_dir / "report.csv")[("all", "coherence")]
    assert row["n"] == "8" and row["n_failed"] == "5"
    failures = {f["reason"]: f for f in csv.DictReader((run_dir / "failures.csv").open())}
    reasons = "\n".join(failures)
    assert "mixed.jsonl:" in reasons
    assert "media file not found" in reasons and "(field 'input.modal.image1')" in reasons
    assert "tag <audio3> in input.content has no modal entry" in reasons
    assert "invalid JSON" in reasons
    assert "escapes the data root" in reasons
    assert "missing field 'input'" in reasons
    assert all(f["stage"] == "record" for f in failures.values())
    # the line named is where the bad record starts
    no_modal_reason = next(r for r in failures if "audio3" in r)
    start = text[: text.index(json.dumps(no_modal, indent=4))].count("\n") + 1
    assert no_modal_reason.split(": ")[0].endswith(f"mixed.jsonl:{start}")
    scored = [v for v in lines(run_dir / "verdicts.llm.jsonl") if v["scores"]]
    assert len(scored) == 3


def test_unreachable_server_gives_one_clear_line(tmp_path: Path, capsys) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(1)])
    cfg = write_config(tmp_path, "http://127.0.0.1:9/v1", extra="")
    text = cfg.read_text().replace("max_retries: 2,", 'max_retries: 2, serve_command: "vllm serve X --port 9",')
    cfg.write_text(text)
    assert main(["--config", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: model echo: nothing answers at http://127.0.0.1:9/v1. Start it with: vllm serve X --port 9"]


def test_503s_are_retried_then_recorded_then_retried_on_rerun(tmp_path: Path) -> None:
    server = start_dev("--fail-first", "5")
    try:
        write_records(tmp_path / "data" / "a.jsonl", [code_record(1)])
        cfg = write_config(tmp_path, server.base_url)  # max_retries: 2 -> 3 attempts per run
        args = ["--config", str(cfg), "--skip-eval", "--no-progress"]
        preds_path = tmp_path / "results" / "echo" / "ds" / "predictions.jsonl"
        assert main(args) == 0
        first = lines(preds_path)
        assert len(first) == 1 and first[0]["error"].startswith("RetryableError: gave up after 3 attempts: HTTP 503")
        assert first[0]["text"] == ""
        assert main(args) == 0  # attempts 4 and 5 fail, 6 succeeds
        second = lines(preds_path)
        assert len(second) == 2 and second[1]["error"] == "" and second[1]["text"].startswith("Echo: ")
    finally:
        server.stop()


def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = start_dev("--latency", "0.05")
    try:
        n = 80
        write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(n)])
        cfg = write_config(tmp_path, server.base_url)
        preds_path = tmp_path / "results" / "echo" / "ds" / "predictions.jsonl"
        cmd = [sys.executable, str(REPO / "run.py"), "--config", str(cfg), "--skip-eval", "--no-progress"]
        proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if preds_path.exists() and len(preds_path.read_text().splitlines()) >= 20:
                break
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        partial = len(lines(preds_path))
        assert 20 <= partial < n
        assert subprocess.run(cmd, cwd=tmp_path, check=False).returncode == 0
        recs = lines(preds_path)
        ids = [r["sample_id"] for r in recs]
        assert len(ids) == len(set(ids)) == n
        assert all(r["error"] == "" for r in recs)
        # the same final records as an uninterrupted run
        clean = tmp_path / "clean"
        assert main(["--config", str(cfg), "--skip-eval", "--no-progress", "--work-dir", str(clean)]) == 0
        clean_recs = {r["sample_id"]: (r["key"], r["text"]) for r in lines(clean / "echo" / "ds" / "predictions.jsonl")}
        assert {r["sample_id"]: (r["key"], r["text"]) for r in recs} == clean_recs
    finally:
        server.stop()


def test_api_key_never_reaches_results(tmp_path: Path, dev: Dev, monkeypatch) -> None:
    secret = "sk-test-SECRET-123456"
    monkeypatch.setenv("EVALKIT_TEST_KEY", secret)
    write_records(tmp_path / "data" / "a.jsonl", [code_record(1)])
    cfg = write_config(tmp_path, dev.base_url)
    cfg.write_text(
        cfg.read_text().replace("model: echo, modalities", "model: echo, api_key_env: EVALKIT_TEST_KEY, modalities")
    )
    assert main(["--config", str(cfg), "--no-progress", "--verbose"]) == 0
    for path in (tmp_path / "results").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
