#include "model_chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessera::cli {
namespace {

std::string read_template_flag(const std::string& flag) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(flag, ec)) {
    std::ifstream in(flag);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  return flag;  // the template text itself
}

}  // namespace

std::unique_ptr<jinja::ChatTemplate> model_chat_template(const tokenizer::Tokenizer& tok,
                                                         const std::string& override_template) {
  jinja::ChatTemplateSource source;
  source.source =
      override_template.empty() ? tok.chat_template() : read_template_flag(override_template);
  if (source.source.empty()) return nullptr;
  source.special_tokens = {{"bos_token", tok.spec().bos_token},
                           {"eos_token", tok.spec().eos_token}};
  return std::make_unique<jinja::ChatTemplate>(std::move(source));
}

}  // namespace tessera::cli
