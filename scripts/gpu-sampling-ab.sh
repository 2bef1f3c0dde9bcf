#!/usr/bin/env bash
# Device sampling on a GPU machine, in one call: builds (through
# scripts/gpu-check.sh, no sections), runs the sampler's kernel tests, then
# `bench throughput` at 128/128 and `bench latency` on the Llama-3-8B dummy
# config with sampling on the device and on the host
# (TESSERA_DEVICE_SAMPLING=0), printing what each figure was.
#   scripts/gpu-sampling-ab.sh            # from the repository root
# Environment: OUT (logs; default ./gpu-check-out), PREBUILT (as gpu-check.sh),
# SECTIONS (gpu-check.sh sections to run first, e.g. "model greedy"; default none),
# MODES (TESSERA_DEVICE_SAMPLING values to bench; default "1 0").
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
ONLY="${SECTIONS:-none}" OUT="$OUT" scripts/gpu-check.sh >"$OUT/ab-build.txt" 2>&1 || { tail -30 "$OUT/ab-build.txt"; exit 1; }
sed -n '/gpu-check summary/,$p' "$OUT/ab-build.txt"
if [ -n "${PREBUILT:-}" ]; then bin=/tmp/tessera-bin; else bin=build-gpu; fi
tessera=$bin/tessera
test_cuda=$bin/test_cuda
[ -x "$test_cuda" ] || test_cuda=build-gpu/tests/test_cuda
"$test_cuda" --gtest_filter='CudaSampling.*' >"$OUT/ab-tests.log" 2>&1
echo "sampling tests: exit $? ($(grep -E '^\[  (PASSED|FAILED)' "$OUT/ab-tests.log" | tr '\n' ' '))"
grep -B2 -A8 "Failure" "$OUT/ab-tests.log" | head -60
cfg=tests/data/configs/llama3-8b.json
for mode in ${MODES:-1 0}; do
  TESSERA_STEP_TIMING=1 TESSERA_DEVICE_SAMPLING=$mode timeout 200 "$tessera" bench throughput --device cuda \
    --load-format dummy -m $cfg --input-len 128 --output-len 128 --num-prompts 256 --no-single \
    --max-num-seqs 256 --max-num-batched-tokens 8192 >"$OUT/ab-tp-$mode.txt" 2>"$OUT/ab-tp-$mode.log"
  echo "device sampling=$mode throughput (exit $?):"
  grep -E "^\| [0-9]+ requests" "$OUT/ab-tp-$mode.txt"
  grep -h "step timing" "$OUT/ab-tp-$mode.log"
  TESSERA_DEVICE_SAMPLING=$mode timeout 150 "$tessera" bench latency --device cuda \
    --load-format dummy -m $cfg >"$OUT/ab-lat-$mode.txt" 2>"$OUT/ab-lat-$mode.log"
  echo "device sampling=$mode latency (exit $?):"
  grep -E "^\| (time to first|decode)" "$OUT/ab-lat-$mode.txt"
done
