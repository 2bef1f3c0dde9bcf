#include "tessera/engine/load_tokenizer.h"

#include <filesystem>

#include "tessera/formats/gguf.h"

namespace tessera {

tokenizer::Tokenizer load_tokenizer(const WeightSource& source) {
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
