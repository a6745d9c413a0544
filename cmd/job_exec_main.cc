// torc-job-exec: `torc job-exec` as an executable of its own. A slurm-mode step starts it once per
// job on each of the job's nodes; it loads a few libraries where `torc` loads sixteen and its
// whole command tree (docs/benchmarks.md, "Session 17"). The worker uses it when it sits beside
// the torc binary, and `torc job-exec` otherwise (worker/command.h, JobExecArgs).
#include <CLI/CLI.hpp>

#include <iostream>

#include "cmd/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"torc-job-exec: run a job's command in a Slurm step and measure it (internal; "
               "docs/worker.md)"};
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("torc-job-exec: ") + e.what() + " (see --help)\n";
  });
  torc::cmd::DefineJobExecOptions(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {  // a bug, but still one line
    std::cerr << "torc-job-exec: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
