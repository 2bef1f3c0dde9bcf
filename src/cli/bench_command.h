// `tessera bench <name>`: benchmarks register themselves here, one file
// each (cmd_bench_<name>.cpp), the same way top-level commands do in
// command.h; cmd_bench.cpp turns them into subcommands of `bench`.
#pragma once

#include "command.h"

namespace tessera::cli {

bool register_bench_command(Command command);
const std::vector<Command>& bench_commands();

}  // namespace tessera::cli
