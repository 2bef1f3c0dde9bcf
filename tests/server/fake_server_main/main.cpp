// tessera_fake_server: `tessera serve` on the fake engine (fake_engine.h),
// so the Python server suites can run without a model. Takes every
// `tessera serve` flag plus --step-ms (engine step time).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "../fake_engine.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"
#include "tessera/server/serve.h"

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{"tessera serve on a fake engine (for tests)"};
  server::ServeOptions options;
  options.max_num_seqs = 256;
  options.max_model_len = 2048;
  server::add_serve_flags(app, options);
  double step_ms = 2.0;
  app.add_option("--step-ms", step_ms, "Fake engine step time in ms")->capture_default_str();
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  CLI11_PARSE(app, argc, argv);
  init_logging(verbose);
  try {
    server::finish_serve_options(options);
    server::ShutdownSignals signals;  // before the engine thread starts
    server::testing::FakeEngineConfig config;
    if (!options.model.empty()) config.model_name = options.model;
    config.max_num_seqs = options.max_num_seqs;
    config.max_waiting_requests = options.max_waiting_requests;
    config.max_model_len = options.max_model_len > 0 ? options.max_model_len : 2048;
    config.block_size = options.block_size;
    config.seed = options.seed;
    config.step_time = std::chrono::microseconds(static_cast<int64_t>(step_ms * 1000));
    server::testing::FakeEngine engine(config);
    return server::run_server(options, engine, signals);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.kind() == ErrorKind::kInvalidArgument ? 2 : 1;
  }
}
