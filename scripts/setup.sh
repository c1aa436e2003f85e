#!/usr/bin/env bash
# Installs what aiclient-server needs on Debian 12, only what is missing.
#   scripts/setup.sh          build and runtime packages
#   scripts/setup.sh --tests  also the test tools and the SDK test packages (npm)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--tests" ]] && with_tests=1

packages=(build-essential cmake ninja-build ccache pkg-config libboost1.81-dev nlohmann-json3-dev
          libspdlog-dev libfmt-dev libcli11-dev libssl-dev libsimdjson-dev libmimalloc-dev ca-certificates openssl)
if (( with_tests )); then
  packages+=(libgtest-dev libgmock-dev curl nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node and npm may come from outside Debian's packages: accept any working ones.
if (( with_tests )); then
  filtered=()
  for p in "${missing[@]}"; do
    if [[ "$p" == nodejs ]] && command -v node >/dev/null; then continue; fi
    if [[ "$p" == npm ]] && command -v npm >/dev/null; then continue; fi
    filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if (( ${#missing[@]} )); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if (( with_tests )); then
  # The SDK tests use node --test options of Node.js 20 (Debian 12's own nodejs is 18).
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if (( node_major < 20 )); then
    echo "setup: the SDK tests need Node.js 20 or later; found $(node --version 2>/dev/null || echo none)" >&2
    exit 1
  fi
  # The official SDKs for the SDK tests, at the versions pinned in tests/sdk/package-lock.json.
  if [[ -f tests/sdk/package.json ]]; then
    stamp=tests/sdk/node_modules/.aiclient-stamp
    if [[ ! -f "$stamp" || tests/sdk/package-lock.json -nt "$stamp" ]]; then
      echo "setup: installing the SDK test packages (npm ci)"
      (cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error)
      touch "$stamp"
    fi
  fi
fi
