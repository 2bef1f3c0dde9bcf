// Paged attention on the CPU for a flat batch that mixes prefill chunks and
// decode tokens. Each (query token, KV head) is one independent task: the
// result never depends on what else is in the batch or how a prompt was
// chunked, because every query walks its keys 0..pos in the same order.
// AVX-512 CPUs run attention_avx512.cpp, AVX2 CPUs attention_avx2.cpp,
// others (and head sizes those do not handle) the portable kernel here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "attention_internal.h"
#include "ops_kernels.h"
#include "ops_vec.h"
#include "ops_vec_math.h"
#include "quant_internal.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

inline float dot(const float* a, const float* b, int n) {
  // Eight partial sums in a fixed order: vectorizes, and stays deterministic.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  for (; i < n; ++i) acc[i & 7] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

inline void axpy(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

// x[j] = exp(x[j] - shift); returns the sum (fixed order: 8 partial sums).
inline float exp_shift_sum(float* x, int n, float shift) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      x[i + j] = exp_fast(x[i + j] - shift);
      acc[j] += x[i + j];
    }
  for (; i < n; ++i) {
    x[i] = exp_fast(x[i] - shift);
    acc[i & 7] += x[i];
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

using detail::HeadGroupTask;

// A cache row as floats: the row itself for F32, else converted into tmp.
inline const float* row_f32(const uint8_t* p, DType type, int n, float* tmp) {
  if (type == DType::kF32) return reinterpret_cast<const float*>(p);
  const auto* h = reinterpret_cast<const uint16_t*>(p);
  if (type == DType::kF16)
    for (int i = 0; i < n; ++i) tmp[i] = fp16_to_f32(h[i]);
  else
    for (int i = 0; i < n; ++i) tmp[i] = bf16_to_f32(h[i]);
  return tmp;
}

// The portable kernel: built per ISA as a whole, so the small loops inside
// inline and vectorize (a dispatched call per key would not).
// row: head_dim floats of scratch for cache rows stored in 16 bits.
__attribute__((target_clones("avx512f", "avx2", "default"))) void attend(const HeadGroupTask& t,
                                                                         float* scores,
                                                                         float* row) {
  const int hd = t.head_dim;
  detail::RowWalk keys(t, t.k_base), values(t, t.v_base);
  for (int j = 0; j < t.n_keys; ++j) {
    const float* key = row_f32(keys.next(), t.kv_type, hd, row);
    for (int h = 0; h < t.group; ++h)
      scores[size_t(h) * t.n_keys + j] = dot(t.q + h * hd, key, hd) * t.scale;
  }
  for (int h = 0; h < t.group; ++h) {
    float* sc = scores + size_t(h) * t.n_keys;
    float mx = sc[0];
    for (int j = 1; j < t.n_keys; ++j) mx = sc[j] > mx ? sc[j] : mx;
    const float inv = 1.0f / exp_shift_sum(sc, t.n_keys, mx);
    for (int j = 0; j < t.n_keys; ++j) sc[j] *= inv;
    for (int d = 0; d < hd; ++d) t.out[h * hd + d] = 0.0f;
  }
  for (int j = 0; j < t.n_keys; ++j) {
    const float* val = row_f32(values.next(), t.kv_type, hd, row);
    for (int h = 0; h < t.group; ++h)
      axpy(scores[size_t(h) * t.n_keys + j], val, t.out + h * hd, hd);
  }
}

struct SeqOfToken {
  int seq;
  int pos;  // absolute position of the query token
};

}  // namespace

void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta, KvLayer& cache) {
  const int64_t num_kv_heads = cache.k.dim(1), block_size = cache.k.dim(2),
                head_dim = cache.k.dim(3);
  TESSERA_CHECK(k.cols() == num_kv_heads * head_dim && v.cols() == k.cols());
  const DType type = cache.k.dtype();
  TESSERA_CHECK(type == DType::kF32 || type == DType::kF16 || type == DType::kBF16);
  const size_t elem = type == DType::kF32 ? 4 : 2;
  const int64_t num_slots = cache.k.dim(0) * block_size;
  // One cache row (head_dim elements) from floats, in the cache's type.
  const auto to_fp16 = detail::row_ops(detail::kernel_family()).to_fp16;
  auto store = [&](const float* src, uint8_t* dst) {
    auto* h = reinterpret_cast<uint16_t*>(dst);
    if (type == DType::kF32)
      std::memcpy(dst, src, size_t(head_dim) * sizeof(float));
    else if (type == DType::kF16)
      to_fp16(src, h, head_dim);
    else
      for (int64_t i = 0; i < head_dim; ++i) h[i] = f32_to_bf16(src[i]);
  };
  auto* kc = static_cast<uint8_t*>(cache.k.data());
  auto* vc = static_cast<uint8_t*>(cache.v.data());
  for (int64_t t = 0; t < k.rows(); ++t) {
    const int64_t slot = meta.slot_mapping[t];
    TESSERA_CHECK(slot >= 0 && slot < num_slots);
    const int64_t block = slot / block_size, offset = slot % block_size;
    const auto* kr = static_cast<const float*>(k.row_ptr(t));
    const auto* vr = static_cast<const float*>(v.row_ptr(t));
    for (int64_t h = 0; h < num_kv_heads; ++h) {
      const size_t dst = size_t((block * num_kv_heads + h) * block_size + offset) * head_dim * elem;
      store(kr + h * head_dim, kc + dst);
      store(vr + h * head_dim, vc + dst);
    }
  }
}

void paged_attention(const Tensor& q, const KvLayer& cache, const AttentionMeta& meta,
                     int num_heads, int num_kv_heads, float scale, Tensor& out) {
  const int block_size = static_cast<int>(cache.k.dim(2));
  const int head_dim = static_cast<int>(cache.k.dim(3));
  TESSERA_CHECK(cache.k.dim(1) == num_kv_heads && num_heads % num_kv_heads == 0);
  TESSERA_CHECK(q.cols() == int64_t(num_heads) * head_dim && out.cols() == q.cols());
  const int group = num_heads / num_kv_heads;
  const int T = meta.num_tokens;

  std::vector<SeqOfToken> token_seq(T);
  int max_ctx = 0;
  for (int s = 0; s < meta.num_seqs; ++s) {
    const int q0 = meta.query_start[s], q1 = meta.query_start[s + 1];
    const int ctx = meta.context_lens[s];
    TESSERA_CHECK(q0 <= q1 && q1 <= T && ctx >= q1 - q0);
    TESSERA_CHECK((ctx + block_size - 1) / block_size <= meta.max_blocks_per_seq);
    max_ctx = std::max(max_ctx, ctx);
    for (int i = q0; i < q1; ++i) token_seq[i] = {s, ctx - (q1 - i)};
  }

  const DType kv_type = cache.k.dtype();
  TESSERA_CHECK(kv_type == DType::kF32 || kv_type == DType::kF16 || kv_type == DType::kBF16);
  const int elem_bytes = kv_type == DType::kF32 ? 4 : 2;
  const auto* kbase = static_cast<const uint8_t*>(cache.k.data());
  const auto* vbase = static_cast<const uint8_t*>(cache.v.data());
  const size_t block_stride = size_t(num_kv_heads) * block_size * head_dim;
  const int family = detail::kernel_family();
  // Tasks are (token, kv head) pairs; each handles the `group` query heads
  // that share the KV head, so every key/value row is loaded once for them.
  parallel_for(int64_t(T) * num_kv_heads, 1, [&](int64_t b, int64_t e) {
    std::vector<float> scores(size_t(group) * std::max(max_ctx, 1));
    std::vector<float> row(static_cast<size_t>(head_dim));
    for (int64_t task = b; task < e; ++task) {
      const int t = int(task / num_kv_heads), g = int(task % num_kv_heads);
      const auto [s, pos] = token_seq[t];
      HeadGroupTask task_args;
      task_args.table = meta.block_tables + size_t(s) * meta.max_blocks_per_seq;
      task_args.q = static_cast<const float*>(q.row_ptr(t)) + size_t(g) * group * head_dim;
      task_args.out = static_cast<float*>(out.row_ptr(t)) + size_t(g) * group * head_dim;
      task_args.k_base = kbase + size_t(g) * block_size * head_dim * elem_bytes;
      task_args.v_base = vbase + size_t(g) * block_size * head_dim * elem_bytes;
      task_args.kv_type = kv_type;
      task_args.elem_bytes = elem_bytes;
      task_args.block_stride = block_stride;
      task_args.block_size = block_size;
      task_args.head_dim = head_dim;
      task_args.group = group;
      task_args.n_keys = pos + 1;
      task_args.scale = scale;
      const bool done = family >= 2   ? detail::attend_avx512(task_args, scores.data())
                        : family == 1 ? detail::attend_avx2(task_args, scores.data())
                                      : false;
      if (!done) attend(task_args, scores.data(), row.data());
    }
  });
}

}  // namespace tessera::cpu
