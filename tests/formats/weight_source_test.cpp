// WeightSource over the tiny fixture model as GGUF, as an HF folder and as a
// sharded HF folder: the same config, the same canonical names, and the same
// values (HF Q/K rows in HF order, GGUF's permuted per head as llama.cpp's
// converter does).
#include "tessera/model/weight_source.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/formats/gguf.h"
#include "test_util.h"

namespace tessera {
namespace {

using testing::fixture;

std::vector<float> to_floats(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype()) {
      case DType::kF32:
        out[i] = t.data_as<float>()[i];
        break;
      case DType::kF16:
        out[i] = fp16_to_f32(t.data_as<uint16_t>()[i]);
        break;
      default:
        ADD_FAILURE() << "unexpected dtype " << dtype_name(t.dtype());
    }
  }
  return out;
}

// Row r of the GGUF (permuted) matrix is row `hf_row(r)` of the HF one:
// within a head, GGUF row 2i + j holds HF row j * head_dim / 2 + i.
int64_t hf_row(int64_t gguf_row, int head_dim) {
  const int64_t head = gguf_row / head_dim, r = gguf_row % head_dim;
  return head * head_dim + (r % 2) * (head_dim / 2) + r / 2;
}

std::vector<std::string> names(const WeightSource& s) {
  std::vector<std::string> out;
  for (const WeightInfo& w : s.tensors()) out.push_back(w.name);
  std::sort(out.begin(), out.end());
  return out;
}

void expect_same_model(const WeightSource& gguf_src, const WeightSource& hf_src) {
  const ModelConfig &a = gguf_src.config(), &b = hf_src.config();
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.max_position, b.max_position);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.rope.theta, b.rope.theta);
  EXPECT_EQ(a.rope.scaling, b.rope.scaling);
  EXPECT_EQ(a.rope.factor, b.rope.factor);
  EXPECT_EQ(a.rope.style, RopeParams::Style::kInterleaved);
  EXPECT_EQ(b.rope.style, RopeParams::Style::kNeox);
  ASSERT_EQ(names(gguf_src), names(hf_src));
  EXPECT_TRUE(hf_src.missing_tensors().empty());

  for (const WeightInfo& info : gguf_src.tensors()) {
    Tensor g = gguf_src.tensor(info.name), h = hf_src.tensor(info.name);
    ASSERT_EQ(g.shape(), h.shape()) << info.name;
    const std::vector<float> gv = to_floats(g), hv = to_floats(h);
    const bool is_q = info.name.ends_with("attn_q.weight");
    const bool is_k = info.name.ends_with("attn_k.weight");
    const int64_t cols = g.cols();
    int mismatches = 0;
    for (int64_t r = 0; r < g.rows(); ++r) {
      const int64_t hr = (is_q || is_k) ? hf_row(r, a.head_dim) : r;
      for (int64_t c = 0; c < cols; ++c)
        mismatches += gv[size_t(r * cols + c)] != hv[size_t(hr * cols + c)];
    }
    EXPECT_EQ(mismatches, 0) << info.name;
  }
}

TEST(WeightSource, HfFolderMatchesGguf) {
  auto gguf_src = WeightSource::open(fixture("tiny_llama.gguf"));
  auto hf_src = WeightSource::open(fixture("tiny_llama_hf"));
  EXPECT_EQ(gguf_src->format(), WeightSource::Format::kGguf);
  EXPECT_EQ(hf_src->format(), WeightSource::Format::kHfFolder);
  EXPECT_NE(gguf_src->gguf_file(), nullptr);
  EXPECT_EQ(hf_src->gguf_file(), nullptr);
  EXPECT_TRUE(gguf_src->hf_folder().empty());
  EXPECT_EQ(hf_src->hf_folder(), fixture("tiny_llama_hf"));
  expect_same_model(*gguf_src, *hf_src);
  // HF names are kept alongside the canonical ones.
  const WeightInfo* q = hf_src->find("blk.1.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->stored_name, "model.layers.1.self_attn.q_proj.weight");
  EXPECT_EQ(q->type_name, "F32");
  EXPECT_EQ(gguf_src->find("blk.1.ffn_up.weight")->type_name, "F16");
}

TEST(WeightSource, ShardedHfFolderMatchesGguf) {
  auto gguf_src = WeightSource::open(fixture("tiny_llama.gguf"));
  auto hf_src = WeightSource::open(fixture("tiny_llama_hf_sharded"));
  expect_same_model(*gguf_src, *hf_src);
  uint64_t shard_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(fixture("tiny_llama_hf_sharded")))
    if (e.path().extension() == ".safetensors") shard_bytes += e.file_size();
  EXPECT_EQ(hf_src->file_bytes(), shard_bytes);
}

TEST(WeightSource, HfValuesMatchTheirSource) {
  // make_tiny_llama.py recorded each HF-layout tensor's sum and first value.
  const auto ref = testing::read_json(fixture("tiny_llama.json"));
  auto hf_src = WeightSource::open(fixture("tiny_llama_hf"));
  for (const auto& [hf_name, want] : ref["tensors"].items()) {
    const WeightInfo* info = nullptr;
    for (const WeightInfo& w : hf_src->tensors())
      if (w.stored_name == hf_name) info = &w;
    ASSERT_NE(info, nullptr) << hf_name;
    const std::vector<float> v = to_floats(hf_src->tensor(info->name));
    double sum = 0;
    for (float x : v) sum += x;
    EXPECT_NEAR(sum, want["sum"].get<double>(), 1e-9) << hf_name;
    EXPECT_EQ(v[0], want["first"].get<float>()) << hf_name;
  }
}

std::string open_error(const std::string& model, ErrorKind kind) {
  try {
    WeightSource::open(model);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  return "";
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(WeightSource, NotFoundErrorsSayWhereTheyLooked) {
  std::string msg = open_error("no-such-model", ErrorKind::kNotFound);
  EXPECT_NE(msg.find("unknown model 'no-such-model' (known names: smollm2-135m"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("scripts/fetch-model.sh"), std::string::npos) << msg;
  msg = open_error("/no/such/model.gguf", ErrorKind::kNotFound);
  EXPECT_NE(msg.find("no such model file or folder: /no/such/model.gguf"), std::string::npos);

  testing::TempDir empty;
  {
    ScopedEnv env("TESSERA_MODELS", empty.path());
    EXPECT_EQ(WeightSource::models_dir(), empty.path());
    msg = open_error("smollm2-135m", ErrorKind::kNotFound);
    EXPECT_NE(msg.find("looked for " + empty.path() + "/SmolLM2-135M-Instruct.Q4_1.gguf"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("scripts/fetch-model.sh smollm2-135m"), std::string::npos) << msg;
  }
  msg = open_error(empty.path(), ErrorKind::kNotFound);
  EXPECT_NE(msg.find("no config.json"), std::string::npos) << msg;
  std::filesystem::copy_file(fixture("tiny_llama_hf/config.json"), empty.file("config.json"));
  msg = open_error(empty.path(), ErrorKind::kNotFound);
  EXPECT_NE(msg.find("neither model.safetensors nor"), std::string::npos) << msg;
}

TEST(WeightSource, BadFiles) {
  EXPECT_NE(open_error(fixture(""), ErrorKind::kNotFound).find("no config.json"),
            std::string::npos);
  EXPECT_NE(open_error(fixture("all_types_v3.json"), ErrorKind::kInvalidArgument)
                .find("give the HF model folder"),
            std::string::npos);
  EXPECT_NE(open_error(fixture("make_tiny_llama.py"), ErrorKind::kBadFile).find("not a GGUF file"),
            std::string::npos);
  // A folder whose config disagrees with its weights.
  testing::TempDir dir;
  std::filesystem::copy_file(fixture("tiny_llama_hf/model.safetensors"),
                             dir.file("model.safetensors"));
  auto bytes = testing::read_bytes(fixture("tiny_llama_hf/config.json"));
  std::string config(bytes.begin(), bytes.end());
  const size_t at = config.find("\"vocab_size\": 64");
  ASSERT_NE(at, std::string::npos);
  config.replace(at, 16, "\"vocab_size\": 65");
  testing::write_bytes(dir.file("config.json"), std::vector<uint8_t>(config.begin(), config.end()));
  EXPECT_NE(open_error(dir.path(), ErrorKind::kBadFile)
                .find("token_embd.weight has 64 rows but vocab_size is 65"),
            std::string::npos);

  auto src = WeightSource::open(fixture("tiny_llama_hf"));
  try {
    src->tensor("blk.7.attn_q.weight");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
    EXPECT_NE(
        std::string(e.what()).find(
            "no tensor 'blk.7.attn_q.weight' (HF name model.layers.7.self_attn.q_proj.weight)"),
        std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(src->has_tensor("blk.7.attn_q.weight"));
  auto gsrc = WeightSource::open(fixture("tiny_llama.gguf"));
  EXPECT_THROW(gsrc->tensor("blk.7.attn_q.weight"), Error);
}

TEST(WeightSource, DefaultModelByShortName) {
  if (testing::default_model_path().empty()) GTEST_SKIP() << "default model not fetched";
  auto src = WeightSource::open("smollm2-135m");
  EXPECT_EQ(src->path(), testing::default_model_path());
  EXPECT_TRUE(src->config().tie_word_embeddings);
  EXPECT_FALSE(src->has_tensor("output.weight"));
  EXPECT_TRUE(src->missing_tensors().empty());
  EXPECT_EQ(src->tensors().size(), 272u);
  EXPECT_EQ(src->tensor("blk.0.attn_q.weight").dtype(), DType::kQ4_1);
  ASSERT_NE(src->gguf_file(), nullptr);
  EXPECT_EQ(src->gguf_file()->get_string_array("tokenizer.ggml.tokens").size(), 49152u);
}

}  // namespace
}  // namespace tessera
