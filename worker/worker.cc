#include "worker/worker.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <map>
#include <utility>

#include "server/client/client.h"
#include "server/protocol/messages.h"
#include "server/protocol/output_paths.h"
#include "server/util/data_dir.h"
#include "spec/plan.h"
#include "worker/command.h"
#include "worker/launcher.h"
#include "worker/ledger.h"
#include "worker/process.h"
#include "worker/worker_internal.h"

namespace torc::worker {
namespace {

int SignalNumber(const std::string& name) {
  static const std::map<std::string, int> kSignals = {
      {"SIGTERM", SIGTERM}, {"TERM", SIGTERM}, {"SIGINT", SIGINT}, {"INT", SIGINT},
      {"SIGUSR1", SIGUSR1}, {"USR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"USR2", SIGUSR2},
      {"SIGHUP", SIGHUP},   {"HUP", SIGHUP},   {"SIGKILL", SIGKILL}, {"KILL", SIGKILL}};
  auto it = kSignals.find(name);
  return it == kSignals.end() ? SIGTERM : it->second;
}

}  // namespace

int64_t StartupDelaySeconds(int64_t window, const std::string& hostname,
                            const std::string& slurm_job_id, const std::string& slurm_node_id,
                            int64_t pid) {
  if (window <= 0) return 0;
  // FNV-1a (64 bit): the same on every machine and build, unlike std::hash.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](const std::string& text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull;  // a separator: ("ab", "c") is not ("a", "bc")
  };
  mix(hostname);
  mix(slurm_job_id);
  mix(slurm_node_id);
  mix(std::to_string(pid));
  return static_cast<int64_t>(h % static_cast<uint64_t>(window));
}

namespace internal {

int Worker::Run() {
  if (!StaggerStart()) return 0;
  std::string error;
  started_at_ = Now();
  if (!DiscoverAllocation(env_, o_.discovery, started_at_, &alloc_, &error)) {
    Log("cannot discover the allocation: " + error);
    return 1;
  }
  allocation_read_at_ = Now();
  if (alloc_.restart_count > 0)
    Log("Slurm requeued this allocation " + std::to_string(alloc_.restart_count) +
        " time(s) before (SLURM_RESTART_COUNT): this is run " +
        std::to_string(alloc_.restart_count + 1) + " of Slurm job " + alloc_.slurm_job_id);
  if (const char* me = env_.getenv ? env_.getenv("SLURMD_NODENAME") : nullptr)
    for (uint32_t n = 0; n < alloc_.nodes.size(); ++n)
      if (alloc_.nodes[n].name == me) own_node_ = n;
  // The server keeps the job output directory as JSON text: a cut path would name another
  // directory, so a path it cannot take is refused here, before anything starts.
  const std::string output_dir = protocol::JobOutputDir(o_.output_dir, o_.workflow_id);
  if (output_dir.size() > protocol::kMaxPathBytes ||
      protocol::FitText(output_dir, output_dir.size()) != output_dir) {
    Log("the job output directory must be valid UTF-8 of at most " +
        std::to_string(protocol::kMaxPathBytes) + " bytes (--output-dir): " +
        protocol::FitText(output_dir, 200) + (output_dir.size() > 200 ? "..." : ""));
    return 1;
  }
  if (!Register()) return 1;
  ledger_ = std::make_unique<NodeLedger>(alloc_.nodes);
  RunHookCommands(on_start_);
  int rc = Loop();
  RunHookCommands(on_complete_);
  // Why it leaves, for `torc status` (problems) when work is left behind. Not when the server
  // refuses this worker (its workflow is gone): there is no one to tell.
  if (!offline_) {
    BoundCallTime();
    auto left = api_.Leave(worker_id_, {leave_reason_});
    if (!left.ok())
      Log("could not unregister (" + left.error +
          "); the server gives this worker's jobs back when its lease expires");
  }
  LogOwnCpu();
  if (stop_reason_ == "preempted" && alloc_.in_slurm) AwaitPreemptionEnd();
  return rc;
}

// What this worker itself cost (not its jobs): read by the scale benchmark (docs/benchmarks.md)
// and useful to anyone asking what the pilot takes from the allocation.
void Worker::LogOwnCpu() {
  rusage self{};
  if (getrusage(RUSAGE_SELF, &self) != 0) return;
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  char line[256];
  std::snprintf(line, sizeof line,
                "leaving; its own rusage: user %.3f s, system %.3f s; %lld claims (%lld ahead, "
                "%lld got nothing, %lld held by the server), %lld flushes",
                seconds(self.ru_utime), seconds(self.ru_stime), static_cast<long long>(claims_),
                static_cast<long long>(claims_ahead_), static_cast<long long>(claims_empty_),
                static_cast<long long>(claims_waited_), static_cast<long long>(flushes_));
  Log(line);
}

// With PreemptMode=REQUEUE Slurm requeues the allocation when GraceTime is over, unless it has
// ended by then: a batch script that ends first (its worker done within the grace) completes
// the job, which is then never requeued (measured on the lab). So a preempted worker stays
// until Slurm signals or kills it, at most kPreemptedWaitSeconds, doing nothing.
void Worker::AwaitPreemptionEnd() {
  Log("the allocation is preempted: waiting for Slurm to end it (at most " +
      std::to_string(static_cast<int>(kPreemptedWaitSeconds)) +
      " s), so that a requeue-mode preemption requeues it");
  const double until = Now() + kPreemptedWaitSeconds;
  stashed_ = WakeUp{};
  for (double now = Now(); now < until; now = Now()) {
    WakeUp w = procs_.WaitForEvent(until - now);
    if (w.signal) return;  // Slurm's end of the grace time (SIGTERM before its SIGKILL)
  }
  Log("Slurm did not end the preempted allocation: leaving");
}

// ---- setup ------------------------------------------------------------------
bool Worker::Register() {
  if (!ReachServer()) return false;
  auto r = RegisterWithRetries(Introduction());
  if (!r.ok()) {
    // Registering again after a lost lease: a refusal for good ends the worker; trouble or a
    // signal leaves it to the loop (the next heartbeat tries again; a signal stops it).
    if (worker_id_ != 0 && r.permanent()) Unwelcome(r.status, r.error);
    else if (r.status == 404) Log("cannot register: " + r.error + " (deleted, or not yours?)");
    else Log("cannot register: " + r.error);
    return false;
  }
  Configure(*r.value);
  std::string mkdir_error;
  if (!util::MakeDirectories(job_output_dir_, 0755, &mkdir_error)) Log(mkdir_error);
  if (launcher_->measures_in_step() &&
      !util::MakeDirectories(job_output_dir_ + "/usage", 0755, &mkdir_error))
    Log(mkdir_error);
  Log("worker " + std::to_string(worker_id_) + " registered: " +
      std::to_string(alloc_.nodes.size()) + " node(s) x " + std::to_string(alloc_.nodes[0].cpus) +
      " CPUs, " + launcher_->mode() + " mode" + StartupTimes());
  return true;
}

// How long the first registration took, in two parts: a slow start-up at scale shows where.
std::string Worker::StartupTimes() {
  if (registered_once_) return "";
  registered_once_ = true;
  char text[120];
  std::snprintf(text, sizeof text, " (allocation read in %.3f s, registered %.3f s later)",
                allocation_read_at_ - started_at_, Now() - allocation_read_at_);
  return text;
}

protocol::Registration Worker::Introduction() const {
  protocol::Registration m;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  m.hostname = host;
  m.slurm_job_id = alloc_.slurm_job_id;
  m.slurm_nodelist = SlurmNodeList();
  m.pid = getpid();
  m.output_dir = protocol::JobOutputDir(o_.output_dir, o_.workflow_id);
  for (const auto& n : alloc_.nodes) m.nodes.push_back({n.name, n.cpus, n.memory_bytes, n.gpus});
  m.end_time = alloc_.end_time;
  // Slurm requeued this allocation (preemption in REQUEUE mode, a node failure) and runs its
  // batch script again: the server records it (event allocation_restarted).
  m.slurm_restart_count = alloc_.restart_count;
  return m;
}

void Worker::Configure(const protocol::RegistrationAnswer& b) {
  worker_id_ = b.worker_id;
  workflow_name_ = b.workflow_name;
  working_dir_ = b.working_dir;
  heartbeat_seconds_ = b.heartbeat_seconds;
  handlers_ = b.failure_handlers;
  on_start_ = b.on_worker_start;
  on_complete_ = b.on_worker_complete;
  execution_ = b.execution;
  monitor_ = b.monitor;
  ignore_completion_ = b.ignore_workflow_completion && !o_.leave_at_completion;
  term_signal_ = SignalNumber(execution_.termination_signal);
  job_output_dir_ = protocol::JobOutputDir(o_.output_dir, o_.workflow_id);
  LaunchSettings s;
  s.workflow_id = o_.workflow_id;
  s.job_output_dir = job_output_dir_;
  s.api_url = api_.url();
  s.working_dir = working_dir_;
  s.allocation = alloc_;
  s.own_node = own_node_;
  s.srun.srun = o_.srun;
  s.srun.workflow_name = workflow_name_;
  s.srun.signal = execution_.srun_termination_signal;
  s.srun.cpu_bind = execution_.enable_cpu_bind;
  s.srun.mpi = execution_.srun_mpi;
  // job-exec runs every step: it knows the job's own exit, start and signals (and measures
  // it when the workflow asks: Report).
  s.srun.job_exec = o_.job_exec;
  s.srun.term_signal = term_signal_;
  s.srun.stop_via_usr2 = !s.srun.job_exec.empty() && SrunEndsStepOn(term_signal_);
  s.srun.kill_after_seconds = KillAfterSeconds();
  s.srun.job_output_dir = job_output_dir_;
  s.srun.limit_memory = execution_.limit_resources;
  s.srun.oom_exit_code = execution_.oom_exit_code;
  if (monitor_.enabled && monitor_.time_series)
    s.srun.sample_interval_seconds = monitor_.sample_interval_seconds;
  s.launch_interval_seconds = static_cast<double>(execution_.srun_launch_interval_ms) / 1000.0;
  s.limit_resources = execution_.limit_resources;
  launcher_ = MakeLauncher(o_.mode, execution_.mode, std::move(s),
                           [this](const std::string& m) { Log(m); });
  sampling_ = monitor_.enabled && monitor_.time_series && !launcher_->measures_in_step();
  ReadStepLimit();
}

// Slurm refuses a job's step number MaxStepCount ("Step limit reached for this job"). Steps are
// numbered per allocation, so the steps before this worker's own count, and one is kept spare
// (a step Slurm created for something else, a retried srun): the worker starts at most
// MaxStepCount - steps before - 1 jobs, then lets another allocation take the rest.
void Worker::ReadStepLimit() {
  if (step_limit_read_ || std::string(launcher_->mode()) != "slurm" || !alloc_.in_slurm) return;
  step_limit_read_ = true;
  step_limit_ = SlurmStepLimit(env_, o_.discovery);
  steps_left_ = std::max<int64_t>(0, step_limit_.max_steps - step_limit_.steps_before - 1);
  if (step_limit_.from_slurm && step_limit_.max_steps < 40000)
    Log("Slurm allows " + std::to_string(step_limit_.max_steps) +
        " steps per allocation (MaxStepCount): this worker starts at most " +
        std::to_string(*steps_left_) + " jobs");
}

void Worker::CountSteps(int64_t n) {
  if (!steps_left_ || n <= 0) return;
  steps_started_ += n;
  const bool was_reached = StepLimitReached();
  *steps_left_ -= n;
  if (StepLimitReached() && !was_reached)
    Log("this allocation's step limit is reached (MaxStepCount=" +
        std::to_string(step_limit_.max_steps) + ", " + std::to_string(steps_started_) +
        " steps started by this worker): claiming no more jobs, leaving when the running ones end");
}

bool Worker::StaggerStart() {
  if (o_.startup_delay_seconds <= 0) return true;
  auto var = [this](const char* name) -> std::string {
    const char* v = env_.getenv ? env_.getenv(name) : nullptr;
    return v ? v : "";
  };
  const int64_t delay =
      StartupDelaySeconds(o_.startup_delay_seconds, env_.hostname ? env_.hostname() : "",
                          var("SLURM_JOB_ID"), var("SLURM_NODEID"), getpid());
  if (delay <= 0) return true;
  Log("staggered start: waiting " + std::to_string(delay) + " s of a " +
      std::to_string(o_.startup_delay_seconds) + " s window before reaching the server");
  // The wait is the process table's: a stop signal ends it at once.
  const double until = Now() + static_cast<double>(delay);
  for (double now = Now(); now < until; now = Now()) {
    WakeUp w = procs_.WaitForEvent(until - now);
    if (w.signal) {
      Log("stopped by a signal during the start-up delay; leaving");
      return false;
    }
  }
  return true;
}

bool Worker::ReachServer() {
  if (contacted_) return true;
  const double start = Now();
  double wait = 0.25, next_report = 0;
  while (true) {
    auto r = api_.Probe();
    if (r.status != 0 && r.status != 503) {
      if (next_report > 0) Log("reached the server at " + api_.url());
      contacted_ = true;
      return true;
    }
    const double now = Now(), waited = now - start;
    if (waited >= o_.connect_timeout_seconds) {
      Log("giving up: no answer from the server at " + api_.url() + " for " +
          std::to_string(static_cast<int>(waited)) + " s (--connect-timeout); last error: " +
          r.error);
      return false;
    }
    if (now >= next_report) {
      Log(r.error + "; retrying until " +
          std::to_string(static_cast<int>(o_.connect_timeout_seconds)) +
          " s have passed (--connect-timeout). On a cluster, the nodes need a URL of the login "
          "node they can reach: torc server run --host 0.0.0.0 or --advertise-url (docs/slurm.md)");
      next_report = now + 30;
    }
    Stash(procs_.WaitForEvent(std::min(wait, o_.connect_timeout_seconds - waited)));
    if (stashed_.signal) {
      Log("stopped by a signal before reaching the server");
      return false;
    }
    wait = std::min(5.0, wait * 2);
  }
}

std::string Worker::SlurmNodeList() const {
  if (!alloc_.in_slurm || !env_.getenv) return "";
  const char* list = env_.getenv("SLURM_JOB_NODELIST");
  if (!list) list = env_.getenv("SLURM_NODELIST");
  return list ? list : "";
}

std::string Worker::ResourceSummary() const {
  const NodeInfo& n = alloc_.nodes[0];
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(n.memory_bytes) / (1 << 30));
  return std::to_string(alloc_.nodes.size()) + " node(s) x " + std::to_string(n.cpus) +
         " CPUs, " + mem + ", " + std::to_string(n.gpus.size()) + " GPUs";
}

// A stop signal (or a stopping worker's deadline) ends the command that runs (SIGKILL to its
// process group) and skips the rest: a hook never keeps a worker that was told to stop.
void Worker::RunHookCommands(const std::vector<std::string>& commands) {
  for (const auto& c : commands) {
    if (Interrupted()) return;
    LaunchSpec spec{{"bash", "-c", c}, {}, working_dir_, "", "", {}};
    std::string error;
    pid_t pid = procs_.Start(spec, &error);
    if (pid < 0) continue;
    bool done = false;
    while (!done) {
      double wait = draining_ ? std::clamp(stop_deadline_ - Now(), 0.0, 1.0) : 1.0;
      WakeUp w = procs_.WaitForEvent(wait);
      auto own = std::find_if(w.exits.begin(), w.exits.end(),
                              [pid](const ProcessExit& e) { return e.pid == pid; });
      done = own != w.exits.end();
      if (done) w.exits.erase(own);
      Stash(std::move(w));  // a job's exit or a signal meanwhile is the loop's
      if (!done && Interrupted()) {
        Log("stopping the workflow's command '" + c + "': the worker is stopping");
        procs_.Signal(pid, SIGKILL);
        return;
      }
    }
  }
}

void Worker::BoundCallTime() {
  if (!draining_) return;
  // In half seconds, so that the client is not made again for every call.
  const double left = std::floor(std::min(stop_deadline_ - Now(), 5.0) * 2) / 2;
  api_.SetCallTimeout(std::clamp(left, kLeaveCallSeconds, 5.0));
}

bool Worker::Interrupted() {
  if (stashed_.signal) return true;
  if (draining_ && Now() >= stop_deadline_) return true;
  // A signal that came during the last call: seen without waiting.
  Stash(procs_.WaitForEvent(0));
  return stashed_.signal != 0;
}

// ---- the loop -------------------------------------------------------------------
int Worker::Loop() {
  double next_heartbeat = Now() + heartbeat_seconds_;
  idle_since_ = Now();
  while (true) {
    const double now = Now();
    Work(now, &next_heartbeat);
    if (!running_.empty() || !results_.empty() || Holding()) idle_since_ = now;
    if (std::optional<int> rc = Finished(now, idle_since_)) return *rc;
    if (o_.on_progress) o_.on_progress(static_cast<int>(running_.size()), done_);
    WaitAndHandle(WaitSeconds(next_heartbeat));
  }
}

void Worker::Work(double now, double* next_heartbeat) {
  CheckLimits(now);
  BoundCallTime();
  if (!offline_ && now >= *next_heartbeat) {
    Heartbeat();
    *next_heartbeat = now + heartbeat_seconds_;
  }
  // A signal that came while waiting elsewhere (hook commands, registration retries)
  // counts before anything more is claimed or launched.
  if (stashed_.signal) OnStopSignal(std::exchange(stashed_.signal, 0));
  // Refill free slots from the queue first: no round trip between jobs.
  LaunchQueued();
  if (offline_) return;
  // A claim carries the results and start notices; otherwise they are sent
  // alone, a few at a time (see FlushDue).
  if (resync_ && now >= retry_at_) Resync();
  if (!draining_ && finishing_reason_.empty() && !resync_ && now >= next_claim_ &&
      now >= retry_at_)
    Claim(now);
  else if (FlushDue(now) && now >= retry_at_) Flush();
  LaunchQueued();
}

std::optional<int> Worker::Finished(double now, double idle_since) {
  if (!workflow_complete_) staying_logged_ = false;
  // Stopping: jobs claimed but not started go back to the server when this worker leaves.
  if (draining_ && running_.empty() && (results_.empty() || offline_)) return stop_code_;
  // It leaves within its stop lead, even when jobs do not end or the server does not answer.
  if (draining_ && now >= stop_deadline_) return LeaveAtStopDeadline();
  // Finishing (Slurm kept failing steps): what it claimed but did not start goes back when it
  // leaves.
  if (!finishing_reason_.empty() && running_.empty() && results_.empty()) {
    leave_reason_ = finishing_reason_;
    Log("leaving: " + leave_reason_);
    return 0;
  }
  if (!running_.empty() || !results_.empty() || Holding()) return std::nullopt;
  if (workflow_complete_ && !ignore_completion_) {
    Log("the workflow is complete");
    return 0;
  }
  if (workflow_complete_ && !staying_logged_) {
    staying_logged_ = true;
    Log("the workflow is complete; staying for jobs made ready again (torc restart) until idle "
        "for " + std::to_string(static_cast<int64_t>(o_.idle_timeout_seconds)) +
        " s, as the workflow asks (compute_node_ignore_workflow_completion)");
  }

  if (StepLimitReached()) {
    leave_reason_ = "this allocation reached Slurm's step limit (MaxStepCount=" +
                    std::to_string(step_limit_.max_steps) + "): " +
                    std::to_string(steps_started_) +
                    " job steps started; another allocation takes the rest";
    Log(leave_reason_ + "; stopping");
    return 0;
  }
  if (nothing_fits_) {
    leave_reason_ = "no unfinished job can run on its resources (" + ResourceSummary() +
                    ") in the time it has left";
    Log(leave_reason_ + "; stopping");
    return 0;
  }
  if (stuck_ && o_.exit_when_stuck) {
    Log("nothing more can run here");
    return 0;
  }
  if (now - idle_since > o_.idle_timeout_seconds) {
    leave_reason_ =
        "idle for " + std::to_string(static_cast<int>(o_.idle_timeout_seconds)) + " s";
    Log(leave_reason_ + "; stopping");
    return 0;
  }
  return std::nullopt;
}

double Worker::WaitSeconds(double next_heartbeat) const {
  const double now = clock_.Now();
  // A stopping worker claims nothing: a past claim time must not make it spin.
  double wait = (draining_ || !finishing_reason_.empty() ? next_heartbeat
                           : std::min(next_heartbeat, std::max(next_claim_, retry_at_))) -
                now;
  if (!results_.empty() || !started_.empty()) {
    // Until the news are due (FlushDue starts their clock when it first sees them); at least
    // a millisecond, so that rounding cannot make the loop spin short of the moment.
    const double due = (first_pending_ > 0 ? first_pending_ : now) + NewsHold();
    wait = std::min(wait, std::max({due - now, retry_at_ - now, 1e-3}));
  }
  if (!running_.empty()) wait = std::min(wait, 0.5);  // runtime/memory/kill checks
  if (sampling_)
    for (const auto& [pid, r] : running_) wait = std::min(wait, r.usage.next_sample() - now);
  wait = std::max(0.0, std::min(wait, 5.0));
  if (!deferred_.empty()) wait = std::min(wait, 0.2);
  if (!placed_.empty()) wait = std::min(wait, std::max(0.0, next_launch_at_ - now));
  if (draining_) wait = std::min(wait, std::max(0.0, stop_deadline_ - now));
  return wait;
}

void Worker::WaitAndHandle(double wait) {
  bool stashed = !stashed_.exits.empty() || stashed_.signal;
  Stash(procs_.WaitForEvent(stashed ? 0.0 : wait));
  WakeUp w = std::exchange(stashed_, WakeUp{});
  if (w.signal) OnStopSignal(w.signal);
  for (const auto& e : w.exits) OnExit(e);
  bool freed = FinishDeferred(Now());
  if (!w.exits.empty() || freed) {
    LaunchQueued();
    // Resources freed: claim (if anything is free still) at once, unless the last claim got
    // nothing with nothing ready and no pending result can make a job ready (none has
    // dependents): then the claim backoff stands, instead of one empty claim per exit. When
    // the last job ended, the claim goes at once and the backoff starts again from its
    // shortest: an idle worker learns soon whether the workflow is complete.
    if (running_.empty()) claim_backoff_ = 0;
    if (!nothing_ready_ || urgent_news_ || running_.empty()) next_claim_ = 0;
  }
}

void Worker::Stash(WakeUp w) {
  for (auto& e : w.exits) stashed_.exits.push_back(std::move(e));
  if (w.signal && !stashed_.signal) stashed_.signal = w.signal;
}

// Each line carries the local time to the millisecond: a batch job's output has no times of
// its own, and a slow start-up or a stall shows only in them.
void Worker::Log(const std::string& message) {
  if (o_.on_log) return o_.on_log(message);
  if (o_.quiet) return;
  const double now = Now();
  const time_t seconds = static_cast<time_t>(now);
  tm local{};
  localtime_r(&seconds, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
  std::fprintf(stderr, "torc worker: %s.%03d %s\n", stamp,
               static_cast<int>((now - static_cast<double>(seconds)) * 1000), message.c_str());
}

}  // namespace internal

int RunWorker(const WorkerOptions& options, const WorkerSeams& seams) {
  return internal::Worker(options, seams).Run();
}

int RunWorker(server::ApiClient& client, const WorkerOptions& options) {
  std::unique_ptr<WorkerApi> api = MakeServerWorkerApi(client, options.workflow_id);
  SystemClock clock;
  SystemProcessTable processes;
  WorkerOptions o = options;
  if (o.job_exec.empty()) {
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) o.job_exec = FindJobExec(std::string(self, static_cast<size_t>(n)));
  }
  return RunWorker(o, {api.get(), &clock, &processes, DiscoveryEnv::Real()});
}

}  // namespace torc::worker
