#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what clang-format 14 (Debian's clang-format) makes of it
# under the committed .clang-format. `tools/check_format.sh --fix` rewrites the files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then
  echo "check_format: clang-format not found (tools/install_deps.sh installs clang-format)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cc' '*.hpp' '*.inc')
if [ "${1:-}" = "--fix" ]; then
  "$cf" -i "${files[@]}"
  exit 0
fi
log=$(mktemp)
# One process for the whole tree; --Werror turns each difference into an error naming file and line.
if ! "$cf" --dry-run --Werror --ferror-limit=3 "${files[@]}" 2>"$log"; then
  grep -o '^[^:]*:[0-9]*:[0-9]*: error' "$log" | cut -d: -f1 | sort -u | sed 's/^/  /' >&2
  rm -f "$log"
  echo "check_format: the files above differ from $("$cf" --version | head -1); run tools/check_format.sh --fix" >&2
  exit 1
fi
rm -f "$log"
echo "check_format: ${#files[@]} files formatted"
