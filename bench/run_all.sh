#!/usr/bin/env bash
# Runs every twig benchmark from an existing build directory (builds nothing) and prints one table.
# ratio = peer time / twig time (twig's speed relative to the peer; goal >= 0.95).
# Usage: bench/run_all.sh BUILD_DIR
set -euo pipefail
build="${1:?usage: $0 BUILD_DIR}"
benches=(bench_matmul bench_elementwise)
for name in "${benches[@]}"; do
  if [[ ! -x "$build/bench/$name" ]]; then
    echo "$name not built in $build; build it with: cmake --build $build --target $name" >&2
    exit 1
  fi
done
printf '%-10s %-24s %7s %10s %10s %7s  %s\n' bench case threads "twig ms" "peer ms" ratio notes
printf '%s\n' "$(printf '%.0s-' {1..100})"
for name in "${benches[@]}"; do
  "$build/bench/$name" --rows
done
