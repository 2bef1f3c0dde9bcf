// `tessera bench`: the group of benchmark subcommands (serve, and the
// engine's throughput/latency benchmarks from their own files).
#include <map>

#include "bench_command.h"

namespace tessera::cli {

namespace {
std::vector<Command>& bench_registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace

bool register_bench_command(Command command) {
  bench_registry().push_back(std::move(command));
  return true;
}
const std::vector<Command>& bench_commands() { return bench_registry(); }

namespace {
const bool registered =
    register_command({"bench", "Benchmarks (see `tessera bench --help`)", [](CLI::App& app) {
                        app.require_subcommand(1);
                        auto runners =
                            std::make_shared<std::map<CLI::App*, std::function<int()>>>();
                        for (const auto& cmd : bench_commands()) {
                          CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
                          (*runners)[sub] = cmd.setup(*sub);
                        }
                        return [runners]() -> int {
                          for (auto& [sub, run] : *runners)
                            if (sub->parsed()) return run();
                          return 2;
                        };
                      }});
}  // namespace

}  // namespace tessera::cli
