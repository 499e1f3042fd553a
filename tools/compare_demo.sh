#!/usr/bin/env bash
# twig demo against the same recipe in PyTorch 1.13 (tools/demo_pytorch.py), over several seeds:
# prints, per row of the demo table, the mean and spread of test accuracy on each side. One seed
# says little: on this recipe the seed moves accuracy by a few tenths of a percent.
# Usage: tools/compare_demo.sh [BUILD_DIR] [SEEDS...]   (default build, seeds 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
[ $# -gt 0 ] || set -- 0 1 2
seeds=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for s in "${seeds[@]}"; do
  "$build/twig" demo --seed "$s" --out "$tmp/out$s" --json >> "$tmp/twig.jsonl" 2> /dev/null
done
/usr/bin/python3 tools/demo_pytorch.py --seeds "${seeds[@]}" > "$tmp/torch.jsonl"
/usr/bin/python3 - "$tmp/twig.jsonl" "$tmp/torch.jsonl" <<'PY'
import json, statistics, sys
def rows(path):
    runs = [json.loads(l)["runs"] for l in open(path) if l.strip()]
    return [[r["accuracy"] * 100 for r in col] for col in zip(*runs)], [r["method"] for r in runs[0]], len(runs)
tw, names, n = rows(sys.argv[1])
pt, _, _ = rows(sys.argv[2])
label = lambda i: names[i] + ("" if i == 0 or i == 4 else f" {[50, 80, 90][i - 1]}%")
print(f"{n} seeds; test accuracy %, mean (min-max)")
print(f"{'row':32s} {'twig':>22s} {'PyTorch 1.13':>22s}")
for i in range(len(names)):
    f = lambda v: f"{statistics.mean(v):6.2f} ({min(v):.2f}-{max(v):.2f})"
    print(f"{label(i):32s} {f(tw[i]):>22s} {f(pt[i]):>22s}")
PY
