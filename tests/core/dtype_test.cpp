#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tessera/core/dtype.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/tensor.h"

namespace tessera {

TEST(DType, RowBytesFollowBlockLayouts) {
  EXPECT_EQ(row_bytes(DType::kF32, 10), 40u);
  EXPECT_EQ(row_bytes(DType::kQ4_1, 64), 40u);
  EXPECT_EQ(row_bytes(DType::kQ6_K, 512), 420u);
  EXPECT_THROW(row_bytes(DType::kQ8_0, 33), Error);
}

TEST(DType, GgmlIdsRoundTrip) {
  for (auto t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ8_0,
                 DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    auto back = dtype_from_ggml(static_cast<uint32_t>(dtype_info(t).ggml_type));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(dtype_from_ggml(999).has_value());
}

TEST(Half, Fp16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_fp16(f), h) << h;
  }
}

TEST(Half, Fp16RoundsToNearestEven) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-70000.f, 70000.f);
  for (int i = 0; i < 100000; ++i) {
    const float f = dist(rng) * (i % 7 == 0 ? 1e-6f : 1.0f);
    const uint16_t h = f32_to_fp16(f);
    const float back = fp16_to_f32(h);
    if (std::isinf(back)) continue;
    // No other half is closer.
    for (int d : {-1, 1}) {
      const float other = fp16_to_f32(static_cast<uint16_t>(h + d));
      if (std::isnan(other) || std::signbit(other) != std::signbit(back)) continue;
      EXPECT_LE(std::fabs(back - f), std::fabs(other - f)) << f;
    }
  }
}

TEST(Half, Bf16) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);  // tie rounds to even
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);
}

TEST(Tensor, SliceAndReshape) {
  Tensor t = Tensor::empty(DType::kF32, {4, 8});
  for (int i = 0; i < 32; ++i) t.data_as<float>()[i] = static_cast<float>(i);
  Tensor rows = t.slice_rows(1, 3);
  EXPECT_EQ(rows.dim(0), 2);
  EXPECT_EQ(static_cast<float*>(rows.row_ptr(1))[0], 16.0f);
  Tensor r = t.reshape({2, 2, 8});
  EXPECT_EQ(r.rows(), 4);
  EXPECT_EQ(r.describe(), "F32[2, 2, 8]");
}

}  // namespace tessera

namespace tessera {

TEST(Tensor, SliceColsKeepsRowStride) {
  Tensor t = Tensor::empty(DType::kF32, {3, 10});
  for (int i = 0; i < 30; ++i) t.data_as<float>()[i] = static_cast<float>(i);
  Tensor c = t.slice_cols(4, 7);
  EXPECT_EQ(c.cols(), 3);
  EXPECT_FALSE(c.contiguous());
  EXPECT_EQ(static_cast<float*>(c.row_ptr(2))[0], 24.0f);
  EXPECT_EQ(c.row_stride(), 40u);
}

}  // namespace tessera
