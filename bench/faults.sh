#!/usr/bin/env bash
# Figures of issue 9 (provider blip, outage, hard down, memory bounds): builds,
# starts MariaDB + Redis + the local embedding server (tests/harness.sh) and
# runs bench/faults.py, which prints a markdown table. About two minutes.
#   bash bench/faults.sh [blip|outage|down|memory ...]
# CE_BUILD_DIR=dir measures the cached_embed.so already built in dir.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CE_BUILD_DIR:-$ROOT/build}
if [ ! -f "$BUILD/cached_embed.so" ]; then
  bash "$ROOT/tests/install-deps.sh"
  cmake -S "$ROOT" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" >/dev/null
fi
STATE=$(mktemp /tmp/ce-faults.XXXXXX)
trap 'bash "$ROOT/tests/harness.sh" stop "$STATE"' EXIT
bash "$ROOT/tests/harness.sh" start "$BUILD" "$STATE"
# shellcheck disable=SC1090
. "$STATE"
mariadb --no-defaults -uroot --socket="$CE_SOCKET" < "$ROOT/sql/install.sql"
echo "# cached_embed fault figures — $(date -u +%F), $(nproc) cores"
echo
CE_STATE=$STATE /usr/bin/python3 "$ROOT/bench/faults.py" "$@"
