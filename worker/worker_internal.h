// The worker's event loop, shared by worker.cc (setup, the loop), worker_server.cc (talking
// to the server) and worker_jobs.cc (launching, limits, exits, reports). Private to worker/:
// the public entry point is RunWorker in worker/worker.h.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/protocol/messages.h"
#include "spec/plan.h"
#include "worker/allocation.h"
#include "worker/clock.h"
#include "worker/command.h"
#include "worker/launcher.h"
#include "worker/ledger.h"
#include "worker/process.h"
#include "worker/step_outcome.h"
#include "worker/usage.h"
#include "worker/worker.h"
#include "worker/worker_api.h"

namespace torc::worker::internal {

/// A job this worker is running (or recovering after a failure).
struct Running {
  JobToRun job;
  Placement placement;
  pid_t pid = -1;
  double start_time = 0;
  double runtime_deadline = 0;
  // Why it ended other than by itself: runtime, walltime, memory, canceled, stopped,
  // preempted, or "slurm: <srun's message>" (Slurm could not run it).
  std::string end_reason;
  double kill_at = 0;       // the next escalation is due (0: not signalled)
  /// How far torc's stop went: the termination signal, then (slurm mode) SIGINT to srun,
  /// then SIGKILL.
  enum class Stopping { kNo, kSignalled, kInterrupted, kKilled } stopping = Stopping::kNo;
  double launched_at = 0;   // when its process (srun, in slurm mode) was started
  std::string nodes;
  protocol::AttemptOutputs outputs;
  pid_t recovery_pid = -1;  // running the failure handler's recovery script
  ProcessExit exit;         // the job's exit, kept while recovering
  UsageRecorder usage;      // direct mode: its peak memory and samples, from /proc
  std::vector<NodeUsageReport> node_reports;  // slurm mode: what job-exec measured per node
  std::optional<StepOutcome> step;  // slurm mode: how its step ended (ClassifyStep)
};

/// One `torc worker run`: registers, then claims, launches and reaps jobs and
/// reports their results until the workflow is done or the worker is stopped.
class Worker {
 public:
  Worker(const WorkerOptions& o, const WorkerSeams& seams)
      : api_(*seams.api), clock_(*seams.clock), procs_(*seams.processes), env_(seams.env), o_(o) {}

  /// The worker's whole life; returns the process exit code (0: it stopped normally).
  int Run();

 private:
  // ---- setup (worker.cc)
  /// Registers (again, after a lost lease) and takes the workflow's settings; false when the
  /// server could not be reached or refused.
  bool Register();
  /// What this worker tells the server about itself.
  protocol::Registration Introduction() const;
  /// Waits out this worker's start-up delay (--startup-delay); false when a stop signal came
  /// meanwhile (then the worker leaves at once, having told the server nothing).
  bool StaggerStart();
  /// Until the server first answers: retries with backoff, says on stderr within seconds what
  /// it cannot reach, and gives up after the connect timeout. False when it gave up.
  bool ReachServer();
  /// Takes the registration answer: the worker id, the workflow's settings, the launcher.
  void Configure(const protocol::RegistrationAnswer& answer);
  /// Runs the workflow's on_worker_start / on_worker_complete commands, one after another.
  void RunHookCommands(const std::vector<std::string>& commands);
  /// "2 node(s) x 4 CPUs, 3.9 GiB, 0 GPUs": what this worker has, for messages.
  std::string ResourceSummary() const;
  /// The whole allocation's node list (SLURM_JOB_NODELIST), "" outside Slurm.
  std::string SlurmNodeList() const;

  // ---- the loop (worker.cc)
  /// Until the workflow is done or the worker stops; returns the exit code.
  int Loop();
  /// One turn's work: limits, the heartbeat, a pending signal, launches, a claim or a flush.
  void Work(double now, double* next_heartbeat);
  /// The loop's exit code when it is over (done, stopped, nothing fits, stuck, idle).
  std::optional<int> Finished(double now, double idle_since);
  /// How long the loop may sleep before something is due.
  double WaitSeconds(double next_heartbeat) const;
  /// Sleeps until an event or `wait` seconds, then handles exits and signals.
  void WaitAndHandle(double wait);
  /// Whether claimed jobs wait here to be launched.
  bool Holding() const { return !queue_.empty() || !placed_.empty(); }

  // ---- talking to the server (worker_server.cc)
  /// Claims what fits the free resources, carrying the pending start notices and results.
  void Claim(double now);
  /// What a claim offers: each node's free resources, plus whole nodes for the rounds claimed
  /// ahead; the free CPUs, how many jobs may be claimed ahead, and all the nodes' CPUs.
  struct Capacity {
    std::vector<protocol::NodeCapacity> nodes;
    int64_t free_cpus = 0, ahead = 0, total_cpus = 0;
  };
  Capacity ClaimCapacity() const;
  /// Takes a claim's answer: queues its jobs, and learns whether work is left for this worker.
  void OnClaimAnswer(const protocol::ClaimAnswer& answer, double now);
  /// Whether the pending start notices and results should go now (they wait for the next
  /// claim to carry them, at most NewsHold()).
  bool FlushDue(double now);
  /// How long start notices and results may wait: kFlushDelaySeconds when a result is
  /// awaited (other jobs depend on it); for jobs of seconds, 1.5 mean job lengths (1 to 10 s):
  /// while jobs run, an exit within about one sends a claim that carries them; else 1 s.
  double NewsHold() const {
    if (urgent_news_) return kFlushDelaySeconds;
    if (ClaimsAhead())
      return std::clamp(1.5 * mean_job_seconds_, kNewsHoldSeconds, kPrefetchBelowSeconds);
    return kNewsHoldSeconds;
  }
  /// Whether recent jobs are short enough to be claimed ahead (ClaimCapacity).
  bool ClaimsAhead() const { return jobs_measured_ >= 4 && mean_job_seconds_ < kPrefetchBelowSeconds; }
  /// Sends the pending start notices and results without a claim: in one request when there
  /// are results, else the notices alone.
  void Flush();
  /// Sends `items` (start notices or results, `what` names them) with `send`, a call taking a
  /// vector of them. A batch the server refuses for good (400: one of them is not what it
  /// accepts) is sent again one at a time, and each one refused then is dropped with a message
  /// naming its job and attempt and the server's error, so that it never holds the others back.
  /// Sent and dropped items leave `items`; on server trouble the rest stay for a later try.
  template <typename Item, typename Send>
  void Deliver(std::vector<Item>& items, const char* what, Send send);
  /// Takes a failed answer of a call whose items the server may refuse one by one: true when
  /// it is a refusal of the request itself (any 4xx but those below), else handles it (trouble:
  /// back off; 404, 401, 403: Unwelcome) and returns false.
  template <typename T>
  bool RequestRefused(const server::ApiAnswer<T>& r);
  /// Renews the lease; a lost one stops the jobs and registers again.
  void Heartbeat();
  /// The lease expired: the jobs are someone else's now. Kills them and registers again.
  void OnLeaseLost();
  /// The server canceled job `id`: a running one is stopped, a waiting one reported.
  void CancelJob(uint32_t id);
  /// The server failed or could not be reached (`error` says how): back off before retrying.
  void ServerTrouble(const std::string& error);
  /// The server refused this worker for good (`status`): 404, the workflow is gone (deleted,
  /// or not this token's); 401/403, the token is refused; anything else, it will not take this
  /// worker's calls. Gives up (GiveUp) with a message saying which.
  void Unwelcome(int status, const std::string& error);
  /// Nothing more can be told to the server: logs `why`, stops the jobs (as a signal does),
  /// drops what was not reported, and ends the loop (exit code 1) once the jobs are gone.
  void GiveUp(const std::string& why);
  /// The stop lead is over with jobs or results left: kills what still runs and says what was
  /// left unreported. Returns the exit code.
  int LeaveAtStopDeadline();
  /// Whether the loop should turn back to its own business now: a stop signal came, or a
  /// stopping worker's time is up (checked between the calls of a long exchange).
  bool Interrupted();
  /// After a preemption: waits (at most kPreemptedWaitSeconds) for Slurm to end the allocation
  /// itself, so that a requeue-mode preemption requeues it (worker.cc).
  void AwaitPreemptionEnd();
  static constexpr double kPreemptedWaitSeconds = 120;
  /// A stopping worker's calls wait at most what is left of its stop lead for their answer (at
  /// least 0.5 s, at most 5 s).
  void BoundCallTime();
  /// The server answered: the backoff of ServerTrouble ends.
  void ServerOk();
  /// After a claim whose answer may have been lost: takes back the jobs the server says this
  /// worker holds but it does not know of.
  void Resync();
  /// Whether this worker knows of attempt (`id`, `attempt`): running, waiting or reported.
  bool Knows(uint32_t id, uint32_t attempt) const;
  /// Registers, retrying while the server is unreachable or starting (status 0 or 503).
  server::ApiAnswer<protocol::RegistrationAnswer> RegisterWithRetries(
      const protocol::Registration& m);
  /// Keeps what a wait outside the loop saw (exits, a signal) for the loop.
  void Stash(WakeUp w);
  /// A line on stderr (or to WorkerOptions::on_log), unless --quiet.
  void Log(const std::string& message);
  void LogOwnCpu();
  std::string StartupTimes();
  double started_at_ = 0, allocation_read_at_ = 0;
  bool registered_once_ = false;
  /// The injected clock's time.
  double Now() { return clock_.Now(); }

  // ---- the life of a job: launch, limits, exits, reports (worker_jobs.cc)
  /// The worker got SIGTERM, SIGINT or SIGUSR1: stops its jobs, as "walltime" or "stopped".
  void OnStopSignal(int signal);
  /// Whether a job's exit waits a moment: it may be the allocation ending (Slurm).
  bool MayBeAllocationEnding(const Running& r, const ProcessExit& e) const;
  /// Concludes held exits whose wait is over; true if any was (its resources are free).
  bool FinishDeferred(double now);
  /// The job's process ended: its recovery script starts, or its result is reported.
  void Conclude(std::map<pid_t, Running>::iterator it, const ProcessExit& e);
  /// Places the queued jobs that fit now, in claim order, and starts them (StartPlaced).
  void LaunchQueued();
  /// Launches the placed jobs, at the launcher's pace.
  void StartPlaced(double now);
  /// Gives back the resources of jobs placed but not started (a stopping worker).
  void DropPlaced();
  /// Starts a job's process; false (reported failed) when it cannot start.
  bool Launch(JobToRun job, const Placement& placement);
  /// Stops a job for `reason` (SIGTERM, or SIGKILL for memory); SIGKILL after `grace` s.
  void Terminate(Running& r, const std::string& reason, double grace);
  /// The walltime, each job's runtime and memory, output sizes, and overdue kills.
  void CheckLimits(double now);
  /// Cuts output files over --max-log-bytes (every 0.5 s).
  void CapOutputs(double now);
  /// Starts nothing more and stops every job for `reason` ("walltime" or "stopped").
  void Stop(const std::string& reason);
  /// A process ended: a job, held or concluded, or a recovery script, whose failure is reported.
  void OnExit(const ProcessExit& e);
  /// Starts the recovery script of the job's failure handler; false when there is none.
  bool StartRecovery(Running& r, const ProcessExit& e);
  /// Slurm mode, when the job's srun ended: reads (and removes) what `torc job-exec` measured on
  /// each of its nodes, removes srun's task lines from the job's stderr, and sorts out how the
  /// step ended (ClassifyStep): `e` gets the job's own exit code, the attempt starts when the
  /// command started, and a kill for memory or job-exec's runtime limit is the end reason.
  void CollectStep(Running& r, ProcessExit* e);
  /// Slurm mode, when a step's end is concluded and torc did not stop it: Slurm's part in it
  /// (srun's failure, a lost node, Slurm cancelling the step) becomes the end reason.
  void TakeStepOutcome(Running& r);
  /// A step Slurm cancelled without torc asking: one `scontrol show job` says whether the
  /// allocation is preempted or at its time limit (then the worker stops, as for a signal).
  void OnStepCancelled(Running& r);
  /// Seconds between the termination signal and the end of the grace at a job's runtime limit.
  int64_t KillAfterSeconds() const { return std::min<int64_t>(execution_.sigterm_lead_seconds, 30); }
  /// The next step of torc's stop when its time has come: SIGINT to srun (slurm mode: it
  /// cancels the step and waits for Slurm to end it), else SIGKILL.
  void Escalate(Running& r, double now);
  /// Direct mode, with a time series: whether a running job's sample is due at `now`.
  bool SampleDue(double now) const;
  /// Frees the job's resources and reports how it ended.
  void Finish(Running& r, const ProcessExit& e);
  /// Reports a job that never started (canceled, or unable to run here) at once.
  void ReportUnstarted(const JobToRun& job, protocol::AttemptStatus status,
                       const std::string& reason);
  /// Adds an ended attempt to the results the next claim or flush carries.
  void Report(const JobToRun& job, protocol::AttemptStatus status, int exit_code, int signal,
              const std::string& reason, double start, double end, const Running& r,
              const ProcessExit* e = nullptr);

  WorkerApi& api_;
  Clock& clock_;
  ProcessTable& procs_;
  DiscoveryEnv env_;
  WorkerOptions o_;
  Allocation alloc_;
  std::unique_ptr<NodeLedger> ledger_;
  std::unique_ptr<Launcher> launcher_;  // slurm or direct mode (Configure)
  std::map<pid_t, Running> running_;
  std::deque<JobToRun> queue_;  // claimed, waiting for room (prefetched or not fitting yet)
  /// A claimed job with the nodes the ledger holds for it, not launched yet.
  struct Placed {
    JobToRun job;
    Placement placement;
  };
  // Placed on nodes (their resources held in the ledger), waiting for their turn to be
  // launched: slurm mode starts at most one srun per launch interval.
  std::deque<Placed> placed_;
  double next_launch_at_ = 0;
  /// A failed job's exit held for a moment: it may be the allocation ending.
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
  // Jobs shorter than this on average are claimed ahead (docs/worker.md, "Claiming ahead").
  static constexpr double kPrefetchBelowSeconds = 10.0;
  static constexpr double kFlushDelaySeconds = 0.1;
  static constexpr double kNewsHoldSeconds = 1.0;
  static constexpr double kMaxClaimBackoffSeconds = 2.0;  // between claims that got nothing
  // ... while jobs of its own run and nothing is ready or blocked (the tail of a sweep).
  static constexpr double kBusyTailBackoffSeconds = 30.0;
  // How long an idle worker's claim asks the server to hold it (ClaimRequest::wait_seconds).
  static constexpr double kClaimWaitSeconds = 5.0;
  // How long a stopping worker's last call (unregistering) may wait: BoundCallTime's minimum.
  static constexpr double kLeaveCallSeconds = 0.5;
  double first_pending_ = 0;  // when the oldest unsent result or start notice appeared
  double mean_job_seconds_ = 0;  // moving average of recent jobs' run times
  int64_t jobs_measured_ = 0;
  // The last claim answer's ready jobs and the CPUs of all the workflow's live workers: this
  // worker claims ahead at most its share of the ready jobs (ClaimCapacity).
  int64_t last_ready_ = 0, last_worker_cpus_ = 0;
  bool urgent_news_ = false;  // a pending result is of a job others depend on
  bool nothing_ready_ = false;  // the last claim got no job, and the server had none ready
  bool got_nothing_ = false;    // the last claim got no job
  double idle_since_ = 0;       // since when nothing runs, waits or is to be reported
  uint32_t own_node_ = 0;  // the node this worker runs on (direct mode starts processes here)
  std::vector<protocol::AttemptReport> results_;  // ended attempts not yet reported
  std::vector<protocol::StartNotice> started_;    // launched jobs not yet reported
  std::vector<spec::FailureHandler> handlers_;
  std::vector<std::string> on_start_, on_complete_;
  std::string workflow_name_, working_dir_, job_output_dir_;
  int64_t worker_id_ = 0;
  double heartbeat_seconds_ = 30;
  protocol::ExecutionSettings execution_;  // the workflow's, with the protocol's defaults
  protocol::MonitorSettings monitor_;      // what the workflow wants measured
  // Direct mode with a time series: the worker samples its jobs' process groups itself.
  bool sampling_ = false;
  int term_signal_ = SIGTERM;
  double next_memory_check_ = 0;  // when /proc is read again for memory limits
  double next_log_check_ = 0;     // when output files are checked again against max_log_bytes
  double next_claim_ = 0, claim_backoff_ = 0;
  // Server unreachable or answering 5xx: no call before retry_at_; the wait doubles per failure
  // (0.25 s up to 5 s, with jitter) and resets on the first success.
  double retry_at_ = 0, trouble_backoff_ = 0;
  bool contacted_ = false;  // the server has answered once (ReachServer)
  // The server takes nothing more from this worker (its workflow is gone, or it refuses the
  // worker): no more calls, results are not kept, the loop ends when the jobs are gone.
  bool offline_ = false;
  // A claim carrying results or start notices was refused for good: they go on their own
  // (Flush, one at a time if need be) until all are sent, and claims carry none meanwhile.
  bool news_alone_ = false;
  // Stopping: the loop ends by this time, reported or not, and the worker exits within its
  // stop lead (never past the allocation's end). 0: not stopping.
  double stop_deadline_ = 0;
  bool resync_ = false;  // a claim failed in flight: ask the server what this worker holds
  bool nothing_fits_ = false;
  bool workflow_complete_ = false, draining_ = false, stuck_ = false,
       trouble_logged_ = false;
  // The workflow asks its workers to stay when it is complete
  // (compute_node_ignore_workflow_completion): complete is then only "nothing to run now".
  bool ignore_completion_ = false;
  bool staying_logged_ = false;  // said once per complete spell why the worker stays
  /// Whether the job count allows another claim (--max-parallel-jobs), and how many more.
  int64_t ParallelRoom() const;
  int stop_code_ = 0;  // the exit code of a stopped worker (1 after GiveUp)
  std::string stop_reason_;  // why Stop() was called: "walltime" or "stopped"
  std::string leave_reason_;  // why the loop ended with work left (sent when unregistering)
  // Claim nothing more, finish what runs and leave with this reason ("": go on). Set when
  // Slurm failed kMaxSlurmFailuresInRow steps in a row.
  std::string finishing_reason_;
  int slurm_failures_in_row_ = 0;  // incidents of srun/Slurm failing steps since a job last ran
  static constexpr int kMaxSlurmFailuresInRow = 3;
  // Steps that fail together (a node lost under several running jobs) are one incident: a
  // failure counts only for a step launched after the last counted one.
  double last_slurm_incident_at_ = -1e300;
  // Per node, single-node steps' incidents since a job last ran there, and when the last was
  // counted: kMaxNodeIncidents in a row mark the node lost (e.g. its slurmd died under a
  // --no-kill allocation: srun says "Communication connection failure", not "Node failure").
  std::map<uint32_t, std::pair<int, double>> node_incidents_;
  static constexpr int kMaxNodeIncidents = 2;
  /// Counts a Slurm failure of `r`'s step: the worker's streak, and its node's.
  void CountSlurmFailure(const Running& r, const std::string& message);
  // srun that has not ended this long after its SIGINT is killed.
  static constexpr double kStepEndSeconds = 10;
  // The worker's own runtime deadline in slurm mode is a backstop past job-exec's: srun's start
  // + runtime + job-exec's kill-after + this much for the step's creation.
  static constexpr double kStepStartAllowanceSeconds = 120;
  int64_t done_ = 0;
  // Requests that carried jobs' news or claims, for the leaving line: claims, those that
  // claimed ahead, those that got no job, and flushes (news sent without a claim).
  int64_t claims_ = 0, claims_ahead_ = 0, claims_empty_ = 0, claims_waited_ = 0, flushes_ = 0;
  // Slurm mode: MaxStepCount and the steps this allocation may still start (each claimed job
  // is one srun), read once (ReadStepLimit); nullopt: no limit (direct mode, outside Slurm).
  // At 0 the worker claims nothing more and leaves once its jobs ended (StepLimitReached).
  StepLimit step_limit_;
  std::optional<int64_t> steps_left_;
  bool step_limit_read_ = false;
  int64_t steps_started_ = 0;  // jobs claimed in slurm mode (each one srun)

  // ---- Slurm's step limit (worker.cc)
  /// Slurm mode, once: reads MaxStepCount and the steps before this worker.
  void ReadStepLimit();
  /// Counts `n` claimed jobs as steps; logs when the limit is reached.
  void CountSteps(int64_t n);
  /// Whether no step may be started any more: the worker claims nothing more.
  bool StepLimitReached() const { return steps_left_ && *steps_left_ <= 0; }
};

}  // namespace torc::worker::internal
