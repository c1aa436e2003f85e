#!/usr/bin/env bash
# Installs what is missing, builds everything (Release) and runs every test:
# the GoogleTest suites through CTest, then the SDK tests (official npm SDKs) with node --test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
scripts/build.sh
build_dir=${AICLIENT_BUILD_DIR:-build/release}
start=$(date +%s)
ctest --test-dir "$build_dir" --output-on-failure -j2 --timeout 300
if [[ -d tests/sdk/node_modules ]]; then
  AICLIENT_SERVER_BINARY="$PWD/$build_dir/aiclient-server" node --test --test-concurrency=1 tests/sdk/
fi
echo "tests: $(( $(date +%s) - start )) s"
