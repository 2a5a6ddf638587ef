"""``hf-qwen2.5-vl``: Qwen2.5-VL (3B/7B) through transformers.

Images, document pages and point-cloud projections go in as images; videos as frames sampled by
:mod:`evalkit.mediaproc` (fps, max-frames and pixel budgets). The processor is told each video's source frame
rate and which frames were taken, so the model's time positions (M-RoPE) follow the real timestamps.
"""

from __future__ import annotations

from typing import Any

from evalkit.models.base import MODELS
from evalkit.models.hf_base import HFModel
from evalkit.models.hf_messages import HFPrompt


@MODELS.register("hf-qwen2.5-vl")
class QwenVLHF(HFModel):
    """Qwen2.5-VL: windowed ViT + Qwen2.5 language model; text, image and video in, text out."""

    model_class = "Qwen2_5_VLForConditionalGeneration"
    family_modalities = ("image", "video")
    requires = ("torch", "transformers", "torchvision")  # the image and video processors need torchvision

    def processor_kwargs(self, prompts: list[HFPrompt]) -> dict[str, Any]:
        videos = [video for prompt in prompts for video in prompt.videos]
        if not videos:
            return {}
        from transformers.video_utils import VideoMetadata

        metadata = [
            VideoMetadata(total_num_frames=v.source_frames, fps=v.source_fps, frames_indices=v.indices) for v in videos
        ]
        return {"video_metadata": metadata}
