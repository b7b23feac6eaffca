#!/usr/bin/env bash
# Checks the deployment files without a Docker engine or a cluster:
#   1. yamllint on compose.yaml and deploy/;
#   2. hadolint on the Dockerfile;
#   3. compose.yaml against the compose-spec schema (check-jsonschema);
#   4. each Kubernetes overlay rendered (kubectl kustomize) and validated
#      strictly against the Kubernetes schemas (kubernetes-validate);
#   5. every environment variable the compose file and the manifests give
#      tickpulse is one of its settings (scripts/check-deploy-settings.py
#      reads them from `tickpulse --help` and `tickpulse-feeder --help`).
# Usage: scripts/check-deploy.sh [BIN_DIR]   (default: target/debug)
# The tools come from scripts/setup.sh test.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_dir="${1:-${CARGO_TARGET_DIR:-target}/debug}"
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT

say "yamllint (compose.yaml, deploy/)"
yamllint --strict compose.yaml deploy/
say "hadolint (Dockerfile)"
hadolint Dockerfile
say "compose.yaml against the compose-spec schema"
check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
for overlay in deploy/k8s/overlays/*/; do
  name="$(basename "$overlay")"
  say "Kubernetes overlay $name: kubectl kustomize | kubernetes-validate --strict"
  kubectl kustomize "$overlay" >"$rendered/$name.yaml"
  kubernetes-validate --strict --quiet "$rendered/$name.yaml"
done
say "the settings the deployment files set are tickpulse's"
python3 scripts/check-deploy-settings.py "$bin_dir" compose.yaml "$rendered"/*.yaml
