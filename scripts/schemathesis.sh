#!/usr/bin/env bash
# Checks the running code against its own OpenAPI document with schemathesis:
# starts a tickpulse server (embedded mode, a data folder of its own), posts
# a few ticks so the read endpoints have data, then lets schemathesis send
# generated requests (valid and invalid) to every operation but the three
# streams (their bodies never end; tests/integration/stream.rs and tests/integration/trading.rs
# cover them). A second pass sends the trading operations as a user with a
# personal token, so they trade for real instead of answering 401. It fails
# on any 5xx and on any answer the document does not describe (status,
# content type, headers, body schema).
# Usage: scripts/schemathesis.sh [BINARY]   (default target/debug/tickpulse)
# MAX_EXAMPLES (default 25) bounds the cases per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/tickpulse}"
command -v schemathesis >/dev/null 2>&1 || { echo "schemathesis is missing: run scripts/setup.sh test" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data_dir="$(mktemp -d)"
report_dir="$(mktemp -d)"
base="http://127.0.0.1:$port"
user=schema-feeder password=schema-secret admin_key=schema-admin-key
env -u REDIS_URL -u DATABASE_URL TICKPULSE_ADDR="127.0.0.1:$port" DATA_DIR="$data_dir" \
  INGEST_USERNAME="$user" INGEST_PASSWORD="$password" ADMIN_API_KEY="$admin_key" \
  CATALOG_SEED=BTC-USD,ETH-USD,AAPL RUST_LOG=warn "$bin" > "$report_dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir" "$report_dir"' EXIT
for _ in $(seq 1 100); do curl -fs "$base/health/readiness" >/dev/null && break; sleep 0.1; done
curl -fs "$base/health/readiness" >/dev/null || { cat "$report_dir/server.log"; exit 1; }
for symbol in BTC-USD ETH-USD AAPL; do
  curl -fsS -u "$user:$password" -H 'content-type: application/json' \
    -d "{\"symbol\":\"$symbol\",\"price\":\"101.5\",\"volume\":\"2\",\"source\":\"schema\",\"ts\":$(date +%s%3N),\"event_id\":\"schema-$symbol\"}" \
    "$base/ingest/tick" >/dev/null
done
cli() { env -u REDIS_URL -u DATABASE_URL DATA_DIR="$data_dir" RUST_LOG=error "$bin" user "$@"; }
printf 'schema-trader-password\n' | cli add schema-trader >/dev/null
# The whole output first: a pipe closed after one line would fail its second.
token="$(cli token schema-trader)"
token="${token%%$'\n'*}"
say "schemathesis against $base/api/openapi.json (${MAX_EXAMPLES:-25} cases per operation)"
# From the scratch folder: schemathesis keeps a cache where it runs.
cd "$report_dir"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
schemathesis run "$base/api/openapi.json" --checks "$checks" \
  --exclude-path /api/stream --exclude-path /api/admin/stream --exclude-path /api/orders/stream \
  --max-examples "${MAX_EXAMPLES:-25}" --seed 1 --workers 1 \
  --auth "$user:$password" -H "x-api-key: $admin_key" \
  --generation-database none --request-timeout 10 --no-color \
  --report-dir "$report_dir/report"
say "schemathesis on the trading operations, as a user with a personal token"
schemathesis run "$base/api/openapi.json" --checks "$checks" \
  --include-tag trading --exclude-path /api/orders/stream \
  --max-examples "${MAX_EXAMPLES:-25}" --seed 1 --workers 1 \
  -H "authorization: Bearer $token" -H "x-api-key: $admin_key" \
  --generation-database none --request-timeout 10 --no-color \
  --report-dir "$report_dir/report-trading"
