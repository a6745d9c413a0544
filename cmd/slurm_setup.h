// The Slurm setup the CLI writes into a workflow (`torc slurm generate`, `torc slurm plan`,
// `torc submit --slurm`): reads the cluster and runs spec/slurm/setup.h.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace torc::cmd {

/// The flags the three commands share.
struct SetupFlags {
  std::string account, partition;
  int64_t max_nodes = 0;
  double walltime_multiplier = 1.5;
  bool elastic = false;
  std::string cluster_file;  // read the cluster from here instead of scontrol
};

/// Adds --account, --partition, --max-nodes, --walltime-multiplier, --elastic, --cluster-file.
void AddSetupFlags(CLI::App* cmd, SetupFlags* flags);

/// The workflow file at `path` with the generated setup written in (YAML, or JSON when
/// `json`). Prints the file's errors, or what stops the setup, and exits 1 on failure.
/// *summary: one line per group for the user.
std::string GenerateSetupOrDie(const std::string& path, const SetupFlags& flags, bool json,
                               std::string* summary);

/// `torc slurm generate` and `torc slurm plan` (under `torc slurm`).
void AddSetupCommands(CLI::App* slurm);

}  // namespace torc::cmd
