"""What a cascade run produced: media per renderer, samples whose media_text_agreement is defined, and the
Whisper round-trip word error rate of every spoken item (the words rendered vs what whisper-cpu hears back).

Run after a judged run, e.g. ``bash run_eval.sh`` (the smollm2-cpu cascade with the proxy-cpu judge):
``python bench/produced_media.py eval_results/smollm2-cpu/interleaved [--judge proxy-cpu]``. Reads the run's
predictions and verdicts; transcribes each produced audio file with the embedded Whisper (CPU, no download).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from evalkit.embedded.whisper import WhisperTranscriber
from evalkit.judges.asr import edit_counts


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def main() -> None:
    """Print the figures of one run folder."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--judge", default="proxy-cpu")
    args = ap.parse_args()
    preds = lines(args.run_dir / "predictions.jsonl")
    verdicts = {v["sample_id"]: v for v in lines(args.run_dir / f"verdicts.{args.judge}.jsonl")}
    kinds: Counter[str] = Counter()
    failed = 0
    whisper = WhisperTranscriber()
    errors = words = 0
    print(f"{'sample':<20} {'tag':<10} {'renderer':<26} {'from':<13} WER")
    for p in preds:
        failed += len(p["meta"].get("produced_failed") or {})
        for tag, item in (p["meta"].get("produced") or {}).items():
            kinds[f"{item['renderer']} ({item['from']})"] += 1
            wer = ""
            if tag.startswith("audio") and item.get("file"):
                heard = whisper.transcribe(args.run_dir / item["file"])
                counts = edit_counts(item["text"], heard, "en")
                errors, words = errors + counts.errors, words + counts.ref_len
                wer = f"{counts.errors}/{counts.ref_len} = {counts.errors / max(1, counts.ref_len):.3f}"
            print(f"{p['sample_id']:<20} {tag:<10} {item['renderer'][:26]:<26} {item['from']:<13} {wer}")
    defined = sum(1 for v in verdicts.values() if "media_text_agreement" in v.get("scores", {}))
    print(f"\nproduced items: {sum(kinds.values())} ({dict(kinds)}); failed renders: {failed}")
    print(f"media_text_agreement defined for {defined} of {len(verdicts)} samples")
    if words:
        print(f"spoken items, Whisper round trip: corpus WER {errors}/{words} = {errors / words:.3f}")


if __name__ == "__main__":
    main()
