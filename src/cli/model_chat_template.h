// The chat template that goes with a model's tokenizer (GGUF
// tokenizer.chat_template or tokenizer_config.json), with its special tokens
// as template variables. An explicit template (a file path or the text
// itself) overrides it.
#pragma once

#include <memory>
#include <string>

#include "tessera/template/chat_template.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {

// Null when the model has no template and none was given.
std::unique_ptr<jinja::ChatTemplate> model_chat_template(const tokenizer::Tokenizer& tok,
                                                         const std::string& override_template = "");

}  // namespace tessera::cli
