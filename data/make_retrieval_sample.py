"""Build the small text-side sample of the MMEB-style retrieval dataset (``data/retrieval_sample/``).

It writes, under ``--out`` (default ``data/retrieval_sample``), in the ``mmeb`` dataset's record format:

* ``text_corpus.jsonl``: 30 sentences on unrelated everyday topics, ids ``d01`` ... ``d30``;
* ``text_queries.jsonl``: 12 questions ranked against the whole corpus (no ``candidates`` field: VLM2Vec's
  ``global`` evaluation). Each has one relevant sentence, except ``q12`` with two graded ones;
* ``classification.jsonl``: 10 news-like sentences classified as ranking over six topic labels, listed in
  each record as plain strings (text candidates whose id is the label, as MMEB lists class labels);
* ``MANIFEST.json``: size and sha256 of each file.

The texts are written for this project. The output is deterministic (no timestamps, sorted keys).

Usage: ``python data/make_retrieval_sample.py [--out data/retrieval_sample]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

CORPUS = [
    "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
    "Honeybees communicate the location of flowers through a waggle dance.",
    "The Pacific Ocean is the largest and deepest of Earth's oceans.",
    "Photosynthesis converts sunlight, water and carbon dioxide into glucose and oxygen.",
    "Mount Everest is the highest mountain above sea level, at 8,849 metres.",
    "A marathon race covers a distance of 42.195 kilometres.",
    "Espresso is made by forcing hot water through finely ground coffee beans.",
    "The human heart pumps blood through the body via arteries and veins.",
    "Python is a programming language known for its readable syntax.",
    "The Great Wall of China stretches for thousands of kilometres across northern China.",
    "Penguins are flightless birds that live mostly in the Southern Hemisphere.",
    "Jupiter is the largest planet in our solar system.",
    "Bread dough rises because yeast produces carbon dioxide gas.",
    "The violin is a string instrument played with a bow.",
    "Antibiotics are medicines that kill bacteria or slow their growth.",
    "The Amazon is the largest tropical rainforest on Earth.",
    "Chess is a strategy board game played on a board of 64 squares.",
    "Solar panels turn sunlight directly into electricity.",
    "The Moon orbits the Earth about once every 27 days.",
    "Volcanoes erupt when molten rock called magma rises to the surface.",
    "Tea is brewed by steeping dried leaves in hot water.",
    "The Nile is often considered the longest river in the world.",
    "A bicycle uses pedals and a chain to turn its rear wheel.",
    "Whales are mammals that breathe air through a blowhole.",
    "Recycling aluminium cans saves most of the energy needed to make new ones.",
    "A grand piano has 88 keys and its hammers strike steel strings.",
    "Earthquakes are caused by the sudden movement of tectonic plates.",
    "Vaccines train the immune system to recognise a virus.",
    "The Sahara is the largest hot desert in the world.",
    "A football team has eleven players on the pitch.",
]

# (question, positives as corpus index -> grade)
QUERIES: list[tuple[str, dict[int, int]]] = [
    ("When was the famous iron tower in Paris finished?", {1: 1}),
    ("How do bees tell each other where the flowers are?", {2: 1}),
    ("Which ocean is the biggest on the planet?", {3: 1}),
    ("How do plants make their food from light?", {4: 1}),
    ("How long is a marathon?", {6: 1}),
    ("How is an espresso coffee prepared?", {7: 1}),
    ("What makes the ground shake in an earthquake?", {27: 1}),
    ("Which planet is the biggest in the solar system?", {12: 1}),
    ("Why does bread dough get bigger while it rests?", {13: 1}),
    ("How many keys does a piano have?", {26: 1}),
    ("How do vaccines protect people against viruses?", {28: 1}),
    ("Which musical instruments have strings?", {14: 2, 26: 1}),
]

LABELS = ["sports", "politics", "technology", "cooking", "weather", "music"]
HEADLINES = [
    ("The striker scored twice in the second half to win the cup final.", "sports"),
    ("Parliament passed the new budget after a long late-night vote.", "politics"),
    ("The company unveiled a faster smartphone chip with a longer battery life.", "technology"),
    ("Simmer the onions in butter until golden, then add the rice.", "cooking"),
    ("Heavy rain and strong winds are expected along the coast tomorrow.", "weather"),
    ("The orchestra performed the symphony to a sold-out concert hall.", "music"),
    ("The tennis champion lost in straight sets in the quarter-final.", "sports"),
    ("Voters will elect a new president in the autumn election.", "politics"),
    ("Snow will fall overnight with temperatures dropping below freezing.", "weather"),
    ("Knead the dough, let it rest, then bake it for forty minutes.", "cooking"),
]


def _lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def build() -> dict[str, str]:
    """The sample's files: name -> text."""
    corpus = [{"id": f"d{n:02d}", "text": text} for n, text in enumerate(CORPUS, start=1)]
    queries = [
        {"id": f"q{n:02d}", "query": {"text": q}, "positives": {f"d{i:02d}": g for i, g in pos.items()}}
        for n, (q, pos) in enumerate(QUERIES, start=1)
    ]
    classification = [
        {"id": f"c{n:02d}", "query": {"text": text}, "candidates": LABELS, "positives": [label]}
        for n, (text, label) in enumerate(HEADLINES, start=1)
    ]
    return {
        "text_corpus.jsonl": _lines(corpus),
        "text_queries.jsonl": _lines(queries),
        "classification.jsonl": _lines(classification),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "retrieval_sample")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, text in build().items():
        data = text.encode("utf-8")
        (args.out / name).write_bytes(data)
        manifest.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    doc = {"generator": "data/make_retrieval_sample.py", "files": manifest}
    (args.out / "MANIFEST.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} files to {args.out}")


if __name__ == "__main__":
    main()
