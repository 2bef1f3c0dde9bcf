// `tessera render-template`: renders a chat template with a JSON context,
// printing exactly the rendered text (no trailing newline added) or a
// one-line error with exit code 2.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"
#include "tessera/template/chat_template.h"
#include "tessera/template/template.h"

namespace tessera::cli {

namespace {

struct RenderTemplateOptions {
  std::string template_path;
  std::string model_path;
  std::string context_path;
  std::string now;
};

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "cannot open {} '{}'", what, path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "2024-07-26" or "2024-07-26T13:45:00" (local time, as strftime_now sees it).
std::tm parse_now(const std::string& text) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int fields = std::sscanf(text.c_str(), "%d-%d-%d%*[T ]%d:%d:%d", &year, &month, &day, &hour,
                           &minute, &second);
  if (fields != 3 && fields != 6)
    fail(ErrorKind::kInvalidArgument, "--now wants YYYY-MM-DD[THH:MM:SS], got '{}'", text);
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  // Normalize and fill in the weekday and day of the year.
  std::time_t t = timegm(&tm);
  std::tm normalized{};
  gmtime_r(&t, &normalized);
  return normalized;
}

// GGUF: tokenizer.chat_template, and the special tokens' text from the
// vocabulary (what transformers' special_tokens_map holds for a GGUF model).
jinja::ChatTemplateSource load_gguf_chat_template(const std::string& path) {
  auto file = gguf::File::open(path);
  std::optional<std::string> source = file->get_string("tokenizer.chat_template");
  if (!source) fail(ErrorKind::kNotFound, "'{}' has no tokenizer.chat_template", path);
  jinja::ChatTemplateSource out;
  out.source = *source;
  const gguf::Value* tokens = file->find("tokenizer.ggml.tokens");
  const gguf::Array* vocabulary = tokens ? tokens->as_array() : nullptr;
  for (const char* name : {"bos", "eos", "unk", "pad"}) {
    std::optional<int64_t> id = file->get_int(fmt::format("tokenizer.ggml.{}_token_id", name));
    if (!id || !vocabulary || *id < 0 || static_cast<size_t>(*id) >= vocabulary->size()) continue;
    if (const std::string* text = (*vocabulary)[*id].as_string())
      out.special_tokens[fmt::format("{}_token", name)] = *text;
  }
  return out;
}

// The template and special tokens a model carries: an HF folder's
// tokenizer files, or a GGUF file's metadata.
jinja::ChatTemplateSource load_model_chat_template(const std::string& path) {
  if (std::filesystem::is_directory(path)) return jinja::load_hf_chat_template(path);
  return load_gguf_chat_template(path);
}

std::string one_line(std::string message) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  return message;
}

int render(const RenderTemplateOptions& opts) {
  try {
    if (opts.template_path.empty() == opts.model_path.empty())
      fail(ErrorKind::kInvalidArgument, "give exactly one of --template FILE or -m MODEL");
    nlohmann::ordered_json context;
    try {
      context = nlohmann::ordered_json::parse(read_file(opts.context_path, "context file"));
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::kInvalidArgument, "context file '{}' is not valid JSON: {}",
           opts.context_path, e.what());
    }
    if (!context.is_object())
      fail(ErrorKind::kInvalidArgument, "context file '{}' must hold a JSON object",
           opts.context_path);
    std::string source;
    if (!opts.template_path.empty()) {
      source = read_file(opts.template_path, "template");
    } else {
      jinja::ChatTemplateSource model = load_model_chat_template(opts.model_path);
      source = model.source;
      // The model's special tokens, unless the context sets them.
      for (const auto& [name, token] : model.special_tokens.items())
        if (!context.contains(name)) context[name] = token;
    }
    jinja::RenderOptions options;
    std::string now = opts.now;
    if (now.empty())
      if (const char* env = std::getenv("TESSERA_TEMPLATE_NOW")) now = env;
    if (!now.empty()) options.now = parse_now(now);
    jinja::Template tmpl(source, options.limits);
    std::string text = tmpl.render(context, options);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", one_line(e.what()).c_str());
    return 2;
  }
}

const bool registered = register_command({
    "render-template",
    "Render a chat template (Jinja2, as transformers does) with a JSON context",
    [](CLI::App& app) -> std::function<int()> {
      auto opts = std::make_shared<RenderTemplateOptions>();
      auto* source = app.add_option_group("source", "where the template comes from");
      source->add_option("--template", opts->template_path, "Template file (.jinja)");
      source->add_option("-m,--model", opts->model_path,
                         "Model (GGUF file or HF folder): its own template and special tokens");
      source->require_option(1);
      app.add_option("--context", opts->context_path,
                     "JSON object of template variables (messages, tools, "
                     "add_generation_prompt, bos_token, ...)")
          ->required();
      app.add_option("--now", opts->now,
                     "Date strftime_now() sees, YYYY-MM-DD[THH:MM:SS] (default: "
                     "$TESSERA_TEMPLATE_NOW, else the current time)");
      return [opts] { return render(*opts); };
    },
});

}  // namespace

}  // namespace tessera::cli
