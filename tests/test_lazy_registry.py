"""Lazy registry entries: a run imports only what it uses, ``--list`` still shows everything, errors say what to
install."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import Dev, write_qa_run

from evalkit.cli import main
from evalkit.errors import ConfigError
from evalkit.registry import Registry, install_hint

REPO = Path(__file__).resolve().parents[1]
#: what no plain ``import evalkit.cli`` may import: every backend, dataset format and judge, and the heavy libraries
NOT_AT_IMPORT = (
    "scipy",
    "numpy",
    "evalkit.stats",
    "evalkit.judges.reliability",
    "pandas",
    "aiohttp",
    "torch",
    "sentence_transformers",
    "evalkit.leaderboard",
    "evalkit.judges.proxy",
    "evalkit.judges.captioning",
    "evalkit.judges.exact_match",
    "evalkit.models.openai_compat",
    "evalkit.models.hf_qwen_omni",
    "evalkit.models.vllm_offline",
    "evalkit.datasets.interleaved",
    "evalkit.datasets.generic",
)


def imported_after(code: str, cwd: Path = REPO) -> set[str]:
    """The modules ``sys.modules`` holds after running ``code`` in a fresh interpreter."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_cli_imports_no_backend_dataset_judge_or_heavy_library() -> None:
    mods = imported_after("import evalkit.cli")
    assert sorted(m for m in NOT_AT_IMPORT if m in mods) == []


def test_a_run_imports_its_backend_dataset_and_judge_only(tmp_path: Path, dev: Dev) -> None:
    write_qa_run(tmp_path, dev.base_url)
    code = "from evalkit.cli import main\nassert main(['--model', 'echo', '--dataset', 'qa', '--no-progress']) == 0"
    mods = imported_after(code, tmp_path)
    assert {"evalkit.datasets.generic", "evalkit.judges.exact_match", "evalkit.models.openai_compat"} <= mods
    others = ["evalkit.models.replay", "evalkit.models.hf_qwen_omni", "evalkit.models.cascade", "evalkit.judges.proxy"]
    assert [m for m in [*others, "evalkit.datasets.mmeb", "evalkit.leaderboard", "pandas", "torch"] if m in mods] == []


@pytest.mark.parametrize("kind", ["models", "datasets", "judges"])
def test_builtin_tables_name_what_each_module_registers(kind: str) -> None:
    """Every lazy entry's module registers that very object by decorator, and registers nothing else."""
    code = textwrap.dedent(
        f"""
        import importlib
        from evalkit.{kind} import BUILTIN
        from evalkit.{kind} import {kind.upper()} as REG
        for target in BUILTIN.values():
            importlib.import_module(target.split(":")[0])
        got = {{n: f"{{REG.get(n).__module__}}:{{REG.get(n).__qualname__}}" for n in REG.names()}}
        print(got == BUILTIN, sorted(set(got) ^ set(BUILTIN)), REG.loaded() == REG.names())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True [] True"


def test_list_shows_every_entry_with_judge_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list", "judges", "--config", str(REPO / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "  exact-match              accuracy: ``accuracy`` is 1 when" in out and "  caption-agreement " in out
    assert main(["--list", "models", "--config", str(REPO / "config.yaml")]) == 0
    backends = capsys.readouterr().out.splitlines()[-1]
    assert backends.startswith("backends: cascade, faster-whisper,") and "vllm-offline" in backends


class Thing:
    pass


def test_decorator_resolves_its_lazy_entry_and_other_duplicates_are_errors() -> None:
    reg: Registry[type] = Registry("model")
    reg.lazy("thing", f"{__name__}:Thing")
    assert "thing" in reg and reg.names() == ["thing"] and reg.loaded() == []
    reg.register("thing")(Thing)  # its own module registering it on import
    assert reg.get("thing") is Thing and reg.loaded() == ["thing"]
    with pytest.raises(ConfigError, match="'thing' is already registered"):
        reg.lazy("thing", "elsewhere:Other")
    with pytest.raises(ConfigError, match="'thing' is already registered"):
        reg.register("thing")(Registry)
    reg.lazy("other", "elsewhere:Other")
    with pytest.raises(ConfigError, match=r"'other' is already registered \(lazily, as elsewhere:Other\)"):
        reg.register("other")(Thing)
    with pytest.raises(ConfigError, match=r"not 'package\.module:attr'"):
        reg.lazy("bad", "no_colon")


def test_lazy_entry_resolves_by_attribute_and_misses_suggest_names() -> None:
    reg: Registry[type] = Registry("judge")
    reg.lazy("thing", f"{__name__}:Thing")
    assert reg.get("thing") is Thing
    with pytest.raises(ConfigError, match="unknown judge 'thang'; did you mean thing"):
        reg.get("thang")


def test_lazy_entry_whose_package_is_missing_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_jiwer.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'jiwer'\", name='jiwer')\n"  # as `import jiwer` would
    )
    (tmp_path / "needs_foo.py").write_text("import foo_not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[type] = Registry("judge")
    reg.lazy("wer", "needs_jiwer:WER")
    reg.lazy("foo", "needs_foo:Foo")
    reg.lazy("gone", "no_such_module_here:X")
    with pytest.raises(ConfigError) as err:
        reg.get("wer")
    assert str(err.value) == (
        "judge 'wer' needs package 'jiwer', which module needs_jiwer imports and is not installed: "
        "pip install 'evalkit[audio]'"
    )
    with pytest.raises(ConfigError, match=r"pip install foo_not_installed_anywhere$"):
        reg.get("foo")
    with pytest.raises(ConfigError, match=r"^judge 'gone': no module no_such_module_here \(lazy entry"):
        reg.get("gone")
    assert install_hint("torch.nn") == "pip install 'evalkit[embedded]'"


def test_misspelt_option_still_names_the_class_that_takes_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "config.yaml").write_text(
        "models:\n  m: {backend: replay, base_ulr: 'http://127.0.0.1:1/v1'}\n"
        "datasets:\n  qa: {class: qa, files: [qa.jsonl]}\n"
    )
    assert main(["--config", str(tmp_path / "config.yaml"), "--model", "m", "--dataset", "qa"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'base_ulr'" in err and "nearest valid key: 'base_url', an option of backend" in err
