#!/usr/bin/env bash
# The benchmark: installs what it needs, builds, starts MariaDB + Redis + the
# local embedding server (tests/harness.sh), loads the Open Beer DB, and runs
# bench/bench.py, which prints a markdown report (bench/README.md explains it).
#   bash bench/run.sh                 5,901 rows; a few minutes
#   BENCH_SCALE=1 bash bench/run.sh   also 59,010 rows; about 15 minutes more
# BENCH_RUNS=3 (median of), BENCH_REPS=5, BENCH_LATENCY_MS=50 by default.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CE_BUILD_DIR:-$ROOT/build}
bash "$ROOT/tests/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
STATE=$(mktemp /tmp/ce-bench.XXXXXX)
trap 'bash "$ROOT/tests/harness.sh" stop "$STATE"' EXIT
# No vector cache in the embedding server: every cold run really embeds.
CE_EMBED_ARGS="--cache-mb 0" bash "$ROOT/tests/harness.sh" start "$BUILD" "$STATE"
# shellcheck disable=SC1090
. "$STATE"
bash "$ROOT/sql/beer/load.sh" openbeer --socket="$CE_SOCKET" -uroot
mariadb --no-defaults -uroot --socket="$CE_SOCKET" < "$ROOT/sql/install.sql"
echo "# cached_embed benchmark — $(date -u +%F), $(nproc) cores"
echo
CE_STATE=$STATE /usr/bin/python3 "$ROOT/bench/bench.py"
