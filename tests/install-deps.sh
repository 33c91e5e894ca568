#!/usr/bin/env bash
# Installs, from Debian's packages, everything the build, the tests and the
# demo need. Runs apt-get only when a package is missing. Needs root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libhiredis-dev libcurl4-openssl-dev libjansson-dev libssl-dev libmariadbd-dev
  libmariadb-dev
  mariadb-server mariadb-client redis-server redis-tools
  python3 python3-pymysql python3-redis python3-yaml
  ca-certificates
  clang libclang-rt-14-dev clang-format
)
[ $# -gt 0 ] && PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The packaged services must not start on their own: the tests start their
# own servers in a temporary directory.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.cached_embed
chmod +x /usr/sbin/policy-rc.d.cached_embed
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
[ $had_policy = 1 ] || cp /usr/sbin/policy-rc.d.cached_embed /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
rm -f /usr/sbin/policy-rc.d.cached_embed
