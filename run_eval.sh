#!/usr/bin/env bash
# Thin wrapper around run.py. With no arguments it evaluates the embedded CPU default model on the bundled
# interleaved sample with the CPU proxy judge. Every run.py flag works here; see: bash run_eval.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then py="$here/.venv/bin/python"; else py="python3"; fi
fi
cd "$here"
exec "$py" run.py "$@"
