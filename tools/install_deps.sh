#!/usr/bin/env bash
# Installs what twig needs from Debian's packages (run as root on Debian 12). Idempotent.
set -euo pipefail
# python3-numpy: the safetensors interop tests check twig's files against an independent NumPy reader.
packages=(cmake g++ make libopenblas-dev nlohmann-json3-dev libgtest-dev zlib1g-dev dataset-fashion-mnist python3-numpy clang-format)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
