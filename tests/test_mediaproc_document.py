"""Documents on real files made here: PDF pages (pypdfium2 and pdftoppm), text layers, .docx, text files."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import ConfigError
from evalkit.mediaproc.document import DocumentSettings, load_document, renderer_for

needs_pdfium = pytest.mark.skipif(importlib.util.find_spec("pypdfium2") is None, reason="pypdfium2 is not installed")


def write_pdf(out: Path, pages: list[str]) -> Path:
    """A PDF with one US-letter page per string, each string in its text layer (Helvetica 24 pt)."""
    count = len(pages)
    font = 3 + 2 * count
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count)).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count)
    for i, text in enumerate(pages):
        stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode("latin-1")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
            b" /Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
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


PAGES = ["Page one about cats", "Page two about dogs", "Page three about birds"]


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "doc.pdf", PAGES)


def ink_rows(page: np.ndarray) -> np.ndarray:
    """Rows that hold dark pixels."""
    return np.nonzero((page.min(axis=2) < 128).any(axis=1))[0]


@needs_pdfium
def test_pdf_pages_and_text_within_page_budget(pdf: Path) -> None:
    out = load_document(pdf, DocumentSettings(max_pages=2, dpi=72, renderer="pypdfium2"))
    assert out.texts == tuple(PAGES[:2]) and out.text == "Page one about cats\n\nPage two about dogs"
    assert len(out.pages) == 2 and all(p.shape == (792, 612, 3) and p.dtype == np.uint8 for p in out.pages)
    rows = ink_rows(out.pages[0])
    assert len(rows) > 5 and 70 < rows.min() < rows.max() < 100  # the text line, 700 pt from the bottom
    report = out.report
    assert report.decoder == "pypdf+pypdfium2" and report.original.pages == 3
    assert report.output.pages == 2 and report.output.chars == len(PAGES[0]) + len(PAGES[1])
    assert "first 2 of 3 pages kept (max_pages=2)" in report.actions


@needs_pdfium
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed")
def test_pdftoppm_renderer_agrees_with_pypdfium2(pdf: Path) -> None:
    a = load_document(pdf, DocumentSettings(mode="images", dpi=72, renderer="pypdfium2"))
    b = load_document(pdf, DocumentSettings(mode="images", dpi=72, renderer="pdftoppm"))
    assert (a.report.decoder, b.report.decoder) == ("pypdfium2", "pdftoppm")
    assert b.report.settings["renderer"] == "pdftoppm"
    assert [p.shape for p in a.pages] == [p.shape for p in b.pages] == [(792, 612, 3)] * 3
    for pa, pb in zip(a.pages, b.pages, strict=True):
        ra, rb = ink_rows(pa), ink_rows(pb)
        assert abs(int(ra.min()) - int(rb.min())) <= 2 and abs(int(ra.max()) - int(rb.max())) <= 2


@needs_pdfium
def test_modes_and_pixel_and_char_budgets(pdf: Path) -> None:
    text_only = load_document(pdf, DocumentSettings(mode="text", max_chars=25))
    assert text_only.pages == () and text_only.texts == ("Page one about cats", "Page t", "")
    assert "text cut at 25 of 60 characters" in text_only.report.actions
    assert text_only.report.settings["renderer"] == "none"  # nothing rendered
    images = load_document(pdf, DocumentSettings(mode="images", dpi=144, max_pixels=300_000, patch=28))
    assert images.texts == () and len(images.pages) == 3
    h, w = images.pages[0].shape[:2]
    assert h * w <= 300_000 and h % 28 == 0 and w % 28 == 0
    assert "page 1 resized 1224x1584 -> 476x616" in images.report.actions


@needs_pdfium
def test_scanned_pdf_has_no_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    Image.new("RGB", (200, 100), "white").save(path)
    out = load_document(path, DocumentSettings(dpi=72))
    assert out.texts == ("",) and len(out.pages) == 1
    assert "no text layer (scanned or image-only pages)" in out.report.actions


def test_docx_text_and_image_mode(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("First paragraph.")
    document.add_paragraph("Second paragraph.")
    document.save(str(tmp_path / "d.docx"))
    out = load_document(tmp_path / "d.docx")
    assert out.text == "First paragraph.\nSecond paragraph." and out.pages == ()
    assert out.report.decoder == "python-docx"
    assert "no page images for .docx: text only" in out.report.actions


def test_text_files_and_image_documents(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    out = load_document(tmp_path / "t.csv", DocumentSettings(mode="text"))
    assert out.texts == ("a,b\n1,2\n",) and out.report.actions == ()
    Image.new("RGB", (2000, 1000), "white").save(tmp_path / "scan.png")
    page = load_document(tmp_path / "scan.png", DocumentSettings(max_pixels=500_000))
    assert len(page.pages) == 1 and page.pages[0].shape == (500, 1000, 3) and page.texts == ()
    assert "image document: no text layer read (page image only)" in page.report.actions


def test_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FileNotFoundError):
        load_document(tmp_path / "absent.pdf")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(ValueError, match=r"bad\.pdf"):
        load_document(tmp_path / "bad.pdf", DocumentSettings(mode="text"))
    (tmp_path / "x.xyz").write_text("?")
    with pytest.raises(ValueError, match="unsupported document type"):
        load_document(tmp_path / "x.xyz")
    with pytest.raises(ConfigError, match="document settings"):
        DocumentSettings(mode="pages")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="poppler-utils"):
        renderer_for("pdftoppm")
