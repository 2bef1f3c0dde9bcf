// A model's chat template and the render call transformers'
// apply_chat_template makes: messages, tools, documents,
// add_generation_prompt, the tokenizer's special tokens and extra
// variables (chat_template_kwargs).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "tessera/template/template.h"

namespace tessera::jinja {

struct ChatTemplateSource {
  std::string source;  // Jinja2 text
  // Special tokens as template variables: {"bos_token": "<s>", "eos_token": "</s>", ...}.
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
};

// From a tokenizer_config.json object: `chat_template` is a string, or a
// list of {"name", "template"} (then "tool_use" when `with_tools` and
// present, else "default"). Special tokens may be strings or AddedToken
// objects ({"content": ...}). Throws Error(kNotFound) without a template.
ChatTemplateSource chat_template_from_tokenizer_config(const nlohmann::ordered_json& config,
                                                       bool with_tools = false);

// From a Hugging Face model folder: chat_template.jinja if present (what
// transformers saves), else tokenizer_config.json's chat_template; special
// tokens from tokenizer_config.json.
ChatTemplateSource load_hf_chat_template(const std::string& folder, bool with_tools = false);

struct ChatInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null, or a list of tool definitions
  nlohmann::ordered_json documents;  // null, or a list of documents
  bool add_generation_prompt = false;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more variables
};

class ChatTemplate {
 public:
  explicit ChatTemplate(ChatTemplateSource source, const Limits& limits = {});

  // Renders like apply_chat_template(messages, tools=..., documents=...,
  // add_generation_prompt=..., **extra): messages must be objects; a
  // message's reasoning ("reasoning_content", "thinking" or "reasoning")
  // is passed under both "thinking" and "reasoning_content"; `extra`
  // overrides the special tokens. Throws TemplateError.
  std::string apply(const ChatInputs& inputs, const RenderOptions& options = {}) const;

  const ChatTemplateSource& source() const { return source_; }

 private:
  ChatTemplateSource source_;
  Template template_;
};

}  // namespace tessera::jinja
