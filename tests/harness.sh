#!/usr/bin/env bash
# Starts (or stops) the real servers the integration tests talk to, all in one
# temporary directory: MariaDB (unix socket, no TCP), Redis (unix socket and a
# spare loopback port) and the project's local embedding server.
#
#   tests/harness.sh start BUILD_DIR STATE_FILE   # prints nothing on success
#   tests/harness.sh stop STATE_FILE
#
# CE_EMBED_ARGS (optional) adds options to the embedding server's command line,
# CE_MARIADB_ARGS (optional) to mariadbd's (the benchmark's buffer pool).
#
# STATE_FILE receives shell assignments (CE_DIR, CE_SOCKET, ...) for the tests.
# On failure the servers' logs are printed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # seconds command...
  local n=$(( $1 * 10 )); shift
  while ! "$@" >/dev/null 2>&1; do
    n=$((n - 1)); [ "$n" -gt 0 ] || return 1; sleep 0.1
  done
}

dump_logs() {
  for f in "$CE_DIR"/mariadb.err "$CE_DIR"/redis.log "$CE_DIR"/embed.log; do
    [ -f "$f" ] && { echo "==== $f"; tail -n 40 "$f"; }
  done >&2
}

start() {
  local build; build=$(cd "$1" && pwd); local state=$2
  CE_DIR=$(mktemp -d /tmp/ce-test.XXXXXX)
  trap 'echo "harness: start failed" >&2; dump_logs; stop_dir "$CE_DIR"; exit 1' ERR

  # Redis: unix socket for speed, a loopback port for redis-benchmark.
  local redis_port; redis_port=$(free_port)
  cat > "$CE_DIR/redis.conf" <<CONF
port $redis_port
bind 127.0.0.1
unixsocket $CE_DIR/redis.sock
unixsocketperm 700
dir $CE_DIR
save ""
appendonly no
daemonize yes
pidfile $CE_DIR/redis.pid
logfile $CE_DIR/redis.log
CONF
  redis-server "$CE_DIR/redis.conf"
  wait_for 10 redis-cli -s "$CE_DIR/redis.sock" ping

  # The local embedding server.
  "$PY" "$HERE/embed_server/embed_server.py" --host 127.0.0.1 --port 0 \
    --port-file "$CE_DIR/embed.port" --quiet ${CE_EMBED_ARGS:-} >"$CE_DIR/embed.log" 2>&1 &
  echo $! > "$CE_DIR/embed.pid"
  wait_for 15 test -s "$CE_DIR/embed.port"
  local embed_port; embed_port=$(cat "$CE_DIR/embed.port")

  # The plugin's settings: only CACHED_EMBED_CONFIG is in the environment, so
  # tests can change any setting by rewriting the file. The local (in-process)
  # cache is off by default so that tests can reach into Redis; the tests of
  # the local cache turn it on.
  cat > "$CE_DIR/cached_embed.cnf" <<CONF
[cached_embed]
endpoint = http://127.0.0.1:$embed_port/v1/embeddings
model = jina-embeddings-v2-base-en
redis = unix://$CE_DIR/redis.sock
api_key = ce-test-secret-0123456789abcdef
ttl = 1200
timeout_ms = 5000
local_cache_mb = 0
CONF
  chmod 600 "$CE_DIR/cached_embed.cnf"

  # MariaDB: own datadir, socket and tmpdir (a shared /tmp lost on-disk
  # temporary tables of a busy statement now and then: "Error on delete of
  # '/tmp/#sql-temptable-....MAI'"), plugin_dir at the build output.
  mkdir -p "$CE_DIR/data" "$CE_DIR/tmp"
  mariadb-install-db --no-defaults --datadir="$CE_DIR/data" --user=root \
    --auth-root-authentication-method=normal --skip-test-db \
    >"$CE_DIR/install-db.log" 2>&1
  CACHED_EMBED_CONFIG="$CE_DIR/cached_embed.cnf" \
  mariadbd --no-defaults --user=root --datadir="$CE_DIR/data" \
    --socket="$CE_DIR/mysql.sock" --skip-networking \
    --plugin-dir="$build" --log-error="$CE_DIR/mariadb.err" \
    --pid-file="$CE_DIR/mariadb.pid" --innodb-buffer-pool-size=128M \
    --max-allowed-packet=64M --character-set-server=utf8mb4 \
    --skip-log-bin --thread-stack=512K --tmpdir="$CE_DIR/tmp" ${CE_MARIADB_ARGS:-} \
    >/dev/null 2>&1 &
  wait_for 60 mariadb-admin --no-defaults -uroot --socket="$CE_DIR/mysql.sock" ping

  cat > "$state" <<VARS
CE_DIR=$CE_DIR
CE_BUILD=$build
CE_SOCKET=$CE_DIR/mysql.sock
CE_ERRLOG=$CE_DIR/mariadb.err
CE_REDIS_SOCK=$CE_DIR/redis.sock
CE_REDIS_PORT=$redis_port
CE_REDIS_CONF=$CE_DIR/redis.conf
CE_EMBED_PORT=$embed_port
CE_CONFIG=$CE_DIR/cached_embed.cnf
CE_API_KEY=ce-test-secret-0123456789abcdef
VARS
  trap - ERR
}

stop_dir() {
  local dir=$1
  [ -d "$dir" ] || return 0
  if [ -S "$dir/mysql.sock" ]; then
    mariadb-admin --no-defaults -uroot --socket="$dir/mysql.sock" shutdown >/dev/null 2>&1 || true
  fi
  for p in mariadb redis embed; do
    [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  sleep 0.3
  for p in mariadb redis embed; do
    [ -f "$dir/$p.pid" ] && kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true
  done
  rm -rf "$dir"
}

stop() {
  local state=$1
  [ -f "$state" ] || return 0
  # shellcheck disable=SC1090
  . "$state"
  stop_dir "$CE_DIR"
  rm -f "$state"
}

case "${1:-}" in
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 start BUILD_DIR STATE_FILE | stop STATE_FILE" >&2; exit 2 ;;
esac
