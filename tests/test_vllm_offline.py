"""The vllm-offline backend without vllm: message conversion, batching, per-sample failures, the missing extra.

The engine is a test double passed through the constructor (the real one wraps ``vllm.LLM``, which needs CUDA);
everything around it — the batcher, the conversation building, the error isolation — is the real code.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from support import REPO, code_record, write_records

from evalkit.cli import main
from evalkit.errors import ConfigError
from evalkit.models.batching import MicroBatcher
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.models.vllm_offline import EngineResult, VLLMOfflineModel, VLLMOfflineOptions
from evalkit.types import GenConfig, Part, Sample

SAMPLE = REPO / "data" / "interleaved_sample" / "general_area" / "education"
IMAGE = SAMPLE / "document" / "doc_0301_01.png"
AUDIO = SAMPLE / "audio" / "aud_0301_01.wav"
HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def _text(conv: list[dict[str, Any]]) -> str:
    content = conv[-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


class FakeEngine:
    """Answers each conversation with its own text; fails any batch holding a conversation that says 'boom'."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.gens: list[GenConfig] = []
        self.delay_s = delay_s
        self.closed = False

    def generate(self, conversations: list[list[dict[str, Any]]], gen: GenConfig) -> list[EngineResult]:
        texts = [_text(c) for c in conversations]
        self.batches.append(texts)
        self.gens.append(gen)
        if self.delay_s:
            import time

            time.sleep(self.delay_s)
        if any("boom" in t for t in texts):
            raise ValueError("boom: the engine rejected a prompt")
        return [EngineResult(f"answer to {t}", "stop", len(t), 3) for t in texts]

    def close(self) -> None:
        self.closed = True


def _model(fake: FakeEngine | None = None, **opts: Any) -> VLLMOfflineModel:
    options = VLLMOfflineOptions(preset="Qwen2.5-Omni-3B", **opts)
    return VLLMOfflineModel("omni-offline", options, GenConfig(max_tokens=7), engine=fake)


def test_conversation_is_the_openai_servers_content_with_media_notes() -> None:
    msg = (
        Part("text", "Look at "),
        Part("image", str(IMAGE), "image1"),
        Part("text", " and hear "),
        Part("audio", str(AUDIO), "audio1"),
        Part("code", "print(1)", "code1"),
    )
    offline = _model(modalities=("image",), system_prompt="Be brief.")
    server = OpenAICompatModel("s", OpenAIOptions(modalities=("image",), system_prompt="Be brief."))
    req = offline.build_request(msg)
    body, logged, conv = server.build_request(msg)
    handling = conv.handling
    assert req.conversation == body["messages"]  # one adapter for both backends
    assert req.logged == logged["messages"] and req.handling == handling
    parts = req.conversation[1]["content"]
    assert req.conversation[0] == {"role": "system", "content": "Be brief."}
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "<audio1> [audio not shown" in parts[2]["text"] and "print(1)" in parts[2]["text"]
    assert req.handling == {"image1": "sent as data_url", "audio1": "dropped: model does not read audio"}
    assert req.logged[1]["content"][1] == {"type": "image", "path": str(IMAGE)}  # no base64 in stored prompts
    assert _model().build_request((Part("text", "hi"),)).conversation == [{"role": "user", "content": "hi"}]


def test_concurrent_requests_are_batched_and_answers_go_back_to_their_senders() -> None:
    engine = FakeEngine(delay_s=0.05)
    model = _model(engine, batch_size=4, batch_wait_s=0.2)

    async def go() -> list[Any]:
        await model.start()
        samples = [Sample(str(i), (Part("text", f"q{i}"),)) for i in range(10)]
        preds = await asyncio.gather(*(model.predict(s, f"k{s.id}") for s in samples))
        await model.close()
        return preds

    preds = asyncio.run(go())
    assert [p.text for p in preds] == [f"answer to q{i}" for i in range(10)]
    assert [len(b) for b in engine.batches] == [4, 4, 2]
    assert sorted(t for b in engine.batches for t in b) == sorted(f"q{i}" for i in range(10))
    assert engine.gens[0].max_tokens == 7
    assert preds[3].meta["usage"] == {"prompt_tokens": 2, "completion_tokens": 3}
    assert preds[3].prompt["messages"] == [{"role": "user", "content": "q3"}]
    assert not engine.closed  # an injected engine belongs to the caller


def test_a_failing_prompt_fails_its_sample_only() -> None:
    engine = FakeEngine()
    model = _model(engine, batch_size=8, batch_wait_s=0.2)
    texts = ["a", "boom", "c", "d"]

    async def go() -> list[Any]:
        await model.start()
        preds = await asyncio.gather(*(model.predict(Sample(t, (Part("text", t),)), t) for t in texts))
        await model.close()
        return preds

    preds = asyncio.run(go())
    assert [p.error for p in preds] == ["", "ValueError: boom: the engine rejected a prompt", "", ""]
    assert [p.text for p in preds] == ["answer to a", "", "answer to c", "answer to d"]
    # the whole batch once, then each request alone to find the culprit
    assert engine.batches == [texts, ["a"], ["boom"], ["c"], ["d"]]


def test_batch_size_defaults_to_the_engines_max_num_seqs_and_waits_are_bounded() -> None:
    assert _model(FakeEngine()).batcher.max_size == 32
    assert _model(FakeEngine(), engine={"max_num_seqs": 4}).batcher.max_size == 4

    seen: list[list[int]] = []

    async def run(items: list[int]) -> list[int | BaseException]:
        seen.append(items)
        return [i * 2 for i in items]

    async def go() -> list[int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(run, max_size=100, max_wait_s=0.05)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        one = await batcher.submit(21)  # alone: waits max_wait_s, not for a full batch
        assert loop.time() - t0 < 1.0
        more = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        await batcher.close()
        return [one, *more]

    assert asyncio.run(go()) == [42, 0, 2, 4, 6, 8]
    assert seen == [[21], [0, 1, 2, 3, 4]]


def test_engine_settings_are_in_the_prediction_key_and_batching_is_not() -> None:
    sample = Sample("s", (Part("text", "x"),))
    key = _model(FakeEngine()).prediction_key(sample, "v1")
    assert _model(FakeEngine(), batch_size=3, concurrency=5).prediction_key(sample, "v1") == key
    assert _model(FakeEngine(), engine={"max_model_len": 8192}).prediction_key(sample, "v1") != key
    assert _model(FakeEngine(), model="Qwen/Qwen2.5-Omni-7B").prediction_key(sample, "v1") != key


def test_file_url_transport_needs_an_allowed_media_folder() -> None:
    with pytest.raises(ConfigError, match="allowed_local_media_path"):
        _model(FakeEngine(), media_transport="file_url")
    model = _model(
        FakeEngine(),
        modalities=("image",),
        media_transport="file_url",
        engine={"allowed_local_media_path": str(REPO)},
    )
    parts = model.build_request((Part("image", str(IMAGE), "image1"),)).conversation[0]["content"]
    assert parts[1]["image_url"]["url"] == IMAGE.resolve().as_uri()


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed here: the missing-extra message cannot show")
def test_missing_vllm_is_one_line_naming_the_extra(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[vllm\]'"):
        asyncio.run(_model().start())
    write_records(tmp_path / "data" / "code_test.jsonl", [code_record(1)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "dataset_root: data\nwork_dir: results\n"
        "datasets:\n  ds: {class: interleaved, files: ['*.jsonl'], judge: exact-match}\n"
        "models:\n  omni: {backend: vllm-offline, preset: Qwen2.5-Omni-3B}\n"
    )
    rc = main(["--config", str(cfg), "--plugin", "evalkit.models.vllm_offline", "--model", "omni", "--dataset", "ds"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err == "error: 'vllm' is not installed: install the extra with  pip install -e '.[vllm]'"
