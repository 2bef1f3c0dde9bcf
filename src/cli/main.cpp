// The `tessera` binary: parses the subcommand, runs it, and turns errors
// into a one-line message and an exit code (2 for bad input, 1 otherwise).
#include <cstdio>
#include <map>

#include "command.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"

namespace tessera::cli {

static std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}
const std::vector<Command>& commands() { return registry(); }

}  // namespace tessera::cli

int main(int argc, char** argv) {
  using namespace tessera;
  CLI::App app{"tessera: LLM inference and serving engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tessera 0.1.0");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging");

  std::map<CLI::App*, std::function<int()>> runners;
  for (const auto& cmd : cli::commands()) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    runners[sub] = cmd.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  init_logging(verbose);
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    switch (e.kind()) {
      case ErrorKind::kInvalidArgument:
      case ErrorKind::kNotFound:
      case ErrorKind::kBadFile:
      case ErrorKind::kUnsupported:
        return 2;
      default:
        return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
