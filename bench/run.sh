#!/usr/bin/env bash
# One command for the benchmarks: installs what is missing (Debian 12), builds the gateway
# (Release) and the bench tools, runs every load scenario against the gateway and the nginx
# reference hop in alternating rounds, prints the table, then runs the codec micro-benchmarks.
#
#   bench/run.sh [--quick] [--skip-micro] [harness options: --rounds N --duration S
#                 --only small-pass,stream --slow-seconds S --slow-clients N --keep]
#   bench/run.sh --profile callgrind|strace|perf --rounds 1 --only small-pass
#       profiles the gateway and the nginx hop on the scenarios given (build/bench/profile-*.txt)
#
# Environment: AICLIENT_BENCH_BUILD_DIR (default build/bench), BENCH_PORT_BASE (default 18100:
# ports base+1..base+4 on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
micro=1
harness_args=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1; harness_args+=("$a") ;;
    --skip-micro) micro=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) harness_args+=("$a") ;;
  esac
done
setup_args=()
for a in "${harness_args[@]+"${harness_args[@]}"}"; do
  if [[ "$a" == "--profile" ]]; then
    micro=0
    setup_args=(--profile)
  fi
done

bench/setup.sh "${setup_args[@]+"${setup_args[@]}"}"

build_dir=${AICLIENT_BENCH_BUILD_DIR:-build/bench}
if [[ ! -f "$build_dir/build.ninja" ]] || ! grep -q '^AICLIENT_BUILD_BENCH:.*=ON' "$build_dir/CMakeCache.txt"; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAICLIENT_BUILD_TESTS=OFF \
    -DAICLIENT_BUILD_BENCH=ON >/dev/null
fi
echo "bench: building $build_dir (Release): aiclient-server and the bench tools" >&2
cmake --build "$build_dir" --target aiclient-server bench_fixtures fake_upstream bench_client bench_micro

# 1,000 slow streams need ~2,000 descriptors in the gateway and as many in the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

node bench/harness.mjs --build "$build_dir" "${harness_args[@]+"${harness_args[@]}"}"

if (( micro )); then
  min_time=0.5
  (( quick )) && min_time=0.1
  echo
  echo "Micro-benchmarks (bytes_per_second = throughput over the input bytes):"
  "$build_dir/bench/bench_micro" --benchmark_min_time="$min_time" \
    --benchmark_out="$build_dir/bench-micro.json" --benchmark_out_format=json
fi
