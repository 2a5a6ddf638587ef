"""``hf-qwen2-audio``: Qwen2-Audio-7B(-Instruct) through transformers.

Audio only: images, documents and point clouds reach it as text notes (document text is inlined), and a
video is heard through its audio track. Audio longer than the budget's window (30 s, the Whisper encoder's
span) is sent as consecutive windows, each its own ``Audio k:`` item in the chat template.
"""

from __future__ import annotations

from evalkit.models.base import MODELS
from evalkit.models.hf_base import HFModel


@MODELS.register("hf-qwen2-audio")
class Qwen2AudioHF(HFModel):
    """Qwen2-Audio: Whisper-style audio encoder + Qwen2 language model; text and audio in, text out."""

    model_class = "Qwen2AudioForConditionalGeneration"
    family_modalities = ("audio",)
