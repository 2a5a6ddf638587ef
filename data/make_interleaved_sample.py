"""Build the small bundled sample of the interleaved coherence dataset, with real media files.

It writes, under ``--out`` (default ``data/interleaved_sample``):

* six records files, ``audio_test.jsonl``, ``video_test.jsonl``, ``image_test.jsonl``, ``document_test.jsonl``,
  ``code_test.jsonl`` and ``threeD_test.jsonl``, two records each, in the published format: JSON objects
  pretty-printed with ``indent=4`` and written one after another (not one per line);
* the media those records name, under ``<out>/<folder>/<subdomain>/{audio,video,image,document,threeD}/``,
  where ``folder`` is the domain except that ``general_domain`` lives in ``general_area``: espeak-ng speech
  (16 kHz mono WAV for inputs, MP3 for outputs), H.264 + AAC MP4 clips, PNG pictures and charts, a PNG document
  page, a TXT and a PDF document, ASCII PLY point clouds and an OFF mesh;
* ``MANIFEST.json``: size and sha256 of every media and records file, and the versions of the tools used.

Record 602 is deliberately incoherent (its answer describes shapes that its images do not show) and is marked
``"difficulty": "hard"``; see ``data/README.md``.

The output is deterministic: fixed voice, speed and seeds, no timestamps, bit-exact ffmpeg flags and
repeatable sox. Re-running on the same machine gives byte-identical files; other tool versions may encode
media differently but the records files stay the same.

System tools: espeak-ng (speech), sox (silence trimming and timing of speech) and ffmpeg with libx264, aac and
libmp3lame (conversion and video): ``apt-get install espeak-ng ffmpeg sox``. Python packages: numpy, pillow,
matplotlib.

Usage: ``python data/make_interleaved_sample.py [--out data/interleaved_sample]``
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import itertools
import json
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

Record = dict[str, Any]

VOICE = "en-us"
WORDS_PER_MINUTE = 170
SAMPLE_RATE = 16000
MAX_SPEECH_S = 4.0
FPS = 10
VIDEO_SIZE = (160, 120)
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
# The original tool stores general_domain records under general_area; every other domain is its own folder.
DOMAIN_FOLDERS = {"general_domain": "general_area", "natural_science": "natural_science"}
TAG = re.compile(r"<((?:image|audio|video|document|code|threeD)\d+)>")
# Keep encoder names, dates and stream metadata out of the files so that re-runs are byte-identical.
FFMPEG_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]
SOX = ["sox", "-R", "-D"]  # repeatable, and no dither: the effects used here never change sample values
PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}
RED = (220, 30, 30)
BLUE = (30, 70, 220)


@dataclass(frozen=True)
class Place:
    """Where one record's media go: ``<root>/<folder>/<subdomain>/``."""

    root: Path
    domain: str
    subdomain: str

    def file(self, rel: str) -> Path:
        """Absolute path of the media file ``rel`` (as written in ``modal``), with its folder created."""
        path = self.root / DOMAIN_FOLDERS[self.domain] / self.subdomain / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


# ---------------------------------------------------------------- tools


def run(cmd: list[str], stdin: bytes | None = None) -> str:
    """Run a command, returning its stdout; raise with its stderr if it fails."""
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed:\n{result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode(errors="replace")


def ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    """Run ffmpeg quietly, overwriting its output."""
    run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], stdin=stdin)


def scratch(tmp: Path, key: str, suffix: str) -> Path:
    """A scratch file named after its recipe, so equal recipes share a file."""
    return tmp / (hashlib.sha256(key.encode()).hexdigest()[:16] + suffix)


def duration_s(path: Path) -> float:
    """Duration of an audio file, as sox reads it."""
    return float(run(["sox", "--i", "-D", str(path)]))


def tool_versions() -> dict[str, str]:
    """First line of each tool's version output, and the Python packages used."""
    lines = {
        "espeak-ng": run(["espeak-ng", "--version"]),
        "ffmpeg": run(["ffmpeg", "-version"]),
        "sox": run(["sox", "--version"]),
    }
    # espeak-ng appends its data folder to the version line; that is a property of the machine, not the tool.
    versions = {name: " ".join(text.splitlines()[0].split("Data at:")[0].split()) for name, text in lines.items()}
    versions["python"] = platform.python_version()
    for package in ("numpy", "pillow", "matplotlib"):
        versions[package] = importlib.metadata.version(package)
    return versions


# ---------------------------------------------------------------- speech


def speak(text: str, tmp: Path) -> Path:
    """espeak-ng speech for ``text`` with leading and trailing silence cut to 0.1 s; returns a scratch WAV."""
    raw = scratch(tmp, "raw:" + text, ".wav")
    trimmed = scratch(tmp, "trim:" + text, ".wav")
    run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), text])
    cut = ["silence", "1", "0.02", "0.5%"]
    run([*SOX, str(raw), str(trimmed), *cut, "reverse", *cut, "reverse", "pad", "0.1", "0.1"])
    if duration_s(trimmed) > MAX_SPEECH_S:
        raise ValueError(f"speech longer than {MAX_SPEECH_S} s, shorten it: {text!r}")
    return trimmed


def fit(src: Path, seconds: float, tmp: Path) -> Path:
    """``src`` padded with silence (or cut) to exactly ``seconds``."""
    dst = scratch(tmp, f"fit:{src.name}:{seconds}", ".wav")
    run([*SOX, str(src), str(dst), "pad", "0", str(seconds), "trim", "0", str(seconds)])
    return dst


def concat(srcs: list[Path], tmp: Path) -> Path:
    """The WAV files ``srcs`` one after another."""
    dst = scratch(tmp, "concat:" + ",".join(p.name for p in srcs), ".wav")
    run([*SOX, *map(str, srcs), str(dst)])
    return dst


def speech_wav(text: str, dst: Path, tmp: Path) -> None:
    """Speech saved as 16 kHz mono 16-bit WAV."""
    audio = ["-ar", str(SAMPLE_RATE), "-ac", "1", "-c:a", "pcm_s16le"]
    ffmpeg("-i", str(speak(text, tmp)), *audio, *FFMPEG_BITEXACT, str(dst))


def speech_mp3(text: str, dst: Path, tmp: Path) -> None:
    """Speech saved as 16 kHz mono MP3 (32 kbit/s, no ID3 tag)."""
    audio = ["-ar", str(SAMPLE_RATE), "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k", "-id3v2_version", "0"]
    ffmpeg("-i", str(speak(text, tmp)), *audio, *FFMPEG_BITEXACT, str(dst))


# ---------------------------------------------------------------- video


def encode_mp4(frames: Iterable[Image.Image], narration: Path, dst: Path) -> None:
    """H.264 video of RGB ``frames`` at ``FPS`` with ``narration`` as its AAC track."""
    width, height = VIDEO_SIZE
    raw = b"".join(frame.tobytes() for frame in frames)
    video_in = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(FPS), "-i", "-"]
    video_out = ["-c:v", "libx264", "-preset", "medium", "-crf", "28", "-pix_fmt", "yuv420p", "-threads", "1"]
    audio_out = ["-c:a", "aac", "-b:a", "32k", "-ar", str(SAMPLE_RATE), "-ac", "1"]
    maps = ["-map", "0:v", "-map", "1:a", "-movflags", "+faststart"]
    args = [*video_in, "-i", str(narration), *maps, *video_out, *audio_out, *FFMPEG_BITEXACT, str(dst)]
    ffmpeg(*args, stdin=raw)


def sliding_square_frames(seconds: int, side: int = 40) -> Iterator[Image.Image]:
    """A red square moving from the left edge to the right edge of a white frame."""
    width, height = VIDEO_SIZE
    count = seconds * FPS
    top = (height - side) // 2
    for i in range(count):
        left = round(i * (width - side) / (count - 1))
        frame = Image.new("RGB", VIDEO_SIZE, "white")
        ImageDraw.Draw(frame).rectangle((left, top, left + side - 1, top + side - 1), fill=RED)
        yield frame


def countdown_frames(digits: str) -> Iterator[Image.Image]:
    """Each digit, large, black on white, for one second."""
    font = ImageFont.truetype(str(FONT_BOLD), 90)
    width, height = VIDEO_SIZE
    for digit in digits:
        frame = Image.new("RGB", VIDEO_SIZE, "white")
        ImageDraw.Draw(frame).text((width / 2, height / 2), digit, fill="black", font=font, anchor="mm")
        yield from itertools.repeat(frame, FPS)


# ---------------------------------------------------------------- images and documents


def two_shapes_png(dst: Path, circle_centre: tuple[int, int], square_centre: tuple[int, int]) -> None:
    """A red circle and a blue square on a white 256x256 canvas."""
    image = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(image)
    (cx, cy), (sx, sy), radius, half = circle_centre, square_centre, 45, 45
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=RED)
    draw.rectangle((sx - half, sy - half, sx + half, sy + half), fill=BLUE)
    image.save(dst, optimize=True)


def bar_chart(dst: Path, labels: list[str], values: list[int], title: str, ylabel: str, **kw: Any) -> None:
    """A labelled bar chart with each bar's value printed on it (PNG or PDF, from the suffix)."""
    figure = Figure(figsize=kw.get("figsize", (4, 3)), dpi=100)
    axes = figure.add_subplot()
    bars = axes.bar(labels, values, color="tab:blue")
    axes.bar_label(bars, fontsize=11)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    # Headroom above the tallest bar keeps its value label inside the axes.
    axes.set_ylim(*kw.get("ylim", (0, max(values) * 1.15)))
    if "note" in kw:
        figure.text(0.5, 0.02, kw["note"], ha="center", fontsize=10)
    figure.tight_layout(rect=(0, 0.06 if "note" in kw else 0, 1, 1))
    save_figure(figure, dst)


def line_plot_png(dst: Path, xs: list[int], ys: list[int]) -> None:
    """A straight line through the points (xs, ys), with a unit grid to read them off."""
    figure = Figure(figsize=(4, 3), dpi=100)
    axes = figure.add_subplot()
    axes.plot(xs, ys, marker="o", color="tab:green")
    axes.set_xticks(range(min(xs), max(xs) + 1))
    axes.set_yticks(range(0, max(ys) + 2))
    axes.grid(True)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_title("A straight line")
    figure.tight_layout()
    save_figure(figure, dst)


def save_figure(figure: Figure, dst: Path) -> None:
    """Save without the creator, producer or date entries that would change between runs."""
    metadata = PDF_METADATA if dst.suffix == ".pdf" else PNG_METADATA
    figure.savefig(dst, metadata=metadata)


def text_page_png(dst: Path, title: str, lines: list[str], size: tuple[int, int] = (720, 400)) -> None:
    """A printed page: a bold title and body lines in a large font, black on white (greyscale PNG)."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    fonts = [ImageFont.truetype(str(FONT_BOLD), 48)] + [ImageFont.truetype(str(FONT_REGULAR), 36)] * len(lines)
    y = 40
    for text, font in zip([title, *lines], fonts, strict=True):
        if draw.textlength(text, font=font) > size[0] - 80:
            raise ValueError(f"text too wide for the page: {text!r}")
        draw.text((40, y), text, fill=0, font=font)
        y += 80 if font is fonts[0] else 60
    page.save(dst, optimize=True)


# ---------------------------------------------------------------- 3D


def sphere_points(radius: float, count: int) -> np.ndarray:
    """``count`` evenly spread points on a sphere (Fibonacci lattice), centred on the origin."""
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    ring = np.sqrt(1 - z**2)
    angle = np.pi * (1 + 5**0.5) * i
    return radius * np.column_stack([ring * np.cos(angle), ring * np.sin(angle), z])


def box_surface_points(size: tuple[float, float, float], count: int, seed: int) -> np.ndarray:
    """``count`` random points on the surface of a box centred on the origin, spread by face area."""
    rng = np.random.default_rng(seed)
    half = np.asarray(size) / 2
    areas = np.array([size[1] * size[2], size[0] * size[2], size[0] * size[1]])
    axis = rng.choice(3, size=count, p=areas / areas.sum())
    points = rng.uniform(-half, half, size=(count, 3))
    side = rng.integers(0, 2, size=count) * 2 - 1
    points[np.arange(count), axis] = side * half[axis]
    return points


def box_mesh(size: tuple[float, float, float]) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Corners and outward-facing triangles of a box centred on the origin."""
    signs = list(itertools.product((-1, 1), repeat=3))
    corners = np.array(signs, dtype=float) * np.asarray(size) / 2
    triangles = []
    for axis in range(3):
        u_axis, v_axis = (k for k in range(3) if k != axis)
        for side in (-1, 1):
            ring = []
            for u, v in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                corner = [0, 0, 0]
                corner[axis], corner[u_axis], corner[v_axis] = side, u, v
                ring.append(signs.index(tuple(corner)))
            first, second, third = corners[ring[:3]]
            if np.dot(np.cross(second - first, third - first), corners[ring].mean(axis=0)) < 0:
                ring.reverse()
            triangles += [(ring[0], ring[1], ring[2]), (ring[0], ring[2], ring[3])]
    return corners, triangles


def write_ply(dst: Path, points: np.ndarray, colour: tuple[int, int, int]) -> None:
    """An ASCII PLY point cloud with one colour for every point; units are centimetres."""
    header = [
        "ply",
        "format ascii 1.0",
        "comment evalkit interleaved sample, units: centimetres",
        f"element vertex {len(points)}",
        *(f"property float {axis}" for axis in "xyz"),
        *(f"property uchar {channel}" for channel in ("red", "green", "blue")),
        "end_header",
    ]
    red, green, blue = colour
    rows = [f"{x:.4f} {y:.4f} {z:.4f} {red} {green} {blue}" for x, y, z in points]
    dst.write_text("\n".join(header + rows) + "\n", encoding="ascii")


def write_off(dst: Path, corners: np.ndarray, triangles: list[tuple[int, int, int]]) -> None:
    """An OFF triangle mesh; units are centimetres."""
    rows = ["OFF", f"{len(corners)} {len(triangles)} 0"]
    rows += [f"{x:.4f} {y:.4f} {z:.4f}" for x, y, z in corners]
    rows += [f"3 {a} {b} {c}" for a, b, c in triangles]
    dst.write_text("\n".join(rows) + "\n", encoding="ascii")


# ---------------------------------------------------------------- records


def part(content: str, **modal: str) -> dict[str, Any]:
    """One side (input or output) of a record: its media by tag, and text citing them as ``<tag>``."""
    return {"modal": dict(modal), "content": content}


def record(place: Place, rid: str, difficulty: str, inp: dict[str, Any], out: dict[str, Any]) -> Record:
    """A record in the published layout, plus the optional ``difficulty`` field."""
    return {
        "domain": place.domain,
        "subdomain": place.subdomain,
        "id": rid,
        "input": inp,
        "output": out,
        "difficulty": difficulty,
    }


def fenced(language: str, code: str) -> str:
    """Code as the records hold it: a fenced markdown block."""
    return f"```{language}\n{code.strip()}\n```"


def audio_501(root: Path, tmp: Path) -> Record:
    place = Place(root, "general_domain", "entertainment")
    said = "Yes, it begins at seven thirty, in the city park."
    speech_wav(
        "The concert starts at seven thirty tonight, in the city park.", place.file(a1 := "audio/aud_0501_01.wav"), tmp
    )
    speech_mp3(said, place.file(a2 := "audio/aud_0501_02.mp3"), tmp)
    return record(
        place,
        "501",
        "easy",
        part(
            "Listen to <audio1> and tell me when and where the concert starts. Confirm it with a short spoken answer.",
            audio1=a1,
        ),
        part(f'The concert starts at 7:30 tonight in the city park. <audio2> confirms it aloud: "{said}"', audio2=a2),
    )


def audio_502(root: Path, tmp: Path) -> Record:
    place = Place(root, "general_domain", "food")
    speech_wav("Boil water, add one tea bag, then wait three minutes.", place.file(a1 := "audio/aud_0502_01.wav"), tmp)
    return record(
        place,
        "502",
        "easy",
        part("Listen to <audio1> and list, in order, the steps it gives for making tea.", audio1=a1),
        part(
            "As <audio1> explains, there are three steps: first boil water, then add one tea bag, "
            "and finally wait three minutes."
        ),
    )


def video_901(root: Path, tmp: Path) -> Record:
    place = Place(root, "general_domain", "entertainment")
    said = "The red square moves from left to right."
    speech_wav("Show a red square sliding from left to right.", place.file(a1 := "audio/aud_0901_01.wav"), tmp)
    encode_mp4(sliding_square_frames(3), fit(speak(said, tmp), 3.0, tmp), place.file(v1 := "video/vid_0901_01.mp4"))
    return record(
        place,
        "901",
        "medium",
        part("Make a short narrated video of what <audio1> asks for.", audio1=a1),
        part(
            "<video1> shows a red square sliding from the left edge to the right edge of a white frame over "
            f'three seconds, while a voice says: "{said}"',
            video1=v1,
        ),
    )


def video_902(root: Path, tmp: Path) -> Record:
    place = Place(root, "natural_science", "education")
    narration = concat([fit(speak(word, tmp), 1.0, tmp) for word in ("Three.", "Two.", "One.")], tmp)
    encode_mp4(countdown_frames("321"), narration, place.file(v1 := "video/vid_0902_01.mp4"))
    return record(
        place,
        "902",
        "easy",
        part(
            "Watch <video1>. Which numbers appear on screen, in what order, and what does the narrator say?", video1=v1
        ),
        part(
            "In <video1> the digits 3, 2 and 1 appear one after another, one per second, in large black print on a "
            'white background, while the narrator counts down "three, two, one" in time with them.'
        ),
    )


def image_601(root: Path, tmp: Path) -> Record:
    place = Place(root, "natural_science", "geography")
    months, rainfall = ["Jan", "Feb", "Mar", "Apr"], [40, 55, 90, 70]
    bar_chart(place.file(i1 := "image/img_0601_01.png"), months, rainfall, "Monthly rainfall", "rainfall (mm)")
    return record(
        place,
        "601",
        "medium",
        part(
            "Read the bar chart in <image1>: which month was the wettest, and how do the other months compare?",
            image1=i1,
        ),
        part(
            "As <image1> shows, March was the wettest month with 90 mm of rain, followed by April with 70 mm and "
            "February with 55 mm; January was the driest at 40 mm."
        ),
    )


def image_602(root: Path, tmp: Path) -> Record:
    """The deliberately incoherent record: the answer names shapes and colours the images do not show."""
    place = Place(root, "natural_science", "education")
    two_shapes_png(place.file(i1 := "image/img_0602_01.png"), circle_centre=(128, 70), square_centre=(128, 186))
    two_shapes_png(place.file(i2 := "image/img_0602_02.png"), circle_centre=(70, 128), square_centre=(186, 128))
    return record(
        place,
        "602",
        "hard",
        part(
            "Describe the two shapes in <image1> and where they are, then draw the same shapes side by side.", image1=i1
        ),
        part(
            "<image1> shows a green triangle above a yellow star. <image2> draws the same two shapes side by side, "
            "with the green triangle on the left and the yellow star on the right.",
            image2=i2,
        ),
    )


def document_301(root: Path, tmp: Path) -> Record:
    place = Place(root, "general_domain", "education")
    speech_wav(
        "The library opens nine to five on weekdays, not on Sundays.",
        place.file(a1 := "audio/aud_0301_01.wav"),
        tmp,
    )
    text_page_png(
        place.file(d1 := "document/doc_0301_01.png"),
        "CITY LIBRARY",
        ["Opening hours", "Monday to Friday: 9 am - 5 pm", "Sunday: closed"],
    )
    return record(
        place,
        "301",
        "easy",
        part("Listen to <audio1> and make a printed notice of the library's opening hours.", audio1=a1),
        part(
            "<document1> is a printed notice for the city library that repeats what <audio1> says: it is open "
            "Monday to Friday from 9 am to 5 pm and closed on Sunday.",
            document1=d1,
        ),
    )


MOUNTAINS = {"Mount Everest": 8849, "K2": 8611, "Kangchenjunga": 8586}


def document_302(root: Path, tmp: Path) -> Record:
    place = Place(root, "natural_science", "geography")
    facts = ["The three highest mountains on Earth (height above sea level):"]
    facts += [f"{name}: {height} m" for name, height in MOUNTAINS.items()]
    place.file(d1 := "document/doc_0302_01.txt").write_text("\n".join(facts) + "\n", encoding="utf-8")
    bar_chart(
        place.file(d2 := "document/doc_0302_02.pdf"),
        list(MOUNTAINS),
        list(MOUNTAINS.values()),
        "The three highest mountains",
        "height above sea level (m)",
        figsize=(6, 4.5),
        ylim=(8400, 8900),
        note="Everest is 238 m higher than K2.",
    )
    return record(
        place,
        "302",
        "medium",
        part("Read <document1> and turn its figures into a one-page chart.", document1=d1),
        part(
            "<document2> charts the heights listed in <document1>: Mount Everest is the tallest at 8849 m, followed "
            "by K2 at 8611 m and Kangchenjunga at 8586 m, so Everest is 238 m higher than K2.",
            document2=d2,
        ),
    )


BUGGY_AVERAGE = """
def average(values: list[float]) -> float:
    total = 0.0
    for value in values:
        total += value
    return total / (len(values) - 1)
"""

FIXED_AVERAGE = """
def average(values: list[float]) -> float:
    if not values:
        raise ValueError("average() needs at least one value")
    total = 0.0
    for value in values:
        total += value
    return total / len(values)
"""


def code_101(root: Path, tmp: Path) -> Record:
    place = Place(root, "natural_science", "programming")
    return record(
        place,
        "101",
        "easy",
        part(
            "<code1> should return the mean of a list of numbers. Find the bug and give the corrected code.",
            code1=fenced("python", BUGGY_AVERAGE),
        ),
        part(
            "<code1> divides the sum by len(values) - 1 instead of len(values), so average([2, 4, 6]) returns 6.0 "
            "instead of 4.0. The corrected function is <code2>; it also rejects an empty list instead of dividing "
            "by zero.",
            code2=fenced("python", FIXED_AVERAGE),
        ),
    )


def code_102(root: Path, tmp: Path) -> Record:
    place = Place(root, "natural_science", "programming")
    xs = list(range(5))
    line_plot_png(place.file(i1 := "image/img_0102_01.png"), xs, [2 * x + 1 for x in xs])
    code = fenced("python", "def f(x: float) -> float:\n    return 2 * x + 1")
    return record(
        place,
        "102",
        "medium",
        part(
            "Does the line plotted in <image1> match the function in <code1>? Check it with two points.",
            code1=code,
            image1=i1,
        ),
        part(
            "Yes. <image1> shows a straight line through (0, 1) and (4, 9), and <code1> gives f(0) = 2 * 0 + 1 = 1 "
            "and f(4) = 2 * 4 + 1 = 9; the slope of 2 matches as well."
        ),
    )


def threed_1101(root: Path, tmp: Path) -> Record:
    place = Place(root, "general_domain", "food")
    speech_wav("It is round, orange and sweet, with a thick peel.", place.file(a1 := "audio/aud_1101_01.wav"), tmp)
    write_ply(place.file(t1 := "threeD/thd_1101_01.ply"), sphere_points(4.0, 400), colour=(255, 140, 0))
    return record(
        place,
        "1101",
        "medium",
        part(
            "Based on the description in <audio1>, what fruit could this be? Give a 3D point cloud of its shape.",
            audio1=a1,
        ),
        part(
            "The round, orange, sweet fruit with a thick peel described in <audio1> is most likely an orange. "
            "<threeD1> is an orange-coloured point cloud of a sphere 8 cm across, matching its round shape.",
            threeD1=t1,
        ),
    )


def threed_1102(root: Path, tmp: Path) -> Record:
    place = Place(root, "general_domain", "food")
    write_ply(
        place.file(t1 := "threeD/thd_1102_01.ply"), box_surface_points((12, 5, 1), 400, seed=1102), colour=(90, 50, 20)
    )
    write_off(place.file(t2 := "threeD/thd_1102_02.off"), *box_mesh((6, 5, 1)))
    return record(
        place,
        "1102",
        "medium",
        part(
            "<threeD1> is a point cloud of a food item, in centimetres. What food could it be? "
            "Give a 3D model of one of two equal pieces it can be broken into.",
            threeD1=t1,
        ),
        part(
            "<threeD1> is a flat, elongated box about 12 cm long, 5 cm wide and 1 cm thick, a shape that fits a "
            "chocolate bar. Broken across its length it gives two pieces like <threeD2>, each 6 cm long, 5 cm wide "
            "and 1 cm thick.",
            threeD2=t2,
        ),
    )


BUILDERS: dict[str, list[Callable[[Path, Path], Record]]] = {
    "audio": [audio_501, audio_502],
    "video": [video_901, video_902],
    "image": [image_601, image_602],
    "document": [document_301, document_302],
    "code": [code_101, code_102],
    "threeD": [threed_1101, threed_1102],
}


# ---------------------------------------------------------------- output


def write_records(dst: Path, records: list[Record]) -> None:
    """Records pretty-printed one after another, as in the published files (no newline at the end)."""
    dst.write_text("\n".join(json.dumps(rec, indent=4, ensure_ascii=False) for rec in records), encoding="utf-8")


def record_problems(root: Path, rec: Record) -> list[str]:
    """What is wrong with one record: uncited or undefined tags, reused tags, missing media files."""
    where = f"record {rec['id']}"
    base = root / DOMAIN_FOLDERS[rec["domain"]] / rec["subdomain"]
    inp, out = rec["input"]["modal"], rec["output"]["modal"]
    problems = [f"{where}: output reuses input tag {tag}" for tag in inp.keys() & out.keys()]
    for side, known in (("input", inp), ("output", {**inp, **out})):
        cited = set(TAG.findall(rec[side]["content"]))
        problems += [f"{where}: {side} cites <{tag}> with no modal entry" for tag in sorted(cited - known.keys())]
        own = rec[side]["modal"]
        problems += [f"{where}: {side} never cites its <{tag}>" for tag in sorted(own.keys() - cited)]
        for tag, value in own.items():
            if tag.startswith("code"):
                if not value.startswith("```"):
                    problems.append(f"{where}: {tag} is not a fenced code block")
            elif not (base / value).is_file():
                problems.append(f"{where}: {tag} file {base / value} is missing")
    return problems


def file_entry(root: Path, path: Path) -> dict[str, Any]:
    """Relative path, size and sha256 of one file."""
    data = path.read_bytes()
    return {"path": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_manifest(root: Path) -> None:
    """MANIFEST.json: every records and media file with size and sha256, and the tool versions."""
    records = sorted(root.glob("*_test.jsonl"))
    media = sorted(p for folder in DOMAIN_FOLDERS.values() for p in (root / folder).rglob("*") if p.is_file())
    manifest = {
        "generator": "data/make_interleaved_sample.py",
        "tools": tool_versions(),
        "records": [file_entry(root, p) for p in records],
        "media": [file_entry(root, p) for p in media],
        "total_bytes": sum(p.stat().st_size for p in records + media),
    }
    (root / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def clean(root: Path) -> None:
    """Remove what an earlier run wrote, so that no stale file survives."""
    for folder in DOMAIN_FOLDERS.values():
        shutil.rmtree(root / folder, ignore_errors=True)
    for path in [*root.glob("*_test.jsonl"), root / "MANIFEST.json"]:
        path.unlink(missing_ok=True)


def check_tools() -> None:
    """Fail early, with the install hint, when a system tool is missing."""
    missing = [tool for tool in ("espeak-ng", "sox", "ffmpeg") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install espeak-ng ffmpeg sox")


def build(root: Path) -> None:
    """Write every records file, its media and the manifest under ``root``; check the records first."""
    check_tools()
    root.mkdir(parents=True, exist_ok=True)
    clean(root)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, builders in BUILDERS.items():
            records = [builder(root, Path(tmp)) for builder in builders]
            problems += [p for rec in records for p in record_problems(root, rec)]
            write_records(root / f"{family}_test.jsonl", records)
    if problems:
        raise SystemExit("\n".join(problems))
    write_manifest(root)


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the bundled interleaved coherence sample with real media.")
    parser.add_argument(
        "--out", type=Path, default=Path("data/interleaved_sample"), help="output folder (default: %(default)s)"
    )
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
