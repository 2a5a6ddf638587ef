"""CIDEr-D over a Clotho-size corpus: evalkit's vectorised implementation against pycocoevalcap 1.2's.

What it measures: a corpus of ``--n`` candidates (default 1,045, Clotho-v2 evaluation size) with 5 references
each, generated from a small audio-caption grammar with a fixed seed (already tokenised: lower case, no
punctuation, as both implementations expect). In the same process, ``--repeats`` times each, alternating:
the wall time of ``evalkit.judges.cider.cider_d`` and of ``pycocoevalcap.cider.cider.Cider().compute_score``
(the scorer the COCO and DCASE evaluations use). Prints the medians, their ratio (goal <= 1) and both corpus
values with their largest per-sample difference (goal: the same to 1e-6).

With ``--judge``, also times one ``prepare`` of the whole ``captioning`` judge over the same corpus (PTB
tokenisation, CIDEr-D, BLEU, ROUGE-L and METEOR through Java; SPICE and FENSE report themselves unavailable),
which is what an evaluation of a Clotho-size run costs once.

Run: ``python bench/cider.py [--n 1045] [--refs 5] [--repeats 3] [--seed 0] [--judge]``. Needs pycocoevalcap
(``pip install pycocoevalcap==1.2``); Java only for ``--judge``. Exits non-zero only on a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing evalkit
    sys.path.insert(0, str(REPO))

from evalkit.judges.cider import cider_d  # noqa: E402

SUBJECTS = [
    "a dog",
    "a man",
    "a woman",
    "a child",
    "birds",
    "a car",
    "a train",
    "rain",
    "water",
    "the wind",
    "people",
    "a crowd",
    "an engine",
    "a door",
    "a bell",
    "a machine",
    "footsteps",
    "a cat",
    "waves",
    "thunder",
]
VERBS = [
    "barks",
    "talks",
    "speaks",
    "sings",
    "chirps",
    "passes by",
    "runs",
    "falls",
    "flows",
    "blows",
    "cheers",
    "rumbles",
    "creaks",
    "rings",
    "hums",
    "walks",
    "meows",
    "crash",
    "roars",
    "whistles",
]
PLACES = [
    "in the background",
    "on a roof",
    "in the distance",
    "nearby",
    "outside",
    "on a street",
    "in a room",
    "loudly",
    "softly",
    "repeatedly",
    "while music plays",
    "and then stops",
    "on gravel",
    "in the rain",
]
LINKS = ["while", "and", "as", "before", "after"]


def caption(rng: random.Random) -> str:
    """One generated caption: one or two clauses, each subject verb [place]."""

    def clause() -> str:
        words = [rng.choice(SUBJECTS), rng.choice(VERBS)]
        if rng.random() < 0.7:
            words.append(rng.choice(PLACES))
        return " ".join(words)

    return clause() if rng.random() < 0.5 else f"{clause()} {rng.choice(LINKS)} {clause()}"


def corpus(n: int, refs: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """``n`` candidates with ``refs`` references each; a tenth of the candidates copy a reference."""
    rng = random.Random(seed)
    references = [[caption(rng) for _ in range(refs)] for _ in range(n)]
    candidates = [rng.choice(r) if rng.random() < 0.1 else caption(rng) for r in references]
    return candidates, references


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1045, help="candidates (default: %(default)s, Clotho-v2 evaluation)")
    parser.add_argument("--refs", type=int, default=5, help="references per candidate (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    parser.add_argument("--judge", action="store_true", help="also time the whole captioning judge's prepare()")
    args = parser.parse_args()
    from pycocoevalcap.cider.cider import Cider

    cands, refs = corpus(args.n, args.refs, args.seed)
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [c] for i, c in enumerate(cands)}
    ours_s, theirs_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = cider_d(cands, refs)
        t1 = time.perf_counter()
        score, per = Cider().compute_score(gts, res)
        t2 = time.perf_counter()
        ours_s.append(t1 - t0)
        theirs_s.append(t2 - t1)
    ours_med, theirs_med = statistics.median(ours_s), statistics.median(theirs_s)
    ratio = ours_med / theirs_med
    diff = float(np.abs(ours.per_sample - np.asarray(per)).max())
    same = abs(ours.score - float(score)) <= 1e-6 and diff <= 1e-6
    width = max(len(c.split()) for c in cands)
    print(f"\nCIDEr-D, {args.n} candidates x {args.refs} references (seed {args.seed}, longest caption {width} words)")
    print(f"{'':<28}{'evalkit':>14}{'pycocoevalcap':>16}")
    print(f"{'time, median of ' + str(args.repeats) + ' (s)':<28}{ours_med:>14.4f}{theirs_med:>16.4f}")
    print(f"{'runs (s)':<28}{', '.join(f'{x:.4f}' for x in ours_s):>14}  {', '.join(f'{x:.4f}' for x in theirs_s)}")
    print(f"{'corpus CIDEr-D':<28}{ours.score:>14.9f}{float(score):>16.9f}")
    print(f"ratio evalkit / pycocoevalcap: {ratio:.3f} (goal <= 1): {'goal met' if ratio <= 1 else 'goal missed'}")
    print(f"largest per-sample difference: {diff:.2e} (goal <= 1e-6): {'goal met' if same else 'goal missed'}")
    if args.judge:
        time_judge(cands, refs)


def time_judge(cands: list[str], refs: list[list[str]]) -> None:
    """Wall time of one ``prepare`` of the captioning judge (all metrics) over the corpus."""
    from evalkit.judges.base import JudgeContext
    from evalkit.judges.captioning import CaptioningOptions, CaptionMetricsJudge
    from evalkit.types import Part, Prediction, Sample

    samples = [
        Sample(f"c{i}", (Part("text", "describe"),), tuple(Part("text", t) for t in r)) for i, r in enumerate(refs)
    ]
    preds = {s.id: Prediction(s.id, "m", s.id, text=c) for s, c in zip(samples, cands, strict=True)}

    def no_model(name: str) -> Any:
        raise RuntimeError("the captioning judge uses no model")

    judge = CaptionMetricsJudge("captioning", CaptioningOptions(), JudgeContext(no_model, Path(".")))
    t0 = time.perf_counter()
    judge.prepare(samples, preds)
    wall = time.perf_counter() - t0
    verdict = asyncio.run(judge.judge(samples[0], preds["c0"]))
    print(f"\ncaptioning judge prepare() over the corpus: {wall:.2f} s (metrics: {', '.join(sorted(verdict.scores))})")
    print(f"unavailable here: {', '.join(sorted(verdict.details['unavailable'])) or 'none'}")


if __name__ == "__main__":
    main()
