"""The renderer interface and the table of renderer names a model entry's ``produce:`` can use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import ConfigError


@dataclass(frozen=True)
class Rendered:
    """One rendered file, not yet stored under the run folder.

    Attributes:
        path: the file written (in a scratch folder; the producer moves it to its content-hashed name).
        renderer: what rendered it, recorded per item (``espeak-ng``, ``page-png``, ``text-card (placeholder)``).
    """

    path: Path
    renderer: str


class Renderer:
    """Turns a text into one media file of its kind. Subclasses set ``kind``/``name`` and implement ``render``."""

    kind = ""
    name = ""
    #: a stand-in that says so on its face (a text card, a card video, a labelled sphere), not the medium itself
    placeholder = False

    async def render(self, text: str, out_dir: Path) -> Rendered:
        """Render ``text`` into a new file under ``out_dir``. Raises on failure (the item fails, not the answer)."""
        raise NotImplementedError


def endpoint_spec(spec: str, third: str) -> list[str]:
    """The fields of ``<name>:<base_url>|<model>[|<third>]``: base_url, model and the optional third.

    Raises:
        ConfigError: a field is missing or empty, or there are too many.
    """
    fields = spec.split(":", 1)[1].split("|") if ":" in spec else []
    if not 2 <= len(fields) <= 3 or not all(fields):
        name = spec.split(":", 1)[0]
        raise ConfigError(f"renderer {spec!r}: write {name}:<base_url>|<model>[|<{third}>]")
    return fields


def _tts(spec: str) -> Renderer:
    from evalkit.render.tts import EspeakRenderer, SpeechEndpointRenderer

    return EspeakRenderer() if spec == "espeak-ng" else SpeechEndpointRenderer.from_spec(spec)


def _page(spec: str) -> Renderer:
    from evalkit.render.document import PageRenderer

    return PageRenderer(fmt="pdf" if spec == "page-pdf" else "png")


def _image(spec: str) -> Renderer:
    from evalkit.render.image_card import ImageEndpointRenderer, TextCardRenderer

    return TextCardRenderer() if spec == "text-card" else ImageEndpointRenderer.from_spec(spec)


def _video(spec: str) -> Renderer:
    from evalkit.render.video_card import VideoCardRenderer

    return VideoCardRenderer()


def _three_d(spec: str) -> Renderer:
    from evalkit.render.point_cloud import PlaceholderCloudRenderer

    return PlaceholderCloudRenderer()


#: renderer name (or prefix before ``:``) -> (kind it produces, factory)
RENDERERS: dict[str, tuple[str, Callable[[str], Renderer]]] = {
    "espeak-ng": ("audio", _tts),
    "speech-endpoint": ("audio", _tts),
    "page-png": ("document", _page),
    "page-pdf": ("document", _page),
    "text-card": ("image", _image),
    "images-endpoint": ("image", _image),
    "video-card": ("video", _video),
    "placeholder-cloud": ("threeD", _three_d),
}


def make_renderer(kind: str, spec: str) -> Renderer:
    """A renderer for ``kind`` from its config spec.

    Specs: ``espeak-ng``; ``speech-endpoint:<base_url>|<model>|<voice>`` (OpenAI ``/v1/audio/speech``);
    ``page-png`` / ``page-pdf``; ``text-card`` (a plainly labelled placeholder, never a generated picture);
    ``images-endpoint:<base_url>|<model>`` (OpenAI ``/v1/images/generations``); ``video-card`` (an mp4 of labelled
    text cards narrated by espeak-ng: a placeholder, never passed off as footage); ``placeholder-cloud`` (a
    labelled .ply sphere standing for the 3D model asked for).

    Raises:
        ConfigError: unknown spec, or a spec for another kind.
    """
    head = spec.split(":", 1)[0]
    if head not in RENDERERS:
        raise ConfigError(f"unknown renderer {spec!r} for {kind}; known: {', '.join(RENDERERS)}")
    made_kind, factory = RENDERERS[head]
    if made_kind != kind:
        raise ConfigError(f"renderer {head!r} produces {made_kind}, not {kind}")
    return factory(spec)
