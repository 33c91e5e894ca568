#!/usr/bin/env bash
# Loads the Open Beer DB into a database (default: openbeer) and creates the
# `descriptions` view. Client options (socket, user, ...) come after the name:
#   bash sql/beer/load.sh openbeer --socket=/tmp/x/mysql.sock -uroot
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DB=${1:-openbeer}; shift || true
mariadb --no-defaults "$@" -e "CREATE DATABASE IF NOT EXISTS \`$DB\` CHARACTER SET utf8mb4"
cat "$HERE"/beers.sql "$HERE"/breweries.sql "$HERE"/categories.sql \
    "$HERE"/styles.sql "$HERE"/geocodes.sql "$HERE"/descriptions.sql |
  mariadb --no-defaults "$@" "$DB"
