#!/usr/bin/env bash
# The pruning benchmark: twig's prune against PyTorch 1.13's torch.nn.utils.prune (the system
# /usr/bin/python3), the same cases side by side in one run. Both sides run at 1 and 2 threads,
# alternating over several rounds (the machine is shared); the best time of each case is compared.
# Usage: bench/run_prune.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
rounds=${2:-3}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTWIG_BUILD_TESTS=OFF -DTWIG_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$build" -j2 --target bench_prune > /dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in $(seq "$rounds"); do
  for t in 1 2; do
    "$build/bench/bench_prune" $t >> "$tmp/twig"
    /usr/bin/python3 bench/peer/bench_prune_torch.py $t >> "$tmp/torch"
  done
done
/usr/bin/python3 - "$tmp/twig" "$tmp/torch" <<'PY'
import sys
def load(p):
    best = {}
    for line in open(p):
        k, v = line.split()
        best[k] = min(best.get(k, float("inf")), float(v))
    return best
tw, pt = load(sys.argv[1]), load(sys.argv[2])
print(f"{'case':32s} {'twig ms':>10s} {'torch ms':>10s} {'ratio':>7s}   (twig/torch, best of rounds x {{1,2}} threads)")
for k in tw:
    print(f"{k:32s} {tw[k]*1e3:10.3f} {pt[k]*1e3:10.3f} {tw[k]/pt[k]:7.3f}")
PY
