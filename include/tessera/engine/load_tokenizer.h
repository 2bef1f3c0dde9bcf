// The tokenizer that goes with a model: from the GGUF metadata, or from
// tokenizer.json + tokenizer_config.json of an HF folder. Dummy-weight
// models have no tokenizer files: they get a placeholder vocabulary.
#pragma once

#include <cstdint>

#include "tessera/model/weight_source.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera {

// A stand-in for models without tokenizer files (--load-format dummy):
// `vocab_size` ids, the first 256 the byte-level bytes (so any text
// encodes, one token per byte), the rest plain-text placeholders
// "<|dummy_N|>", the last one "<|dummy_eos|>" as end of sequence. Enough for
// benchmarks that feed token ids; the text it decodes means nothing.
tokenizer::TokenizerSpec placeholder_tokenizer_spec(int64_t vocab_size);

tokenizer::Tokenizer load_tokenizer(const WeightSource& source);
// Without loading weights: `model` as WeightSource::resolve reads it (a short
// name, a .gguf file, or a folder that needs only the tokenizer files).
tokenizer::Tokenizer load_tokenizer(const std::string& model);

}  // namespace tessera
