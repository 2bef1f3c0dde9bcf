// Subcommands register themselves here, one file each (cmd_<name>.cpp), so
// adding a command touches no other file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace tessera::cli {

struct Command {
  std::string name;
  std::string description;
  // Adds the subcommand's flags; returns the function that runs it (exit code).
  std::function<std::function<int()>(CLI::App&)> setup;
};

bool register_command(Command command);
const std::vector<Command>& commands();

}  // namespace tessera::cli
