"""The Hugging Face transformers backend: a checkpoint loaded in this process, requests batched.

A family file (``hf_qwen_omni.py``, ``hf_qwen2_audio.py``, ``hf_qwen_vl.py``) subclasses :class:`HFModel`, names
its transformers class and the media it reads, and overrides a hook where its processor or model needs it.
Everything else is here, once:

- loading in ``start()`` (torch and transformers imported there; a missing one names the ``hf`` extra);
- the message adapter (:mod:`evalkit.models.hf_messages`): typed parts -> chat-template items + media arrays
  decoded within the model's media budget, with a record of what was done to each input;
- batching: concurrent ``respond`` calls are gathered (up to ``batch_size``) into one padded-left ``generate``
  call; when a batch fails, its requests are run one by one so one bad input fails only its own sample;
- attention saving for the first N samples (:mod:`evalkit.models.hf_attn`).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from evalkit.errors import ConfigError, ModelError, missing_extra
from evalkit.mediaproc.budget import MediaBudget
from evalkit.mediaproc.cache import default_cache
from evalkit.models.base import Model
from evalkit.models.batching import MicroBatcher, run_isolated
from evalkit.models.hf_attn import AttnRecord, SaveAttnOptions, head_means, save_sample, select_layers
from evalkit.models.hf_messages import HFPrompt, MessageAdapter
from evalkit.types import GenConfig, Generation, Msg, Part, Sample, error_text

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")
# Processor outputs that carry media features: cast to the model's dtype (ids, masks and grids keep theirs).
FEATURE_KEYS = ("pixel_values", "pixel_values_videos", "input_features")


@dataclass(frozen=True)
class HFOptions:
    """Config keys of a Hugging Face model entry.

    Attributes:
        model_path: a local checkpoint folder or a hub id (the hub is only reached when the folder is not local).
        dtype: auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16 or float16.
        device: auto (cuda when available), cpu or cuda; under torchrun cuda is ``cuda:LOCAL_RANK``.
        device_map: on cuda, the ``from_pretrained`` device map (``auto`` spreads a large model over the GPUs);
            empty: everything on the first GPU (under torchrun: on the rank's GPU).
        attn_implementation: transformers attention kernel (``sdpa``, ``eager``, ``flash_attention_2``); empty:
            the library's default.
        trust_remote_code: run code shipped with the checkpoint (off unless you trust it).
        system_prompt: optional system message.
        modalities: media kinds the model is sent (empty: all its family reads); others become text notes.
        media: decoding budgets (image pixels, video fps/frames/pixels, audio windows, documents, 3D);
            the audio sample rate is always the processor's.
        batch_size: most requests per ``generate`` call.
        batch_wait_s: how long a batch waits for more requests after its first.
        concurrency: requests the runner keeps in flight (0: twice ``batch_size``, so batches fill).
        save_attn: save attention maps of the first N samples (``{first_n: 2, layers: [0, -1]}``).
        attn_dir: where attention maps go; empty: ``<run dir>/attn`` when the job binds the run dir.
        unread_media: ``error`` (default) stops before the first call when samples hold media the model does
            not read; ``note`` sends a "not shown" note and counts those samples in the report.
    """

    model_path: str = ""
    dtype: str = "auto"
    device: str = "auto"
    device_map: str = ""
    attn_implementation: str = ""
    trust_remote_code: bool = False
    system_prompt: str = ""
    modalities: tuple[str, ...] = ()
    media: MediaBudget = field(default_factory=MediaBudget)
    batch_size: int = 8
    batch_wait_s: float = 0.05
    concurrency: int = 0
    save_attn: SaveAttnOptions = field(default_factory=SaveAttnOptions)
    attn_dir: str = ""
    unread_media: str = "error"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}; got {self.dtype!r}")
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {', '.join(DEVICES)}; got {self.device!r}")
        if self.batch_size < 1 or self.concurrency < 0 or self.batch_wait_s < 0:
            raise ConfigError("batch_size must be >= 1, concurrency and batch_wait_s >= 0")


@dataclass(frozen=True)
class _Request:
    prompt: HFPrompt
    sample_id: str = ""
    save_attn: bool = False


@dataclass(frozen=True)
class _Result:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    batch_size: int
    chat_text: str
    attn: AttnRecord | None = None
    attn_error: str = ""


@dataclass
class _Loaded:
    """What ``start`` loaded."""

    torch: Any
    processor: Any
    model: Any  # what from_pretrained returned
    generator: Any  # what generate() and the attention pass are called on
    device: str
    dtype: Any
    eos_ids: frozenset[int]
    pad_id: int | None


class HFModel(Model):
    """Base of the transformers backends; a family sets the class attributes and overrides hooks as needed.

    Args:
        name: the model entry's name.
        options: :class:`HFOptions`.
        gen: generation parameters (``max_tokens`` is ``max_new_tokens``; temperature 0 is greedy).
    """

    Options = HFOptions
    NOT_IN_KEY = frozenset(
        {"batch_size", "batch_wait_s", "concurrency", "save_attn", "attn_dir", "device_map", "unread_media"}
    )
    options: HFOptions

    #: the transformers class loaded with ``from_pretrained`` (an attribute of the ``transformers`` module).
    model_class: ClassVar[str] = ""
    #: the media kinds the family reads.
    family_modalities: ClassVar[tuple[str, ...]] = ()
    #: importable modules the family needs (checked in ``start`` so a missing one names the extra).
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers")

    def __init__(self, name: str, options: Any = None, gen: GenConfig | None = None) -> None:
        super().__init__(name, options, gen)
        opts = self.options
        if not opts.model_path:
            raise ConfigError(f"models.{name}.model_path: required (a checkpoint folder or hub id)")
        unknown = [m for m in opts.modalities if m not in self.family_modalities]
        if unknown:
            raise ConfigError(
                f"models.{name}.modalities: {type(self).__name__} reads {', '.join(self.family_modalities) or 'text'}"
                f" only; not {', '.join(unknown)}"
            )
        self.modalities = opts.modalities or self.family_modalities
        self.concurrency = opts.concurrency or 2 * opts.batch_size
        self.batcher: MicroBatcher[_Request, _Result] = MicroBatcher(
            self._run_batch, opts.batch_size, opts.batch_wait_s
        )
        self._loaded: _Loaded | None = None
        self._adapter: MessageAdapter | None = None
        self._attn_root: Path | None = Path(opts.attn_dir) if opts.attn_dir else None
        self._attn_taken = 0

    # ------------------------------------------------------------------ hooks for families

    def load_model(self, transformers: Any, path: str, kwargs: dict[str, Any]) -> Any:
        """Load the checkpoint (default: ``transformers.<model_class>.from_pretrained``)."""
        return getattr(transformers, self.model_class).from_pretrained(path, **kwargs)

    def generator_of(self, model: Any) -> Any:
        """The module whose ``generate`` answers (default: the loaded model itself)."""
        return model

    def processor_kwargs(self, prompts: list[HFPrompt]) -> dict[str, Any]:
        """Extra keyword arguments of the processor call for this batch (default: none)."""
        return {}

    def adjust_inputs(self, inputs: Any, prompts: list[HFPrompt]) -> Any:
        """Fix up the processor's outputs before ``generate`` (default: unchanged)."""
        return inputs

    # ------------------------------------------------------------------ lifecycle

    def bind_run_dir(self, run_dir: Path) -> None:
        """Called by the job with the run's folder: attention maps go to ``<run_dir>/attn`` (unless ``attn_dir``)."""
        if not self.options.attn_dir:
            self._attn_root = Path(run_dir) / "attn"

    async def start(self) -> None:
        if self.options.save_attn.first_n and self._attn_root is None:
            raise ConfigError(f"models.{self.name}: save_attn needs attn_dir (or a job that binds the run dir)")
        if self._loaded is None:
            self._loaded = await asyncio.to_thread(self._load)

    async def close(self) -> None:
        await self.batcher.close()
        loaded, self._loaded = self._loaded, None
        if loaded is not None:
            cuda = loaded.device.startswith("cuda")
            del loaded
            gc.collect()
            if cuda:
                import torch

                torch.cuda.empty_cache()

    def _load(self) -> _Loaded:
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                raise missing_extra(module, "hf")
        import torch
        import transformers

        from evalkit.launch.torchrun import cuda_device

        opts = self.options
        device = opts.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"models.{self.name}.device: cuda asked for, but torch sees no GPU")
        if device == "cuda":
            device = cuda_device()  # each torchrun rank on its own GPU: cuda:LOCAL_RANK
        name = opts.dtype if opts.dtype != "auto" else ("bfloat16" if device != "cpu" else "float32")
        dtype = getattr(torch, name)
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": opts.trust_remote_code}
        if opts.attn_implementation:
            kwargs["attn_implementation"] = opts.attn_implementation
        if device != "cpu":
            kwargs["device_map"] = opts.device_map or device
        processor = transformers.AutoProcessor.from_pretrained(
            opts.model_path, trust_remote_code=opts.trust_remote_code
        )
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"  # generation continues every row from its last real token
        if tokenizer.pad_token is None:  # padding needs some token; masked out, so any will do
            tokenizer.pad_token = tokenizer.eos_token
        model = self.load_model(transformers, opts.model_path, kwargs)
        if device == "cpu":
            model = model.to("cpu")
        model.eval()
        generator = self.generator_of(model)
        if opts.save_attn.first_n:  # a layer the model lacks is a config error, found before any sample runs
            text_config = getattr(generator.config, "text_config", None) or generator.config
            select_layers(opts.save_attn.layers, int(text_config.num_hidden_layers))
        rate = int(getattr(getattr(processor, "feature_extractor", None), "sampling_rate", 0) or 0)
        budget = opts.media if not rate else replace(opts.media, audio=replace(opts.media.audio, sample_rate=rate))
        self._adapter = MessageAdapter(self.modalities, budget, default_cache())
        eos = generator.generation_config.eos_token_id
        eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or [])) | {tokenizer.eos_token_id}
        return _Loaded(
            torch, processor, model, generator, device, dtype, frozenset(eos_ids - {None}), tokenizer.pad_token_id
        )

    # ------------------------------------------------------------------ requests

    def media_not_read(self, part: Part) -> str:
        # mirrors MessageAdapter: videos reach audio-only models as their audio track, documents reach every
        # model (as text when it reads no images), point clouds reach image readers as three views
        if part.type == "document":
            return ""
        reads = {"image": ("image",), "audio": ("audio",), "video": ("video", "audio"), "threeD": ("image",)}
        if any(k in self.modalities for k in reads.get(part.type, ())):
            return ""
        return f"the model does not read {part.type}"

    def identity(self) -> dict[str, Any]:
        """The base identity plus the family's transformers class."""
        return {**super().identity(), "family": self.model_class}

    def prepare(self, msg: Msg) -> HFPrompt:
        """Decode the media of ``msg`` into processor inputs (blocking; runs in a worker thread)."""
        if self._adapter is None:
            raise ModelError(f"model {self.name} was not started")
        return self._adapter.convert(msg)

    async def respond(self, sample: Sample) -> Generation:
        save = self._attn_taken < self.options.save_attn.first_n
        if save:  # counted at arrival, so "first N" is the order the runner hands samples out
            self._attn_taken += 1
        return await self._answer(sample.msg, sample.id, save)

    async def generate_inner(self, msg: Msg) -> Generation:
        return await self._answer(msg, "", False)

    async def _answer(self, msg: Msg, sample_id: str, save_attn: bool) -> Generation:
        prompt = await asyncio.to_thread(self.prepare, msg)
        result = await self.batcher.submit(_Request(prompt, sample_id, save_attn))
        loaded = self._loaded
        meta: dict[str, Any] = {
            "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens},
            "finish_reason": result.finish_reason,
            "hf": {
                "batch_size": result.batch_size,
                "device": loaded.device if loaded else "",
                "dtype": str(loaded.dtype).removeprefix("torch.") if loaded else "",
            },
        }
        if prompt.media:
            meta["media"] = prompt.media
        if result.attn is not None:
            meta["attn"] = {"dir": str(result.attn.folder), "layers": list(result.attn.layers)}
        elif result.attn_error:
            meta["attn"] = {"error": result.attn_error}
        logged = {
            "model": self.options.model_path,
            "messages": self._conversation(prompt.logged),
            "text": result.chat_text,
        }
        return Generation(text=result.text, prompt={**logged, **self.gen.to_json()}, meta=meta)

    def _conversation(self, content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        head = []
        if self.options.system_prompt:
            head.append({"role": "system", "content": [{"type": "text", "text": self.options.system_prompt}]})
        return [*head, {"role": "user", "content": content}]

    # ------------------------------------------------------------------ batches (worker thread)

    async def _run_batch(self, batch: list[_Request]) -> list[_Result | BaseException]:
        return await run_isolated(batch, self._generate)

    def _encode(self, loaded: _Loaded, prompts: list[HFPrompt]) -> tuple[Any, list[str]]:
        processor = loaded.processor
        texts = [
            processor.apply_chat_template(self._conversation(p.content), tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        torch = loaded.torch
        # Channels-first tensors: a processor guessing the layout of an HWC array gets 1- or 3-pixel sides wrong.
        images = [torch.from_numpy(image).permute(2, 0, 1) for p in prompts for image in p.images]
        videos = [torch.from_numpy(video.frames).permute(0, 3, 1, 2) for p in prompts for video in p.videos]
        audio = [clip for p in prompts for clip in p.audio]
        if images:
            kwargs["images"] = images
        if videos:
            kwargs["videos"] = videos
        if audio:
            kwargs["audio"] = audio
            kwargs["sampling_rate"] = processor.feature_extractor.sampling_rate
        kwargs.update(self.processor_kwargs(prompts))
        inputs = self.adjust_inputs(processor(**kwargs), prompts).to(loaded.device)
        for key in FEATURE_KEYS:
            if key in inputs and inputs[key].is_floating_point():
                inputs[key] = inputs[key].to(loaded.dtype)
        return inputs, texts

    def _gen_kwargs(self, loaded: _Loaded) -> dict[str, Any]:
        gen = self.gen
        kwargs: dict[str, Any] = {"max_new_tokens": gen.max_tokens, "pad_token_id": loaded.pad_id}
        if gen.temperature > 0:
            kwargs.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p)
        else:
            kwargs["do_sample"] = False
        return kwargs

    def _generate(self, batch: list[_Request]) -> list[_Result]:
        loaded = self._loaded
        if loaded is None:
            raise ModelError(f"model {self.name} was not started")
        torch = loaded.torch
        prompts = [r.prompt for r in batch]
        inputs, texts = self._encode(loaded, prompts)
        width = int(inputs["input_ids"].shape[1])
        if self.gen.temperature > 0 and self.gen.seed is not None:
            torch.manual_seed(self.gen.seed)
        with torch.inference_mode():
            out = loaded.generator.generate(**inputs, **self._gen_kwargs(loaded))
        sequences = out.sequences if hasattr(out, "sequences") else out
        results = []
        for i, request in enumerate(batch):
            ids = [int(t) for t in sequences[i, width:].tolist()]
            stop = next((k for k, t in enumerate(ids) if t in loaded.eos_ids), None)
            ids = ids if stop is None else ids[: stop + 1]
            attn, attn_error = None, ""
            if request.save_attn:
                try:
                    attn = self._save_attention(loaded, request, ids)
                except Exception as exc:  # the answer stands; the missing maps are recorded on it
                    attn_error = error_text(exc)
            results.append(
                _Result(
                    text=loaded.processor.tokenizer.decode(ids, skip_special_tokens=True),
                    finish_reason="length" if stop is None else "stop",
                    prompt_tokens=int(inputs["attention_mask"][i].sum()),
                    completion_tokens=len(ids),
                    batch_size=len(batch),
                    chat_text=texts[i],
                    attn=attn,
                    attn_error=attn_error,
                )
            )
        return results

    def _save_attention(self, loaded: _Loaded, request: _Request, answer_ids: list[int]) -> AttnRecord:
        """Attention over prompt + answer for one sample, from a forward pass on that sample alone."""
        torch = loaded.torch
        assert self._attn_root is not None
        inputs, _ = self._encode(loaded, [request.prompt])
        prompt_ids = inputs["input_ids"]
        answer = torch.tensor([answer_ids], dtype=prompt_ids.dtype, device=prompt_ids.device)
        inputs["input_ids"] = torch.cat([prompt_ids, answer], dim=1)
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        if "mm_token_type_ids" in inputs:  # answer tokens are text
            pad = torch.zeros_like(answer, dtype=inputs["mm_token_type_ids"].dtype)
            inputs["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], pad], dim=1)
        layers = self.options.save_attn.layers
        maps, num_layers, num_heads = head_means(loaded.generator, dict(inputs), layers)
        ids = [int(t) for t in inputs["input_ids"][0].tolist()]
        tokenizer = loaded.processor.tokenizer
        meta = {
            "model": self.name,
            "model_path": self.options.model_path,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "prompt_tokens": int(prompt_ids.shape[1]),
            "answer_tokens": len(answer_ids),
            "dtype": str(loaded.dtype).removeprefix("torch."),
            "media": request.prompt.media,
        }
        tokens = [tokenizer.decode([t]) for t in ids]
        return save_sample(self._attn_root, request.sample_id or "msg", maps, tokens, ids, meta)
