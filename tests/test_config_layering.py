"""Config layering: ``extends:`` chains and repeated ``--config``; paths resolved against the file that sets them;
``--list`` names where each entry came from; cycles and misspelt keys refused in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support import REPO, Dev

from evalkit.cli import main
from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.factory import build_dataset, build_model


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mcq_records(folder: Path) -> None:
    recs = [
        {"id": 1, "question": "Echo: which?", "options": ["Echo", "Other"], "answer": "A"},
        {"id": 2, "question": "Pick one", "options": ["x", "y"], "answer": "B"},
    ]
    write(folder / "q.jsonl", "".join(json.dumps(r) + "\n" for r in recs))


@pytest.fixture
def chain(tmp_path: Path) -> tuple[Path, Path, Path]:
    """base <- mid <- top, each in its own folder."""
    base = write(
        tmp_path / "base" / "base.yaml",
        """dataset_root: data
work_dir: out
plugins: [plug.py, json]
defaults: {model: m1, dataset: d1}
datasets:
  d1: {class: mcq, root: r1, files: [q.jsonl]}
models:
  m1: {backend: openai, model: old, concurrency: 3}
judges:
  j1: {class: exact-match}
  j2: {class: coherence-llm, few_shot: shots.yaml}
""",
    )
    mid = write(
        tmp_path / "mid" / "mid.yaml",
        """extends: ../base/base.yaml
defaults: {model: m2}
datasets:
  d2: {class: mcq, root: r2, files: [q.jsonl]}
models:
  m1: {backend: openai, model: new}
  m2: {backend: replay}
""",
    )
    top = write(
        tmp_path / "top" / "top.yaml",
        """extends: ../mid/mid.yaml
dataset_root: .
plugins: [plug.py]
datasets:
  d3: {class: mcq, root: r3, files: [q.jsonl]}
""",
    )
    for folder in (tmp_path / "base" / "data" / "r1", tmp_path / "mid" / "data" / "r2", tmp_path / "top" / "r3"):
        mcq_records(folder)
    return base, mid, top


def test_extends_chain_layers_entries_and_resolves_paths_per_file(chain: tuple[Path, Path, Path]) -> None:
    base, mid, top = chain
    cfg = load_config(top)
    assert cfg.layers == (base, mid, top) and cfg.path == top
    # entries: the last file that defines one wins, whole (base's concurrency does not leak into mid's m1)
    assert (cfg.models["m1"].options, cfg.models["m1"].source) == ({"model": "new"}, mid)
    assert sorted(cfg.models) == ["m1", "m2"] and cfg.judges["j1"].source == base
    assert cfg.defaults == {"model": "m2", "dataset": "d1"}
    # each dataset entry resolves against its own file's dataset_root (a file without one: data/ next to it)
    roots = {name: build_dataset(cfg, name).files()[0] for name in ("d1", "d2", "d3")}
    assert roots == {
        "d1": (base.parent / "data" / "r1" / "q.jsonl").resolve(),
        "d2": (mid.parent / "data" / "r2" / "q.jsonl").resolve(),
        "d3": (top.parent / "r3" / "q.jsonl").resolve(),
    }
    assert [len(build_dataset(cfg, n).load().samples) for n in roots] == [2, 2, 2]
    assert cfg.dataset_root == top.parent.resolve()  # the last file that sets it
    assert cfg.work_dir == base.parent / "out"
    # plugin files are absolute, each against its own file; module names stay names
    assert cfg.plugins == (str(base.parent / "plug.py"), "json", str(top.parent / "plug.py"))
    assert cfg.judges["j2"].options["few_shot"] == str(base.parent / "shots.yaml")  # a file option, like plugins
    assert cfg.public()["layers"] == [str(base), str(mid), str(top)]


def test_repeated_config_stacks_and_reads_a_shared_base_once(chain: tuple[Path, Path, Path], tmp_path: Path) -> None:
    base, mid, _ = chain
    other = write(tmp_path / "other.yaml", "extends: base/base.yaml\nmodels:\n  m2: {backend: openai, model: z}\n")
    cfg = load_config([mid, other])
    # base is read once, below mid: mid's m1 survives other's extends; other's m2 wins over mid's
    assert cfg.layers == (base, mid, other)
    assert cfg.models["m1"].options == {"model": "new"}
    assert (cfg.models["m2"].cls, cfg.models["m2"].source) == ("openai", other)


def test_user_file_over_the_shipped_config(tmp_path: Path) -> None:
    mcq_records(tmp_path / "mine")
    user = write(
        tmp_path / "my.yaml",
        f"""extends: {REPO / "config.yaml"}
dataset_root: .
datasets:
  my-mcq: {{class: mcq, root: mine, files: [q.jsonl]}}
models:
  my-model: {{backend: openai, base_url: "http://127.0.0.1:9/v1", model: x}}
""",
    )
    cfg = load_config(user)
    shipped = load_config(REPO / "config.yaml")
    assert set(shipped.datasets) < set(cfg.datasets) and set(shipped.models) < set(cfg.models)
    # the shipped entries still read the shipped data; the user's read the user's folder
    assert build_dataset(cfg, "interleaved").data_root == REPO / "data" / "interleaved_sample"
    assert build_dataset(cfg, "my-mcq").data_root == tmp_path / "mine"
    assert len(build_dataset(cfg, "my-mcq").load().samples) == 2
    assert cfg.datasets["interleaved"].source == REPO / "config.yaml" and cfg.models["my-model"].source == user


def test_errors_name_the_file_and_the_nearest_key(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    write(a, "extends: b.yaml\n")
    write(b, "extends: a.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_config(a)
    assert "\n" not in str(err.value)
    assert str(err.value) == f"config files extend each other in a cycle: {a} -> {b} -> {a}"
    write(a, "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(a)

    write(a, "extend: b.yaml\n")
    with pytest.raises(ConfigError, match=r"unknown key 'extend' \(did you mean 'extends'\?\)"):
        load_config(a)
    write(a, "include: b.yaml\n")
    with pytest.raises(ConfigError, match=r"unknown key 'include' \(did you mean 'extends'\? it layers"):
        load_config(a)
    write(a, "extends: missing.yaml\n")
    with pytest.raises(ConfigError) as err:
        load_config(a)
    assert str(err.value) == f"config file not found: {tmp_path / 'missing.yaml'} (extended by {a})"
    write(a, "extends: {x: 1}\n")
    with pytest.raises(ConfigError, match="'extends' must be a file path or a list of them"):
        load_config(a)

    # a bad option of an entry names the file that defined the entry, not the top file
    write(b, "models:\n  m: {backend: openai, modalitys: [image]}\n")
    write(a, "extends: b.yaml\ndatasets: {}\n")
    with pytest.raises(ConfigError) as err:
        build_model(load_config(a), "m")
    assert str(err.value).startswith(f"{b}: models.m") and "did you mean 'modalities'" in str(err.value)


def test_cli_repeated_config_runs_and_lists_sources(
    tmp_path: Path, dev: Dev, capsys: pytest.CaptureFixture[str]
) -> None:
    mcq_records(tmp_path / "mine")
    user = write(
        tmp_path / "my.yaml",
        f"""dataset_root: .
datasets:
  my-mcq: {{class: mcq, root: mine, files: [q.jsonl], prompt: "{{question}}"}}
models:
  my-echo: {{backend: openai, base_url: "{dev.base_url}", model: echo, max_retries: 0}}
""",
    )
    shipped = REPO / "config.yaml"
    assert main(["--config", str(shipped), "--config", str(user), "--list", "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("my-echo") and line.endswith(f"from {user}") for line in lines)
    assert any(line.startswith("smollm2-cpu") and line.endswith(f"from {shipped}") for line in lines)
    argv = ["--config", str(shipped), "--config", str(user), "--work-dir", str(tmp_path / "results")]
    assert main([*argv, "--model", "my-echo", "--dataset", "my-mcq", "--no-progress"]) == 0
    with (tmp_path / "results" / "my-echo" / "my-mcq" / "report.csv").open(encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["subset"] == "all" and r["metric"] == "accuracy")
    # options are not shown (prompt "{question}"): record 1's echo names option A's text, record 2's none
    assert (row["value"], row["n"], row["judge"]) == ("0.5", "2", "choice")
