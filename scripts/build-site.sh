#!/usr/bin/env bash
# Builds the browser side of tickpulse into the site folder the server serves:
#   <site>/pkg/tickpulse.<hash>.js and .wasm (hydration), tickpulse.<hash>.css,
#   <site>/echarts.<hash>.js (the chart library's subset the site draws with),
#   <site>/pkg/hash.txt (the hashes, read by the server), a .br and a .gz
#   beside each compressible file, and every file of public/ at the top level.
# The release build also shrinks the WASM with wasm-opt -Oz (binaryen), kept
# in <target>/wasm-opt-cache for as long as the WASM stays the same.
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
  opt_flags=(-Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals)
  wasm="$site/pkg/tickpulse_bg.wasm"
  before=$(stat -c %s "$wasm")
  # wasm-bindgen's output is the same for the same build, so the optimised
  # file is kept under a key of its input, the tool's version and its flags,
  # and a start with nothing changed skips the minute wasm-opt takes.
  opt_cache="$target_dir/wasm-opt-cache"
  key=$({ sha256sum <"$wasm"; "$wasm_opt" --version; echo "${opt_flags[*]}"; } | sha256sum | cut -c1-32)
  if [ -f "$opt_cache/$key.wasm" ]; then
    echo "==> the WASM is unchanged since it was last optimised: reusing $opt_cache/$key.wasm"
  else
    echo "==> optimising the WASM for size with $("$wasm_opt" --version) (about a minute)"
    mkdir -p "$opt_cache"
    "$wasm_opt" "${opt_flags[@]}" -o "$opt_cache/$key.wasm.partial" "$wasm"
    find "$opt_cache" -name '*.wasm' -delete
    mv "$opt_cache/$key.wasm.partial" "$opt_cache/$key.wasm"
  fi
  cp "$opt_cache/$key.wasm" "$wasm"
  echo "    $((before / 1024)) KB -> $(($(stat -c %s "$wasm") / 1024)) KB"
fi
cp style/main.css "$site/pkg/tickpulse.css"
cp -R public/. "$site/"
[ -d web/node_modules/esbuild ] || { echo "error: web/node_modules is missing: run scripts/setup.sh run" >&2; exit 1; }
node web/build.mjs "$site" "$mode"
echo "==> site ready in $site"
