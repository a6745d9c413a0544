// The records the server keeps about workflows: job states, attempts, events,
// workers, actions, and the batch of changes one request makes. Shared by the
// scheduling core (which produces them), the store (which persists them) and
// the API (which shows them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace torc::server {

using WorkflowId = int64_t;
using WorkerId = int64_t;
using JobIndex = uint32_t;  // index of a job in its workflow's Plan

/// A job's state. Transitions are documented in docs/job-states.md.
enum class JobStatus : uint8_t {
  kBlocked,     // waiting for parents
  kReady,       // may be claimed
  kClaimed,     // given to a worker, not started yet
  kRunning,     // the worker started it
  kCompleted,   // exit code 0
  kFailed,      // non-zero exit, no retry left
  kCanceled,    // by the user, or a parent failed for good
  kTerminated,  // killed by walltime or cancel, no requeue left
  kDisabled,    // never runs (kept for Torc compatibility)
};
inline constexpr int kNumJobStatuses = 9;
const char* ToString(JobStatus s);
std::optional<JobStatus> ParseJobStatus(std::string_view s);
/// Completed, failed, canceled, terminated or disabled: nothing more will happen.
bool IsFinal(JobStatus s);

/// The persistent, changing part of one job (the rest comes from the Plan).
struct JobDynamic {
  JobStatus status = JobStatus::kBlocked;
  uint32_t attempt = 1;            // the current (or last) attempt number, from 1
  uint16_t retries = 0;            // failure-handler retries used
  uint16_t walltime_requeues = 0;  // requeues after being terminated by walltime or runtime
  WorkerId worker = 0;             // lease owner while claimed/running, else 0
  /// The job's request grown by failure-handler multipliers or a restart (bytes per node,
  /// seconds); -1: the plan's request.
  int64_t memory_request = -1;
  int64_t runtime_request = -1;
  uint16_t interruptions = 0;   // requeues after its allocation was preempted or stopped
  uint16_t slurm_requeues = 0;  // requeues after Slurm failed to run its step
  bool operator==(const JobDynamic&) const = default;
};

/// What a worker reports when an attempt ends.
struct AttemptResult {
  JobIndex job = 0;
  uint32_t attempt = 0;
  WorkerId worker = 0;
  JobStatus status = JobStatus::kCompleted;  // completed, failed, terminated or canceled
  int32_t exit_code = 0;
  int32_t signal = 0;            // terminating signal, 0 if none
  std::string reason;  // "", "walltime", "stopped", "preempted", "slurm: <srun's message>",
                       // "runtime", "memory", "canceled", "abandoned: ..." (docs/job-states.md)
  double start_time = 0;         // seconds since the epoch
  double end_time = 0;
  int64_t peak_rss_bytes = -1;   // -1: unknown
  double cpu_seconds = -1;       // -1: unknown
  std::string nodes;             // e.g. "n1" or "n[1-4]"
  int64_t memory_request = -1;   // what the attempt was given (bytes per node); -1: unknown
  int64_t runtime_request = -1;  // seconds; -1: unknown
  /// What it used per node, as the API shows it: a JSON array of {"node", "peak_rss_bytes",
  /// "cpu_seconds"} ("[]" when unknown).
  std::string node_usage = "[]";
  uint32_t samples = 0;          // how many time series samples are stored (AttemptSamples)
};

/// The time series of one attempt, written beside its result and read only on request (it can
/// be large: never kept in memory).
struct AttemptSamples {
  JobIndex job = 0;
  uint32_t attempt = 0;
  double interval_seconds = 0;
  std::string samples_json;  // [[t, cpu_percent, rss_bytes], ...], t from the attempt's start
};

/// Something worth telling the user about (requeues, retries, expiries, cancels).
struct Event {
  int64_t seq = 0;  // global, increasing; the cursor of "events since"
  WorkflowId workflow = 0;
  double time = 0;
  std::string kind;   // e.g. "lease_expired", "retry", "requeue", "canceled", "worker_registered"
  int64_t job = -1;   // job index or -1
  uint32_t attempt = 0;
  WorkerId worker = 0;
  std::string detail;
};

/// A registered worker and its lease.
struct WorkerRecord {
  WorkerId id = 0;
  WorkflowId workflow = 0;
  std::string hostname;
  std::string slurm_job_id;  // "" outside Slurm
  int64_t pid = 0;
  double registered_at = 0;
  double lease_expires = 0;
  bool alive = true;
  std::string resources_json;  // what it reported: nodes, cpus, memory, gpus, walltime
};

/// Where a workflow action stands.
enum class ActionStatus : uint8_t { kWaiting, kDue, kDone, kFailed };
const char* ToString(ActionStatus s);

/// The persisted state of one action of a workflow (in ChangeBatch and LoadedWorkflow).
struct ActionState {
  uint32_t action = 0;  // index into the Plan's actions
  ActionStatus status = ActionStatus::kWaiting;
  std::string detail;   // e.g. the Slurm job ids submitted, or the error
};

/// Everything one request changed in one workflow. The store commits it in one
/// transaction before the API answers.
struct ChangeBatch {
  WorkflowId workflow = 0;
  double time = 0;
  std::vector<std::pair<JobIndex, JobDynamic>> jobs;  // new state of each changed job
  std::vector<AttemptResult> results;
  std::vector<Event> events;
  std::vector<WorkerRecord> workers;  // registered or changed workers (full record)
  std::vector<ActionState> actions;   // changed actions (full record)
  std::vector<AttemptSamples> samples;  // time series of applied results
  bool empty() const {
    return jobs.empty() && results.empty() && events.empty() && workers.empty() &&
           actions.empty() && samples.empty();
  }
};

/// How a workflow was submitted: enough to rebuild its Plan by parsing the
/// same text (and parameter files) again.
struct WorkflowRow {
  WorkflowId id = 0;
  std::string name;
  std::string owner;        // $USER of the submitter
  double created_at = 0;
  std::string spec_text;    // the workflow file as submitted
  std::string file_name;    // as given, for messages
  std::string working_dir;  // where jobs run unless the workflow says otherwise
  /// The files of its `"@path"` parameter values, which the server cannot read itself: a JSON
  /// object, path as written -> the file's text as submitted (spec::Plan::parameter_files).
  std::string parameter_files = "{}";
  uint32_t job_count = 0;
  std::string names_digest; // digest of the expanded job names, checked on reload
  /// The stamps of the workflow's pure input files (read by a job, produced by none) at its
  /// submit or last update, as JSON {"path": [size, mtime_ns]} (docs/rerun.md).
  std::string input_stamps = "{}";
};

}  // namespace torc::server
