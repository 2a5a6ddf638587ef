"""HF backend on CPU: batched vs one-at-a-time generation with a tiny random checkpoint.

What it measures: a tiny random checkpoint of a real architecture (``tests/hf/make_tiny.py``: Qwen2.5-Omni
thinker, Qwen2-Audio or Qwen2.5-VL; built into a temporary folder, saved and reloaded with
``from_pretrained``) answers ``--n`` text samples of different lengths through the real backend
(``respond`` -> message adapter -> batcher -> processor -> ``generate`` -> decode), all submitted at once:

- ``batched``: ``batch_size`` = ``--batch`` (requests gathered into padded-left batches);
- ``single``: ``batch_size`` = 1 (one ``generate`` call per sample).

Greedy decoding, ``--max-tokens`` new tokens per sample; model loading is outside the timing. Each mode is
timed ``--repeats`` times and the median wall time is reported as samples/s, with the ratio batched / single.
The one-at-a-time mode answers only the first ``--single-n`` samples (default 16): a tiny model on a GPU is
bound by kernel launches, so each of its ``generate`` calls costs about as much as a whole batch, and timing all
``--n`` one by one made the run take minutes (64 x 3 repeats on an H200 printed nothing within 90 s). Rates are
per sample, so the ratio stays comparable; answers are compared on the samples both modes answered.
It also counts the answers that differ between the modes: none may on CPU in float32 (greedy decoding; the
script exits non-zero otherwise); in bfloat16 on a GPU padding changes the rounding, so some may.

Needs the hf stack (``.venv-hf``: torch 2.14.1, torchvision, transformers). Run:
``python bench/hf_batch.py [--family omni|audio|vl] [--n 32] [--batch 8] [--max-tokens 16] [--repeats 3]
[--single-n 16] [--device cpu|cuda]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for extra in (REPO, REPO / "tests" / "hf"):  # run from a checkout; make_tiny lives with the tests
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import make_tiny  # noqa: E402

from evalkit.config import build_options  # noqa: E402
from evalkit.models.hf_base import HFModel  # noqa: E402
from evalkit.models.hf_qwen2_audio import Qwen2AudioHF  # noqa: E402
from evalkit.models.hf_qwen_omni import QwenOmniHF  # noqa: E402
from evalkit.models.hf_qwen_vl import QwenVLHF  # noqa: E402
from evalkit.types import GenConfig, Part, Sample  # noqa: E402

CLASSES: dict[str, type[HFModel]] = {"omni": QwenOmniHF, "audio": Qwen2AudioHF, "vl": QwenVLHF}
WORDS = "the tiny model reads a short story about seven cats who sail across a quiet blue lake at night".split()


def samples(n: int) -> list[Sample]:
    """``n`` text prompts of 3 to 20 words (so batches need padding)."""
    return [Sample(str(i), (Part("text", " ".join(WORDS[: 3 + (i * 7) % 18])),)) for i in range(n)]


async def timed(model: HFModel, items: list[Sample]) -> tuple[float, list[str]]:
    """Wall time to answer every sample submitted at once, and the answers."""
    t0 = time.perf_counter()
    gens = await asyncio.gather(*(model.respond(s) for s in items))
    return time.perf_counter() - t0, [g.text for g in gens]


async def measure(
    family: str, path: Path, batch: int, items: list[Sample], args: argparse.Namespace
) -> tuple[list[float], list[str]]:
    raw = {"model_path": str(path), "batch_size": batch, "batch_wait_s": 0.05, "device": args.device}
    opts = build_options(CLASSES[family].Options, raw, "bench")
    model = CLASSES[family]("bench", opts, GenConfig(max_tokens=args.max_tokens, temperature=0.0))
    await model.start()
    try:
        await timed(model, items[: min(len(items), batch)])  # warm-up: first-call allocations, lazy imports
        times, texts = [], []
        for _ in range(args.repeats):
            seconds, texts = await timed(model, items)
            times.append(seconds)
        return times, texts
    finally:
        await model.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", choices=sorted(CLASSES), default="omni")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--single-n", type=int, default=16, help="samples the one-at-a-time mode answers (default 16)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cuda runs in bfloat16")
    args = p.parse_args()
    items = samples(args.n)
    with tempfile.TemporaryDirectory(prefix="hf-bench-") as tmp:
        path = make_tiny.BUILDERS[args.family](Path(tmp) / args.family)
        batched, texts_b = asyncio.run(measure(args.family, path, args.batch, items, args))
        single_items = items[: max(1, min(args.single_n, args.n))]
        single, texts_s = asyncio.run(measure(args.family, path, 1, single_items, args))
    rate_b = args.n / statistics.median(batched)
    rate_s = len(single_items) / statistics.median(single)
    dtype = "float32" if args.device == "cpu" else "bfloat16"
    print(
        f"family {args.family}, {args.n} text samples, {args.max_tokens} new tokens each, greedy,",
        f"{args.device}, {dtype}",
    )
    print(f"{'mode':<22}{'median s':>10}{'samples/s':>12}   runs (s)")
    rows = ((f"batched (batch {args.batch})", batched, args.n), (f"one at a time ({len(single_items)})", single,
            len(single_items)))  # fmt: skip
    for label, runs, count in rows:
        print(f"{label:<22}{statistics.median(runs):>10.3f}{count / statistics.median(runs):>12.1f}   "
              + ", ".join(f"{t:.3f}" for t in runs))  # fmt: skip
    print(f"ratio batched / one-at-a-time: {rate_b / rate_s:.2f}x")
    differ = sum(a != b for a, b in zip(texts_b, texts_s, strict=False))
    print(f"answers that differ between the modes: {differ} of {len(texts_s)}")
    # float32 greedy answers must match; bfloat16 rounding differs with padding, so there it is only reported
    return 1 if differ and args.device == "cpu" else 0


if __name__ == "__main__":
    raise SystemExit(main())
