"""Media of a run page: each file as a relative link (or a data: URL), documents and point clouds as images.

Document first pages and point-cloud projections are drawn with :mod:`evalkit.mediaproc` and written once
under ``report_media/`` beside the page, named by the file's content hash.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from evalkit.media import TEXT_SUFFIXES, content_id, mime_type, read_text_file
from evalkit.types import Part

MEDIA_DIR = "report_media"
#: files up to this size are embedded as data: URLs with --embed-media; larger ones stay links
EMBED_LIMIT_BYTES = 2 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


@dataclass(frozen=True)
class MediaLinker:
    """Turns media parts into page items relative to the page's folder.

    Attributes:
        page_dir: the folder the page is written to (the run folder).
        embed: embed files up to ``EMBED_LIMIT_BYTES`` as data: URLs.
    """

    page_dir: Path
    embed: bool = False

    def src(self, path: Path) -> str:
        """A URL for ``path`` as seen from the page: a data: URL when embedding a small file, else relative."""
        if self.embed and path.is_file() and path.stat().st_size <= EMBED_LIMIT_BYTES:
            return f"data:{mime_type(path)};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
        rel = os.path.relpath(path.resolve(), self.page_dir.resolve())
        return "/".join(quote(seg) for seg in Path(rel).as_posix().split("/"))

    def _derived(self, path: Path, kind: str, draw: Any) -> Path:
        out = self.page_dir / MEDIA_DIR / f"{kind}-{content_id(path)[:20]}.png"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(draw())
        return out

    def item(self, part: Part) -> dict[str, Any]:
        """The page item of one part: ``{"t": kind, "tag", "name", "src" | "v", "note"}``."""
        base: dict[str, Any] = {"t": part.type, "tag": part.tag}
        if part.type == "text":
            return {**base, "v": part.value}
        if part.type == "code":
            return {**base, "v": part.value}
        path = Path(part.value)
        base["name"] = path.name
        if not path.is_file():
            return {**base, "note": f"file not found: {path}"}
        try:
            return {**base, **self._media(part.type, path)}
        except Exception as exc:  # an unreadable file is shown as such, never stops the page
            return {**base, "src": self.src(path), "note": f"cannot be drawn: {type(exc).__name__}: {exc}"}

    def _media(self, kind: str, path: Path) -> dict[str, Any]:
        suffix = path.suffix.lower()
        if kind == "document":
            if suffix in IMAGE_SUFFIXES:
                return {"src": self.src(path), "show": "img"}
            if suffix in TEXT_SUFFIXES:
                return {"v": read_text_file(path, 4000), "show": "text", "file": self.src(path)}
            if suffix != ".pdf":
                return {"v": _document_text(path), "show": "text", "file": self.src(path)}
            page = self._derived(path, "doc", lambda: _first_page_png(path))
            return {"src": self.src(page), "show": "img", "file": self.src(path), "note": "first page"}
        if kind == "threeD":
            proj = self._derived(path, "3d", lambda: _projection_png(path))
            return {"src": self.src(proj), "show": "img", "file": self.src(path), "note": "front / side / top"}
        show = {"image": "img", "audio": "audio", "video": "video"}.get(kind, "link")
        return {"src": self.src(path), "show": show}


def _first_page_png(path: Path) -> bytes:
    from evalkit.mediaproc.document import DocumentSettings, load_document
    from evalkit.mediaproc.image import encode_image

    doc = load_document(path, DocumentSettings(mode="images", max_pages=1))
    if not doc.pages:
        raise ValueError("the document has no page image")
    return encode_image(doc.pages[0], "PNG")


def _document_text(path: Path) -> str:
    from evalkit.mediaproc.document import DocumentSettings, load_document

    return load_document(path, DocumentSettings(mode="text", max_pages=1, max_chars=4000)).text


def _projection_png(path: Path) -> bytes:
    from evalkit.mediaproc.pointcloud import project_point_cloud

    return project_point_cloud(path).png()
