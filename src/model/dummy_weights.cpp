// Random weights for benchmarks: any HF config.json becomes a model whose
// tensors are made on demand, so that an 8B model can be loaded (and its
// speed measured) without its checkpoint. Values come from a counter-based
// hash of (tensor name, element index), so every load gives the same model.
// The scale keeps activations finite through any depth: projections are
// uniform with standard deviation 0.02 (HF's initializer_range), norm
// weights are 1 (as HF initializes them), so RMSNorm re-centres every layer.
#include <cmath>
#include <filesystem>

#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/mapped_file.h"
#include "tessera/core/parallel.h"
#include "tessera/model/weight_source.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

constexpr float kStdDev = 0.02f;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t name_seed(const std::string& name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001B3ull;
  return splitmix64(h);
}

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_text(const std::string& path) {
  std::shared_ptr<MappedFile> f = MappedFile::open(path);
  if (f->size() > (size_t{16} << 20)) fail(ErrorKind::kBadFile, "{}: too large", path);
  return std::string(reinterpret_cast<const char*>(f->data()), f->size());
}

class DummySource : public WeightSource {
 public:
  explicit DummySource(const std::string& model) {
    std::error_code ec;
    std::string config_path = model;
    if (fs::is_directory(model, ec)) config_path = (fs::path(model) / "config.json").string();
    if (!fs::is_regular_file(config_path, ec))
      fail(ErrorKind::kNotFound,
           "--load-format dummy needs an HF config.json (or a folder holding one); {} is neither",
           model);
    format_ = Format::kDummy;
    path_ = model;
    config_ = config_from_hf_json(read_text(config_path), config_path);
    // A loose config file (llama3-8b.json) names the model better than its folder.
    if (!fs::is_directory(model, ec) && fs::path(config_path).filename() != "config.json")
      config_.name = fs::path(config_path).stem().string();
    config_.name += " (dummy weights)";

    const int64_t d = config_.hidden_size, f = config_.intermediate_size;
    const int64_t q_dim = int64_t(config_.num_heads) * config_.head_dim;
    const int64_t kv_dim = int64_t(config_.num_kv_heads) * config_.head_dim;
    add("token_embd.weight", {config_.vocab_size, d});
    add("output_norm.weight", {d});
    if (!config_.tie_word_embeddings) add("output.weight", {config_.vocab_size, d});
    for (int l = 0; l < config_.num_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      add(p + "attn_norm.weight", {d});
      add(p + "attn_q.weight", {q_dim, d});
      add(p + "attn_k.weight", {kv_dim, d});
      add(p + "attn_v.weight", {kv_dim, d});
      add(p + "attn_output.weight", {d, q_dim});
      add(p + "ffn_norm.weight", {d});
      add(p + "ffn_gate.weight", {f, d});
      add(p + "ffn_up.weight", {f, d});
      add(p + "ffn_down.weight", {d, f});
    }
  }

  Tensor tensor(const std::string& name) const override {
    const WeightInfo* info = find(name);
    if (!info) fail(ErrorKind::kBadFile, "{}: dummy model has no tensor '{}'", path_, name);
    Tensor t = Tensor::empty(DType::kBF16, info->shape);
    auto* out = t.data_as<uint16_t>();
    const int64_t n = info->num_elements;
    if (has_suffix(name, "_norm.weight")) {
      const uint16_t one = f32_to_bf16(1.0f);
      for (int64_t i = 0; i < n; ++i) out[i] = one;
      return t;
    }
    // Uniform on [-a, a) has standard deviation a / sqrt(3).
    const float a = kStdDev * std::sqrt(3.0f);
    const uint64_t seed = name_seed(name);
    // Two values per hash: elements 2i and 2i+1 take its halves.
    parallel_for((n + 1) / 2, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const uint64_t h = splitmix64(seed + uint64_t(i));
        for (int64_t k = 0; k < 2 && 2 * i + k < n; ++k) {
          const uint32_t bits = uint32_t(h >> (32 * k)) >> 8;  // 24 bits
          const float u = float(bits) * (1.0f / 16777216.0f);  // [0, 1)
          out[2 * i + k] = f32_to_bf16((2.0f * u - 1.0f) * a);
        }
      }
    });
    return t;
  }

 private:
  void add(const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    add_tensor({name, name, "BF16", true, DType::kBF16, std::move(shape), n, uint64_t(n) * 2});
  }
};

}  // namespace

std::unique_ptr<WeightSource> WeightSource::open_dummy(const std::string& model) {
  if (model.empty()) fail(ErrorKind::kInvalidArgument, "no model given");
  return std::make_unique<DummySource>(model);
}

}  // namespace tessera
