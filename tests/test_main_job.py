"""The README's main job, `bash run_eval.sh`, on the real embedded CPU stack: SmolLM2 served by llama.cpp on
loopback, Whisper/OCR captioners and the MiniLM proxy judge, over the bundled sample."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from support import REPO

from evalkit.datasets.interleaved import iter_json_objects


def run(work: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", str(REPO / "run_eval.sh"), "--work-dir", str(work), "--no-progress", *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)


def test_main_job_end_to_end_then_rerun_reuses_everything(tmp_path: Path) -> None:
    first = run(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    out = tmp_path / "smollm2-cpu" / "interleaved"
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 12 and all(p["error"] == "" and p["text"].strip() for p in preds)
    # the text-only model got a Whisper transcript of the audio it cannot hear; the prediction says so
    audio = next(p for p in preds if p["sample_id"] == "audio_test:501")
    assert audio["meta"]["media"] == {"audio1": "described by whisper-cpu"}
    assert "park" in json.dumps(audio["prompt"]).lower()
    # a cascade: the request asks for a spoken answer, so espeak-ng speaks it as <audio2>, stored under the run
    (spoken,) = audio["parts"]
    assert spoken["tag"] == "audio2" and "<audio2>" in audio["text"]
    assert Path(spoken["value"]).is_file() and Path(spoken["value"]).parent.parent == (out / "media").resolve()
    assert audio["meta"]["produced"]["audio2"]["renderer"].startswith("espeak-ng")
    page = next(p for p in preds if p["sample_id"] == "document_test:301")
    assert page["meta"]["produced"]["document1"]["renderer"].startswith("page-png")
    with (out / "report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    rel = rows[("all", "answer_relevance")]
    assert rel["judge"] == "proxy-cpu" and rel["n"] == "12" and rel["n_failed"] == "0"
    assert 0.0 < float(rel["value"]) < 1.0
    # produced media make media_text_agreement defined: 8 of 12 samples when measured (the 4 others ask for none)
    assert int(rows[("all", "media_text_agreement")]["n_failed"]) <= 5
    verdicts = [json.loads(x) for x in (out / "verdicts.proxy-cpu.jsonl").read_text().splitlines()]
    # Whisper really heard the espeak-ng sentence of the tea record
    tea = next(v for v in verdicts if v["sample_id"] == "audio_test:502")
    assert "three minutes" in tea["details"]["question"].lower() or "3 minutes" in tea["details"]["question"]
    # and Whisper hears the spoken answer back; the export lists it as output.modal, relative to the export
    concert = next(v for v in verdicts if v["sample_id"] == "audio_test:501")
    assert "park" in concert["details"]["modal"]["audio2"].lower()
    exported = {r["id"]: r for _, r, _ in iter_json_objects((out / "scored.proxy-cpu.jsonl").read_text())}
    assert (out / exported["501"]["output"]["modal"]["audio2"]).resolve() == Path(spoken["value"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert "CPU proxy" in manifest["judges"]["proxy-cpu"]["describe"] and manifest["packages"]["llama_cpp_python"]
    assert "smollm2-cpu" in first.stdout and "answer_relevance" in first.stdout

    media = [f for f in (out / "media").rglob("*") if f.is_file()]
    second = run(tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "infer: 0 run (0 failed), 12 reused; judge: 0 run (0 failed), 12 reused" in second.stdout
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 12
    assert len([f for f in (out / "media").rglob("*") if f.is_file()]) == len(media)  # nothing re-rendered

    # two real CPU runs side by side: the references (replay) against the main job, on the leaderboard and in compare
    assert run(tmp_path, "--model", "replay").returncode == 0
    py = [sys.executable, str(REPO / "run.py"), "--work-dir", str(tmp_path)]
    board = tmp_path / "board" / "LEADERBOARD.md"
    assert subprocess.run([*py, "leaderboard", "--output", str(board)], check=False).returncode == 0
    rows = [line for line in board.read_text().splitlines() if line.startswith(("| replay", "| smollm2-cpu"))]
    # smollm2-cpu's media_text_agreement leaves 4 samples out: never ranked above the fully covered references
    assert rows[0].startswith("| replay") and "**0.5367**" in rows[0] and "⚠ coverage" in rows[1]
    cmd = [*py, "compare", "--dataset", "interleaved", "--model", "replay", "smollm2-cpu"]
    res = subprocess.run([*cmd, "--metric", "answer_relevance", "--json"], capture_output=True, text=True, check=False)
    [comp] = json.loads(res.stdout)
    assert comp["paired"]["n"] == 12 and comp["paired"]["diff"] > 0 and comp["paired"]["p_value"] < 0.05


def test_replay_judges_existing_outputs_and_exports_them(tmp_path: Path) -> None:
    res = run(tmp_path, "--model", "replay")
    assert res.returncode == 0, res.stderr[-2000:]
    out = tmp_path / "replay" / "interleaved"
    with (out / "report.csv").open() as f:
        rows = {(r["subset"], r["metric"]): r for r in csv.DictReader(f)}
    assert rows[("all", "media_text_agreement")]["n_failed"] == "0"
    records = [obj for _, obj, _ in iter_json_objects((out / "scored.proxy-cpu.jsonl").read_text())]
    assert len(records) == 12 and all(r["score"] for r in records)
    by_id = {r["id"]: r for r in records}
    r501 = by_id["501"]
    assert "<audio2:Speech:" in r501["content"]
    assert r501["modal"]["audio2"].startswith("Speech:") and "park" in r501["modal"]["audio2"].lower()
    verdicts = {
        json.loads(x)["sample_id"]: json.loads(x) for x in (out / "verdicts.proxy-cpu.jsonl").read_text().splitlines()
    }
    # the deliberately incoherent record (602: text claims shapes the images do not show) scores lowest
    agreement = {k: v["scores"]["media_text_agreement"] for k, v in verdicts.items()}
    others = [v for k, v in agreement.items() if k != "image_test:602"]
    assert agreement["image_test:602"] < sum(others) / len(others)
