// ModelConfig from GGUF metadata and from HF config.json. Both readers end
// in one validation, so a config that reaches architecture code is sane
// (positive sizes, heads dividing evenly, rotary dims that fit).
#include "tessera/model/model_config.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"

namespace tessera {
namespace {

using nlohmann::json;

// Bounds that keep a hostile config from asking for absurd allocations.
constexpr int64_t kMaxLayers = 1 << 12;
constexpr int64_t kMaxHeads = 1 << 12;
constexpr int64_t kMaxHidden = 1 << 20;
constexpr int64_t kMaxVocab = 1 << 24;
constexpr int64_t kMaxPositions = int64_t{1} << 30;

int64_t in_range(const std::string& path, const std::string& key, int64_t v, int64_t lo,
                 int64_t hi) {
  if (v < lo || v > hi)
    fail(ErrorKind::kBadFile, "{}: {} = {} is out of range [{}, {}]", path, key, v, lo, hi);
  return v;
}

// hidden / heads, when the file gives no head dim of its own.
int64_t default_head_dim(const std::string& path, int64_t hidden, int64_t heads) {
  if (hidden % heads != 0)
    fail(ErrorKind::kBadFile, "{}: hidden size {} is not a multiple of {} heads", path, hidden,
         heads);
  return hidden / heads;
}

void validate(const ModelConfig& c, const std::string& path) {
  if (c.num_heads % c.num_kv_heads != 0)
    fail(ErrorKind::kBadFile, "{}: {} attention heads are not a multiple of {} KV heads", path,
         c.num_heads, c.num_kv_heads);
  if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 4096)
    fail(ErrorKind::kBadFile, "{}: head dim {} is not an even size up to 4096", path, c.head_dim);
  if (c.rope.rotary_dim <= 0 || c.rope.rotary_dim % 2 != 0 || c.rope.rotary_dim > c.head_dim)
    fail(ErrorKind::kBadFile, "{}: rotary dims {} is not even and within head dim {}", path,
         c.rope.rotary_dim, c.head_dim);
  if (!(c.rms_norm_eps > 0.0f) || !(c.rms_norm_eps < 1.0f))
    fail(ErrorKind::kBadFile, "{}: RMS norm epsilon {} is not in (0, 1)", path, c.rms_norm_eps);
  if (!(c.rope.theta > 0.0f) || !std::isfinite(c.rope.theta))
    fail(ErrorKind::kBadFile, "{}: rope theta {} is not positive", path, c.rope.theta);
  if (c.rope.scaling != RopeParams::Scaling::kNone &&
      (!(c.rope.factor > 0.0f) || !std::isfinite(c.rope.factor)))
    fail(ErrorKind::kBadFile, "{}: rope scaling factor {} is not positive", path, c.rope.factor);
  if (c.rope.scaling == RopeParams::Scaling::kLlama3 &&
      (c.rope.original_max_position <= 0 || !(c.rope.high_freq_factor > c.rope.low_freq_factor)))
    fail(ErrorKind::kBadFile,
         "{}: llama3 rope scaling needs original_max_position > 0 and high_freq_factor > "
         "low_freq_factor",
         path);
}

RopeParams::Scaling scaling_from_name(const std::string& path, const std::string& key,
                                      const std::string& name) {
  if (name.empty() || name == "none" || name == "default") return RopeParams::Scaling::kNone;
  if (name == "linear") return RopeParams::Scaling::kLinear;
  if (name == "llama3") return RopeParams::Scaling::kLlama3;
  fail(ErrorKind::kUnsupported, "{}: {} '{}' is not supported (supported: linear, llama3)", path,
       key, name);
}

// GGUF ------------------------------------------------------------------------

class GgufKeys {
 public:
  GgufKeys(const gguf::File& file, std::string arch) : file_(file), arch_(std::move(arch)) {}

  std::string key(const std::string& suffix) const { return arch_ + "." + suffix; }

  int64_t required_int(const std::string& suffix, int64_t lo, int64_t hi) const {
    const std::string k = key(suffix);
    std::optional<int64_t> v = file_.get_int(k);
    if (!v) fail(ErrorKind::kBadFile, "{}: missing metadata key {}", file_.path(), k);
    return in_range(file_.path(), k, *v, lo, hi);
  }
  std::optional<int64_t> optional_int(const std::string& suffix, int64_t lo, int64_t hi) const {
    const std::string k = key(suffix);
    std::optional<int64_t> v = file_.get_int(k);
    if (v) in_range(file_.path(), k, *v, lo, hi);
    return v;
  }
  double required_float(const std::string& suffix) const {
    std::optional<double> v = file_.get_float(key(suffix));
    if (!v) fail(ErrorKind::kBadFile, "{}: missing metadata key {}", file_.path(), key(suffix));
    return *v;
  }
  std::optional<double> optional_float(const std::string& suffix) const {
    return file_.get_float(key(suffix));
  }

 private:
  const gguf::File& file_;
  std::string arch_;
};

int64_t gguf_vocab_size(const gguf::File& file, const GgufKeys& keys) {
  const std::string& path = file.path();
  std::optional<int64_t> vocab;
  if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens")) {
    if (!tokens->as_array())
      fail(ErrorKind::kBadFile, "{}: metadata key tokenizer.ggml.tokens is not an array", path);
    vocab = static_cast<int64_t>(tokens->as_array()->size());
  } else if (auto v = keys.optional_int("vocab_size", 1, kMaxVocab)) {
    vocab = *v;
  }
  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd && embd->shape.size() == 2) {
    if (!vocab) vocab = embd->shape[0];
    if (embd->shape[0] != *vocab)
      fail(ErrorKind::kBadFile,
           "{}: token_embd.weight has {} rows but the vocabulary has {} tokens", path,
           embd->shape[0], *vocab);
  }
  if (!vocab)
    fail(ErrorKind::kBadFile,
         "{}: missing metadata key tokenizer.ggml.tokens (and no token_embd.weight to size the "
         "vocabulary)",
         path);
  return in_range(path, "vocabulary size", *vocab, 1, kMaxVocab);
}

void gguf_rope_scaling(const gguf::File& file, const GgufKeys& keys, ModelConfig& c) {
  const std::string& path = file.path();
  RopeParams& rope = c.rope;
  if (auto type = file.get_string(keys.key("rope.scaling.type"))) {
    rope.scaling = scaling_from_name(path, keys.key("rope.scaling.type"), *type);
  } else if (auto linear = keys.optional_float("rope.scale_linear")) {  // older files
    rope.scaling = *linear == 1.0 ? RopeParams::Scaling::kNone : RopeParams::Scaling::kLinear;
    rope.factor = static_cast<float>(*linear);
  }
  if (rope.scaling == RopeParams::Scaling::kNone) {
    // llama.cpp bakes Llama 3 frequency scaling into this tensor instead of keys.
    if (file.find_tensor("rope_freqs.weight"))
      fail(ErrorKind::kUnsupported,
           "{}: rope_freqs.weight (per-dimension rope frequencies) is not supported; add "
           "{}.rope.scaling.* keys",
           path, c.architecture);
    return;
  }
  if (auto f = keys.optional_float("rope.scaling.factor")) rope.factor = static_cast<float>(*f);
  if (auto n = keys.optional_int("rope.scaling.original_context_length", 1, kMaxPositions))
    rope.original_max_position = static_cast<int>(*n);
  if (auto f = keys.optional_float("rope.scaling.low_freq_factor"))
    rope.low_freq_factor = static_cast<float>(*f);
  if (auto f = keys.optional_float("rope.scaling.high_freq_factor"))
    rope.high_freq_factor = static_cast<float>(*f);
}

// HF config.json ---------------------------------------------------------------

class JsonKeys {
 public:
  JsonKeys(const json& j, const std::string& path) : j_(j), path_(path) {}

  bool has(const std::string& k) const { return j_.contains(k) && !j_[k].is_null(); }
  int64_t required_int(const std::string& k, int64_t lo, int64_t hi) const {
    if (!has(k)) fail(ErrorKind::kBadFile, "{}: missing key {}", path_, k);
    return int_of(k, lo, hi);
  }
  int64_t int_or(const std::string& k, int64_t fallback, int64_t lo, int64_t hi) const {
    return has(k) ? int_of(k, lo, hi) : fallback;
  }
  double float_or(const std::string& k, double fallback) const {
    if (!has(k)) return fallback;
    if (!j_[k].is_number()) fail(ErrorKind::kBadFile, "{}: {} is not a number", path_, k);
    return j_[k].get<double>();
  }
  bool bool_or(const std::string& k, bool fallback) const {
    if (!has(k)) return fallback;
    if (!j_[k].is_boolean()) fail(ErrorKind::kBadFile, "{}: {} is not a bool", path_, k);
    return j_[k].get<bool>();
  }
  std::string string_or(const std::string& k, const std::string& fallback) const {
    if (!has(k)) return fallback;
    if (!j_[k].is_string()) fail(ErrorKind::kBadFile, "{}: {} is not a string", path_, k);
    return j_[k].get<std::string>();
  }

 private:
  int64_t int_of(const std::string& k, int64_t lo, int64_t hi) const {
    const json& v = j_[k];
    if (!v.is_number_integer()) fail(ErrorKind::kBadFile, "{}: {} is not an integer", path_, k);
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi))
      fail(ErrorKind::kBadFile, "{}: {} = {} is out of range [{}, {}]", path_, k, v.dump(), lo, hi);
    return in_range(path_, k, v.get<int64_t>(), lo, hi);
  }

  const json& j_;
  const std::string& path_;
};

// `rope_scaling` (transformers 4) or `rope_parameters` (transformers 5,
// which also carries rope_theta).
void hf_rope(const json& j, const JsonKeys& keys, const std::string& path, ModelConfig& c) {
  c.rope.theta = static_cast<float>(keys.float_or("rope_theta", 10000.0));
  const char* field = j.contains("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!j.contains(field) || j[field].is_null()) return;
  const json& rs = j[field];
  if (!rs.is_object()) fail(ErrorKind::kBadFile, "{}: {} is not an object", path, field);
  const JsonKeys r(rs, path);
  c.rope.theta = static_cast<float>(r.float_or("rope_theta", c.rope.theta));
  const std::string type = r.string_or("rope_type", r.string_or("type", "default"));
  c.rope.scaling = scaling_from_name(path, std::string(field) + ".rope_type", type);
  if (c.rope.scaling == RopeParams::Scaling::kNone) return;
  c.rope.factor = static_cast<float>(r.float_or("factor", 1.0));
  c.rope.low_freq_factor = static_cast<float>(r.float_or("low_freq_factor", 1.0));
  c.rope.high_freq_factor = static_cast<float>(r.float_or("high_freq_factor", 4.0));
  c.rope.original_max_position =
      static_cast<int>(r.int_or("original_max_position_embeddings", 8192, 1, kMaxPositions));
}

}  // namespace

const char* rope_scaling_name(RopeParams::Scaling s) {
  switch (s) {
    case RopeParams::Scaling::kNone:
      return "none";
    case RopeParams::Scaling::kLinear:
      return "linear";
    case RopeParams::Scaling::kLlama3:
      return "llama3";
  }
  return "?";
}

bool is_supported_architecture(const std::string& arch) {
  return arch == "llama" || arch == "mistral";
}

ModelConfig config_from_gguf(const gguf::File& file) {
  const std::string& path = file.path();
  ModelConfig c;
  std::optional<std::string> arch = file.get_string("general.architecture");
  if (!arch) fail(ErrorKind::kBadFile, "{}: missing metadata key general.architecture", path);
  if (!is_supported_architecture(*arch))
    fail(ErrorKind::kBadFile, "{}: general.architecture '{}' is not supported (supported: llama)",
         path, *arch);
  c.architecture = *arch;
  const GgufKeys keys(file, *arch);
  c.name = file.get_string("general.name").value_or(std::filesystem::path(path).stem().string());
  c.num_layers = static_cast<int>(keys.required_int("block_count", 1, kMaxLayers));
  c.hidden_size = keys.required_int("embedding_length", 1, kMaxHidden);
  c.intermediate_size = keys.required_int("feed_forward_length", 1, kMaxHidden * 16);
  c.num_heads = static_cast<int>(keys.required_int("attention.head_count", 1, kMaxHeads));
  c.num_kv_heads = static_cast<int>(
      keys.optional_int("attention.head_count_kv", 1, kMaxHeads).value_or(c.num_heads));
  c.max_position = keys.required_int("context_length", 1, kMaxPositions);
  c.rms_norm_eps = static_cast<float>(keys.required_float("attention.layer_norm_rms_epsilon"));
  const std::optional<int64_t> key_length = keys.optional_int("attention.key_length", 1, 4096);
  c.head_dim = static_cast<int>(key_length ? *key_length
                                           : default_head_dim(path, c.hidden_size, c.num_heads));
  c.vocab_size = gguf_vocab_size(file, keys);
  c.tie_word_embeddings = file.find_tensor("output.weight") == nullptr;

  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim =
      static_cast<int>(keys.optional_int("rope.dimension_count", 1, 4096).value_or(c.head_dim));
  c.rope.theta = static_cast<float>(keys.optional_float("rope.freq_base").value_or(10000.0));
  c.rope.style = RopeParams::Style::kInterleaved;
  gguf_rope_scaling(file, keys, c);
  validate(c, path);
  return c;
}

ModelConfig config_from_hf_json(const std::string& json_text, const std::string& path) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(ErrorKind::kBadFile, "{}: not valid JSON", path);
  if (!j.is_object()) fail(ErrorKind::kBadFile, "{}: not a JSON object", path);
  const JsonKeys keys(j, path);
  ModelConfig c;
  if (!keys.has("model_type")) fail(ErrorKind::kBadFile, "{}: missing key model_type", path);
  c.architecture = keys.string_or("model_type", "");
  if (!is_supported_architecture(c.architecture))
    fail(ErrorKind::kBadFile, "{}: model_type '{}' is not supported (supported: llama, mistral)",
         path, c.architecture);
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  c.name = keys.string_or("_name_or_path", "");
  if (c.name.empty()) c.name = folder.filename().string();
  c.vocab_size = keys.required_int("vocab_size", 1, kMaxVocab);
  c.hidden_size = keys.required_int("hidden_size", 1, kMaxHidden);
  c.intermediate_size = keys.required_int("intermediate_size", 1, kMaxHidden * 16);
  c.num_layers = static_cast<int>(keys.required_int("num_hidden_layers", 1, kMaxLayers));
  c.num_heads = static_cast<int>(keys.required_int("num_attention_heads", 1, kMaxHeads));
  c.num_kv_heads = static_cast<int>(keys.int_or("num_key_value_heads", c.num_heads, 1, kMaxHeads));
  c.head_dim =
      static_cast<int>(keys.has("head_dim") ? keys.int_or("head_dim", 0, 1, 4096)
                                            : default_head_dim(path, c.hidden_size, c.num_heads));
  c.rms_norm_eps = static_cast<float>(keys.float_or("rms_norm_eps", 1e-6));
  c.max_position = keys.int_or("max_position_embeddings", 2048, 1, kMaxPositions);
  c.tie_word_embeddings = keys.bool_or("tie_word_embeddings", false);
  c.rope.head_dim = c.head_dim;
  c.rope.rotary_dim = c.head_dim;
  c.rope.style = RopeParams::Style::kNeox;
  hf_rope(j, keys, path, c);
  validate(c, path);
  return c;
}

std::string describe_config(const ModelConfig& c) {
  std::string s;
  s += fmt::format("architecture: {}\nname: {}\n", c.architecture, c.name);
  s += fmt::format("vocab: {}\nhidden: {}\nintermediate: {}\n", c.vocab_size, c.hidden_size,
                   c.intermediate_size);
  s += fmt::format("layers: {}\nheads: {}\nkv heads: {}\nhead dim: {}\n", c.num_layers, c.num_heads,
                   c.num_kv_heads, c.head_dim);
  s += fmt::format("rms norm eps: {}\ncontext length: {}\ntied embeddings: {}\n", c.rms_norm_eps,
                   c.max_position, c.tie_word_embeddings);
  s += fmt::format("rope: theta {}, {} of {} dims, {}, scaling {}", c.rope.theta, c.rope.rotary_dim,
                   c.rope.head_dim,
                   c.rope.style == RopeParams::Style::kNeox ? "neox" : "interleaved",
                   rope_scaling_name(c.rope.scaling));
  if (c.rope.scaling != RopeParams::Scaling::kNone) s += fmt::format(" x{}", c.rope.factor);
  if (c.rope.scaling == RopeParams::Scaling::kLlama3)
    s += fmt::format(" (low {}, high {}, original {})", c.rope.low_freq_factor,
                     c.rope.high_freq_factor, c.rope.original_max_position);
  return s + "\n";
}

}  // namespace tessera
