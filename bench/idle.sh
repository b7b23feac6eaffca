#!/usr/bin/env bash
# bench-idle: what the metric history and the anomaly rules cost an idle
# process. Two embedded tickpulse processes (release build), no traffic,
# side by side for the same SECONDS: one samples every METRICS_SAMPLE_SECS
# (the default, 10 s), the baseline every hour (so never within the run).
# Both beat and monitor as usual. CPU is read from /proc/<pid>/stat (user +
# system ticks) after a warm-up.
# Usage: bench/idle.sh [SECONDS] [SAMPLE_SECS]   (defaults: 120 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-120}"; sample="${2:-10}"
bin="${CARGO_TARGET_DIR:-target}/release/tickpulse"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p tickpulse-server" >&2; exit 1; }
hz=$(getconf CLK_TCK)
dirs=(); pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "${dirs[@]}"; }
trap cleanup EXIT
start() { # sample secs, port
  local dir; dir=$(mktemp -d); dirs+=("$dir")
  DATA_DIR="$dir" TICKPULSE_ADDR="127.0.0.1:$2" INGEST_USERNAME=idle INGEST_PASSWORD=idle-secret \
    METRICS_SAMPLE_SECS="$1" RUST_LOG=warn SITE_ROOT="${SITE_ROOT:-target/site}" "$bin" >/dev/null 2>&1 &
  pids+=($!)
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start "$sample" 39411
start 3600 39412
sleep 15 # start-up and migrations are not counted
a0=$(ticks "${pids[0]}"); b0=$(ticks "${pids[1]}")
sleep "$secs"
a1=$(ticks "${pids[0]}"); b1=$(ticks "${pids[1]}")
pct() { awk -v t="$1" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.3f", t / hz / s * 100 }'; }
with=$(pct $((a1 - a0))); without=$(pct $((b1 - b0)))
cost=$(awk -v a="$with" -v b="$without" 'BEGIN { printf "%.3f", a - b }')
cat <<REPORT
# What sampling costs an idle process

Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo). Written by \`bench/idle.sh\` ($(date -u +%FT%TZ)).

Two embedded tickpulse processes (release build), idle, side by side for ${secs} s after 15 s of start-up; CPU is user + system time from /proc (one tick = $((1000 / hz)) ms).

| process | METRICS_SAMPLE_SECS | CPU, % of one core |
| --- | ---: | ---: |
| samples the metric history and runs the rules | ${sample} | ${with} |
| baseline: never samples within the run | 3600 | ${without} |
| **the sampling's cost** | | **${cost}** (target ≤ 1) |
REPORT
