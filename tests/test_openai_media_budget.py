"""The OpenAI-compatible backend sends media through the media layer when the entry sets a budget."""

from __future__ import annotations

import base64
import io

from PIL import Image
from support import SAMPLE

from evalkit.config import build_options
from evalkit.models.openai_compat import OpenAICompatModel, OpenAIOptions
from evalkit.types import Part

IMG = SAMPLE / "natural_science/geography/image/img_0601_01.png"  # 400x300
PLY = SAMPLE / "general_area/food/threeD/thd_1102_01.ply"
MP4 = SAMPLE / "general_area/entertainment/video/vid_0901_01.mp4"


def model(modalities: list[str], media: dict) -> OpenAICompatModel:
    opts = build_options(OpenAIOptions, {"modalities": modalities, "media": media}, "test")
    return OpenAICompatModel("m", opts)


def decoded(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_images_are_fitted_to_the_pixel_budget_and_reported() -> None:
    m = model(["image"], {"image": {"max_pixels": 28 * 28 * 20, "min_pixels": 28 * 28, "patch": 28}})
    body, logged, conv = m.build_request((Part("text", "See "), Part("image", str(IMG), "image1")))
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    w, h = decoded(url).size
    assert w * h <= 28 * 28 * 20 and w % 28 == 0 and h % 28 == 0 and w > h  # aspect kept (400x300)
    assert conv.handling == {"image1": "sent within the pixel budget"}
    assert conv.reports["image1"]["kind"] == "image" and "base64" not in str(logged)


def test_point_clouds_go_to_image_readers_as_three_views() -> None:
    m = model(["image"], {})
    body, _, conv = m.build_request((Part("threeD", str(PLY), "threeD1"),))
    parts = body["messages"][0]["content"]
    assert parts[0]["text"].startswith("<threeD1> (three views: front, side, top)")
    w, h = decoded(parts[1]["image_url"]["url"]).size
    assert w == 3 * h
    assert conv.handling["threeD1"] == "sent as a three-view projection"


def test_video_goes_to_an_image_only_model_as_timed_frames() -> None:
    m = model(["image"], {"video": {"num_frames": 3}})
    body, _, conv = m.build_request((Part("video", str(MP4), "video1"),))
    parts = body["messages"][0]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    texts = "".join(p.get("text", "") for p in parts)
    assert len(images) == 3 and "<video1> (video as 3 frames)" in texts and "frame at 1.5 s" in texts
    assert conv.handling["video1"] == "sent as 3 sampled frames"


def test_without_a_budget_files_are_sent_as_they_are() -> None:
    m = OpenAICompatModel("m", OpenAIOptions(modalities=("image",)))
    body, _, conv = m.build_request((Part("image", str(IMG), "image1"),))
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    assert base64.b64decode(url.split(",", 1)[1]) == IMG.read_bytes() and conv.reports == {}
