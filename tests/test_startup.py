"""Fast start (issue 11, item 7): prediction keys keep their stored values; a text-only run imports no media stack.

The pinned values below were computed with the code as it was before start-up work touched hashing: every stored
prediction of an existing run must keep matching its sample, so these values may never change.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from support import Dev
from test_lazy_registry import imported_after, write_qa_run

from evalkit.mediaproc.budget import MediaBudget
from evalkit.mediaproc.image import ImageSettings
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.types import GenConfig, Part, Sample, stable_hash

#: (object, stable_hash(object), stable_hash(object, 32)): key order, unicode, line separators, quotes, floats,
#: big integers, tuples and non-JSON values (``default=str``)
PINNED = [
    ({"b": 1, "a": [1.5, None, True, "x"]}, "c016743a06a5783e", "c016743a06a5783ee05d99c61d252cf7"),
    (
        {"msg": [["text", 'Grüße, 世界 \u2028 "q"', ""]], "model": "abc", "prompt": "v1"},
        "17bea12d0d94b618",
        "17bea12d0d94b618b255266eccdfb7ac",
    ),
    ([Path("/x/y"), 3, {"z": {"k": (1, 2)}}], "57090b89789de660", "57090b89789de66015af17637777ec09"),
    ("plain", "945603a8f587786b", "945603a8f587786b463c3f94fce115c0"),
    (
        {"f": 1e-7, "g": 1e20, "h": -0.0, "i": 12345678901234567890},
        "12b4d9c190f4da72",
        "12b4d9c190f4da7280cf6d8f5dd10911",
    ),
]


@pytest.mark.parametrize(("obj", "short", "long"), PINNED)
def test_stable_hash_keeps_its_values(obj: object, short: str, long: str) -> None:
    assert (stable_hash(obj), stable_hash(obj, 32)) == (short, long)


def test_prediction_keys_keep_their_values(tmp_path: Path) -> None:
    text = OpenAICompatModel("m", OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="echo"), GenConfig())
    sample = Sample("q1", (Part("text", "What is 1 plus zero?"),))
    assert (text.prediction_key(sample, ""), text.prediction_key(sample, "v2")) == (
        "ea91b9b19a6aba25",
        "22111fa6f338ba62",
    )
    image = tmp_path / "a.png"
    image.write_bytes(b"not really a png, fixed bytes")  # keyed by content: the folder's name does not count
    opts = OpenAIOptions(
        base_url="http://127.0.0.1:9/v1",
        model="omni",
        modalities=("image",),
        system_prompt="Be brief.",
        media=MediaBudget(image=ImageSettings(max_pixels=200000, patch=28)),
    )
    media = OpenAICompatModel("m2", opts, GenConfig(max_tokens=64, temperature=0.7, seed=None))
    msg = (Part("image", str(image), tag="<image_1>"), Part("text", "Describe <image_1>."))
    sample = Sample("q2", (*msg, Part("audio", str(tmp_path / "gone.wav"))))
    assert media.prediction_key(sample, "p1") == "f4440618e0d71c76"


#: what a text-only run against an OpenAI-compatible endpoint never needs
NOT_IN_A_TEXT_RUN = ("numpy", "PIL", "evalkit.mediaproc.audio", "evalkit.mediaproc.image", "evalkit.mediaproc.video")


def test_a_text_only_run_imports_no_media_stack(tmp_path: Path, dev: Dev) -> None:
    """Up to its last prediction (``--mode infer``; the report's statistics use numpy after the requests)."""
    write_qa_run(tmp_path, dev.base_url)
    code = textwrap.dedent(
        """
        from evalkit.cli import main
        assert main(['--model', 'echo', '--dataset', 'qa', '--no-progress', '--mode', 'infer']) == 0
        """
    )
    mods = imported_after(code, tmp_path)
    assert "evalkit.models.openai_compat" in mods
    assert [m for m in NOT_IN_A_TEXT_RUN if m in mods] == []


def test_import_cli_imports_no_torchrun_launcher() -> None:
    mods = imported_after("import evalkit.cli")
    assert [m for m in ("torch", "evalkit.launch.torchrun") if m in mods] == []


def test_openai_options_with_a_media_budget_still_validate() -> None:
    """The budget's settings are checked as before, though no media module is imported to build them."""
    from evalkit.config import build_options
    from evalkit.errors import ConfigError

    opts = build_options(OpenAIOptions, {"media": {"image": {"max_pixels": 1003520, "patch": 28}}}, "models.x")
    assert opts.media == MediaBudget(image=ImageSettings(max_pixels=1003520, patch=28))
    with pytest.raises(ConfigError, match="patch must be >= 1"):
        build_options(OpenAIOptions, {"media": {"image": {"patch": 0}}}, "models.x")


@pytest.mark.parametrize(
    "obj",
    [
        {"b": float("nan"), "a": [float("inf"), -float("inf")], "c": {"z": 1, "y": [{"x": None}]}},
        {3: "int keys", 1: 0.1, 2: -0.0},
        "top-level string with \\u00e9 and \x00",
        [1, 2.5, True, None, ("t", Path("p"))],
        {"msg": [["text", "é", None], ["image", "0" * 64, "<image_1>"]], "model": "m" * 32, "prompt": ""},
    ],
)
def test_stable_hash_hashes_the_text_json_dumps_writes(obj: object) -> None:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    assert stable_hash(obj, 64) == hashlib.sha256(text.encode("utf-8")).hexdigest()
