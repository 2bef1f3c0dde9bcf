#!/usr/bin/env bash
# Configures and builds tessera into build/ (Release, Ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
# The CUDA backend is built whenever the toolkit is installed, even without a
# GPU (its code then at least compiles); the binary still runs on the CPU.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build build
