"""Images: an OpenAI-compatible ``/v1/images/generations`` endpoint, or on CPU a plainly labelled text card.

The text card is a placeholder and says so on its face ("TEXT CARD - NOT A GENERATED IMAGE"), and the
prediction records ``text-card (placeholder)`` as its renderer: it is never passed off as a picture.
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
from pathlib import Path

import aiohttp

from evalkit.render.base import Rendered, Renderer, endpoint_spec
from evalkit.render.document import draw_text_page

CARD_LABEL = "TEXT CARD - NOT A GENERATED IMAGE"


class TextCardRenderer(Renderer):
    """The mark's description printed on a labelled card (PNG)."""

    kind = "image"
    name = "text-card"
    placeholder = True

    def _render(self, text: str, out_dir: Path) -> Path:
        img = draw_text_page(text, (960, 720), CARD_LABEL, font_px=30)
        out = Path(tempfile.mkstemp(suffix=".png", dir=out_dir)[1])
        img.save(out, format="PNG")
        return out

    async def render(self, text: str, out_dir: Path) -> Rendered:
        return Rendered(await asyncio.to_thread(self._render, text, out_dir), "text-card (placeholder)")


class ImageEndpointRenderer(Renderer):
    """``POST {base_url}/images/generations`` with ``response_format: b64_json``; the first image is kept.

    Args:
        base_url: endpoint root ending in ``/v1``.
        model: the image model the server knows.
        size: image size to ask for.
        timeout_s: per-request timeout.
    """

    kind = "image"
    name = "images-endpoint"

    def __init__(self, base_url: str, model: str, size: str = "1024x1024", timeout_s: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.size = size
        self.timeout_s = timeout_s

    @classmethod
    def from_spec(cls, spec: str) -> ImageEndpointRenderer:
        """``images-endpoint:<base_url>|<model>[|<size>]``."""
        base_url, model, *rest = endpoint_spec(spec, "size")
        return cls(base_url, model, rest[0]) if rest else cls(base_url, model)

    async def render(self, text: str, out_dir: Path) -> Rendered:
        body = {"model": self.model, "prompt": text[:4000], "n": 1, "size": self.size, "response_format": "b64_json"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as session,
            session.post(f"{self.base_url}/images/generations", json=body) as resp,
        ):
            if resp.status >= 400:
                reply = (await resp.text())[:200]
                raise RuntimeError(f"HTTP {resp.status} from {self.base_url}/images/generations: {reply}")
            data = await resp.json(content_type=None)
        try:
            raw = base64.b64decode(data["data"][0]["b64_json"], validate=True)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RuntimeError(f"{self.base_url}/images/generations returned no b64_json image ({exc})") from None
        out = Path(tempfile.mkstemp(suffix=".png", dir=out_dir)[1])
        await asyncio.to_thread(out.write_bytes, raw)
        return Rendered(out, f"images-endpoint ({self.model})")
