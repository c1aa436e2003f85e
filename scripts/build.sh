#!/usr/bin/env bash
# Configures (once) and builds build/release. Extra arguments are build targets.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${AICLIENT_BUILD_DIR:-build/release}
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if (( $# )); then
  cmake --build "$build_dir" --target "$@"
else
  cmake --build "$build_dir"
fi
