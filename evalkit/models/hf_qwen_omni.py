"""``hf-qwen2.5-omni``: Qwen2.5-Omni (3B/7B) through transformers, answering in text.

The checkpoint holds a thinker (audio + vision encoders and the language model), a talker and a token2wav
vocoder. This backend loads it with ``enable_audio_output=False`` so the talker and vocoder are never built,
and calls the thinker's ``generate`` (the full model's ``generate`` needs the talker). ``from_pretrained`` of
this class also reads the checkpoint's ``spk_dict.pt`` (speaker table), which real checkpoints ship.

With ``speak: true`` the talker and vocoder are loaded as well and each sample is answered alone by the full
model's ``generate`` (text and a 24 kHz waveform in the ``speaker``'s voice): the speech is stored as produced
media of the run (``<run dir>/media/<sample>/audioN-<hash>.wav``, the next free audio tag) and cited in the answer.
"""

from __future__ import annotations

import asyncio
import inspect
import tempfile
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import ModelError
from evalkit.models.base import MODELS
from evalkit.models.hf_base import HFModel, HFOptions
from evalkit.models.hf_messages import HFPrompt
from evalkit.render.produce import next_free_tags, store_file
from evalkit.types import Generation, Part, Sample

TALKER_RATE = 24000  # Qwen2.5-Omni's token2wav writes 24 kHz audio


@dataclass(frozen=True)
class QwenOmniOptions(HFOptions):
    """Config keys of a Qwen2.5-Omni entry: those of every HF entry, plus speech output.

    Attributes:
        speak: also answer in speech through the talker (one sample per ``generate``; the text is the same).
        speaker: a voice of the checkpoint's ``spk_dict.pt`` (``Chelsie``, ``Ethan``).
        talker_max_new_tokens: most codec tokens the talker may write (bounds the length of the speech).
    """

    speak: bool = False
    speaker: str = "Chelsie"
    talker_max_new_tokens: int = 4096


@MODELS.register("hf-qwen2.5-omni")
class QwenOmniHF(HFModel):
    """Qwen2.5-Omni's thinker: text, audio, image and video in, text out."""

    Options = QwenOmniOptions
    options: QwenOmniOptions
    model_class = "Qwen2_5OmniForConditionalGeneration"
    family_modalities = ("audio", "image", "video")
    requires = ("torch", "transformers", "torchvision")  # the processor's video processor needs torchvision

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._run_dir: Path | None = None
        self._talk_lock = threading.Lock()  # the talker answers one sample at a time

    def load_model(self, transformers: Any, path: str, kwargs: dict[str, Any]) -> Any:
        # Without the talker and vocoder the model is smaller and answers in text only.
        speak = self.options.speak
        return getattr(transformers, self.model_class).from_pretrained(path, enable_audio_output=speak, **kwargs)

    def bind_run_dir(self, run_dir: Path) -> None:
        super().bind_run_dir(run_dir)
        self._run_dir = Path(run_dir)

    async def respond(self, sample: Sample) -> Generation:
        if not self.options.speak:
            return await super().respond(sample)
        if self._run_dir is None:
            raise ModelError(f"model {self.name}: speak needs a run folder for its audio (bind_run_dir)")
        prompt = await asyncio.to_thread(self.prepare, sample.msg)
        text, wav_path, tokens = await asyncio.to_thread(self._talk, prompt)
        tag = f"audio{next_free_tags(sample.msg, ('audio',))['audio']}"
        path = store_file(wav_path, self._run_dir, sample.id, tag)
        rel = path.relative_to(self._run_dir.resolve()).as_posix()
        meta = {
            "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]},
            "produced": {
                tag: {"renderer": f"qwen2.5-omni talker ({self.options.speaker})", "from": "reply", "file": rel}
            },
        }
        if prompt.media:
            meta["media"] = prompt.media
        return Generation(
            text=f"{text.rstrip()}\n\n<{tag}> says it aloud.",
            parts=(Part("audio", str(path), tag),),
            prompt={"model": self.options.model_path, "messages": self._conversation(prompt.logged), "speak": True},
            meta=meta,
        )

    def _talk(self, prompt: HFPrompt) -> tuple[str, Path, tuple[int, int]]:
        """Text and speech for one prompt (worker thread): the full model's generate, batch of one."""
        loaded = self._loaded
        if loaded is None:
            raise ModelError(f"model {self.name} was not started")
        with self._talk_lock:
            inputs, _ = self._encode(loaded, [prompt])
            width = int(inputs["input_ids"].shape[1])
            kwargs: dict[str, Any] = {
                "speaker": self.options.speaker,
                "thinker_max_new_tokens": self.gen.max_tokens,
                "thinker_do_sample": self.gen.temperature > 0,
                "talker_max_new_tokens": self.options.talker_max_new_tokens,
            }
            if "return_audio" in inspect.signature(loaded.model.generate).parameters:  # transformers 4.x
                kwargs["return_audio"] = True
            else:  # transformers 5.x
                kwargs["generation_mode"] = "audio"
            with loaded.torch.inference_mode():
                sequences, waveform = loaded.model.generate(**inputs, **kwargs)
        ids = [int(t) for t in sequences[0, width:].tolist()]
        stop = next((k for k, t in enumerate(ids) if t in loaded.eos_ids), None)
        ids = ids if stop is None else ids[: stop + 1]
        text = loaded.processor.tokenizer.decode(ids, skip_special_tokens=True)
        samples = waveform.reshape(-1).float().clamp(-1, 1).cpu().numpy()
        if samples.size == 0:
            raise ModelError("the talker returned no audio")
        scratch = self._run_dir / "media" / ".scratch" if self._run_dir else Path(tempfile.gettempdir())
        scratch.mkdir(parents=True, exist_ok=True)
        out = Path(tempfile.mkstemp(suffix=".wav", dir=scratch)[1])
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(TALKER_RATE)
            w.writeframes((samples * 32767).astype("<i2").tobytes())
        return text, out, (int(inputs["attention_mask"][0].sum()), len(ids))

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
