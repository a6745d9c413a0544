// How a slurm-mode step ended, told apart from what srun and Slurm said: the job's own exit,
// a kill for memory, job-exec's runtime limit, Slurm cancelling the step (scancel, preemption,
// its time limit), a node failure, or srun/Slurm failing to create or run the step. Pure: the
// worker hands in srun's exit, the tail of the job's stderr and job-exec's node reports.
// docs/worker.md, "When srun fails".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "server/protocol/messages.h"
#include "worker/usage.h"

namespace torc::worker {

/// What ended a slurm-mode step, as far as srun's exit, its stderr and the node reports tell.
struct StepOutcome {
  enum class Kind {
    kExited,        // the job's own exit (exit_code): success or the job's failure
    kMemory,        // killed for memory: job-exec's limit or Slurm's cgroup
    kRuntime,       // job-exec's own runtime limit stopped the job
    kCancelled,     // Slurm cancelled the step (scancel, preemption, time limit, requeue)
    kNodeFailure,   // a node of the step failed (node, when srun named it)
    kSlurmFailure,  // srun or Slurm could not create or run the step (message)
  };
  Kind kind = Kind::kExited;
  int exit_code = 0;  // the job's own exit when a report has it, else srun's
  /// kSlurmFailure and kNodeFailure: srun's message ("Job credential expired", "Node failure
  /// on n3"); kCancelled: Slurm's cause as slurmstepd wrote it ("PREEMPTION", "TIME LIMIT",
  /// "JOB REQUEUE"), "" when it gave none.
  std::string message;
  std::string node;  // kNodeFailure: the failed node ("" when unnamed)
};

/// What the worker knows when a step's srun has ended.
struct StepEvidence {
  int srun_exit_code = 0;
  std::string stderr_tail;               // the last bytes of the job's stderr ("" when none)
  std::vector<NodeUsageReport> reports;  // job-exec's, one per node that wrote one
  size_t nodes = 1;                      // how many nodes the step had
};

/// Fills `a`'s figures from the reports of its nodes: node_usage (one entry each), the max of
/// the peaks and the sum of the CPU times, and the samples summed over the nodes (sample i of
/// each node, at the first node's time), with t counted from `attempt_start`.
/// (Here, not in usage.h: job-exec's own library has no protocol code.)
void CombineNodeUsage(const std::vector<NodeUsageReport>& nodes, double attempt_start,
                      protocol::AttemptReport* a);

/// Sorts a step's end into one of StepOutcome's kinds. The reports' exit codes win over srun's
/// (srun's is the largest of its tasks', or 1 for its own trouble). Only Slurm's own lines
/// count (`srun: ...`, `slurmstepd...: ...`), never the job's text.
StepOutcome ClassifyStep(const StepEvidence& evidence);

/// Whether `line` is one of the lines srun adds to a job's stderr about its tasks' end: `srun:
/// error: NODE: task(s) N: Exited with exit code N` (or `Killed`, `Terminated`, another signal's
/// name) and `srun: launch/slurm: _step_signal: ...`. They repeat the exit the attempt reports.
bool IsSrunTaskLine(const std::string& line);

/// Removes srun's task lines (IsSrunTaskLine) from the last `window` bytes of the file at
/// `path`, leaving every other byte as it was; false when the file could not be rewritten.
bool StripSrunTaskLines(const std::string& path, size_t window = 64 * 1024);

}  // namespace torc::worker
