// `tessera chat`: an interactive terminal chat with a model, using the
// model's own chat template. Replies stream as they are generated; /reset
// starts over, /exit (or end of input) quits.
#include <unistd.h>
#include <cstdio>
#include <iostream>
#include <string>

#include "command.h"
#include "engine_flags.h"
#include "model_chat_template.h"
#include "tessera/core/error.h"
#include "tessera/engine/engine.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {
namespace {

struct ChatFlags {
  EngineFlags engine;
  std::string system;
  std::string chat_template;
  int max_tokens = 512;
  float temperature = 0.7f;
  float top_p = 0.9f;
  int top_k = 0;
  float repetition_penalty = 1.0f;
  std::optional<int64_t> seed;
};

nlohmann::ordered_json fresh_history(const ChatFlags& f) {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!f.system.empty()) messages.push_back({{"role", "system"}, {"content", f.system}});
  return messages;
}

int run_chat(const ChatFlags& f) {
  auto engine = Engine::create(engine_config(f.engine));
  const tokenizer::Tokenizer& tok = engine->tokenizer();
  auto tmpl = model_chat_template(tok, f.chat_template);
  if (!tmpl)
    fail(ErrorKind::kInvalidArgument,
         "the model has no chat template; give one with --chat-template FILE");
  const bool interactive = isatty(fileno(stdin));
  if (interactive)
    std::fprintf(stderr, "chatting with %s; /reset starts over, /exit quits\n",
                 engine->model_name().c_str());
  nlohmann::ordered_json messages = fresh_history(f);
  std::string line;
  while (true) {
    if (interactive) std::fputs("\n> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line) || line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages = fresh_history(f);
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    jinja::ChatInputs inputs;
    inputs.messages = messages;
    inputs.add_generation_prompt = true;
    GenerateRequest req;
    // The template writes the special tokens itself; parse them as tokens.
    req.prompt_ids = tok.encode(tmpl->apply(inputs), /*add_special_tokens=*/false,
                                /*parse_special=*/true);
    req.params.max_tokens = f.max_tokens;
    req.params.temperature = f.temperature;
    req.params.top_p = f.top_p;
    req.params.top_k = f.top_k;
    req.params.repetition_penalty = f.repetition_penalty;
    req.params.seed = f.seed;
    std::string reply;
    try {
      auto handle = engine->submit(std::move(req));
      while (auto out = handle->next())
        for (const auto& seq : out->outputs) {
          std::fputs(seq.text.c_str(), stdout);
          std::fflush(stdout);
          reply += seq.text;
        }
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kInvalidArgument) throw;
      // The conversation outgrew the context: say so and start over.
      std::fprintf(stderr, "\n(%s; the conversation was reset)\n", e.what());
      messages = fresh_history(f);
      continue;
    }
    std::fputc('\n', stdout);
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

const bool registered = register_command({
    "chat",
    "Interactive chat in the terminal with the model's chat template",
    [](CLI::App& app) -> std::function<int()> {
      auto f = std::make_shared<ChatFlags>();
      add_engine_flags(app, f->engine);
      app.add_option("--system", f->system, "System prompt");
      app.add_option("--chat-template", f->chat_template,
                     "Template file (or text) instead of the model's own");
      app.add_option("-n,--max-tokens", f->max_tokens, "Most tokens per reply")
          ->capture_default_str();
      app.add_option("--temperature", f->temperature)->capture_default_str();
      app.add_option("--top-p", f->top_p)->capture_default_str();
      app.add_option("--top-k", f->top_k)->capture_default_str();
      app.add_option("--repetition-penalty", f->repetition_penalty)->capture_default_str();
      app.add_option("--seed", f->seed);
      return [f] { return run_chat(*f); };
    },
});

}  // namespace
}  // namespace tessera::cli
