#!/usr/bin/env bash
# The training benchmark: twig against libtorch 1.13 doing the same epoch, side by side in one run.
# Each side runs at 1 and 2 threads (libtorch also with OpenBLAS pinned to 1 thread, since its
# OpenMP and OpenBLAS pools fight on 2 cores); the best time of each is compared.
# Usage: bench/run_train.sh [BUILD_DIR] [DATA_DIR]   (BUILD_DIR gets the libtorch peer configured in)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
data=${2:-/usr/share/datasets/fashion-mnist}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTWIG_BUILD_TESTS=OFF -DTWIG_BENCH_LIBTORCH=ON > /dev/null
cmake --build "$build" -j2 --target bench_train $( [ -d /usr/lib/x86_64-linux-gnu/cmake/Torch ] && echo train_libtorch ) > /dev/null
best() { sort -n | head -1; }
printf '%-6s %12s %16s %8s   %s\n' model "twig s" "libtorch s" ratio "(twig/libtorch, best thread setting each)"
for model in mlp lenet; do
  twig=$(for t in 1 2; do "$build/bench/bench_train" $model "$data" $t; done | best)
  if [ -x "$build/bench/train_libtorch" ]; then
    peer=$( (for t in 1 2; do "$build/bench/train_libtorch" $model "$data" $t;
             OPENBLAS_NUM_THREADS=1 "$build/bench/train_libtorch" $model "$data" $t; done) | best)
    printf '%-6s %12.3f %16.3f %8.2f\n' $model "$twig" "$peer" "$(echo "$twig / $peer" | bc -l)"
  else
    printf '%-6s %12.3f %16s %8s\n' $model "$twig" "not built" "-"
  fi
done
