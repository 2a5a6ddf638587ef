"""A point cloud (.ply ascii/binary, .off) as one image: front, side and top orthographic views side by side.

The three panels share one scale, so proportions between views are true. Points are shaded by depth (nearer
is darker) and, where several fall on one pixel, the nearest wins, so the image does not depend on point order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from evalkit.media import file_sha256
from evalkit.mediaproc.cache import MediaCache
from evalkit.mediaproc.image import encode_image
from evalkit.mediaproc.report import MediaInfo, MediaReport, settings_dict
from evalkit.mediaproc.settings import ProjectionSettings

# (name, horizontal axis, vertical axis, depth axis, depth sign): the viewer looks along -depth.
VIEWS: tuple[tuple[str, int, int, int, float], ...] = (
    ("front (x right, y up)", 0, 1, 2, 1.0),
    ("side (z right, y up)", 2, 1, 0, -1.0),
    ("top (x right, z down)", 0, 2, 1, 1.0),
)
_NEAR, _FAR = 20, 190  # grey levels of the nearest and farthest points
_BORDER = 200


@dataclass(frozen=True)
class Projection:
    """The three-view image of a point cloud.

    Attributes:
        pixels: ``(panel, 3 * panel, 3)`` uint8 RGB: front, side, top.
        report: what was done.
    """

    pixels: npt.NDArray[np.uint8]
    report: MediaReport

    def png(self) -> bytes:
        """The image as PNG bytes."""
        return encode_image(self.pixels, "PNG")

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"pixels": self.pixels}

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]], report: MediaReport) -> Self:
        return cls(pixels=arrays["pixels"], report=report)


def read_points(path: Path) -> npt.NDArray[np.float64]:
    """``(n, 3)`` vertex coordinates of a .ply or .off file (the readers of :mod:`evalkit.embedded.describe`).

    Raises:
        ValueError: unsupported type or unreadable file.
    """
    from evalkit.embedded.describe import read_off, read_ply

    suffix = path.suffix.lower()
    if suffix == ".ply":
        return read_ply(path)
    if suffix == ".off":
        return read_off(path)
    raise ValueError(f"unsupported point cloud type '{suffix}' for {path.name} (expected .ply or .off)")


def _panel(points: npt.NDArray[np.float64], view: tuple[str, int, int, int, float], scale: float, size: int) -> Any:
    """One view as a ``(size, size)`` uint8 grey panel (255 where empty)."""
    _name, h_axis, v_axis, d_axis, sign = view
    u = points[:, h_axis] - (points[:, h_axis].min() + points[:, h_axis].max()) / 2
    v = points[:, v_axis] - (points[:, v_axis].min() + points[:, v_axis].max()) / 2
    if v_axis == 2:  # the top view puts +z towards the viewer's feet
        v = -v
    cols = np.clip(np.floor(size / 2 + u * scale), 0, size - 1).astype(np.int64)
    rows = np.clip(np.floor(size / 2 - v * scale), 0, size - 1).astype(np.int64)
    depth = sign * points[:, d_axis]
    span = float(depth.max() - depth.min())
    nearness = (depth - depth.min()) / span if span > 0 else np.ones_like(depth)
    shade = np.round(_FAR - (_FAR - _NEAR) * nearness).astype(np.uint8)
    panel = np.full((size, size), 255, dtype=np.uint8)
    linear = rows * size + cols
    nearest_first = np.argsort(-nearness, kind="stable")
    pixel, first = np.unique(linear[nearest_first], return_index=True)
    panel.reshape(-1)[pixel] = shade[nearest_first][first]
    return panel


def _thicken(panel: Any, size: int) -> Any:
    """Grow each drawn pixel to a ``size`` x ``size`` square (darkest value wins)."""
    out = panel.copy()
    for dy in range(size):
        for dx in range(size):
            shifted = np.full_like(panel, 255)
            shifted[dy:, dx:] = panel[: panel.shape[0] - dy, : panel.shape[1] - dx]
            np.minimum(out, shifted, out=out)
    return out


def _label(pixels: npt.NDArray[np.uint8], views: tuple[tuple[str, int, int, int, float], ...], size: int) -> Any:
    from PIL import Image, ImageDraw

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for index, view in enumerate(views):
        draw.text((index * size + 4, 2), view[0], fill=(90, 90, 200))
    return np.asarray(image, dtype=np.uint8)


def render_projection(points: npt.NDArray[np.float64], settings: ProjectionSettings) -> npt.NDArray[np.uint8]:
    """Draw finite ``(n, 3)`` points as the three-view RGB image."""
    size = settings.panel_size
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    usable = size - 2 * settings.margin - settings.point_size
    scale = usable / extent if extent > 0 else 0.0
    panels = [_thicken(_panel(points, view, scale, size), settings.point_size) for view in VIEWS]
    grey = np.concatenate(panels, axis=1)
    for column in (size - 1, 2 * size - 1):  # a thin line between panels
        grey[:, column] = np.minimum(grey[:, column], _BORDER)
    pixels = np.repeat(grey[:, :, None], 3, axis=2)
    return _label(pixels, VIEWS, size) if settings.labels else pixels


def _process(path: Path, settings: ProjectionSettings) -> Projection:
    points = read_points(path)
    total = len(points)
    actions = []
    finite = np.isfinite(points).all(axis=1)
    if not finite.all():
        actions.append(f"left out {int((~finite).sum())} points with NaN or infinite coordinates")
        points = points[finite]
    if len(points) == 0:
        raise ValueError(f"{path.name}: no points to draw ({total} in the file, none finite)")
    if len(points) > settings.max_points:
        keep = np.linspace(0, len(points) - 1, settings.max_points).astype(np.int64)
        actions.append(f"thinned {len(points)} -> {settings.max_points} points (fixed stride)")
        points = points[keep]
    extents = points.max(axis=0) - points.min(axis=0)
    actions.append(f"bounding box x={extents[0]:.4g} y={extents[1]:.4g} z={extents[2]:.4g}")
    actions.append("drew front, side and top orthographic views at one shared scale")
    pixels = render_projection(points, settings)
    report = MediaReport(
        kind="threeD",
        path=str(path),
        sha256=file_sha256(path),
        decoder="evalkit-" + path.suffix.lower().lstrip("."),
        settings=settings_dict(settings),
        original=MediaInfo(points=total),
        output=MediaInfo(width=int(pixels.shape[1]), height=int(pixels.shape[0]), points=len(points)),
        actions=tuple(actions),
    )
    return Projection(pixels=pixels, report=report)


def project_point_cloud(
    path: Path, settings: ProjectionSettings | None = None, cache: MediaCache | None = None
) -> Projection:
    """Render a .ply or .off point cloud as a front/side/top projection image.

    Args:
        path: the point-cloud file.
        settings: how to draw it; defaults to :class:`ProjectionSettings` (3 panels of 256 px).
        cache: where rendered results are kept; None renders every time.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: unsupported type, unreadable file, or no finite point.
    """
    settings = settings or ProjectionSettings()
    if not path.is_file():
        raise FileNotFoundError(f"point cloud file not found: {path}")
    if cache is None:
        return _process(path, settings)
    return cache.fetch(path, settings, Projection, lambda: _process(path, settings))
