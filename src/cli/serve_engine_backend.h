// The ServingBackend of `tessera serve`: the real Engine, its tokenizer and
// the model's chat template behind the interface the HTTP server uses.
#pragma once

#include <memory>

#include "tessera/server/backend.h"
#include "tessera/server/serve.h"

namespace tessera::cli {

// Loads the model (EngineConfig from the serve flags) and starts the
// engine. Error(kUnsupported) in a build without the engine modules.
std::unique_ptr<server::ServingBackend> make_engine_backend(const server::ServeOptions& options);

}  // namespace tessera::cli
