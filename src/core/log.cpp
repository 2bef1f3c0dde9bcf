#include "tessera/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace tessera {

void init_logging(bool verbose) {
  auto logger = spdlog::stderr_color_mt("tessera");
  logger->set_pattern("%^[%H:%M:%S.%e %L]%$ %v");
  logger->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace tessera
