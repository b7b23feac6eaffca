#!/usr/bin/env bash
# Builds the release binaries and runs a benchmark; the report is printed and
# written to bench/reports/.
# Usage: bench/run.sh ingest  [bench-ingest flags, e.g. --seconds 20]
#        bench/run.sh persist [bench-persist flags, e.g. --seconds 20]
#        bench/run.sh cache   [bench-cache flags]
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-ingest}"; shift || true
scripts/setup.sh run
target_dir="${CARGO_TARGET_DIR:-target}"
echo "==> building release binaries"
cargo build --release -p tickpulse-server -p tickpulse-bench
case "$which" in
  ingest) exec "$target_dir/release/bench-ingest" --bin-dir "$target_dir/release" "$@" ;;
  persist) exec "$target_dir/release/bench-persist" --bin-dir "$target_dir/release" "$@" ;;
  cache) exec "$target_dir/release/bench-cache" "$@" ;;
  *) echo "unknown benchmark $which (known: ingest, persist, cache)" >&2; exit 2 ;;
esac
