// The tokenizer that goes with a model: from the GGUF metadata, or from
// tokenizer.json + tokenizer_config.json of an HF folder.
#pragma once

#include "tessera/model/weight_source.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera {

tokenizer::Tokenizer load_tokenizer(const WeightSource& source);
// Without loading weights: `model` as WeightSource::resolve reads it (a short
// name, a .gguf file, or a folder that needs only the tokenizer files).
tokenizer::Tokenizer load_tokenizer(const std::string& model);

}  // namespace tessera
