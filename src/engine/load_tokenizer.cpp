#include "tessera/engine/load_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include "tessera/formats/gguf.h"
#include "tessera/tokenizer/byte_level.h"

namespace tessera {

tokenizer::TokenizerSpec placeholder_tokenizer_spec(int64_t vocab_size) {
  using tokenizer::TokenType;
  tokenizer::TokenizerSpec spec;
  spec.model = tokenizer::ModelKind::kByteLevelBpe;
  spec.pre_name = "dummy";
  const int64_t n = std::max<int64_t>(vocab_size, 2);
  spec.tokens.reserve(size_t(n));
  spec.token_types.reserve(size_t(n));
  const auto& alphabet = tokenizer::byte_level_alphabet();
  for (int64_t id = 0; id < n - 1; ++id) {
    if (id < 256) {
      spec.tokens.push_back(alphabet[size_t(id)]);
      spec.token_types.push_back(TokenType::kNormal);
    } else {
      spec.tokens.push_back("<|dummy_" + std::to_string(id) + "|>");
      spec.token_types.push_back(TokenType::kUserDefined);
    }
  }
  spec.tokens.push_back("<|dummy_eos|>");
  spec.token_types.push_back(TokenType::kControl);
  spec.eos_id = int32_t(n - 1);
  spec.eos_token = spec.tokens.back();
  return spec;
}

tokenizer::Tokenizer load_tokenizer(const WeightSource& source) {
  if (source.format() == WeightSource::Format::kDummy)
    return tokenizer::Tokenizer(placeholder_tokenizer_spec(source.config().vocab_size));
  if (auto gguf = source.gguf_file()) return tokenizer::Tokenizer::from_gguf(*gguf);
  return tokenizer::Tokenizer::from_hf_folder(source.hf_folder());
}

tokenizer::Tokenizer load_tokenizer(const std::string& model) {
  const std::string path = WeightSource::resolve(model);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return tokenizer::Tokenizer::from_hf_folder(path);
  return tokenizer::Tokenizer::from_gguf(*gguf::File::open(path));
}

}  // namespace tessera
