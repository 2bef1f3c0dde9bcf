// The float-activation matmul (default CPU precision): the precision
// switch, prepared (repacked) weights, and the dispatch that spreads packed
// 16-row groups and token ranges over the threads. Work splitting never
// changes results: each output element runs the canonical operation order
// of f32act_internal.h wherever it falls.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "f32act_internal.h"
#include "quant_internal.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

using namespace detail::f32act;

// ---- precision switch ----

ActivationPrecision initial_precision() {
  if (const char* env = std::getenv("TESSERA_CPU_ACTIVATIONS"); env && *env) {
    const std::string v = env;
    if (v == "f32") return ActivationPrecision::kFloat;
    if (v == "int8") return ActivationPrecision::kInt8;
    if (v == "int16") return ActivationPrecision::kInt16;
  }
  return default_activation_precision();
}

std::atomic<int> g_precision{-1};

// ---- prepared weights ----

// Owner of a prepared weight Tensor: keeps the source bytes alive and holds
// the packed copy, made on first use (so weights never multiplied, like an
// untied embedding table, cost no memory).
struct PreparedWeight {
  std::shared_ptr<void> source_owner;
  const void* data = nullptr;
  DType type = DType::kF32;
  int64_t N = 0, K = 0;
  Layout L;
  std::once_flag once;
  std::unique_ptr<PackedBuffer> packed;

  const uint8_t* groups() {
    std::call_once(once, [this] {
      const int64_t G = (N + kGroupRows - 1) / kGroupRows;
      auto mem = std::make_unique<PackedBuffer>(L.group_bytes * size_t(G));
      uint8_t* buf = mem->data();
      const auto* w = static_cast<const uint8_t*>(data);
      const size_t stride = row_bytes(type, K);
      parallel_for(G, 8, [&](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; ++g) pack_group(L, w, stride, N, g, buf + g * L.group_bytes);
      });
      packed = std::move(mem);
    });
    return packed->data();
  }
};

// The deleter's type marks a Tensor owner as a PreparedWeight
// (std::get_deleter), so no registry is needed.
struct PreparedDeleter {
  void operator()(void* p) const { delete static_cast<PreparedWeight*>(p); }
};

PreparedWeight* prepared_of(const Tensor& w) {
  if (!w.owner() || !std::get_deleter<PreparedDeleter>(w.owner())) return nullptr;
  auto* pw = static_cast<PreparedWeight*>(w.owner().get());
  // A row slice or a reshaped view of a prepared tensor is not the packed
  // matrix: those are packed per call like any other weight.
  if (pw->data != w.data() || pw->type != w.dtype() || w.ndim() != 2 || pw->N != w.dim(0) ||
      pw->K != w.dim(1) || !w.contiguous())
    return nullptr;
  return pw;
}

uint8_t* pack_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                    ~uintptr_t(63));
}

// Per-call activation scratch (block sums, token tiles) of the calling
// thread; the worker threads only read it.
struct Scratch {
  std::vector<float> sx, tiles;
};
Scratch& call_scratch() {
  static thread_local Scratch s;
  return s;
}

}  // namespace

ActivationPrecision default_activation_precision() {
  // Families 2 (AVX-512 VNNI) and 3 (AMX) have the fast 16-bit kernels.
  return detail::kernel_family() >= 2 ? ActivationPrecision::kInt16 : ActivationPrecision::kFloat;
}

ActivationPrecision activation_precision() {
  int v = g_precision.load(std::memory_order_relaxed);
  if (v < 0) {
    v = int(initial_precision());
    g_precision.store(v, std::memory_order_relaxed);
  }
  return ActivationPrecision(v);
}

void set_activation_precision(ActivationPrecision p) {
  g_precision.store(int(p), std::memory_order_relaxed);
}

Tensor prepare_weight(const Tensor& w) {
  if (w.device() != Device::kCPU || w.ndim() != 2 || !w.contiguous() || w.numel() == 0 ||
      prepared_of(w))
    return w;
  const Layout L = layout_for(w.dtype(), w.dim(1));
  if (L.unit_k == 0) return w;
  auto pw = std::make_unique<PreparedWeight>();
  pw->source_owner = w.owner();
  pw->data = w.data();
  pw->type = w.dtype();
  pw->N = w.dim(0);
  pw->K = w.dim(1);
  pw->L = L;
  void* data = w.data();
  // On failure the shared_ptr constructor itself deletes through the deleter.
  std::shared_ptr<void> owner(pw.release(), PreparedDeleter{});
  return Tensor(data, w.dtype(), w.shape(), Device::kCPU, std::move(owner));
}

bool is_prepared(const Tensor& w) { return prepared_of(w) != nullptr; }

const uint8_t* detail::f32act::prepared_groups(const Tensor& w) {
  PreparedWeight* pw = prepared_of(w);
  return pw ? pw->groups() : nullptr;
}

namespace detail {

namespace {

// Tokens per pass: bounds the token-tile scratch (a copy of x) for long
// prompts. Passes are independent matmuls over their rows, which batch
// invariance makes invisible in the results.
constexpr int64_t kTokensPerPass = 512;

void matmul_pass(int isa, const float* x, int64_t T, int64_t x_stride, const Tensor& w, float* out,
                 int64_t out_stride);

}  // namespace

// isa: 0 portable, 1 AVX2, 2 and up AVX-512 (the dispatcher's family).
void matmul_f32act(int isa, const float* x, int64_t T, int64_t x_stride, const Tensor& w,
                   float* out, int64_t out_stride) {
  for (int64_t t = 0; t < T; t += kTokensPerPass)
    matmul_pass(isa, x + t * x_stride, std::min(kTokensPerPass, T - t), x_stride, w,
                out + t * out_stride, out_stride);
}

namespace {

void matmul_pass(int isa, const float* x, int64_t T, int64_t x_stride, const Tensor& w, float* out,
                 int64_t out_stride) {
  const DType type = w.dtype();
  const int64_t N = w.dim(0), K = w.dim(1);
  const Layout L = layout_for(type, K);
  if (L.unit_k == 0)
    fail(ErrorKind::kUnsupported, "cpu matmul: no float-activation kernel for weight {}",
         w.describe());
  Kernels kernels;
  if (isa >= 2) kernels = avx512_kernels(type);
  if (!kernels.region && isa >= 1) kernels = avx2_kernels(type);
  if (!kernels.region) kernels = portable_kernels(type);
  const f32act::RegionKernel fn = kernels.region;

  f32act::Problem p;
  p.L = L;
  p.N = N;
  p.x = x;
  p.x_stride = x_stride;
  p.out = out;
  p.out_stride = out_stride;
  Scratch& scratch = call_scratch();
  const bool sums = needs_block_sums(type);
  if (kernels.tile > 0 && T >= kMinTileTokens) {
    // Token tiles (with their block sums) for every region.
    const int S = kernels.tile;
    const int64_t n_tiles = (T + S - 1) / S;
    p.tile = S;
    p.tile_stride = tile_floats(K, S);
    scratch.tiles.resize(size_t(n_tiles) * p.tile_stride + 16);
    float* tiles = reinterpret_cast<float*>(
        (reinterpret_cast<uintptr_t>(scratch.tiles.data()) + 63) & ~uintptr_t(63));
    parallel_for(n_tiles, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        kernels.fill_tile(x, x_stride, i * S, int(std::min<int64_t>(S, T - i * S)), K, S, sums,
                          tiles + size_t(i) * p.tile_stride);
    });
    p.tiles = tiles;
  } else if (sums) {
    const int64_t nb = K / 32;
    scratch.sx.resize(size_t(T * nb));
    float* sx = scratch.sx.data();
    parallel_for(T, 64, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) kernels.block_sums(x + t * x_stride, K, sx + t * nb);
    });
    p.sx = sx;
    p.sx_stride = nb;
  }

  const int64_t G = (N + kGroupRows - 1) / kGroupRows;
  PreparedWeight* pw = prepared_of(w);
  const uint8_t* packed = pw ? pw->groups() : nullptr;
  const auto* wbytes = static_cast<const uint8_t*>(w.data());
  const size_t w_stride = w.row_stride();
  // Unprepared weights: each group is packed into scratch right before use.
  auto region = [&](int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
    if (packed) {
      f32act::Problem q = p;
      q.groups = packed;
      fn(q, g0, g1, t0, t1);
      return;
    }
    uint8_t* buf = pack_scratch(L.group_bytes);
    for (int64_t g = g0; g < g1; ++g) {
      pack_group(L, wbytes, w_stride, N, g, buf);
      f32act::Problem q = p;
      q.groups = buf;
      q.g_base = g;
      fn(q, g, g + 1, t0, t1);
    }
  };

  // Split over groups; add splits over T only when there are too few groups
  // to keep every thread busy.
  const int threads = num_threads();
  constexpr int64_t kTokenTile = 16;  // a multiple of every kernel family's tile
  int64_t t_chunk = T;
  if (G < int64_t(threads) * 4 && T > kTokenTile) {
    const int64_t t_splits =
        std::min<int64_t>((T + kTokenTile - 1) / kTokenTile, (int64_t(threads) * 4 + G - 1) / G);
    t_chunk = ((T + t_splits - 1) / t_splits + kTokenTile - 1) / kTokenTile * kTokenTile;
  }
  if (t_chunk >= T) {
    parallel_for(G, 1, [&](int64_t g0, int64_t g1) { region(g0, g1, 0, T); });
    return;
  }
  const int64_t t_items = (T + t_chunk - 1) / t_chunk;
  parallel_for(G * t_items, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t g = i / t_items, t0 = (i % t_items) * t_chunk;
      region(g, g + 1, t0, std::min(T, t0 + t_chunk));
    }
  });
}

}  // namespace
}  // namespace detail
}  // namespace tessera::cpu
