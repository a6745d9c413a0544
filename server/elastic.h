// Elastic schedule_nodes actions (docs/slurm.md, "Elastic allocations"): once such an action
// has fired, the server keeps asking Slurm for allocations of its scheduler while ready jobs
// wait that its live allocations will not take, never more than max_allocations (and
// max_nodes) pending or running at once, never for blocked jobs. DecideElastic is the rule, a
// pure function of what it is given; GatherElastic reads that from a workflow's state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace torc::server {

struct WorkflowEntry;
struct AllocationRecord;

/// How long after its worker registered an allocation is taken to have claimed what it can
/// (its first claim follows the registration at once; this covers a slow one).
inline constexpr double kElasticClaimGraceSeconds = 5;
/// An allocation whose workers all left still counts towards max_allocations this long, unless
/// squeue says sooner that it ended (its batch script has exited; Slurm is finishing it).
inline constexpr double kElasticEndingGraceSeconds = 10;
/// Ready jobs must have stayed unclaimed this long, while allocations of the action run,
/// before more are asked for: a job that has just become ready is usually claimed at once
/// by a worker that has just finished its parent.
inline constexpr double kElasticSettleSeconds = 2;
/// After this many allocations in a row ended before any worker of theirs registered, the
/// action stops asking (the batch output says why; a new request would fail the same way).
inline constexpr int kElasticMaxFailedStarts = 3;

/// One allocation of the action, as the rule sees it.
struct ElasticAllocation {
  std::string slurm_job_id;
  bool live = false;        // pending or running (squeue, or a worker's registration)
  bool started = false;     // running: Slurm started it, or a worker of it registered
  bool registered = false;  // a worker of it has registered (ever)
  /// A worker of it holds jobs, or registered kElasticClaimGraceSeconds ago or more: it has
  /// taken what fits it. A live allocation that has not is still to take ready jobs.
  bool claimed = false;
  bool workers_gone = false;   // workers registered and none is left (they left, or were lost)
  double workers_gone_at = 0;  // when the last one went; 0: not known (long ago)
  double submitted_at = 0;
};

/// Everything the rule looks at for one elastic action.
struct ElasticInput {
  std::string scheduler;            // its name, for the sentence
  int64_t max_allocations = 1;
  int64_t max_nodes = 0;            // 0: no limit
  int64_t nodes_per_allocation = 1; // the scheduler's nodes
  /// Ready jobs the scheduler can hold (of the action's jobs when it lists some), what they
  /// ask for together (CPUs and GPUs times nodes), and the jobs of the same kind that wait
  /// for their dependencies (never a reason to ask).
  uint64_t ready_jobs = 0;
  int64_t ready_cpus = 0, ready_gpus = 0;
  uint64_t blocked_jobs = 0;
  /// One node of an allocation, as a worker of this scheduler reported it; 0: not known yet
  /// (no worker has registered): one allocation is then assumed to take every ready job.
  int64_t node_cpus = 0, node_gpus = 0;
  std::vector<ElasticAllocation> allocations;  // the action's, oldest first
  bool finished = false;          // the workflow is complete (or canceled)
  /// Since when ready jobs have stood uncovered while allocations of the action are live
  /// (0: they were not at the last look). Kept by the caller from the decisions' `uncovered`.
  double uncovered_since = 0;
  double now = 0;
};

/// What the rule says now.
struct ElasticDecision {
  int64_t request = 0;  // allocations to ask for now
  int64_t pending = 0, running = 0;  // the action's live allocations (running: started)
  int64_t nodes = 0;                 // their nodes (live and ending)
  /// Allocations the ready jobs fill (about), given what a node holds.
  int64_t needed = 0;
  /// Ready jobs stand uncovered now (the caller keeps `uncovered_since` from it).
  bool uncovered = false;
  /// It has given up (kElasticMaxFailedStarts allocations in a row never started a worker):
  /// it asks for nothing more, so torc status must not count on it (problem no_compute).
  bool stopped = false;
  std::string why;  // one sentence: why it asks, or why not
};

/// The rule (docs/slurm.md, "Elastic allocations"), a pure function.
ElasticDecision DecideElastic(const ElasticInput& in);

/// The input of DecideElastic for action `action` of a workflow from its state: the jobs its
/// scheduler can hold, the action's allocations (`allocations`: the workflow's, any action)
/// and their workers. `workers_gone_at`: when the last worker of an allocation left (by Slurm
/// job id), as far as the caller saw it.
ElasticInput GatherElastic(const WorkflowEntry& entry, uint32_t action,
                           const std::vector<AllocationRecord>& allocations,
                           const std::map<std::string, double>& workers_gone_at,
                           double uncovered_since, double now);

}  // namespace torc::server
