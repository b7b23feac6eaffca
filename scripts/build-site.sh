#!/usr/bin/env bash
# Builds the browser side of tickpulse into the site folder the server serves:
#   <site>/pkg/tickpulse.js, tickpulse_bg.wasm (hydration), tickpulse.css,
#   and every file of public/ at the top level.
# Usage: scripts/build-site.sh [debug|release]   (default: debug)
# The server binary must be built in the same mode (a debug server cannot
# hydrate a release bundle). Environment: SITE_ROOT (default target/site),
# CARGO_TARGET_DIR (default target).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-debug}"
target_dir="${CARGO_TARGET_DIR:-target}"
site="${SITE_ROOT:-$target_dir/site}"

case "$mode" in
  debug)   profile_flag=(); profile_dir=debug ;;
  release) profile_flag=(--profile wasm-release); profile_dir=wasm-release ;;
  *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac

echo "==> building the browser bundle ($mode)"
cargo build -p tickpulse-frontend --target wasm32-unknown-unknown "${profile_flag[@]}"
mkdir -p "$site/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name tickpulse \
  "$target_dir/wasm32-unknown-unknown/$profile_dir/tickpulse_frontend.wasm"
if [ "$mode" = release ] && command -v wasm-opt >/dev/null 2>&1 && wasm-opt --version 2>/dev/null | grep -qE 'version (1[2-9][0-9])'; then
  echo "==> optimising the WASM with $(wasm-opt --version)"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    -o "$site/pkg/tickpulse_bg.wasm" "$site/pkg/tickpulse_bg.wasm"
fi
cp style/main.css "$site/pkg/tickpulse.css"
cp -R public/. "$site/"
echo "==> site ready in $site ($(du -sh "$site/pkg/tickpulse_bg.wasm" | cut -f1) of WASM)"
