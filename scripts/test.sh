#!/usr/bin/env bash
# Sets up what is missing and runs the whole test suite:
#   1. formatting check and the import-cycle check (scripts/check-cycles.py)
#   2. cargo tests of the workspace (unit, property and integration tests,
#      the latter against the local Redis, which is started if none answers)
#   3. a fuzzing smoke run of every parser (scripts/fuzz.sh smoke; skipped,
#      saying so, without cargo-fuzz and a nightly toolchain)
#   4. schemathesis against the running server's OpenAPI document
#   5. the browser tests in end2end/ (headless Chromium against a real server),
#      against the Redis mode, the embedded mode and a private Redis Cluster
#      (scripts/redis-cluster.sh: 3 masters and 3 replicas on free ports,
#      6 partitions; stopped at the end, never the Redis on 6379)
#   6. the deployment files: Dockerfile, compose.yaml and the Kubernetes
#      overlays, linted and schema-checked offline (scripts/check-deploy.sh)
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
log_dir="$(mktemp -d)"
cluster_dir="$log_dir/redis-cluster"
trap 'scripts/redis-cluster.sh stop "$cluster_dir" >/dev/null 2>&1; rm -rf "$log_dir"' EXIT

say "checking the tools"
scripts/setup.sh test

say "checking formatting (cargo fmt --check)"
cargo fmt --all -- --check

say "checking that no modules import each other in a cycle (scripts/check-cycles.py)"
python3 scripts/check-cycles.py

say "running the Rust tests (cargo test)"
cargo test --workspace --exclude tickpulse-frontend 2>&1 | tee "$log_dir/cargo.log"

say "fuzzing each parser for ${FUZZ_SECONDS:-60} s (scripts/fuzz.sh smoke)"
scripts/fuzz.sh smoke "${FUZZ_SECONDS:-60}"

say "building the site and the server for the browser tests (debug)"
scripts/build-site.sh debug
cargo build -p tickpulse-server -p tickpulse-feeder

target_dir="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"

say "checking the API against its OpenAPI document (scripts/schemathesis.sh)"
scripts/schemathesis.sh "$target_dir/debug/tickpulse" 2>&1 | tee "$log_dir/schemathesis.log"
schema_cases=$(awk '/generated, .* passed/ {sum += $(NF-1)} END {print sum + 0}' "$log_dir/schemathesis.log")
for mode in redis embedded cluster; do
  if [ "$mode" = cluster ]; then
    say "starting a private Redis Cluster for the browser tests (scripts/redis-cluster.sh)"
    TEST_REDIS_CLUSTER_URL="$(scripts/redis-cluster.sh start "$cluster_dir" 3 1 $$)"
    export TEST_REDIS_CLUSTER_URL
  fi
  say "running the browser tests against the $mode mode (end2end/, headless Chromium)"
  (cd end2end && TICKPULSE_MODE=$mode TICKPULSE_BIN="$target_dir/debug/tickpulse" SITE_ROOT="${SITE_ROOT:-$target_dir/site}" npm test) 2>&1 | tee "$log_dir/e2e-$mode.log"
done

say "checking the deployment files (scripts/check-deploy.sh)"
scripts/check-deploy.sh "$target_dir/debug"

rust_passed=$(awk '/^test result:/ {sum += $4} END {print sum + 0}' "$log_dir/cargo.log")
rust_failed=$(awk '/^test result:/ {sum += $6} END {print sum + 0}' "$log_dir/cargo.log")
e2e_passed=$(cat "$log_dir"/e2e-*.log | awk '/^# pass/ {sum += $3} END {print sum + 0}')
e2e_failed=$(cat "$log_dir"/e2e-*.log | awk '/^# fail/ {sum += $3} END {print sum + 0}')
say "all tests passed: $rust_passed Rust tests, ${e2e_passed:-0} browser tests, ${schema_cases:-0} schemathesis cases"
echo "$((rust_passed + ${e2e_passed:-0})) passed, $((rust_failed + ${e2e_failed:-0})) failed"
