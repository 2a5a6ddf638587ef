"""Tiny random checkpoints of the real Qwen architectures, built locally for tests and benches.

Each builder writes a folder that ``from_pretrained`` reads like a hub checkpoint: the config with tiny
sizes and random weights (``save_pretrained``), a byte-level ``Qwen2Tokenizer`` with the Qwen special tokens
and a small chat template, and the family's processor (image/video processors, Whisper feature extractor).
Nothing comes from the hub; outputs are gibberish, but the whole path (processor, chat template, media
features, generate, decode) runs.

Usage: ``python tests/hf/make_tiny.py OUT_DIR [omni|audio|vl ...]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The Qwen special tokens the processors and models look up; ids follow the 256 byte tokens in this order.
SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|vision_pad|>",
)
VOCAB_SIZE = 320  # 256 bytes + the specials, rounded up
TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
MROPE = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}  # head_dim 16 -> 8 pairs
VISION = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 14}
AUDIO = {"encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64, "d_model": 32}
PIXELS = {"min_pixels": 28 * 28, "max_pixels": 28 * 28 * 16}  # at most 16 merged vision tokens per image/frame

# Small chat templates in the shape of the real ones: one placeholder block per media item, then the text.
_MEDIA_OMNI = (
    "{%- if c.type == 'audio' -%}{{ '<|audio_bos|><|AUDIO|><|audio_eos|>' }}"
    "{%- elif c.type == 'image' -%}{{ '<|vision_bos|><|IMAGE|><|vision_eos|>' }}"
    "{%- elif c.type == 'video' -%}{{ '<|vision_bos|><|VIDEO|><|vision_eos|>' }}"
)
# Qwen2-Audio's released template tests for an ``audio`` key, not for ``type``: this one does the same.
_MEDIA_AUDIO = (
    "{%- if 'audio' in c or 'audio_url' in c -%}{%- set ns.audio = ns.audio + 1 -%}"
    "{{ 'Audio ' + ns.audio|string + ': <|audio_bos|><|AUDIO|><|audio_eos|>\\n' }}"
)
_MEDIA_VL = (
    "{%- if c.type == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif c.type == 'video' -%}{{ '<|vision_start|><|video_pad|><|vision_end|>' }}"
)


def chat_template(media: str) -> str:
    """A Qwen-style ChatML template whose media items render with ``media`` (a Jinja if-chain on ``c.type``)."""
    return (
        "{%- set ns = namespace(audio=0) -%}"
        "{%- for m in messages -%}"
        "{{ '<|im_start|>' + m.role + '\\n' }}"
        "{%- if m.content is string -%}{{ m.content }}"
        "{%- else -%}{%- for c in m.content -%}" + media + "{%- elif c.type == 'text' -%}{{ c.text }}"
        "{%- endif -%}{%- endfor -%}{%- endif -%}"
        "{{ '<|im_end|>\\n' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
    )


def byte_vocab() -> dict[str, int]:
    """The GPT-2 byte-to-unicode alphabet (every byte a printable character) as ids 0-255, then the specials."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    vocab = {chars[b]: b for b in range(256)}
    for i, token in enumerate(SPECIALS):
        vocab[token] = 256 + i
    return vocab


def token_id(token: str) -> int:
    """The id of a special token in the tiny vocabulary."""
    return 256 + SPECIALS.index(token)


def make_tokenizer(named: dict[str, str], template: str) -> Any:
    """A byte-level Qwen2Tokenizer (no merges) with the specials; ``named`` maps attribute -> token."""
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer(
        vocab=byte_vocab(),
        merges=[],
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=named,
        chat_template=template,
        padding_side="left",
    )


def _text_config(**extra: Any) -> dict[str, Any]:
    return {
        **TEXT,
        "vocab_size": VOCAB_SIZE,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "bos_token_id": None,
        "pad_token_id": token_id("<|endoftext|>"),
        "eos_token_id": token_id("<|im_end|>"),
        **extra,
    }


def _vision(**extra: Any) -> dict[str, Any]:
    return {
        **VISION,
        "out_hidden_size": TEXT["hidden_size"],
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 56,
        "fullatt_block_indexes": [1],
        **extra,
    }


def _vision_processors() -> tuple[Any, Any]:
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    size = {"shortest_edge": PIXELS["min_pixels"], "longest_edge": PIXELS["max_pixels"]}
    image = Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2)
    video = Qwen2VLVideoProcessor(
        size=size, patch_size=14, merge_size=2, temporal_patch_size=2, cap_pixels_per_frame=True
    )
    return image, video


def _feature_extractor() -> Any:
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400)


def _save(model: Any, processor: Any, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def make_qwen2_5_omni(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2.5-Omni (thinker with audio + vision encoders, talker, token2wav) with ``spk_dict.pt``."""
    import torch
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration, Qwen2_5OmniProcessor

    torch.manual_seed(seed)
    ids = {
        "audio_token_index": token_id("<|AUDIO|>"),
        "image_token_index": token_id("<|IMAGE|>"),
        "video_token_index": token_id("<|VIDEO|>"),
        "audio_start_token_id": token_id("<|audio_bos|>"),
        "audio_end_token_id": token_id("<|audio_eos|>"),
        "user_token_id": token_id("<|im_start|>"),
    }
    vision_ids = {
        "vision_start_token_id": token_id("<|vision_bos|>"),
        "vision_end_token_id": token_id("<|vision_eos|>"),
    }
    thinker = {
        "audio_config": {**AUDIO, "num_mel_bins": 128, "output_dim": TEXT["hidden_size"], "n_window": 100},
        "vision_config": _vision(),
        "text_config": _text_config(rope_parameters=MROPE),
        **ids,
        **vision_ids,
    }
    talker = {
        **{k: v for k, v in ids.items() if k != "user_token_id"},
        "vocab_size": VOCAB_SIZE,
        "embedding_size": TEXT["hidden_size"],
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        **vision_ids,
        "tts_text_start_token_id": 300,  # unused ids of the tiny vocabulary stand in for the TTS markers
        "tts_text_end_token_id": 301,
        "tts_text_pad_token_id": 302,
        "tts_codec_start_token_id": 303,
        "tts_codec_end_token_id": 304,
        "tts_codec_pad_token_id": 305,
        "tts_codec_mask_token_id": 306,
    }
    token2wav = {
        "dit_config": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "head_dim": 16,
            "emb_dim": 16,
            "num_embeds": VOCAB_SIZE,  # a random talker may emit any id of its vocabulary: each needs a code
            "enc_emb_dim": 16,
            "enc_dim": 16,
            "enc_channels": [16, 16, 16, 16, 48],
            "enc_attention_channels": 8,
            "enc_se_channels": 8,
            "look_ahead_layers": [1],
            "look_backward_layers": [0],
        },
        "bigvgan_config": {
            "upsample_initial_channel": 32,
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3, 5]],
            "upsample_rates": [2, 2],
            "upsample_kernel_sizes": [4, 4],
        },
    }
    config = Qwen2_5OmniConfig(thinker_config=thinker, talker_config=talker, token2wav_config=token2wav)
    model = Qwen2_5OmniForConditionalGeneration(config).eval()
    named = {
        "audio_token": "<|AUDIO|>",
        "image_token": "<|IMAGE|>",
        "video_token": "<|VIDEO|>",
        "vision_bos_token": "<|vision_bos|>",
        "vision_eos_token": "<|vision_eos|>",
        "audio_bos_token": "<|audio_bos|>",
        "audio_eos_token": "<|audio_eos|>",
    }
    image, video = _vision_processors()
    template = chat_template(_MEDIA_OMNI)
    processor = Qwen2_5OmniProcessor(
        image_processor=image,
        video_processor=video,
        feature_extractor=_feature_extractor(),
        tokenizer=make_tokenizer(named, template),
        chat_template=template,
    )
    _save(model, processor, out)
    speaker = {"bos_token": token_id("<|endoftext|>"), "cond": torch.zeros(16), "ref_mel": torch.zeros(10, 80)}
    torch.save({"Chelsie": speaker}, out / "spk_dict.pt")
    return out


def make_qwen2_audio(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2-Audio (Whisper-style audio encoder + Qwen2 LM)."""
    import torch
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    torch.manual_seed(seed)
    config = Qwen2AudioConfig(
        audio_config={**AUDIO, "num_mel_bins": 128},
        text_config={**_text_config(), "model_type": "qwen2"},
        audio_token_index=token_id("<|AUDIO|>"),
    )
    model = Qwen2AudioForConditionalGeneration(config).eval()
    named = {"audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>"}
    template = chat_template(_MEDIA_AUDIO)
    processor = Qwen2AudioProcessor(
        feature_extractor=_feature_extractor(), tokenizer=make_tokenizer(named, template), chat_template=template
    )
    return _save(model, processor, out)


def make_qwen2_5_vl(out: Path, seed: int = 0) -> Path:
    """Tiny Qwen2.5-VL (windowed ViT + Qwen2 LM with M-RoPE)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    torch.manual_seed(seed)
    config = Qwen2_5_VLConfig(
        vision_config=_vision(tokens_per_second=2),
        text_config=_text_config(rope_parameters=MROPE),
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    named = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    image, video = _vision_processors()
    template = chat_template(_MEDIA_VL)
    processor = Qwen2_5_VLProcessor(
        image_processor=image, tokenizer=make_tokenizer(named, template), video_processor=video, chat_template=template
    )
    return _save(model, processor, out)


BUILDERS = {"omni": make_qwen2_5_omni, "audio": make_qwen2_audio, "vl": make_qwen2_5_vl}
# Registered backend -> (builder name, the media it reads).
FAMILIES = {
    "hf-qwen2.5-omni": ("omni", ("audio", "image", "video")),
    "hf-qwen2-audio": ("audio", ("audio",)),
    "hf-qwen2.5-vl": ("vl", ("image", "video")),
}


def main(argv: list[str]) -> None:
    """Build the named tiny checkpoints (all by default) under ``argv[0]``."""
    root = Path(argv[0])
    for name in argv[1:] or list(BUILDERS):
        print(BUILDERS[name](root / name))


if __name__ == "__main__":
    main(sys.argv[1:])
