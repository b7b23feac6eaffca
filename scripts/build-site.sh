#!/usr/bin/env bash
# Builds the browser side of tickpulse into the site folder the server serves:
#   <site>/pkg/tickpulse.<hash>.js and .wasm (hydration), tickpulse.<hash>.css,
#   <site>/echarts.<hash>.js (the chart library's subset the site draws with),
#   <site>/pkg/hash.txt (the hashes, read by the server), a .br and a .gz
#   beside each compressible file, and every file of public/ at the top level.
# The release build also shrinks the WASM with wasm-opt -Oz (binaryen).
# Run scripts/setup.sh first: it installs wasm-bindgen and the tools in web/.
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
if [ "$mode" = release ]; then
  wasm_opt=web/node_modules/.bin/wasm-opt
  [ -x "$wasm_opt" ] || { echo "error: $wasm_opt is missing: run scripts/setup.sh run" >&2; exit 1; }
  before=$(stat -c %s "$site/pkg/tickpulse_bg.wasm")
  echo "==> optimising the WASM for size with $("$wasm_opt" --version) (about half a minute)"
  "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    -o "$site/pkg/tickpulse_bg.wasm" "$site/pkg/tickpulse_bg.wasm"
  echo "    $((before / 1024)) KB -> $(($(stat -c %s "$site/pkg/tickpulse_bg.wasm") / 1024)) KB"
fi
cp style/main.css "$site/pkg/tickpulse.css"
cp -R public/. "$site/"
[ -d web/node_modules/esbuild ] || { echo "error: web/node_modules is missing: run scripts/setup.sh run" >&2; exit 1; }
node web/build.mjs "$site" "$mode"
echo "==> site ready in $site"
