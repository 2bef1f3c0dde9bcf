#!/usr/bin/env bash
# Fuzzes the model-file parsers with libFuzzer (clang, ASan + UBSan) for a
# bounded time. Builds in build-fuzz/, seeds the corpus from the small valid
# files in tests/data/formats, exits non-zero when the fuzzer finds a crash
# (the input that caused it is left in build-fuzz/artifacts/TARGET/).
#   scripts/fuzz.sh [SECONDS] [TARGET]    defaults: 60, gguf_fuzz
#   TARGET: gguf_fuzz | safetensors_fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
target="${2:-gguf_fuzz}"
jobs="${FUZZ_BUILD_JOBS:-2}"

case "$target" in
  gguf_fuzz)
    seeds=(tests/data/formats/*.gguf)
    dict=fuzz/gguf.dict
    ;;
  safetensors_fuzz)
    seeds=(tests/data/formats/*.safetensors tests/data/formats/tiny_llama_hf*/*.safetensors)
    dict=fuzz/safetensors.dict
    ;;
  *)
    echo "error: unknown fuzz target '$target' (gguf_fuzz, safetensors_fuzz)" >&2
    exit 2
    ;;
esac

if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTESSERA_FUZZ=ON -DTESSERA_TESTS=OFF -DTESSERA_BENCH=OFF -DTESSERA_CUDA=OFF >/dev/null
fi
ninja -C build-fuzz -j "$jobs" "$target"

corpus="build-fuzz/corpus/$target"
artifacts="build-fuzz/artifacts/$target/"
mkdir -p "$corpus" "$artifacts"
for seed in "${seeds[@]}"; do
  cp -n "$seed" "$corpus/seed-$(basename "$(dirname "$seed")")-$(basename "$seed")" 2>/dev/null || true
done

echo "fuzzing $target for ${seconds}s (corpus $corpus)"
# -rss_limit_mb catches inputs that make the parser allocate too much.
"./build-fuzz/$target" "$corpus" -dict="$dict" -max_total_time="$seconds" \
  -artifact_prefix="$artifacts" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
  -max_len=131072 -print_final_stats=1
