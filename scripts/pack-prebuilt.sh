#!/usr/bin/env bash
# Packs the binaries scripts/gpu-check.sh runs (built here for sm_90a, the
# default CUDA architecture of the build) with the shared libraries the GPU
# machine lacks, for `PREBUILT=DIR scripts/gpu-check.sh` there: saves the
# build's minutes of device time. test_backend and test_core come along: the GPU machine's
# host CPU is where the AVX-512 CPU kernels can be tested.
#
#   scripts/pack-prebuilt.sh [BUILD_DIR] [OUT.tar.xz]
#   # on the GPU machine:
#   mkdir -p /tmp/pb && tar xJf OUT.tar.xz -C /tmp/pb && PREBUILT=/tmp/pb scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-.prebuilt/tessera-prebuilt.tar.xz}
ninja -C "$build" tessera test_cuda test_reference test_engine test_backend test_core bench_cuda_kernels \
  >/dev/null
stage=$(mktemp -d)
mkdir -p "$stage/bin" "$stage/lib" "$(dirname "$out")"
for b in tessera tests/test_cuda tests/test_reference tests/test_engine tests/test_backend tests/test_core \
  bench/bench_cuda_kernels; do
  cp "$build/$b" "$stage/bin/"
done
# Everything the binaries link but the C/C++ runtime and CUDA's own libraries.
ldd "$stage"/bin/* | awk '/=>/ {print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+)\.so|/cuda/' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
git log -1 --format='%h %s' >"$stage/commit"
[ -z "$(git status --porcelain --untracked-files=no)" ] || echo "(uncommitted changes)" >>"$stage/commit"
tar cJf "$out" -C "$stage" .
echo "$out: $(du -h "$out" | cut -f1), $(head -1 "$stage/commit")"
rm -rf "$stage"
