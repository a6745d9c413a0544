// The worker protocol: every message that crosses the wire between a worker and the server,
// as structs, with their one JSON encoding (docs/api.md, "Worker endpoints"). The server's API
// handlers and the worker's client use only these; each decoder checks every field and throws
// FieldError naming the one that is wrong.
//
//   POST   /workflows/W/workers                 Registration        -> RegistrationAnswer
//   POST   /workflows/W/claim                   ClaimRequest        -> ClaimAnswer
//   POST   /workflows/W/start                   StartRequest        -> StartAnswer
//   POST   /workflows/W/complete                CompleteRequest     -> CompleteAnswer
//   POST   /workflows/W/workers/K/heartbeat     (no body)           -> HeartbeatAnswer
//   GET    /workflows/W/workers/K/jobs          (no body)           -> HeldJobs
//   DELETE /workflows/W/workers/K               LeaveNotice         -> {"ok": true}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/protocol/fields.h"
#include "spec/plan.h"

namespace torc::protocol {

class JsonWriter;

/// Defaults both sides apply when a workflow leaves them unset (execution_config).
inline constexpr int kDefaultOomExitCode = 137;
inline constexpr int kDefaultTimeoutExitCode = 152;
/// The longest text of each field the decoders accept (docs/limits.md, "Worker requests"). The
/// encoders of the worker's messages (Registration, ClaimRequest, StartRequest, CompleteRequest,
/// LeaveNotice) fit every text to its limit with FitText, so a worker never sends a text the
/// server must refuse: a long error message is cut, not the reason its result is lost.
/// A result's `reason` (an error text from the system can be long).
inline constexpr size_t kMaxReasonBytes = 256;
/// The node list of a start notice or result.
inline constexpr size_t kMaxNodesBytes = 1 << 16;
/// A registration's `hostname`, and the name of each of its nodes.
inline constexpr size_t kMaxHostnameBytes = 256;
/// A registration's `slurm_job_id`.
inline constexpr size_t kMaxSlurmJobIdBytes = 64;
/// A registration's `slurm_nodelist` (Slurm's compressed form, e.g. "n[1-400]").
inline constexpr size_t kMaxSlurmNodeListBytes = 4096;
/// A registration's `output_dir` (PATH_MAX): a worker refuses a longer one before registering,
/// since a cut path would name another directory.
inline constexpr size_t kMaxPathBytes = 4096;
/// A claim's `scheduler` name.
inline constexpr size_t kMaxSchedulerBytes = 256;
/// The longest a claim may ask the server to hold it (`wait_seconds`).
inline constexpr double kMaxClaimWaitSeconds = 60;
/// Why a worker leaves (LeaveNotice).
inline constexpr size_t kMaxLeaveReasonBytes = 1024;
/// The resource samples of one result: a worker thins longer series (ThinSamples) before
/// sending them.
inline constexpr size_t kMaxSamples = 10'000;
/// The nodes of one result's `node_usage`.
inline constexpr size_t kMaxNodeUsage = 100'000;

// ---- registration ------------------------------------------------------------------------
/// One node of the worker's allocation, as it found it (worker/allocation.h).
struct NodeResources {
  std::string name;
  int64_t cpus = 1;
  int64_t memory_bytes = 0;
  std::vector<int> gpus;  // device indices
  bool operator==(const NodeResources&) const = default;
};

/// A worker introduces itself: where it runs, what it has, where its jobs' output goes.
struct Registration {
  std::string hostname;
  std::string slurm_job_id;    // "" outside Slurm
  std::string slurm_nodelist;  // the allocation's SLURM_JOB_NODELIST
  int64_t pid = 0;
  std::string output_dir;      // its job-output directory (protocol/output_paths.h)
  std::vector<NodeResources> nodes;
  std::optional<double> end_time;  // the allocation's end, seconds since the epoch
  /// SLURM_RESTART_COUNT: how often Slurm requeued the allocation (preemption in REQUEUE mode,
  /// a node failure, scontrol requeue) before this start.
  uint32_t slurm_restart_count = 0;
  bool operator==(const Registration&) const = default;

  /// The "resources" object the server keeps for the worker: nodes (when it reported any),
  /// end_time, output_dir.
  nlohmann::json ResourcesJson() const;
};
nlohmann::json ToJson(const Registration& m);
Registration RegistrationFromJson(const nlohmann::json& j);

/// How the workflow wants jobs launched (spec::ExecutionConfig, with defaults filled in).
struct ExecutionSettings {
  std::string mode = "auto";  // auto | slurm | direct
  bool limit_resources = true;
  std::string termination_signal = "SIGTERM";
  int64_t sigterm_lead_seconds = 30;
  int64_t oom_exit_code = kDefaultOomExitCode;
  int64_t timeout_exit_code = kDefaultTimeoutExitCode;
  std::string srun_termination_signal;
  bool enable_cpu_bind = false;
  int64_t srun_launch_interval_ms = 25;
  int64_t sigkill_headroom_seconds = 0;  // the walltime stop comes this much earlier
  std::string srun_mpi;                  // srun --mpi= for job steps ("": Slurm's default)
  bool operator==(const ExecutionSettings&) const = default;
};
ExecutionSettings ExecutionSettingsOf(const spec::ExecutionConfig& x);

/// What the workflow's `resource_monitor` asks the worker to measure (spec::ResourceMonitor).
struct MonitorSettings {
  bool enabled = true;       // measure jobs at all (peak RSS, CPU time, per node)
  bool time_series = false;  // also sample CPU % and RSS every sample_interval_seconds
  int64_t sample_interval_seconds = 10;
  bool operator==(const MonitorSettings&) const = default;
};
MonitorSettings MonitorSettingsOf(const spec::ResourceMonitor& m);

/// The server's answer to a registration: the worker's id and what it needs of the workflow.
struct RegistrationAnswer {
  int64_t worker_id = 0;
  std::string workflow_name;
  std::string working_dir;
  double heartbeat_seconds = 30;
  double lease_seconds = 90;
  std::vector<spec::FailureHandler> failure_handlers;
  std::vector<std::string> schedulers;
  std::vector<std::string> on_worker_start, on_worker_complete;  // hook commands
  ExecutionSettings execution;
  MonitorSettings monitor;
  /// The workflow's compute_node_ignore_workflow_completion: "workflow complete" means only
  /// "nothing to run now", and the worker leaves by its idle timeout (docs/worker.md).
  bool ignore_workflow_completion = false;
};
nlohmann::json ToJson(const RegistrationAnswer& m);
RegistrationAnswer RegistrationAnswerFromJson(const nlohmann::json& j);

// ---- claims --------------------------------------------------------------------------------
/// Free and total resources of one node of a claiming worker (one per node, plus one per node
/// and round when it claims ahead).
struct NodeCapacity {
  int64_t free_cpus = 0;
  int64_t free_memory_bytes = 0;
  int64_t free_gpus = 0;
  int64_t total_cpus = 0;
  int64_t total_memory_bytes = 0;
  int64_t total_gpus = 0;
  bool idle = false;  // nothing runs on it (needed by multi-node jobs)
  bool operator==(const NodeCapacity&) const = default;
};

/// How an attempt ended, as a worker reports it.
enum class AttemptStatus { kCompleted, kFailed, kTerminated, kCanceled };
const char* ToString(AttemptStatus s);

/// A job the worker launched: it runs now, on these nodes.
struct StartNotice {
  uint32_t id = 0;
  uint32_t attempt = 1;
  std::string nodes;  // e.g. "n1,n2"; "" when not known
  bool operator==(const StartNotice&) const = default;
};

/// What an attempt used on one of its nodes (the job's own processes there).
struct NodeUsage {
  std::string node;
  int64_t peak_rss_bytes = -1;  // -1: unknown
  double cpu_seconds = -1;      // -1: unknown
  bool operator==(const NodeUsage&) const = default;
};

/// One sample of an attempt's time series (summed over its nodes: docs/worker.md).
struct ResourceSample {
  double t = 0;            // seconds since the attempt's start_time
  double cpu_percent = 0;  // may exceed 100 (several CPUs)
  int64_t rss_bytes = 0;
  bool operator==(const ResourceSample&) const = default;
};

/// At most `max` of `samples`, evenly picked (the first and the last kept), so that a long
/// series fits a report (kMaxSamples).
std::vector<ResourceSample> ThinSamples(std::vector<ResourceSample> samples,
                                        size_t max = kMaxSamples);

/// An attempt that ended on the worker.
struct AttemptReport {
  uint32_t id = 0;
  uint32_t attempt = 1;
  AttemptStatus status = AttemptStatus::kCompleted;
  int32_t exit_code = 0;  // 0 for completed
  int32_t signal = 0;
  std::string reason;  // why torc stopped it ("runtime", "memory", ...), at most kMaxReasonBytes
  double start_time = 0, end_time = 0;
  int64_t peak_rss_bytes = -1;  // -1: unknown
  double cpu_seconds = -1;      // -1: unknown
  std::string nodes;
  /// One entry per node the attempt ran on; peak_rss_bytes above is their max, cpu_seconds
  /// their sum. Empty when not measured.
  std::vector<NodeUsage> node_usage;
  /// Only when the workflow asks for time series; at most kMaxSamples.
  std::vector<ResourceSample> samples;
  bool operator==(const AttemptReport&) const = default;
};
nlohmann::json ToJson(const AttemptReport& m);
AttemptReport AttemptReportFromJson(const nlohmann::json& j);

/// "Give me work that fits": free capacity per node, and the news since the last request.
struct ClaimRequest {
  int64_t worker_id = 0;
  uint32_t max_jobs = 1;
  std::vector<NodeCapacity> nodes;
  std::optional<double> remaining_seconds;  // time the allocation has left for a job
  std::string scheduler;                    // "" = any
  /// The CPUs of all the worker's nodes, busy or not (0: not said). The server sums them over
  /// its live workers (ClaimAnswer::worker_cpus): `nodes` may list capacity claimed ahead.
  int64_t total_cpus = 0;
  /// Not 0: when nothing is given, the server may hold the answer up to this long, until a
  /// job becomes ready or the workflow completes (docs/api.md). Not with started or results.
  double wait_seconds = 0;
  std::vector<StartNotice> started;
  std::vector<AttemptReport> results;
  bool operator==(const ClaimRequest&) const = default;
};
nlohmann::json ToJson(const ClaimRequest& m);
ClaimRequest ClaimRequestFromJson(const nlohmann::json& j);

/// A job handed to a worker (claim answers, and the jobs a worker holds).
struct ClaimedJob {
  uint32_t id = 0;
  std::string name;
  uint32_t attempt = 1;
  std::string command;
  std::string invocation_script;
  std::map<std::string, std::string> env;  // the workflow's, overridden by the job's own
  int64_t num_cpus = 1, memory_bytes = 0, num_gpus = 0, num_nodes = 1;
  int64_t runtime_seconds = 3600;
  std::vector<uint32_t> nodes;  // indices of the claim's nodes it fits on
  spec::StdioMode stdio_mode = spec::StdioMode::kSeparate;
  bool delete_on_success = false;
  int64_t failure_handler = -1;  // index into RegistrationAnswer::failure_handlers
  /// Other jobs wait for its result (children or a dependency group): the worker reports it
  /// at once instead of letting it wait for the next request.
  bool has_dependents = false;
  std::string status;            // only in HeldJobs: "claimed" or "running"
  bool operator==(const ClaimedJob&) const = default;
};
/// Appends the job's JSON object: the hot path of the claim answer, written without a DOM.
void WriteJson(const ClaimedJob& m, JsonWriter& w);
nlohmann::json ToJson(const ClaimedJob& m);
ClaimedJob ClaimedJobFromJson(const nlohmann::json& j);

/// A result the server did not record, and why.
struct Rejection {
  uint32_t id = 0;
  uint32_t attempt = 0;
  std::string reason;
  bool operator==(const Rejection&) const = default;
};

/// The answer to a claim.
struct ClaimAnswer {
  std::vector<ClaimedJob> jobs;
  bool workflow_complete = false;
  int64_t unfinished = 0;  // jobs not in a final state
  int64_t ready = 0;       // ready jobs left after this claim
  int64_t blocked = 0;     // jobs waiting for others to end
  /// The total_cpus of the workflow's live workers that said theirs (0: none did). A worker
  /// claims ahead at most its share of the ready jobs: ready * its CPUs / worker_cpus.
  int64_t worker_cpus = 0;
  /// Only when no job was given: how many unfinished jobs could ever run on this worker.
  std::optional<int64_t> runnable;
  int64_t applied = 0, duplicate = 0;  // results carried by the claim
  std::vector<Rejection> rejected;
  bool operator==(const ClaimAnswer&) const = default;
};
std::string EncodeClaimAnswer(const ClaimAnswer& m);
ClaimAnswer ClaimAnswerFromJson(const nlohmann::json& j);

// ---- start, complete, heartbeat, held jobs, leaving -----------------------------------------
/// Start notices sent alone (when no claim is due to carry them).
struct StartRequest {
  int64_t worker_id = 0;
  std::vector<StartNotice> jobs;
  bool operator==(const StartRequest&) const = default;
};
nlohmann::json ToJson(const StartRequest& m);
StartRequest StartRequestFromJson(const nlohmann::json& j);

/// How many start notices were applied.
struct StartAnswer {
  int64_t started = 0;
};
nlohmann::json ToJson(const StartAnswer& m);
StartAnswer StartAnswerFromJson(const nlohmann::json& j);

/// Results sent alone (when no claim is due to carry them).
struct CompleteRequest {
  int64_t worker_id = 0;
  std::vector<AttemptReport> results;
  /// Start notices travelling with the results (applied first): one request for both.
  std::vector<StartNotice> started;
  bool operator==(const CompleteRequest&) const = default;
};
nlohmann::json ToJson(const CompleteRequest& m);
CompleteRequest CompleteRequestFromJson(const nlohmann::json& j);

/// Counts of the outcomes; the rejected results listed (answered with 409 when any is).
struct CompleteAnswer {
  int64_t applied = 0, duplicate = 0;
  std::vector<Rejection> rejected;
  bool workflow_complete = false;  // after these results
  bool operator==(const CompleteAnswer&) const = default;
};
nlohmann::json ToJson(const CompleteAnswer& m);
CompleteAnswer CompleteAnswerFromJson(const nlohmann::json& j);

/// The lease was renewed: jobs to stop (canceled), and whether the workflow is done.
struct HeartbeatAnswer {
  std::vector<uint32_t> stop_jobs;
  bool workflow_complete = false;
  bool operator==(const HeartbeatAnswer&) const = default;
};
nlohmann::json ToJson(const HeartbeatAnswer& m);
HeartbeatAnswer HeartbeatAnswerFromJson(const nlohmann::json& j);

/// The jobs the server says a worker holds (after a claim whose answer may have been lost).
struct HeldJobs {
  std::vector<ClaimedJob> jobs;  // with status
  bool operator==(const HeldJobs&) const = default;
};
nlohmann::json ToJson(const HeldJobs& m);
HeldJobs HeldJobsFromJson(const nlohmann::json& j);

/// Why a worker leaves with work left (shown by `torc status`); "" when it just finished.
struct LeaveNotice {
  std::string reason;
  bool operator==(const LeaveNotice&) const = default;
};
nlohmann::json ToJson(const LeaveNotice& m);  // null when there is no reason
LeaveNotice LeaveNoticeFromJson(const nlohmann::json& j);

}  // namespace torc::protocol
