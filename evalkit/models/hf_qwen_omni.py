"""``hf-qwen2.5-omni``: Qwen2.5-Omni (3B/7B) through transformers, answering in text.

The checkpoint holds a thinker (audio + vision encoders and the language model), a talker and a token2wav
vocoder. This backend loads it with ``enable_audio_output=False`` so the talker and vocoder are never built,
and calls the thinker's ``generate`` (the full model's ``generate`` needs the talker). ``from_pretrained`` of
this class also reads the checkpoint's ``spk_dict.pt`` (speaker table), which real checkpoints ship.
"""

from __future__ import annotations

from typing import Any

from evalkit.models.base import MODELS
from evalkit.models.hf_base import HFModel
from evalkit.models.hf_messages import HFPrompt


@MODELS.register("hf-qwen2.5-omni")
class QwenOmniHF(HFModel):
    """Qwen2.5-Omni's thinker: text, audio, image and video in, text out."""

    model_class = "Qwen2_5OmniForConditionalGeneration"
    family_modalities = ("audio", "image", "video")
    requires = ("torch", "transformers", "torchvision")  # the processor's video processor needs torchvision

    def load_model(self, transformers: Any, path: str, kwargs: dict[str, Any]) -> Any:
        # Without the talker and vocoder the model is smaller and answers in text only.
        return getattr(transformers, self.model_class).from_pretrained(path, enable_audio_output=False, **kwargs)

    def generator_of(self, model: Any) -> Any:
        return model.thinker

    def adjust_inputs(self, inputs: Any, prompts: list[HFPrompt]) -> Any:
        """Time positions of each video from the fps it was actually sampled at.

        The processor assumes one fps for the whole batch (2 unless told); frames sampled under a max-frames
        budget have a lower rate, so each video's seconds per temporal grid step is set from its own frames.
        """
        videos = [video for prompt in prompts for video in prompt.videos]
        if not videos or "video_second_per_grid" not in inputs or self._loaded is None:
            return inputs
        torch = self._loaded.torch
        step = self._loaded.processor.video_processor.temporal_patch_size
        current = inputs["video_second_per_grid"]
        inputs["video_second_per_grid"] = torch.tensor(
            [step / video.sampled_fps for video in videos], dtype=current.dtype, device=current.device
        )
        return inputs
