// `torc job-exec`, the hidden command a slurm-mode step runs on each of its nodes: it starts the
// job's command with the step's own stdout and stderr, measures it (wait4 and /proc), enforces
// torc's memory limit, and leaves its figures in a small file the worker reads when srun ends
// (worker/usage.h). docs/worker.md, "What a job used".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace torc::worker {

/// What `torc job-exec` was asked to do (its command line, SrunArgs).
struct JobExecOptions {
  std::string report_prefix;        // --report: the node's file is <prefix>.<node>.json
  int64_t memory_limit_bytes = 0;   // --memory-limit: kill the job above it (0: none)
  int oom_exit_code = 137;          // --oom-exit-code: the exit status after such a kill
  double sample_interval_seconds = 0;  // --sample-interval: a time series sample (0: none)
  /// --runtime-limit: the job's runtime; past it the command gets `term_signal`, and SIGKILL
  /// `kill_after_seconds` later (0: no limit). Counted from the command's start, not srun's.
  double runtime_limit_seconds = 0;
  int term_signal = 15;             // --term-signal (a number or a name: TERM, SIGINT, ...)
  double kill_after_seconds = 30;   // --kill-after
  /// --stop-via-usr2: a SIGUSR2 is torc's stop relayed by srun (which turns a SIGTERM into a
  /// kill of the step rather than forwarding it): the command gets `term_signal` instead.
  bool stop_via_usr2 = false;
  std::vector<std::string> argv;    // the command
};

/// Runs the command to its end; returns its exit status (128 + signal when a signal killed it,
/// `oom_exit_code` when its memory did). The node's report has that status, the first signal
/// job-exec received (and forwarded) and whether its runtime limit fired.
int RunJobExec(const JobExecOptions& options);

}  // namespace torc::worker
