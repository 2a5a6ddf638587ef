"""The openai-embed backend against the devserver's /v1/embeddings (deterministic, known vectors)."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support import REPO, Dev, start_dev

from evalkit.devserver import dev_embedding
from evalkit.embedded.llama_server import free_port
from evalkit.errors import ConfigError, ModelError
from evalkit.models.embedding import UnsupportedInput, retrieval_msg
from evalkit.models.openai_compat import RetryableError
from evalkit.models.openai_embed import OpenAIEmbedding, OpenAIEmbedOptions
from evalkit.types import Part

DOCS = [
    "The Eiffel Tower was finished in 1889.",
    "Bees dance to point at flowers.",
    "The Pacific is the largest ocean.",
    "Plants turn light into sugar.",
    "A marathon is 42.195 km long.",
]


@pytest.fixture
def flaky() -> Iterator[Dev]:
    server = start_dev("--fail-first", "2")
    try:
        yield Dev(server)
    finally:
        server.stop()


def model(base_url: str, **kw: object) -> OpenAIEmbedding:
    opts = {"base_url": base_url, "model": "dev-embed", "backoff_s": 0.01, "max_retries": 1, **kw}
    return OpenAIEmbedding("emb", OpenAIEmbedOptions(**opts))  # type: ignore[arg-type]


def text_msg(query: str, docs: list[str]) -> tuple[Part, ...]:
    return retrieval_msg([Part("text", query)], [(f"d{i}", [Part("text", d)]) for i, d in enumerate(docs)])


def png(path: Path, rgb: tuple[int, int, int]) -> Path:
    from PIL import Image

    Image.new("RGB", (5, 4), rgb).save(path)
    return path


def test_text_ranking_equals_the_ranking_by_the_servers_vectors(dev: Dev) -> None:
    m = model(dev.base_url, batch_size=2)
    query = "Which ocean is the biggest?"
    gen = asyncio.run(m.generate_inner(text_msg(query, DOCS)))
    q = dev_embedding(query.encode())
    expected = np.array([dev_embedding(d.encode()) @ q for d in DOCS])
    order = np.argsort(-expected, kind="stable")
    assert gen.meta["ranking"] == [f"d{i}" for i in order]
    assert gen.meta["scores"] == pytest.approx(expected[order].tolist(), abs=1e-6)
    assert gen.meta["dim"] == 64
    assert dev.requests("dev-embed") == 1 + 3  # the query, then 5 candidates in batches of 2
    # the candidates are cached: a second query sends one request
    asyncio.run(m.generate_inner(text_msg("How long is a marathon?", DOCS)))
    assert dev.requests("dev-embed") == 5


def test_prefixes_reach_the_server(dev: Dev) -> None:
    m = model(dev.base_url, query_prefix="query: ", target_prefix="passage: ", normalize=False)
    vecs = m.encode([(Part("text", "hello"),)], "query")
    assert vecs[0] == pytest.approx(dev_embedding(b"query: hello"), abs=1e-6)


def test_images_go_as_data_urls_one_request_each(dev: Dev, tmp_path: Path) -> None:
    red, blue = png(tmp_path / "red.png", (250, 0, 0)), png(tmp_path / "blue.png", (0, 0, 250))
    m = model(dev.base_url, modalities=["text", "image"])
    items = [
        (Part("image", str(red)), Part("text", "Represent the given image.")),
        (Part("image", str(blue)),),
        (Part("text", "a red square"),),
        (Part("text", "a blue square"),),
    ]
    bodies = m.request_bodies(items)
    assert [idx for idx, _ in bodies] == [[0], [1], [2, 3]]
    content = bodies[0][1]["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url", "text"]
    head, _, payload = content[0]["image_url"]["url"].partition(",")
    assert head == "data:image/png;base64" and base64.b64decode(payload) == red.read_bytes()
    assert "input" not in bodies[0][1] and bodies[2][1]["input"] == ["a red square", "a blue square"]

    vecs = m.encode(items, "target")  # normalised
    want0 = dev_embedding(red.read_bytes()) + dev_embedding(b"Represent the given image.")
    assert vecs[0] == pytest.approx(want0 / np.linalg.norm(want0), abs=1e-6)
    assert vecs[1] == pytest.approx(dev_embedding(blue.read_bytes()), abs=1e-6)
    assert vecs[3] == pytest.approx(dev_embedding(b"a blue square"), abs=1e-6)
    assert dev.requests("dev-embed") == 3


def test_an_image_fails_a_text_only_entry_without_a_request(dev: Dev, tmp_path: Path) -> None:
    m = model(dev.base_url)  # modalities: text
    msg = retrieval_msg([Part("image", str(png(tmp_path / "x.png", (1, 2, 3))))], [("a", [Part("text", "a")])])
    with pytest.raises(UnsupportedInput, match="reads text only; the query has an image part"):
        asyncio.run(m.generate_inner(msg))
    assert dev.requests() == 0


def test_retries_injected_503s_then_gives_up(flaky: Dev) -> None:
    m = model(flaky.base_url, max_retries=2)
    vecs = m.encode([(Part("text", "x"),)], "query")
    assert vecs[0] == pytest.approx(dev_embedding(b"x"), abs=1e-6)
    assert flaky.requests() == 3 and m.requests_sent == 3


def test_gives_up_after_max_retries(flaky: Dev) -> None:
    m = model(flaky.base_url, max_retries=1)
    with pytest.raises(RetryableError, match="gave up after 2 attempts: HTTP 503"):
        m.encode([(Part("text", "x"),)], "query")
    assert flaky.requests() == 2


def test_a_bad_request_fails_at_once_with_the_servers_message(dev: Dev) -> None:
    m = model(dev.base_url, max_retries=3)
    with pytest.raises(ModelError, match=r"HTTP 400 .*non-empty list"):
        asyncio.run(m._send_all([{"model": "dev-embed", "input": []}]))
    remote = {"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}
    with pytest.raises(ModelError, match="only data: URLs"):
        asyncio.run(m._send_all([{"model": "dev-embed", "messages": [{"role": "user", "content": [remote]}]}]))
    assert dev.requests() == 2


def test_nothing_answering_names_the_serve_command() -> None:
    m = model(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(ModelError, match=r"nothing answers at .* Start it with: python run.py serve --model emb$"):
        asyncio.run(m.start())
    with pytest.raises(ModelError, match=r"python run\.py serve --model emb"):
        m.encode([(Part("text", "x"),)], "query")


def test_api_key_from_env_and_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMB_KEY", "sk-test")
    assert model("http://x/v1", api_key_env="EMB_KEY")._headers() == {"Authorization": "Bearer sk-test"}
    assert model("http://x/v1")._headers() == {"Authorization": "Bearer EMPTY"}
    with pytest.raises(ConfigError, match="'video' is not supported"):
        model("http://x/v1", modalities=["video"])
    assert model("http://x/v1", modalities=["image"]).modalities == frozenset({"text", "image"})
    assert OpenAIEmbedding.modalities == frozenset({"text"})  # the class default is untouched


def test_end_to_end_mmeb_on_the_bundled_sample(dev: Dev, tmp_path: Path) -> None:
    from evalkit.cli import main
    from evalkit.datasets.mmeb import MMEBDataset, MMEBOptions
    from evalkit.models.embedding import item_text, split_retrieval_msg

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: {REPO / "data"}
work_dir: results
plugins: [evalkit.models.openai_embed, evalkit.datasets.mmeb, evalkit.judges.retrieval]
datasets:
  text-ret: {{class: mmeb, root: retrieval_sample, file: text_queries.jsonl, corpus: text_corpus.jsonl}}
models:
  emb: {{backend: openai-embed, base_url: "{dev.base_url}", model: dev-embed, batch_size: 8, backoff_s: 0.01}}
judges:
  retrieval: {{class: retrieval}}
""",
        encoding="utf-8",
    )
    argv = ["--config", str(cfg), "--model", "emb", "--dataset", "text-ret", "--no-progress"]
    assert main(argv) == 0
    run_dir = tmp_path / "results" / "emb" / "text-ret"
    with (run_dir / "report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    hit1 = rows[("all", "hit@1")]
    assert hit1["n"] == "12" and hit1["n_failed"] == "0" and hit1["judge"] == "retrieval"
    # every stored ranking is the ranking by the devserver's vectors
    opts = MMEBOptions(root="retrieval_sample", file="text_queries.jsonl", corpus="text_corpus.jsonl")
    samples = MMEBDataset("t", opts, REPO / "data").load().samples
    preds = {p["sample_id"]: p for p in map(json.loads, (run_dir / "predictions.jsonl").read_text().splitlines())}
    assert len(preds) == 12
    for s in samples:
        query, cands = split_retrieval_msg(s.msg)
        q = dev_embedding(item_text(query).encode())
        sims = np.array([dev_embedding(item_text(c).encode()) @ q for _, c in cands])
        assert preds[s.id]["meta"]["ranking"] == [cands[i][0] for i in np.argsort(-sims, kind="stable")]
    requests = dev.requests("dev-embed")
    assert requests == 12 + 4  # 12 queries; the 30-document corpus once, in batches of 8
    assert main(argv) == 0 and dev.requests("dev-embed") == requests  # a rerun sends nothing


def test_run_py_serve_plans_a_pooling_server(tmp_path: Path) -> None:
    from evalkit.config import load_config
    from evalkit.serve import plan_serve

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        """
plugins: [evalkit.models.openai_embed]
models:
  VLM2Vec-Full:
    backend: openai-embed
    base_url: http://localhost:8011/v1
    model: TIGER-Lab/VLM2Vec-Full
    modalities: [text, image]
    serve: {trust_remote_code: true, max_model_len: 4096, limit_mm_per_prompt: {image: 1},
            extra_args: [--runner, pooling, --chat-template, template_vlm2vec_phi3v.jinja]}
""",
        encoding="utf-8",
    )
    argv = plan_serve(load_config(cfg), "VLM2Vec-Full").argv
    assert argv[:3] == ["vllm", "serve", "TIGER-Lab/VLM2Vec-Full"] and "--trust-remote-code" in argv
    assert argv[argv.index("--port") + 1] == "8011" and argv[-4:-2] == ["--runner", "pooling"]
