"""Three-view projections of point clouds written here as binary PLY, ASCII PLY and OFF."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import ConfigError
from evalkit.mediaproc.pointcloud import ProjectionSettings, project_point_cloud

PANEL = 256
EXTENTS = (2.0, 1.0, 0.5)


def box(count: int = 4000, seed: int = 0) -> np.ndarray:
    """Points filling a 2 x 1 x 0.5 box, its two opposite corners included."""
    points = np.random.default_rng(seed).uniform(0.0, 1.0, size=(count, 3)) * np.asarray(EXTENTS)
    points[0], points[1] = 0.0, EXTENTS
    return points


def write_ply_binary(path: Path, points: np.ndarray) -> Path:
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment made by a test\n"
        f"element vertex {len(points)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nend_header\n"
    )
    table = np.zeros(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1")])
    table["x"], table["y"], table["z"] = points.T
    path.write_bytes(header.encode("ascii") + table.tobytes())
    return path


def write_ply_ascii(path: Path, points: np.ndarray) -> Path:
    header = f"ply\nformat ascii 1.0\nelement vertex {len(points)}\nproperty double x\nproperty double y\n"
    header += "property double z\nend_header\n"
    path.write_text(header + "".join(f"{x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in points), encoding="ascii")
    return path


def write_off(path: Path, points: np.ndarray) -> Path:
    path.write_text(f"OFF\n{len(points)} 0 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in points), encoding="ascii")
    return path


def ink_box(panel: np.ndarray) -> tuple[int, int]:
    """Width and height of the bounding box of the drawn (non-white) pixels of a panel."""
    rows, cols = np.nonzero(panel.min(axis=2) < 250)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("writer", [write_ply_binary, write_ply_ascii, write_off])
def test_three_panels_at_one_scale(tmp_path: Path, writer: object) -> None:
    path = writer(tmp_path / ("cloud.off" if writer is write_off else "cloud.ply"), box())  # type: ignore[operator]
    out = project_point_cloud(path, ProjectionSettings(labels=False))
    image = np.asarray(Image.open(io.BytesIO(out.png())))
    assert image.shape == (PANEL, 3 * PANEL, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, out.pixels)
    panels = [image[:, i * PANEL : (i + 1) * PANEL - 1] for i in range(3)]  # the last column is the border
    assert all((p.min(axis=2) < 200).sum() > 1000 for p in panels)  # every view is drawn
    scale = (PANEL - 2 * 12 - 2) / max(EXTENTS)  # 230 px for the longest side, 2 px points
    expected = [(EXTENTS[0], EXTENTS[1]), (EXTENTS[2], EXTENTS[1]), (EXTENTS[0], EXTENTS[2])]
    for panel, (width, height) in zip(panels, expected, strict=True):
        got = ink_box(panel)
        assert abs(got[0] - (width * scale + 2)) <= 2 and abs(got[1] - (height * scale + 2)) <= 2
    assert out.report.original.points == 4000 and out.report.output.width == 3 * PANEL
    assert "bounding box x=2 y=1 z=0.5" in out.report.actions


def test_nearest_point_wins_and_views_are_oriented(tmp_path: Path) -> None:
    # Two points on one line of sight of the front view (same x, y), a third far right and up.
    points = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.5]])
    out = project_point_cloud(write_off(tmp_path / "p.off", points), ProjectionSettings(labels=False, point_size=1))
    front = out.pixels[:, : PANEL - 1, 0]
    drawn = np.argwhere(front < 255)
    assert len(drawn) == 2  # the two points at (0, 0) share a pixel
    (r_low, c_low), (r_high, c_high) = sorted(drawn.tolist(), key=lambda rc: -rc[0])
    assert c_high > c_low and r_high < r_low  # +x is right, +y is up
    assert front[r_low, c_low] == 20  # the nearer point (z = 1) is drawn, at the darkest shade
    top = out.pixels[:, 2 * PANEL : 3 * PANEL - 1, 0]
    assert len(np.argwhere(top < 255)) == 3


def test_non_finite_points_are_left_out_and_recorded(tmp_path: Path) -> None:
    points = box(100)
    points[5] = np.nan
    out = project_point_cloud(write_ply_ascii(tmp_path / "n.ply", points), ProjectionSettings(max_points=50))
    assert out.report.original.points == 100 and out.report.output.points == 50
    assert out.report.actions[:2] == (
        "left out 1 points with NaN or infinite coordinates",
        "thinned 99 -> 50 points (fixed stride)",
    )
    with pytest.raises(ValueError, match="no points to draw"):
        project_point_cloud(write_ply_ascii(tmp_path / "all_nan.ply", np.full((3, 3), np.nan)))


def test_labels_and_errors(tmp_path: Path) -> None:
    path = write_off(tmp_path / "c.off", box(500))
    plain = project_point_cloud(path, ProjectionSettings(labels=False))
    labelled = project_point_cloud(path)
    assert (labelled.pixels != plain.pixels).any(axis=2)[:12].sum() > 50  # text in the top margin
    with pytest.raises(FileNotFoundError):
        project_point_cloud(tmp_path / "absent.ply")
    (tmp_path / "c.xyz").write_text("0 0 0\n")
    with pytest.raises(ValueError, match="unsupported point cloud type"):
        project_point_cloud(tmp_path / "c.xyz")
    with pytest.raises(ConfigError, match="projection settings"):
        ProjectionSettings(panel_size=8)
