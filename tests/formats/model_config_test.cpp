// ModelConfig from GGUF metadata and HF config.json: the tiny fixture model
// (whose true config make_tiny_llama.py records), the default model (facts
// from gguf-py), and hand-written configs for each option and error.
#include "tessera/model/model_config.h"

#include <gtest/gtest.h>

#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"
#include "test_util.h"

namespace tessera {
namespace {

using testing::fixture;

void expect_tiny_config(const ModelConfig& c) {
  const auto want = testing::read_json(fixture("tiny_llama.json"));
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.name, "Tiny Llama");
  EXPECT_EQ(c.vocab_size, want["vocab_size"].get<int64_t>());
  EXPECT_EQ(c.hidden_size, want["hidden_size"].get<int64_t>());
  EXPECT_EQ(c.intermediate_size, want["intermediate_size"].get<int64_t>());
  EXPECT_EQ(c.num_layers, want["num_hidden_layers"].get<int>());
  EXPECT_EQ(c.num_heads, want["num_attention_heads"].get<int>());
  EXPECT_EQ(c.num_kv_heads, want["num_key_value_heads"].get<int>());
  EXPECT_EQ(c.head_dim, want["head_dim"].get<int>());
  EXPECT_EQ(c.max_position, want["max_position_embeddings"].get<int64_t>());
  EXPECT_EQ(c.rms_norm_eps, want["rms_norm_eps"].get<float>());
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope.head_dim, c.head_dim);
  EXPECT_EQ(c.rope.rotary_dim, c.head_dim);
  EXPECT_EQ(c.rope.theta, want["rope_theta"].get<float>());
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLinear);
  EXPECT_EQ(c.rope.factor, want["rope_scaling_factor"].get<float>());
}

TEST(ModelConfig, TinyGguf) {
  auto file = gguf::File::open(fixture("tiny_llama.gguf"));
  ModelConfig c = config_from_gguf(*file);
  expect_tiny_config(c);
  EXPECT_EQ(c.rope.style, RopeParams::Style::kInterleaved);
}

TEST(ModelConfig, TinyHf) {
  const std::string path = fixture("tiny_llama_hf/config.json");
  const auto bytes = testing::read_bytes(path);
  ModelConfig c = config_from_hf_json(std::string(bytes.begin(), bytes.end()), path);
  expect_tiny_config(c);
  EXPECT_EQ(c.rope.style, RopeParams::Style::kNeox);
}

TEST(ModelConfig, DefaultModel) {
  const std::string path = testing::default_model_path();
  if (path.empty()) GTEST_SKIP() << "default model not fetched";
  const auto ref = testing::read_json(fixture("smollm2_reference.json"));
  auto value = [&](const std::string& key) { return ref["scalars"][key]["value"]; };
  ModelConfig c = config_from_gguf(*gguf::File::open(path));
  EXPECT_EQ(c.architecture, value("general.architecture").get<std::string>());
  EXPECT_EQ(c.name, value("general.name").get<std::string>());
  EXPECT_EQ(c.num_layers, value("llama.block_count").get<int>());
  EXPECT_EQ(c.hidden_size, value("llama.embedding_length").get<int64_t>());
  EXPECT_EQ(c.intermediate_size, value("llama.feed_forward_length").get<int64_t>());
  EXPECT_EQ(c.num_heads, value("llama.attention.head_count").get<int>());
  EXPECT_EQ(c.num_kv_heads, value("llama.attention.head_count_kv").get<int>());
  EXPECT_EQ(c.max_position, value("llama.context_length").get<int64_t>());
  EXPECT_EQ(c.rms_norm_eps, value("llama.attention.layer_norm_rms_epsilon").get<float>());
  EXPECT_EQ(c.rope.theta, value("llama.rope.freq_base").get<float>());
  EXPECT_EQ(c.rope.rotary_dim, value("llama.rope.dimension_count").get<int>());
  EXPECT_EQ(c.vocab_size, ref["arrays"]["tokenizer.ggml.tokens"]["count"].get<int64_t>());
  EXPECT_EQ(c.head_dim, c.hidden_size / c.num_heads);
  EXPECT_TRUE(c.tie_word_embeddings);  // no output.weight in the file
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kNone);
  EXPECT_EQ(c.rope.style, RopeParams::Style::kInterleaved);
}

// HF config.json ---------------------------------------------------------------

constexpr const char* kMinimal = R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4)";

ModelConfig hf(const std::string& extra) {
  return config_from_hf_json(std::string(kMinimal) + extra + "}", "/models/my-model/config.json");
}

std::string hf_error(const std::string& json, ErrorKind kind = ErrorKind::kBadFile) {
  try {
    config_from_hf_json(json, "/m/config.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  return "";
}

TEST(ModelConfig, HfDefaults) {
  ModelConfig c = hf("");
  EXPECT_EQ(c.name, "my-model");  // the folder, when _name_or_path is absent
  EXPECT_EQ(c.num_kv_heads, 4);   // = num_attention_heads
  EXPECT_EQ(c.head_dim, 16);      // hidden / heads
  EXPECT_EQ(c.rms_norm_eps, 1e-6f);
  EXPECT_EQ(c.rope.theta, 10000.0f);
  EXPECT_EQ(c.max_position, 2048);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kNone);
}

TEST(ModelConfig, HfOptions) {
  ModelConfig c = hf(R"(, "num_key_value_heads": 2, "head_dim": 32, "tie_word_embeddings": true,
      "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 131072,
      "_name_or_path": "org/name")");
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.rope.rotary_dim, 32);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope.theta, 500000.0f);
  EXPECT_EQ(c.max_position, 131072);
  EXPECT_EQ(c.name, "org/name");
  EXPECT_EQ(hf(R"(, "head_dim": null)").head_dim, 16);

  c = hf(R"(, "rope_scaling": {"type": "linear", "factor": 4.0})");
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLinear);
  EXPECT_EQ(c.rope.factor, 4.0f);

  c = hf(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})");
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLlama3);
  EXPECT_EQ(c.rope.factor, 8.0f);
  EXPECT_EQ(c.rope.low_freq_factor, 1.0f);
  EXPECT_EQ(c.rope.high_freq_factor, 4.0f);
  EXPECT_EQ(c.rope.original_max_position, 8192);

  // transformers 5 spelling: rope_parameters, theta inside.
  c = hf(R"(, "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})");
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLlama3);
  EXPECT_EQ(c.rope.theta, 500000.0f);
  EXPECT_EQ(c.rope.factor, 32.0f);
  c = hf(R"(, "rope_parameters": {"rope_type": "default", "rope_theta": 1000.0})");
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kNone);
  EXPECT_EQ(c.rope.theta, 1000.0f);
  EXPECT_EQ(hf(R"(, "rope_scaling": null)").rope.scaling, RopeParams::Scaling::kNone);
}

TEST(ModelConfig, HfErrors) {
  const std::string m = kMinimal;
  EXPECT_NE(hf_error("{").find("/m/config.json: not valid JSON"), std::string::npos);
  EXPECT_NE(hf_error(R"({"model_type": "llama"})").find("missing key vocab_size"),
            std::string::npos);
  EXPECT_NE(hf_error(R"({"model_type": "gemma"})").find("model_type 'gemma' is not supported"),
            std::string::npos);
  EXPECT_NE(hf_error(R"({"vocab_size": 3})").find("missing key model_type"), std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "num_key_value_heads": 3})").find("not a multiple of 3 KV heads"),
            std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "hidden_size": 66})").find("hidden size 66 is not a multiple"),
            std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "num_hidden_layers": "2"})").find("num_hidden_layers is not an"),
            std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "num_hidden_layers": 0})").find("num_hidden_layers = 0 is out of"),
            std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "vocab_size": 18446744073709551615})").find("out of range"),
            std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "rms_norm_eps": -1})").find("epsilon"), std::string::npos);
  EXPECT_NE(
      hf_error(m + R"(, "rope_scaling": {"type": "yarn", "factor": 4}})", ErrorKind::kUnsupported)
          .find("'yarn' is not supported"),
      std::string::npos);
  EXPECT_NE(hf_error(m + R"(, "rope_scaling": {"type": "linear", "factor": 0}})")
                .find("scaling factor 0"),
            std::string::npos);
}

// GGUF metadata ------------------------------------------------------------------

// A GGUF image of a llama config (no tensors) with `drop` left out and
// `extra` entries (already encoded) appended.
std::vector<uint8_t> llama_gguf(const std::string& drop = "", const std::string& arch = "llama",
                                std::vector<std::vector<uint8_t>> extra = {}) {
  std::vector<std::pair<std::string, uint32_t>> ints = {
      {"llama.block_count", 2},           {"llama.embedding_length", 64},
      {"llama.feed_forward_length", 128}, {"llama.attention.head_count", 4},
      {"llama.context_length", 512},      {"llama.vocab_size", 100},
  };
  testing::Bytes body;
  uint64_t n = 0;
  body.kv_string("general.architecture", arch), ++n;
  for (const auto& [k, v] : ints)
    if (k != drop) body.kv_u32(k, v), ++n;
  if (drop != "eps") body.str("llama.attention.layer_norm_rms_epsilon").u32(6).put(1e-5f), ++n;
  for (const auto& e : extra) body.data.insert(body.data.end(), e.begin(), e.end()), ++n;
  testing::Bytes file = testing::Bytes().header(3, 0, n);
  file.data.insert(file.data.end(), body.data.begin(), body.data.end());
  return file.data;
}

ModelConfig gguf_config(const std::vector<uint8_t>& bytes) {
  return config_from_gguf(*gguf::File::parse(bytes.data(), bytes.size(), nullptr, "m.gguf"));
}

std::string gguf_error(const std::vector<uint8_t>& bytes, ErrorKind kind = ErrorKind::kBadFile) {
  try {
    gguf_config(bytes);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  return "";
}

std::vector<uint8_t> kv_u32(const std::string& k, uint32_t v) {
  return testing::Bytes().kv_u32(k, v).data;
}
std::vector<uint8_t> kv_f32(const std::string& k, float v) {
  return testing::Bytes().str(k).u32(6).put(v).data;
}
std::vector<uint8_t> kv_str(const std::string& k, const std::string& v) {
  return testing::Bytes().kv_string(k, v).data;
}

TEST(ModelConfig, GgufDefaultsAndOptions) {
  ModelConfig c = gguf_config(llama_gguf());
  EXPECT_EQ(c.name, "m");  // the file stem without general.name
  EXPECT_EQ(c.num_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rope.rotary_dim, 16);
  EXPECT_EQ(c.rope.theta, 10000.0f);
  EXPECT_EQ(c.vocab_size, 100);  // llama.vocab_size without a token list
  EXPECT_TRUE(c.tie_word_embeddings);

  c = gguf_config(llama_gguf(
      "", "llama",
      {kv_u32("llama.attention.head_count_kv", 2), kv_u32("llama.attention.key_length", 32),
       kv_u32("llama.rope.dimension_count", 16), kv_f32("llama.rope.freq_base", 500000.0f),
       kv_str("llama.rope.scaling.type", "llama3"), kv_f32("llama.rope.scaling.factor", 8.0f),
       kv_f32("llama.rope.scaling.low_freq_factor", 1.0f),
       kv_f32("llama.rope.scaling.high_freq_factor", 4.0f),
       kv_u32("llama.rope.scaling.original_context_length", 8192),
       kv_str("general.name", "Named")}));
  EXPECT_EQ(c.name, "Named");
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.rope.rotary_dim, 16);
  EXPECT_EQ(c.rope.theta, 500000.0f);
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLlama3);
  EXPECT_EQ(c.rope.factor, 8.0f);
  EXPECT_EQ(c.rope.original_max_position, 8192);

  c = gguf_config(llama_gguf("", "llama", {kv_f32("llama.rope.scale_linear", 2.0f)}));
  EXPECT_EQ(c.rope.scaling, RopeParams::Scaling::kLinear);
  EXPECT_EQ(c.rope.factor, 2.0f);
}

TEST(ModelConfig, GgufErrorsNameTheKey) {
  for (const char* key :
       {"llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.context_length"}) {
    EXPECT_NE(gguf_error(llama_gguf(key)).find("m.gguf: missing metadata key " + std::string(key)),
              std::string::npos)
        << key;
  }
  EXPECT_NE(gguf_error(llama_gguf("eps")).find("llama.attention.layer_norm_rms_epsilon"),
            std::string::npos);
  EXPECT_NE(gguf_error(llama_gguf("llama.vocab_size")).find("tokenizer.ggml.tokens"),
            std::string::npos);
  EXPECT_NE(gguf_error(llama_gguf("", "gpt2")).find("general.architecture 'gpt2' is not supported"),
            std::string::npos);
  EXPECT_NE(
      gguf_error(testing::Bytes().header(3, 0, 0).data).find("missing metadata key general.arch"),
      std::string::npos);
  EXPECT_NE(gguf_error(llama_gguf("llama.block_count", "llama", {kv_str("llama.block_count", "2")}))
                .find("'llama.block_count' is string, expected an integer"),
            std::string::npos);
  EXPECT_NE(gguf_error(llama_gguf("", "llama", {kv_u32("llama.attention.head_count_kv", 3)}))
                .find("not a multiple of 3 KV heads"),
            std::string::npos);
  EXPECT_NE(gguf_error(llama_gguf("", "llama", {kv_str("llama.rope.scaling.type", "yarn")}),
                       ErrorKind::kUnsupported)
                .find("llama.rope.scaling.type 'yarn' is not supported"),
            std::string::npos);
  EXPECT_NE(gguf_error(llama_gguf("", "llama", {kv_u32("llama.rope.dimension_count", 18)}))
                .find("rotary dims 18"),
            std::string::npos);
}

TEST(ModelConfig, GgufVocabFromEmbeddingMustAgree) {
  // token_embd.weight [100, 64] F32, no token list: the vocabulary is 100.
  auto with_embd = [](uint64_t rows, bool vocab_key) {
    testing::Bytes b = testing::Bytes().header(3, 1, vocab_key ? 8 : 7);
    b.kv_string("general.architecture", "llama");
    b.kv_u32("llama.block_count", 1).kv_u32("llama.embedding_length", 64);
    b.kv_u32("llama.feed_forward_length", 128).kv_u32("llama.attention.head_count", 4);
    b.kv_u32("llama.context_length", 512);
    b.str("llama.attention.layer_norm_rms_epsilon").u32(6).put(1e-5f);
    if (vocab_key) b.kv_u32("llama.vocab_size", 100);
    b.tensor_info("token_embd.weight", {64, rows}, 0, 0).pad_to(32).zeros(64 * rows * 4);
    return b.data;
  };
  EXPECT_EQ(gguf_config(with_embd(100, false)).vocab_size, 100);
  EXPECT_EQ(gguf_config(with_embd(100, true)).vocab_size, 100);
  EXPECT_NE(
      gguf_error(with_embd(90, true)).find("token_embd.weight has 90 rows but the vocabulary"),
      std::string::npos);
}

TEST(ModelConfig, DescribeMentionsEveryField) {
  auto file = gguf::File::open(fixture("tiny_llama.gguf"));
  const std::string text = describe_config(config_from_gguf(*file));
  for (const char* s : {"architecture: llama", "layers: 2", "kv heads: 2", "head dim: 8",
                        "context length: 256", "interleaved", "scaling linear x2"})
    EXPECT_NE(text.find(s), std::string::npos) << s << "\n" << text;
}

}  // namespace
}  // namespace tessera
