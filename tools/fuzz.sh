#!/usr/bin/env bash
# Builds the safetensors / module-file fuzz target with clang's libFuzzer under ASan + UBSan and
# runs it for SECONDS (default 600) on a seed corpus of valid and malformed files.
#   tools/fuzz.sh [SECONDS] [JOBS]
# The build goes to build-fuzz/ (object files are kept, so a second run only relinks); findings go
# to build-fuzz/crashes/. Prints libFuzzer's final stats; the exit status is libFuzzer's.
set -euo pipefail
SECONDS_TO_RUN=${1:-600}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
CXX=${CXX_FUZZ:-clang++}
command -v "$CXX" >/dev/null || { echo "clang++ not found (apt-get install -y clang)"; exit 2; }
mkdir -p "$OUT/obj" "$OUT/corpus" "$OUT/crashes" "$OUT/include"
# twig's headers are included as "twig/..." (as CMake's build/include/twig does, a link to the root).
ln -sfn "$ROOT" "$OUT/include/twig"
FLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -DTWIG_NO_ALLOC_CACHE -I"$OUT/include" -I"$ROOT" -I/usr/include/x86_64-linux-gnu/openblas-pthread)
SOURCES=$(ls "$ROOT"/tensor/*.cpp "$ROOT"/tensor/cpu/*.cpp "$ROOT"/autograd/*.cpp "$ROOT"/autograd/ops/*.cpp \
             "$ROOT"/nn/*.cpp "$ROOT"/serialize/*.cpp "$ROOT"/tests/models/common_pruning.cpp)
OBJS=()
TODO=()
for src in $SOURCES; do
  obj="$OUT/obj/$(echo "${src#$ROOT/}" | tr / _).o"
  OBJS+=("$obj")
  # Rebuilt when the source is newer; serialize/ and the test models also when a serialize/ header is.
  stale_header=""
  if [[ -f "$obj" && ( "$src" == "$ROOT"/serialize/* || "$src" == "$ROOT"/tests/models/* ) ]]; then
    stale_header=$(find "$ROOT/serialize" -name '*.h' -newer "$obj")
  fi
  if [[ ! -f "$obj" || "$src" -nt "$obj" || -n "$stale_header" ]]; then
    TODO+=("$src" "$obj")
  fi
done
printf '%s\n' "${TODO[@]}" | xargs -r -P "${FUZZ_BUILD_JOBS:-2}" -n 2 sh -c "$CXX ${FLAGS[*]} -fsanitize=fuzzer-no-link -I$ROOT/tests -c \"\$0\" -o \"\$1\""
"$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "$ROOT/tests/fuzz/fuzz_safetensors.cpp" "${OBJS[@]}" \
  -lopenblas -lz -lpthread -o "$OUT/fuzz_safetensors"
# Seeds: valid state dicts and module files, written by the seed generator below.
"$CXX" "${FLAGS[@]}" "$ROOT/tests/fuzz/make_seeds.cpp" "${OBJS[@]}" -I"$ROOT/tests" -lopenblas -lz -lpthread \
  -o "$OUT/make_seeds"
"$OUT/make_seeds" "$OUT/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$OUT/crashes"
set +e
"$OUT/fuzz_safetensors" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -rss_limit_mb=2048 \
  -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 -dict="$ROOT/tests/fuzz/safetensors.dict" \
  -artifact_prefix="$OUT/crashes/" 2>&1 | tee "$OUT/fuzz.log" | grep -v -E "^#[0-9]+\s+(NEW|REDUCE|pulse)" 
status=${PIPESTATUS[0]}
echo "fuzz.sh: libFuzzer exit status $status; findings in $OUT/crashes: $(ls "$OUT/crashes" | wc -l)"
exit $status
