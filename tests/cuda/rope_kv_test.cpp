// Rotary embedding (neox and interleaved; no, linear and llama3 scaling;
// partial rotary dims) on q/k column views of one qkv buffer, the paged
// KV-cache write, and the fused rope_write_kv; bf16 and fp16 activations
// and caches. The reference rotates in float64 with the CPU path's inverse
// frequencies (cpu::rope_inv_freq).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "cpu/ops_kernels.h"
#include "cuda_test_util.h"

namespace tessera::cuda_test {
namespace {

struct RopeCase {
  int tokens, q_heads, kv_heads, head_dim, rotary_dim;
  RopeParams::Style style;
  RopeParams::Scaling scaling;
  int extra_cols;  // > 0: rows not 16-byte aligned (scalar kernels)
};

RopeParams params_of(const RopeCase& c) {
  RopeParams p;
  p.head_dim = c.head_dim;
  p.rotary_dim = c.rotary_dim;
  p.theta = 500000.0f;
  p.style = c.style;
  p.scaling = c.scaling;
  p.factor = c.scaling == RopeParams::Scaling::kLinear ? 4.0f : 8.0f;
  p.low_freq_factor = 1.0f;
  p.high_freq_factor = 4.0f;
  p.original_max_position = 8192;
  return p;
}

// Rotates one head (D values at h) in double.
void rotate_ref(const float* h, double* out, const RopeParams& p, const std::vector<float>& inv,
                int pos) {
  const int half = p.rotary_dim / 2;
  for (int d = 0; d < p.head_dim; ++d) out[d] = h[d];
  for (int i = 0; i < half; ++i) {
    const double angle = double(float(pos) * inv[i]);  // the product is taken in float32
    const double cs = std::cos(angle), sn = std::sin(angle);
    const bool neox = p.style == RopeParams::Style::kNeox;
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    out[a] = h[a] * cs - h[b] * sn;
    out[b] = h[b] * cs + h[a] * sn;
  }
}

enum class Mode { kRope, kWrite, kFused };

void run_case(const RopeCase& c, Mode mode, DType dt) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "T=" << c.tokens << " Hq=" << c.q_heads
                                  << " Hkv=" << c.kv_heads << " D=" << c.head_dim
                                  << " rot=" << c.rotary_dim << " style=" << int(c.style)
                                  << " scaling=" << int(c.scaling) << " extra=" << c.extra_cols
                                  << " mode=" << int(mode) << " seed " << seed);
  std::mt19937 rng(seed);
  const int D = c.head_dim, qd = c.q_heads * D, kd = c.kv_heads * D;
  const int width = qd + 2 * kd + c.extra_cols;
  const auto qkv_h = random_values(size_t(c.tokens) * width, rng, dt, 2.0f);
  Tensor qkv = upload(qkv_h, {c.tokens, width}, dt);
  Tensor q = qkv.slice_cols(0, qd), k = qkv.slice_cols(qd, qd + kd);
  Tensor v = qkv.slice_cols(qd + kd, qd + 2 * kd);

  std::vector<int32_t> pos(c.tokens);
  for (auto& x : pos) x = int32_t(rng() % 20000);
  Tensor d_pos = upload_i32(pos);

  const int block_size = 16, num_blocks = (c.tokens + block_size - 1) / block_size + 3;
  std::vector<int32_t> slots(size_t(num_blocks) * block_size);
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), rng);
  slots.resize(c.tokens);
  if (c.tokens > 2) slots[1] = -1;  // a padding token: not written
  Tensor d_slots = upload_i32(slots);
  KvCacheShape shape;
  shape.num_layers = 1;
  shape.num_blocks = num_blocks;
  shape.block_size = block_size;
  shape.num_kv_heads = c.kv_heads;
  shape.head_dim = D;
  shape.dtype = dt;
  std::vector<KvLayer> cache = backend().alloc_kv_cache(shape);
  poison(cache[0].k);
  poison(cache[0].v);
  AttentionMeta meta;
  meta.num_tokens = c.tokens;
  meta.slot_mapping = d_slots.data_as<int32_t>();
  meta.positions = d_pos.data_as<int32_t>();

  const RopeParams p = params_of(c);
  if (mode == Mode::kRope) backend().rope(q, k, d_pos, p);
  if (mode == Mode::kWrite) backend().write_kv(k, v, meta, cache[0]);
  if (mode == Mode::kFused) backend().rope_write_kv(q, k, v, d_pos, p, meta, cache[0]);
  sync_and_check();

  // Expected activations after the op.
  const bool rotated = mode != Mode::kWrite;
  const std::vector<float> inv = cpu::rope_inv_freq(p);
  std::vector<double> want(qkv_h.begin(), qkv_h.end());
  if (rotated) {
    for (int t = 0; t < c.tokens; ++t)
      for (int h = 0; h < c.q_heads + c.kv_heads; ++h) {
        const size_t off = size_t(t) * width + size_t(h) * D;
        rotate_ref(&qkv_h[off], &want[off], p, inv, pos[t]);
      }
  }
  const auto got = download(qkv);
  EXPECT_EQ(count_nonfinite(got), 0u);
  EXPECT_LE(rel_l2(got, want), tol(dt, 1e-2));
  for (int t = 0; t < c.tokens; ++t)  // v and the extra columns are never touched
    for (int j = qd + kd; j < width; ++j)
      ASSERT_EQ(got[size_t(t) * width + j], qkv_h[size_t(t) * width + j]);

  if (mode == Mode::kRope) return;
  // Cache rows at the slots hold k (as rotated on the device) and v exactly;
  // every other slot still holds the poison.
  const auto kc = download(cache[0].k), vc = download(cache[0].v);
  std::vector<int> token_of_slot(size_t(num_blocks) * block_size, -1);
  for (int t = 0; t < c.tokens; ++t)
    if (slots[t] >= 0) token_of_slot[slots[t]] = t;
  for (int s = 0; s < num_blocks * block_size; ++s) {
    const int blk = s / block_size, off = s % block_size, t = token_of_slot[s];
    for (int h = 0; h < c.kv_heads; ++h)
      for (int d = 0; d < D; ++d) {
        const size_t ci = ((size_t(blk) * c.kv_heads + h) * block_size + off) * D + d;
        if (t < 0) {
          ASSERT_TRUE(std::isnan(kc[ci]) && std::isnan(vc[ci])) << "slot " << s << " written";
        } else {
          const size_t row = size_t(t) * width;
          ASSERT_EQ(kc[ci], got[row + qd + size_t(h) * D + d]) << "k slot " << s;
          ASSERT_EQ(vc[ci], qkv_h[row + qd + kd + size_t(h) * D + d]) << "v slot " << s;
        }
      }
  }
}

const std::vector<RopeCase>& cases() {
  using S = RopeParams::Style;
  using K = RopeParams::Scaling;
  static const std::vector<RopeCase> all = {
      {7, 9, 3, 64, 64, S::kNeox, K::kNone, 0},
      {33, 32, 8, 128, 128, S::kNeox, K::kLlama3, 0},
      {5, 8, 8, 128, 128, S::kInterleaved, K::kLinear, 0},
      {19, 12, 4, 64, 32, S::kNeox, K::kNone, 0},
      {4, 6, 2, 128, 64, S::kInterleaved, K::kLlama3, 0},
      {6, 4, 2, 72, 72, S::kNeox, K::kNone, 0},    // half = 36: scalar path
      {9, 6, 2, 64, 64, S::kNeox, K::kLlama3, 1},  // misaligned rows
      {9, 6, 2, 64, 48, S::kInterleaved, K::kNone, 1},
      {300, 32, 8, 128, 128, S::kNeox, K::kLlama3, 0},
  };
  return all;
}

class CudaRopeKv : public testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(, CudaRopeKv, kElemTypes, elem_name);

TEST_P(CudaRopeKv, Rope) {
  for (const auto& c : cases()) run_case(c, Mode::kRope, GetParam());
}
TEST_P(CudaRopeKv, WriteKv) {
  for (const auto& c : cases()) run_case(c, Mode::kWrite, GetParam());
}
TEST_P(CudaRopeKv, FusedRopeWriteKv) {
  for (const auto& c : cases()) run_case(c, Mode::kFused, GetParam());
}

}  // namespace
}  // namespace tessera::cuda_test
