// Logging goes to stderr through spdlog; stdout is kept for program output.
#pragma once

#include <spdlog/spdlog.h>

namespace tessera {

void init_logging(bool verbose);

}  // namespace tessera
