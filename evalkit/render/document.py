"""Document pages rendered from text: a white A4-proportioned page, wrapped lines, saved as PNG or PDF."""

from __future__ import annotations

import asyncio
import tempfile
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from evalkit.render.base import Rendered, Renderer

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PAGE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 100


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at ``size`` when installed, else Pillow's built-in font at that size."""
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        return ImageFont.load_default(size)


def draw_text_page(text: str, size: tuple[int, int], header: str = "", font_px: int = 34) -> Image.Image:
    """A white page with an optional bold header line and ``text`` wrapped to the page width.

    Raises:
        ValueError: the text is empty.
    """
    if not text.strip():
        raise ValueError("nothing to render: the mark holds no text")
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    body = font(font_px)
    chars = max(20, int((size[0] - 2 * MARGIN) / (font_px * 0.55)))
    y = MARGIN
    if header:
        draw.text((MARGIN, y), header, fill="black", font=font(int(font_px * 1.2)))
        y += int(font_px * 2.4)
    for para in text.splitlines() or [text]:
        for line in textwrap.wrap(para, chars) or [""]:
            if y > size[1] - MARGIN:
                draw.text((MARGIN, y), "[...]", fill="black", font=body)
                return img
            draw.text((MARGIN, y), line, fill="black", font=body)
            y += int(font_px * 1.4)
    return img


class PageRenderer(Renderer):
    """The mark's text as one printed page (its first line as the title when there are several).

    Args:
        fmt: ``png`` or ``pdf``.
    """

    kind = "document"

    def __init__(self, fmt: str = "png") -> None:
        self.fmt = fmt
        self.name = f"page-{fmt}"

    def _render(self, text: str, out_dir: Path) -> Path:
        lines = text.strip().splitlines()
        header, body = (lines[0], "\n".join(lines[1:])) if len(lines) > 1 else ("", text)
        img = draw_text_page(body, PAGE, header)
        out = Path(tempfile.mkstemp(suffix=f".{self.fmt}", dir=out_dir)[1])
        img.save(out, format="PDF" if self.fmt == "pdf" else "PNG", resolution=150.0)
        return out

    async def render(self, text: str, out_dir: Path) -> Rendered:
        return Rendered(await asyncio.to_thread(self._render, text, out_dir), f"{self.name} (Pillow)")
