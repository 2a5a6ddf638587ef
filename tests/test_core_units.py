"""Registry, config validation, store durability, judge-reply parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.config import build_options, load_config
from evalkit.errors import ConfigError
from evalkit.judges.parse import ParseError, parse_scores
from evalkit.models.openai_compat import OpenAIOptions, backoff_delay
from evalkit.registry import Registry
from evalkit.store import AppendLog, RunStore, read_jsonl
from evalkit.types import Prediction


def test_registry_rejects_duplicates_and_suggests_names() -> None:
    reg: Registry[int] = Registry("model")
    reg.add("qwen2.5-omni-3b", 1)
    with pytest.raises(ConfigError, match="already registered"):
        reg.add("qwen2.5-omni-3b", 2)
    with pytest.raises(ConfigError, match=r"did you mean qwen2\.5-omni-3b"):
        reg.get("qwen2.5-omni-7b")
    with pytest.raises(ConfigError, match="unknown model 'zzz'") as exc:
        reg.get("zzz")
    assert "did you mean" not in str(exc.value)


def test_config_rejects_unknown_keys_with_a_hint(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("dataset_root: data\nmodles: {}\n")
    with pytest.raises(ConfigError, match="unknown key 'modles' \\(did you mean 'models'\\?\\)"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="unknown key 'base_ulr'"):
        build_options(OpenAIOptions, {"base_ulr": "x"}, "config.yaml: models.m")
    with pytest.raises(ConfigError, match=r"models\.m\.concurrency: expected int"):
        build_options(OpenAIOptions, {"concurrency": "many"}, "config.yaml: models.m")
    opts = build_options(OpenAIOptions, {"modalities": ["image"], "timeout_s": 5}, "x")
    assert opts.modalities == ("image",) and opts.timeout_s == 5.0


def test_shipped_config_is_valid() -> None:
    cfg = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
    assert cfg.defaults == {"model": "smollm2-cpu", "dataset": "interleaved"}
    assert cfg.datasets["interleaved"].options["judge"] == "proxy-cpu"
    assert "Qwen2.5-Omni-3B" in cfg.models and "coherence" in cfg.judges


def test_store_cuts_a_torn_line_and_latest_record_wins(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "m/x", "d")
    assert store.dir == tmp_path / "m_x" / "d"
    with AppendLog(store.predictions_path) as log:
        log.append(Prediction("a", "m", "k1", error="TimeoutError: slow").to_json())
        log.append(Prediction("b", "m", "k1", text="B").to_json())
    with store.predictions_path.open("a") as f:
        f.write('{"sample_id": "c", "mod')  # a crash mid-write
    assert [r["sample_id"] for r in read_jsonl(store.predictions_path)] == ["a", "b"]
    with AppendLog(store.predictions_path) as log:
        log.append(Prediction("a", "m", "k1", text="A").to_json())
    preds = store.load_predictions()
    assert preds[("a", "k1")].text == "A" and preds[("a", "k1")].ok
    assert len(store.predictions_path.read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"coherence": 4, "style_consistency": 5, "reason": "ok"}', (4, 5)),
        ('Here you go:\n```json\n{"Coherence": "3", "Style Consistency": "2/5"}\n```', (3, 2)),
        ("Coherence: 4/5\nStyle consistency: 3/5", (4, 3)),
        ("**Coherence** - 2 out of 5. **Style_Consistency**: 5", (2, 5)),
        (
            '<think>{"coherence": 1, "style_consistency": 1}</think>'
            '{"scores": {"coherence": 5, "style-consistency": 4}}',
            (5, 4),
        ),
        ("连贯性 whatever. coherence：4 ; style consistency = 4", (4, 4)),
    ],
)
def test_parse_scores_reads_messy_replies(reply: str, expected: tuple[int, int]) -> None:
    s = parse_scores(reply)
    assert (s["coherence"], s["style_consistency"]) == expected


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ('{"coherence": 6, "style_consistency": 3}', "coherence=6 is outside 1-5"),
        ('{"coherence": 0, "style_consistency": 3}', "outside"),
        ('{"coherence": 4}', "no scores found"),
        ("The answer is coherent and stylish.", "no scores found"),
        ('{"coherence": true, "style_consistency": 3}', "boolean"),
        ('{"coherence": "high", "style_consistency": 3}', "not a number"),
        ('{"coherence": 2, "style_consistency": 2} then revised: {"coherence": 3, "style_consistency": 4}', "2 and 3"),
        ("", "empty reply"),
    ],
)
def test_parse_scores_rejects_what_it_cannot_trust(reply: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_scores(reply)


def test_backoff_honours_retry_after_and_grows() -> None:
    assert backoff_delay(3, 1.0, retry_after=2.5) == 2.5
    assert 0.5 <= backoff_delay(1, 1.0, None) <= 1.0
    assert 4.0 <= backoff_delay(4, 1.0, None) <= 8.0
    assert backoff_delay(30, 1.0, None) <= 60.0
