"""Build the bundled mini sample of Kimi-Audio-Evalkit-style audio benchmarks, with real espeak-ng speech.

It writes, under ``--out`` (default ``data/audio_sample``):

* ``asr.jsonl`` (4 English ASR clips with reference transcripts), ``mqa.jsonl`` (3 single-choice items),
  ``openqa.jsonl`` (1 spoken request) and ``refqa.jsonl`` (1 spoken question with a reference answer), one JSON
  object per line in Kimi-Audio-Evalkit's fields (``index``, ``audio_path``, ``question``, ``answer``,
  ``subset``, ``audio_content``);
* the speech under ``<out>/audio/``: 16 kHz mono 16-bit WAV, voice ``en-us``, 170 words per minute, silence
  trimmed to 0.1 s at both ends;
* ``MANIFEST.json``: size and sha256 of every file, and the tool versions.

Chinese ASR is covered by unit tests only: espeak-ng's Mandarin voice is not good enough to give a meaningful
reference for a CER.

Deterministic: fixed voice and speed, sox with ``-R`` (repeatable) and ``-D`` (no dither), no timestamps.
Re-running on the same machine gives byte-identical files; other espeak-ng or sox versions may give other
audio bytes (compare with ``MANIFEST.json``) but the same records files.

System tools: espeak-ng and sox (``apt-get install espeak-ng sox``).

Usage: ``python data/make_audio_sample.py [--out data/audio_sample]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

VOICE = "en-us"
WORDS_PER_MINUTE = 170
SAMPLE_RATE = 16000
MAX_SPEECH_S = 5.0
SOX = ["sox", "-R", "-D"]
MAX_BYTES = 1_000_000

# (file stem, spoken text, record without audio_path)
ASR = [
    ("asr_01", "The quick brown fox jumps over the lazy dog.", {}),
    ("asr_02", "Please call Stella and ask her to bring these things.", {}),
    ("asr_03", "Mister Smith bought three apples for two dollars.", {"answer": "Mr. Smith bought 3 apples for $2."}),
    ("asr_04", "The colour of the sky changes at sunset.", {}),
]
MQA = [
    (
        "mqa_01",
        "River.",
        {
            "question": "Which word is spoken? (A) apple (B) river (C) mountain (D) yellow",
            "answer": "river",
            "subset": "word",
        },
    ),
    (
        "mqa_02",
        "Seven.",
        {
            "question": "Which number is spoken?\n(A) three\n(B) five\n(C) seven\n(D) nine",
            "answer": "C",
            "subset": "word",
        },
    ),
    (
        "mqa_03",
        "The cat is sleeping on the sofa.",
        {
            "question": "Which animal is mentioned?",
            "choices": ["dog", "cat", "bird", "horse"],
            "answer": "cat",
            "subset": "sentence",
        },
    ),
]
OPENQA = [("openqa_01", "What is the capital of France?", {"question": "", "answer": "", "subset": "spoken-request"})]
REFQA = [
    (
        "refqa_01",
        "How many days are there in a week?",
        {"question": "", "answer": "Seven.", "subset": "spoken-question"},
    )
]


def run(cmd: list[str]) -> str:
    """Run a command with a timeout, returning its stdout; raise with its stderr if it fails."""
    result = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed:\n{result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode(errors="replace")


def speech_wav(text: str, dst: Path, tmp: Path) -> None:
    """espeak-ng speech as 16 kHz mono 16-bit WAV with silence trimmed to 0.1 s at both ends."""
    raw = tmp / (dst.stem + ".raw.wav")
    run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), text])
    cut = ["silence", "1", "0.02", "0.5%"]
    fmt = ["-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
    run([*SOX, str(raw), *fmt, str(dst), *cut, "reverse", *cut, "reverse", "pad", "0.1", "0.1"])
    seconds = float(run(["sox", "--i", "-D", str(dst)]))
    if seconds > MAX_SPEECH_S:
        raise ValueError(f"speech longer than {MAX_SPEECH_S} s, shorten it: {text!r}")


def records(
    items: list[tuple[str, str, dict[str, Any]]],
    root: Path,
    tmp: Path,
    *,
    subset: str = "",
    spoken_request: bool = False,
) -> list[dict[str, Any]]:
    """Speak every item and build its record; ``answer`` defaults to the spoken text.

    A spoken request (OpenQA, RefQA) also carries its transcript as ``audio_content``, for the LLM judge.
    """
    out = []
    for i, (stem, text, fields) in enumerate(items):
        rel = f"audio/{stem}.wav"
        speech_wav(text, root / rel, tmp)
        rec: dict[str, Any] = {"index": i, "audio_path": rel, "question": "", "answer": text, "subset": subset}
        rec.update(fields)
        if spoken_request:
            rec["audio_content"] = text
        out.append(rec)
    return out


def write_jsonl(dst: Path, recs: list[dict[str, Any]]) -> None:
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")


def file_entry(root: Path, path: Path) -> dict[str, Any]:
    """Relative path, size and sha256 of one file."""
    data = path.read_bytes()
    return {"path": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def tool_versions() -> dict[str, str]:
    # espeak-ng appends its data folder to the version line: a property of the machine, not of the tool
    espeak = " ".join(run(["espeak-ng", "--version"]).splitlines()[0].split("Data at:")[0].split())
    sox = " ".join(run(["sox", "--version"]).splitlines()[0].split())
    return {"espeak-ng": espeak, "sox": sox, "python": platform.python_version()}


def build(root: Path) -> None:
    """Write the records, their audio and the manifest under ``root``, replacing an earlier build."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install espeak-ng sox")
    shutil.rmtree(root / "audio", ignore_errors=True)
    (root / "audio").mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        sets = {
            "asr": records(ASR, root, Path(tmp), subset="espeak-en"),
            "mqa": records(MQA, root, Path(tmp)),
            "openqa": records(OPENQA, root, Path(tmp), spoken_request=True),
            "refqa": records(REFQA, root, Path(tmp), spoken_request=True),
        }
    for name, recs in sets.items():
        write_jsonl(root / f"{name}.jsonl", recs)
    files = sorted(root.glob("*.jsonl")) + sorted((root / "audio").glob("*.wav"))
    total = sum(p.stat().st_size for p in files)
    if total > MAX_BYTES:
        raise SystemExit(f"sample is {total} bytes, over {MAX_BYTES}: shorten the speech")
    manifest = {
        "generator": "data/make_audio_sample.py",
        "tools": tool_versions(),
        "files": [file_entry(root, p) for p in files],
        "total_bytes": total,
    }
    (root / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the bundled Kimi-Audio-style audio sample with espeak-ng.")
    parser.add_argument(
        "--out", type=Path, default=Path("data/audio_sample"), help="output folder (default: %(default)s)"
    )
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
