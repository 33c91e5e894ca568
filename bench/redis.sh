#!/usr/bin/env bash
# Redis deployments compared: a single Redis (TCP, TLS) against a Redis
# Cluster of 3 masters + 3 replicas, for a warm-up and a hit-only pass over
# the 5,901 beers (bench/redis_topologies.py). About a minute.
#   bash bench/redis.sh          (BENCH_RUNS=3 by default)
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
echo "# cached_embed: Redis deployments — $(date -u +%F), $(nproc) cores"
echo
CE_STATE=$STATE /usr/bin/python3 "$ROOT/bench/redis_topologies.py"
