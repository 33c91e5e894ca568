#!/usr/bin/env bash
# The test command: installs what it needs, builds (plugin + unit tests under
# ASan/UBSan), then runs every test with ctest: unit tests, the local
# embedding server's own tests, and the integration tests against real
# MariaDB + Redis + the local embedding server.
#
#   bash tests/run.sh [ctest arguments...]      e.g. -L unit, -R integration
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CE_BUILD_DIR:-$ROOT/build}

bash "$ROOT/tests/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -DCE_TESTS=ON -DCE_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
cd "$BUILD"
exec ctest --output-on-failure --timeout 1200 "$@"
