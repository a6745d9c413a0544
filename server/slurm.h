// The one seam through which torc talks to Slurm's commands (sbatch, squeue,
// scancel). Their paths come from TORC_SBATCH / TORC_SQUEUE / TORC_SCANCEL
// (default: found on PATH), so tests can put recording fakes in front, and
// the integration tests run the real ones on a local cluster.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace torc::server {

struct SlurmPaths {
  std::string sbatch = "sbatch", squeue = "squeue", scancel = "scancel", srun = "srun";
  /// Defaults overridden by TORC_SBATCH, TORC_SQUEUE, TORC_SCANCEL, TORC_SRUN.
  static SlurmPaths FromEnvironment();
};

/// Runs argv and captures its output (stdout + stderr); returns the exit code,
/// or -1 when it could not start. Uses posix_spawn (safe in a threaded server).
int RunCommand(const std::vector<std::string>& argv, std::string* output, int timeout_seconds = 60);

class SlurmClient {
 public:
  explicit SlurmClient(SlurmPaths paths) : paths_(std::move(paths)) {}
  /// sbatch --parsable SCRIPT; the Slurm job id, or false with *error.
  bool Submit(const std::string& script_path, std::string* job_id, std::string* error);
  /// scancel of several jobs in one call.
  bool Cancel(const std::vector<std::string>& job_ids, std::string* error);
  /// One squeue call for all the ids: id -> state (PENDING, RUNNING, ...);
  /// ids Slurm no longer knows are absent.
  bool Query(const std::vector<std::string>& job_ids, std::map<std::string, std::string>* states,
             std::string* error);
  const SlurmPaths& paths() const { return paths_; }

 private:
  SlurmPaths paths_;
};

}  // namespace torc::server
