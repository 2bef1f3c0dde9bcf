#!/usr/bin/env bash
# Builds tessera for Hopper (sm_90a) on a machine with an NVIDIA GPU and checks
# it there, printing a short summary table last:
#   kernels  the CUDA kernel tests (compute-sanitizer memcheck/racecheck on them
#            when installed), the CPU kernel and thread-pool tests on this
#            machine's host CPU (AVX-512/AMX, many cores) and the kernel
#            benchmark;
#   model    a random-init Llama (GQA, llama3 rope) built in transformers on the
#            GPU (scripts/make_gpu_reference.py) against tessera on CUDA in bf16
#            and in fp16, through the ModelRunner under several schedules
#            (tests/reference/hf_reference_test.cpp); and the engine's outputs
#            with async scheduling against without it (tests/engine/async_scheduling_test.cpp);
#   greedy   the default model's greedy tokens on the GPU against the CPU path's,
#            each scored by the other device by teacher forcing (when the model
#            file is in the models folder);
#   bench    `tessera bench latency` and `bench throughput --grid` on the
#            Llama-3-8B shapes with dummy weights, and transformers' generate at
#            the same shapes (scripts/hf_generate_bench.py), side by side; the
#            latency and 128/128 again with --no-async-scheduling.
#
#   scripts/gpu-check.sh                    # on the GPU machine, from the repo root
#   scripts/gpu-check.sh --fetch-deps DIR   # here: download the Debian packages
#                                           # the build needs into DIR
#
# Environment: ONLY="kernels model greedy bench" (sections to run; default all),
# MODEL_DTYPES="bfloat16 float16" (the CUDA types the model section checks),
# BENCH_DTYPES="bf16 fp16" (the types the kernel benchmark times),
# SANITIZER=0 (skip compute-sanitizer), PREBUILT=DIR (binaries already built
# for sm_90a elsewhere: DIR/bin/{tessera,test_cuda,test_reference,test_engine,test_backend,
# test_core,bench_cuda_kernels}
# and the shared libraries they need in DIR/lib; skips configure and build),
# BENCH_PROMPTS (requests per grid point, scaled by length; default 256).
#
# The GPU machine has CUDA, cmake, ninja and python3 but not the C++ libraries
# tessera builds against (fmt, spdlog, GoogleTest, ...) and no network. When
# a folder .gpu-deps/ (or $TESSERA_GPU_DEPS) holds their .deb files, they are
# unpacked under /tmp/tessera-deps and the build is pointed there.
# Logs and results go to $OUT (default: ./gpu-check-out).
set -uo pipefail
cd "$(dirname "$0")/.."

deb_packages=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 libgtest-dev libgmock-dev
              nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0 libutf8proc-dev
              libutf8proc2 libxxhash-dev libxxhash0 libboost1.81-dev pkgconf pkgconf-bin
              libpkgconf3)

if [ "${1:-}" = "--fetch-deps" ]; then
  dir=${2:?usage: $0 --fetch-deps DIR}
  mkdir -p "$dir"
  (cd "$dir" && apt-get download "${deb_packages[@]}")
  exit $?
fi

OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
jobs=$(nproc)
summary=()
note() { summary+=("$1"); echo "== $1"; }

# ---- toolchain -----------------------------------------------------------
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
    --format=csv 2>&1
  nvcc --version | tail -2
  cmake --version | head -1
  g++ --version | head -1
  cat .gpu-commit 2>/dev/null || git log -1 --format='commit %H %s' 2>/dev/null || true
} 2>&1 | tee "$OUT/env.txt"
device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)

# ---- carried dependencies ---------------------------------------------------
deps_dir=${TESSERA_GPU_DEPS:-.gpu-deps}
cmake_extra=()
if compgen -G "$deps_dir/*.deb" >/dev/null; then
  prefix=/tmp/tessera-deps
  rm -rf "$prefix" && mkdir -p "$prefix"
  for f in "$deps_dir"/*.deb; do dpkg -x "$f" "$prefix"; done
  libdir=$prefix/usr/lib/x86_64-linux-gnu
  # The .pc files name /usr as their prefix.
  sed -i "s|^prefix=/usr\$|prefix=$prefix/usr|" "$libdir"/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc 2>/dev/null
  export PKG_CONFIG_PATH=$libdir/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  # Programs find these libraries through the build tree's RPATH; only the
  # carried pkgconf needs a library path of its own.
  cmake_extra+=(-DCMAKE_PREFIX_PATH="$prefix/usr")
  if ! command -v pkg-config >/dev/null; then
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$libdir" "$prefix/usr/bin/pkgconf" \
      >"$prefix/pkg-config"
    chmod +x "$prefix/pkg-config"
    cmake_extra+=(-DPKG_CONFIG_EXECUTABLE="$prefix/pkg-config")
  fi
  echo "using the Debian packages of $deps_dir (unpacked in $prefix)"
fi

# ---- configure and build ----------------------------------------------------
sections=${ONLY:-kernels model greedy bench}
want() { [[ " $sections " == *" $1 "* ]]; }
build=build-gpu
if [ -n "${PREBUILT:-}" ]; then
  # Wrappers that give the carried libraries to our programs only (not to
  # python3 and torch, which bring their own).
  prebuilt=$(cd "$PREBUILT" && pwd)
  mkdir -p /tmp/tessera-bin
  for b in tessera test_cuda test_reference test_engine test_backend test_core bench_cuda_kernels; do
    [ -e "$prebuilt/bin/$b" ] || continue
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s/bin/%s "$@"\n' \
      "$prebuilt" "$prebuilt" "$b" >/tmp/tessera-bin/$b
    chmod +x /tmp/tessera-bin/$b
  done
  bin_tessera=/tmp/tessera-bin/tessera bin_test_cuda=/tmp/tessera-bin/test_cuda
  bin_test_reference=/tmp/tessera-bin/test_reference bin_bench=/tmp/tessera-bin/bench_cuda_kernels
  bin_test_engine=/tmp/tessera-bin/test_engine bin_test_backend=/tmp/tessera-bin/test_backend
  note "build: prebuilt binaries from $PREBUILT ($(cat "$PREBUILT/commit" 2>/dev/null))"
else
bin_tessera=$build/tessera bin_test_cuda=$build/tests/test_cuda
bin_test_reference=$build/tests/test_reference bin_bench=$build/bench/bench_cuda_kernels
bin_test_engine=$build/tests/test_engine bin_test_backend=$build/tests/test_backend
targets=(test_cuda bench_cuda_kernels tessera test_reference test_engine test_backend test_core)
set -o pipefail
if ! cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a -DTESSERA_TESTS=ON -DTESSERA_BENCH=ON \
    -DTESSERA_CUDA_TESTS=ON -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "${cmake_extra[@]}" \
    >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  echo "gpu-check: configure FAILED (see $OUT/build.log)"
  exit 1
fi
# CMake's 90a must become -gencode arch=compute_90a,code=sm_90a (wgmma,
# setmaxnreg need the 'a' target).
if grep -q "arch=compute_90a,code=\[compute_90a,sm_90a\]" "$build/build.ninja"; then
  note "gencode: arch=compute_90a,code=[compute_90a,sm_90a]"
else
  note "gencode: sm_90a NOT found in build.ninja"
fi
start=$(date +%s)
if ! ninja -C "$build" -j"$jobs" "${targets[@]}" >>"$OUT/build.log" 2>&1; then
  grep -E "error|FAILED" "$OUT/build.log" | head -40
  # This machine's host compiler may warn where the development one does not:
  # say so, then build once more with warnings allowed, to still test.
  note "build: FAILED with -Werror (see build.log); retrying with warnings allowed"
  printf '#!/bin/sh\nexec "$@" -Wno-error\n' >/tmp/tessera-no-werror
  printf '#!/bin/sh\nexec "$@" -Xcompiler=-Wno-error\n' >/tmp/tessera-no-werror-cuda
  chmod +x /tmp/tessera-no-werror /tmp/tessera-no-werror-cuda
  cmake "$build" -DCMAKE_CXX_COMPILER_LAUNCHER=/tmp/tessera-no-werror \
    -DCMAKE_CUDA_COMPILER_LAUNCHER=/tmp/tessera-no-werror-cuda >>"$OUT/build.log" 2>&1
  if ! ninja -C "$build" -j"$jobs" "${targets[@]}" >>"$OUT/build.log" 2>&1; then
    grep -E "error|FAILED" "$OUT/build.log" | tail -40
    echo "gpu-check: build FAILED (see $OUT/build.log)"
    exit 1
  fi
fi
note "build: ok in $(( $(date +%s) - start )) s"
fi
if command -v cuobjdump >/dev/null && [ -z "${PREBUILT:-}" ]; then
  cuobjdump --list-elf "$build"/src/backend/libtessera_backend_cuda.a 2>/dev/null \
    | grep -o "sm_[0-9a-z]*" | sort | uniq -c | tee -a "$OUT/env.txt"
elif command -v cuobjdump >/dev/null; then
  cuobjdump --list-elf "$prebuilt/bin/test_cuda" 2>/dev/null | grep -o "sm_[0-9a-z]*" | sort | uniq -c \
    | tee -a "$OUT/env.txt"
fi

# ---- kernel tests ------------------------------------------------------------
if want kernels; then
start=$(date +%s)
"$bin_test_cuda" >"$OUT/test_cuda.log" 2>&1
rc=$?
grep -E "^\[  (FAILED|PASSED) " "$OUT/test_cuda.log" | sort -u | head -30
tests_line=$(grep -E "^\[==========\] [0-9]+ tests" "$OUT/test_cuda.log" | tail -1)
failed=$(grep -cE "^\[  FAILED  \] Cuda" "$OUT/test_cuda.log")
if [ $rc -eq 0 ]; then
  note "tests: all passed ($tests_line) in $(( $(date +%s) - start )) s"
else
  note "tests: FAILED (exit $rc, $failed failing) in $(( $(date +%s) - start )) s"
  grep -B3 -A12 "Failure\|exception" "$OUT/test_cuda.log" | head -120
fi

# The CPU kernel and thread-pool tests on this machine's host, whose
# AVX-512/AMX families and core count the development and CI machines lack.
for t in test_backend test_core; do
  bin=$(dirname "$bin_test_backend")/$t
  [ -x "$bin" ] || continue
  start=$(date +%s)
  timeout 300 "$bin" >"$OUT/$t.log" 2>&1
  rc=$?
  tests_line=$(grep -E "^\[==========\] [0-9]+ tests" "$OUT/$t.log" | tail -1)
  if [ $rc -eq 0 ]; then
    note "cpu $t (host CPU): all passed ($tests_line) in $(( $(date +%s) - start )) s"
  else
    note "cpu $t (host CPU): FAILED (exit $rc) in $(( $(date +%s) - start )) s"
    grep -B3 -A12 "Failure\|exception" "$OUT/$t.log" | head -80
  fi
done

# ---- benchmark ----------------------------------------------------------
# bf16 writes bench.json / bench.log (the names earlier runs used), fp16
# bench_fp16.json / bench_fp16.log.
for dt in ${BENCH_DTYPES:-bf16 fp16}; do
  suffix=$([ "$dt" = bf16 ] || echo "_$dt")
  start=$(date +%s)
  if "$bin_bench" --dtype "$dt" --json "$OUT/bench$suffix.json" >"$OUT/bench$suffix.log" 2>&1; then
    note "bench ($dt): ok in $(( $(date +%s) - start )) s"
  else
    note "bench ($dt): FAILED"
    tail -20 "$OUT/bench$suffix.log"
  fi
done

# ---- compute-sanitizer -----------------------------------------------------
# memcheck on the whole suite (less the test that asks for 4 TiB on purpose:
# the sanitizer reports that failed cudaMalloc as an error), then racecheck
# on the attention kernels (shared-memory hazards), at smaller sizes.
if [ "${SANITIZER:-1}" = 0 ]; then
  note "compute-sanitizer: skipped (SANITIZER=0)"
elif command -v compute-sanitizer >/dev/null; then
  start=$(date +%s)
  timeout "${SANITIZER_TIMEOUT:-300}" compute-sanitizer --tool memcheck --error-exitcode 9 \
    --print-limit 20 "$bin_test_cuda" --gtest_filter='-CudaBackend.OutOfMemoryIsAnError' \
    >"$OUT/sanitizer.log" 2>&1
  rc=$?
  errors=$(grep -m1 "ERROR SUMMARY" "$OUT/sanitizer.log")
  case $rc in
    0) note "memcheck: clean (${errors:-no summary}) in $(( $(date +%s) - start )) s" ;;
    124) note "memcheck: timed out after ${SANITIZER_TIMEOUT:-300} s (${errors:-no summary})" ;;
    *) note "memcheck: exit $rc (${errors:-no summary})"
       grep -m20 -A6 "Invalid\|ERROR" "$OUT/sanitizer.log" ;;
  esac
  start=$(date +%s)
  echo "==== racecheck" >>"$OUT/sanitizer.log"
  TESSERA_CUDA_TEST_QUICK=1 timeout 180 compute-sanitizer --tool racecheck --error-exitcode 9 \
    "$bin_test_cuda" --gtest_filter='CudaAttention.*' >>"$OUT/sanitizer.log" 2>&1
  rc=$?
  errors=$(grep "RACECHECK SUMMARY\|ERROR SUMMARY" "$OUT/sanitizer.log" | tail -1)
  note "racecheck (attention): exit $rc (${errors:-no summary}) in $(( $(date +%s) - start )) s"
else
  note "compute-sanitizer: not installed"
fi

# ---- profile (PROFILE=1): Nsight Compute on one launch of the main kernels ----
if [ "${PROFILE:-0}" = 1 ] && command -v ncu >/dev/null; then
  for what in "decode attention_kernelILi128ELi1ELi32ELi3ELb1E" \
              "prefill attention_kernelILi128ELi4ELi64ELi2ELb0E" "gemm gemv_kernelILi1E"; do
    set -- $what
    ncu --clock-control none --kernel-name-base mangled -k "regex:$2" \
      --launch-count 1 --section SpeedOfLight --section Occupancy --section LaunchStats \
      --section SchedulerStats --section WarpStateStats --section MemoryWorkloadAnalysis \
      --section ComputeWorkloadAnalysis --section InstructionStats \
      "$bin_bench" --quick --filter "$1" >>"$OUT/ncu.txt" 2>&1
  done
  note "profile: ncu.txt"
fi

fi  # kernels

# ---- model: transformers' logits on the same random-init Llama -------------------
if want model; then
  start=$(date +%s)
  ref=/tmp/tessera-hf-reference
  if PYTHONUNBUFFERED=1 timeout 300 python3 scripts/make_gpu_reference.py --out "$ref" >"$OUT/model.log" 2>&1; then
    # The CPU path on the same reference, at the same time (it is slow and
    # checks the reference and the harness, not the GPU).
    TESSERA_HF_REFERENCE=$ref TESSERA_TEST_DEVICE=cpu timeout 300 "$bin_test_reference" \
      --gtest_filter='HfReference.*' >"$OUT/model_cpu.log" 2>&1 &
    cpu_pid=$!
    grep -E "reference:|transformers (bf16|fp16)" "$OUT/model.log"
    for dt in ${MODEL_DTYPES:-bfloat16 float16}; do
      start=$(date +%s)
      log=$OUT/model_cuda_$dt.log
      TESSERA_HF_REFERENCE=$ref TESSERA_TEST_DEVICE=cuda TESSERA_TEST_DTYPE=$dt timeout 300 \
        "$bin_test_reference" --gtest_filter='HfReference.*' >"$log" 2>&1
      rc=$?
      grep -E "rows: rel L2|by position" "$log"
      if [ $rc -eq 0 ]; then
        note "model vs transformers (cuda $dt): passed in $(( $(date +%s) - start )) s"
      else
        note "model vs transformers (cuda $dt): FAILED (exit $rc)"
        grep -B2 -A8 "Failure" "$log" | head -60
      fi
    done
    wait $cpu_pid
    rc=$?
    grep -E "rows: rel L2|by position" "$OUT/model_cpu.log"
    note "model vs transformers (cpu, same reference): exit $rc"
  else
    tail -30 "$OUT/model.log"
    note "model vs transformers: reference script FAILED"
  fi
  # The host CPU here has AVX-512 (and AMX): chunked prefill must give the
  # CPU path's logits bit for bit, with every kernel family it has.
  start=$(date +%s)
  if timeout 300 python3 scripts/chunk_invariance_check.py "$bin_tessera" >"$OUT/chunks.txt" 2>&1; then
    note "cpu chunked prefill = whole prompt: passed in $(( $(date +%s) - start )) s"
  else
    note "cpu chunked prefill = whole prompt: FAILED"
    grep -v " 0 of " "$OUT/chunks.txt" | head -12
  fi
  start=$(date +%s)
  if TESSERA_TEST_DEVICE=cuda timeout 300 "$bin_test_engine" \
      --gtest_filter='AsyncScheduling.Device*' >"$OUT/async.log" 2>&1; then
    note "async scheduling = sync outputs (cuda): passed in $(( $(date +%s) - start )) s"
  else
    note "async scheduling = sync outputs (cuda): FAILED"
    grep -B2 -A12 "Failure" "$OUT/async.log" | head -60
  fi
fi

# ---- greedy: the default model on the GPU against the CPU path -----------------
if want greedy; then
  models=${TESSERA_MODELS:-$HOME/.cache/tessera/models}
  if [ -f "$models/SmolLM2-135M-Instruct.Q4_1.gguf" ]; then
    start=$(date +%s)
    # Each device's greedy tokens, scored by the other by teacher forcing:
    # where they differ, both must call it a near tie (scripts/greedy_cross_check.py).
    if python3 scripts/greedy_cross_check.py "$bin_tessera" --devices cpu cuda --tokens 32 \
        --out /tmp/tessera-greedy >"$OUT/greedy.txt" 2>&1; then
      cat "$OUT/greedy.txt"
      note "greedy smollm2 cuda vs cpu: $(tail -1 "$OUT/greedy.txt") ($(( $(date +%s) - start )) s)"
    else
      tail -20 "$OUT/greedy.txt"
      note "greedy smollm2 cuda vs cpu: FAILED"
    fi
  else
    note "greedy: skipped (no $models/SmolLM2-135M-Instruct.Q4_1.gguf)"
  fi
fi

# ---- bench: Llama-3-8B shapes, dummy weights; transformers beside ---------------
if want bench; then
  cfg=tests/data/configs/llama3-8b.json
  start=$(date +%s)
  if timeout 240 "$bin_tessera" bench latency --device cuda --load-format dummy -m $cfg \
      >"$OUT/latency.txt" 2>"$OUT/latency.log"; then
    note "bench latency: ok in $(( $(date +%s) - start )) s"
  else
    tail -20 "$OUT/latency.log"; note "bench latency: FAILED"
  fi
  # The same without CUDA graphs, and without async scheduling, for what they save.
  timeout 240 "$bin_tessera" bench latency --device cuda --load-format dummy -m $cfg --enforce-eager \
    >"$OUT/latency_eager.txt" 2>"$OUT/latency_eager.log" || note "bench latency --enforce-eager: FAILED"
  timeout 240 "$bin_tessera" bench latency --device cuda --load-format dummy -m $cfg \
    --no-async-scheduling >"$OUT/latency_sync.txt" 2>"$OUT/latency_sync.log" ||
    note "bench latency --no-async-scheduling: FAILED"
  timeout 240 "$bin_tessera" bench throughput --device cuda --load-format dummy -m $cfg \
    --num-prompts 256 --max-num-seqs 256 --max-num-batched-tokens 8192 --no-single \
    --no-async-scheduling >"$OUT/throughput_sync.txt" 2>"$OUT/throughput_sync.log" ||
    note "bench throughput --no-async-scheduling: FAILED"
  # fp16 activations and weights (--dtype float16): latency, and 128/128 throughput.
  timeout 240 "$bin_tessera" bench latency --device cuda --load-format dummy -m $cfg \
    --dtype float16 >"$OUT/latency_fp16.txt" 2>"$OUT/latency_fp16.log" \
    || note "bench latency --dtype float16: FAILED"
  timeout 240 "$bin_tessera" bench throughput --device cuda --load-format dummy -m $cfg \
    --dtype float16 --num-prompts "${BENCH_PROMPTS:-256}" --max-num-seqs 256 \
    --max-num-batched-tokens 8192 >"$OUT/throughput_fp16.txt" 2>"$OUT/throughput_fp16.log" \
    || note "bench throughput --dtype float16: FAILED"
  start=$(date +%s)
  if timeout 360 "$bin_tessera" bench throughput --device cuda --load-format dummy -m $cfg --grid \
      --num-prompts "${BENCH_PROMPTS:-256}" --max-num-seqs 256 --max-num-batched-tokens 8192 \
      >"$OUT/throughput.txt" 2>"$OUT/throughput.log"; then
    note "bench throughput --grid: ok in $(( $(date +%s) - start )) s"
  else
    tail -20 "$OUT/throughput.log"; note "bench throughput --grid: FAILED"
  fi
  start=$(date +%s)
  if PYTHONUNBUFFERED=1 timeout 300 python3 scripts/hf_generate_bench.py --config $cfg \
      --json "$OUT/hf_generate.json" >"$OUT/hf_generate.txt" 2>"$OUT/hf_generate.log"; then
    note "transformers generate: ok in $(( $(date +%s) - start )) s"
  else
    tail -20 "$OUT/hf_generate.log"; note "transformers generate: FAILED"
  fi
  commit=$( (awk '{print substr($2, 1, 9)}' .gpu-commit || git log -1 --format='%h') 2>/dev/null)
  {
    echo "## $(date -u +%F): ${device:-unknown GPU}, commit ${commit:-unknown}"
    echo
    echo "Llama-3-8B shapes (tests/data/configs/llama3-8b.json), bf16 (fp16 where marked), dummy weights; \`scripts/gpu-check.sh\`."
    echo
    echo '```'
    cat "$OUT/latency.txt" 2>/dev/null
    echo
    echo "--enforce-eager (no CUDA graphs):"
    grep -E "^\| (time to first|decode)" "$OUT/latency_eager.txt" 2>/dev/null
    echo
    echo "--no-async-scheduling (each step scheduled after the previous one's tokens are back):"
    grep -E "^\| (time to first|decode)" "$OUT/latency_sync.txt" 2>/dev/null
    grep -E "^\| [0-9]+ requests" "$OUT/throughput_sync.txt" 2>/dev/null
    echo "--dtype float16:"
    grep -E "^\| (time to first|decode)" "$OUT/latency_fp16.txt" 2>/dev/null
    grep -E "^\| [0-9]+ request" "$OUT/throughput_fp16.txt" 2>/dev/null
    echo
    cat "$OUT/throughput.txt" 2>/dev/null
    echo
    cat "$OUT/hf_generate.txt" 2>/dev/null
    echo '```'
  } >"$OUT/RESULTS-entry.md"
fi

# ---- summary (last) ----------------------------------------------------------
echo
echo "==================== gpu-check summary: ${device:-unknown GPU}, $(date -u +%F) ===================="
for line in "${summary[@]}"; do echo "  $line"; done
if want kernels; then
  for log in "$OUT"/bench.log "$OUT"/bench_fp16.log; do
    sed -n '/^ceilings:/,$p' "$log" 2>/dev/null | head -12
  done
fi
if want bench; then
  echo
  grep -E "^\| (time to first|decode)" "$OUT/latency.txt" 2>/dev/null | sed 's/^/  tessera latency /'
  grep -E "^\| decode" "$OUT/latency_eager.txt" 2>/dev/null | sed 's/^/  tessera latency, eager /'
  grep -E "^\| (time to first|decode)" "$OUT/latency_fp16.txt" 2>/dev/null \
    | sed 's/^/  tessera latency, fp16 /'
  grep -E "^\| [0-9]+ request" "$OUT/throughput_fp16.txt" 2>/dev/null | sed 's/^/  tessera fp16 /'
  grep -E "^\| decode" "$OUT/latency_sync.txt" 2>/dev/null | sed 's/^/  tessera latency, no async /'
  grep -E "^\| [0-9]+ requests" "$OUT/throughput_sync.txt" 2>/dev/null |
    sed 's/^/  tessera 128\/128, no async /'
  grep -E "^\| [0-9]+/[0-9]+" "$OUT/throughput.txt" 2>/dev/null | sed 's/^/  tessera /'
  grep -E "^\| (latency|throughput)" "$OUT/hf_generate.txt" 2>/dev/null | sed 's/^/  transformers /'
fi
