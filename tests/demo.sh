#!/usr/bin/env bash
# The demo: cached_embed on real data, offline, in one command.
#
#   bash tests/demo.sh [--keep] [--non-interactive] [--query TEXT | TEXT]
#
# Installs what it needs (Debian packages), builds the plugin, starts MariaDB +
# Redis + the local embedding server in a temporary directory
# (tests/harness.sh), loads the Open Beer DB, installs the functions, runs the
# notebook's query (sql/examples/notebook_join.sql: every 12th beer, both
# descriptions embedded inline, one statement with batched provider requests)
# cold and then warm, printing each run's time and the provider requests it
# caused (from cached_embed_stats()), stores the vectors of all 5,901 beers
# (one batched statement too) and prints the beers nearest a free-text
# query. Everything it started is stopped at the end unless --keep is given.
#
#   --keep             leave the servers running and print how to connect
#   --query TEXT       the similarity search text (default below); a first
#                      positional argument does the same
#   --non-interactive  no colours, no progress redraws (also when CI is set)
#
# Environment:
#   CACHED_EMBED_API_KEY  use a real provider instead of the local server:
#                         Jina (https://api.jina.ai/v1/embeddings) unless
#                         CACHED_EMBED_ENDPOINT names another endpoint
#                         (CACHED_EMBED_MODEL / CACHED_EMBED_PROVIDER are
#                         passed on too). The key goes only into the plugin's
#                         config file (mode 600), never to the output.
#   CE_BUILD_DIR          build directory (default: build/); when it already
#                         holds cached_embed.so, the build is skipped
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export LC_ALL=C
PY=/usr/bin/python3
DB=openbeer
JINA_ENDPOINT=https://api.jina.ai/v1/embeddings

QUERY="hoppy citrus IPA with grapefruit notes"
KEEP=0
INTERACTIVE=1
[ -n "${CI:-}" ] && INTERACTIVE=0
query_set=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --non-interactive) INTERACTIVE=0 ;;
    --query) [ $# -ge 2 ] || { echo "demo: --query needs a text" >&2; exit 2; }
             QUERY=$2; query_set=1; shift ;;
    --query=*) QUERY=${1#--query=}; query_set=1 ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "demo: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) [ $query_set = 0 ] || { echo "demo: more than one query text" >&2; exit 2; }
       QUERY=$1; query_set=1 ;;
  esac
  shift
done
if [ -z "${QUERY//[[:space:]]/}" ]; then
  echo "demo: the query text is empty" >&2; exit 2
fi

# ---- output -----------------------------------------------------------------
if [ $INTERACTIVE = 1 ] && [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  B=$'\e[1m'; G=$'\e[32m'; D=$'\e[2m'; R=$'\e[31m'; N=$'\e[0m'
else
  B=; G=; D=; R=; N=
fi
T0=$EPOCHREALTIME
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%6.1fs", b - a }'; }
step() { printf '%s[%s]%s %s%s%s\n' "$D" "$(elapsed)" "$N" "$B" "$*" "$N"; }
info() { printf '          %s\n' "$*"; }
die() { printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2; exit 1; }

LOG=$(mktemp /tmp/ce-demo-log.XXXXXX)
STATE=$(mktemp /tmp/ce-demo-state.XXXXXX)
rm -f "$STATE"
STARTED=0
cleanup() {
  local rc=$?
  if [ $STARTED = 1 ] && { [ $KEEP = 0 ] || [ $rc != 0 ]; }; then
    bash "$ROOT/tests/harness.sh" stop "$STATE" >/dev/null 2>&1 || true
  fi
  if [ $rc != 0 ] && [ -s "$LOG" ]; then
    echo "---- last lines of $LOG" >&2; tail -n 30 "$LOG" >&2
  else
    rm -f "$LOG"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command with its output in $LOG; shows the log when it fails.
quietly() { "$@" >>"$LOG" 2>&1 || die "failed: $*"; }

# ---- 1. dependencies and build ----------------------------------------------
step "installing dependencies (tests/install-deps.sh)"
quietly bash "$ROOT/tests/install-deps.sh"

BUILD=${CE_BUILD_DIR:-$ROOT/build}
if [ -f "$BUILD/cached_embed.so" ] && [ -n "${CE_BUILD_DIR:-}" ]; then
  step "using the existing build in $BUILD"
else
  step "building into $BUILD (cmake)"
  quietly cmake -S "$ROOT" -B "$BUILD" -DCE_TESTS=ON
  quietly cmake --build "$BUILD" -j"$(nproc)"
fi
[ -f "$BUILD/cached_embed.so" ] || die "no $BUILD/cached_embed.so after the build"

# ---- 2. servers ---------------------------------------------------------------
step "starting MariaDB, Redis and the local embedding server (tests/harness.sh)"
STARTED=1
# The plugin reads its settings from the config file only: settings in this
# shell's environment would otherwise override the file inside mariadbd.
quietly env -u CACHED_EMBED_API_KEY -u JINA_API_KEY -u CACHED_EMBED_ENDPOINT \
  -u CACHED_EMBED_MODEL -u CACHED_EMBED_PROVIDER -u CACHED_EMBED_REDIS \
  -u CACHED_EMBED_DIMENSIONS -u CACHED_EMBED_TASK \
  bash "$ROOT/tests/harness.sh" start "$BUILD" "$STATE"
# shellcheck disable=SC1090
. "$STATE"
info "temporary directory: $CE_DIR"

PROVIDER="the local embedding server (hashed lexical features, not a neural model) on 127.0.0.1:$CE_EMBED_PORT"
if [ -n "${CACHED_EMBED_API_KEY:-}" ]; then
  endpoint=${CACHED_EMBED_ENDPOINT:-$JINA_ENDPOINT}
  model=${CACHED_EMBED_MODEL:-jina-embeddings-v2-base-en}
  {
    echo "[cached_embed]"
    echo "endpoint = $endpoint"
    echo "model = $model"
    [ -n "${CACHED_EMBED_PROVIDER:-}" ] && echo "provider = $CACHED_EMBED_PROVIDER"
    echo "redis = unix://$CE_DIR/redis.sock"
    echo "api_key = $CACHED_EMBED_API_KEY"
    echo "ttl = 1200"
    echo "timeout_ms = 30000"
  } > "$CE_CONFIG.new"
  chmod 600 "$CE_CONFIG.new"
  mv "$CE_CONFIG.new" "$CE_CONFIG"
  sleep 1.2 # the plugin re-reads its file at most once a second
  PROVIDER="$endpoint (model $model, key from CACHED_EMBED_API_KEY)"
fi
info "provider: $PROVIDER"

MDB=(mariadb --no-defaults -uroot "--socket=$CE_SOCKET")
sql() { "${MDB[@]}" "$DB" "$@"; }

# ---- 3. data and functions ----------------------------------------------------
step "loading the Open Beer DB (sql/beer/load.sh, ODbL) into database '$DB'"
quietly bash "$ROOT/sql/beer/load.sh" "$DB" "--socket=$CE_SOCKET" -uroot
info "$(sql -N -B -e "SELECT CONCAT(COUNT(*), ' beers in the descriptions view')
                      FROM descriptions")"
step "installing the functions (sql/install.sql)"
"${MDB[@]}" < "$ROOT/sql/install.sql" >>"$LOG" 2>&1 || die "sql/install.sql failed"

# One counter of cached_embed_stats(), parsed as JSON.
ce_stat() {
  "${MDB[@]}" -N -B -e "SELECT cached_embed_stats()" |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Runs a command in the background; while it runs, prints the provider
# requests so far (a line every 10 s, or a redrawn line every second).
with_progress() { # label base_requests command...
  local label=$1 base=$2; shift 2
  "$@" &
  local pid=$! polls=0 now tty=0
  [ $INTERACTIVE = 1 ] && [ -t 1 ] && tty=1
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.1; polls=$((polls + 1))
    [ $((polls % 10)) = 0 ] || continue
    kill -0 "$pid" 2>/dev/null || break
    now=$(ce_stat provider_requests 2>/dev/null || echo "$base")
    if [ $tty = 1 ]; then
      printf '\r          %s: %s provider requests so far (%ss)  ' "$label" $((now - base)) $((polls / 10))
    elif [ $((polls % 100)) = 0 ]; then
      info "$label: $((now - base)) provider requests so far ($((polls / 10))s)"
    fi
  done
  if [ $tty = 1 ] && [ $polls -ge 10 ]; then printf '\r%*s\r' 72 ''; fi
  wait "$pid"
}

# The notebook's query with cached_embed inline for both descriptions, every
# row sent to the client as the notebook would fetch it; counts rows and
# non-NULL vectors (the last two columns).
# Writes "rows vectors seconds" to $CE_DIR/join.out.
run_join() {
  local t1=$EPOCHREALTIME counts
  counts=$(sql -N -B --max-allowed-packet=64M < "$ROOT/sql/examples/notebook_join.sql" |
    awk -F'\t' '{ n++; v += ($(NF-1) != "NULL") + ($NF != "NULL") }
                 END { printf "%d %d", n, v }')
  echo "$counts $(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" \
    > "$CE_DIR/join.out"
}

join_run() { # label
  local label=$1 before after rows vecs secs
  before=$(ce_stat provider_requests)
  with_progress "$label run" "$before" run_join || die "the $label run failed"
  after=$(ce_stat provider_requests)
  read -r rows vecs secs < "$CE_DIR/join.out"
  printf '          %s%s run: %s rows, %s vectors in %s s, %s provider requests%s\n' \
    "$G" "$label" "$rows" "$vecs" "$secs" $((after - before)) "$N"
}

# ---- 4. the notebook's join, cold then warm -----------------------------------
step "checking the provider with one text"
ok=$(sql -N -B -e "SELECT cached_embed(NULL, 'cached_embed demo: provider check') IS NOT NULL" \
     2>>"$LOG") || die "the provider check failed"
[ "$ok" = 1 ] || die "the provider gave no vector; the server's error log says:
$(grep 'cached_embed:' "$CE_ERRLOG" | tail -n 3)"
step "cold run: the notebook's query, both descriptions embedded inline (sql/examples/notebook_join.sql), empty cache; one statement: its warm-up CTE batches the provider requests"
join_run cold
step "warm run: the same statement again, every vector from Redis"
join_run warm

# ---- 5. store the vectors, search -----------------------------------------------
step "storing the vectors of all the beers in beer_vectors(id, vec VARBINARY(3072)): one statement, warm-up first"
before=$(ce_stat provider_requests)
t1=$EPOCHREALTIME
sql -e "CREATE OR REPLACE TABLE beer_vectors (id INT PRIMARY KEY, vec VARBINARY(3072));
        INSERT INTO beer_vectors (id, vec)
        SELECT d.id, cached_embed(CONCAT('beer:', d.id, ':long'), d.descr_long)
        FROM (SELECT cached_embed_warm(CONCAT('beer:', id, ':long'), descr_long) AS warmed
              FROM descriptions) AS warm
        CROSS JOIN descriptions AS d;" >>"$LOG" 2>&1 || die "storing the vectors failed"
secs=$(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
info "$(sql -N -B -e "SELECT CONCAT(COUNT(vec), ' vectors of ', MIN(embedding_dims(vec)),
                      ' floats stored') FROM beer_vectors") in $secs s, $(( $(ce_stat provider_requests) - before )) provider requests"

# The text as a SQL string literal.
lit=${QUERY//\\/\\\\}
lit=${lit//\'/\'\'}
step "similarity search: the 10 beers nearest \"$QUERY\""
sql --table -e "
SET @q = cached_embed_query('$lit');
SELECT ROW_NUMBER() OVER (ORDER BY sim DESC) AS \`rank\`,
       LEFT(name, 40) AS beer, LEFT(brewery, 32) AS brewery,
       COALESCE(style, '-') AS style, ROUND(sim, 4) AS similarity
FROM (SELECT d.name, d.brewery, d.style, embedding_cosine(v.vec, @q) AS sim
      FROM beer_vectors v JOIN descriptions d ON d.id = v.id
      ORDER BY sim DESC LIMIT 10) AS top
ORDER BY \`rank\`;" 2>>"$LOG" || die "the similarity search failed"

st=$("${MDB[@]}" -N -B -e "SELECT cached_embed_stats()")
info "cached_embed_stats(): $("$PY" -c '
import json, sys
s = json.loads(sys.argv[1])
print("%(hits)d hits, %(misses)d misses, %(provider_requests)d provider requests, "
      "%(provider_errors)d provider errors, latency mean %(latency_ms_mean).2f ms" % s)' "$st")"

# ---- 6. keep or stop ---------------------------------------------------------------
if [ $KEEP = 1 ]; then
  step "the servers keep running (--keep)"
  info "connect:  mariadb --no-defaults -uroot --socket=$CE_SOCKET $DB"
  info "try:      SELECT cached_embed_stats();"
  info "stop:     bash $ROOT/tests/harness.sh stop $STATE"
else
  bash "$ROOT/tests/harness.sh" stop "$STATE" >/dev/null 2>&1 || true
  STARTED=0
  step "stopped MariaDB, Redis and the embedding server; done"
fi
