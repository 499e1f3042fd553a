#!/usr/bin/env bash
# Every benchmark in one run, each side by side with its peer (ratios twig/peer: below 1 means twig
# is faster, except the kernel tables, which say their own):
#   1. the main job against libtorch 1.13: training epoch, inference, pruning (run_libtorch.sh);
#   2. torch.nn.utils.prune against PyTorch 1.13 (run_prune.sh);
#   3. state-dict save/load against torch.save/torch.load (run_serialize.sh);
#   4. gemm and elementwise kernels against raw cblas_sgemm and a plain loop.
# The PyTorch-side tables need Debian's python3-torch; the libtorch one needs libtorch-dev.
# Usage: bench/run_all.sh [BUILD_DIR] [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
data=${2:-/usr/share/datasets/fashion-mnist}
echo "# twig benchmarks, $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p') x $(nproc)"
echo; echo "## 1. main job vs libtorch 1.13 (best thread setting each)"
bench/run_libtorch.sh "$build" "$data"
if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  echo; echo "## 2. pruning vs torch.nn.utils.prune"
  bench/run_prune.sh "$build"
  echo; echo "## 3. serialization vs torch.save / torch.load"
  bench/run_serialize.sh "$build"
else
  echo; echo "## 2-3. skipped: python3-torch is not installed"
fi
echo; echo "## 4. kernels vs raw OpenBLAS / plain loops"
cmake --build "$build" -j2 --target bench_matmul bench_elementwise > /dev/null
printf '%-10s %-24s %7s %10s %10s %7s  %s\n' bench case threads "twig ms" "peer ms" ratio notes
for name in bench_matmul bench_elementwise; do
  "$build/bench/$name" --rows
done
