#!/usr/bin/env bash
# Fails when a C file of the project differs from what clang-format makes
# of it with the repository's .clang-format (LLVM style). To fix:
#   clang-format -i $(bash tests/format/check_format.sh --list)
# tests/compat/ holds copies of MySQL's headers and is left as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
files=$(find udf tests -name '*.[ch]' -not -path 'tests/compat/mysql/*' | sort)
if [ "${1:-}" = --list ]; then
  echo "$files"
  exit 0
fi
bad=0
for f in $files; do
  if ! clang-format --style=file "$f" | cmp -s - "$f"; then
    echo "not formatted: $f"
    clang-format --style=file "$f" | diff -u "$f" - | head -20 || true
    bad=$((bad + 1))
  fi
done
n=$(echo "$files" | wc -l)
echo "format: $((n - bad)) of $n files formatted, $bad not"
[ "$bad" -eq 0 ]
