"""Build the bundled sample of the generic ``mcq`` / ``qa`` datasets from media of the other bundled samples.

It writes, under ``--out`` (default ``data/generic_sample``):

* ``media/``: copies of real media made by the other sample scripts (espeak-ng speech, ffmpeg video, Pillow and
  matplotlib pictures, a text document), so no new tool is needed;
* ``mcq.jsonl``: 5 multiple-choice records, one per media kind (two images), options as a list, a mapping and
  ``"A. text"`` strings, answers as letters and as option texts;
* ``qa.csv``: 4 records in CSV: open answers (a document, speech, text only) and one with options in columns
  ``A``/``B``;
* ``MANIFEST.json``: size and sha256 of every file, and where each media file was copied from.

Deterministic: plain copies and fixed records. Usage: ``python data/make_generic_sample.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MEDIA = {
    "shapes_above.png": "interleaved_sample/natural_science/education/image/img_0602_01.png",
    "shapes_side.png": "interleaved_sample/natural_science/education/image/img_0602_02.png",
    "rainfall.png": "interleaved_sample/natural_science/geography/image/img_0601_01.png",
    "seven.wav": "audio_sample/audio/mqa_02.wav",
    "river.wav": "audio_sample/audio/mqa_01.wav",
    "move_right.mp4": "vlm_sample/videos/move_right.mp4",
    "library_notice.png": "interleaved_sample/general_area/education/document/doc_0301_01.png",
    "mountains.txt": "interleaved_sample/natural_science/geography/document/doc_0302_01.txt",
}
MCQ: list[dict[str, Any]] = [
    {
        "id": "shape-above",
        "image": "media/shapes_above.png",
        "question": "Which shape is drawn above the other one?",
        "options": ["a red circle", "a blue square"],
        "answer": "A",
        "subset": "image",
    },
    {
        "id": "rain-max",
        "image": "media/rainfall.png",
        "question": "In which month does the chart show the most rainfall?",
        "options": {"A": "January", "B": "February", "C": "March", "D": "April"},
        "answer": "March",
        "subset": "image",
    },
    {
        "id": "spoken-number",
        "audio": "media/seven.wav",
        "question": "Which number is spoken?",
        "options": ["A. three", "B. five", "C. seven", "D. nine"],
        "answer": "C",
        "subset": "audio",
    },
    {
        "id": "direction",
        "video": "media/move_right.mp4",
        "question": "In which direction does the red square move?",
        "options": ["from left to right", "from right to left", "from top to bottom"],
        "answer": "from left to right",
        "subset": "video",
    },
    {
        "id": "closed-day",
        "document": "media/library_notice.png",
        "question": "On which day is the library closed?",
        "options": ["Monday", "Saturday", "Sunday"],
        "answer": "(C)",
        "subset": "document",
    },
]
QA_COLUMNS = ("id", "question", "A", "B", "answer", "image", "audio", "document", "subset")
QA: list[dict[str, str]] = [
    {"id": "k2", "question": "Which mountain is 8611 m high?", "answer": "K2", "document": "media/mountains.txt"},
    {"id": "word", "question": "Which word is spoken?", "answer": "river", "audio": "media/river.wav"},
    {"id": "sum", "question": "What is 2 + 3? Answer with a number.", "answer": "5", "subset": "text"},
    {
        "id": "left",
        "question": "Which shape is on the left?",
        "A": "a red circle",
        "B": "a blue square",
        "answer": "A",
        "image": "media/shapes_side.png",
        "subset": "image",
    },
]


def _csv_text() -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=QA_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in QA:
        writer.writerow({k: rec.get(k, "") for k in QA_COLUMNS})
    return buf.getvalue()


def build(out: Path) -> None:
    """Write the sample under ``out`` (media copied from the sibling samples)."""
    (out / "media").mkdir(parents=True, exist_ok=True)
    for name, src in MEDIA.items():
        shutil.copyfile(HERE / src, out / "media" / name)
    (out / "mcq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in MCQ), encoding="utf-8")
    (out / "qa.csv").write_text(_csv_text(), encoding="utf-8")
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in ("MANIFEST.json", "README.md"))
    manifest = {
        "generator": "data/make_generic_sample.py",
        "copied_from": {f"media/{k}": f"data/{v}" for k, v in MEDIA.items()},
        "files": [
            {
                "path": str(p.relative_to(out)),
                "bytes": p.stat().st_size,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            }
            for p in files
        ],
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "generic_sample")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
