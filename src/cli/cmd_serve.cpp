// `tessera serve`: the OpenAI-compatible server (plus TGI routes) on the
// engine. The flags and the serving loop live in the server module
// (tessera/server/serve.h); this file wires them to the real engine.
#include "command.h"
#include "serve_engine_backend.h"
#include "tessera/server/serve.h"

namespace tessera::cli {

namespace {

int run_serve(server::ServeOptions& options) {
  server::finish_serve_options(options);
  // Block SIGINT/SIGTERM before the engine starts its threads, so that
  // only the serving loop sees them and shuts down in order.
  server::ShutdownSignals signals;
  std::unique_ptr<server::ServingBackend> backend = make_engine_backend(options);
  return server::run_server(options, *backend, signals);
}

const bool registered = register_command(
    {"serve", "OpenAI-compatible HTTP server (plus TGI routes) for a model", [](CLI::App& app) {
       auto options = std::make_shared<server::ServeOptions>();
       server::add_serve_flags(app, *options);
       return [options] { return run_serve(*options); };
     }});

}  // namespace
}  // namespace tessera::cli
