#include "batch_generate.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {
namespace {

using nlohmann::json;

template <typename T>
void read_field(const json& j, const char* key, T& out, int line) {
  if (!j.contains(key) || j[key].is_null()) return;
  try {
    if constexpr (requires {
                    typename T::value_type;
                    out.has_value();
                  })
      out = j[key].get<typename T::value_type>();
    else
      out = j[key].get<T>();
  } catch (const json::exception&) {
    fail(ErrorKind::kInvalidArgument, "line {}: field '{}' has the wrong type", line, key);
  }
}

GenerateRequest parse_line(const json& j, const tokenizer::Tokenizer& tok, const BatchOptions& opt,
                           int line) {
  GenerateRequest req;
  if (j.contains("prompt") && j["prompt"].is_string())
    req.prompt_ids = tok.encode(j["prompt"].get<std::string>(), true);
  else if (j.contains("prompt_token_ids"))
    read_field(j, "prompt_token_ids", req.prompt_ids, line);
  else
    fail(ErrorKind::kInvalidArgument, "line {}: needs a string 'prompt' or 'prompt_token_ids'",
         line);
  SamplingParams& p = req.params;
  p.max_tokens = opt.default_max_tokens;
  p.temperature = opt.default_temperature;
  read_field(j, "max_tokens", p.max_tokens, line);
  read_field(j, "temperature", p.temperature, line);
  read_field(j, "top_p", p.top_p, line);
  read_field(j, "top_k", p.top_k, line);
  read_field(j, "min_p", p.min_p, line);
  read_field(j, "n", p.n, line);
  read_field(j, "seed", p.seed, line);
  read_field(j, "ignore_eos", p.ignore_eos, line);
  read_field(j, "min_tokens", p.min_tokens, line);
  read_field(j, "presence_penalty", p.presence_penalty, line);
  read_field(j, "frequency_penalty", p.frequency_penalty, line);
  read_field(j, "repetition_penalty", p.repetition_penalty, line);
  read_field(j, "logprobs", p.logprobs, line);
  read_field(j, "prompt_logprobs", p.prompt_logprobs, line);
  read_field(j, "stop_token_ids", p.stop_token_ids, line);
  if (j.contains("stop")) {
    if (j["stop"].is_string())
      p.stop = {j["stop"].get<std::string>()};
    else
      read_field(j, "stop", p.stop, line);
  }
  return req;
}

json logprob_json(const TokenLogprob& lp) {
  json top = json::array();
  for (const LogprobEntry& e : lp.top) top.push_back({e.token, e.logprob});
  return {{"token_id", lp.token}, {"logprob", lp.logprob}, {"top", top}};
}

void progress(size_t done, size_t total, int64_t tokens, double seconds) {
  const int width = 30;
  const int filled = total ? int(width * done / total) : width;
  std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu requests, %.1f output tok/s", filled,
               "##############################", width - filled, "", done, total,
               seconds > 0 ? double(tokens) / seconds : 0.0);
  std::fflush(stderr);
}

}  // namespace

int run_batch(const EngineConfig& config, const BatchOptions& opt) {
  std::ifstream in(opt.input);
  if (!in) fail(ErrorKind::kNotFound, "cannot open {}", opt.input);
  std::vector<json> lines;
  std::string text;
  for (int n = 1; std::getline(in, text); ++n) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      lines.push_back(json::parse(text));
    } catch (const json::exception& e) {
      fail(ErrorKind::kInvalidArgument, "{} line {}: not JSON ({})", opt.input, n, e.what());
    }
  }
  EngineConfig cfg = config;
  cfg.max_waiting_requests = std::max<int>(cfg.max_waiting_requests, int(lines.size()) + 1);
  auto engine = Engine::create(cfg);

  std::vector<GenerateRequest> requests;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (size_t i = 0; i < lines.size(); ++i) {
    requests.push_back(parse_line(lines[i], engine->tokenizer(), opt, int(i + 1)));
    handles.push_back(engine->submit(requests.back()));
  }

  std::FILE* out = opt.output.empty() ? stdout : std::fopen(opt.output.c_str(), "w");
  if (!out) fail(ErrorKind::kNotFound, "cannot write {}", opt.output);
  const auto start = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  for (size_t i = 0; i < handles.size(); ++i) {
    RequestOutput all;
    while (auto o = handles[i]->next()) {
      tokens -= all.num_generated_tokens;
      merge_output(all, std::move(*o));
      tokens += all.num_generated_tokens;
    }
    json choices = json::array();
    std::sort(all.outputs.begin(), all.outputs.end(),
              [](auto& a, auto& b) { return a.index < b.index; });
    const bool want_logprobs = requests[i].params.logprobs.has_value();
    for (const auto& s : all.outputs) {
      json choice = {
          {"index", s.index},
          {"text", s.text},
          {"token_ids", s.token_ids},
          {"finish_reason", s.finish_reason ? finish_reason_name(*s.finish_reason) : nullptr}};
      if (want_logprobs) {
        json lps = json::array();
        for (const TokenLogprob& lp : s.logprobs) lps.push_back(logprob_json(lp));
        choice["logprobs"] = lps;
      }
      choices.push_back(choice);
    }
    json result = {{"id", lines[i].value("id", json(i))},
                   {"prompt_token_ids", requests[i].prompt_ids},
                   {"choices", choices},
                   {"usage",
                    {{"prompt_tokens", all.num_prompt_tokens},
                     {"completion_tokens", all.num_generated_tokens},
                     {"total_tokens", all.num_prompt_tokens + all.num_generated_tokens}}}};
    if (requests[i].params.prompt_logprobs) {
      json plp = json::array();
      for (const auto& lp : all.prompt_logprobs)
        plp.push_back(lp ? logprob_json(*lp) : json(nullptr));
      result["prompt_logprobs"] = plp;
    }
    std::fprintf(out, "%s\n", result.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    if (opt.progress)
      progress(i + 1, handles.size(), tokens,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (opt.progress) std::fputc('\n', stderr);
  if (out != stdout) std::fclose(out);
  return 0;
}

}  // namespace tessera::cli
