#!/usr/bin/env bash
# Installs what the benchmarks need on Debian 12, only what is missing: the project's build
# packages (scripts/setup.sh), nginx, wrk, Google Benchmark, Node.js and curl.
# bench/setup.sh --profile also installs linux-perf, valgrind and strace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

packages=(wrk libbenchmark-dev curl)
command -v nginx >/dev/null || packages+=(nginx-light)
command -v node >/dev/null || packages+=(nodejs)
if [[ "${1:-}" == "--profile" ]]; then
  packages+=(valgrind strace)
  command -v perf >/dev/null || packages+=(linux-perf)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if (( ${#missing[@]} )); then
  echo "bench setup: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  # Installing nginx must not start it as a system service: the benchmarks start their own
  # nginx processes on loopback ports with generated configs.
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  (( policy_added )) && $SUDO rm -f /usr/sbin/policy-rc.d
fi
exit 0
