"""Attention maps of the HF backend, saved for model analysis (``save_attn``).

For a chosen sample, one extra forward pass over the prompt plus the generated answer runs with eager
attention (the only implementation that returns weights) and keeps, for each chosen layer of the language
model, the attention averaged over heads: a ``(seq, seq)`` float32 matrix, row = query token. Written under
``<attn dir>/<sample>/``: ``layer<k>.npy``, ``layer<k>.png`` (a heat map), ``tokens.json`` and ``meta.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evalkit.errors import ConfigError
from evalkit.store import safe_name

# Dark blue -> teal -> yellow: readable in print and for colour-blind readers (a viridis-like ramp).
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)


@dataclass(frozen=True)
class SaveAttnOptions:
    """What attention to save.

    Attributes:
        first_n: save for the first N samples that reach the model (0: never).
        layers: language-model layer indices to save; negative counts from the end (-1 = last); empty = all.
    """

    first_n: int = 0
    layers: tuple[int, ...] = (0, -1)

    def __post_init__(self) -> None:
        if self.first_n < 0:
            raise ConfigError(f"save_attn.first_n must be >= 0, got {self.first_n}")


@dataclass(frozen=True)
class AttnRecord:
    """What was saved for one sample.

    Attributes:
        folder: the sample's folder.
        layers: the layers saved, as non-negative indices.
        seq_len: tokens of prompt + answer.
        files: file names written, in order.
    """

    folder: Path
    layers: tuple[int, ...]
    seq_len: int
    files: tuple[str, ...] = field(default_factory=tuple)


def select_layers(requested: Sequence[int], num_layers: int) -> list[int]:
    """Resolve requested layer indices (negative from the end; empty = all) to sorted unique indices.

    Raises:
        ConfigError: an index is outside the model's layers.
    """
    if not requested:
        return list(range(num_layers))
    out = set()
    for index in requested:
        resolved = index + num_layers if index < 0 else index
        if not 0 <= resolved < num_layers:
            raise ConfigError(f"save_attn.layers: layer {index} does not exist (the model has {num_layers} layers)")
        out.add(resolved)
    return sorted(out)


def heatmap(matrix: npt.NDArray[np.floating[Any]], min_side: int = 256) -> npt.NDArray[np.uint8]:
    """An ``(h, w, 3)`` RGB heat map of a non-negative matrix, square-root scaled, upscaled to ``min_side``.

    Colours run from dark blue (0) to yellow (the 99.5th percentile and above).
    """
    values = np.sqrt(np.clip(np.asarray(matrix, dtype=np.float64), 0.0, None))
    # The first tokens take almost all of the attention of the first rows: scale to a high percentile, not the
    # maximum, so the rest of the map stays readable.
    top = float(np.percentile(values, 99.5)) if values.size else 0.0
    top = top if top > 0 else (float(values.max()) if values.size else 0.0)
    scaled = np.minimum(values / top, 1.0) if top > 0 else values
    position = scaled * (len(_RAMP) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(_RAMP) - 2)
    frac = (position - low)[..., None]
    rgb = _RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac
    image = np.round(rgb).astype(np.uint8)
    repeat = max(1, -(-min_side // max(1, max(matrix.shape))))  # ceil: small maps become visible blocks
    return np.repeat(np.repeat(image, repeat, axis=0), repeat, axis=1)


def write_png(pixels: npt.NDArray[np.uint8], path: Path) -> None:
    """Write RGB pixels as a PNG with Pillow."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(pixels)).save(path, format="PNG")


def head_means(model: Any, inputs: dict[str, Any], layers: Sequence[int]) -> tuple[dict[int, Any], int, int]:
    """One forward pass with eager attention; the chosen layers' attention averaged over heads.

    Args:
        model: the generating model (a transformers ``PreTrainedModel``), already holding its weights.
        inputs: processor outputs for one sequence (prompt + answer ids), on the model's device.
        layers: requested layer indices (see :func:`select_layers`).

    Returns:
        layer -> ``(seq, seq)`` float32 array, the layer count and the head count.
    """
    import torch

    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.inference_mode():
            out = model(**inputs, output_attentions=True, use_cache=False)
    finally:
        model.set_attn_implementation(previous)
    attentions = [a for a in (out.attentions or ()) if a is not None]
    if not attentions:
        raise RuntimeError(f"{type(model).__name__} returned no attention weights")
    chosen = select_layers(layers, len(attentions))
    maps = {k: attentions[k][0].float().mean(dim=0).cpu().numpy().astype(np.float32) for k in chosen}
    return maps, len(attentions), int(attentions[0].shape[1])


def save_sample(
    root: Path,
    sample_id: str,
    maps: dict[int, npt.NDArray[np.float32]],
    tokens: list[str],
    token_ids: list[int],
    meta: dict[str, Any],
) -> AttnRecord:
    """Write one sample's attention maps, heat maps, tokens and meta under ``root/<sample>/``."""
    folder = root / safe_name(sample_id)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for layer, matrix in sorted(maps.items()):
        np.save(folder / f"layer{layer}.npy", matrix)
        write_png(heatmap(matrix), folder / f"layer{layer}.png")
        files += [f"layer{layer}.npy", f"layer{layer}.png"]
    (folder / "tokens.json").write_text(
        json.dumps({"ids": token_ids, "tokens": tokens}, ensure_ascii=False), encoding="utf-8"
    )
    seq_len = len(token_ids)
    full_meta = {
        **meta,
        "sample_id": sample_id,
        "layers": sorted(maps),
        "shape": [seq_len, seq_len],
        "reduction": "mean over heads; row = query token, column = key token",
        "attn_implementation": "eager",
        "files": [*files, "tokens.json"],
    }
    (folder / "meta.json").write_text(json.dumps(full_meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return AttnRecord(folder=folder, layers=tuple(sorted(maps)), seq_len=seq_len, files=(*files, "tokens.json"))
