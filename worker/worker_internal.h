// The worker's event loop, shared by worker.cc (setup, the loop, talking to
// the server) and worker_jobs.cc (launching, limits, exits, reports). Private
// to worker/: the public entry point is RunWorker in worker/worker.h.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/client/client.h"
#include "spec/plan.h"
#include "worker/allocation.h"
#include "worker/command.h"
#include "worker/ledger.h"
#include "worker/process.h"
#include "worker/worker.h"

namespace torc::worker::internal {

/// Seconds since the epoch, from the system clock.
double Now();

/// A job this worker is running (or recovering after a failure).
struct Running {
  JobToRun job;
  Placement placement;
  pid_t pid = -1;
  double start_time = 0;
  double runtime_deadline = 0;
  std::string end_reason;   // why torc stopped it: runtime, walltime, memory, canceled, stopped
  double kill_at = 0;       // SIGKILL after this (0: not signalled)
  std::string nodes;
  protocol::AttemptOutputs outputs;
  pid_t recovery_pid = -1;  // running the failure handler's recovery script
  ProcessExit exit;         // the job's exit, kept while recovering
};

/// One `torc worker run`: registers, then claims, launches and reaps jobs and
/// reports their results until the workflow is done or the worker is stopped.
class Worker {
 public:
  Worker(server::ApiClient& api, const WorkerOptions& o) : api_(api), o_(o) {}

  int Run();

 private:
  // setup, the loop and talking to the server (worker.cc)
  bool Register();
  /// Until the server first answers: retries with backoff, says on stderr within seconds what
  /// it cannot reach, and gives up after the connect timeout. False when it gave up.
  bool ReachServer();
  void RunHookCommands(const std::vector<std::string>& commands);
  /// "2 node(s) x 4 CPUs, 3.9 GiB, 0 GPUs": what this worker has, for messages.
  std::string ResourceSummary() const;
  /// The whole allocation's node list (SLURM_JOB_NODELIST), "" outside Slurm.
  std::string SlurmNodeList() const;
  int Loop();
  void Claim(double now);
  JobToRun ParseJob(const nlohmann::json& j);
  bool FlushDue(double now);
  void Flush();
  void Heartbeat();
  void ServerTrouble(const server::ApiResult& r);
  void ServerOk();
  /// After a claim whose answer may have been lost: takes back the jobs the server says this
  /// worker holds but it does not know of.
  void Resync();
  server::ApiResult RetryCall(const std::string& method, const std::string& path,
                              const nlohmann::json& body);
  /// Keeps what a wait outside the loop saw (exits, a signal) for the loop.
  void Stash(WakeUp w);
  void Log(const std::string& message);

  // the life of a job: launch, limits, exits, reports (worker_jobs.cc)
  void OnStopSignal(int signal);
  bool MayBeAllocationEnding(const Running& r, const ProcessExit& e) const;
  /// Concludes held exits whose wait is over; true if any was (its resources are free).
  bool FinishDeferred(double now);
  void Conclude(std::map<pid_t, Running>::iterator it, const ProcessExit& e);
  void LaunchQueued();
  void StartPlaced(double now);
  void DropPlaced();
  bool Launch(JobToRun job, const Placement& placement);
  /// The SLURM_HOSTFILE of a direct-mode placement (written once per node set).
  std::string Hostfile(const Placement& placement);
  void Terminate(Running& r, const std::string& reason, double grace);
  void CheckLimits(double now);
  void Stop(const std::string& reason);
  void OnExit(const ProcessExit& e);
  bool StartRecovery(Running& r, const ProcessExit& e);
  void Finish(Running& r, const ProcessExit& e);
  void Report(const JobToRun& job, const std::string& status, int exit_code, int signal,
              const std::string& reason, double start, double end, const Running& r,
              const ProcessExit* e = nullptr);

  server::ApiClient& api_;
  WorkerOptions o_;
  Allocation alloc_;
  std::unique_ptr<NodeLedger> ledger_;
  ProcessTable procs_;
  std::map<pid_t, Running> running_;
  std::deque<JobToRun> queue_;  // claimed, waiting for room (prefetched or not fitting yet)
  struct Placed {
    JobToRun job;
    Placement placement;
  };
  // Placed on nodes (their resources held in the ledger), waiting for their turn to be
  // launched: slurm mode starts at most one srun per launch_interval_ seconds.
  std::deque<Placed> placed_;
  double launch_interval_ = 0, next_launch_at_ = 0;
  struct Deferred {
    ProcessExit exit;
    double deadline;
  };
  std::map<pid_t, Deferred> deferred_;  // exits waiting to see if the allocation is ending
  // Exits and a signal seen while waiting outside the loop (registration retries, hook
  // commands): the loop handles them on its next turn (Stash).
  WakeUp stashed_;
  static constexpr double kAllocationEndingWaitSeconds = 1.5;
  // How much of an allocation's start may pass before a job as long as the walltime no longer
  // starts (ClaimableRuntime).
  static constexpr double kStartupAllowanceSeconds = 120;
  static constexpr double kPrefetchBelowSeconds = 2.0;
  static constexpr double kFlushDelaySeconds = 0.1;
  double first_pending_ = 0;  // when the oldest unsent result or start notice appeared
  double mean_job_seconds_ = 0;  // moving average of recent jobs' run times
  int64_t jobs_measured_ = 0;
  uint32_t own_node_ = 0;  // the node this worker runs on (direct mode starts processes here)
  nlohmann::json results_ = nlohmann::json::array();  // ended attempts not yet reported
  nlohmann::json started_ = nlohmann::json::array();  // launched jobs not yet reported
  std::vector<spec::FailureHandler> handlers_;
  std::set<std::string> hostfiles_;  // hostfiles written (see Hostfile)
  std::vector<std::string> on_start_, on_complete_;
  SrunOptions srun_;
  std::string base_, workflow_name_, working_dir_, job_output_dir_;
  int64_t worker_id_ = 0;
  double heartbeat_seconds_ = 30;
  bool direct_ = true, limit_resources_ = true;
  int term_signal_ = SIGTERM;
  int64_t sigterm_lead_ = 30;
  int oom_exit_code_ = 137, timeout_exit_code_ = 152;
  double next_memory_check_ = 0;  // when /proc is read again for memory limits
  double next_log_check_ = 0;     // when output files are checked again against max_log_bytes
  double next_claim_ = 0, claim_backoff_ = 0;
  // Server unreachable or answering 5xx: no call before retry_at_; the wait doubles per failure
  // (0.25 s up to 5 s, with jitter) and resets on the first success.
  double retry_at_ = 0, trouble_backoff_ = 0;
  bool contacted_ = false;  // the server has answered once (ReachServer)
  bool resync_ = false;  // a claim failed in flight: ask the server what this worker holds
  bool nothing_fits_ = false;
  bool workflow_complete_ = false, draining_ = false, stuck_ = false,
       trouble_logged_ = false;
  int stop_code_ = 0;
  std::string stop_reason_;  // why Stop() was called: "walltime" or "stopped"
  std::string leave_reason_;  // why the loop ended with work left (sent when unregistering)
  int64_t done_ = 0;
};

}  // namespace torc::worker::internal
