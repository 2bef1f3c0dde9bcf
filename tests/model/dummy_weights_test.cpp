// --load-format dummy: random weights for the shapes of a config.json,
// made tensor by tensor on demand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/model/model.h"
#include "tessera/model/weight_source.h"

namespace tessera {
namespace {

const std::string kTiny = std::string(TESSERA_SOURCE_DIR) + "/tests/data/configs/tiny-llama.json";
const std::string kLlama3 = std::string(TESSERA_SOURCE_DIR) + "/tests/data/configs/llama3-8b.json";

TEST(DummyWeights, ListsEveryTensorTheConfigImplies) {
  auto src = WeightSource::open_dummy(kLlama3);
  EXPECT_EQ(src->format(), WeightSource::Format::kDummy);
  EXPECT_TRUE(src->missing_tensors().empty());
  const ModelConfig& c = src->config();
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.num_layers, 32);
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLlama3);
  EXPECT_TRUE(src->has_tensor("output.weight"));  // untied
  uint64_t params = 0;
  for (const WeightInfo& w : src->tensors()) params += uint64_t(w.num_elements);
  // Llama-3-8B has 8.03 billion parameters.
  EXPECT_NEAR(double(params) / 1e9, 8.03, 0.01);
  const WeightInfo* q = src->find("blk.31.attn_k.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{1024, 4096}));
  EXPECT_EQ(q->type_name, "BF16");
}

TEST(DummyWeights, ValuesAreSmallCenteredAndDeterministicPerName) {
  auto src = WeightSource::open_dummy(kTiny);
  EXPECT_FALSE(src->has_tensor("output.weight"));  // tied in this config
  Tensor a = src->tensor("blk.0.ffn_gate.weight");
  Tensor b = src->tensor("blk.0.ffn_gate.weight");
  Tensor c = src->tensor("blk.0.ffn_up.weight");
  ASSERT_EQ(a.dtype(), DType::kBF16);
  ASSERT_EQ(a.shape(), (std::vector<int64_t>{160, 64}));
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0);
  EXPECT_NE(std::memcmp(a.data(), c.data(), a.nbytes()), 0);
  double sum = 0, sum2 = 0, most = 0;
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double v = bf16_to_f32(a.data_as<uint16_t>()[i]);
    sum += v;
    sum2 += v * v;
    most = std::max(most, std::abs(v));
  }
  const double mean = sum / double(n), sd = std::sqrt(sum2 / double(n) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(sd, 0.02, 0.001);
  EXPECT_LE(most, 0.02 * std::sqrt(3.0) + 1e-3);
  Tensor norm = src->tensor("blk.1.attn_norm.weight");
  for (int64_t i = 0; i < norm.numel(); ++i)
    EXPECT_EQ(bf16_to_f32(norm.data_as<uint16_t>()[i]), 1.0f);
}

TEST(DummyWeights, AcceptsAFolderAndRefusesWhatIsNotAConfig) {
  const std::string folder = std::string(TESSERA_SOURCE_DIR) + "/tests/data/configs";
  EXPECT_THROW(WeightSource::open_dummy(folder), Error);  // no config.json in it
  EXPECT_THROW(WeightSource::open_dummy(folder + "/missing.json"), Error);
  try {
    WeightSource::open_dummy(folder + "/missing.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
}

TEST(DummyWeights, LoadsAsAModel) {
  auto src = WeightSource::open_dummy(kTiny);
  auto backend = make_cpu_backend();
  auto model = Model::load(*src, *backend);
  EXPECT_EQ(model->config().num_layers, 2);
  EXPECT_GT(model->weight_bytes(), 0u);
}

}  // namespace
}  // namespace tessera
