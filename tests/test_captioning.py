"""Captioning metrics against pycocoevalcap 1.2 (to 1e-9), unavailable metrics, FENSE arithmetic, end to end."""

from __future__ import annotations

import asyncio
import csv
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
from support import REPO, Dev

import evalkit.datasets.audio_caption
import evalkit.judges.captioning as cap
from evalkit.cli import main
from evalkit.judges.base import JudgeContext
from evalkit.judges.cider import cider_d
from evalkit.report import Outcome, outcomes, report_rows
from evalkit.types import Part, Prediction, Sample

assert evalkit.datasets.audio_caption  # registers audio-caption for the end-to-end test
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
TOL = 1e-9

# tokenised candidates and five references each: identical to a reference, empty, repeated words, no overlap
EDGE = [
    ("a dog barks loudly", ["a dog barks loudly", "a dog is barking", "loud barking of a dog", "a dog barks", "dog"]),
    ("", ["rain falls on a roof", "heavy rain", "rain is falling hard", "water drops on metal", "rain on a tin roof"]),
    ("rain rain rain rain rain", ["rain falls", "it is raining", "rain rain", "steady rain on leaves", "light rain"]),
    ("the the the", ["a man speaks", "the man talks", "a person is talking", "someone speaks", "a voice"]),
    ("birds chirp in the morning", ["birds chirp", "birds sing in the morning", "chirping birds", "a bird", "birds"]),
    ("a car passes by on a wet road", ["a car drives by", "a car passes on a wet road", "traffic", "a car", "cars go"]),
    ("zebra xylophone quantum", ["a bell rings", "a bell", "ringing bell", "a church bell rings", "bells ring loudly"]),
]


def coco(cands: list[str], refs: list[list[str]]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    return {i: list(r) for i, r in enumerate(refs)}, {i: [c] for i, c in enumerate(cands)}


def random_corpus(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]

    def sentence(lo: int = 0) -> str:
        return " ".join(rng.choice(words[: rng.choice([8, 60])]) for _ in range(rng.randint(lo, 14)))

    refs = [[sentence(1) for _ in range(rng.randint(1, 7))] for _ in range(n)]
    cands = [sentence() if i % 5 else rng.choice(refs[i]) for i in range(n)]
    return cands, refs


def test_cider_d_equals_pycocoevalcap_on_edge_cases() -> None:
    cands, refs = [c for c, _ in EDGE], [r for _, r in EDGE]
    ours = cider_d(cands, refs)
    score, per = Cider().compute_score(*coco(cands, refs))
    assert abs(ours.score - score) < TOL
    assert np.abs(ours.per_sample - per).max() < TOL
    assert ours.per_sample[1] == 0.0 and ours.per_sample[0] > 1.0  # empty scores 0, identical scores high


def test_cider_d_equals_pycocoevalcap_on_a_random_corpus() -> None:
    cands, refs = random_corpus(300, seed=7)
    ours = cider_d(cands, refs)
    score, per = Cider().compute_score(*coco(cands, refs))
    assert abs(ours.score - score) < TOL and np.abs(ours.per_sample - per).max() < TOL
    assert abs(ours.score - float(np.mean(ours.per_sample))) < TOL  # the corpus value is the mean


def test_cider_d_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="reference lists"):
        cider_d(["a"], [])
    with pytest.raises(ValueError, match="at least one reference"):
        cider_d(["a"], [[]])


def test_bleu_per_sample_and_corpus_equal_pycocoevalcap() -> None:
    cands, refs = random_corpus(120, seed=3)
    cands[: len(EDGE)] = [c for c, _ in EDGE]
    refs[: len(EDGE)] = [r for _, r in EDGE]
    per, counts = cap.bleu(cands, refs)
    corpus, ref_per = Bleu(4).compute_score(*coco(cands, refs), verbose=0)
    for k in range(4):
        assert np.abs(np.array(per[k]) - np.array(ref_per[k])).max() < TOL
    ours = cap.corpus_bleu(counts)
    assert np.abs(np.array(ours) - np.array(corpus)).max() < TOL
    assert abs(ours[3] - float(np.mean(per[3]))) > 1e-3  # corpus BLEU is not the mean of sentence BLEU
    # a group's summary is the corpus BLEU of that group alone
    sub = list(range(0, 120, 3))
    sub_corpus, _ = Bleu(4).compute_score(*coco([cands[i] for i in sub], [refs[i] for i in sub]), verbose=0)
    assert np.abs(np.array(cap.corpus_bleu([counts[i] for i in sub])) - np.array(sub_corpus)).max() < TOL


def test_rouge_l_equals_pycocoevalcap() -> None:
    cands, refs = random_corpus(80, seed=5)
    cands[: len(EDGE)] = [c for c, _ in EDGE]
    refs[: len(EDGE)] = [r for _, r in EDGE]
    _, ref_per = Rouge().compute_score(*coco(cands, refs))
    assert np.abs(np.array(cap.rouge_l(cands, refs)) - ref_per).max() < TOL


RAW = [
    "A dog barks, loudly!",
    "The cat's toy (a ball) squeaks...",
    "",
    'Don\'t stop -- mid-range noise; "quoted" word',
    "café — naïve",
    "two\nlines",
    "Rain: falls, on a roof?",
]


@needs_java
def test_ptb_tokenize_equals_pycocoevalcap_ptbtokenizer() -> None:
    expected = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(RAW)})
    assert cap.ptb_tokenize(RAW) == [expected[i][0] for i in range(len(RAW))]


@needs_java
def test_simple_tokenizer_equals_ptb_on_plain_captions() -> None:
    plain = [t for t in RAW if "(" not in t and '"' not in t]
    assert [cap.simple_tokenize(t) for t in plain] == cap.ptb_tokenize(plain)
    assert cap.simple_tokenize("The cat's toy (a ball).") == "the cat 's toy a ball"  # PTB keeps -lrb- -rrb-


@needs_java
@pytest.mark.slow
def test_meteor_equals_pycocoevalcap() -> None:
    from pycocoevalcap.meteor.meteor import Meteor

    cands, refs = [c for c, _ in EDGE], [r for _, r in EDGE]
    group = [0, 2, 5]
    per, stats, total, (sub,) = cap.meteor(cands, refs, [group])
    reference = Meteor()
    ref_total, ref_per = reference.compute_score(*coco(cands, refs))
    ref_sub, _ = reference.compute_score(*coco([cands[i] for i in group], [refs[i] for i in group]))
    assert abs(total - ref_total) < TOL and np.abs(np.array(per) - ref_per).max() < TOL
    assert abs(sub - ref_sub) < TOL
    assert abs(cap.meteor_aggregate([stats[i] for i in group]) - ref_sub) < TOL
    assert per[1] == 0.0 and per[0] == pytest.approx(1.0, abs=0.01)


def test_spice_is_unavailable_offline_quickly_and_never_zero() -> None:
    lib = cap.coco_dir("spice") / "lib"
    if all((lib / j).is_file() for j in cap.CORENLP_JARS):
        pytest.skip("CoreNLP is installed here: SPICE can run")
    started = time.perf_counter()
    with pytest.raises(cap.MetricUnavailable, match=r"CoreNLP 3\.6\.0"):
        cap.spice(["a dog"], [["a dog barks"]])
    assert time.perf_counter() - started < 2.0


def test_a_stuck_java_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    import sys

    java = tmp_path / "java"
    java.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    java.chmod(0o755)
    started = time.perf_counter()
    with pytest.raises(cap.MetricUnavailable, match="time limit"):
        cap.meteor(["a dog"], [["a dog barks"]], java=str(java), timeout_s=1.0)
    with pytest.raises(cap.MetricUnavailable, match="ran past 1 s"):
        cap.ptb_tokenize(["a dog"], java=str(java), timeout_s=1.0)
    assert time.perf_counter() - started < 10.0


FAKE_JAVA = """#!{python}
import json, sys
args = sys.argv[1:]
if "spice-1.0.jar" not in args:
    sys.exit("only SPICE is faked")
data = json.load(open(args[args.index("spice-1.0.jar") + 1]))
f = [None if d["image_id"] == 1 else 0.25 * len(d["refs"]) for d in data]
out = [{{"image_id": d["image_id"], "scores": {{"All": {{"f": x}}}}}} for d, x in zip(data, f)]
json.dump(out, open(args[args.index("-out") + 1], "w"))
"""


def test_spider_from_spice_where_spice_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    (tmp_path / "lib").mkdir()
    for jar in cap.CORENLP_JARS:
        (tmp_path / "lib" / jar).write_bytes(b"")
    java = tmp_path / "java"
    java.write_text(FAKE_JAVA.format(python=sys.executable))
    java.chmod(0o755)
    real = cap.coco_dir
    monkeypatch.setattr(cap, "coco_dir", lambda sub: tmp_path if sub == "spice" else real(sub))
    samples, preds = corpus_samples(RAW_CORPUS[:3])
    j = judge(tokenizer="simple", java=str(java))
    items = run_judge(j, samples, preds)
    assert [o.scores.get("spice") for o in items] == [1.25, None, 1.25]  # the fake gives 0.25 x 5 refs, none for #1
    assert items[0].scores["spider"] == pytest.approx((items[0].scores["cider_d"] + 1.25) / 2, abs=1e-12)
    assert "spider" not in items[1].scores and "no F-score" in items[1].details["spice_missing"]
    assert "METEOR" in items[0].details["unavailable"]["meteor"] and "spice" not in items[0].details["unavailable"]
    rows = {r["metric"]: r for r in report_rows("ds", "c", j.metrics, items, j.summarize) if r["subset"] == "all"}
    assert rows["spice"]["value"] == "1.25" and rows["spice"]["n_failed"] == "1"


# ---------------------------------------------------------------- the judge


def judge(**options: Any) -> cap.CaptionMetricsJudge:
    def no_model(name: str) -> Any:
        raise AssertionError("the captioning judge uses no model")

    ctx = JudgeContext(model_factory=no_model, cache_dir=Path("."))
    return cap.CaptionMetricsJudge("captioning", cap.CaptioningOptions(**options), ctx)


def corpus_samples(texts: list[tuple[str, list[str]]], subsets: str = "ab") -> tuple[list[Sample], dict[str, Any]]:
    samples, preds = [], {}
    for i, (cand, refs) in enumerate(texts):
        sid = f"s{i}"
        meta = {"subset": subsets[i % len(subsets)]}
        samples.append(Sample(sid, (Part("text", "describe"),), tuple(Part("text", r) for r in refs), meta))
        preds[sid] = Prediction(sid, "m", f"k{i}", text=cand)
    return samples, preds


def run_judge(j: cap.CaptionMetricsJudge, samples: list[Sample], preds: dict[str, Prediction]) -> list[Outcome]:
    j.prepare(samples, preds)
    verdicts = {s.id: asyncio.run(j.judge(s, preds[s.id])) for s in samples}
    return outcomes(samples, [], preds, verdicts)


RAW_CORPUS = [
    (
        "A dog barks loudly.",
        ["A dog barks loudly.", "A dog is barking!", "Loud barking of a dog.", "A dog barks.", "Dog"],
    ),
    ("", ["Rain falls on a roof.", "Heavy rain.", "Rain is falling, hard.", "Water drops on metal.", "Rain."]),
    (
        "Rain, rain, rain, rain.",
        ["Rain falls.", "It's raining.", "Rain, rain.", "Steady rain on leaves.", "Light rain"],
    ),
    (
        "Birds chirp in the morning.",
        ["Birds chirp.", "Birds sing in the morning.", "Chirping birds.", "A bird", "Birds"],
    ),
    ("A car passes by.", ["A car drives by.", "A car passes on a wet road.", "Traffic.", "A car.", "Cars go by."]),
]


def test_judge_scores_equal_pycocoevalcap_and_reports_missing_metrics() -> None:
    samples, preds = corpus_samples(RAW_CORPUS)
    j = judge(tokenizer="simple", java="/nonexistent/java")  # no Java: METEOR unavailable, never 0
    items = run_judge(j, samples, preds)
    cands = [cap.simple_tokenize(c) for c, _ in RAW_CORPUS]
    refs = [[cap.simple_tokenize(r) for r in rs] for _, rs in RAW_CORPUS]
    cider, cider_per = Cider().compute_score(*coco(cands, refs))
    bleu, _ = Bleu(4).compute_score(*coco(cands, refs), verbose=0)
    rouge, _ = Rouge().compute_score(*coco(cands, refs))
    assert [o.scores["cider_d"] for o in items] == pytest.approx(list(cider_per), abs=TOL)
    assert abs(j.summarize("cider_d", items) - cider) < TOL
    assert abs(j.summarize("rouge_l", items) - rouge) < TOL
    assert np.abs(np.array([j.summarize(f"bleu_{k}", items) for k in range(1, 5)]) - bleu).max() < TOL
    for o in items:
        assert not {"meteor", "spice", "spider", "fense"} & set(o.scores)
        assert set(o.details["unavailable"]) == {"meteor", "spice", "spider", "fense"}
    assert "Java not found" in items[0].details["unavailable"]["meteor"]
    rows = {(r["subset"], r["metric"]): r for r in report_rows("ds", "captioning", j.metrics, items, j.summarize)}
    for metric in ("meteor", "spice", "spider", "fense"):
        assert rows[("all", metric)]["value"] == "" and rows[("all", metric)]["n_failed"] == "5"
    assert rows[("all", "cider_d")]["n_failed"] == "0"
    assert "spice unavailable: SPICE needs Stanford CoreNLP" in j.describe()
    # a group's CIDEr-D keeps the corpus IDF; its BLEU is the group's own corpus BLEU
    group_a = [o for o in items if o.meta["subset"] == "a"]
    sub_bleu, _ = Bleu(4).compute_score(*coco([cands[i] for i in (0, 2, 4)], [refs[i] for i in (0, 2, 4)]), verbose=0)
    assert abs(j.summarize("bleu_4", group_a) - sub_bleu[3]) < TOL
    assert abs(j.summarize("cider_d", group_a) - float(np.mean(cider_per[[0, 2, 4]]))) < TOL


def test_identity_folds_the_corpus() -> None:
    keys = []
    for texts in (RAW_CORPUS, RAW_CORPUS, [*RAW_CORPUS[:4], ("A truck passes by.", RAW_CORPUS[4][1])]):
        s, p = corpus_samples(texts)
        j = judge(tokenizer="simple", java="/nonexistent/java")
        j.prepare(s, p)
        keys.append(j.verdict_key(s[0], p["s0"]))
    assert keys[0] == keys[1] != keys[2]  # sample s0 unchanged, but the corpus changed its CIDEr-D


def test_a_sample_outside_the_prepared_corpus_fails_as_data() -> None:
    samples, preds = corpus_samples(RAW_CORPUS)
    j = judge(tokenizer="simple", java="/nonexistent/java")
    verdict = asyncio.run(j.judge(samples[0], preds["s0"]))  # no prepare()
    assert verdict.scores == {} and "not in the corpus" in verdict.error
    no_refs = Sample("x", (Part("text", "q"),), ())
    j.prepare([*samples, no_refs], {**preds, "x": Prediction("x", "m", "kx", text="a")})
    verdict = asyncio.run(j.judge(no_refs, Prediction("x", "m", "kx", text="a")))
    assert verdict.scores == {} and "no reference caption" in verdict.error


# ---------------------------------------------------------------- FENSE


def stub_error_prob(texts: list[str]) -> np.ndarray:
    """A stand-in for FENSE's fluency-error detector: 0.95 for texts ending in 'and', else 0.1."""
    return np.array([0.95 if t.rstrip(".").endswith("and") else 0.1 for t in texts])


def test_fense_arithmetic_with_minilm_and_a_stub_error_detector() -> None:
    from evalkit.embedded.minilm import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    cands = ["A dog barks loudly.", "A car passes by and", "Birds chirp in the morning."]
    refs = [["A dog barks loudly.", "A dog is barking."], ["A car drives by.", "Traffic noise."], ["Birds sing."]]
    sim, prob, value = cap.fense_scores(cands, refs, embedder.encode, stub_error_prob, threshold=0.9, penalty=0.9)
    for i, (c, rs) in enumerate(zip(cands, refs, strict=True)):  # one text at a time, plain numpy cosines
        e_c = embedder.encode([c])[0].astype(np.float64)
        cos = [
            float(e_c @ embedder.encode([r])[0] / np.linalg.norm(e_c) / np.linalg.norm(embedder.encode([r])[0]))
            for r in rs
        ]
        assert abs(sim[i] - np.mean(cos)) < 1e-5
    assert list(prob) == [0.1, 0.95, 0.1]
    assert value[0] == sim[0] and value[2] == sim[2]
    assert abs(value[1] - 0.1 * sim[1]) < 1e-12  # a fluency error takes 90 % away
    assert 0.7 < sim[0] < 1.0


def test_fense_through_the_judge_and_skipped_without_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.embedded.minilm import MiniLMEmbedder

    samples, preds = corpus_samples(RAW_CORPUS)
    j = judge(tokenizer="simple", java="/nonexistent/java")
    monkeypatch.setattr(j, "_fense_models", lambda: (MiniLMEmbedder().encode, stub_error_prob, {}))
    items = run_judge(j, samples, preds)
    assert "fense" not in items[0].details["unavailable"]
    values = [o.scores["fense"] for o in items]
    assert abs(j.summarize("fense", items) - float(np.mean(values))) < 1e-12
    assert items[0].details["fense"]["error_prob"] == 0.1

    skipped = judge(tokenizer="simple", java="/nonexistent/java", fense_sbert="minilm")
    items = run_judge(skipped, samples, preds)
    assert "set judges.captioning.fense_sbert, fense_echecker" in items[0].details["unavailable"]["fense"]
    missing = judge(
        tokenizer="simple", java="/x", fense_sbert="minilm", fense_echecker="/no/such.ckpt", fense_echecker_encoder="/"
    )
    items = run_judge(missing, samples, preds)
    assert "checkpoint not found: /no/such.ckpt" in items[0].details["unavailable"]["fense"]


def test_error_detector_loads_a_fense_style_checkpoint(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "dog", "barks", "and", "car"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(str(tmp_path))
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    config.save_pretrained(str(tmp_path))
    torch.manual_seed(0)
    encoder = transformers.BertModel(config).eval()
    clf = torch.nn.Linear(8, 6)
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()} | {
        f"clf.{k}": v for k, v in clf.state_dict().items()
    }
    torch.save({"model_type": "bert-base-uncased", "num_classes": 6, "state_dict": state}, tmp_path / "echecker.ckpt")

    detect = cap.load_error_detector(tmp_path / "echecker.ckpt", tmp_path, batch_size=2)
    texts = ["a dog barks", "a car and", "dog"]
    batch = transformers.BertTokenizer.from_pretrained(str(tmp_path))(
        texts, truncation=True, padding="max_length", max_length=64, return_tensors="pt"
    )
    with torch.no_grad():
        expected = torch.sigmoid(clf(encoder(**batch).last_hidden_state[:, 0, :]))[:, -1].numpy()
    assert np.abs(detect(texts) - expected).max() < 1e-6

    torch.save({"model_type": "x", "num_classes": 6, "state_dict": {"clf.weight": clf.weight}}, tmp_path / "bad.ckpt")
    with pytest.raises(cap.MetricUnavailable, match="does not fit the encoder"):
        cap.load_error_detector(tmp_path / "bad.ckpt", tmp_path)


# ---------------------------------------------------------------- end to end


@needs_java
@pytest.mark.slow
def test_end_to_end_on_the_bundled_sample(tmp_path: Path, dev: Dev) -> None:
    shutil.copytree(REPO / "data" / "caption_sample", tmp_path / "data" / "caption_sample")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
dataset_root: data
work_dir: results
datasets:
  captions: {{class: audio-caption, root: caption_sample, audio_dir: audio, judge: captioning}}
models:
  echo: {{backend: openai, base_url: "{dev.base_url}", model: echo, modalities: [audio], max_retries: 1}}
judges:
  captioning: {{class: captioning}}
""",
        encoding="utf-8",
    )
    argv = ["--config", str(cfg), "--model", "echo", "--dataset", "captions", "--no-progress"]
    assert main(argv) == 0
    run_dir = tmp_path / "results" / "echo" / "captions"
    with (run_dir / "report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    preds = {
        p["sample_id"]: p["text"] for p in map(json.loads, (run_dir / "predictions.jsonl").read_text().splitlines())
    }
    with (tmp_path / "data" / "caption_sample" / "captions.csv").open() as f:
        clips = list(csv.DictReader(f))
    assert len(preds) == 6 and all(t.startswith("Echo:") for t in preds.values())
    tok = PTBTokenizer().tokenize(
        {c["file_name"]: [{"caption": c[f"caption_{k}"]} for k in range(1, 6)] for c in clips}
        | {"hyp:" + c["file_name"]: [{"caption": preds[f"captions:{c['file_name']}"]}] for c in clips}
    )
    gts = {c["file_name"]: tok[c["file_name"]] for c in clips}
    res = {c["file_name"]: tok["hyp:" + c["file_name"]] for c in clips}
    expected = {"cider_d": Cider().compute_score(gts, res)[0], "rouge_l": Rouge().compute_score(gts, res)[0]}
    expected |= {f"bleu_{k + 1}": v for k, v in enumerate(Bleu(4).compute_score(gts, res, verbose=0)[0])}
    for metric, value in expected.items():
        row = rows[("all", metric)]
        assert abs(float(row["value"]) - value) < 1e-6 and row["n"] == "6" and row["n_failed"] == "0", metric
    assert rows[("all", "meteor")]["value"] != "" and rows[("all", "meteor")]["n_failed"] == "0"
    for metric in ("spice", "spider", "fense"):
        assert rows[("all", metric)]["value"] == "" and rows[("all", metric)]["n_failed"] == "6"
    verdicts = [json.loads(x) for x in (run_dir / "verdicts.captioning.jsonl").read_text().splitlines()]
    assert len(verdicts) == 6 and all("CoreNLP" in v["details"]["unavailable"]["spice"] for v in verdicts)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert "spice unavailable" in manifest["judges"]["captioning"]["describe"]

    assert main(argv) == 0  # a rerun reuses every prediction and verdict: the corpus did not change
    assert dev.requests("echo") == 6
    assert len((run_dir / "verdicts.captioning.jsonl").read_text().splitlines()) == 6
