#include <cmath>
#include <numbers>

#include "ops_kernels.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {

std::vector<float> rope_inv_freq(const RopeParams& p) {
  const int half = p.rotary_dim / 2;
  std::vector<float> inv(half);
  for (int i = 0; i < half; ++i) {
    // transformers: 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
    const float exponent = float(2 * i) / float(p.rotary_dim);
    inv[i] = 1.0f / std::pow(p.theta, exponent);
  }
  if (p.scaling == RopeParams::Scaling::kLinear) {
    for (float& f : inv) f /= p.factor;
  } else if (p.scaling == RopeParams::Scaling::kLlama3) {
    const float low_wavelen = float(p.original_max_position) / p.low_freq_factor;
    const float high_wavelen = float(p.original_max_position) / p.high_freq_factor;
    for (float& f : inv) {
      const float wavelen = 2.0f * std::numbers::pi_v<float> / f;
      if (wavelen > low_wavelen) {
        f = f / p.factor;
      } else if (wavelen >= high_wavelen) {  // between the two: interpolate
        const float smooth = (float(p.original_max_position) / wavelen - p.low_freq_factor) /
                             (p.high_freq_factor - p.low_freq_factor);
        f = (1.0f - smooth) * f / p.factor + smooth * f;
      }
    }
  }
  return inv;
}

void rope(Tensor& q, Tensor& k, const Tensor& positions, const RopeParams& p) {
  TESSERA_CHECK(q.dtype() == DType::kF32 && k.dtype() == DType::kF32);
  TESSERA_CHECK(q.rows() == positions.numel() && k.rows() == positions.numel());
  TESSERA_CHECK(p.rotary_dim > 0 && p.rotary_dim <= p.head_dim && p.rotary_dim % 2 == 0);
  const std::vector<float> inv = rope_inv_freq(p);
  const int half = p.rotary_dim / 2;
  const int64_t q_heads = q.cols() / p.head_dim, k_heads = k.cols() / p.head_dim;
  const bool neox = p.style == RopeParams::Style::kNeox;
  parallel_for(positions.numel(), 4, [&](int64_t b, int64_t e) {
    std::vector<float> cos_t(half), sin_t(half);
    for (int64_t t = b; t < e; ++t) {
      const float pos = float(positions.data_as<int32_t>()[t]);
      for (int i = 0; i < half; ++i) {
        const float angle = pos * inv[i];
        cos_t[i] = std::cos(angle);
        sin_t[i] = std::sin(angle);
      }
      auto rotate = [&](float* head) {
        for (int i = 0; i < half; ++i) {
          // neox pairs dim i with i + half; interleaved pairs 2i with 2i + 1.
          float* a = neox ? head + i : head + 2 * i;
          float* c = neox ? head + i + half : head + 2 * i + 1;
          const float x0 = *a, x1 = *c;
          *a = x0 * cos_t[i] - x1 * sin_t[i];
          *c = x1 * cos_t[i] + x0 * sin_t[i];
        }
      };
      auto* qr = static_cast<float*>(q.row_ptr(t));
      for (int64_t h = 0; h < q_heads; ++h) rotate(qr + h * p.head_dim);
      auto* kr = static_cast<float*>(k.row_ptr(t));
      for (int64_t h = 0; h < k_heads; ++h) rotate(kr + h * p.head_dim);
    }
  });
}

}  // namespace tessera::cpu
