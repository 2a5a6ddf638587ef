"""run.py preflight against the loopback dev server: ready; a dead port is not ready in one line; a corrupt media
file (and a bad record) is not ready, naming the file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import SAMPLE, Dev, code_record, write_config, write_records

from evalkit.cli import main
from evalkit.embedded.llama_server import free_port

IMAGE = next(SAMPLE.rglob("img_0601_01.png"))


def image_record(i: int, path: str) -> dict:
    """A record citing one image under ``<root>/natural_science/programming/``."""
    rec = code_record(i)
    rec["input"] = {"modal": {"image1": path}, "content": f"What does <image1> show? ({i})"}
    rec["output"] = {"modal": {}, "content": f"<image1> shows a bar chart ({i})."}
    return rec


def dataset(tmp: Path, image_bytes: bytes | None = None) -> Path:
    """tmp/data: 3 code records and 1 image record (the real bundled PNG, or ``image_bytes``)."""
    folder = tmp / "data" / "natural_science" / "programming" / "image"
    folder.mkdir(parents=True)
    if image_bytes is None:
        shutil.copy(IMAGE, folder / "chart.png")
    else:
        (folder / "chart.png").write_bytes(image_bytes)
    return write_records(
        tmp / "data" / "mixed.jsonl",
        [code_record(1), code_record(2), image_record(3, "image/chart.png"), code_record(4)],
    )


def preflight(cfg: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["preflight", "--config", str(cfg), "--model", "echo", "--dataset", "ds", "--no-progress"])
    return code, capsys.readouterr().out


def row(out: str, name: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith(name)]
    assert len(lines) == 1, out
    return lines[0]


def test_ready_against_the_dev_server(dev: Dev, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset(tmp_path)
    code, out = preflight(write_config(tmp_path, dev.base_url), capsys)
    assert code == 0, out
    assert out.rstrip().endswith("READY") and "NOT READY" not in out
    assert "4 records, 0 bad" in row(out, "records")
    assert "1 files decoded" in row(out, "media ") and "image 1" in row(out, "media ")
    assert "1 request" in row(out, "model echo") and "tokens" in row(out, "model echo")
    assert " ok " in row(out, "captioner image-cpu") and " ok " in row(out, "judge llm")
    assert "4 model requests, 4 judge verdicts" in row(out, "estimate")
    assert dev.requests("echo") == 1  # exactly one request to the model
    assert dev.requests("judge-json") >= 1


def test_dead_port_is_not_ready_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset(tmp_path)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    code, out = preflight(write_config(tmp_path, dead), capsys)
    assert code == 1 and out.rstrip().endswith("NOT READY")
    line = row(out, "model echo")
    assert "FAIL" in line and dead in line
    assert " ok " in row(out, "records") and " ok " in row(out, "media ")


def test_corrupt_media_and_bad_record_are_named(dev: Dev, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = dataset(tmp_path, image_bytes=b"\x89PNG\r\n\x1a\n this is not an image")
    with records.open("a", encoding="utf-8") as f:
        f.write('\n{"id": "5", "domain": "natural_science"}')
    code, out = preflight(write_config(tmp_path, dev.base_url), capsys)
    assert code == 1 and out.rstrip().endswith("NOT READY")
    media = row(out, "media ")
    assert "FAIL" in media and f"{records}:" in media and "chart.png" in media and "<image1>" in media
    line = media.split(f"{records}:")[1].split(":")[0]
    assert records.read_text(encoding="utf-8").splitlines()[int(line) - 1].strip() == "{"
    assert "FAIL" in row(out, "records") and "5 records, 1 bad" in row(out, "records")
    assert f"{records}:" in row(out, "records")
