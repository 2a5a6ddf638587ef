"""Documents as page images and/or text, within a page budget.

PDF pages are rendered by pypdfium2 or, when it is missing, by ``pdftoppm`` (Debian's poppler-utils); the
text layer comes from pypdf (pypdfium2 when pypdf is missing). ``.docx`` and plain text files give text only;
an image file given as a document is one page image. What was used and what was cut is on the report.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from evalkit.errors import ConfigError, missing_extra
from evalkit.media import IMAGE_SUFFIXES, TEXT_SUFFIXES, file_sha256
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.image import fit_rgb
from evalkit.mediaproc.report import MediaInfo, MediaReport, settings_dict
from evalkit.mediaproc.settings import RENDERERS, DocumentSettings

PDFTOPPM_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DocumentPages:
    """A document's page images and text.

    Attributes:
        pages: one ``(h, w, 3)`` uint8 RGB image per kept page (empty in text mode and for text files).
        texts: the text of each kept page (one entry for .docx and text files; empty in images mode).
        report: what was done.
    """

    pages: tuple[npt.NDArray[np.uint8], ...]
    texts: tuple[str, ...]
    report: MediaReport

    @property
    def text(self) -> str:
        """All kept text, pages separated by a blank line."""
        return "\n\n".join(t for t in self.texts if t)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {f"page_{i}": page for i, page in enumerate(self.pages)}
        out["texts"] = np.array(list(self.texts), dtype=str)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], report: MediaReport) -> Self:
        count = sum(1 for name in arrays if name.startswith("page_"))
        pages = tuple(arrays[f"page_{i}"] for i in range(count))
        return cls(pages=pages, texts=tuple(str(t) for t in arrays["texts"]), report=report)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def renderer_for(choice: str) -> str:
    """The PDF renderer ``choice`` resolves to here.

    Raises:
        ConfigError: the chosen renderer (or, for auto, both) is missing.
    """
    have = {"pypdfium2": _installed("pypdfium2"), "pdftoppm": shutil.which("pdftoppm") is not None}
    if choice == "auto":
        for name in RENDERERS:
            if have[name]:
                return name
        raise missing_extra("pypdfium2", "document")
    if not have[choice]:
        if choice == "pdftoppm":
            raise ConfigError(
                "'pdftoppm' is not on PATH: install Debian's poppler-utils (apt-get install poppler-utils)"
            )
        raise missing_extra("pypdfium2", "document")
    return choice


# --------------------------------------------------------------------------------------------- PDF


def _pdf_texts(path: Path, count: int) -> tuple[str, int, list[str]]:
    """Text of the first ``count`` pages; the extractor used and the page total."""
    if _installed("pypdf"):
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        try:
            reader = PdfReader(path)
            return "pypdf", len(reader.pages), [(p.extract_text() or "").strip() for p in reader.pages[:count]]
        except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"pypdf cannot read {path.name}: {exc}") from exc
    if not _installed("pypdfium2"):
        raise missing_extra("pypdf", "document")
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
        try:
            texts = [pdf[i].get_textpage().get_text_range().strip() for i in range(min(count, len(pdf)))]
            return "pypdfium2", len(pdf), texts
        finally:
            pdf.close()
    except pypdfium2.PdfiumError as exc:
        raise ValueError(f"pypdfium2 cannot read {path.name}: {exc}") from exc


def _render_pypdfium2(path: Path, count: int, dpi: int) -> list[npt.NDArray[np.uint8]]:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
        try:
            return [
                np.asarray(pdf[i].render(scale=dpi / 72).to_pil().convert("RGB"), dtype=np.uint8)
                for i in range(min(count, len(pdf)))
            ]
        finally:
            pdf.close()
    except pypdfium2.PdfiumError as exc:
        raise ValueError(f"pypdfium2 cannot render {path.name}: {exc}") from exc


def _render_pdftoppm(path: Path, count: int, dpi: int) -> list[npt.NDArray[np.uint8]]:
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="evalkit-pdf-") as tmp:
        cmd = ["pdftoppm", "-r", str(dpi), "-f", "1", "-l", str(count), "-png", str(path), str(Path(tmp) / "page")]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=PDFTOPPM_TIMEOUT_S)
        except subprocess.CalledProcessError as exc:
            raise ValueError(
                f"pdftoppm cannot render {path.name}: {exc.stderr.decode(errors='replace').strip()}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ValueError(f"pdftoppm took over {PDFTOPPM_TIMEOUT_S:g} s on {path.name}") from exc
        files = sorted(Path(tmp).glob("page-*.png"), key=lambda f: int(re.findall(r"\d+", f.stem)[-1]))
        pages = []
        for file in files:
            with Image.open(file) as image:
                pages.append(np.asarray(image.convert("RGB"), dtype=np.uint8))
        return pages


def _pdf(path: Path, settings: DocumentSettings, renderer: str) -> tuple[list[Any], list[str], list[str], MediaInfo]:
    """Pages, texts, the tools used and the original facts of a PDF."""
    tools: list[str] = []
    texts: list[str] = []
    pages: list[Any] = []
    if settings.mode in ("text", "both"):
        extractor, total, texts = _pdf_texts(path, settings.max_pages)
        tools.append(extractor)
    else:
        total = _pdf_texts(path, 0)[1]  # the page count only
    if settings.mode in ("images", "both"):
        count = min(settings.max_pages, total) if total else settings.max_pages
        render = _render_pypdfium2 if renderer == "pypdfium2" else _render_pdftoppm
        pages = render(path, count, settings.dpi)
        tools.append(renderer)
        total = total or len(pages)
    return pages, texts, tools, MediaInfo(pages=total)


# --------------------------------------------------------------------------------------------- others


def _docx_text(path: Path) -> str:
    if not _installed("docx"):
        raise missing_extra("python-docx", "document")
    import docx
    from docx.opc.exceptions import OpcError

    try:
        document = docx.Document(str(path))
    except (OpcError, zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise ValueError(f"cannot read .docx {path.name}: {exc}") from exc
    return "\n".join(p.text for p in document.paragraphs if p.text.strip())


def _image_page(path: Path) -> npt.NDArray[np.uint8]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path.name}: {exc}") from exc


def _read(path: Path, settings: DocumentSettings, renderer: str) -> tuple[list[Any], list[str], list[str], MediaInfo]:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _pdf(path, settings, renderer)
    if suffix == ".docx":
        return [], [_docx_text(path)], ["python-docx"], MediaInfo()
    if suffix in TEXT_SUFFIXES:
        try:
            return [], [path.read_text(encoding="utf-8", errors="replace")], ["text"], MediaInfo()
        except OSError as exc:
            raise ValueError(f"cannot read {path.name}: {exc}") from exc
    if suffix in IMAGE_SUFFIXES:
        page = _image_page(path)
        return [page], [], ["pillow"], MediaInfo(width=int(page.shape[1]), height=int(page.shape[0]), pages=1)
    raise ValueError(f"unsupported document type '{suffix}' for {path.name} (pdf, docx, image or text files)")


def _budget(
    pages: list[Any], texts: list[str], settings: DocumentSettings, original: MediaInfo, actions: list[str]
) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """Apply the page, pixel and character budgets, noting each cut on ``actions``."""
    total = original.pages
    kept = max(len(pages), len(texts)) if total else 0
    if total and total > kept:
        actions.append(f"first {kept} of {total} pages kept (max_pages={settings.max_pages})")
    fitted = []
    for number, page in enumerate(pages, 1):
        page, resized = fit_rgb(page, settings.min_pixels, settings.max_pixels, settings.patch)
        if resized:
            actions.append(f"page {number} {resized}")
        fitted.append(page)
    cut, used = [], 0
    for text in texts:
        room = settings.max_chars - used
        cut.append(text[: max(room, 0)])
        used += len(cut[-1])
    if sum(len(t) for t in texts) > used:
        actions.append(f"text cut at {settings.max_chars} of {sum(len(t) for t in texts)} characters")
    if texts and not any(t.strip() for t in texts):
        actions.append("no text layer (scanned or image-only pages)")
    return tuple(fitted), tuple(cut)


def _process(path: Path, settings: DocumentSettings, renderer: str) -> DocumentPages:
    pages, texts, tools, original = _read(path, settings, renderer)
    actions: list[str] = []
    if settings.mode in ("images", "both") and not pages:
        actions.append(f"no page images for {path.suffix.lower()}: text only")
    if settings.mode in ("text", "both") and not texts and pages:
        actions.append("image document: no text layer read (page image only)")
    fitted, cut = _budget(pages, texts, settings, original, actions)
    width = int(fitted[0].shape[1]) if fitted else None
    height = int(fitted[0].shape[0]) if fitted else None
    report = MediaReport(
        kind="document",
        path=str(path),
        sha256=file_sha256(path),
        decoder="+".join(tools),
        settings={**settings_dict(settings), "renderer": renderer},
        original=replace(original, chars=sum(len(t) for t in texts) if texts else None),
        output=MediaInfo(width=width, height=height, pages=len(fitted) or None, chars=sum(len(t) for t in cut)),
        actions=tuple(actions),
    )
    return DocumentPages(pages=fitted, texts=cut, report=report)


def load_document(
    path: Path, settings: DocumentSettings | None = None, cache: MediaCache | None = None
) -> DocumentPages:
    """Read a document as page images and/or text within the settings' budgets.

    Args:
        path: a .pdf, .docx, text (.txt .md .csv .json .tsv) or image file.
        settings: the settings; defaults to :class:`DocumentSettings` (both, 8 pages, 100 dpi).
        cache: where decoded results are kept; None decodes every time.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: unsupported type or unreadable file.
        ConfigError: a needed reader or renderer is not installed.
    """
    settings = settings or DocumentSettings()
    if not path.is_file():
        raise FileNotFoundError(f"document file not found: {path}")
    needs_render = path.suffix.lower() == ".pdf" and settings.mode != "text"
    renderer = renderer_for(settings.renderer) if needs_render else "none"
    if cache is None:
        return _process(path, settings, renderer)
    keyed = replace(settings, renderer=renderer) if needs_render else settings
    return cache.fetch(path, keyed, DocumentPages, lambda: _process(path, settings, renderer))
