"""evalkit against its peers, Inspect AI and lmms-eval, on one loopback endpoint: the peer table of issue 11.

The same ``--n`` single-turn text samples (``What is {i} plus zero?`` + ``Answer with a word or a short phrase
only.``, reference ``{i}``) are written in each tool's own format, and each tool runs them as a user would, as
its own command line, against one OpenAI-compatible server (``bench/_latency_server.py``, a separate process,
answering every chat completion after ``--latency-ms``). Each tool runs twice: at its default concurrency and
at ``--best`` requests in flight:

- **evalkit**: ``python run.py --config <cfg> --no-progress`` on a ``qa`` dataset (judge ``exact-match``) and
  an ``openai`` model entry with the server's ``base_url`` (default concurrency: 8). Best: ``concurrency: 64``
  in the entry and ``--concurrency 64``; the entry's value is needed because ``--concurrency`` alone sizes
  the runner's worker pool but not the model's connection limit (still 8 requests in flight).
- **Inspect**: ``inspect eval task.py --model openai/echo -M responses_api=false --display none
  [--max-connections 64]`` with ``OPENAI_BASE_URL`` and a dummy key; the task is ``json_dataset`` +
  ``generate()`` + ``match()``. Default: adaptive connections (10 to 100, starting at 20). ``responses_api=false``
  because Inspect takes a model name it does not know for a frontier OpenAI model and then sends the Responses
  API plus one extra probe request; evalkit and lmms-eval send chat completions.
- **lmms-eval**: ``python -m lmms_eval --model openai --model_args model=echo,base_url=...,api_key=dummy
  [,num_concurrent=64] --tasks evalkit_peers --include_path <dir> --batch_size 1`` (the chat ``openai``
  backend, a thread pool of ``num_concurrent`` requests; default 32) on a ``dataset_path: json`` task with
  ``exact_match``. ``HF_HUB_OFFLINE=1`` and a fresh ``HF_HOME`` per run: nothing is fetched, nothing is cached
  between runs.

Inspect and lmms-eval are installed from PyPI into a scratch venv outside the repository (``--venv``, created
on first use and reused; never a dependency of evalkit). lmms-eval pulls torchvision, so torch and torchvision
are installed first from the versions this machine keeps on disk (no CUDA download), and ``filelock<4``
(lmms-eval 0.7.3 imports ``filelock._api``, which filelock 4 removed).

For each run: samples/s over the whole run (process start to exit, as the bench sees it) and in the request
window (the first request's arrival to the last answer's finish, as the server saw them), and evalkit's figure
divided by the peer's at the same setting; also the tool's CPU time (its process and the children it waited
for, start-up included) per sample, which tells a tool that waits on the server from one that waits on a core.
A run counts only if it exits 0, the server answered exactly ``--n`` requests for ``--n`` distinct prompts,
and the tool wrote its results; otherwise its row says why.

Run: ``python bench/peers.py [--n 2000] [--latency-ms 200] [--best 64] [--tools evalkit,inspect,lmms-eval]
[--venv /tmp/evalkit-peers-venv] [--skip-install] [--evalkit-root DIR] [--keep]``.
Quick check: ``--tools evalkit --n 200``. Exits non-zero only on a crash of the bench itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import HOST, REPO, free_port, stop

TOOLS = ("evalkit", "inspect", "lmms-eval")
PEERS = ("inspect", "lmms-eval")
SUFFIX = "\nAnswer with a word or a short phrase only."
# torch/torchvision pairs kept on this machine's disk (no download); lmms-eval requires torchvision
PEER_PACKAGES = (["torch==2.14.1", "torchvision==0.29.1"], ["inspect-ai", "lmms-eval", "filelock<4"])
DIST = {"inspect": "inspect-ai", "lmms-eval": "lmms-eval", "torch": "torch"}


@dataclass(frozen=True)
class Result:
    """One tool run at one setting.

    Attributes:
        tool: evalkit, inspect or lmms-eval.
        setting: ``default`` or ``best``.
        concurrency: what that setting means for the tool, in words.
        inflight: requests in flight it allows, when fixed (None: adaptive).
        wall_s: process start to exit, seconds (0 when the run failed).
        window_s: the server's first arrival to its last finish, seconds.
        cpu_s: CPU seconds (user + system) of the tool's process and the children it waited for.
        error: why the run does not count, or empty.
    """

    tool: str
    setting: str
    concurrency: str
    inflight: int | None = None
    wall_s: float = 0.0
    window_s: float = 0.0
    cpu_s: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Server:
    """The latency server subprocess.

    Attributes:
        proc: the subprocess.
        port: its loopback port.
    """

    proc: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def call(self, path: str, post: bool = False) -> dict[str, Any]:
        req = urllib.request.Request(f"http://{HOST}:{self.port}{path}", data=b"{}" if post else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.load(resp))


@contextmanager
def latency_server(latency_s: float, log: Path) -> Iterator[Server]:
    """Run ``_latency_server.py`` for the duration of the block."""
    port = free_port()
    script = Path(__file__).with_name("_latency_server.py")
    cmd = [sys.executable, str(script), "--host", HOST, "--port", str(port), "--latency", str(latency_s)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"latency server exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                server.call("/stats")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("latency server did not answer within 30 s") from None
                time.sleep(0.05)
        yield server
    finally:
        stop(proc)


# --- the scratch venv ---------------------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


IMPORTS = {"inspect": "import inspect_ai", "lmms-eval": "import lmms_eval, filelock._api"}


def import_problem(venv: Path, tool: str) -> str:
    """Empty when ``tool`` imports in ``venv``, else why not."""
    py = venv_python(venv)
    if not py.exists():
        return f"no venv at {venv}"
    proc = subprocess.run([str(py), "-c", IMPORTS[tool]], capture_output=True, text=True, check=False, timeout=600)
    return "" if proc.returncode == 0 else last_line(proc.stderr)


def prepare_peers(venv: Path, peers: list[str], install: bool) -> dict[str, str]:
    """Why each of ``peers`` cannot run (empty: it can), installing them first when one is missing."""
    problems = {t: import_problem(venv, t) for t in peers}
    if install and any(problems.values()):
        failed = install_peers(venv)
        problems = {t: failed or import_problem(venv, t) for t in peers}
    return problems


def install_peers(venv: Path) -> str:
    """Create ``venv`` if needed and pip install the peers into it; empty on success, else pip's last error."""
    if not venv_python(venv).exists():
        print(f"creating {venv}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for packages in PEER_PACKAGES:
        print(f"pip install {' '.join(packages)} into {venv}", file=sys.stderr, flush=True)
        cmd = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", *packages]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
        if proc.returncode != 0:
            return f"pip install {' '.join(packages)} failed: {last_line(proc.stderr)}"
    return ""


def versions(venv: Path) -> dict[str, str]:
    """Installed versions of the peers (and torch) in ``venv``, by distribution name."""
    code = (
        "import json, importlib.metadata as m\n"
        f"names = {sorted(DIST.values())!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'missing'\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([str(venv_python(venv)), "-c", code], capture_output=True, text=True, check=False)
    return dict(json.loads(proc.stdout)) if proc.returncode == 0 else {}


def git_head(root: Path) -> str:
    cmd = ["git", "-C", str(root), "describe", "--always", "--dirty"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown commit"


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


# --- each tool's files --------------------------------------------------------------------------------------


def records(n: int) -> list[dict[str, str]]:
    return [{"id": f"q{i}", "question": f"What is {i} plus zero?", "answer": str(i)} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_evalkit(folder: Path, rows: list[dict[str, str]], base_url: str, best: int) -> Path:
    """evalkit's ``qa`` records and two configs: ``config.yaml`` (the ``openai`` entry's default concurrency)
    and ``config-best.yaml`` (``concurrency: best`` in the entry); returns the folder."""
    write_jsonl(folder / "data" / "qa.jsonl", rows)
    for name, extra in (("config.yaml", ""), ("config-best.yaml", f", concurrency: {best}")):
        (folder / name).write_text(_evalkit_config(base_url, extra), encoding="utf-8")
    return folder


def _evalkit_config(base_url: str, extra: str) -> str:
    return f"""dataset_root: data
work_dir: results
defaults: {{model: echo, dataset: qa}}
datasets:
  qa:
    class: qa
    files: ["qa.jsonl"]
    judge: exact-match
    open_prompt: "{{question}}\\nAnswer with a word or a short phrase only."
models:
  echo: {{backend: openai, base_url: "{base_url}", model: echo{extra}}}
"""


INSPECT_TASK = """from pathlib import Path

from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.scorer import match
from inspect_ai.solver import generate


@task
def evalkit_peers():
    return Task(dataset=json_dataset(str(Path(__file__).with_name("samples.jsonl"))), solver=generate(), scorer=match())
"""


def write_inspect(folder: Path, rows: list[dict[str, str]]) -> Path:
    """Inspect's native samples (``id``, ``input``, ``target``) and a task file."""
    write_jsonl(
        folder / "samples.jsonl",
        [{"id": r["id"], "input": r["question"] + SUFFIX, "target": r["answer"]} for r in rows],
    )
    task = folder / "task.py"
    task.write_text(INSPECT_TASK, encoding="utf-8")
    return task


def write_lmms(folder: Path, rows: list[dict[str, str]]) -> Path:
    """An lmms-eval task folder: a ``dataset_path: json`` YAML over the records; returns the include path."""
    data = folder / "qa.jsonl"
    write_jsonl(data, rows)
    tasks = folder / "tasks" / "evalkit_peers"
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / "evalkit_peers.yaml").write_text(
        f"""task: evalkit_peers
dataset_path: json
dataset_kwargs:
  data_files:
    test: {json.dumps(str(data))}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}\\nAnswer with a word or a short phrase only."
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  max_new_tokens: 512
  temperature: 0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
""",
        encoding="utf-8",
    )
    return folder / "tasks"


# --- running ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One tool run to time.

    Attributes:
        argv: the command line.
        cwd: its working directory.
        env: variables added to the bench's environment.
        output: a folder the tool must have written a results file into (glob ``pattern``).
        pattern: the results file's glob under ``output``.
    """

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    output: Path
    pattern: str


def commands(
    tool: str, setting: str, run_dir: Path, files: dict[str, Path], args: argparse.Namespace, base_url: str
) -> tuple[str, int | None, Command]:
    """What ``setting`` means for ``tool`` (in words, and requests in flight when fixed) and its command."""
    best = setting == "best"
    if tool == "evalkit":
        cfg = files["evalkit"] / ("config-best.yaml" if best else "config.yaml")
        argv = [sys.executable, str(args.evalkit_root / "run.py"), "--config", str(cfg), "--no-progress"]
        argv += ["--work-dir", str(run_dir / "results")]
        argv += ["--concurrency", str(args.best)] if best else []
        words = f"concurrency: {args.best} + --concurrency {args.best}" if best else "8 (entry default)"
        return words, args.best if best else 8, Command(argv, run_dir, {}, run_dir / "results", "**/verdicts.*.jsonl")
    py = venv_python(args.venv)
    peer_env = {
        "OPENAI_API_KEY": "dummy",
        "OPENAI_BASE_URL": base_url,
        "HF_HOME": str(run_dir / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "WANDB_MODE": "disabled",
        "NO_PROXY": HOST,
    }
    if tool == "inspect":
        # the task file relative to the working directory: Inspect globs it and refuses an absolute pattern
        argv = [str(py), "-m", "inspect_ai", "eval", files["inspect"].name, "--model", "openai/echo"]
        argv += ["-M", "responses_api=false", "--display", "none", "--log-dir", str(run_dir / "logs")]
        argv += ["--max-connections", str(args.best)] if best else []
        words = f"--max-connections {args.best}" if best else "adaptive 10-100 (default)"
        cmd = Command(argv, files["inspect"].parent, peer_env, run_dir / "logs", "*.eval")
        return words, args.best if best else None, cmd
    model_args = f"model=echo,base_url={base_url},api_key=dummy" + (f",num_concurrent={args.best}" if best else "")
    argv = [str(py), "-m", "lmms_eval", "--model", "openai", "--model_args", model_args, "--tasks", "evalkit_peers"]
    argv += ["--include_path", str(files["lmms-eval"]), "--batch_size", "1", "--output_path", str(run_dir / "out")]
    words = f"num_concurrent={args.best}" if best else "num_concurrent=32 (default)"
    return words, args.best if best else 32, Command(argv, run_dir, peer_env, run_dir / "out", "**/*results*.json")


def run_one(
    server: Server, tool: str, setting: str, files: dict[str, Path], args: argparse.Namespace, work: Path
) -> Result:
    run_dir = work / "runs" / f"{tool}-{setting}"
    run_dir.mkdir(parents=True, exist_ok=True)
    words, inflight, cmd = commands(tool, setting, run_dir, files, args, server.base_url)
    log = run_dir / "output.log"
    server.call("/reset", post=True)
    env = {**os.environ, **cmd.env}
    print(f"  {tool} {setting}: {' '.join(cmd.argv)}", file=sys.stderr, flush=True)
    cpu0 = children_cpu_s()
    t0 = time.monotonic()
    with log.open("wb") as out:
        try:
            proc = subprocess.run(
                cmd.argv, cwd=cmd.cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=args.timeout, check=False
            )
            code: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            code = f"timed out after {args.timeout:g} s"
    wall = time.monotonic() - t0
    cpu = children_cpu_s() - cpu0
    stats = server.call("/stats")
    error = ""
    if code != 0:
        error = f"exit {code}: {last_line(log.read_text(errors='replace'))}"
    elif stats["answered"] != args.n or stats["distinct"] != args.n:
        error = f"server answered {stats['answered']} requests ({stats['distinct']} distinct prompts), not {args.n}"
    elif not any(cmd.output.glob(cmd.pattern)):
        error = f"no {cmd.pattern} under {cmd.output}: {last_line(log.read_text(errors='replace'))}"
    if error:
        print(f"    failed: {error} (log: {log})", file=sys.stderr, flush=True)
        return Result(tool, setting, words, inflight, error=error)
    window = float(stats["last_finish"]) - float(stats["first_arrival"])
    print(f"    {wall:.2f} s whole, {window:.2f} s window, {cpu:.1f} CPU s", file=sys.stderr, flush=True)
    return Result(tool, setting, words, inflight, wall, window, cpu)


def children_cpu_s() -> float:
    """CPU seconds of the waited-for children so far (the latency server is still running: not counted)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the table ----------------------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else 0.0


def table(results: list[Result], n: int, latency_s: float) -> list[tuple[str, ...]]:
    ours = {r.setting: r for r in results if r.tool == "evalkit" and not r.error}
    rows: list[tuple[str, ...]] = []
    for r in results:
        if r.error:
            rows.append((r.tool, r.setting, r.concurrency, *("-",) * 8))
            continue
        whole, window = rate(n, r.wall_s), rate(n, r.window_s)
        ideal = f"{min(r.inflight, n) / latency_s:.0f}" if r.inflight and latency_s > 0 else "-"
        ek = ours.get(r.setting)
        ratio_whole = f"{rate(n, ek.wall_s) / whole:.2f}" if ek and r.tool != "evalkit" else "-"
        ratio_window = f"{rate(n, ek.window_s) / window:.2f}" if ek and r.tool != "evalkit" else "-"
        rows.append(
            (
                r.tool,
                r.setting,
                r.concurrency,
                f"{r.wall_s:.2f}",
                f"{r.window_s:.2f}",
                f"{r.cpu_s / n * 1000:.1f}",
                ideal,
                f"{whole:.1f}",
                f"{window:.1f}",
                ratio_whole,
                ratio_window,
            )
        )
    return rows


def print_grid(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="samples per run")
    p.add_argument("--latency-ms", type=float, default=200.0, help="server latency per request, ms")
    p.add_argument("--best", type=int, default=64, help="requests in flight for the 'best' setting of every tool")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    p.add_argument("--settings", default="default,best", help="comma-separated, of default, best")
    p.add_argument(
        "--venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "evalkit-peers-venv",
        help="scratch venv of the peers",
    )
    p.add_argument(
        "--skip-install", action="store_true", help="use --venv as it is; a peer that does not import is reported"
    )
    p.add_argument(
        "--evalkit-root",
        type=Path,
        default=REPO,
        help="checkout whose run.py is timed (default: this one; e.g. a `git worktree` of a commit)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="seconds one tool run may take")
    p.add_argument("--keep", action="store_true", help="keep the work folder (data, configs, logs) and print its path")
    args = p.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = sorted(set(tools) - set(TOOLS)) + sorted(set(settings) - {"default", "best"})
    if unknown:
        p.error(f"unknown tool or setting: {', '.join(unknown)}")

    print(f"load average: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); python {sys.version.split()[0]}")
    if "evalkit" in tools:
        print(f"evalkit: {args.evalkit_root} at {git_head(args.evalkit_root)}")
    unavailable = prepare_peers(args.venv, [t for t in tools if t in PEERS], not args.skip_install)
    if unavailable:
        found = versions(args.venv) if venv_python(args.venv).exists() else {}
        print(f"peers venv {args.venv}: " + (", ".join(f"{k} {v}" for k, v in found.items()) or "none"))

    work = Path(tempfile.mkdtemp(prefix="evalkit-peers-"))
    results: list[Result] = []
    try:
        rows = records(args.n)
        with latency_server(args.latency_ms / 1000, work / "server.log") as server:
            files = {
                "evalkit": write_evalkit(work / "evalkit", rows, server.base_url, args.best),
                "inspect": write_inspect(work / "inspect", rows),
                "lmms-eval": write_lmms(work / "lmms", rows),
            }
            for tool in tools:
                for setting in settings:
                    if unavailable.get(tool):
                        results.append(Result(tool, setting, "-", error=f"cannot run: {unavailable[tool]}"))
                        continue
                    results.append(run_one(server, tool, setting, files, args, work))
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.n} samples, server latency {args.latency_ms:g} ms; ideal /s = requests in flight / latency")
    header = (
        "tool",
        "setting",
        "concurrency",
        "whole s",
        "window s",
        "CPU ms/sample",
        "ideal /s",
        "whole /s",
        "window /s",
        "evalkit/this whole",
        "evalkit/this window",
    )
    print_grid(header, table(results, args.n, args.latency_ms / 1000))
    for r in results:
        if r.error:
            print(f"{r.tool} {r.setting}: {r.error}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
