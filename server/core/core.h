// The scheduling core of one workflow: readiness, claims, leases, retries,
// cancel/restart and action triggers. A pure state machine: no I/O, no clock
// (time comes in as an argument). Every operation appends what it changed to
// a ChangeBatch, which the server persists before answering.
// Job state transitions are documented in docs/job-states.md.
#pragma once

#include <array>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/graph.h"
#include "server/model/model.h"
#include "server/core/ready_queue.h"
#include "spec/plan.h"

namespace torc::server {

/// Tunables of the core, with the defaults the issue fixes.
struct CoreOptions {
  double heartbeat_seconds = 30;
  int missed_heartbeats = 3;  // a lease lasts heartbeat_seconds * missed_heartbeats
  uint32_t walltime_requeue_limit = 3;
  /// Requeues of a job whose allocation was preempted or stopped from outside (reasons
  /// "preempted", "stopped"): not the job's doing, so more than for the walltime.
  uint32_t interruption_requeue_limit = 10;
  /// Requeues of a job whose step Slurm failed to create or run (reason "slurm: ...").
  uint32_t slurm_requeue_limit = 5;
  double lease_seconds() const { return heartbeat_seconds * missed_heartbeats; }
};

/// How a restart grows the requests of the failed and terminated jobs it restarts
/// (`torc restart --failed --memory-multiplier X --runtime-multiplier Y`): 1 leaves one as
/// it is. Capped as a failure handler's growth is (docs/workflow-format.md).
struct RequestGrowth {
  double memory_multiplier = 1;
  double runtime_multiplier = 1;
};

/// A job handed to a worker by a claim.
struct ClaimedJob {
  JobIndex job = 0;
  uint32_t attempt = 0;
  std::vector<uint32_t> nodes;  // indices into the claim's node list
};

/// What happened to one reported result.
enum class CompletionOutcome {
  kApplied,     // recorded and acted on
  kDuplicate,   // the same attempt was already recorded with the same outcome: nothing changed
  kRejected,    // stale attempt, another worker's job, unknown job, or a repeat that says
                // otherwise than the recorded one (HTTP 409)
};

/// The core's answer to one reported result; Complete returns one per result, in order.
struct CompletionAnswer {
  CompletionOutcome outcome = CompletionOutcome::kApplied;
  std::string reason;  // for kRejected
};

/// The scheduling state of one workflow (see the top of this file). Owned by the service's
/// entry for the workflow and called under the service's lock: not thread-safe itself. The
/// Plan is shared and never changes; only job, worker and action states do.
class WorkflowCore {
 public:
  WorkflowCore(WorkflowId id, std::shared_ptr<const spec::Plan> plan, CoreOptions options = {});

  /// A new workflow: jobs without parents become ready, on_workflow_start
  /// actions become due (recorded in *batch). The initial job states are
  /// jobs() afterwards; they are not put in the batch.
  void Start(double now, ChangeBatch* batch);

  /// Rebuilds the core from stored state after a restart. Live workers get a
  /// fresh lease (the server's downtime must not kill their jobs). First checks the
  /// state against the plan and itself (one state per job, results only of jobs that
  /// exist and of attempts that ended, actions the plan has): when it does not hold,
  /// returns false with *error naming the first bad record, and changes nothing.
  bool Restore(const std::vector<JobDynamic>& jobs, const std::vector<AttemptResult>& results,
               const std::vector<WorkerRecord>& workers, const std::vector<ActionState>& actions,
               double now, ChangeBatch* batch, std::string* error);

  // ---- workers and leases ---------------------------------------------------
  void RegisterWorker(const WorkerRecord& worker, double now, ChangeBatch* batch);
  /// Renews the lease. Returns false for an unknown or expired worker. Fills
  /// *to_stop with jobs of this worker that were canceled and must be killed.
  bool Heartbeat(WorkerId worker, double now, ChangeBatch* batch, std::vector<JobIndex>* to_stop);
  /// The worker leaves: jobs it still holds go back to ready.
  void UnregisterWorker(WorkerId worker, double now, ChangeBatch* batch);
  /// Expires every lease older than now; their jobs go back to ready, attempt+1.
  void ExpireLeases(double now, ChangeBatch* batch);
  /// Ends the leases of the workers that run in the given Slurm allocation. With `ended_by`
  /// ("preempted": squeue says PREEMPTED), their running jobs' attempts end `terminated` for that
  /// reason (requeued within its budget, as if the worker had reported it: its own report may
  /// never come, Slurm kills it at the end of GraceTime); the rest are abandoned as for any
  /// expired lease.
  void DropWorkersOfAllocation(const std::string& slurm_job_id, double now, ChangeBatch* batch,
                               const std::string& ended_by = "");
  bool IsLiveWorker(WorkerId worker) const;
  /// Jobs a worker holds (claimed or running), e.g. to re-attach after a lost answer.
  std::vector<ClaimedJob> HeldBy(WorkerId worker) const;

  // ---- the hot path ---------------------------------------------------------
  /// Gives the worker up to filter.max_jobs ready jobs that fit its free resources.
  std::vector<ClaimedJob> Claim(WorkerId worker, const ClaimFilter& filter, double now,
                                ChangeBatch* batch);
  /// Unfinished jobs a worker with these (total) resources could still run: ready ones that
  /// fit, and, while some job is claimed or running (it may unblock them), blocked ones that
  /// fit. 0: the worker should leave (a job that fits nowhere holds back only its dependents).
  uint64_t RunnableCount(const ClaimFilter& filter) const;
  /// Marks claimed jobs as running. Unknown/stale entries are ignored (returns how many applied).
  size_t Started(WorkerId worker, const std::vector<std::pair<JobIndex, uint32_t>>& jobs,
                 double now, ChangeBatch* batch);
  /// Applies the results of finished attempts.
  std::vector<CompletionAnswer> Complete(WorkerId worker, const std::vector<AttemptResult>& results,
                                         double now, ChangeBatch* batch);

  // ---- user operations ------------------------------------------------------
  /// Cancels the given jobs (all non-final jobs when empty). Returns how many changed.
  size_t Cancel(const std::vector<JobIndex>& jobs, double now, ChangeBatch* batch);
  /// Restarts the given failed/canceled/terminated jobs (all of them when
  /// empty) and their canceled dependents, with attempt+1; the failed and terminated ones
  /// get their requests grown by `growth`. Returns how many.
  size_t Restart(const std::vector<JobIndex>& jobs, double now, ChangeBatch* batch,
                 const RequestGrowth& growth = {});

  // ---- actions --------------------------------------------------------------
  std::vector<uint32_t> DueActions() const;
  ActionStatus action_status(uint32_t a) const { return actions_[a].status; }
  /// What executing the action gave: the Slurm job ids, or the error.
  const std::string& action_detail(uint32_t a) const { return actions_[a].detail; }
  /// Records the outcome of executing a due action (kDone or kFailed).
  bool FinishAction(uint32_t action, ActionStatus status, const std::string& detail, double now,
                    ChangeBatch* batch);

  // ---- queries --------------------------------------------------------------
  WorkflowId id() const { return id_; }
  void set_id(WorkflowId id) { id_ = id; }
  const spec::Plan& plan() const { return *plan_; }
  size_t job_count() const { return jobs_.size(); }
  const JobDynamic& job(JobIndex j) const { return jobs_[j]; }
  std::array<uint64_t, kNumJobStatuses> Counts() const { return counts_; }
  /// True when every job is final.
  bool IsComplete() const;
  /// Every recorded attempt of a job, oldest first.
  std::vector<const AttemptResult*> AttemptsOf(JobIndex j) const;
  const std::vector<JobDynamic>& jobs() const { return jobs_; }
  /// Every recorded attempt, in the order recorded (what Restore takes back).
  const std::vector<AttemptResult>& results() const { return results_; }
  const std::unordered_map<WorkerId, WorkerRecord>& workers() const { return workers_; }
  /// Why a job that is not final cannot be claimed by any worker of the
  /// plan's schedulers ("" if it can); used by `torc status`.
  std::string UnclaimableReason(JobIndex j) const;
  /// What a job asks for per node (resources resolved, memory and runtime as grown by
  /// failure handlers and restarts), its runtime and scheduler.
  JobShape ShapeOf(JobIndex j) const;
  /// Whether other jobs wait for `j`'s final state: it has children, or is in a dependency
  /// group that some job depends on.
  bool HasDependents(JobIndex j) const;
  /// Whether the plan's max_failures is reached: as many jobs are failed as it allows, so
  /// no job starts again until a restart takes failed ones out of the count.
  bool FailureLimitReached() const;

 private:
  /// The in-memory state of one action: what is persisted (ActionState) plus how many of
  /// its jobs meet the trigger, so that an action becomes due in O(1) per job change.
  struct ActionTrack {
    ActionStatus status = ActionStatus::kWaiting;
    std::string detail;
    uint32_t satisfied = 0;  // jobs of the action meeting its trigger
  };

  void SetStatus(JobIndex j, JobStatus status, ChangeBatch* batch);
  /// Adds (sign +1) or removes (-1) job `j`, in `status`, to or from its shape's tally.
  void Tally(JobIndex j, JobStatus status, int sign);
  void RebuildTallies();
  void Record(JobIndex j, ChangeBatch* batch);
  void MakeReady(JobIndex j, ChangeBatch* batch);
  void Event(ChangeBatch* batch, double now, std::string kind, int64_t job, uint32_t attempt,
             WorkerId worker, std::string detail);
  /// Propagates that `j` reached a final state to its children and groups.
  void OnFinal(JobIndex j, double now, ChangeBatch* batch);
  /// Counts a job's unsatisfied dependency entries from its parents' states;
  /// sets *cancel_parent when a parent failed for good and the job does not
  /// tolerate it.
  uint32_t CountUnmet(JobIndex j, int64_t* cancel_parent) const;
  void RecomputeGroups();
  /// Makes an active job ready again (attempt+1 when `new_attempt`); canceled instead
  /// while the failure limit is reached.
  void Requeue(JobIndex j, bool new_attempt, double now, ChangeBatch* batch);
  /// Gives back every job worker `w` holds: running ones (and claimed ones, unless
  /// `claimed_never_ran`) as abandoned attempts with attempt+1; with `claimed_never_ran` the
  /// claimed ones go back to ready unchanged (event `released`).
  void ReleaseWorkerJobs(WorkerId w, const char* why, double now, ChangeBatch* batch,
                         bool claimed_never_ran = false);
  /// Gives up the current attempt of a claimed/running job (recorded as
  /// terminated with `why`) and makes the job ready as a new attempt.
  void AbandonAttempt(JobIndex j, const char* why, double now, ChangeBatch* batch);
  /// Moves an active job on by the recorded result `r` of its current attempt: completed,
  /// requeued (walltime, runtime, stopped), ended, retried by its failure handler, or failed.
  void ApplyEndedAttempt(const AttemptResult& r, double now, ChangeBatch* batch);
  /// Ends the attempts of worker `w`'s running jobs as `terminated` for `reason`.
  void EndRunningAttempts(WorkerId w, const std::string& reason, double now, ChangeBatch* batch);
  /// The requeue budget an attempt that ended for `reason` uses: its counter in *d, its limit,
  /// its name and what happened, for events. nullopt: the reason is no requeue's (the job's
  /// own end, a cancel).
  struct RequeueBudget {
    uint16_t* used;
    uint32_t limit;
    std::string name, why;
  };
  std::optional<RequeueBudget> BudgetOf(const std::string& reason, JobDynamic* d) const;
  /// Retries a job whose attempt `r` ended as `rule` matches (growing its request), or, with
  /// no rule, no retry left or the failure limit reached, ends it with the attempt's status.
  void RetryOrEnd(const AttemptResult& r, const spec::FailureRule* rule, double now,
                  ChangeBatch* batch);
  /// Multiplies a job's memory and runtime requests for its next attempt, within what a node
  /// and the walltime allow; an event says what changed and what capped it.
  void GrowRequest(JobIndex j, double memory_multiplier, double runtime_multiplier, double now,
                   WorkerId worker, uint32_t attempt, ChangeBatch* batch);
  /// The most memory per node a job can be given: its schedulers' `mem`, else the largest
  /// node a registered worker reported; INT64_MAX when neither is known. *why names it.
  int64_t MemoryCap(JobIndex j, std::string* why) const;
  /// The longest runtime a job can be given: its schedulers' walltime; INT64_MAX without.
  int64_t RuntimeCap(JobIndex j, std::string* why) const;
  /// The failure limit was just reached: cancels every job not started, once.
  void StopAtFailureLimit(double now, ChangeBatch* batch);
  /// Notes the largest node memory a registered worker reported.
  void NoteWorkerNodes(const WorkerRecord& worker);
  void UpdateActions(JobIndex j, JobStatus before, JobStatus after, ChangeBatch* batch);
  void MarkDue(uint32_t a, ChangeBatch* batch);
  void AddResult(const AttemptResult& r, ChangeBatch* batch);
  /// Restore's check of the stored state; "" when it holds.
  std::string CheckStoredState(const std::vector<JobDynamic>& jobs,
                               const std::vector<AttemptResult>& results,
                               const std::vector<ActionState>& actions) const;
  void RebuildDerived(double now);

  WorkflowId id_;
  std::shared_ptr<const spec::Plan> plan_;
  CoreOptions options_;
  DependencyGraph graph_;

  std::vector<JobDynamic> jobs_;
  std::vector<uint32_t> unmet_;        // unsatisfied dependency entries per job
  std::vector<uint32_t> queue_token_;  // bumped on every push to the ready queue
  std::vector<uint32_t> group_remaining_, group_failed_;  // per group: members not final / failed
  std::array<uint64_t, kNumJobStatuses> counts_{};
  /// Jobs not final, and of them blocked, per shape: RunnableCount (asked by every claim that
  /// gets nothing) in O(shapes) instead of O(jobs). Kept by SetStatus and GrowRequest.
  struct ShapeTally {
    JobShape shape;
    uint64_t unfinished = 0, blocked = 0;
  };
  std::map<decltype(JobShape().Key()), ShapeTally> tallies_;
  ReadyQueue ready_;

  std::vector<AttemptResult> results_;
  std::vector<int32_t> last_result_;   // per job: index into results_ of its newest, -1 none
  std::vector<int32_t> prev_result_;   // per result: the same job's previous one

  std::unordered_map<WorkerId, WorkerRecord> workers_;
  /// No live worker's lease runs out before this (renewals only move leases later): until
  /// then ExpireLeases need not walk workers_, which keeps every worker the workflow had.
  double next_expiry_ = -std::numeric_limits<double>::infinity();
  int64_t largest_worker_memory_ = 0;  // the largest node memory any registered worker reported
  std::unordered_map<WorkerId, std::vector<JobIndex>> worker_jobs_;  // claimed/running, may hold stale
  std::unordered_map<WorkerId, std::vector<JobIndex>> to_stop_;

  std::vector<ActionTrack> actions_;
  std::vector<std::vector<uint32_t>> job_actions_;  // job -> actions watching it (sparse)
};

}  // namespace torc::server
