#!/usr/bin/env bash
# Builds the release binaries and runs a benchmark; the report is printed and
# written to bench/reports/.
# Usage: bench/run.sh ingest  [bench-ingest flags, e.g. --seconds 20]
#        bench/run.sh persist [bench-persist flags, e.g. --seconds 20]
#        bench/run.sh cluster [bench-cluster flags, e.g. --seconds 20]  (private Redis Clusters of 1–3 masters)
#        bench/run.sh cache   [bench-cache flags]
#        bench/run.sh fanout  [bench-fanout flags, e.g. --clients 5000, or
#                              --baseline nchan --cases 1000x117,2000x47]
#        bench/run.sh trade   [bench-trade flags, e.g. --clients 64 --stocks 500]
#        bench/run.sh dashboard [--minutes 5 --rates 200,1000]  (headless Chromium)
#        bench/run.sh page    [--rounds 3]  (headless Chromium: bytes and time to live)
#        bench/run.sh idle    [SECONDS [SAMPLE_SECS]]  (what the metric history costs an idle process)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-ingest}"; shift || true
scripts/setup.sh bench
target_dir="${CARGO_TARGET_DIR:-target}"
echo "==> building release binaries"
cargo build --release -p tickpulse-server -p tickpulse-bench
case "$which" in
  ingest) exec "$target_dir/release/bench-ingest" --bin-dir "$target_dir/release" "$@" ;;
  persist) exec "$target_dir/release/bench-persist" --bin-dir "$target_dir/release" "$@" ;;
  cluster) exec "$target_dir/release/bench-cluster" --bin-dir "$target_dir/release" "$@" ;;
  cache)
    echo "==> criterion: PriceCache get/put and their baselines"
    cargo bench -p tickpulse-bench --bench cache_ops
    exec "$target_dir/release/bench-cache" --criterion-dir "$target_dir/criterion" "$@" ;;
  fanout)
    # Two sockets per client (the client's and the server's end).
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    exec "$target_dir/release/bench-fanout" --bin-dir "$target_dir/release" "$@" ;;
  trade)
    command -v pgbench >/dev/null 2>&1 || { echo "pgbench is missing (Debian: postgresql-client)" >&2; exit 1; }
    exec "$target_dir/release/bench-trade" --bin-dir "$target_dir/release" "$@" ;;
  dashboard|page)
    [ -d end2end/node_modules/playwright-core ] || (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
    [ -x /usr/bin/chromium ] || { echo "Chromium is missing (scripts/setup.sh test installs it)" >&2; exit 1; }
    echo "==> building the release site and feeder (scripts/build-release.sh)"
    scripts/build-release.sh
    exec node "bench/$which.mjs" --bin-dir "$target_dir/release" --site "${SITE_ROOT:-$target_dir/site}" "$@" ;;
  idle)
    mkdir -p bench/reports
    bench/idle.sh "$@" | tee bench/reports/idle.md ;;
  *) echo "unknown benchmark $which (known: ingest, persist, cluster, cache, fanout, trade, dashboard, page, idle)" >&2; exit 2 ;;
esac
