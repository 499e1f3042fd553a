#!/bin/bash
# Does the tracer cost an untraced run anything? Builds bench/trace_overhead.cpp (LeNet-5 training
# steps, MLP forwards, a loop of tiny ops) at two commits with the same flags, counts the
# instructions of the measured region with callgrind (stable where wall time on a shared VM is
# not) and prints both counts and the difference.
#
#   bench/trace_overhead.sh [BASE [HEAD]]   # default: a26c438 (main before the tracer) and HEAD
#
# Each commit is exported (git archive) to build/trace_overhead/<commit>/ and built there
# (Release, ccache when installed); the base gets this bench's source and CMake target if it
# lacks them. Needs valgrind.
#
# Measured on the project VM (instructions of the measured region; a26c438 -> a6f77b6, the tracer
# with in-place recording): lenet 179378227 -> 179399949 (+0.012%), mlp 53666783 -> 53679289
# (+0.023%), small 68354558 -> 68739747 (+0.564%, about 30 instructions per op on 4-element
# tensors, where an op costs about 5000).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
base=${1:-a26c438}
head=${2:-HEAD}
work=$root/build/trace_overhead
mkdir -p "$work"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

build() {  # build REV -> prints the binary's path
  local sha dir
  sha=$(git -C "$root" rev-parse --short "$1")
  dir=$work/$sha
  if [ ! -x "$dir/build/bench/trace_overhead" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    git -C "$root" archive "$sha" | tar -x -C "$dir"
    if ! grep -q trace_overhead "$dir/bench/CMakeLists.txt"; then
      cp "$root/bench/trace_overhead.cpp" "$dir/bench/"
      printf '\nadd_executable(trace_overhead trace_overhead.cpp)\ntarget_link_libraries(trace_overhead PRIVATE twig::nn)\n' \
        >>"$dir/bench/CMakeLists.txt"
    fi
    cmake -S "$dir" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" -DTWIG_CUDA=OFF >"$dir/cmake.log"
    cmake --build "$dir/build" -j2 --target trace_overhead >"$dir/build.log"
  fi
  echo "$dir/build/bench/trace_overhead"
}

count() {  # count BINARY WORKLOAD -> instructions of the measured region
  local out=$work/callgrind.$$.out
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 valgrind --tool=callgrind --collect-atstart=no \
    --callgrind-out-file="$out" "$1" "$2" >/dev/null 2>&1
  # The dump named "measured" (CALLGRIND_DUMP_STATS_AT) holds the region; its "summary:" line.
  local n
  n=$(grep -h '^summary:' "$out"* | awk '{print $2}' | sort -n | tail -1)
  rm -f "$out"*
  echo "$n"
}

bin_base=$(build "$base")
bin_head=$(build "$head")
printf '%-6s %16s %16s %9s\n' workload "$(git -C "$root" rev-parse --short "$base")" \
  "$(git -C "$root" rev-parse --short "$head")" diff
for w in lenet mlp small; do
  a=$(count "$bin_base" "$w")
  b=$(count "$bin_head" "$w")
  awk -v w="$w" -v a="$a" -v b="$b" 'BEGIN { printf "%-6s %16d %16d %+8.3f%%\n", w, a, b, 100 * (b - a) / a }'
done
