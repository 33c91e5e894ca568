#!/usr/bin/env bash
# `cmake --install` puts cached_embed.so into the configured plugin_dir:
# installs the build tree under DESTDIR=<tmp> and checks the file landed at
# <tmp>/<CE_PLUGIN_DIR>/cached_embed.so, is the built module, and exports
# the UDF entry points. Then configures a second tree with -DCE_PLUGIN_DIR
# and checks that choice is honoured.
#   tests/install/test_install.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SRC=$1 BUILD=$2
tmp=$(mktemp -d /tmp/ce-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_install: FAIL: $*" >&2; exit 1; }

dir=$(sed -n 's/^CE_PLUGIN_DIR_RESOLVED:INTERNAL=//p' "$BUILD/CMakeCache.txt")
[ -n "$dir" ] || fail "CE_PLUGIN_DIR_RESOLVED missing from $BUILD/CMakeCache.txt"
DESTDIR="$tmp/d1" cmake --install "$BUILD" >"$tmp/install1.log"
so="$tmp/d1$dir/cached_embed.so"
[ -f "$so" ] || { cat "$tmp/install1.log"; fail "no $so"; }
cmp -s "$so" "$BUILD/cached_embed.so" || fail "$so differs from the built module"
nm -D --defined-only "$so" | grep -qw cached_embed_init || fail "cached_embed_init not exported"
n=$(find "$tmp/d1" -type f | wc -l)
[ "$n" = 1 ] || fail "expected 1 installed file, found $n: $(find "$tmp/d1" -type f)"
echo "ok: DESTDIR install -> $dir/cached_embed.so"

# An explicit -DCE_PLUGIN_DIR wins over anything the server says.
cmake -S "$SRC" -B "$tmp/b2" -DCE_TESTS=OFF -DCE_PLUGIN_DIR=/opt/ce-test/plugin \
  >"$tmp/configure2.log"
cmake --build "$tmp/b2" -j2 >"$tmp/build2.log"
DESTDIR="$tmp/d2" cmake --install "$tmp/b2" >"$tmp/install2.log"
[ -f "$tmp/d2/opt/ce-test/plugin/cached_embed.so" ] || fail "-DCE_PLUGIN_DIR not honoured"
echo "ok: -DCE_PLUGIN_DIR=/opt/ce-test/plugin honoured"
