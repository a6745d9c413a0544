// The one seam through which torc talks to Slurm's commands (sbatch, squeue,
// scancel). Their paths come from TORC_SBATCH / TORC_SQUEUE / TORC_SCANCEL
// (default: found on PATH), so tests can put recording fakes in front, and
// the integration tests run the real ones on a local cluster.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace torc::server {

/// The Slurm commands torc runs: names (looked up on PATH) or paths.
struct SlurmPaths {
  std::string sbatch = "sbatch", squeue = "squeue", scancel = "scancel", srun = "srun";
  /// Defaults overridden by TORC_SBATCH, TORC_SQUEUE, TORC_SCANCEL, TORC_SRUN.
  static SlurmPaths FromEnvironment();
};

/// Runs argv and captures its output (stdout + stderr); returns the exit code,
/// or -1 when it could not start. Uses posix_spawn (safe in a threaded server).
int RunCommand(const std::vector<std::string>& argv, std::string* output, int timeout_seconds = 60);
/// The same with standard output and standard error kept apart.
int RunCommandSplit(const std::vector<std::string>& argv, std::string* out, std::string* err,
                    int timeout_seconds = 60);

/// The job id in `sbatch --parsable`'s standard output: the last line that is "ID" or
/// "ID;CLUSTER" (federation, -M). False when there is none.
bool ParseSbatchOutput(const std::string& out, std::string* job_id, std::string* cluster);
/// True for sbatch failures that can succeed later (a controller that timed out or is busy).
bool IsTransientSbatchFailure(const std::string& message);

/// A queued allocation: its id, the cluster it went to ("" for the local one), and what sbatch
/// said on standard error (banners, retries), for the log.
struct SubmittedJob {
  std::string id, cluster, messages;
};

/// How often sbatch is tried when it fails transiently, and the first wait (doubled per try).
struct SbatchRetry {
  int attempts = 5;
  double first_delay_seconds = 1.0;
};

/// sbatch, scancel and squeue, with their output parsed. Owned by the action runner, the only
/// part of the server that calls Slurm's commands.
class SlurmClient {
 public:
  explicit SlurmClient(SlurmPaths paths, SbatchRetry retry = {},
                       std::function<void(const std::string&)> log = nullptr)
      : paths_(std::move(paths)), retry_(retry), log_(std::move(log)) {}
  /// sbatch --parsable SCRIPT, retried on transient failures; false with *error (Slurm's own
  /// message) when it failed for good.
  /// `on_retry` (may be null) hears each transient failure before its retry, with the message.
  bool Submit(const std::string& script_path, SubmittedJob* job, std::string* error,
              const std::function<void(const std::string&)>& on_retry = nullptr);
  /// scancel of several jobs ("ID" or "ID;CLUSTER"): one call per cluster, with -M.
  bool Cancel(const std::vector<std::string>& job_refs, std::string* error);
  /// One squeue call per cluster for all the jobs ("ID" or "ID;CLUSTER"): id -> state
  /// (PENDING, RUNNING, ...), keyed by the bare id; ids Slurm no longer knows are absent.
  bool Query(const std::vector<std::string>& job_refs, std::map<std::string, std::string>* states,
             std::string* error);
  const SlurmPaths& paths() const { return paths_; }

 private:
  SlurmPaths paths_;
  SbatchRetry retry_;
  std::function<void(const std::string&)> log_;
};

}  // namespace torc::server
