// What tokenizer.ggml.pre names mean: the pre-tokenizer of the HF
// tokenizer.json the GGUF was converted from, written as our steps. The
// patterns are those the published tokenizer.json files carry.
#include <string>

#include "spec_internal.h"
#include "tessera/core/error.h"
#include "tessera/tokenizer/pre_tokenizer.h"
#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {
namespace {

// Llama 3: case-insensitive contractions, numbers in runs of up to 3 digits.
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but every digit on its own.
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

PreTokenizerStep split(const char* pattern) {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::kSplit;
  s.pattern = pattern;
  return s;
}

PreTokenizerStep byte_level(bool use_regex) {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::kByteLevel;
  s.use_regex = use_regex;
  return s;
}

enum class Preset { kGpt2, kDigitsThenGpt2, kLlama3, kQwen2 };

struct Named {
  const char* name;
  Preset preset;
};

// Several converters wrote different names for one pipeline.
constexpr Named kNames[] = {
    {"default", Preset::kGpt2},
    {"gpt2", Preset::kGpt2},
    {"gpt-2", Preset::kGpt2},
    {"mpt", Preset::kGpt2},
    {"olmo", Preset::kGpt2},
    {"phi-2", Preset::kGpt2},
    {"stablelm2", Preset::kGpt2},
    {"smollm", Preset::kDigitsThenGpt2},
    {"starcoder", Preset::kDigitsThenGpt2},
    {"refact", Preset::kDigitsThenGpt2},
    {"codeshell", Preset::kDigitsThenGpt2},
    {"llama3", Preset::kLlama3},
    {"llama-bpe", Preset::kLlama3},
    {"llama-v3", Preset::kLlama3},
    {"smaug-bpe", Preset::kLlama3},
    {"dbrx", Preset::kLlama3},
    {"qwen2", Preset::kQwen2},
};

const Named* find_preset(std::string_view pre) {
  for (const Named& n : kNames)
    if (pre == n.name) return &n;
  fail(ErrorKind::kUnsupported, "unsupported tokenizer pre-tokenizer '{}'", pre);
}

}  // namespace

std::vector<PreTokenizerStep> pre_tokenizer_for_gguf_pre(std::string_view pre) {
  switch (find_preset(pre)->preset) {
    case Preset::kGpt2:
      return {byte_level(true)};
    case Preset::kDigitsThenGpt2:
      // HF: Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)].
      return {split(R"(\p{N})"), byte_level(true)};
    case Preset::kLlama3:
      return {split(kLlama3Pattern), byte_level(false)};
    case Preset::kQwen2:
      return {split(kQwen2Pattern), byte_level(false)};
  }
  fail(ErrorKind::kInternal, "unhandled pre-tokenizer preset");
}

void apply_gguf_pre(std::string_view pre, TokenizerSpec& spec) {
  spec.pre_tokenizer = pre_tokenizer_for_gguf_pre(pre);
  const Preset preset = find_preset(pre)->preset;
  // Llama 3's tokenizer.json sets ignore_merges; Qwen2's normalizes to NFC.
  spec.ignore_merges = preset == Preset::kLlama3;
  if (preset == Preset::kQwen2) spec.normalization = Normalization::kNfc;
}

std::vector<std::string> known_gguf_pre_names() {
  std::vector<std::string> names;
  for (const Named& n : kNames) names.emplace_back(n.name);
  return names;
}

}  // namespace tessera::tokenizer
