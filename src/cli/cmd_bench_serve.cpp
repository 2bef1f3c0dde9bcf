// `tessera bench serve --url URL --request-rate R --num-prompts N`: load an
// OpenAI-compatible server and report TTFT/TPOT/ITL percentiles and
// throughput (tessera/server/bench_serve.h).
#include <cstdio>
#include <fstream>

#include "bench_command.h"
#include "tessera/core/error.h"
#include "tessera/server/bench_serve.h"

namespace tessera::cli {

namespace {

int run(const server::BenchServeOptions& options, const std::string& result_json) {
  server::BenchServeResult result = server::run_bench_serve(options);
  nlohmann::json summary = server::bench_summary(result, options);
  std::fputs(server::format_bench_report(summary).c_str(), stdout);
  if (!result_json.empty()) {
    std::ofstream out(result_json);
    if (!out) fail(ErrorKind::kNotFound, "cannot write {}", result_json);
    out << summary.dump(2) << "\n";
  }
  return summary["completed"].get<int>() > 0 ? 0 : 1;
}

const bool registered = register_bench_command(
    {"serve", "Benchmark an OpenAI-compatible server (TTFT, TPOT, ITL, throughput)",
     [](CLI::App& app) {
       auto options = std::make_shared<server::BenchServeOptions>();
       auto result_json = std::make_shared<std::string>();
       app.add_option("--url", options->url, "Server base URL")->capture_default_str();
       app.add_option("--endpoint", options->endpoint, "/v1/completions or /v1/chat/completions")
           ->capture_default_str();
       app.add_option("--model", options->model, "Model name (default: the server's first)");
       app.add_option("--api-key", options->api_key, "Bearer key (default: $OPENAI_API_KEY)")
           ->envname("OPENAI_API_KEY");
       app.add_option("--request-rate", options->request_rate,
                      "Requests per second, Poisson arrivals (default inf: all at once)");
       app.add_option("--num-prompts", options->num_prompts, "Requests to send")
           ->capture_default_str();
       app.add_option("--max-concurrency", options->max_concurrency,
                      "Most requests in flight (0: no limit)");
       app.add_option("--input-len", options->input_len, "Random prompt length in words")
           ->capture_default_str();
       app.add_option("--output-len", options->output_len, "max_tokens per request")
           ->capture_default_str();
       app.add_flag("!--no-ignore-eos", options->ignore_eos,
                    "Let requests stop at end-of-sequence (default: exactly --output-len tokens)");
       app.add_option("--prompt-file", options->prompt_file, "Prompts, one per line");
       app.add_option("--seed", options->seed, "Seed for prompts and arrivals");
       app.add_option("--percentiles", options->percentiles, "Percentiles to report")
           ->capture_default_str();
       app.add_option("--timeout", options->timeout_s, "Seconds per request")
           ->capture_default_str();
       app.add_option("--result-json", *result_json, "Also write the summary as JSON here");
       return [options, result_json] { return run(*options, *result_json); };
     }});

}  // namespace
}  // namespace tessera::cli
