#!/usr/bin/env bash
# Runs every test of the workspace. On a fresh Debian machine (as root) it first installs what
# the tests need: redis-server and redis-tools (a real Redis to test against, redis-cli and
# redis-benchmark), python3 (the guardrail tests' recording MCP server), prometheus (the
# /metrics test scrapes the gateway and cachesrv with a real Prometheus), the deployment tests'
# tools (docker-compose, nginx, kubectl, python3-yaml), openssl for test certificates and
# chromium for the dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The deployment tests: compose files, nginx in front of three gateways, Kubernetes manifests
# rendered by kustomize and read with python3-yaml.
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The dashboard test renders the page in headless Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

# The npm reference MCP server the gateway is tested against (Node.js and npm from Debian if
# missing), installed locally under target/npm.
EVERYTHING_VERSION=2026.8.31
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if [ ! -x target/npm/node_modules/.bin/mcp-server-everything ]; then
  mkdir -p target/npm
  npm install --prefix target/npm --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/server-everything@${EVERYTHING_VERSION}" >/dev/null
fi
export MCP_SERVER_EVERYTHING="$PWD/target/npm/node_modules/.bin/mcp-server-everything"

cargo test --workspace --all-targets "$@"
