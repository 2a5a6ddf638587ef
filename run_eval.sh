#!/usr/bin/env bash
# Thin wrapper around run.py. With no arguments it evaluates the embedded CPU default model on the bundled
# interleaved sample with the CPU proxy judge. Every run.py flag works here; see: bash run_eval.sh --help
# --serve: start the model's vLLM server first (python run.py serve), run, and stop the server at the end.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x "$here/.venv/bin/python" ]]; then py="$here/.venv/bin/python"; else py="python3"; fi
fi
cd "$here"
serve=0
args=()
for a in "$@"; do
  if [[ "$a" == "--serve" ]]; then serve=1; else args+=("$a"); fi
done
if (( ! serve )); then exec "$py" run.py "$@"; fi
if [[ "${args[0]:-}" == "run" ]]; then args=("${args[@]:1}"); fi
ready="$(mktemp -u "${TMPDIR:-/tmp}/evalkit-serve.XXXXXX")"
"$py" run.py serve --ready-file "$ready" "${args[@]}" &
server_pid=$!
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -f "$ready"
}
trap stop_server EXIT
trap 'exit 130' INT TERM
until [[ -s "$ready" ]]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" || true
    echo "error: the model server did not start (see the lines above)" >&2
    exit 1
  fi
  sleep 1
done
"$py" run.py "${args[@]}"
