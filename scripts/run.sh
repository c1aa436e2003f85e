#!/usr/bin/env bash
# Installs what is missing, builds the server (Release) and runs it in the foreground.
# Without arguments it serves 127.0.0.1:3000 with the built-in mock provider; any arguments
# are passed to aiclient-server (see --help), e.g.
#   scripts/run.sh --provider-pools-file provider_pools.json --model-provider openai-custom
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh aiclient-server
exec "${AICLIENT_BUILD_DIR:-build/release}/aiclient-server" "$@"
