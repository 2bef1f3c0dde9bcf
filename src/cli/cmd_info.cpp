// `tessera info -m MODEL`: what a model file holds, without loading it for
// inference: architecture, sizes, rope, tensor types, parameter count.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "command.h"
#include "tessera/core/error.h"
#include "tessera/engine/load_tokenizer.h"
#include "tessera/formats/gguf.h"
#include "tessera/model/weight_source.h"

namespace tessera::cli {
namespace {

using nlohmann::ordered_json;

// The report, in print order: a human line per field, or one JSON object.
struct InfoFields {
  std::vector<std::pair<std::string, std::string>> lines;
  ordered_json json = ordered_json::object();

  void add(const std::string& label, const std::string& text, const std::string& key,
           ordered_json value) {
    lines.emplace_back(label, text);
    json[key] = std::move(value);
  }
};

std::string human_count(uint64_t n) {
  if (n >= 1000000000) return fmt::format("{:.2f}B", n / 1e9);
  if (n >= 1000000) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1000) return fmt::format("{:.1f}K", n / 1e3);
  return std::to_string(n);
}

std::string human_bytes(uint64_t n) {
  if (n >= (uint64_t{1} << 30)) return fmt::format("{:.2f} GiB", n / double(1 << 30));
  if (n >= (uint64_t{1} << 20)) return fmt::format("{:.1f} MiB", n / double(1 << 20));
  if (n >= (uint64_t{1} << 10)) return fmt::format("{:.1f} KiB", n / double(1 << 10));
  return fmt::format("{} B", n);
}

void add_file_info(const WeightSource& source, InfoFields& out) {
  std::string format = "HF folder (safetensors)";
  if (auto g = source.gguf_file()) format = fmt::format("GGUF v{}", g->version());
  out.add("model", fmt::format("{} ({})", source.path(), format), "path", source.path());
  out.json["format"] = source.format() == WeightSource::Format::kGguf ? "gguf" : "hf";
  out.add("file size",
          fmt::format("{} ({} bytes)", human_bytes(source.file_bytes()), source.file_bytes()),
          "file_bytes", source.file_bytes());
}

void add_config_info(const ModelConfig& c, InfoFields& out) {
  out.add("architecture", c.architecture, "architecture", c.architecture);
  out.add("name", c.name, "name", c.name);
  out.add("context length", std::to_string(c.max_position), "context_length", c.max_position);
  out.add("layers", std::to_string(c.num_layers), "layers", c.num_layers);
  out.add("hidden size", std::to_string(c.hidden_size), "hidden_size", c.hidden_size);
  out.add("ffn size", std::to_string(c.intermediate_size), "intermediate_size",
          c.intermediate_size);
  out.add("heads",
          fmt::format("{} (kv heads {}, head dim {})", c.num_heads, c.num_kv_heads, c.head_dim),
          "heads", c.num_heads);
  out.json["kv_heads"] = c.num_kv_heads;
  out.json["head_dim"] = c.head_dim;
  out.add("vocab size", std::to_string(c.vocab_size), "vocab_size", c.vocab_size);
  out.add("rms norm eps", fmt::format("{}", c.rms_norm_eps), "rms_norm_eps", c.rms_norm_eps);
  out.add("tied embeddings", c.tie_word_embeddings ? "yes" : "no", "tie_word_embeddings",
          c.tie_word_embeddings);

  const RopeParams& r = c.rope;
  const char* style = r.style == RopeParams::Style::kNeox ? "neox" : "interleaved";
  const char* style_text = r.style == RopeParams::Style::kNeox ? "neox (rotates halves)"
                                                               : "interleaved (adjacent pairs)";
  std::string rope = fmt::format("theta {}, {} of {} dims, {}, scaling {}", r.theta, r.rotary_dim,
                                 r.head_dim, style_text, rope_scaling_name(r.scaling));
  ordered_json rj = {{"theta", r.theta},
                     {"rotary_dim", r.rotary_dim},
                     {"style", style},
                     {"scaling", rope_scaling_name(r.scaling)}};
  if (r.scaling != RopeParams::Scaling::kNone) {
    rope += fmt::format(" x{}", r.factor);
    rj["factor"] = r.factor;
  }
  if (r.scaling == RopeParams::Scaling::kLlama3) {
    rope += fmt::format(" (low {}, high {}, original context {})", r.low_freq_factor,
                        r.high_freq_factor, r.original_max_position);
    rj["low_freq_factor"] = r.low_freq_factor;
    rj["high_freq_factor"] = r.high_freq_factor;
    rj["original_max_position"] = r.original_max_position;
  }
  out.add("rope", rope, "rope", rj);
}

void add_tensor_info(const WeightSource& source, InfoFields& out) {
  uint64_t params = 0;
  std::map<std::string, int> types;
  for (const WeightInfo& w : source.tensors()) {
    params += static_cast<uint64_t>(w.num_elements);
    ++types[w.type_name];
  }
  out.add("parameters", fmt::format("{} ({})", human_count(params), params), "parameters", params);
  // Most common type first.
  std::vector<std::pair<std::string, int>> sorted(types.begin(), types.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string text;
  ordered_json hist = ordered_json::object();
  for (const auto& [type, n] : sorted) {
    text += fmt::format("{}{} x{}", text.empty() ? "" : ", ", type, n);
    hist[type] = n;
  }
  out.add("tensor types", fmt::format("{} ({} tensors)", text, source.tensors().size()),
          "tensor_types", hist);
  const std::vector<std::string> missing = source.missing_tensors();
  if (!missing.empty()) {
    std::string list = missing.front();
    if (missing.size() > 1) list += fmt::format(" and {} more", missing.size() - 1);
    out.add("missing tensors", list, "missing_tensors", missing);
  }
}

// Tokenizer facts: vocabulary, special tokens, the chat template.
void add_tokenizer_info(const WeightSource& source, InfoFields& out) {
  std::optional<tokenizer::Tokenizer> loaded;
  try {
    loaded.emplace(load_tokenizer(source));
  } catch (const Error& e) {
    // A folder with weights but no tokenizer files still has a config to show.
    out.add("tokenizer", fmt::format("none ({})", e.what()), "tokenizer", nullptr);
    return;
  }
  const tokenizer::Tokenizer& tok = *loaded;
  auto token = [&](int32_t id) -> ordered_json {
    if (!tok.is_valid(id)) return nullptr;
    return {{"id", id}, {"text", tok.token_text(id)}};
  };
  auto describe = [&](int32_t id) {
    return tok.is_valid(id) ? fmt::format("{} ({})", tok.token_text(id), id) : std::string("none");
  };
  out.add("vocabulary", std::to_string(tok.vocab_size()), "vocab_size", tok.vocab_size());
  out.add("bos token", describe(tok.bos_id()), "bos_token", token(tok.bos_id()));
  out.add("eos token", describe(tok.eos_id()), "eos_token", token(tok.eos_id()));
  out.add("pad token", describe(tok.pad_id()), "pad_token", token(tok.pad_id()));
  std::string specials;
  ordered_json special_list = ordered_json::array();
  for (int32_t id = 0; id < int32_t(tok.vocab_size()); ++id)
    if (tok.is_special(id)) {
      specials += fmt::format("{}{}", specials.empty() ? "" : " ", tok.token_text(id));
      special_list.push_back(token(id));
    }
  out.add("special tokens", specials, "special_tokens", special_list);
  const std::string& tmpl = tok.chat_template();
  out.add("chat template", tmpl.empty() ? std::string("none") : "\n" + tmpl, "chat_template",
          tmpl.empty() ? ordered_json(nullptr) : ordered_json(tmpl));
}

void print_tensor_list(const WeightSource& source, InfoFields& out, bool as_json) {
  ordered_json list = ordered_json::array();
  for (const WeightInfo& w : source.tensors()) {
    std::string shape;
    for (int64_t d : w.shape) shape += fmt::format("{}{}", shape.empty() ? "" : ", ", d);
    if (as_json) {
      list.push_back({{"name", w.name}, {"type", w.type_name}, {"shape", w.shape}});
    } else {
      std::printf("  %-32s %-6s [%s]\n", w.name.c_str(), w.type_name.c_str(), shape.c_str());
    }
  }
  if (as_json) out.json["tensors"] = std::move(list);
}

int run_info(const std::string& model, bool as_json, bool list_tensors) {
  std::unique_ptr<WeightSource> source = WeightSource::open(model);
  InfoFields out;
  add_file_info(*source, out);
  add_config_info(source->config(), out);
  add_tensor_info(*source, out);
  add_tokenizer_info(*source, out);
  if (as_json) {
    if (list_tensors) print_tensor_list(*source, out, true);
    std::printf("%s\n", out.json.dump(2).c_str());
    return 0;
  }
  for (const auto& [label, text] : out.lines)
    std::printf("%-16s %s\n", (label + ":").c_str(), text.c_str());
  if (list_tensors) {
    std::printf("tensors:\n");
    print_tensor_list(*source, out, false);
  }
  return 0;
}

const bool registered = register_command({
    "info",
    "Describe a model file: architecture, sizes, rope, tensor types",
    [](CLI::App& app) -> std::function<int()> {
      auto model = std::make_shared<std::string>();
      auto as_json = std::make_shared<bool>(false);
      auto tensors = std::make_shared<bool>(false);
      app.add_option("-m,--model", *model,
                     "Short name (smollm2-135m), .gguf file, or HF model folder")
          ->required();
      app.add_flag("--json", *as_json, "Print one JSON object");
      app.add_flag("--tensors", *tensors, "List every tensor");
      return [=] { return run_info(*model, *as_json, *tensors); };
    },
});

}  // namespace
}  // namespace tessera::cli
