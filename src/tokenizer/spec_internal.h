// Shared between the spec readers (GGUF, HF).
#pragma once

#include <string_view>

#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {

// Sets the pre-tokenizer and the options that go with a GGUF pre name.
void apply_gguf_pre(std::string_view pre, TokenizerSpec& spec);

}  // namespace tessera::tokenizer
