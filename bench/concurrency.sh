#!/usr/bin/env bash
# Concurrent misses (issue 10): starts MariaDB + Redis + the local embedding
# server (tests/harness.sh) on a build and runs bench/concurrency.py, which
# prints a markdown report. About two minutes.
#   bash bench/concurrency.sh [BUILD_DIR]     (default: ./build; BENCH_REPS=3)
# To compare with another commit: git worktree add /tmp/before <commit>,
# build it there (cmake -S /tmp/before -B /tmp/before/build -DCE_TESTS=OFF
# && cmake --build /tmp/before/build), then
#   bash bench/concurrency.sh /tmp/before/build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${CE_BUILD_DIR:-$ROOT/build}}
if [ $# -eq 0 ]; then
  cmake -S "$ROOT" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" >/dev/null
fi
STATE=$(mktemp /tmp/ce-bench.XXXXXX)
trap 'bash "$ROOT/tests/harness.sh" stop "$STATE"' EXIT
bash "$ROOT/tests/harness.sh" start "$BUILD" "$STATE"
echo "# cached_embed concurrency benchmark — $(date -u +%F), $(nproc) cores"
echo
CE_STATE=$STATE /usr/bin/python3 "$ROOT/bench/concurrency.py"
