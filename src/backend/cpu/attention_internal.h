// Internals of the CPU paged attention: one task is one query token against
// its sequence's keys 0..n_keys-1 for the `group` query heads that share one
// KV head. Every query runs the same operations in the same order whatever
// else is in the batch, so results never depend on batching or chunking.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "tessera/core/dtype.h"

namespace tessera::cpu::detail {

struct HeadGroupTask {
  const float* q;         // group * head_dim
  float* out;             // group * head_dim
  const int32_t* table;   // the sequence's block table
  const uint8_t* k_base;  // K cache of this layer, offset to this KV head
  const uint8_t* v_base;
  DType kv_type;        // F32, F16 or BF16
  int elem_bytes;       // of kv_type
  size_t block_stride;  // elements between blocks
  int block_size, head_dim, group, n_keys;
  float scale;
};

// Walks one cache's rows for keys 0, 1, 2, ... in order: a table lookup per
// block, no division per key (the block size is a run-time value). Blocks
// lie anywhere in the pool, so the hardware prefetchers lose the stream at
// every block boundary; each row fetched also prefetches the same row of the
// block kAhead blocks on, which keeps memory requests in flight (decode
// attention over scattered blocks is bound by memory latency otherwise:
// bench_attention_cpu, cache in memory).
class RowWalk {
 public:
  RowWalk(const HeadGroupTask& t, const uint8_t* base)
      : t_(t),
        base_(base),
        block_bytes_(t.block_stride * size_t(t.elem_bytes)),
        row_bytes_(size_t(t.head_dim) * size_t(t.elem_bytes)),
        n_blocks_((t.n_keys + t.block_size - 1) / t.block_size) {}
  const uint8_t* next() {
    if (in_ == t_.block_size || !block_) {
      block_ = base_ + size_t(t_.table[blk_++]) * block_bytes_;
      const int ahead = blk_ - 1 + kAhead;
      ahead_ = ahead < n_blocks_ ? base_ + size_t(t_.table[ahead]) * block_bytes_ : nullptr;
      in_ = 0;
    }
    const size_t offset = size_t(in_++) * row_bytes_;
    if (ahead_)
      for (size_t b = 0; b < row_bytes_; b += 64) __builtin_prefetch(ahead_ + offset + b);
    return block_ + offset;
  }
  // Prefetches the rows of the first blocks, which next() does not.
  void prefetch_start() const {
    for (int blk = 0; blk < std::min(kAhead, n_blocks_); ++blk) {
      const uint8_t* p = base_ + size_t(t_.table[blk]) * block_bytes_;
      const size_t n =
          size_t(std::min(t_.block_size, t_.n_keys - blk * t_.block_size)) * row_bytes_;
      for (size_t b = 0; b < n; b += 64) __builtin_prefetch(p + b);
    }
  }

 private:
  static constexpr int kAhead = 2;  // blocks prefetched ahead of the walk
  const HeadGroupTask& t_;
  const uint8_t* base_;
  size_t block_bytes_, row_bytes_;
  int n_blocks_;
  const uint8_t* block_ = nullptr;
  const uint8_t* ahead_ = nullptr;
  int blk_ = 0, in_ = 0;
};

// The SIMD kernels' dispatch: f(type, C) with type an integral_constant of
// the task's cache type and C one of head_dim / kLanes for head_dim in
// kDims. False (the portable kernel runs) for other head sizes and types,
// groups over 64 heads or no keys.
template <int kLanes, int... kDims, class F>
bool dispatch_task(const HeadGroupTask& t, F&& f) {
  if (t.group > 64 || t.n_keys <= 0) return false;
  auto by_dim = [&](auto type) {
    return (
        (t.head_dim == kDims && (f(type, std::integral_constant<int, kDims / kLanes>{}), true)) ||
        ...);
  };
  switch (t.kv_type) {
    case DType::kF32:
      return by_dim(std::integral_constant<DType, DType::kF32>{});
    case DType::kF16:
      return by_dim(std::integral_constant<DType, DType::kF16>{});
    case DType::kBF16:
      return by_dim(std::integral_constant<DType, DType::kBF16>{});
    default:
      return false;
  }
}

// AVX-512 kernel for head_dim 64 or 128 (false: not handled, use the
// portable one). scores: group * n_keys floats of scratch.
bool attend_avx512(const HeadGroupTask& t, float* scores);
// AVX2 kernel for head_dim 32, 64 or 128, likewise.
bool attend_avx2(const HeadGroupTask& t, float* scores);

}  // namespace tessera::cpu::detail
