#!/usr/bin/env bash
# The main job's work, twig against libtorch 1.13 doing the same (bench/peer/train_libtorch.cpp),
# side by side in one run: one training epoch (Adam, batch 64), test-set inference and global L1
# pruning to 90%, for the MLP 784-300-100-10 and LeNet-5. Each side runs at 1 and 2 threads
# (libtorch also with OpenBLAS pinned to 1 thread, since its OpenMP and OpenBLAS pools fight on
# 2 cores), rounds alternating between the two; the best time of each is compared. ratio =
# twig / libtorch: below 1 means twig is faster.
# Usage: bench/run_libtorch.sh [BUILD_DIR] [DATA_DIR] [ROUNDS]   (BUILD_DIR gets the peer configured in)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
data=${2:-/usr/share/datasets/fashion-mnist}
rounds=${3:-2}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTWIG_BUILD_BENCHMARKS=ON -DTWIG_BENCH_LIBTORCH=ON > /dev/null
peer_target=$( [ -d /usr/lib/x86_64-linux-gnu/cmake/Torch ] && echo train_libtorch || true)
cmake --build "$build" -j2 --target bench_train $peer_target > /dev/null
best() { sort -n | head -1; }
printf '%-6s %-6s %12s %12s %8s\n' model task "twig s" "libtorch s" "ratio"
for model in mlp lenet; do
  for task in train infer prune; do
    tw=(); pt=()
    for r in $(seq "$rounds"); do
      for t in 1 2; do
        tw+=("$("$build/bench/bench_train" $task $model "$data" $t)")
        if [ -x "$build/bench/train_libtorch" ]; then
          pt+=("$("$build/bench/train_libtorch" $task $model "$data" $t)")
          pt+=("$(OPENBLAS_NUM_THREADS=1 "$build/bench/train_libtorch" $task $model "$data" $t)")
        fi
      done
    done
    t_best=$(printf '%s\n' "${tw[@]}" | best)
    if [ ${#pt[@]} -gt 0 ]; then
      p_best=$(printf '%s\n' "${pt[@]}" | best)
      printf '%-6s %-6s %12.4f %12.4f %8.2f\n' $model $task "$t_best" "$p_best" "$(echo "$t_best / $p_best" | bc -l)"
    else
      printf '%-6s %-6s %12.4f %12s %8s\n' $model $task "$t_best" "not built" "-"
    fi
  done
done
