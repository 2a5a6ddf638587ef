"""``python run.py serve --model M``: start (or print, with ``--dry-run``) the vLLM server a model entry needs.

The command line comes from the model's settings in :mod:`evalkit.models.catalog` (an entry's ``serve:``
mapping overrides them once the OpenAI backend's options carry one; an entry outside the catalog may give a
``serve_command`` that starts with ``vllm serve``). The server runs as a child process group, is polled until
``GET /v1/models`` answers, and is stopped on Ctrl-C or SIGTERM, so nothing outlives the command.

``--data-parallel-size N`` adds vLLM's own data parallelism (N engine copies behind the one port, each split over
the entry's ``tensor_parallel_size`` GPUs). An entry whose ``base_url`` lists replicas (separate servers) is
served at the first one's port unless ``--port`` says otherwise.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlparse

from evalkit.config import Config
from evalkit.errors import ConfigError, missing_extra
from evalkit.models.catalog import CATALOG, VLLMSettings

DEFAULT_PORT = 8000
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class ServePlan:
    """What ``serve`` will run for one model entry.

    Attributes:
        name: the model entry's name.
        argv: the command line, starting with ``vllm serve``.
        port: the port the server listens on.
        env: environment variables set for the server on top of the caller's.
        note: what the model needs beyond the vllm extra (gated weights, custom loader).
    """

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def base_url(self) -> str:
        """Where the server answers once it is up (probed on loopback)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command_text(self) -> str:
        """The command as one shell line."""
        return shlex.join(self.argv)


def _entry_options(cfg: Config, name: str) -> dict[str, Any]:
    if name in cfg.models:
        return dict(cfg.models[name].options)
    close = difflib.get_close_matches(name, list(cfg.models), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown model {name!r}{hint} (see: python run.py --list models)")


def _port_of(base_url: str) -> int:
    parsed = urlparse(base_url)
    return parsed.port or DEFAULT_PORT


def _with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with ``flag``'s value set to ``value`` (replaced where given, else appended)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == flag and i + 1 < len(out):
            out[i + 1] = value
            return out
        if arg.startswith(f"{flag}="):
            out[i] = f"{flag}={value}"
            return out
    return [*out, flag, value]


def _with_port(argv: list[str], port: int) -> list[str]:
    return _with_flag(argv, "--port", str(port))


def _first_url(value: Any) -> str:
    """The entry's ``base_url``, or the first of its replicas."""
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value or f"http://localhost:{DEFAULT_PORT}/v1")


def plan_serve(cfg: Config, name: str, port: int | None = None, data_parallel_size: int | None = None) -> ServePlan:
    """Build the ``vllm serve`` command for a model entry.

    Args:
        cfg: the loaded config.
        name: a ``models:`` entry.
        port: listen port; default: the port of the entry's ``base_url`` (8000 if it names none).
        data_parallel_size: vLLM's ``--data-parallel-size`` (engine copies behind the port); None: vLLM's default.

    Raises:
        ConfigError: the entry is unknown, is started by evalkit itself, or has no vLLM settings.
    """
    if data_parallel_size is not None and data_parallel_size < 1:
        raise ConfigError(f"--data-parallel-size must be at least 1; got {data_parallel_size}")
    plan = _plan(cfg, name, port)
    if data_parallel_size is None:
        return plan
    argv = _with_flag(plan.argv, "--data-parallel-size", str(data_parallel_size))
    return ServePlan(plan.name, argv, plan.port, plan.env, plan.note)


def _plan(cfg: Config, name: str, port: int | None) -> ServePlan:
    opts = _entry_options(cfg, name)
    base_url = _first_url(opts.get("base_url"))
    chosen = port if port is not None else _port_of(base_url)
    env = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0")}  # vLLM may need to fetch the weights
    if opts.get("embedded"):
        raise ConfigError(f"model {name!r} runs on an embedded server that evalkit starts by itself: nothing to serve")
    known = CATALOG.get(name)
    where = f"{cfg.path}: models.{name}.serve"
    if known is not None or isinstance(opts.get("serve"), dict):
        settings = known.settings if known is not None else VLLMSettings()
        settings = settings.with_overrides(dict(opts.get("serve") or {}), where)
        model = str(opts.get("model") or (known.model if known is not None else name))
        # a loopback base_url needs no more than loopback: the server is not exposed to the network
        host = "127.0.0.1" if (urlparse(base_url).hostname or "") in _LOCAL_HOSTS - {"0.0.0.0"} else ""
        argv = settings.serve_argv(model, chosen, host)
        return ServePlan(name, argv, chosen, env, known.note if known is not None else "")
    command = str(opts.get("serve_command") or "")
    argv = shlex.split(command)
    if argv[:2] == ["vllm", "serve"]:
        return ServePlan(name, _with_port(argv, chosen), chosen, env)
    host = urlparse(base_url).hostname or ""
    where_it_is = "" if host in _LOCAL_HOSTS else f" (it answers at {base_url})"
    raise ConfigError(
        f"model {name!r} has no vLLM serve settings{where_it_is}: add it to CATALOG in evalkit/models/catalog.py "
        f"or give its entry a serve_command that starts with 'vllm serve'"
    )


def vllm_launcher() -> list[str]:
    """The program that runs ``vllm``: this interpreter's own ``vllm`` script, one on PATH, or ``python -m``.

    Raises:
        ConfigError: vllm is not installed (names the extra).
    """
    beside = Path(sys.executable).parent / "vllm"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("vllm")
    if found:
        return [found]
    if importlib.util.find_spec("vllm") is not None:
        return [sys.executable, "-m", "vllm.entrypoints.cli.main"]
    raise missing_extra("vllm", "vllm")


def _answers(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_serve(
    plan: ServePlan,
    *,
    log_path: Path,
    startup_timeout_s: float = 1800.0,
    ready_file: Path | None = None,
    launcher: list[str] | None = None,
) -> int:
    """Start the server, wait until it answers, then stay in the foreground until Ctrl-C or SIGTERM.

    Args:
        plan: what to run.
        log_path: file that receives the server's output.
        startup_timeout_s: how long to wait for the first answer (weights may be downloading).
        ready_file: written with the base URL once the server answers (how ``run_eval.sh --serve`` waits).
        launcher: the program standing for ``vllm`` (default: :func:`vllm_launcher`).

    Returns:
        0 after a requested stop, 1 if the server exited by itself.

    Raises:
        ConfigError: vllm is missing, or the server exited or stayed silent during startup (quotes its log).
    """
    from evalkit.embedded.llama_server import LocalServer

    argv = [*(launcher or vllm_launcher()), *plan.argv[1:]]
    if _answers(f"{plan.base_url}/models"):
        print(f"a server already answers at {plan.base_url}; not starting another", flush=True)
        if ready_file is not None:
            ready_file.write_text(plan.base_url + "\n", encoding="utf-8")
        return 0
    server = LocalServer(argv, plan.base_url, startup_timeout_s=startup_timeout_s, log_path=log_path, env=plan.env)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"starting: {plan.command_text()}\nlog: {log_path}", flush=True)
        server.start()
        print(f"ready: {plan.name} at {plan.base_url} (Ctrl-C stops it)", flush=True)
        if ready_file is not None:
            ready_file.write_text(plan.base_url + "\n", encoding="utf-8")
        while server.running():
            time.sleep(0.5)
        print(f"error: the server exited by itself; last lines of {log_path}:\n{_tail(log_path)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stopping the {plan.name} server", flush=True)
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
