#!/usr/bin/env bash
# Opt-in check against MariaDB 11.8 and its VECTOR type, with Debian trixie's
# own packages in a debootstrap chroot. Not part of ctest / tests/run.sh: the
# first run downloads and installs about 200 MB of packages (a few minutes);
# later runs reuse the cached chroot (about a minute).
#
#   sudo bash tests/mariadb118/run.sh
#
# Steps: make (or reuse) the chroot under $CE_CHROOT (default
# /var/cache/cached_embed/trixie-chroot) with mariadb-server 11.8, redis,
# the build dependencies and python3-pymysql; copy the source tree in and
# build cached_embed.so there against trixie's libmariadbd-dev; start
# mariadbd 11.8, redis and the local embedding server inside the chroot
# (loopback and unix sockets; the chroot shares the host's network); install
# the functions, load the Open Beer DB, then run check.py: VECTOR(768) +
# VECTOR INDEX storage, VEC_DISTANCE_COSINE against embedding_cosine (or a
# Python reference), EXPLAIN of the index-ordered query. Everything it
# started is stopped and /proc unmounted on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHROOT=${CE_CHROOT:-/var/cache/cached_embed/trixie-chroot}
ROWS=${CE_ROWS:-400}
PACKAGES="mariadb-server mariadb-client libmariadb-dev libmariadbd-dev
  redis-server build-essential cmake pkg-config libhiredis-dev
  libcurl4-openssl-dev libjansson-dev libssl-dev python3 python3-pymysql ca-certificates"
START=$(date +%s)
say() { printf '[%3ds] %s\n' $(( $(date +%s) - START )) "$*"; }

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (debootstrap, chroot)" >&2; exit 1; }

# The mirror apt already uses on this host (http://deb.debian.org/debian
# unless the sources say otherwise).
mirror() {
  local m
  m=$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
      grep -oE 'https?://[^ ]+' | head -n1 || true)
  echo "${CE_MIRROR:-${m:-http://deb.debian.org/debian}}"
}

in_chroot() { chroot "$CHROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 "$@"; }

MOUNTED=()
mount_proc() {
  local dir=$1
  if ! mountpoint -q "$dir/proc"; then
    mount -t proc proc "$dir/proc"; MOUNTED+=("$dir/proc")
  fi
}

cleanup() {
  set +e
  if [ -d "$CHROOT/run/ce118" ]; then
    [ -S "$CHROOT/run/ce118/mysql.sock" ] &&
      in_chroot mariadb-admin --no-defaults -uroot --socket=/run/ce118/mysql.sock \
        shutdown >/dev/null 2>&1
    for p in redis embed mariadb; do
      f="$CHROOT/run/ce118/$p.pid"
      [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    sleep 1
    for p in redis embed mariadb; do
      f="$CHROOT/run/ce118/$p.pid"
      [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
  fi
  for m in "${MOUNTED[@]}"; do umount -l "$m"; done
}
trap cleanup EXIT

# 1. The chroot (cached; remade when the package list changes).
stamp=$(echo "$PACKAGES" | tr -s ' \n' ' ' | sha256sum | cut -c1-16)
if [ "$(cat "$CHROOT/.ce-ready" 2>/dev/null)" != "$stamp" ]; then
  command -v debootstrap >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  tmp="$CHROOT.tmp"
  mountpoint -q "$tmp/proc" && umount -l "$tmp/proc"
  rm -rf "$tmp"; mkdir -p "$(dirname "$CHROOT")"
  say "debootstrap trixie from $(mirror)"
  debootstrap --variant=minbase trixie "$tmp" "$(mirror)" >"$tmp.log" 2>&1 ||
    { tail -n 20 "$tmp.log"; exit 1; }
  mount_proc "$tmp"
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  say "installing: $(echo $PACKAGES)"
  # shellcheck disable=SC2086
  chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    DEBIAN_FRONTEND=noninteractive sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $(echo $PACKAGES)" \
    >>"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log"; exit 1; }
  chroot "$tmp" apt-get clean
  umount -l "$tmp/proc"; MOUNTED=()
  echo "$stamp" > "$tmp/.ce-ready"
  rm -rf "$CHROOT"; mv "$tmp" "$CHROOT"
  say "chroot ready: $CHROOT"
else
  say "reusing chroot $CHROOT"
fi
mount_proc "$CHROOT"
say "$(in_chroot mariadbd --version)"

# 2. Build inside the chroot, against trixie's headers and libraries.
rm -rf "$CHROOT/src"; mkdir -p "$CHROOT/src"
tar -C "$ROOT" --exclude=./build --exclude='./build-*' --exclude=.git -cf - . |
  tar -C "$CHROOT/src" -xf -
say "building cached_embed.so in the chroot"
in_chroot sh -c 'cmake -S /src -B /src/build -DCE_TESTS=OFF >/src/configure.log 2>&1 &&
  cmake --build /src/build -j"$(nproc)" >/src/build.log 2>&1' ||
  { tail -n 30 "$CHROOT/src/configure.log" "$CHROOT/src/build.log"; exit 1; }

# 3. Servers: redis, the local embedding server, mariadbd 11.8.
R=/run/ce118
rm -rf "${CHROOT:?}$R"; mkdir -p "$CHROOT$R/data"
in_chroot redis-server --port 0 --unixsocket $R/redis.sock --unixsocketperm 700 \
  --dir $R --save '' --appendonly no --daemonize yes --pidfile $R/redis.pid \
  --logfile $R/redis.log
in_chroot sh -c "python3 /src/tests/embed_server/embed_server.py --host 127.0.0.1 \
  --port 0 --port-file $R/embed.port --quiet >$R/embed.log 2>&1 & echo \$! > $R/embed.pid"
for _ in $(seq 150); do [ -s "$CHROOT$R/embed.port" ] && break; sleep 0.1; done
port=$(cat "$CHROOT$R/embed.port")
cat > "$CHROOT$R/cached_embed.cnf" <<CONF
[cached_embed]
endpoint = http://127.0.0.1:$port/v1/embeddings
model = jina-embeddings-v2-base-en
redis = unix://$R/redis.sock
api_key = ce-mariadb118-secret
ttl = 0
timeout_ms = 5000
CONF
chmod 600 "$CHROOT$R/cached_embed.cnf"
in_chroot mariadb-install-db --no-defaults --datadir=$R/data --user=root \
  --auth-root-authentication-method=normal --skip-test-db >"$CHROOT$R/install-db.log" 2>&1
in_chroot sh -c "CACHED_EMBED_CONFIG=$R/cached_embed.cnf mariadbd --no-defaults \
  --user=root --datadir=$R/data --socket=$R/mysql.sock --skip-networking \
  --plugin-dir=/src/build --log-error=$R/mariadb.err --pid-file=$R/mariadb.pid \
  --innodb-buffer-pool-size=256M --max-allowed-packet=64M \
  --character-set-server=utf8mb4 --skip-log-bin >/dev/null 2>&1 &"
ok=0
for _ in $(seq 600); do
  in_chroot mariadb-admin --no-defaults -uroot --socket=$R/mysql.sock ping >/dev/null 2>&1 &&
    { ok=1; break; }
  sleep 0.1
done
[ $ok = 1 ] || { tail -n 30 "$CHROOT$R/mariadb.err"; exit 1; }
say "servers up: mariadbd $(in_chroot mariadb --no-defaults -uroot --socket=$R/mysql.sock -NBe 'SELECT VERSION()'), redis, embed_server :$port"

# 4. Functions and data.
in_chroot sh -c "mariadb --no-defaults -uroot --socket=$R/mysql.sock < /src/sql/install.sql"
in_chroot bash /src/sql/beer/load.sh openbeer --socket=$R/mysql.sock -uroot
say "loaded openbeer: $(in_chroot mariadb --no-defaults -uroot --socket=$R/mysql.sock \
  -NBe 'SELECT COUNT(*) FROM openbeer.descriptions') descriptions"

# 5. The checks.
set +e
in_chroot python3 /src/tests/mariadb118/check.py --socket $R/mysql.sock --rows "$ROWS"
rc=$?
set -e
if grep -q 'ce-mariadb118-secret' "$CHROOT$R/mariadb.err"; then
  echo "FAIL: the API key reached the error log"; rc=1
fi
if [ $rc != 0 ]; then echo "==== mariadb.err"; tail -n 30 "$CHROOT$R/mariadb.err"; fi
say "$([ $rc = 0 ] && echo PASS || echo FAIL) (runtime $(( $(date +%s) - START ))s)"
exit $rc
