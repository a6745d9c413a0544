// torc: a workflow manager on top of Slurm allocations.
#include <CLI/CLI.hpp>

#include "cmd/commands.h"

#include <iostream>

#include <unistd.h>

namespace torc::cmd {
std::string CurrentDirectory() {
  char buf[4096];
  return getcwd(buf, sizeof buf) ? std::string(buf) : std::string(".");
}
}  // namespace torc::cmd

int main(int argc, char** argv) {
  CLI::App app{"torc: run workflows of many jobs on Slurm allocations or on this machine"};
  app.set_version_flag("--version", std::string("torc ") + TORC_VERSION);
  app.require_subcommand(1);
  // Usage errors are one line too, like every other error.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("torc: ") + e.what() + " (see --help)\n";
  });
  torc::cmd::AddSpecCommands(app);
  torc::cmd::AddClientCommands(app);
  torc::cmd::AddRunCommands(app);
  torc::cmd::AddReportCommands(app);
  torc::cmd::AddMonitorCommands(app);
  torc::cmd::AddJobCommands(app);
  torc::cmd::AddEventCommands(app);
  torc::cmd::AddDocCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // a bug, but still one line, never a dump
    std::cerr << "torc: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
