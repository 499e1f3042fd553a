#!/usr/bin/env bash
# Structured pruning: a shrunk model (SaliencyPruner 0.5 on every layer but the last, then prune())
# against the dense one, in one run with alternating rounds, beside the ratio of multiply-adds; and
# prune() on 100 Linear layers (bench/bench_structured.cpp says what each case is).
# With --callgrind it also counts the instructions of each case (valgrind; stable where wall time
# on a shared VM is not), ITERS calls of each, and prints shrunk / dense instruction ratios.
# Usage: bench/run_structured.sh [BUILD_DIR] [THREADS] [ROUNDS] [--callgrind]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
threads=${2:-1}
rounds=${3:-7}
callgrind=${4:-}
# An existing build dir is reused as configured (benchmarks on); a new one is configured here.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTWIG_BUILD_TESTS=OFF -DTWIG_BUILD_EXAMPLES=OFF > /dev/null
else
  cmake -S . -B "$build" -DTWIG_BUILD_BENCHMARKS=ON > /dev/null
fi
cmake --build "$build" -j2 --target bench_structured > /dev/null
bin=$build/bench/bench_structured
echo "# $(date -u +%Y-%m-%d\ %H:%M), $(lscpu | sed -n 's/^Model name: *//p') x $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "$threads" "$rounds" all
if [ "$callgrind" = "--callgrind" ]; then
  command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 1; }
  count() {  # MODEL CASE VARIANT ITERS -> instructions per call
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=/dev/null \
      "$bin" 1 1 one "$@" 2>&1 | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p' | awk -v n="$4" '{ printf "%.0f", $1 / n }'
  }
  echo
  printf '%-6s %-8s %14s %14s %8s\n' model case "dense Ir/call" "shrunk Ir/call" ratio
  for model in mlp lenet; do
    for kase in infer64 infer1 train64; do
      iters=20; [ "$kase" = infer1 ] && iters=200
      d=$(count "$model" "$kase" dense "$iters")
      s=$(count "$model" "$kase" shrunk "$iters")
      awk -v m="$model" -v k="$kase" -v d="$d" -v s="$s" 'BEGIN { printf "%-6s %-8s %14d %14d %8.3f\n", m, k, d, s, s / d }'
    done
  done
fi
