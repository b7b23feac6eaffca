#!/usr/bin/env bash
# The release build of tickpulse, the one `scripts/run.sh` and the
# Dockerfile both use: the server and the feeder (cargo, release) and the
# browser bundle (scripts/build-site.sh release) into the site folder.
# Run scripts/setup.sh run first (it installs the wasm target and
# wasm-bindgen). Environment: CARGO_TARGET_DIR (default target), SITE_ROOT
# (default <target>/site).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

say "building tickpulse and tickpulse-feeder (release; the first build takes several minutes, later ones seconds)"
cargo build --release --locked -p tickpulse-server -p tickpulse-feeder
scripts/build-site.sh release
target_dir="${CARGO_TARGET_DIR:-target}"
say "release build ready: $target_dir/release/tickpulse, $target_dir/release/tickpulse-feeder and ${SITE_ROOT:-$target_dir/site}"
