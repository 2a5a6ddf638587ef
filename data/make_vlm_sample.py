"""Build the bundled image and video QA samples: a VLMEvalKit-style TSV and a 2-item video QA file.

It writes, under ``--out`` (default ``data/vlm_sample``):

* ``sample.tsv``: 6 MCQ items and 4 Yes/No items (two images, two questions each, MME style) in VLMEvalKit's
  TSV columns (``index``, ``image`` as base64 PNG, ``image_path``, ``question``, ``hint``, ``A``-``D``,
  ``answer``, ``category``, ``l2-category``, ``split``). Images are drawn with Pillow: shapes, colours, counts
  and positions, 192x192 pixels. The second question of each Yes/No image carries the first row's ``index`` in
  its ``image`` cell, as VLMEvalKit writes shared images;
* ``videos/*.mp4`` and ``video_qa.jsonl``: two 2-second 160x120 clips made by ffmpeg's lavfi sources (a red
  square moving left to right; a white square on a blue background), one question each, one in MVBench's
  option format (``candidates`` + answer text) and one in Video-MME's (``"A. text"`` options + letter);
* ``MANIFEST.json``: size and sha256 of every file, and the tool versions.

Deterministic: fixed drawing, PNG written without metadata, ffmpeg with ``-threads 1`` and bit-exact flags.

Usage: ``python data/make_vlm_sample.py [--out data/vlm_sample]`` (needs Pillow and ffmpeg)
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

SIZE = 192
MAX_TSV_BYTES = 300_000
COLUMNS = ("index", "image", "image_path", "question", "hint", *"ABCD", "answer", "category", "l2-category", "split")
RGB = {"red": (220, 30, 30), "green": (30, 160, 60), "blue": (30, 60, 220), "yellow": (235, 200, 20)}


def _canvas() -> Any:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    return img, ImageDraw.Draw(img)


def _circle(d: Any, cx: int, cy: int, r: int, colour: str) -> None:
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=RGB[colour])


def _square(d: Any, cx: int, cy: int, r: int, colour: str) -> None:
    d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=RGB[colour])


def _triangle(d: Any, cx: int, cy: int, r: int, colour: str) -> None:
    d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=RGB[colour])


def draw(spec: str) -> bytes:
    """PNG bytes of one picture, by name."""
    img, d = _canvas()
    if spec == "red_circle":
        _circle(d, 96, 96, 60, "red")
    elif spec == "blue_square":
        _square(d, 96, 96, 55, "blue")
    elif spec == "three_dots":
        for x in (44, 96, 148):
            _circle(d, x, 96, 18, "green")
    elif spec == "five_triangles":
        for x, y in ((40, 60), (96, 60), (152, 60), (68, 136), (124, 136)):
            _triangle(d, x, y, 22, "blue")
    elif spec == "circle_left_square_right":
        _circle(d, 50, 96, 36, "red")
        _square(d, 142, 96, 34, "blue")
    elif spec == "yellow_triangle":
        _triangle(d, 96, 96, 64, "yellow")
    elif spec == "two_circles":
        _circle(d, 56, 96, 32, "red")
        _circle(d, 136, 96, 32, "red")
    elif spec == "green_square":
        _square(d, 96, 96, 60, "green")
    else:
        raise ValueError(spec)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# (index, picture, question, hint, options A-D, answer, category)
MCQ = [
    (1, "red_circle", "Which shape is shown in the image?", "", ("circle", "square", "triangle", "star"), "A", "shape"),
    (2, "blue_square", "What colour is the square?", "", ("red", "green", "blue", "yellow"), "C", "color"),
    (3, "three_dots", "How many dots are there?", "", ("2", "3", "4", "5"), "B", "count"),
    (4, "five_triangles", "How many triangles are there?", "", ("3", "4", "5", ""), "C", "count"),
    (
        5,
        "circle_left_square_right",
        "Which shape is on the left?",
        "The image shows two shapes side by side.",
        ("the blue square", "the red circle", "", ""),
        "B",
        "position",
    ),
    (6, "yellow_triangle", "What colour is the triangle?", "", ("red", "green", "blue", "yellow"), "D", "color"),
]
# (index, picture or the index whose picture it shares, question, answer, category)
YES_NO = [
    (7, "two_circles", "Are there two circles in the image? Please answer yes or no.", "Yes", "count"),
    (8, "7", "Are there three circles in the image? Please answer yes or no.", "No", "count"),
    (9, "green_square", "Is the square green? Please answer yes or no.", "Yes", "color"),
    (10, "9", "Is the square purple? Please answer yes or no.", "No", "color"),
]

# (file, ffmpeg lavfi graph, record)
VIDEOS = [
    (
        "move_right.mp4",
        "color=c=white:s=160x120:r=10:d=2[bg];color=c=red:s=30x30:r=10:d=2[box];"
        "[bg][box]overlay=x='10+t*55':y=45:shortest=1",
        {
            "id": "v1",
            "question": "In which direction does the red square move?",
            "candidates": ["from left to right", "from right to left", "from top to bottom", "it does not move"],
            "answer": "from left to right",
            "task_type": "Moving Direction",
        },
    ),
    (
        "blue_box.mp4",
        "color=c=blue:s=160x120:r=10:d=2[bg];color=c=white:s=40x40:r=10:d=2[box];[bg][box]overlay=x=60:y=40:shortest=1",
        {
            "id": "v2",
            "question": "What colour is the background of the video?",
            "options": ["A. Black.", "B. White.", "C. Blue.", "D. Green."],
            "answer": "C",
            "task_type": "Attribute Perception",
            "duration": "short",
            "domain": "Synthetic",
        },
    ),
]


def write_tsv(out: Path) -> Path:
    rows: list[dict[str, str]] = []
    for index, pic, question, hint, opts, answer, category in MCQ:
        b64 = base64.b64encode(draw(pic)).decode("ascii")
        row = {"index": str(index), "image": b64, "image_path": f"{pic}.png", "question": question, "hint": hint}
        row.update(dict(zip("ABCD", opts, strict=True)))
        row.update(answer=answer, category=category, **{"l2-category": "perception"}, split="sample")
        rows.append(row)
    for index, pic, question, answer, category in YES_NO:
        image = pic if pic.isdigit() else base64.b64encode(draw(pic)).decode("ascii")
        name = next(p for i, p, *_ in YES_NO if str(i) == pic) if pic.isdigit() else pic
        row = {"index": str(index), "image": image, "image_path": f"{name}.png", "question": question, "hint": ""}
        row.update({k: "" for k in "ABCD"})
        row.update(answer=answer, category=category, **{"l2-category": "perception"}, split="sample")
        rows.append(row)
    path = out / "sample.tsv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if path.stat().st_size > MAX_TSV_BYTES:
        raise SystemExit(f"{path} is {path.stat().st_size} bytes, over {MAX_TSV_BYTES}")
    return path


def write_videos(out: Path) -> list[Path]:
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed (apt-get install ffmpeg)")
    (out / "videos").mkdir(parents=True, exist_ok=True)
    records, paths = [], []
    for name, graph, rec in VIDEOS:
        dest = out / "videos" / name
        cmd = ["ffmpeg", "-nostdin", "-y", "-v", "error", "-filter_complex", graph, "-t", "2", "-threads", "1"]
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
        cmd += ["-map_metadata", "-1", str(dest)]
        subprocess.run(cmd, check=True, timeout=120)
        records.append({**rec, "video": f"videos/{name}"})
        paths.append(dest)
    path = out / "video_qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return [*paths, path]


def _version(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return res.stdout.splitlines()[0] if res.stdout else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "vlm_sample")
    out = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    files = [write_tsv(out), *write_videos(out)]
    import PIL

    manifest = {
        "files": {
            str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
            for p in sorted(files)
        },
        "tools": {
            "python": platform.python_version(),
            "Pillow": PIL.__version__,
            "ffmpeg": _version(["ffmpeg", "-version"]),
        },
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(files)} files under {out}")


if __name__ == "__main__":
    main()
