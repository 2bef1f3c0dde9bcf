// matmul dispatch: picks the kernel family for this CPU, quantizes the
// activation rows once per call, and spreads register-tiled regions over the
// threads. Work splitting never changes results: every kernel computes each
// output element with the same operation sequence wherever it falls.
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "f32act_internal.h"
#include "quant_internal.h"
#include "quant_wide_packed.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

using namespace detail;

enum class Isa : int { kPortable = 0, kAvx2 = 1, kAvx512Vnni = 2, kAmx = 3 };
constexpr const char* kIsaNames[] = {"portable", "avx2", "avx512-vnni", "amx"};
constexpr int kIsaCount = 4;

// AMX-INT8 needs the CPU feature, the OS saving tile state (XCR0 bits 17-18)
// and, on Linux, a per-process permission to use it.
__attribute__((target("xsave"))) bool amx_available() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
  if (!tile || !int8) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) return false;  // OSXSAVE
  if (((_xgetbv(0) >> 17) & 3) != 3) return false;
  constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512Vnni:
      return cpu_supports(Isa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    case Isa::kAmx: {
      static const bool ok = cpu_supports(Isa::kAvx512Vnni) && amx_available();
      return ok;
    }
  }
  return false;
}

int isa_from_name(const std::string& name) {
  for (int i = 0; i < kIsaCount; ++i)
    if (name == kIsaNames[i]) return i;
  return -1;
}

Isa initial_isa() {
  if (const char* env = std::getenv("TESSERA_KERNELS"); env && *env) {
    const int i = isa_from_name(env);
    if (i >= 0 && cpu_supports(Isa(i))) return Isa(i);
  }
  for (Isa isa : {Isa::kAmx, Isa::kAvx512Vnni, Isa::kAvx2})
    if (cpu_supports(isa)) return isa;
  return Isa::kPortable;
}

std::atomic<int> g_isa{-1};

Isa current_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = int(initial_isa());
    g_isa.store(v, std::memory_order_relaxed);
  }
  return Isa(v);
}

// The best kernel at or below `isa` for this type.
KernelInfo kernel_for(Isa isa, DType type) {
  KernelInfo k;
  if (isa == Isa::kAmx) k = amx_kernel(type);
  if (!k.fn && isa >= Isa::kAvx512Vnni) k = avx512_kernel(type);
  if (!k.fn && isa >= Isa::kAvx2) k = avx2_kernel(type);
  if (!k.fn) k = portable_kernel(type);
  return k;
}

// The best wide-activation kernel at or below `isa` (no AVX2 ones).
KernelInfo wide_kernel_for(Isa isa, DType type) {
  KernelInfo k;
  if (isa == Isa::kAmx) k = amx_wide_kernel(type);
  if (!k.fn && isa >= Isa::kAvx512Vnni) k = avx512_wide_kernel(type);
  if (!k.fn) k = portable_wide_kernel(type);
  return k;
}

QuantizeRowsFn quantizer_for(Isa isa, ActFormat f) {
  const bool simd = isa >= Isa::kAvx2;
  if (f == ActFormat::kB32Wide) return simd ? quantize_b32_wide_avx2 : quantize_b32_wide_portable;
  if (f == ActFormat::kB32) return simd ? quantize_b32_avx2 : quantize_b32_portable;
  return simd ? quantize_b256_avx2 : quantize_b256_portable;
}

// A call on a prepared 32-block weight through the packed-weight VNNI
// kernel (same bits as the row-major ones). False when it does not apply.
bool packed_matmul(const Tensor& w, int64_t T, bool wide, const MatmulProblem& p) {
  const WidePackedRegion fn = wide_packed_region_avx512(w.dtype(), wide);
  const uint8_t* groups = fn ? f32act::prepared_groups(w) : nullptr;
  if (!groups) return false;
  const int64_t K = p.K, N = w.dim(0);
  thread_local std::vector<int8_t> perm;
  thread_local std::vector<WidePackedRow> rows;
  perm.resize(size_t(2 * T * K));
  rows.resize(size_t(T));
  const bool q4 = w.dtype() != DType::kQ8_0;
  // Rows are permuted in parallel: done serially it left the other threads
  // idle for a few percent of a prompt step. (The buffers are the calling
  // thread's: the workers get their addresses, not their own thread_locals.)
  int8_t* const perm_rows = perm.data();
  WidePackedRow* const row_list = rows.data();
  parallel_for(T, 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const ActB32Row r = ActB32Row::at(const_cast<uint8_t*>(p.act + t * p.act_stride), K, wide);
      int8_t* hi = perm_rows + 2 * t * K;
      if (q4) {
        permute_even_odd(r.qs, hi, K);
        if (wide) permute_even_odd(r.lo, hi + K, K);
      }
      row_list[t] = q4 ? WidePackedRow{hi, wide ? hi + K : nullptr, r.d, r.s, r.isum}
                       : WidePackedRow{r.qs, r.lo, r.d, r.s, r.isum};
    }
  });
  WidePackedProblem q;
  q.L = f32act::layout_for(w.dtype(), K);
  q.groups = groups;
  q.N = N;
  q.rows = rows.data();
  q.out = p.out;
  q.out_stride = p.out_stride;
  parallel_for((N + 15) / 16, 1, [&](int64_t g0, int64_t g1) { fn(q, 0, T, g0, g1); });
  return true;
}

// Per-thread scratch for quantized activations, 64-byte aligned.
uint8_t* act_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                    ~uintptr_t(63));
}

}  // namespace

void matmul(const float* x, int64_t T, int64_t x_stride, const Tensor& w, float* out,
            int64_t out_stride) {
  if (w.device() != Device::kCPU)
    fail(ErrorKind::kInvalidArgument, "cpu matmul: weight {} is not on the CPU", w.describe());
  if (w.ndim() != 2)
    fail(ErrorKind::kInvalidArgument, "cpu matmul: weight {} is not 2-D", w.describe());
  const int64_t N = w.dim(0), K = w.dim(1);
  if (T < 0 || x_stride < K || out_stride < N)
    fail(ErrorKind::kInvalidArgument,
         "cpu matmul: bad shapes T={} x_stride={} out_stride={} for weight {}", T, x_stride,
         out_stride, w.describe());
  if (T == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t t = 0; t < T; ++t) std::memset(out + t * out_stride, 0, size_t(N) * 4);
    return;
  }
  const DType type = w.dtype();
  const Isa isa = current_isa();
  const ActivationPrecision precision = activation_precision();
  const ActFormat f = act_format(type);
  const bool wide = f == ActFormat::kB32Wide;
  // Float activations take the float kernels (repacked weights); only the
  // 8-bit mode has float-weight kernels of its own.
  if (precision == ActivationPrecision::kFloat ||
      (precision == ActivationPrecision::kInt16 && f == ActFormat::kFloat))
    return detail::matmul_f32act(int(isa), x, T, x_stride, w, out, out_stride);
  const KernelInfo kernel = wide ? wide_kernel_for(isa, type) : kernel_for(isa, type);
  if (!kernel.fn)
    fail(ErrorKind::kUnsupported, "cpu matmul: no kernel for weight type {}", dtype_name(type));

  MatmulProblem p;
  p.w = static_cast<const uint8_t*>(w.data());
  p.w_stride = w.row_stride();
  p.K = K;
  p.out = out;
  p.out_stride = out_stride;
  if (f == ActFormat::kFloat) {
    p.act = reinterpret_cast<const uint8_t*>(x);
    p.act_stride = size_t(x_stride) * 4;
  } else {
    const size_t stride = pad64(act_row_bytes(f, K));
    uint8_t* buf = act_scratch(stride * size_t(T));
    const QuantizeRowsFn quantize = quantizer_for(isa, f);
    parallel_for(T, 16,
                 [&](int64_t t0, int64_t t1) { quantize(x, x_stride, t0, t1, K, buf, stride); });
    p.act = buf;
    p.act_stride = stride;
  }

  const bool large = kernel.large && T >= kernel.large_min_t;
  // Below AMX sizes, prepared 32-block weights run the packed kernel: it
  // streams the weights as they were packed at load, where the row-major and
  // batched kernels unpack or repack them on every call.
  if ((wide || f == ActFormat::kB32) && !large && isa >= Isa::kAvx512Vnni &&
      packed_matmul(w, T, wide, p))
    return;

  // Split over weight-row tiles; add splits over T only when there are too
  // few row tiles to keep every thread busy.
  RegionKernel fn = kernel.fn;
  int64_t nt = kernel.nt, mt = kernel.mt;
  // Batched kernels repack weights per region: keep their T chunks long.
  if (large) {
    fn = kernel.large;
    nt = kernel.large_nt;
    mt = std::max<int64_t>(kernel.large_min_t, 64);
    if (kernel.pack_tile) {  // pack the activation tiles once, not per region
      const size_t bytes = kernel.tile_bytes(K);
      const int64_t tiles = (T + 15) / 16;
      thread_local std::vector<uint8_t> tile_buf;
      if (tile_buf.size() < bytes * size_t(tiles) + 64) tile_buf.resize(bytes * size_t(tiles) + 64);
      uint8_t* base = reinterpret_cast<uint8_t*>(
          (reinterpret_cast<uintptr_t>(tile_buf.data()) + 63) & ~uintptr_t(63));
      parallel_for(tiles, 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i)
          kernel.pack_tile(p, 16 * i, int(std::min<int64_t>(16, T - 16 * i)), base + i * bytes);
      });
      p.tiles = base;
    }
  } else if (kernel.batched && T >= kernel.batched_min_t) {
    fn = kernel.batched;
    nt = kernel.batched_nt;
    mt = std::max<int64_t>(kernel.batched_min_t, 64);
  }
  const int threads = num_threads();
  const int64_t n_tiles = (N + nt - 1) / nt;
  const int64_t target = int64_t(threads) * 4;
  int64_t t_chunk = T;
  if (n_tiles < target && T > mt) {
    const int64_t t_splits = std::min<int64_t>((T + mt - 1) / mt, (target + n_tiles - 1) / n_tiles);
    t_chunk = ((T + t_splits - 1) / t_splits + mt - 1) / mt * mt;
  }
  if (t_chunk >= T) {
    parallel_for(N, nt, [&](int64_t n0, int64_t n1) { fn(p, 0, T, n0, n1); });
    return;
  }
  const int64_t t_items = (T + t_chunk - 1) / t_chunk;
  parallel_for(n_tiles * t_items, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n0 = (i / t_items) * nt, t0 = (i % t_items) * t_chunk;
      fn(p, t0, std::min(T, t0 + t_chunk), n0, std::min(N, n0 + nt));
    }
  });
}

std::string kernel_isa() { return kIsaNames[int(current_isa())]; }

int detail::kernel_family() { return int(current_isa()); }

bool set_kernel_isa(const std::string& isa) {
  const int i = isa_from_name(isa);
  if (i < 0 || !cpu_supports(Isa(i))) return false;
  g_isa.store(i, std::memory_order_relaxed);
  return true;
}

std::vector<std::string> supported_kernel_isas() {
  std::vector<std::string> out;
  for (int i = 0; i < kIsaCount; ++i)
    if (cpu_supports(Isa(i))) out.push_back(kIsaNames[i]);
  return out;
}

}  // namespace tessera::cpu
