// The server's state: every workflow's Plan and scheduling core, kept in
// memory and persisted through the Store before each operation returns
// (durable before acknowledged). One mutex serializes all operations: each is
// short, and batching keeps the request count low.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/core.h"
#include "server/elastic.h"
#include "server/protocol/messages.h"
#include "server/rerun.h"
#include "server/store/store.h"

namespace torc::server {

/// Outcome of a service call, mapped to an HTTP status by the API layer.
struct ServiceStatus {
  /// What kind of failure (the API maps each to one HTTP status).
  enum Code { kOk, kBadRequest, kNotFound, kConflict, kUnavailable, kInternal };
  Code code = kOk;
  std::string message;
  std::vector<std::string> details;  // e.g. every error of a rejected workflow file
  bool ok() const { return code == kOk; }
  static ServiceStatus Ok() { return {}; }
  static ServiceStatus Error(Code c, std::string m) { return {c, std::move(m), {}}; }
};

/// Limits and timings of the service: the core's leases and heartbeats, the workflow
/// loader's limits, and how often a workflow's change log is checkpointed.
struct ServiceOptions {
  CoreOptions core;
  spec::LoadOptions limits;
  /// Job changes logged for a workflow before its state is checkpointed.
  uint64_t checkpoint_every_changes = 200'000;
};

/// A workflow as the service holds it.
struct WorkflowEntry {
  WorkflowRow row;
  std::shared_ptr<const spec::Plan> plan;
  std::unique_ptr<WorkflowCore> core;
  uint64_t changes_since_checkpoint = 0;
  /// Where running attempts run, from the workers' start notices: job -> (attempt, node list).
  /// Memory only (lost on restart until the next notice); erased when the attempt's result is
  /// applied, and an entry counts only while the job is running that attempt.
  std::unordered_map<JobIndex, std::pair<uint32_t, std::string>> running_on;
  /// The CPUs of the workers that said theirs in a claim (ClaimRequest::total_cpus), their sum
  /// over the live ones, and when workers that left were last taken out. Memory only.
  std::unordered_map<WorkerId, int64_t> worker_cpus;
  int64_t worker_cpus_sum = 0;
  double worker_cpus_swept_at = 0;
};

/// A due action handed to whoever executes it (the server's action runner).
struct DueAction {
  WorkflowId workflow = 0;
  uint32_t index = 0;
  std::shared_ptr<const spec::Plan> plan;
  WorkflowRow row;
};

/// Allocations a user asked for with `torc slurm schedule` (not from an action).
/// What became of a schedule request: the action runner fills it in, the API waits for it.
struct ScheduleOutcome {
  /// Records the result and wakes the waiters.
  void Finish(bool ok, std::vector<std::string> job_ids, std::string error);
  /// Waits up to `max` for the result; false when there is none yet.
  bool Wait(std::chrono::milliseconds max);

  std::mutex mu;
  std::condition_variable cv;
  bool done = false, ok = false;
  std::vector<std::string> job_ids;  // submitted (also before a failure)
  std::string error;                 // Slurm's message when it failed
};

/// "Submit N allocations of this scheduler for this workflow" (torc slurm schedule, restart).
struct ScheduleRequest {
  WorkflowId workflow = 0;
  uint32_t scheduler = 0;  // index into the plan's schedulers
  int64_t num_allocations = 1;
  bool one_worker_per_node = false;
  int64_t idle_timeout_seconds = 0;  // the workers' --idle-timeout (0: their default)
  int64_t max_parallel_jobs = 0;     // the workers' --max-parallel-jobs (0: no cap)
  std::shared_ptr<ScheduleOutcome> outcome = std::make_shared<ScheduleOutcome>();
};

/// A Slurm allocation the server asked for.
struct AllocationRecord {
  std::string slurm_job_id;
  std::string scheduler;
  uint32_t action = 0;
  std::string state = "pending";  // pending, running, done, failed, canceled (from squeue)
  double submitted_at = 0;
  std::string cluster;  // the cluster sbatch named ("ID;CLUSTER"), "" for the local one
  double started_at = 0;  // when it was first seen running (a worker registered, or squeue)
  double ended_at = 0;    // when it was seen ended
  std::string nodes;      // its Slurm node list, as its first worker reported it
  /// How squeue and scancel are told about it: "ID", or "ID;CLUSTER" (then given -M CLUSTER).
  std::string SlurmRef() const { return cluster.empty() ? slurm_job_id : slurm_job_id + ";" + cluster; }
};

/// Where an elastic action that has fired stands (the "autoscale" entries of the status).
struct AutoscaleEntry {
  uint32_t action = 0;
  std::string scheduler;
  int64_t max_allocations = 0;
  int64_t max_nodes = 0;  // 0: no limit
  uint64_t ready_jobs = 0;
  ElasticDecision decision;
};

/// Allocations an elastic action asks for now (executed by the action runner).
struct ElasticRequest {
  DueAction due;
  int64_t count = 0;
  std::string why;
};

/// What a submit needs: the workflow file's text and where it came from.
struct SubmitRequest {
  std::string spec_text;
  std::string file_name;
  std::string working_dir;
  std::string owner;
  /// The files of its `"@path"` parameter values: path as written -> text. The server reads
  /// no files of the submitter's; a path the workflow names that is missing here is an error.
  std::map<std::string, std::string> parameter_files = {};
  /// The pure input files' stamps now, kept for the next update (docs/rerun.md).
  FileStamps input_stamps = {};
};

/// An update of a workflow from its file read again (`torc run` again, `torc submit
/// --update`): the new text and what the disk says now (docs/rerun.md).
struct UpdateRequest {
  std::string spec_text;
  std::string file_name;             // "": the stored one
  std::map<std::string, std::string> parameter_files;  // as SubmitRequest's
  FileStamps input_stamps;           // the pure input files' stamps now
  std::set<std::string> missing_outputs;  // declared output files that do not exist
  bool dry_run = false;              // decide, change nothing
};

/// What an update did (or, dry, would do).
struct UpdateOutcome {
  /// The jobs that run again (names), each with why.
  std::vector<std::pair<std::string, std::vector<std::string>>> rerun;
  size_t kept = 0;  // jobs that keep their state and result
  size_t total = 0;
};

/// A job as a user names it in a request: by its index, or by its name when `name` is set.
struct JobRef {
  int64_t index = 0;
  std::optional<std::string> name;
};

/// The jobs a cancel or restart is about: every job of the workflow, or those listed.
struct JobSelection {
  bool all = true;
  std::vector<JobRef> jobs;  // when !all; none: nothing to do
};

/// A restart: which jobs, how the failed and terminated ones' requests grow, and whether
/// compute follows (RestartSchedules).
struct RestartRequest {
  JobSelection selection;
  RequestGrowth growth;
  bool schedule = true;
};

/// What a restart did.
struct RestartOutcome {
  size_t restarted = 0;
  int64_t allocations_requested = 0;  // Slurm allocations queued for the restarted jobs
};

/// The server's state and every operation on it: owns the store and one WorkflowCore per
/// workflow, commits each change batch before answering, and runs the operations the API
/// exposes (submit, register, claim, complete, cancel with scancel, restart, ...). Thread-safe:
/// one mutex serializes the operations (each is short). The API only translates HTTP to these
/// calls; nothing here knows HTTP.
class Service {
 public:
  /// Loads every workflow from the store. Workers get a fresh lease.
  static std::unique_ptr<Service> Open(std::unique_ptr<Store> store, ServiceOptions options,
                                       double now, ServiceStatus* status);

  /// Runs `fn(entry)` on a workflow under the lock; kNotFound when it does not exist.
  template <typename Fn>
  ServiceStatus WithWorkflow(WorkflowId id, Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ServiceStatus fresh = FreshLocked(last_now_); !fresh.ok()) return fresh;
    auto it = workflows_.find(id);
    if (it == workflows_.end())
      return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
    return fn(*it->second);
  }

  /// Runs a mutating operation: `fn(core, batch)` changes the core and fills
  /// the batch, which is then committed. If the commit fails the workflow is
  /// reloaded from the store (memory never runs ahead of the disk) and the
  /// call fails with kUnavailable.
  template <typename Fn>
  ServiceStatus Mutate(WorkflowId id, double now, Fn fn) {
    std::lock_guard<std::mutex> lock(mu_);
    last_now_ = now;
    if (ServiceStatus fresh = FreshLocked(now); !fresh.ok()) return fresh;
    auto it = workflows_.find(id);
    if (it == workflows_.end())
      return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
    ChangeBatch batch;
    batch.workflow = id;
    batch.time = now;
    it->second->core->ExpireLeases(now, &batch);
    ServiceStatus s;
    try {
      s = fn(*it->second, &batch);
    } catch (...) {
      // Whatever changed before the throw is committed all the same.
      CommitLocked(*it->second, &batch);
      throw;
    }
    ServiceStatus c = CommitLocked(*it->second, &batch);
    return c.ok() ? s : c;
  }

  /// Called with every committed batch, under the service's lock: it must be
  /// quick and must not call the service (the server's metrics use it).
  void SetCommitObserver(std::function<void(const ChangeBatch&)> observer);
  /// Called, under the service's lock, whenever there is new work for the
  /// action runner: an action became due, a workflow completed, an allocation
  /// is to be submitted or scanceled, or squeue should be asked now. It must be
  /// quick (the server's action thread uses it to wake at once instead of
  /// waiting for its next poll).
  void SetActionWakeup(std::function<void()> wakeup);
  /// Called, under the service's lock, when a committed batch made a job ready or completed a
  /// workflow: claims held waiting (ClaimRequest::wait_seconds) are to be asked again. It must
  /// be quick (the HTTP server's WakeWaiting).
  void SetClaimWakeup(std::function<void()> wakeup);

  const ServiceOptions& options() const { return options_; }
  ServiceStatus Submit(const SubmitRequest& request, double now, WorkflowId* id);
  /// Replaces a workflow's file by a new version with the same jobs and dependencies: the
  /// out-of-date jobs and everything downstream run again (attempt + 1, event `rerun` with
  /// why), the rest keeps its state and result (server/rerun.h, docs/rerun.md). kConflict when
  /// the jobs or dependencies changed or jobs are running; kBadRequest for a bad file.
  /// (server/service_update.cc)
  ServiceStatus Update(WorkflowId id, const UpdateRequest& request, double now,
                       UpdateOutcome* outcome);
  ServiceStatus Delete(WorkflowId id);
  std::vector<WorkflowId> WorkflowIds();
  WorkerId NextWorkerId();
  /// Expires leases in every workflow (called by a timer).
  void ExpireAll(double now);
  ServiceStatus EventsSince(WorkflowId id, int64_t after, int limit, std::vector<Event>* out);
  /// The stored time series of attempt `attempt` of `job` (empty samples_json when it has none).
  ServiceStatus AttemptSamplesOf(WorkflowId id, JobIndex job, uint32_t attempt,
                                 AttemptSamples* out);

  // ---- worker operations (server/service_worker.cc; docs/api.md, "Worker endpoints") ----
  // Each is one commit. kNotFound: no such workflow; kConflict: the worker has no lease.

  /// A worker joins the workflow: it gets an id and a lease, and learns what it needs of the
  /// workflow. A worker of a Slurm allocation marks the allocation running.
  ServiceStatus RegisterWorker(WorkflowId id, const protocol::Registration& registration,
                               double now, protocol::RegistrationAnswer* answer);
  /// The hot path: applies the start notices and results the claim carries, then hands out
  /// jobs that fit the worker's free resources.
  ServiceStatus Claim(WorkflowId id, const protocol::ClaimRequest& request, double now,
                      protocol::ClaimAnswer* answer);
  /// Start notices: the jobs run now (on the nodes given). Stale ones are ignored.
  ServiceStatus StartJobs(WorkflowId id, const protocol::StartRequest& request, double now,
                          protocol::StartAnswer* answer);
  /// Results of ended attempts. Rejected ones (stale attempt, not this worker's job) are
  /// listed in the answer; the others are recorded.
  ServiceStatus CompleteJobs(WorkflowId id, const protocol::CompleteRequest& request, double now,
                             protocol::CompleteAnswer* answer);
  /// Renews a worker's lease; says which of its jobs to stop.
  ServiceStatus Heartbeat(WorkflowId id, WorkerId worker, double now,
                          protocol::HeartbeatAnswer* answer);
  /// The jobs a worker holds (claimed or running), e.g. after a claim whose answer was lost.
  ServiceStatus HeldJobs(WorkflowId id, WorkerId worker, protocol::HeldJobs* out);
  /// A worker leaves: its jobs go back to ready. A reason is recorded (event worker_left, and
  /// for `torc status`); a worker of a Slurm allocation has squeue asked at once.
  ServiceStatus UnregisterWorker(WorkflowId id, WorkerId worker,
                                 const protocol::LeaveNotice& notice, double now);

  // ---- user operations on jobs ------------------------------------------------------
  /// Cancels the selected jobs; canceling all of them (the workflow) also scancels the
  /// workflow's Slurm allocations.
  ServiceStatus CancelJobs(WorkflowId id, const JobSelection& selection, double now,
                           size_t* canceled);
  /// Restarts the selected failed/canceled/terminated jobs, growing the requests of the
  /// failed and terminated ones as asked. With `schedule`, asks for the allocations compute
  /// follows a restart with (RestartSchedules).
  ServiceStatus RestartJobs(WorkflowId id, const RestartRequest& request, double now,
                            RestartOutcome* outcome);

  // ---- actions and allocations (executed by the server's ActionRunner) ------
  /// Due actions not yet being executed; they are marked as being executed.
  std::vector<DueAction> TakeDueActions();
  /// Records the outcome of an action taken with TakeDueActions.
  ServiceStatus FinishAction(WorkflowId id, uint32_t action, ActionStatus status,
                             const std::string& detail, double now);
  void AddAllocation(WorkflowId id, AllocationRecord record);
  /// The last allocation request of the workflow (`torc slurm schedule`, a restart's; an
  /// action's while sbatch is retried) failed with `message` ("" clears it; a submitted
  /// allocation clears it too). Memory only, for `torc status` problems.
  void NoteScheduleFailure(WorkflowId id, const std::string& message);
  std::string ScheduleFailure(WorkflowId id);
  /// A worker left with work undone, and why ("worker 3 left: no unfinished job can run ...").
  /// Memory only, for `torc status` problems; the event log keeps it too.
  void NoteWorkerLeft(WorkflowId id, const std::string& message);
  std::string WorkerLeft(WorkflowId id);
  /// Records an event of the workflow (e.g. "sbatch_failed" with Slurm's message).
  void RecordEvent(WorkflowId id, const std::string& kind, const std::string& detail, double now);
  std::vector<AllocationRecord> Allocations(WorkflowId id);
  /// Every workflow's allocations that are pending or running.
  std::vector<std::pair<WorkflowId, AllocationRecord>> LiveAllocations();
  /// Sets an allocation's state (an ended one keeps its end), with its node list when known;
  /// when it ended, its workers' leases end now.
  void UpdateAllocation(WorkflowId id, const std::string& slurm_job_id, const std::string& state,
                        double now, const std::string& nodes = "");
  /// Asks for the workflow's live allocations to be scanceled.
  void RequestScancel(WorkflowId id, double now);
  /// Queues allocations for a workflow (executed by the action runner).
  ServiceStatus RequestSchedule(const ScheduleRequest& request);
  /// Takes the queued schedule requests with what executing them needs.
  std::vector<std::pair<ScheduleRequest, DueAction>> TakeScheduleRequests();
  /// The elastic actions that have fired, each with what the rule says now (status).
  std::vector<AutoscaleEntry> Autoscale(WorkflowId id, double now);
  /// What the elastic actions ask for now, over every workflow (server/elastic.h); notes how
  /// long ready jobs have stood uncovered, for the next call.
  std::vector<ElasticRequest> TakeElasticRequests(double now);
  /// Asks for (and takes) an early squeue reconciliation, e.g. after a lease expired.
  void RequestReconcile();
  bool TakeReconcileRequest();
  std::vector<std::string> TakeScancelRequests();

 private:
  Service(std::unique_ptr<Store> store, ServiceOptions options)
      : store_(std::move(store)), options_(options) {}
  ServiceStatus Load(double now);
  /// Commits a batch; on failure reloads every workflow from the store (the
  /// entry and any iterator into workflows_ are then invalid).
  ServiceStatus CommitLocked(WorkflowEntry& entry, ChangeBatch* batch);
  /// Commits a batch, nothing more.
  ServiceStatus AppendLocked(WorkflowEntry& entry, ChangeBatch* batch);
  /// After a failed commit whose reload also failed, memory may be ahead of
  /// the disk: reloads it (kUnavailable while that fails).
  ServiceStatus FreshLocked(double now);
  void LoadAllocations();
  /// An allocation's new state, seen at `time` (its start, its end), with its nodes if known.
  static void Apply(AllocationRecord* a, const std::string& state, double time,
                    const std::string& nodes);
  static ServiceStatus FromStore(const StoreStatus& s, const std::string& doing);

  std::mutex mu_;
  std::unique_ptr<Store> store_;
  ServiceOptions options_;
  std::map<WorkflowId, std::unique_ptr<WorkflowEntry>> workflows_;
  std::map<std::pair<WorkflowId, uint32_t>, bool> actions_in_flight_;
  std::map<WorkflowId, std::vector<AllocationRecord>> allocations_;
  std::map<WorkflowId, std::string> schedule_failures_;  // see NoteScheduleFailure
  std::map<WorkflowId, std::string> workers_left_;       // see NoteWorkerLeft
  /// When the last live worker of an allocation left (by workflow, Slurm job id). Memory only:
  /// after a restart such an allocation counts as ended (server/elastic.h).
  std::map<WorkflowId, std::map<std::string, double>> workers_gone_at_;
  /// Since when an elastic action's ready jobs have stood uncovered (memory only).
  std::map<std::pair<WorkflowId, uint32_t>, double> uncovered_since_;
  /// The elastic actions of a workflow that have fired, with the rule's answer now.
  std::vector<AutoscaleEntry> AutoscaleLocked(WorkflowId id, const WorkflowEntry& entry,
                                              double now);
  std::vector<std::string> scancel_requests_;
  bool reconcile_requested_ = false;
  std::vector<ScheduleRequest> schedule_requests_;
  int64_t next_event_seq_ = 1;
  WorkerId next_worker_id_ = 1;
  std::function<void(const ChangeBatch&)> commit_observer_;  // see SetCommitObserver
  std::function<void()> action_wakeup_;                      // see SetActionWakeup
  std::function<void()> claim_wakeup_;                       // see SetClaimWakeup
  void WakeActionsLocked() {
    if (action_wakeup_) action_wakeup_();
  }
  /// Wakes the action runner when a committed batch gives it something to do (an action
  /// due, the workflow complete, a lease expired: squeue is to be asked).
  void WakeActionsForLocked(const WorkflowEntry& entry, const ChangeBatch& batch,
                            bool lease_expired);
  /// Calls claim_wakeup_ when the batch made a job ready or completed the workflow.
  void WakeClaimsForLocked(const WorkflowEntry& entry, const ChangeBatch& batch);
  bool stale_ = false;   // memory may be ahead of the disk; reload before use
  double last_now_ = 0;  // the latest time a caller gave, for reloads
};

/// Finds the job a reference names; kNotFound ("no job 7", "no job named 'x'") when none does.
ServiceStatus ResolveJob(const spec::Plan& plan, const JobRef& ref, JobIndex* job);

/// Parses a workflow file as the server does, for submit and for reload: its `"@path"`
/// parameter values are read from row.parameter_files only.
spec::LoadResult ParseWorkflow(const WorkflowRow& row, const spec::LoadOptions& limits);
/// The 400 a workflow file with errors gets from submit and update: the count, each error in
/// the details.
ServiceStatus ParseFailure(const spec::LoadResult& parsed);
/// The "@file" parameter files as stored beside the text (WorkflowRow::parameter_files). Texts
/// that came in JSON are UTF-8; any other byte would be refused by the parse anyway.
std::string ParameterFilesJson(const std::map<std::string, std::string>& files);
/// A digest of the expanded job names, to detect a reload that expands differently.
std::string NamesDigest(const spec::Plan& plan);

/// Compute follows a restart: for each scheduler of the ready jobs that has no pending or
/// running allocation, the allocations its first schedule_nodes action asks for.
std::vector<ScheduleRequest> RestartSchedules(const WorkflowEntry& entry,
                                              const std::vector<AllocationRecord>& allocations);

}  // namespace torc::server
