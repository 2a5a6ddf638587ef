"""Images to a pixel budget: EXIF orientation applied, RGB, resized keeping the aspect in multiples of a patch."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from evalkit.media import file_sha256
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.report import MediaInfo, MediaReport, settings_dict
from evalkit.mediaproc.settings import ImageSettings

RGBArray = npt.NDArray[np.uint8]


def fit_size(width: int, height: int, min_pixels: int, max_pixels: int, patch: int = 1) -> tuple[int, int]:
    """The size closest to ``width`` x ``height`` in aspect whose area lies in the budget.

    Both sides are multiples of ``patch`` (at least one patch), the area is at most ``max_pixels`` and,
    where ``min_pixels`` allows, at least ``min_pixels``. An image already within the budget keeps its size
    up to rounding to the patch.

    Raises:
        ValueError: a side is not positive.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    area = width * height
    scale = 1.0
    if area > max_pixels:
        scale = math.sqrt(max_pixels / area)
    elif area < min_pixels:
        scale = math.sqrt(min_pixels / area)
    w = max(patch, round(width * scale / patch) * patch)
    h = max(patch, round(height * scale / patch) * patch)
    if w * h > max_pixels:  # rounding up overshot: round down instead
        w = max(patch, math.floor(width * scale / patch) * patch)
        h = max(patch, math.floor(height * scale / patch) * patch)
        # An extreme aspect ratio pins the short side at one patch: shorten the long side instead.
        if w * h > max_pixels and h == patch:
            w = max(patch, max_pixels // (h * patch) * patch)
        elif w * h > max_pixels:
            h = max(patch, max_pixels // (w * patch) * patch)
    elif w * h < min_pixels:
        w2 = math.ceil(width * scale / patch) * patch
        h2 = math.ceil(height * scale / patch) * patch
        if w2 * h2 <= max_pixels:
            w, h = w2, h2
    return w, h


def _filter(name: str) -> Any:
    from PIL import Image

    return {
        "bicubic": Image.Resampling.BICUBIC,
        "bilinear": Image.Resampling.BILINEAR,
        "lanczos": Image.Resampling.LANCZOS,
        "nearest": Image.Resampling.NEAREST,
    }[name]


def resize_rgb(pixels: RGBArray, size: tuple[int, int], resample: str = "bicubic") -> RGBArray:
    """Resize an ``(h, w, 3)`` uint8 array to ``size`` = (width, height) with Pillow; unchanged if equal."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    from PIL import Image

    return np.asarray(Image.fromarray(pixels).resize(size, _filter(resample)), dtype=np.uint8)


def fit_rgb(
    pixels: RGBArray, min_pixels: int, max_pixels: int, patch: int, resample: str = "bicubic"
) -> tuple[RGBArray, str]:
    """Resize an RGB array into the budget; also return the action taken ('' when the size is kept)."""
    height, width = pixels.shape[:2]
    size = fit_size(width, height, min_pixels, max_pixels, patch)
    if size == (width, height):
        return pixels, ""
    return resize_rgb(pixels, size, resample), f"resized {width}x{height} -> {size[0]}x{size[1]}"


@dataclass(frozen=True)
class ImageResult:
    """An image within its budget.

    Attributes:
        pixels: ``(h, w, 3)`` uint8 RGB.
        report: what was done.
    """

    pixels: RGBArray
    report: MediaReport

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"pixels": self.pixels}

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], report: MediaReport) -> Self:
        return cls(pixels=arrays["pixels"], report=report)


def _to_rgb(image: Any, background: tuple[int, ...], actions: list[str]) -> Any:
    """Convert any Pillow mode to RGB, compositing transparency on ``background``."""
    from PIL import Image

    if image.mode == "RGB":
        return image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        actions.append(f"alpha composited on RGB{tuple(background)}")
        return canvas.convert("RGB")
    actions.append(f"converted {image.mode} to RGB")
    return image.convert("RGB")


def _decode_image(path: Path, settings: ImageSettings) -> ImageResult:
    from PIL import Image, ImageOps, UnidentifiedImageError

    actions: list[str] = []
    try:
        with Image.open(path) as image:
            original = MediaInfo(width=image.width, height=image.height)
            frames = int(getattr(image, "n_frames", 1))
            if frames > 1:
                actions.append(f"first of {frames} frames kept")
            orientation = image.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(image)
            if orientation not in (0, 1):
                actions.append(f"EXIF orientation {orientation} applied")
            pixels = np.asarray(_to_rgb(upright, settings.background, actions), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    pixels, resized = fit_rgb(pixels, settings.min_pixels, settings.max_pixels, settings.patch, settings.resample)
    if resized:
        actions.append(resized)
    report = MediaReport(
        kind="image",
        path=str(path),
        sha256=file_sha256(path),
        decoder="pillow",
        settings=settings_dict(settings),
        original=original,
        output=MediaInfo(width=int(pixels.shape[1]), height=int(pixels.shape[0])),
        actions=tuple(actions),
    )
    return ImageResult(pixels=pixels, report=report)


def load_image(path: Path, settings: ImageSettings | None = None, cache: MediaCache | None = None) -> ImageResult:
    """Read an image upright, as RGB, within the settings' pixel budget.

    Args:
        path: the image file.
        settings: the budget; defaults to :class:`ImageSettings`.
        cache: where decoded results are kept; None decodes every time.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a readable image.
    """
    settings = settings or ImageSettings()
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    if cache is None:
        return _decode_image(path, settings)
    return cache.fetch(path, settings, ImageResult, lambda: _decode_image(path, settings))


def encode_image(pixels: RGBArray, fmt: str = "PNG", quality: int = 90) -> bytes:
    """Encode an RGB array as PNG or JPEG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if fmt.upper() in ("JPEG", "JPG"):
        image.save(buf, format="JPEG", quality=quality)
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()


def image_data_url(pixels: RGBArray, fmt: str = "PNG", quality: int = 90) -> str:
    """An RGB array as a ``data:image/...;base64,`` URL (what OpenAI-compatible servers take)."""
    mime = "image/jpeg" if fmt.upper() in ("JPEG", "JPG") else "image/png"
    payload = base64.b64encode(encode_image(pixels, fmt, quality)).decode("ascii")
    return f"data:{mime};base64,{payload}"
