#include "tessera/template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessera::jinja {

namespace {

constexpr const char* kSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                          "pad_token", "cls_token", "mask_token"};

std::optional<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// transformers' reasoning field names; the first is what templates read.
constexpr const char* kReasoningFields[] = {"reasoning_content", "thinking", "reasoning"};

nlohmann::ordered_json alias_reasoning(const nlohmann::ordered_json& message) {
  const nlohmann::ordered_json* reasoning = nullptr;
  for (const char* field : kReasoningFields) {
    auto it = message.find(field);
    if (it != message.end() && !it->is_null()) {
      reasoning = &*it;
      break;
    }
  }
  if (!reasoning) return message;
  // {"thinking": r, **message, "reasoning_content": r}
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["thinking"] = *reasoning;
  for (const auto& [key, value] : message.items()) out[key] = value;
  out["thinking"] = message.contains("thinking") ? message["thinking"] : *reasoning;
  out["reasoning_content"] = *reasoning;
  return out;
}

}  // namespace

ChatTemplateSource chat_template_from_tokenizer_config(const nlohmann::ordered_json& config,
                                                       bool with_tools) {
  ChatTemplateSource out;
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null())
    fail(ErrorKind::kNotFound, "tokenizer_config.json has no chat_template");
  if (it->is_string()) {
    out.source = it->get<std::string>();
  } else if (it->is_array()) {
    std::optional<std::string> fallback, tool_use;
    for (const auto& entry : *it) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template")) continue;
      if (entry["name"] == "default") fallback = entry["template"].get<std::string>();
      if (entry["name"] == "tool_use") tool_use = entry["template"].get<std::string>();
    }
    if (with_tools && tool_use)
      out.source = *tool_use;
    else if (fallback)
      out.source = *fallback;
    else
      fail(ErrorKind::kNotFound, "tokenizer_config.json has no default chat_template");
  } else {
    fail(ErrorKind::kBadFile, "tokenizer_config.json: chat_template must be a string or a list");
  }
  for (const char* name : kSpecialTokens) {
    auto token = config.find(name);
    if (token == config.end()) continue;
    if (token->is_string())
      out.special_tokens[name] = *token;
    else if (token->is_object() && token->contains("content") && (*token)["content"].is_string())
      out.special_tokens[name] = (*token)["content"];
  }
  return out;
}

ChatTemplateSource load_hf_chat_template(const std::string& folder, bool with_tools) {
  namespace fs = std::filesystem;
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  if (auto text = read_text(fs::path(folder) / "tokenizer_config.json")) {
    try {
      config = nlohmann::ordered_json::parse(*text);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::kBadFile, "{}/tokenizer_config.json: {}", folder, e.what());
    }
  }
  if (auto jinja = read_text(fs::path(folder) / "chat_template.jinja")) {
    config["chat_template"] = *jinja;
  } else if (!config.contains("chat_template")) {
    fail(ErrorKind::kNotFound,
         "{} has no chat template (chat_template.jinja or "
         "tokenizer_config.json)",
         folder);
  }
  return chat_template_from_tokenizer_config(config, with_tools);
}

ChatTemplate::ChatTemplate(ChatTemplateSource source, const Limits& limits)
    : source_(std::move(source)), template_(source_.source, limits) {}

std::string ChatTemplate::apply(const ChatInputs& inputs, const RenderOptions& options) const {
  if (!inputs.messages.is_array())
    throw TemplateError(TemplateError::Reason::kRuntime, "messages must be a list");
  nlohmann::ordered_json context = source_.special_tokens;
  if (inputs.extra.is_object())
    for (const auto& [key, value] : inputs.extra.items()) context[key] = value;
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const auto& message : inputs.messages) {
    if (!message.is_object())
      throw TemplateError(TemplateError::Reason::kRuntime,
                          fmt::format("chat messages must be objects, got {}", message.dump()));
    messages.push_back(alias_reasoning(message));
  }
  context["messages"] = std::move(messages);
  context["tools"] = inputs.tools;
  context["documents"] = inputs.documents;
  context["add_generation_prompt"] = inputs.add_generation_prompt;
  return template_.render(context, options);
}

}  // namespace tessera::jinja
