#include "tessera/engine/load_tokenizer.h"

#include "tessera/formats/gguf.h"

namespace tessera {

tokenizer::Tokenizer load_tokenizer(const WeightSource& source) {
  if (auto gguf = source.gguf_file()) return tokenizer::Tokenizer::from_gguf(*gguf);
  return tokenizer::Tokenizer::from_hf_folder(source.hf_folder());
}

}  // namespace tessera
