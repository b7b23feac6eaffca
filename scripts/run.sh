#!/usr/bin/env bash
# Sets up what is missing, builds tickpulse (release) and runs it with a
# simulated feeder attached, so the dashboard moves at once.
# Usage: scripts/run.sh            then open http://127.0.0.1:3000/
# Environment: every setting of the server (see README), plus FEEDER_RATE
# (ticks/s, default 20) and FEEDER_SYMBOLS. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

scripts/setup.sh run

addr="${TICKPULSE_ADDR:-127.0.0.1:3000}"
if curl -s -o /dev/null --max-time 1 "http://$addr/" 2>/dev/null; then
  die "something already answers on $addr; stop it or choose another address with TICKPULSE_ADDR=127.0.0.1:3100"
fi

scripts/build-release.sh
target_dir="${CARGO_TARGET_DIR:-target}"

export TICKPULSE_ADDR="$addr"
export SITE_ROOT="${SITE_ROOT:-$target_dir/site}"
export INGEST_USERNAME="${INGEST_USERNAME:-feeder}"
# The feeder's symbols can be traded at once (100 shares each, kept across runs).
export CATALOG_SEED="${CATALOG_SEED:-demo}"
if [ -z "${INGEST_PASSWORD:-}" ]; then
  # A fresh secret per run: the webhook is never open with a known password.
  INGEST_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
  export INGEST_PASSWORD
fi

if [ -z "${ADMIN_API_KEY:-}" ]; then
  # The admin API's key, fresh per run too (the load client needs it).
  ADMIN_API_KEY="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
  export ADMIN_API_KEY
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say "starting the server on http://$addr"
"$target_dir/release/tickpulse" &
pids+=($!)

for _ in $(seq 1 100); do
  curl -sf -o /dev/null "http://$addr/health/readiness" && break
  kill -0 "${pids[0]}" 2>/dev/null || die "the server stopped; see its log above"
  sleep 0.2
done

cat <<MSG

  tickpulse is running.
    dashboard   http://$addr/
    webhook     http://$addr/ingest/tick   (Basic Auth $INGEST_USERNAME / $INGEST_PASSWORD)
    try         curl -u '$INGEST_USERNAME:$INGEST_PASSWORD' -H 'content-type: application/json' \\
                  -d '{"symbol":"DEMO","price":"42.5","ts":'\$(date +%s%3N)',"event_id":"demo-1"}' \\
                  http://$addr/ingest/tick
    health      http://$addr/admin/health   (admins only; add one in another terminal:
                  $target_dir/release/tickpulse user add NAME --admin)
    trade       http://$addr/trade   (any signed-in user, with ${STARTING_CASH:-100000} of paper cash;
                  add one with $target_dir/release/tickpulse user add NAME, and a token for
                  programs with $target_dir/release/tickpulse user token NAME)
    load test   ADMIN_API_KEY='$ADMIN_API_KEY' INGEST_USERNAME='$INGEST_USERNAME' INGEST_PASSWORD='$INGEST_PASSWORD' \\
                  $target_dir/release/tickpulse-feeder trade --url http://$addr --clients 16 --probability 0,0.5,1 --plot trade.png
  A simulated feeder sends ${FEEDER_RATE:-20} ticks/s. Ctrl-C stops everything.

MSG

"$target_dir/release/tickpulse-feeder" --url "http://$addr" --rate "${FEEDER_RATE:-20}" &
pids+=($!)
wait -n "${pids[@]}"
