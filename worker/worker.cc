#include "worker/worker.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// The id and attempt of a start notice or result, for messages.
template <typename Item>
std::string JobAttempt(const Item& item) {
  return "job " + std::to_string(item.id) + " attempt " + std::to_string(item.attempt);
}

}  // namespace

namespace internal {

int Worker::Run() {
  std::string error;
  if (!DiscoverAllocation(env_, o_.discovery, Now(), &alloc_, &error)) {
    Log("cannot discover the allocation: " + error);
    return 1;
  }
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
  if (stop_reason_ == "preempted" && alloc_.in_slurm) AwaitPreemptionEnd();
  return rc;
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
      " CPUs, " + launcher_->mode() + " mode");
  return true;
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
  double idle_since = Now();
  while (true) {
    const double now = Now();
    Work(now, &next_heartbeat);
    if (!running_.empty() || !results_.empty() || Holding()) idle_since = now;
    if (std::optional<int> rc = Finished(now, idle_since)) return *rc;
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
  if (workflow_complete_) {
    Log("the workflow is complete");
    return 0;
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
  if (!results_.empty() || !started_.empty())
    wait = std::min(wait, std::max(kFlushDelaySeconds, retry_at_ - now));
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
    next_claim_ = 0;  // resources freed: claim (if anything is free still) at once
  }
}

// ---- talking to the server ----------------------------------------------------------
std::vector<protocol::NodeCapacity> Worker::ClaimCapacity() const {
  std::vector<NodeFree> free = ledger_->Free();
  std::vector<protocol::NodeCapacity> nodes;
  for (const auto& f : free)
    nodes.push_back({f.free_cpus, f.free_memory_bytes, f.free_gpus, f.total_cpus,
                     f.total_memory_bytes, f.total_gpus, f.idle});
  // Short jobs: also claim one round ahead (kept in a local queue), so a
  // slot that frees up is refilled at once instead of after a round trip.
  // The shorter the jobs, the more rounds ahead (about 0.2 s of work).
  // Only once a few jobs showed how long they take: several workers must not
  // start by hoarding each other's work.
  bool prefetch = !Holding() && jobs_measured_ >= 4 && mean_job_seconds_ < kPrefetchBelowSeconds;
  int rounds = prefetch ? static_cast<int>(std::clamp(0.2 / std::max(mean_job_seconds_, 1e-3),
                                                      0.0, 16.0))
                        : 0;
  for (int k = 0; k < rounds; ++k)
    for (const auto& f : free)
      nodes.push_back({f.total_cpus, f.total_memory_bytes, f.total_gpus, f.total_cpus,
                       f.total_memory_bytes, f.total_gpus, false});
  return nodes;
}

void Worker::Claim(double now) {
  // News a claim could not carry go first, on their own.
  if (news_alone_) {
    Flush();
    if (offline_ || Interrupted() || now < retry_at_) return;
  }
  if (StepLimitReached()) {
    next_claim_ = 1e300;  // never again: the loop ends once the jobs ended (Finished)
    if (FlushDue(now)) Flush();
    return;
  }
  protocol::ClaimRequest req;
  req.nodes = ClaimCapacity();
  int64_t cpus = 0;
  for (const auto& n : req.nodes) cpus += n.free_cpus;
  if (cpus <= 0) {
    next_claim_ = 1e300;  // wait for an exit
    if (FlushDue(now)) Flush();
    return;
  }
  req.worker_id = worker_id_;
  req.max_jobs = static_cast<uint32_t>(std::min<int64_t>({cpus, 1000, steps_left_.value_or(1000)}));
  if (!news_alone_) {
    req.results = results_;
    req.started = started_;
  }
  req.scheduler = o_.scheduler;
  // One rule with validate and the server (docs/worker.md): the runtime must fit the time
  // left, with the allocation's start-up forgiven, so that runtime == walltime runs.
  if (alloc_.end_time)
    req.remaining_seconds = ClaimableRuntime(alloc_, now, kStartupAllowanceSeconds);
  auto r = api_.Claim(req);
  if (r.transient() || r.status == 409) {
    // The server may have handed out jobs whose answer never arrived (it died after
    // committing, the connection broke, the answer was garbled): find out before claiming
    // again. (409: no lease; the next heartbeat says so and the worker registers again.)
    if (r.status == 0 || r.status >= 500 || r.malformed()) resync_ = true;
    ServerTrouble(r.error);
    return;
  }
  if (!r.ok()) {
    if (r.status == 404 || r.status == 401 || r.status == 403)
      return Unwelcome(r.status, r.error);
    // Refused for good. Nothing of it was applied; if it carried news, one of them may be what
    // the server refuses: they go on their own (Deliver finds and drops the culprit) and the
    // claim is made again without them. Refused without news, the claim itself is refused.
    if (req.results.empty() && req.started.empty())
      return Unwelcome(r.status, "its claim was refused: " + r.error);
    Log("the server refused a claim carrying " + std::to_string(req.results.size()) +
        " result(s) and " + std::to_string(req.started.size()) + " start notice(s) (" + r.error +
        "); sending them on their own");
    news_alone_ = true;
    next_claim_ = 0;
    return;
  }
  ServerOk();
  if (!news_alone_) {
    results_.clear();
    started_.clear();
    first_pending_ = 0;
  }
  for (const auto& x : r.value->rejected)
    Log("the server rejected the result of " + JobAttempt(x) + ": " + x.reason);
  OnClaimAnswer(*r.value, now);
}

void Worker::OnClaimAnswer(const protocol::ClaimAnswer& answer, double now) {
  workflow_complete_ = answer.workflow_complete;
  CountSteps(static_cast<int64_t>(answer.jobs.size()));
  for (const auto& j : answer.jobs) queue_.push_back(JobFromClaim(j));
  LaunchQueued();
  bool idle = answer.jobs.empty() && running_.empty() && !Holding();
  stuck_ = idle && answer.unfinished > 0;
  nothing_fits_ = idle && answer.runnable.value_or(1) == 0;
  if (answer.jobs.empty()) {
    claim_backoff_ = std::min(2.0, std::max(0.05, claim_backoff_ * 2));
    next_claim_ = now + claim_backoff_;
  } else {
    claim_backoff_ = 0;
    next_claim_ = now;  // there may be more that fits
  }
}

/// Results and start notices wait a little to travel together, unless
/// nothing else is going on.
bool Worker::FlushDue(double now) {
  if (results_.empty() && started_.empty()) return false;
  if (running_.empty() || results_.size() >= 256) return true;
  if (first_pending_ == 0) first_pending_ = now;
  return now - first_pending_ >= kFlushDelaySeconds;
}

void Worker::Flush() {
  first_pending_ = 0;
  if (!started_.empty())
    Deliver(started_, "start notice", [this](const std::vector<protocol::StartNotice>& s) {
      return api_.Start({worker_id_, s});
    });
  if (!results_.empty() && !offline_)
    Deliver(results_, "result", [this](const std::vector<protocol::AttemptReport>& s) {
      return api_.Complete({worker_id_, s});
    });
  if (results_.empty() && started_.empty()) news_alone_ = false;
}

template <typename T>
bool Worker::RequestRefused(const server::ApiAnswer<T>& r) {
  if (r.transient()) {
    ServerTrouble(r.error);
    return false;
  }
  if (r.status == 404 || r.status == 401 || r.status == 403) {
    Unwelcome(r.status, r.error);
    return false;
  }
  return true;
}

template <typename Item, typename Send>
void Worker::Deliver(std::vector<Item>& items, const char* what, Send send) {
  // 409 (results): some were rejected (stale: this worker lost them; or contradicting a
  // recorded report); the others were recorded. Either way they are done with.
  auto r = send(items);
  if (r.ok() || r.status == 409) {
    if (r.status == 409) Log("the server rejected some " + std::string(what) + "s: " + r.error);
    items.clear();
    return ServerOk();
  }
  if (!RequestRefused(r)) return;
  ServerOk();  // it answers: no backoff
  if (items.size() > 1)
    Log("the server refused " + std::to_string(items.size()) + " " + what + "s together (" +
        r.error + "); sending them one at a time");
  for (bool first = true; !items.empty() && !offline_; first = false) {
    if (!first && Interrupted()) return;  // the loop comes back for the rest
    BoundCallTime();
    auto one = items.size() == 1 && first ? r : send(std::vector<Item>{items.front()});
    if (one.status == 409)
      Log("the server rejected the " + std::string(what) + " of " + JobAttempt(items.front()) +
          ": " + one.error);
    else if (!one.ok() && !RequestRefused(one)) return;
    else if (!one.ok())
      Log("dropped the " + std::string(what) + " of " + JobAttempt(items.front()) +
          ": the server refuses it: " + one.error);
    items.erase(items.begin());
  }
}

void Worker::Heartbeat() {
  auto r = api_.Heartbeat(worker_id_);
  if (r.status == 409) return OnLeaseLost();
  if (r.transient()) return ServerTrouble(r.error);
  if (!r.ok()) return Unwelcome(r.status, r.error);
  ServerOk();
  workflow_complete_ = r.value->workflow_complete;
  for (uint32_t id : r.value->stop_jobs) CancelJob(id);
}

void Worker::OnLeaseLost() {
  // The lease expired (the server was unreachable too long): the jobs were
  // given to others, so ours must not go on. Start over.
  Log("lease lost; stopping this worker's jobs and registering again");
  // Their results are reported all the same (the server rejects them as stale), but no
  // recovery script runs for a job that is someone else's now.
  for (auto& [pid, run] : running_) {
    if (run.end_reason.empty()) run.end_reason = "lease lost";
    if (run.recovery_pid > 0) procs_.Signal(run.recovery_pid, SIGKILL);
    else if (!deferred_.count(pid)) procs_.Signal(pid, SIGKILL);  // (a held one has ended)
  }
  // Those not started yet were given to others too.
  queue_.clear();
  DropPlaced();
  Register();
}

void Worker::CancelJob(uint32_t id) {
  for (auto& [pid, run] : running_)
    if (run.job.id == id) Terminate(run, "canceled", 5);
  // A canceled job not started yet is reported canceled at once.
  auto queued = std::find_if(queue_.begin(), queue_.end(),
                             [id](const JobToRun& j) { return j.id == id; });
  if (queued != queue_.end()) {
    ReportUnstarted(*queued, protocol::AttemptStatus::kCanceled, "canceled");
    queue_.erase(queued);
  }
  auto placed = std::find_if(placed_.begin(), placed_.end(),
                             [id](const Placed& p) { return p.job.id == id; });
  if (placed != placed_.end()) {
    ledger_->Release(placed->placement);
    ReportUnstarted(placed->job, protocol::AttemptStatus::kCanceled, "canceled");
    placed_.erase(placed);
  }
}

void Worker::Unwelcome(int status, const std::string& error) {
  const std::string wf = "workflow " + std::to_string(o_.workflow_id);
  if (status == 404)
    GiveUp(wf + " is gone from the server at " + api_.url() + " (" + error +
           "; deleted, or not this token's)");
  else if (status == 401 || status == 403)
    GiveUp("the server at " + api_.url() + " refuses this worker's token (HTTP " +
           std::to_string(status) + ": " + error + ")");
  else
    GiveUp("the server at " + api_.url() + " refuses this worker (HTTP " +
           std::to_string(status) + ": " + error + ")");
}

void Worker::GiveUp(const std::string& why) {
  if (offline_) return;
  offline_ = true;
  stop_code_ = 1;
  Log(why + "; stopping this worker's " + std::to_string(running_.size()) +
      " running job(s) and leaving");
  results_.clear();
  started_.clear();
  queue_.clear();
  resync_ = false;
  Stop("stopped");
}

int Worker::LeaveAtStopDeadline() {
  size_t killed = 0;
  for (auto& [pid, run] : running_) {
    if (deferred_.count(pid)) continue;  // its process has ended
    procs_.Signal(run.recovery_pid > 0 ? run.recovery_pid : pid, SIGKILL);
    ++killed;
  }
  const size_t unreported = offline_ ? 0 : results_.size() + running_.size();
  Log("the stop lead is over: leaving" +
      (killed ? ", " + std::to_string(killed) + " job(s) killed" : std::string()) +
      (unreported ? ", the results of " + std::to_string(unreported) +
                        " job(s) not reported (the server gives their jobs to others)"
                  : std::string()));
  return stop_code_;
}

void Worker::ServerTrouble(const std::string& error) {
  // Keep running jobs and their results; try again later, backing off.
  if (!trouble_logged_) Log("server trouble, will retry: " + error);
  trouble_logged_ = true;
  trouble_backoff_ = std::clamp(trouble_backoff_ * 2, 0.25, 5.0);
  const double jitter = 0.8 + 0.4 * (static_cast<double>(std::rand()) / RAND_MAX);
  retry_at_ = Now() + trouble_backoff_ * jitter;
}

void Worker::Resync() {
  auto r = api_.HeldJobs(worker_id_);
  if (r.transient()) return ServerTrouble(r.error);
  if (r.status == 404 || r.status == 401 || r.status == 403) return Unwelcome(r.status, r.error);
  if (!r.ok()) {
    // 409: no lease any more: the heartbeat will find out and register again.
    if (r.status != 409) Log("cannot ask which jobs this worker holds: " + r.error);
    resync_ = false;
    return;
  }
  ServerOk();
  resync_ = false;
  int taken = 0;
  for (const auto& j : r.value->jobs) {
    if (j.status != "claimed" || Knows(j.id, j.attempt)) continue;
    queue_.push_back(JobFromClaim(j));
    ++taken;
  }
  CountSteps(taken);
  if (taken > 0) Log("took back " + std::to_string(taken) + " job(s) claimed in a lost answer");
  LaunchQueued();
}

bool Worker::Knows(uint32_t id, uint32_t attempt) const {
  for (const auto& [pid, run] : running_)
    if (run.job.id == id && run.job.attempt == attempt) return true;
  for (const auto& q : queue_)
    if (q.id == id && q.attempt == attempt) return true;
  for (const auto& p : placed_)
    if (p.job.id == id && p.job.attempt == attempt) return true;
  for (const auto& res : results_)
    if (res.id == id && res.attempt == attempt) return true;
  return false;
}

void Worker::ServerOk() {
  if (trouble_logged_) Log("the server answers again");
  trouble_logged_ = false;
  trouble_backoff_ = 0;
  retry_at_ = 0;
}

server::ApiAnswer<protocol::RegistrationAnswer> Worker::RegisterWithRetries(
    const protocol::Registration& m) {
  server::ApiAnswer<protocol::RegistrationAnswer> r;
  for (int attempt = 0; attempt < 30; ++attempt) {
    r = api_.Register(m);
    // Retried: no answer, a server error or one still starting, 408, 429. Not a malformed
    // answer: the server may have registered the worker, and would again.
    if (!r.transient() || r.malformed()) return r;
    Stash(procs_.WaitForEvent(std::min(5.0, 0.1 * (1 << std::min(attempt, 5)))));
    if (stashed_.signal) {
      r.error = "stopped by a signal while registering (last error: " + r.error + ")";
      return r;
    }
  }
  return r;
}

void Worker::Stash(WakeUp w) {
  for (auto& e : w.exits) stashed_.exits.push_back(std::move(e));
  if (w.signal && !stashed_.signal) stashed_.signal = w.signal;
}

void Worker::Log(const std::string& message) {
  if (o_.on_log) o_.on_log(message);
  else if (!o_.quiet) std::fprintf(stderr, "torc worker: %s\n", message.c_str());
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
    if (n > 0) o.job_exec.assign(self, static_cast<size_t>(n));
  }
  return RunWorker(o, {api.get(), &clock, &processes, DiscoveryEnv::Real()});
}

}  // namespace torc::worker
