"""Tests of the embedded CPU stack on real media made in tmp dirs (espeak-ng, ffmpeg, Pillow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from evalkit.embedded import whisper as whisper_mod
from evalkit.embedded.describe import (
    colour_name,
    describe_document,
    describe_image,
    describe_point_cloud,
    describe_video,
    shape_hint,
)
from evalkit.embedded.llama_server import (
    LocalServer,
    free_port,
    llama_server_command,
    smollm2_gguf_path,
    start_smollm2_server,
)
from evalkit.embedded.minilm import MiniLMEmbedder, minilm_model_dir
from evalkit.embedded.whisper import WhisperTranscriber, whisper_model_dir
from evalkit.errors import ConfigError

SENTENCE = "Please open the window and close the door."
SENTENCE_WORDS = ("open", "window", "close", "door")

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


# ----------------------------------------------------------------------------------------------- media helpers


def speak(text: str, out: Path) -> Path:
    """Synthesise ``text`` to a wav file with espeak-ng."""
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(out), text], check=True, capture_output=True, timeout=60)
    return out


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly, failing the test on error."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, capture_output=True, timeout=60)


def make_video(out: Path, colour: str, seconds: float, audio: Path | None = None) -> Path:
    """Write a 160x120, 10 fps solid-colour mp4, with ``audio`` as its sound track when given."""
    inputs = ["-f", "lavfi", "-i", f"color=c={colour}:s=160x120:r=10"]
    audio_args = ["-i", str(audio)] if audio is not None else []
    codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p", *(["-c:a", "aac"] if audio is not None else [])]
    ffmpeg(*inputs, *audio_args, *codecs, "-t", f"{seconds}", str(out))
    return out


def write_text_pdf(out: Path, text: str) -> Path:
    """Write a one-page PDF with ``text`` in its text layer (Helvetica), with a correct xref table."""
    stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    out.write_bytes(bytes(body))
    return out


def box_points(extents: tuple[float, float, float], count: int, seed: int = 0) -> np.ndarray:
    """Return ``count`` random points inside a box with the given extents, its corners included."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0.0, 1.0, size=(count, 3)) * np.asarray(extents)
    points[0] = 0.0
    points[1] = extents
    return points


def write_ply_ascii(out: Path, points: np.ndarray) -> Path:
    """Write an ASCII PLY with x y z plus a colour, and a face element after the vertices."""
    header = [
        "ply",
        "format ascii 1.0",
        "comment made by test_embedded",
        f"element vertex {len(points)}",
        "property float x",
        "property float y",
        "property float z",
        "property uchar red",
        "element face 1",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    rows = [f"{x:.6f} {y:.6f} {z:.6f} 200" for x, y, z in points]
    out.write_text("\n".join([*header, *rows, "3 0 1 2"]) + "\n", encoding="ascii")
    return out


def write_ply_binary(out: Path, points: np.ndarray) -> Path:
    """Write a binary little-endian PLY with double x y z and an extra int property."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(points)}\nproperty int id\nproperty double x\nproperty double y\nproperty double z\n"
        "end_header\n"
    )
    table = np.zeros(len(points), dtype=[("id", "<i4"), ("x", "<f8"), ("y", "<f8"), ("z", "<f8")])
    table["id"] = np.arange(len(points))
    table["x"], table["y"], table["z"] = points[:, 0], points[:, 1], points[:, 2]
    out.write_bytes(header.encode("ascii") + table.tobytes())
    return out


def write_off(out: Path, points: np.ndarray) -> Path:
    """Write an OFF file with only vertices (no faces) and a comment."""
    rows = [f"{x} {y} {z}" for x, y, z in points]
    out.write_text("\n".join(["OFF", "# a comment", f"{len(points)} 0 0", *rows]) + "\n", encoding="ascii")
    return out


# ----------------------------------------------------------------------------------------------- whisper


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return whisper_model_dir(tmp_path_factory.mktemp("whisper-cache"))


@pytest.fixture(scope="module")
def transcriber(whisper_dir: Path) -> WhisperTranscriber:
    return WhisperTranscriber(whisper_dir, language="en")


def test_whisper_model_dir_is_assembled_and_idempotent(whisper_dir: Path) -> None:
    size = (whisper_dir / "model.bin").stat().st_size
    assert size > 100_000_000
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in whisper_dir.iterdir()}
    mtime = (whisper_dir / "model.bin").stat().st_mtime_ns
    assert whisper_model_dir(whisper_dir) == whisper_dir
    assert (whisper_dir / "model.bin").stat().st_mtime_ns == mtime, "a complete cache must not be rewritten"
    assert not [p for p in whisper_dir.iterdir() if p.name.endswith(".tmp")]


def test_whisper_model_dir_rebuilds_a_truncated_model(tmp_path: Path, whisper_dir: Path) -> None:
    target = tmp_path / "cache"
    shutil.copytree(whisper_dir, target)
    with (target / "model.bin").open("r+b") as fh:
        fh.truncate(1000)
    whisper_model_dir(target)
    assert (target / "model.bin").stat().st_size == (whisper_dir / "model.bin").stat().st_size


def test_whisper_model_dir_survives_concurrent_assembly(tmp_path: Path, whisper_dir: Path) -> None:
    target = tmp_path / "race"
    code = (
        "import sys; from pathlib import Path; "
        "from evalkit.embedded.whisper import whisper_model_dir; whisper_model_dir(Path(sys.argv[1]))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)]) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert (target / "model.bin").read_bytes() == (whisper_dir / "model.bin").read_bytes()
    assert not [p for p in target.iterdir() if p.name.endswith(".tmp")]


def test_corrupted_part_fails_checksum(tmp_path: Path) -> None:
    fake = tmp_path / "model.bin.part1"
    fake.write_bytes(b"not the model")
    part = whisper_mod._PackagedFile(fake, len(b"not the model"), "A" * 43)
    with (tmp_path / "out").open("wb") as out, pytest.raises(ConfigError, match="SHA-256"):
        whisper_mod._copy_part(part, out)


@needs_espeak
def test_whisper_transcribes_espeak_wav_and_mp3(tmp_path: Path, transcriber: WhisperTranscriber) -> None:
    wav = speak(SENTENCE, tmp_path / "speech.wav")
    text = transcriber.transcribe(wav).lower()
    assert all(word in text for word in SENTENCE_WORDS), text
    if shutil.which("ffmpeg"):
        mp3 = tmp_path / "speech.mp3"
        ffmpeg("-i", str(wav), str(mp3))
        text = transcriber.transcribe(mp3).lower()
        assert all(word in text for word in ("window", "door")), text


@needs_espeak
@needs_ffmpeg
def test_whisper_transcribes_mp4_audio_track(tmp_path: Path, transcriber: WhisperTranscriber) -> None:
    wav = speak(SENTENCE, tmp_path / "speech.wav")
    video = make_video(tmp_path / "talk.mp4", "blue", 4, audio=wav)
    text = transcriber.transcribe(video).lower()
    assert all(word in text for word in SENTENCE_WORDS), text


@needs_ffmpeg
def test_whisper_rejects_video_without_audio(tmp_path: Path) -> None:
    video = make_video(tmp_path / "silent.mp4", "green", 1)
    with pytest.raises(ValueError, match="no audio stream"):
        WhisperTranscriber().transcribe(video)


def test_whisper_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        WhisperTranscriber().transcribe(tmp_path / "absent.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all")
    with pytest.raises(ValueError, match="cannot read"):
        WhisperTranscriber().transcribe(junk)


def test_whisper_config_names_output_settings() -> None:
    config = WhisperTranscriber(beam_size=3, language="de").config()
    assert config == {"model": "whisper-base", "compute_type": "int8", "beam_size": 3, "language": "de"}


# ----------------------------------------------------------------------------------------------- MiniLM


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_minilm_model_dir_is_inside_the_package() -> None:
    model_dir = minilm_model_dir()
    assert (model_dir / "modules.json").is_file()
    assert "site-packages" in str(model_dir) or "dist-packages" in str(model_dir)


def test_minilm_similar_sentences_score_higher(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.encode(
        ["A cat is sitting on the mat.", "A kitten sits on a rug.", "The stock market fell sharply today."]
    )
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.3, (similar, unrelated)


def test_minilm_empty_input_and_config(embedder: MiniLMEmbedder) -> None:
    assert embedder.encode([]).shape == (0, 384)
    assert embedder.config()["model"] == "all-MiniLM-L6-v2"


# ----------------------------------------------------------------------------------------------- images, documents


def test_colour_names() -> None:
    expected = {
        (255, 0, 0): "red",
        (0, 160, 0): "green",
        (0, 0, 255): "blue",
        (255, 255, 0): "yellow",
        (255, 255, 255): "white",
        (0, 0, 0): "black",
        (128, 128, 128): "gray",
        (128, 0, 128): "purple",
    }
    assert {rgb: colour_name(rgb) for rgb in expected} == expected


def test_describe_image_names_red_and_layout(tmp_path: Path) -> None:
    red = tmp_path / "red.png"
    Image.new("RGB", (200, 100), (220, 20, 30)).save(red)
    text = describe_image(red)
    assert "200x100" in text and "red" in text.lower()

    split = tmp_path / "split.png"
    image = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 99, 199), fill=(0, 0, 220))
    image.save(split)
    text = describe_image(split)
    assert "blue (50%, in the left part)" in text and "white (50%, in the right part)" in text, text


def test_describe_image_reads_text(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    image = Image.new("RGB", (640, 160), "white")
    ImageDraw.Draw(image).text((20, 50), "HELLO EVALKIT 42", fill="black", font=ImageFont.load_default(size=40))
    path = tmp_path / "sign.png"
    image.save(path)
    assert "HELLO EVALKIT 42" in describe_image(path)
    assert "HELLO EVALKIT 42" in describe_document(path)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(blank)
    assert "No text found" in describe_image(blank)


def test_describe_image_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        describe_image(tmp_path / "absent.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image"):
        describe_image(bad)


def test_describe_document_text_files(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Title\nSome *markdown* body.", encoding="utf-8")
    assert describe_document(note) == "# Title\nSome *markdown* body."
    long = tmp_path / "long.txt"
    long.write_text("x" * 5000, encoding="utf-8")
    assert describe_document(long).startswith("x" * 2000)
    assert len(describe_document(long)) < 2100


def test_describe_document_pdf(tmp_path: Path) -> None:
    pdf = write_text_pdf(tmp_path / "doc.pdf", "Quarterly revenue grew by 12 percent")
    assert "Quarterly revenue grew by 12 percent" in describe_document(pdf)
    scanned = tmp_path / "scan.pdf"
    Image.new("RGB", (200, 200), "white").save(scanned)
    assert "no text layer" in describe_document(scanned)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(ValueError, match="cannot read PDF"):
        describe_document(broken)


def test_describe_document_docx_and_errors(tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("First paragraph about apples.")
    document.add_paragraph("Second paragraph about pears.")
    path = tmp_path / "memo.docx"
    document.save(str(path))
    assert describe_document(path) == "First paragraph about apples.\nSecond paragraph about pears."
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cannot read \.docx"):
        describe_document(bad)
    other = tmp_path / "sheet.xlsx"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match="unsupported document type"):
        describe_document(other)
    with pytest.raises(FileNotFoundError):
        describe_document(tmp_path / "absent.txt")


# ----------------------------------------------------------------------------------------------- point clouds


@pytest.mark.parametrize("writer", [write_ply_ascii, write_ply_binary, write_off])
def test_describe_point_cloud_elongated_box(tmp_path: Path, writer: object) -> None:
    points = box_points((10.0, 1.0, 0.8), 500)
    suffix = ".off" if writer is write_off else ".ply"
    path = writer(tmp_path / f"box{suffix}", points)  # type: ignore[operator]
    text = describe_point_cloud(path)
    assert "500 points" in text, text
    assert "elongated (longest along x)" in text, text
    assert "x=10," in text, text


def test_shape_hints() -> None:
    assert shape_hint(np.array([1.0, 1.0, 0.05])).startswith("flat")
    assert shape_hint(np.array([1.0, 0.9, 1.1])).startswith("compact-roundish")
    assert shape_hint(np.array([0.2, 5.0, 0.3])) == "elongated (longest along y)"
    assert shape_hint(np.zeros(3)).startswith("a single point")


def test_describe_point_cloud_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        describe_point_cloud(tmp_path / "absent.ply")
    bad = tmp_path / "bad.ply"
    bad.write_text("not a ply\n", encoding="ascii")
    with pytest.raises(ValueError, match="not a PLY"):
        describe_point_cloud(bad)
    short = tmp_path / "short.ply"
    short.write_text(
        "ply\nformat ascii 1.0\nelement vertex 5\n"
        "property float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n"
    )
    with pytest.raises(ValueError, match="declares 5 vertices"):
        describe_point_cloud(short)
    with pytest.raises(ValueError, match="unsupported point cloud"):
        describe_point_cloud(bad.rename(tmp_path / "bad.xyz"))


# ----------------------------------------------------------------------------------------------- video


@needs_ffmpeg
def test_describe_video_without_audio(tmp_path: Path) -> None:
    video = make_video(tmp_path / "green.mp4", "green", 2)
    text = describe_video(video, None)
    assert "2.0 seconds" in text and "160x120 pixels" in text and "10 fps" in text, text
    assert text.count("green") == 3 and "No audio track" in text, text


@needs_ffmpeg
@needs_espeak
def test_describe_video_with_speech(tmp_path: Path, transcriber: WhisperTranscriber) -> None:
    wav = speak(SENTENCE, tmp_path / "speech.wav")
    video = make_video(tmp_path / "red.mp4", "red", 4, audio=wav)
    assert "not transcribed" in describe_video(video, None)
    text = describe_video(video, transcriber)
    assert "red" in text and "window" in text.lower(), text


def test_describe_video_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        describe_video(tmp_path / "absent.mp4", None)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(ValueError, match="cannot read video"):
        describe_video(bad, None)


# ----------------------------------------------------------------------------------------------- llama server


def test_llama_server_command_uses_real_flags() -> None:
    argv = llama_server_command(Path("/m.gguf"), port=1234)
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert pairs["--model"] == "/m.gguf" and pairs["--port"] == "1234" and pairs["--host"] == "127.0.0.1"
    assert pairs["--model_alias"] == "smollm2-135m-instruct" and pairs["--n_ctx"] == "4096"
    assert pairs["--chat_format"] == "chat_template.default"


def test_smollm2_gguf_is_found() -> None:
    path = smollm2_gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def process_exists(pid: int) -> bool:
    """Return whether a process (not a zombie) with ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


@pytest.fixture
def smollm2() -> Iterator[LocalServer]:
    server = start_smollm2_server()
    try:
        yield server
    finally:
        server.stop()


def test_smollm2_server_chat_completion_and_stop(smollm2: LocalServer) -> None:
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
        "max_tokens": 32,
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{smollm2.base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        reply = json.load(response)
    content = reply["choices"][0]["message"]["content"]
    assert content.strip(), reply
    assert "paris" in content.lower(), content
    pid = smollm2.pid
    assert pid is not None
    smollm2.stop()
    assert not smollm2.running()
    assert not process_exists(pid)


def test_local_server_reports_a_crashing_command(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    argv = [sys.executable, "-c", "import sys; print('boom: bad flag'); sys.exit(3)"]
    server = LocalServer(argv, f"http://127.0.0.1:{free_port()}/v1", startup_timeout_s=30, log_path=log)
    with pytest.raises(ConfigError, match=r"(?s)exited with code 3.*boom: bad flag"):
        server.start()
    assert not server.running()


def test_local_server_times_out_and_kills_the_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time; "
        "child = subprocess.Popen(['sleep', '60']); "
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}'); "
        "time.sleep(60)"
    )
    server = LocalServer(
        [sys.executable, "-c", script, str(pids)],
        f"http://127.0.0.1:{free_port()}/v1",
        startup_timeout_s=2,
        log_path=tmp_path / "server.log",
    )
    started = time.monotonic()
    with pytest.raises(ConfigError, match="did not answer"):
        server.start()
    assert time.monotonic() - started < 15
    assert not server.running()
    leader, grandchild = (int(pid) for pid in pids.read_text().split())
    deadline = time.monotonic() + 5
    while process_exists(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_exists(leader)
    assert not process_exists(grandchild), "the whole process group must be stopped"
