"""Command-line mistakes end in one line, not a traceback; run.log per run; --list judges; a closed pipe is quiet."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, Dev, code_record, output_entries, write_config, write_records

from evalkit.cli import main, run_log
from evalkit.judges import JUDGES

NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens: these runs must stop before any call


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_work_dir_under_a_regular_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, NOWHERE)
    (tmp_path / "some_file").write_text("x")
    err = one_line_error(capsys, ["--config", str(cfg), "--work-dir", str(tmp_path / "some_file" / "work")])
    assert "some_file/work cannot be created: Not a directory" in err


def test_work_dir_in_an_unwritable_place_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, NOWHERE)
    err = one_line_error(capsys, ["--config", str(cfg), "--work-dir", "/proc/evalkit-test/work"])
    assert "work dir /proc/evalkit-test/work cannot be created" in err


def test_leaderboard_output_that_is_a_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, NOWHERE)
    err = one_line_error(capsys, ["leaderboard", "--config", str(cfg), "--output", str(tmp_path)])
    assert "is a directory; name a file" in err
    assert main(["leaderboard", "--config", str(cfg), "--output", str(tmp_path / "board" / "LB.md")]) == 0
    assert (tmp_path / "board" / "LB.md").read_text().startswith("# Leaderboard")


@pytest.mark.parametrize("flag", ["--limit", "--concurrency", "--save-attn"])
def test_negative_counts_are_argument_errors(flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, NOWHERE)  # were -1 accepted, the run would stay in tmp_path
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(cfg), "--work-dir", str(tmp_path / "w"), flag, "-1"])
    assert exc.value.code == 2
    assert f"argument {flag}: must be >= 0, got -1" in capsys.readouterr().err


def test_list_judges_shows_every_class_with_metrics_and_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(REPO / "config.yaml"), "--list", "judges"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert set(rows) == set(JUDGES.names())
    coherence = rows["coherence-llm"]
    assert "coherence, style_consistency:" in coherence and "judge model" in coherence
    for name in JUDGES.names():
        metrics = getattr(JUDGES.get(name), "metrics", ())
        assert all(m in rows[name] for m in metrics) and rows[name].split(":", 1)[1].strip()


def test_list_into_a_closed_pipe_exits_quietly() -> None:
    cmd = [sys.executable, str(REPO / "run.py"), "--list", "judges"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first byte is written, as when `head` has its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_list_piped_into_head_prints_one_line_and_no_traceback() -> None:
    cmd = f"'{sys.executable}' run.py --list judges | head -1"
    res = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 1
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


def test_infer_only_prints_no_empty_result_table(tmp_path: Path, dev: Dev, capsys: pytest.CaptureFixture[str]) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(3)])
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--mode", "infer", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "metric" not in out and "n_failed" not in out and "----" not in out
    assert "infer: 3 run (0 failed), 0 reused" in out
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    assert "n_failed" in capsys.readouterr().out  # a judged run keeps its table


def test_every_run_writes_run_log_without_secrets(
    tmp_path: Path, dev: Dev, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-run-log-4f1c9e2b7a"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("EVALKIT_TEST_TOKEN", "tok-" + secret[::-1])
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(2)])
    (tmp_path / "data" / "b.jsonl").write_text("")
    cfg = write_config(tmp_path, dev.base_url)
    assert main(["--config", str(cfg), "--no-progress"]) == 0
    text = (tmp_path / "results" / "echo" / "ds" / "run.log").read_text()
    assert " INFO evalkit.cli: job: model=echo dataset=ds " in text
    assert "done: infer 2 run (0 failed)" in text and "result: echo ds coherence" in text
    assert "b.jsonl: empty data file (0 records)" in text
    assert secret not in text and secret[::-1] not in text
    assert "job: model=echo" not in capsys.readouterr().err  # the console stays as it was
    assert main(["--config", str(cfg), "--no-progress"]) == 0  # a rerun appends
    assert (tmp_path / "results" / "echo" / "ds" / "run.log").read_text().count("job: model=echo") == 2


def test_run_log_hides_secret_values_even_when_a_library_logs_them(tmp_path: Path) -> None:
    secret = "sk-leaky-header-0d9a8b7c6e"
    lib = logging.getLogger("some.http.library")
    with run_log(tmp_path / "run", [secret, "abc"]) as path:
        lib.info("request headers: {'Authorization': 'Bearer %s'}", secret)
        lib.debug("debug lines stay out of run.log")
        try:
            raise ValueError(f"bad key {secret}")
        except ValueError:
            lib.exception("call failed")
    text = path.read_text()
    assert "Bearer ***" in text and "bad key ***" in text and secret not in text
    assert "debug lines" not in text
    lib.info("after the block")
    assert "after the block" not in path.read_text()


def test_the_clean_checkout_check_sees_test_output_and_not_source_edits() -> None:
    porcelain = "\n".join(
        [
            "?? results/echo/ds/report.csv",
            "!! eval_results/",
            " M LEADERBOARD.csv",
            "?? evalkit/new_module.py",
            " M README.md",
            "!! .venv/",
            "!! evalkit/__pycache__/",
            "!! evalkit.egg-info/",
        ]
    )
    assert output_entries(porcelain) == {"?? results/echo/ds/report.csv", "!! eval_results/", " M LEADERBOARD.csv"}
