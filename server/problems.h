// Why a workflow cannot make progress, in words a user can act on: the `problems` of
// `torc status` (docs/cli.md lists the kinds). A pure function of the workflow's state, so
// that every stall is found the same way by status, watch and the tests.
#pragma once

#include <string>
#include <vector>

#include "server/service.h"

namespace torc::server {

/// One reason the workflow is stuck (or partly stuck), with what to do about it.
struct Problem {
  std::string kind;  // cannot_run, cannot_fit, allocation_request_failed, no_compute, worker_left,
                     // max_failures, no_worker, staying_after_completion
  std::string message;            // what is wrong and what to do
  std::vector<std::string> jobs;  // the jobs concerned (at most 20)
};

/// What the workflow needs besides its entry: its allocations and the last failed request
/// for one (`torc slurm schedule`'s sbatch; "" when the last request succeeded).
struct ProblemContext {
  std::vector<AllocationRecord> allocations;
  std::string failed_request;
  std::string worker_left;  // the last worker that left with work undone, and why ("" if none)
  double now = 0;           // seconds since the epoch (0: problems that need the time are skipped)
  /// Elastic actions that have given up asking (ElasticDecision::stopped).
  std::vector<uint32_t> elastic_stopped = {};
};

/// How long an allocation may run before a worker of it registers (its batch script starting
/// torc, reaching the server) without `torc status` saying so (problem no_worker).
inline constexpr double kNoWorkerAfterSeconds = 60;

/// The problems of a workflow now; for a complete one, only max_failures (it says why the
/// rest did not run) and staying_after_completion (workers held there by the workflow's choice).
std::vector<Problem> FindProblems(const WorkflowEntry& entry, const ProblemContext& context);

}  // namespace torc::server
