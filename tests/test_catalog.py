"""The model table: every shipped entry builds, and the catalog's server flags and engine arguments agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import REPO

import evalkit.models.vllm_offline  # registers the vllm-offline backend
from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.factory import build_model
from evalkit.models.catalog import CATALOG, VLLMSettings, settings_for
from evalkit.models.openai_compat import OpenAIOptions

REQUIRED = (
    "Qwen2.5-Omni-3B",
    "Qwen2.5-Omni-7B",
    "Qwen3-Omni-30B-A3B-Instruct",
    "Qwen2-Audio-7B-Instruct",
    "Qwen2.5-VL-3B-Instruct",
    "Qwen2.5-VL-7B-Instruct",
    "gemma-3n-E2B-it",
    "gemma-3n-E4B-it",
    "Kimi-Audio-7B-Instruct",
    "gpt-4o-mini",
    "gpt-4o",
)


def test_every_shipped_model_entry_builds_without_network() -> None:
    cfg = load_config(REPO / "config.yaml")
    assert set(REQUIRED) <= set(cfg.models)
    for name in cfg.models:
        model = build_model(cfg, name)  # validates every key against the backend's Options
        assert model.name == name
    offline = build_model(cfg, "Qwen2.5-Omni-3B-offline")
    assert isinstance(offline, evalkit.models.vllm_offline.VLLMOfflineModel)
    assert offline.model_id == "Qwen/Qwen2.5-Omni-3B" and offline.settings == CATALOG["Qwen2.5-Omni-3B"].settings


def test_api_models_read_their_key_from_the_environment() -> None:
    cfg = load_config(REPO / "config.yaml")
    for name in ("gpt-4o-mini", "gpt-4o"):
        opts = build_model(cfg, name).options
        assert isinstance(opts, OpenAIOptions)
        assert opts.api_key_env == "OPENAI_API_KEY" and opts.base_url == "https://api.openai.com/v1"
        assert opts.model == name


def test_config_entries_and_catalog_name_the_same_model() -> None:
    cfg = load_config(REPO / "config.yaml")
    for name, entry in CATALOG.items():
        assert name in cfg.models, f"catalog model {name} has no config.yaml entry"
        opts = cfg.models[name].options
        assert opts["model"] == entry.model
        # the hint printed when nothing answers is the command that starts the server from the catalog
        assert opts["serve_command"] == f"python run.py serve --model {name}"


def _flags(argv: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else ""
            out[arg] = "" if nxt.startswith("--") or not nxt else nxt
    return out


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_serve_flags_and_engine_kwargs_say_the_same(name: str) -> None:
    entry = CATALOG[name]
    argv = entry.settings.serve_argv(entry.model, 8000)
    assert argv[:3] == ["vllm", "serve", entry.model]
    flags = _flags(argv)
    for key, value in entry.settings.engine_kwargs().items():
        flag = "--" + key.replace("_", "-")
        if key == "tensor_parallel_size" and value == 1:
            assert flag not in flags  # vLLM's default
        elif isinstance(value, bool):
            assert (flag in flags) == value
        elif isinstance(value, dict):
            assert json.loads(flags[flag]) == value
        else:
            assert type(value)(flags[flag]) == value, flag
    assert int(flags["--h11-max-incomplete-event-size"]) >= 16 * 1024 * 1024


def test_overrides_are_validated_like_any_config_keys() -> None:
    s = settings_for("Qwen2.5-Omni-3B", {"max_model_len": 8192, "gpu_memory_utilization": 1}, "x")
    assert s.max_model_len == 8192 and s.gpu_memory_utilization == 1.0
    assert s.limit_mm_per_prompt == {"image": 8, "audio": 8, "video": 4}  # kept from the preset
    assert CATALOG["Qwen2.5-Omni-3B"].settings.max_model_len == 32768  # the preset itself is untouched
    with pytest.raises(ConfigError, match="max_model_len"):
        settings_for("Qwen2.5-Omni-3B", {"max_model_lenght": 8192}, "x")
    with pytest.raises(ConfigError, match="expected int"):
        settings_for("", {"max_num_seqs": "many"}, "x")
    with pytest.raises(ConfigError, match=r"did you mean Qwen2\.5-Omni-3B"):
        settings_for("Qwen2.5-Omni-3b", {}, "x")
    assert settings_for("", {}, "x") == VLLMSettings()


def test_extra_args_and_tensor_parallel_reach_the_command() -> None:
    s = VLLMSettings(tensor_parallel_size=2, extra_args=("--enforce-eager",), allowed_local_media_path="/data")
    argv = s.serve_argv("m", 9000)
    assert argv[-1] == "--enforce-eager"
    assert _flags(argv)["--tensor-parallel-size"] == "2" and _flags(argv)["--allowed-local-media-path"] == "/data"
    assert s.engine_kwargs()["allowed_local_media_path"] == "/data"


def test_catalog_file_is_small() -> None:
    # a model is a few lines of table, not a copied file
    text = (REPO / "evalkit" / "models" / "catalog.py").read_text()
    assert len(text.splitlines()) < 250
    assert Path(evalkit.models.vllm_offline.__file__).name == "vllm_offline.py"
