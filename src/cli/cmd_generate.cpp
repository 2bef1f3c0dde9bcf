// `tessera generate`: one prompt streamed to stdout, or a JSONL file of
// prompts run together through continuous batching (--input/--output).
#include <cstdio>
#include <memory>

#include "batch_generate.h"
#include "command.h"
#include "engine_flags.h"
#include "tessera/core/error.h"
#include "tessera/engine/engine.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {
namespace {

struct GenerateFlags {
  EngineFlags engine;
  std::string prompt;
  int max_tokens = 128;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  std::optional<int64_t> seed;
  bool ignore_eos = false;
  std::string input, output;
};

int run_single(const GenerateFlags& f) {
  auto engine = Engine::create(engine_config(f.engine));
  GenerateRequest req;
  req.prompt_ids = engine->tokenizer().encode(f.prompt, /*add_special_tokens=*/true);
  req.params.max_tokens = f.max_tokens;
  req.params.temperature = f.temperature;
  req.params.top_k = f.top_k;
  req.params.top_p = f.top_p;
  req.params.min_p = f.min_p;
  req.params.repetition_penalty = f.repetition_penalty;
  req.params.seed = f.seed;
  req.params.ignore_eos = f.ignore_eos;
  auto handle = engine->submit(std::move(req));
  std::fputs(f.prompt.c_str(), stdout);
  std::fflush(stdout);
  while (auto out = handle->next()) {
    for (const auto& seq : out->outputs) std::fputs(seq.text.c_str(), stdout);
    std::fflush(stdout);
  }
  std::fputc('\n', stdout);
  return 0;
}

const bool registered = register_command({
    "generate",
    "Generate text from a prompt, or from a JSONL file of prompts",
    [](CLI::App& app) -> std::function<int()> {
      auto f = std::make_shared<GenerateFlags>();
      add_engine_flags(app, f->engine);
      app.add_option("-p,--prompt", f->prompt, "Prompt text (raw, no chat template)");
      app.add_option("-n,--max-tokens", f->max_tokens, "Tokens to generate")->capture_default_str();
      app.add_option("--temperature", f->temperature, "0 = greedy")->capture_default_str();
      app.add_option("--top-k", f->top_k, "0 = off")->capture_default_str();
      app.add_option("--top-p", f->top_p)->capture_default_str();
      app.add_option("--min-p", f->min_p)->capture_default_str();
      app.add_option("--repetition-penalty", f->repetition_penalty)->capture_default_str();
      app.add_option("--seed", f->seed, "Seed for sampling (reproducible output)");
      app.add_flag("--ignore-eos", f->ignore_eos, "Keep generating past end-of-sequence");
      app.add_option("--input", f->input, "JSONL file of prompts (batch mode)");
      app.add_option("--output", f->output, "JSONL results file (batch mode; default stdout)");
      return [f] {
        if (!f->input.empty()) {
          BatchOptions opts;
          opts.input = f->input;
          opts.output = f->output;
          opts.default_max_tokens = f->max_tokens;
          opts.default_temperature = f->temperature;
          return run_batch(engine_config(f->engine), opts);
        }
        if (f->prompt.empty())
          fail(ErrorKind::kInvalidArgument, "give a prompt with -p TEXT, or --input FILE.jsonl");
        return run_single(*f);
      };
    },
});

}  // namespace
}  // namespace tessera::cli
