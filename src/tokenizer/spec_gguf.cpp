// TokenizerSpec from GGUF metadata, the keys llama.cpp-style converters
// write (tokenizer.ggml.*, tokenizer.chat_template).
#include "spec_internal.h"
#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"
#include "tessera/tokenizer/tokenizer.h"
#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {
namespace {

int32_t id_or_none(const gguf::File& file, const std::string& key, size_t vocab) {
  const auto id = file.get_int(key);
  if (!id) return -1;
  if (*id < 0 || static_cast<size_t>(*id) >= vocab)
    fail(ErrorKind::kBadFile, "{} = {} is outside the vocabulary of {} tokens", key, *id, vocab);
  return static_cast<int32_t>(*id);
}

}  // namespace

TokenizerSpec spec_from_gguf(const gguf::File& file) {
  TokenizerSpec spec;
  const std::string model = file.get_string("tokenizer.ggml.model").value_or("");
  if (model == "gpt2") {
    spec.model = ModelKind::kByteLevelBpe;
  } else if (model == "llama") {
    spec.model = ModelKind::kSentencePieceBpe;
  } else if (model.empty()) {
    fail(ErrorKind::kBadFile, "GGUF file has no tokenizer (tokenizer.ggml.model missing)");
  } else {
    fail(ErrorKind::kUnsupported, "unsupported tokenizer model '{}'", model);
  }

  spec.tokens = file.get_string_array("tokenizer.ggml.tokens");
  const size_t n = spec.tokens.size();
  if (n == 0) fail(ErrorKind::kBadFile, "GGUF tokenizer.ggml.tokens is missing or empty");
  const auto types = file.get_int_array("tokenizer.ggml.token_type");
  if (!types.empty() && types.size() != n)
    fail(ErrorKind::kBadFile, "tokenizer.ggml.token_type has {} entries for {} tokens",
         types.size(), n);
  for (int64_t t : types)
    spec.token_types.push_back(t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kNormal);
  for (double s : file.get_float_array("tokenizer.ggml.scores"))
    spec.scores.push_back(static_cast<float>(s));
  for (const std::string& m : file.get_string_array("tokenizer.ggml.merges")) {
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos)
      fail(ErrorKind::kBadFile, "GGUF merge '{}' is not two tokens separated by a space", m);
    spec.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }

  spec.bos_id = id_or_none(file, "tokenizer.ggml.bos_token_id", n);
  spec.eos_id = id_or_none(file, "tokenizer.ggml.eos_token_id", n);
  spec.unk_id = id_or_none(file, "tokenizer.ggml.unknown_token_id", n);
  spec.pad_id = id_or_none(file, "tokenizer.ggml.padding_token_id", n);
  const bool spm = spec.model == ModelKind::kSentencePieceBpe;
  spec.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(spm);
  spec.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  spec.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
  spec.chat_template = file.get_string("tokenizer.chat_template").value_or("");
  if (spec.bos_id >= 0) spec.bos_token = spec.tokens[spec.bos_id];
  if (spec.eos_id >= 0) spec.eos_token = spec.tokens[spec.eos_id];

  if (spm) {
    spec.pre_name = "sentencepiece";
    for (TokenType t : spec.token_types)
      spec.byte_fallback = spec.byte_fallback || t == TokenType::kByte;
  } else {
    spec.pre_name = file.get_string("tokenizer.ggml.pre").value_or("default");
    apply_gguf_pre(spec.pre_name, spec);
  }

  // Control and unknown tokens are special (matched only when parsing
  // special tokens); user-defined ones are matched in any text.
  for (size_t id = 0; id < spec.token_types.size(); ++id) {
    const TokenType t = spec.token_types[id];
    if (t != TokenType::kControl && t != TokenType::kUserDefined && t != TokenType::kUnknown)
      continue;
    AddedToken added;
    added.id = static_cast<int32_t>(id);
    added.content = spec.tokens[id];
    added.special = t != TokenType::kUserDefined;
    if (spm && !added.special) {  // user-defined SentencePiece pieces spell spaces as "▁"
      std::string plain;
      for (size_t i = 0; i < added.content.size(); ++i) {
        if (added.content.compare(i, 3, "\xE2\x96\x81") == 0) {
          plain += ' ';
          i += 2;
        } else {
          plain += added.content[i];
        }
      }
      added.content = plain;
    }
    spec.added_tokens.push_back(std::move(added));
  }
  return spec;
}

// Here rather than in tokenizer.cpp so that only users of GGUF link the reader.
Tokenizer Tokenizer::from_gguf(const gguf::File& file) { return Tokenizer(spec_from_gguf(file)); }

}  // namespace tessera::tokenizer
