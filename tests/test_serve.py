"""``run.py serve``: the vllm command line it builds, and the start / wait / stop cycle of a real server process.

vllm cannot run here (CUDA), so the start-up tests put a stand-in ``vllm`` program on PATH: it records the
arguments it was given and runs evalkit's OpenAI-compatible dev server on the requested port. Everything on
evalkit's side — finding the program, waiting for ``/v1/models``, SIGTERM, stopping the process group,
``run_eval.sh --serve`` — is the real code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import REPO, code_record, write_records

from evalkit.cli import main
from evalkit.config import load_config
from evalkit.embedded.llama_server import free_port
from evalkit.serve import plan_serve

HAVE_VLLM = importlib.util.find_spec("vllm") is not None or (Path(sys.executable).parent / "vllm").is_file()

FAKE_VLLM = """#!{python}
# stands for the vllm CLI: `vllm serve MODEL --port P ...` records its arguments and serves evalkit's dev server
import os
import sys

with open({record!r}, "a", encoding="utf-8") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
with open({record!r} + ".pid", "a", encoding="utf-8") as f:
    f.write(f"{{os.getpid()}}\\n")
args = sys.argv[1:]
assert args[0] == "serve", args
from evalkit.devserver import main

main(["--port", args[args.index("--port") + 1]])
"""


def dry_run(capsys, *args: str) -> list[str]:
    assert main(["serve", "--config", str(REPO / "config.yaml"), "--dry-run", *args]) == 0
    return capsys.readouterr().out.splitlines()


def flags(argv: list[str]) -> dict[str, str]:
    return {a: argv[i + 1] for i, a in enumerate(argv) if a.startswith("--") and i + 1 < len(argv)}


def test_dry_run_prints_the_omni_command(capsys) -> None:
    out = dry_run(capsys, "--model", "Qwen2.5-Omni-3B")
    assert len(out) == 1
    argv = shlex.split(out[0])
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-Omni-3B"]
    f = flags(argv)
    assert f["--port"] == "8000" and f["--dtype"] == "bfloat16"
    assert f["--host"] == "127.0.0.1"  # its base_url is on loopback: not exposed to the network
    assert f["--max-model-len"] == "32768" and f["--max-num-batched-tokens"] == "8192"
    assert f["--max-num-seqs"] == "32" and f["--gpu-memory-utilization"] == "0.9"
    assert int(f["--h11-max-incomplete-event-size"]) == 64 * 1024 * 1024
    assert json.loads(f["--limit-mm-per-prompt"]) == {"image": 8, "audio": 8, "video": 4}
    assert "--trust-remote-code" not in argv


def test_dry_run_of_an_audio_model_on_another_port(capsys) -> None:
    out = dry_run(capsys, "--model", "Kimi-Audio-7B-Instruct", "--port", "8123")
    argv = shlex.split(out[0])
    assert argv[:3] == ["vllm", "serve", "moonshotai/Kimi-Audio-7B-Instruct"]
    f = flags(argv)
    assert f["--port"] == "8123" and f["--max-model-len"] == "8192"
    assert json.loads(f["--limit-mm-per-prompt"]) == {"audio": 1}
    assert "--trust-remote-code" in argv
    assert out[1].startswith("# note: custom code") and "kimia_infer" in out[1]
    audio = shlex.split(dry_run(capsys, "--model", "Qwen2-Audio-7B-Instruct")[0])
    assert json.loads(flags(audio)["--limit-mm-per-prompt"]) == {"audio": 5}


def test_models_without_a_server_are_refused_with_the_reason(capsys) -> None:
    cfg = ["--config", str(REPO / "config.yaml"), "--dry-run"]
    assert main(["serve", *cfg, "--model", "gpt-4o"]) == 2
    assert "has no vLLM serve settings (it answers at https://api.openai.com/v1)" in capsys.readouterr().err
    assert main(["serve", *cfg, "--model", "smollm2-cpu"]) == 2
    assert "embedded server that evalkit starts by itself" in capsys.readouterr().err
    assert main(["serve", *cfg, "--model", "Qwen2.5-Omni-3b"]) == 2
    assert "did you mean Qwen2.5-Omni-3B" in capsys.readouterr().err
    assert main(["serve", *cfg, "--model", "Qwen2.5-Omni-3B", "Qwen2.5-Omni-7B"]) == 2
    assert "serve starts one model, got 2" in capsys.readouterr().err


def test_an_entry_outside_the_catalog_may_give_its_own_vllm_command(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "models:\n"
        "  mine: {backend: openai, base_url: 'http://localhost:8011/v1', model: me/mine,\n"
        "         serve_command: 'vllm serve me/mine --port 9 --dtype half'}\n"
    )
    plan = plan_serve(load_config(cfg), "mine")
    assert plan.argv == ["vllm", "serve", "me/mine", "--port", "8011", "--dtype", "half"]
    assert plan_serve(load_config(cfg), "mine", 7000).argv[4] == "7000"


def test_a_remote_base_url_is_served_on_every_interface(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("models:\n  Qwen2.5-VL-7B-Instruct: {backend: openai, base_url: 'http://gpu-box:9000/v1'}\n")
    plan = plan_serve(load_config(cfg), "Qwen2.5-VL-7B-Instruct")
    assert "--host" not in plan.argv and flags(plan.argv)["--port"] == "9000"
    assert plan.argv[2] == "Qwen/Qwen2.5-VL-7B-Instruct"  # the catalog's id when the entry names none


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed here: the missing-extra message cannot show")
def test_missing_vllm_is_one_line_naming_the_extra(capsys, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no vllm program anywhere
    rc = main(["serve", "--config", str(REPO / "config.yaml"), "--model", "Qwen2.5-Omni-3B"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: 'vllm' is not installed: install the extra with  pip install -e '.[vllm]'"]


def _fake_vllm(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "vllm-args.txt"
    script = bin_dir / "vllm"
    script.write_text(FAKE_VLLM.format(python=sys.executable, record=str(record)))
    script.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env["PYTHON"] = sys.executable
    return env, record


def _kill_leftovers(record: Path) -> None:
    """Kill stand-in servers evalkit failed to stop, so a failing test leaves no process behind."""
    pids = Path(f"{record}.pid")
    for pid in pids.read_text().split() if pids.exists() else []:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (path.exists() and path.read_text().strip()):
        assert proc.poll() is None, f"serve exited early with {proc.returncode}"
        time.sleep(0.1)
    assert path.read_text().strip(), "server not ready in time"


@pytest.mark.skipif(HAVE_VLLM, reason="a real vllm would be started instead of the stand-in")
def test_serve_starts_the_catalog_command_waits_and_stops_on_sigterm(tmp_path: Path) -> None:
    env, record = _fake_vllm(tmp_path)
    port = free_port()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "work_dir: results\nmodels:\n"
        f"  Qwen2.5-Omni-3B: {{backend: openai, base_url: 'http://localhost:{port}/v1', model: Qwen/Qwen2.5-Omni-3B}}\n"
    )
    ready = tmp_path / "ready"
    cmd = [sys.executable, str(REPO / "run.py"), "serve", "--config", str(cfg), "--model", "Qwen2.5-Omni-3B"]
    proc = subprocess.Popen([*cmd, "--ready-file", str(ready), "--startup-timeout", "60"], env=env, cwd=tmp_path)
    try:
        _wait_for(ready, proc)
        base = f"http://127.0.0.1:{port}/v1"
        assert ready.read_text().strip() == base and _answers(f"{base}/models")
        argv = record.read_text().split()
        assert argv[:2] == ["serve", "Qwen/Qwen2.5-Omni-3B"] and flags(argv)["--port"] == str(port)
        assert flags(argv)["--max-model-len"] == "32768" and "--limit-mm-per-prompt" in argv
        time.sleep(0.5)
        assert proc.poll() is None  # stays in the foreground
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not _answers(f"{base}/models")  # the server's process group went with it
        assert "evalkit devserver on" in (tmp_path / "results" / "logs" / "serve-Qwen2.5-Omni-3B.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_leftovers(record)


@pytest.mark.skipif(HAVE_VLLM, reason="a real vllm would be started instead of the stand-in")
def test_run_eval_sh_serve_starts_the_server_runs_and_stops_it(tmp_path: Path) -> None:
    env, record = _fake_vllm(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    write_records(tmp_path / "data" / "code_test.jsonl", [code_record(i) for i in range(3)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "dataset_root: data\nwork_dir: results\n"
        "datasets:\n  ds: {class: interleaved, files: ['*.jsonl'], judge: llm}\n"
        "models:\n"
        f"  echo: {{backend: openai, base_url: '{base}', model: echo, serve_command: 'vllm serve echo --port 1'}}\n"
        f"  judge: {{backend: openai, base_url: '{base}', model: judge-json}}\n"
        "judges:\n  llm: {class: coherence-llm, judge_model: judge, max_parse_retries: 1}\n"
    )
    args = ["--serve", "--config", str(cfg), "--model", "echo", "--dataset", "ds", "--no-progress"]
    try:
        res = subprocess.run(
            ["bash", str(REPO / "run_eval.sh"), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        stopped = not _answers(f"{base}/models")
        _kill_leftovers(record)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"ready: echo at {base}" in res.stdout
    assert record.read_text().split()[:4] == ["serve", "echo", "--port", str(port)]
    preds = (tmp_path / "results" / "echo" / "ds" / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == 3 and all(json.loads(p)["text"].startswith("Echo: ") for p in preds)
    assert (tmp_path / "results" / "echo" / "ds" / "report.csv").exists()
    assert stopped  # the script stopped the server at the end
