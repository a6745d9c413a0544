// `torc worker run`: the process that lives inside an allocation (or on any
// machine) and turns claims into processes. Event-driven: it wakes on a
// child's exit, a signal, the heartbeat timer or a limit, claims in batches
// sized to its free resources, reports completions in batches, and stops when
// the workflow is done, when it is idle too long, or at the allocation's end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "worker/allocation.h"
#include "worker/clock.h"
#include "worker/log_cap.h"
#include "worker/process.h"
#include "worker/worker_api.h"

namespace torc::server {
class ApiClient;
}

namespace torc::worker {

/// What `torc worker run` was asked to do (its command line).
struct WorkerOptions {
  int64_t workflow_id = 0;
  std::string mode = "auto";       // auto | slurm | direct (auto: slurm inside Slurm, else direct)
  std::string output_dir = "torc_output";
  std::string scheduler;           // the slurm scheduler whose allocation this is ("" = any)
  DiscoveryOptions discovery;
  double idle_timeout_seconds = 60;  // stop after this long with nothing to run
  /// At most this many jobs here at once, running or claimed (an action's max_parallel_jobs);
  /// 0: as many as the resources hold. Jobs still fit the resources under the cap.
  int64_t max_parallel_jobs = 0;
  /// Start-up window in seconds (staggered_start): before anything else the worker waits
  /// StartupDelaySeconds of it, so that many workers starting together reach the server
  /// spread out. 0: no wait. A stop signal during the wait ends the worker at once.
  int64_t startup_delay_seconds = 0;
  /// Leave when the workflow is complete even if the workflow asks its workers to stay
  /// (compute_node_ignore_workflow_completion): `torc run` ends with its workflow.
  bool leave_at_completion = false;
  /// Give up (exit 1) when the server could not be reached at all for this long from the start.
  double connect_timeout_seconds = 300;
  /// Stop when nothing runs here and no job is ready or running anywhere
  /// (a single local worker: the rest can never become ready). Used by `torc run`.
  bool exit_when_stuck = false;
  std::string srun = "srun";
  /// Slurm mode: what runs each job in its step and measures it (worker/job_exec.h, SrunOptions);
  /// RunWorker with a client fills in FindJobExec of this binary's own path. "": none.
  std::string job_exec;
  bool quiet = false;              // no log lines on stderr
  /// Takes each log line instead of stderr when set (tests; a caller with its own display).
  std::function<void(const std::string&)> on_log;
  /// Cap on each job's stdout/stderr file, checked every 0.5 s (worker/log_cap.h); 0: none.
  int64_t max_log_bytes = kDefaultMaxLogBytes;
  /// Called after every loop iteration with counts, for progress displays.
  std::function<void(int running, int64_t done)> on_progress;
};

/// Everything the worker loop reaches outside itself, each replaceable in tests
/// (tests/worker/loop_test.cc drives the loop with fakes of all four). Not owned.
struct WorkerSeams {
  WorkerApi* api = nullptr;           // the server
  Clock* clock = nullptr;             // the time
  ProcessTable* processes = nullptr;  // the jobs' processes and the worker's signals
  /// The environment (the allocation, SLURMD_NODENAME, SLURM_JOB_NODELIST) and Slurm's
  /// commands (squeue at a stop signal).
  DiscoveryEnv env;
};

/// The worker's wait in [0, window) seconds (whole seconds) before its first call, from a hash
/// of where it runs: the same worker always waits the same, workers on other hosts, in other
/// allocations, on other nodes of one (SLURM_NODEID) or in other processes mostly differ.
int64_t StartupDelaySeconds(int64_t window, const std::string& hostname,
                            const std::string& slurm_job_id, const std::string& slurm_node_id,
                            int64_t pid);

/// Registers with the server, runs jobs until done, unregisters. Returns the
/// process exit code: 0 when it stopped normally.
int RunWorker(const WorkerOptions& options, const WorkerSeams& seams);

/// RunWorker with the real seams: `client`'s server, the wall clock, this machine's processes
/// and environment.
int RunWorker(server::ApiClient& client, const WorkerOptions& options);

}  // namespace torc::worker
