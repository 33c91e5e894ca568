#!/usr/bin/env bash
# The benchmark: installs what it needs, builds, starts MariaDB + Redis + the
# local embedding server (tests/harness.sh), loads the Open Beer DB, and runs
# bench/bench.py, which prints a markdown report (bench/README.md explains it).
#   bash bench/run.sh                 5,901 rows; a few minutes
#   BENCH_SCALE=1 bash bench/run.sh   also 59,010 rows; about 15 minutes more
# BENCH_RUNS=3 (median of), BENCH_REPS=5, BENCH_LATENCY_MS=50 by default;
# BENCH_PARTS, BENCH_PARALLEL, BENCH_BUFFER_POOL, BENCH_REDO_LOG,
# BENCH_PROVIDER_PREWARM: bench/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CE_BUILD_DIR:-$ROOT/build}
bash "$ROOT/tests/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
STATE=$(mktemp /tmp/ce-bench.XXXXXX)
trap 'bash "$ROOT/tests/harness.sh" stop "$STATE"' EXIT
# The provider: the local embedding server keeps every vector and its JSON
# text, and bench.py fills that cache before timing (untimed), so a request
# costs the fixed latency and not this machine's CPU, as at a remote provider
# (BENCH_PROVIDER_PREWARM=0: no cache, every run embeds on our cores).
# MariaDB: a buffer pool and redo log sized for the 59,010-row table's
# ~180 MB of vectors (the tests' harness default is 128 MiB / 96 MiB).
if [ "${BENCH_PROVIDER_PREWARM:-1}" = 0 ]; then
  export CE_EMBED_ARGS="--cache-mb 0"
else
  export CE_EMBED_ARGS="--cache-mb ${BENCH_PROVIDER_CACHE_MB:-4096}"
fi
export CE_MARIADB_ARGS="--innodb-buffer-pool-size=${BENCH_BUFFER_POOL:-1G} --innodb-log-file-size=${BENCH_REDO_LOG:-512M}"
bash "$ROOT/tests/harness.sh" start "$BUILD" "$STATE"
# shellcheck disable=SC1090
. "$STATE"
bash "$ROOT/sql/beer/load.sh" openbeer --socket="$CE_SOCKET" -uroot
mariadb --no-defaults -uroot --socket="$CE_SOCKET" < "$ROOT/sql/install.sql"
echo "# cached_embed benchmark — $(date -u +%F), $(nproc) cores"
echo
CE_STATE=$STATE /usr/bin/python3 "$ROOT/bench/bench.py"
