#!/usr/bin/env bash
# Saving and loading a 256 MB state dict: twig (safetensors, mmap load, atomic fsync'd save) against
# torch.save / torch.load of PyTorch 1.13, in one run, alternating rounds; prints the best times and
# the ratios (twig time / torch time: below 1 means twig is faster).
# Usage: bench/run_serialize.sh [BUILD_DIR] [MB] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
mb=${2:-256}
rounds=${3:-3}
py=${PYTHON:-/usr/bin/python3}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTWIG_BUILD_TESTS=OFF -DTWIG_BUILD_EXAMPLES=OFF > /dev/null
else
  cmake -S . -B "$build" -DTWIG_BUILD_BENCHMARKS=ON > /dev/null
fi
cmake --build "$build" -j2 --target bench_serialize > /dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/twig_bench_ser.XXXXXX")
trap 'rm -rf "$dir"' EXIT
best() { sort -n | head -1; }
tw_save=(); tw_nosync=(); tw_load=(); tw_touch=(); pt_save=(); pt_load=()
for r in $(seq "$rounds"); do
  read -r s n l t < <("$build/bench/bench_serialize" "$dir" "$mb" 3)
  tw_save+=("$s"); tw_nosync+=("$n"); tw_load+=("$l"); tw_touch+=("$t")
  read -r s l < <("$py" bench/bench_serialize_torch.py "$dir" "$mb" 3)
  pt_save+=("$s"); pt_load+=("$l")
done
ts=$(printf '%s\n' "${tw_save[@]}" | best); tl=$(printf '%s\n' "${tw_load[@]}" | best)
tt=$(printf '%s\n' "${tw_touch[@]}" | best); tn=$(printf '%s\n' "${tw_nosync[@]}" | best)
ps=$(printf '%s\n' "${pt_save[@]}" | best); pl=$(printf '%s\n' "${pt_load[@]}" | best)
printf '%s MB state dict, best of %s rounds x 3\n' "$mb" "$rounds"
printf '%-28s %10s %10s %8s\n' "" "twig s" "torch s" "twig/torch"
printf '%-28s %10.4f %10.4f %8.2f\n' "save (twig: + fsync)" "$ts" "$ps" "$(echo "$ts / $ps" | bc -l)"
printf '%-28s %10.4f %10.4f %8.2f\n' "save (no fsync, as torch)" "$tn" "$ps" "$(echo "$tn / $ps" | bc -l)"
printf '%-28s %10.4f %10.4f %8.2f\n' "load (twig: mmap, lazy)" "$tl" "$pl" "$(echo "$tl / $pl" | bc -l)"
printf '%-28s %10.4f %10.4f %8.2f\n' "load + touch every page" "$tt" "$pl" "$(echo "$tt / $pl" | bc -l)"
