"""Image budgets on real files made with Pillow: pixel budgets, patch multiples, EXIF orientation, RGB."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import ConfigError
from evalkit.mediaproc.image import ImageSettings, fit_size, image_data_url, load_image


def test_fit_size_respects_budget_patch_and_aspect() -> None:
    rng = np.random.default_rng(0)
    for _ in range(2000):
        width, height = (int(v) for v in rng.integers(1, 5000, size=2))
        patch = int(rng.choice([1, 14, 28]))
        max_pixels = int(rng.integers(patch * patch, 3_000_000))
        min_pixels = int(rng.integers(0, max_pixels + 1))
        w, h = fit_size(width, height, min_pixels, max_pixels, patch)
        assert w % patch == 0 and h % patch == 0 and w >= patch and h >= patch
        assert w * h <= max_pixels
        area = width * height
        scale = math.sqrt(max_pixels / area) if area > max_pixels else max(1.0, math.sqrt(min_pixels / area))
        if width * scale >= patch and height * scale >= patch:
            # each side is the exactly scaled side moved to a multiple of the patch: aspect kept to a patch
            assert abs(w - width * scale) < patch and abs(h - height * scale) < patch
        if min_pixels <= area <= max_pixels and patch == 1:
            assert (w, h) == (width, height)
    assert fit_size(640, 480, 0, 640 * 480) == (640, 480)  # within budget, patch 1: unchanged
    assert fit_size(640, 480, 0, 640 * 480, 28) == (644, 476)  # nearest multiples of 28, still in budget
    assert fit_size(100, 50, 20_000, 1_000_000) == (200, 100)  # enlarged to min_pixels
    assert fit_size(10_000, 1, 0, 28 * 28 * 4, 28) == (112, 28)  # extreme aspect: short side pinned at a patch
    with pytest.raises(ValueError):
        fit_size(0, 10, 0, 100)


def test_large_image_shrunk_to_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    pixels = np.zeros((500, 1000, 3), dtype=np.uint8)
    pixels[:, :500] = (255, 0, 0)
    pixels[:, 500:] = (0, 0, 255)
    Image.fromarray(pixels).save(path)
    out = load_image(path, ImageSettings(max_pixels=200_704, patch=28))  # 256 patches of 28x28
    h, w = out.pixels.shape[:2]
    assert (w, h) == fit_size(1000, 500, 0, 200_704, 28) == (644, 308)
    assert out.pixels.dtype == np.uint8 and out.pixels.shape[2] == 3
    assert out.pixels[h // 2, w // 4].tolist() == [255, 0, 0] and out.pixels[h // 2, 3 * w // 4].tolist() == [0, 0, 255]
    assert out.report.original.width == 1000 and out.report.output.width == 644
    assert out.report.actions == ("resized 1000x500 -> 644x308",)
    assert out.report.decoder == "pillow" and out.report.settings["patch"] == 28


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored 40 wide, 20 high, red on the left; orientation 6 means "rotate 90 degrees clockwise to view".
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 255, 0)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    out = load_image(path)
    assert out.pixels.shape == (40, 20, 3)  # upright: 20 wide, 40 high
    top, bottom = out.pixels[5, 10].astype(int), out.pixels[35, 10].astype(int)
    assert top[0] > 200 and top[1] < 60  # the stored left (red) is now on top
    assert bottom[1] > 200 and bottom[0] < 60
    assert "EXIF orientation 6 applied" in out.report.actions
    assert (out.report.original.width, out.report.original.height) == (40, 20)


def test_modes_become_rgb(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 2] = 255  # blue, fully transparent except one pixel
    rgba[0, 0, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png", ImageSettings(background=(10, 20, 30)))
    assert out.pixels[0, 0].tolist() == [0, 0, 255] and out.pixels[4, 4].tolist() == [10, 20, 30]
    assert out.report.actions == ("alpha composited on RGB(10, 20, 30)",)
    Image.fromarray(np.full((8, 8), 77, dtype=np.uint8), "L").save(tmp_path / "g.png")
    grey = load_image(tmp_path / "g.png")
    assert grey.pixels.shape == (8, 8, 3) and (grey.pixels == 77).all()
    assert grey.report.actions == ("converted L to RGB",)


def test_small_image_enlarged_and_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (60, 40), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    out = load_image(tmp_path / "a.gif", ImageSettings(min_pixels=28 * 28 * 6, patch=28))
    assert out.pixels.shape == (56, 84, 3)
    assert out.report.actions[0] == "first of 2 frames kept"
    assert out.pixels[28, 42, 0] > 200 and out.pixels[28, 42, 2] < 60


def test_data_url_roundtrip() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    url = image_data_url(pixels)
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, pixels)
    assert image_data_url(pixels, "JPEG").startswith("data:image/jpeg;base64,")


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"bad\.png"):
        load_image(tmp_path / "bad.png")
    for kwargs in ({"patch": 0}, {"min_pixels": 10, "max_pixels": 5}, {"resample": "cubic"}, {"background": (1, 2)}):
        with pytest.raises(ConfigError, match="image settings"):
            ImageSettings(**kwargs)  # type: ignore[arg-type]
