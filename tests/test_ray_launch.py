"""--launcher ray on a local CPU Ray against the loopback dev server: the union of the actors' shards is a plain
run, a killed actor loses and duplicates nothing, a rerun makes no model call."""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support import Dev, code_record, start_dev, write_config, write_records

from evalkit.cli import main
from evalkit.embedded.llama_server import free_port
from evalkit.errors import ConfigError
from evalkit.job import JobSpec

ray = pytest.importorskip("ray")
from evalkit.launch import ray_launch  # noqa: E402  (after the skip: the module is Ray's launcher)

N = 48


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def slow_dev() -> Iterator[Dev]:
    server = start_dev("--latency", "0.1")  # a kill lands while requests are in flight
    try:
        yield Dev(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, slow_dev: Dev) -> tuple[Path, Path]:
    """A config over N text samples, and the work dir of a plain one-process run of it (the reference)."""
    root = tmp_path_factory.mktemp("ray")
    write_records(root / "data" / "a.jsonl", [code_record(i) for i in range(N)])
    cfg = write_config(root, slow_dev.base_url)
    plain = root / "plain"
    assert main(["--config", str(cfg), "--no-progress", "--no-reliability", "--work-dir", str(plain)]) == 0
    return cfg, plain


def run_ray(cfg: Path, work: Path, *flags: str) -> int:
    base = ["--config", str(cfg), "--no-progress", "--no-reliability", "--work-dir", str(work)]
    return main([*base, "--launcher", "ray", *flags])


def predictions(work: Path) -> list[dict[str, Any]]:
    path = work / "echo" / "ds" / "predictions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def answers(work: Path) -> dict[str, tuple[str, str]]:
    return {r["sample_id"]: (r["key"], r["text"]) for r in predictions(work) if not r["error"]}


def report(work: Path) -> list[dict[str, str]]:
    with (work / "echo" / "ds" / "report.csv").open() as f:
        return list(csv.DictReader(f))


def test_union_of_the_actors_is_a_plain_run(local_ray: None, project: tuple[Path, Path], tmp_path: Path) -> None:
    cfg, plain = project
    assert run_ray(cfg, tmp_path, "--workers", "2") == 0
    recs = predictions(tmp_path)
    assert len(recs) == N and len({r["sample_id"] for r in recs}) == N
    assert answers(tmp_path) == answers(plain) and len(answers(plain)) == N
    assert report(tmp_path) == report(plain)


def test_a_killed_actor_loses_and_duplicates_nothing_and_a_rerun_calls_nothing(
    local_ray: None, project: tuple[Path, Path], tmp_path: Path, slow_dev: Dev, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, plain = project
    killed: list[int] = []

    def kill_first_actor(alive: list[Any], stored: int) -> None:
        if not killed and stored >= 8 and len(alive) == 2:
            ray.kill(alive[0], no_restart=True)
            killed.append(stored)

    monkeypatch.setattr(ray_launch, "after_store", kill_first_actor)
    before = slow_dev.requests("echo")
    assert run_ray(cfg, tmp_path, "--workers", "2") == 0
    assert killed, "the test hook never killed an actor"
    # the dead actor's requests in flight reached the server and were sent again by a survivor
    assert slow_dev.requests("echo") - before > N
    counts = Counter(r["sample_id"] for r in predictions(tmp_path))
    assert len(counts) == N and set(counts.values()) == {1}
    assert answers(tmp_path) == answers(plain)
    assert report(tmp_path) == report(plain)

    monkeypatch.setattr(ray_launch, "after_store", None)
    before = slow_dev.requests("echo")
    assert run_ray(cfg, tmp_path, "--workers", "2") == 0
    assert slow_dev.requests("echo") == before
    assert len(predictions(tmp_path)) == N


def test_samples_of_an_actor_dead_too_often_are_stored_failed_then_redone(
    local_ray: None, project: tuple[Path, Path], tmp_path: Path, slow_dev: Dev, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, plain = project
    killed: list[int] = []

    def kill_once(alive: list[Any], stored: int) -> None:
        if not killed and stored >= 4:
            ray.kill(alive[0], no_restart=True)
            killed.append(stored)

    monkeypatch.setattr(ray_launch, "MAX_ATTEMPTS", 1)
    monkeypatch.setattr(ray_launch, "after_store", kill_once)
    assert run_ray(cfg, tmp_path, "--workers", "2", "--skip-eval") == 0
    recs = predictions(tmp_path)
    failed = [r for r in recs if r["error"]]
    assert killed and failed and len(recs) == N == len({r["sample_id"] for r in recs})
    assert all(r["error"].startswith("ActorDiedError: ") and r["text"] == "" for r in failed)

    monkeypatch.setattr(ray_launch, "after_store", None)
    before = slow_dev.requests("echo")
    assert run_ray(cfg, tmp_path, "--workers", "2") == 0
    assert slow_dev.requests("echo") - before == len(failed)  # only the failed ones are asked again
    assert answers(tmp_path) == answers(plain)
    assert report(tmp_path) == report(plain)


def test_without_ray_the_launcher_says_which_extra_to_install(
    project: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = project
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    assert run_ray(cfg, tmp_path, "--skip-eval") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: --launcher ray needs Ray: pip install 'evalkit[ray]'"
    assert not (tmp_path / "echo" / "ds" / "predictions.jsonl").exists()


class FakeCluster:
    def __init__(self, **resources: float) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict[str, float]:
        return self.resources


def server_model(urls: tuple[str, ...] = ("http://127.0.0.1:8000/v1",)) -> Any:
    return SimpleNamespace(options=SimpleNamespace(urls=urls, api_key_env=""))


def vllm_model(tp: int) -> Any:
    return SimpleNamespace(options=SimpleNamespace(), settings=SimpleNamespace(tensor_parallel_size=tp))


@pytest.mark.parametrize(
    ("resources", "model", "workers", "want"),
    [
        ({"CPU": 2}, server_model(), 0, (2, 0)),  # CPU-only: one per core ...
        ({"CPU": 64}, server_model(), 0, (4, 0)),  # ... at most 4
        ({"CPU": 64, "GPU": 8}, server_model(), 0, (8, 0)),  # one per GPU; a server backend takes none
        ({"CPU": 64, "GPU": 8}, server_model(("a", "b", "c")), 0, (3, 0)),  # one per endpoint replica
        ({"CPU": 64, "GPU": 8}, vllm_model(2), 0, (4, 2)),  # tensor parallel: 2 GPUs per actor
        ({"CPU": 2}, server_model(), 3, (3, 0)),  # --workers wins
    ],
)
def test_actor_count_and_resources(
    resources: dict[str, float], model: Any, workers: int, want: tuple[int, int]
) -> None:
    n, options = ray_launch._plan(FakeCluster(**resources), model, JobSpec("m", "d", workers=workers), 1000)
    assert (n, options["num_gpus"]) == want
    assert options["max_restarts"] == 0 and options["num_cpus"] <= 1


def test_more_gpu_actors_than_gpus_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"--workers 5 x 2 GPU\(s\) per actor, but the Ray cluster has 8 GPU"):
        ray_launch._plan(FakeCluster(CPU=8, GPU=8), vllm_model(2), JobSpec("m", "d", workers=5), 100)


def test_the_work_of_the_only_actor_goes_to_a_replacement(
    local_ray: None, project: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, plain = project
    killed: list[Any] = []

    def kill_the_only_actor(alive: list[Any], stored: int) -> None:
        if not killed and stored >= 4:
            ray.kill(alive[0], no_restart=True)
            killed.append(alive[0])

    monkeypatch.setattr(ray_launch, "after_store", kill_the_only_actor)
    assert run_ray(cfg, tmp_path, "--workers", "1", "--skip-eval") == 0
    assert len(killed) == 1
    counts = Counter(r["sample_id"] for r in predictions(tmp_path))
    assert len(counts) == N and set(counts.values()) == {1}
    assert answers(tmp_path) == answers(plain)


def test_an_address_where_nothing_listens_fails_in_seconds_with_one_line(
    project: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = project
    port = free_port()  # nothing listens on it
    t0 = time.monotonic()
    assert run_ray(cfg, tmp_path, "--skip-eval", "--ray-address", f"127.0.0.1:{port}") == 2
    assert time.monotonic() - t0 < 20
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: --ray-address 127.0.0.1:{port}: nothing answers there (")
    assert err.endswith("`ray start --head` on that node, or leave out --ray-address for a local Ray")


def test_a_model_that_cannot_start_on_an_actor_stops_the_run_with_one_line(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_records(tmp_path / "data" / "a.jsonl", [code_record(i) for i in range(4)])
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    cfg = write_config(tmp_path, dead)
    assert run_ray(cfg, tmp_path / "work", "--workers", "2", "--skip-eval") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: a Ray actor could not start model echo: model echo: nothing answers at {dead}")
    assert predictions_or_none(tmp_path / "work") in (None, [])


def predictions_or_none(work: Path) -> list[dict[str, Any]] | None:
    return predictions(work) if (work / "echo" / "ds" / "predictions.jsonl").exists() else None


def test_ray_finishes_a_partial_plain_run_without_redoing_any_of_it(
    local_ray: None, project: tuple[Path, Path], tmp_path: Path, slow_dev: Dev
) -> None:
    cfg, plain = project
    base = ["--config", str(cfg), "--no-progress", "--work-dir", str(tmp_path), "--skip-eval"]
    assert main([*base, "--limit", "20"]) == 0
    before = slow_dev.requests("echo")
    assert run_ray(cfg, tmp_path, "--workers", "2", "--skip-eval") == 0
    assert slow_dev.requests("echo") - before == N - 20
    counts = Counter(r["sample_id"] for r in predictions(tmp_path))
    assert len(counts) == N and set(counts.values()) == {1}
    assert answers(tmp_path) == answers(plain)
