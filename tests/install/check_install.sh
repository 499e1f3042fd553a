#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, checks that only <prefix>/include (holding
# twig/) goes on a user's include path, then configures, builds and runs a consumer project that
# uses find_package(twig) and sets no C++ standard of its own.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)/consumer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" > /dev/null
if [[ "$(ls "$work/prefix/include")" != "twig" ]]; then
  echo "install: <prefix>/include holds more than twig/: $(ls "$work/prefix/include" | tr '\n' ' ')"
  exit 1
fi
if grep -q 'include/twig' "$work"/prefix/lib*/cmake/twig/twigTargets.cmake; then
  echo "install: the exported targets put <prefix>/include/twig on the include path"
  exit 1
fi
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$work/build" -j2 > /dev/null
cd "$work" && "$work/build/consumer"
