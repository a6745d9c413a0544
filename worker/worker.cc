#include "worker/worker.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <utility>

#include "server/client/client.h"
#include "server/util/clock.h"
#include "server/protocol/output_paths.h"
#include "server/util/data_dir.h"
#include "spec/plan.h"
#include "spec/plan_json.h"
#include "worker/command.h"
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

namespace internal {

double Now() { return util::WallClockNow(); }

int Worker::Run() {
  std::string error;
  if (!DiscoverAllocation(DiscoveryEnv::Real(), o_.discovery, Now(), &alloc_, &error)) {
    Log("cannot discover the allocation: " + error);
    return 1;
  }
  if (!Register()) return 1;
  ledger_ = std::make_unique<NodeLedger>(alloc_.nodes);
  if (const char* me = std::getenv("SLURMD_NODENAME"))
    for (uint32_t n = 0; n < alloc_.nodes.size(); ++n)
      if (alloc_.nodes[n].name == me) own_node_ = n;
  RunHookCommands(on_start_);
  int rc = Loop();
  RunHookCommands(on_complete_);
  // Why it leaves, for `torc status` (problems) when work is left behind.
  nlohmann::json bye = nullptr;
  if (!leave_reason_.empty()) bye = {{"reason", leave_reason_}};
  api_.Call("DELETE", base_ + "/workers/" + std::to_string(worker_id_), bye);
  return rc;
}

// ---- setup ------------------------------------------------------------------
bool Worker::Register() {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : alloc_.nodes)
    nodes.push_back({{"name", n.name}, {"cpus", n.cpus}, {"memory_bytes", n.memory_bytes},
                     {"gpus", n.gpus}});
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  base_ = "/workflows/" + std::to_string(o_.workflow_id);
  if (!ReachServer()) return false;
  auto r = RetryCall("POST", base_ + "/workers",
                     {{"hostname", host},
                      {"slurm_job_id", alloc_.slurm_job_id},
                      {"slurm_nodelist", SlurmNodeList()},
                      {"pid", getpid()},
                      {"output_dir", protocol::JobOutputDir(o_.output_dir, o_.workflow_id)},
                      {"resources", {{"nodes", nodes},
                                     {"end_time", alloc_.end_time ? nlohmann::json(*alloc_.end_time)
                                                                  : nlohmann::json(nullptr)}}}});
  if (!r.ok()) {
    Log("cannot register: " + api_.Describe(r));
    return false;
  }
  const auto& b = r.body;
  worker_id_ = b["worker_id"];
  workflow_name_ = b.value("workflow_name", "workflow");
  working_dir_ = b.value("working_dir", "");
  heartbeat_seconds_ = b.value("heartbeat_seconds", 30.0);
  handlers_ = spec::FailureHandlersFromJson(b["failure_handlers"]);
  on_start_ = b["on_worker_start"].get<std::vector<std::string>>();
  on_complete_ = b["on_worker_complete"].get<std::vector<std::string>>();
  const auto& x = b["execution"];
  std::string mode = o_.mode != "auto" ? o_.mode : x.value("mode", "auto");
  direct_ = mode == "direct" || (mode == "auto" && !alloc_.in_slurm);
  if (!direct_ && !alloc_.in_slurm) {
    Log("slurm mode needs a Slurm allocation; running jobs directly instead");
    direct_ = true;
  }
  limit_resources_ = x.value("limit_resources", true);
  term_signal_ = SignalNumber(x.value("termination_signal", "SIGTERM"));
  sigterm_lead_ = x.value("sigterm_lead_seconds", 30);
  oom_exit_code_ = x.value("oom_exit_code", 137);
  timeout_exit_code_ = x.value("timeout_exit_code", 152);
  srun_.srun = o_.srun;
  srun_.workflow_name = workflow_name_;
  srun_.signal = x.value("srun_termination_signal", "");
  srun_.cpu_bind = x.value("enable_cpu_bind", false);
  launch_interval_ = direct_ ? 0.0 : x.value("srun_launch_interval_ms", int64_t{25}) / 1000.0;
  job_output_dir_ = protocol::JobOutputDir(o_.output_dir, o_.workflow_id);
  std::string mkdir_error;
  if (!util::MakeDirectories(job_output_dir_, 0755, &mkdir_error)) Log(mkdir_error);
  Log("worker " + std::to_string(worker_id_) + " registered: " +
      std::to_string(alloc_.nodes.size()) + " node(s) x " + std::to_string(alloc_.nodes[0].cpus) +
      " CPUs, " + (direct_ ? "direct" : "slurm") + " mode");
  return true;
}

bool Worker::ReachServer() {
  if (contacted_) return true;
  // Short calls until the server first answers: a URL nobody answers on (a loopback address
  // on a compute node, a firewall) is reported within seconds, not after a call's timeout.
  auto probe = api_.WithTimeout(std::chrono::milliseconds(4000));
  const double start = Now();
  double wait = 0.25, next_report = 0;
  while (true) {
    auto r = probe->Call("GET", "/health");
    if (r.status != 0 && r.status != 503) {
      if (next_report > 0) Log("reached the server at " + api_.url());
      contacted_ = true;
      return true;
    }
    const double now = Now(), waited = now - start;
    if (waited >= o_.connect_timeout_seconds) {
      Log("giving up: no answer from the server at " + api_.url() + " for " +
          std::to_string(static_cast<int>(waited)) + " s (--connect-timeout); last error: " +
          api_.Describe(r));
      return false;
    }
    if (now >= next_report) {
      Log(api_.Describe(r) + "; retrying until " +
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
  if (!alloc_.in_slurm) return "";
  const char* list = std::getenv("SLURM_JOB_NODELIST");
  if (!list) list = std::getenv("SLURM_NODELIST");
  return list ? list : "";
}

std::string Worker::ResourceSummary() const {
  const NodeInfo& n = alloc_.nodes[0];
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(n.memory_bytes) / (1 << 30));
  return std::to_string(alloc_.nodes.size()) + " node(s) x " + std::to_string(n.cpus) +
         " CPUs, " + mem + ", " + std::to_string(n.gpus.size()) + " GPUs";
}

void Worker::RunHookCommands(const std::vector<std::string>& commands) {
  for (const auto& c : commands) {
    LaunchSpec spec{{"bash", "-c", c}, {}, working_dir_, "", "", {}};
    std::string error;
    pid_t pid = procs_.Start(spec, &error);
    if (pid < 0) continue;
    bool done = false;
    while (!done) {
      WakeUp w = procs_.WaitForEvent(1.0);
      auto own = std::find_if(w.exits.begin(), w.exits.end(),
                              [pid](const ProcessExit& e) { return e.pid == pid; });
      done = own != w.exits.end();
      if (done) w.exits.erase(own);
      Stash(std::move(w));  // a job's exit or a signal meanwhile is the loop's
    }
  }
}

// ---- the loop -------------------------------------------------------------------
int Worker::Loop() {
  double next_heartbeat = Now() + heartbeat_seconds_;
  double idle_since = Now();
  while (true) {
    double now = Now();
    CheckLimits(now);
    if (now >= next_heartbeat) {
      Heartbeat();
      next_heartbeat = now + heartbeat_seconds_;
    }
    // A signal that came while waiting elsewhere (hook commands, registration retries)
    // counts before anything more is claimed or launched.
    if (stashed_.signal) OnStopSignal(std::exchange(stashed_.signal, 0));
    // Refill free slots from the queue first: no round trip between jobs.
    LaunchQueued();
    // A claim carries the results and start notices; otherwise they are sent
    // alone, a few at a time (see FlushDue).
    if (resync_ && now >= retry_at_) Resync();
    if (!draining_ && !resync_ && now >= next_claim_ && now >= retry_at_) Claim(now);
    else if (FlushDue(now) && now >= retry_at_) Flush();
    LaunchQueued();
    bool holding = !queue_.empty() || !placed_.empty();
    if (!running_.empty() || !results_.empty() || holding) idle_since = now;
    // Stopping: jobs claimed but not started go back to the server when this worker leaves.
    if (draining_ && running_.empty() && results_.empty()) return stop_code_;
    if (running_.empty() && results_.empty() && !holding) {
      if (workflow_complete_) {
        Log("the workflow is complete");
        return 0;
      }
      if (nothing_fits_ && !workflow_complete_) {
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
        leave_reason_ = "idle for " + std::to_string(static_cast<int>(o_.idle_timeout_seconds)) +
                        " s";
        Log(leave_reason_ + "; stopping");
        return 0;
      }
    }
    if (o_.on_progress) o_.on_progress(static_cast<int>(running_.size()), done_);
    double wait = std::min(next_heartbeat, std::max(next_claim_, retry_at_)) - Now();
    if (!results_.empty() || !started_.empty())
      wait = std::min(wait, std::max(kFlushDelaySeconds, retry_at_ - Now()));
    if (!running_.empty()) wait = std::min(wait, 0.5);  // runtime/memory/kill checks
    wait = std::max(0.0, std::min(wait, 5.0));
    if (!deferred_.empty()) wait = std::min(wait, 0.2);
    if (!placed_.empty()) wait = std::min(wait, std::max(0.0, next_launch_at_ - Now()));
    bool stashed = !stashed_.exits.empty() || stashed_.signal;
    WakeUp w = procs_.WaitForEvent(stashed ? 0.0 : wait);
    Stash(std::move(w));
    w = std::exchange(stashed_, WakeUp{});
    if (w.signal) OnStopSignal(w.signal);
    for (const auto& e : w.exits) OnExit(e);
    bool freed = FinishDeferred(Now());
    if (!w.exits.empty() || freed) {
      LaunchQueued();
      next_claim_ = 0;  // resources freed: claim (if anything is free still) at once
    }
  }
}

void Worker::Claim(double now) {
  std::vector<NodeFree> free = ledger_->Free();
  int64_t cpus = 0;
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& f : free) {
    cpus += f.free_cpus;
    nodes.push_back({{"free_cpus", f.free_cpus}, {"free_memory_bytes", f.free_memory_bytes},
                     {"free_gpus", f.free_gpus}, {"total_gpus", f.total_gpus},
                     {"total_cpus", f.total_cpus},
                     {"total_memory_bytes", f.total_memory_bytes}, {"idle", f.idle}});
  }
  // Short jobs: also claim one round ahead (kept in a local queue), so a
  // slot that frees up is refilled at once instead of after a round trip.
  // The shorter the jobs, the more rounds ahead (about 0.2 s of work).
  // Only once a few jobs showed how long they take: several workers must not
  // start by hoarding each other's work.
  bool prefetch = queue_.empty() && placed_.empty() && jobs_measured_ >= 4 &&
                  mean_job_seconds_ < kPrefetchBelowSeconds;
  int rounds = prefetch ? static_cast<int>(std::clamp(0.2 / std::max(mean_job_seconds_, 1e-3),
                                                      0.0, 16.0))
                        : 0;
  for (int k = 0; k < rounds; ++k) {
    for (const auto& f : free) {
      cpus += f.total_cpus;
      nodes.push_back({{"free_cpus", f.total_cpus}, {"free_memory_bytes", f.total_memory_bytes},
                       {"free_gpus", f.total_gpus}, {"total_gpus", f.total_gpus},
                       {"total_cpus", f.total_cpus},
                       {"total_memory_bytes", f.total_memory_bytes}, {"idle", false}});
    }
  }
  if (cpus <= 0) {
    next_claim_ = 1e300;  // wait for an exit
    if (FlushDue(now)) Flush();
    return;
  }
  nlohmann::json body = {{"worker_id", worker_id_},
                         {"max_jobs", std::min<int64_t>(cpus, 1000)},
                         {"nodes", nodes}};
  if (!results_.empty()) body["results"] = results_;
  if (!started_.empty()) body["started"] = started_;
  if (!o_.scheduler.empty()) body["scheduler"] = o_.scheduler;
  // One rule with validate and the server (docs/worker.md): the runtime must fit the time
  // left, with the allocation's start-up forgiven, so that runtime == walltime runs.
  if (alloc_.end_time)
    body["remaining_seconds"] = ClaimableRuntime(alloc_, now, kStartupAllowanceSeconds);
  auto r = api_.Call("POST", base_ + "/claim", body);
  if (!r.ok()) {
    // The server may have handed out jobs whose answer never arrived (it died after
    // committing, or the connection broke): find out before claiming again.
    if (r.status == 0 || r.status >= 500) resync_ = true;
    ServerTrouble(r);
    return;
  }
  ServerOk();
  results_ = nlohmann::json::array();
  started_ = nlohmann::json::array();
  first_pending_ = 0;
  workflow_complete_ = r.body.value("workflow_complete", false);
  const auto& jobs = r.body["jobs"];
  for (const auto& j : jobs) queue_.push_back(ParseJob(j));
  LaunchQueued();
  bool idle = jobs.empty() && running_.empty() && queue_.empty() && placed_.empty();
  stuck_ = idle && r.body.value("unfinished", 0) > 0;
  nothing_fits_ = idle && r.body.value("runnable", int64_t{1}) == 0;
  if (jobs.empty()) {
    claim_backoff_ = std::min(2.0, std::max(0.05, claim_backoff_ * 2));
    next_claim_ = now + claim_backoff_;
  } else {
    claim_backoff_ = 0;
    next_claim_ = now;  // there may be more that fits
  }
}

JobToRun Worker::ParseJob(const nlohmann::json& j) {
  JobToRun job;
  job.id = j["id"];
  job.name = j["name"];
  job.attempt = j["attempt"];
  job.command = j["command"];
  job.invocation_script = j.value("invocation_script", "");
  if (j.contains("env"))
    for (const auto& [k, v] : j["env"].items()) job.env[k] = v.get<std::string>();
  job.needs = {j["num_cpus"], j["memory_bytes"], j["num_gpus"], j["num_nodes"]};
  job.runtime_seconds = j["runtime_seconds"];
  job.suggested_nodes = j["nodes"].get<std::vector<uint32_t>>();
  if (j.contains("stdio")) {
    job.stdio_mode = j["stdio"]["mode"];
    job.delete_on_success = j["stdio"]["delete_on_success"];
  }
  job.failure_handler = j.value("failure_handler", -1);
  return job;
}

// ---- talking to the server ----------------------------------------------------------
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
  if (!started_.empty()) {
    auto r = api_.Call("POST", base_ + "/start", {{"worker_id", worker_id_}, {"jobs", started_}});
    if (r.ok()) started_ = nlohmann::json::array();
  }
  if (results_.empty()) return;
  nlohmann::json body = {{"worker_id", worker_id_}, {"results", results_}};
  auto r = api_.Call("POST", base_ + "/complete", body);
  if (r.ok() || r.status == 409) {
    // 409: some were stale (this worker lost them); they are done with all the same.
    results_.clear();
    ServerOk();
    return;
  }
  ServerTrouble(r);
}

void Worker::Heartbeat() {
  auto r = api_.Call("POST", base_ + "/workers/" + std::to_string(worker_id_) + "/heartbeat");
  if (r.status == 409) {
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
    return;
  }
  if (!r.ok()) {
    ServerTrouble(r);
    return;
  }
  ServerOk();
  workflow_complete_ = r.body.value("workflow_complete", false);
  // A canceled job not started yet is reported canceled at once.
  auto cancel_unstarted = [this](const JobToRun& job) {
    Running none;
    Report(job, "canceled", 1, 0, "canceled", Now(), Now(), none);
  };
  for (const auto& stop : r.body["stop_jobs"]) {
    const uint32_t id = stop.get<uint32_t>();
    for (auto& [pid, run] : running_)
      if (run.job.id == id) Terminate(run, "canceled", 5);
    auto queued = std::find_if(queue_.begin(), queue_.end(),
                               [id](const JobToRun& j) { return j.id == id; });
    if (queued != queue_.end()) {
      cancel_unstarted(*queued);
      queue_.erase(queued);
    }
    auto placed = std::find_if(placed_.begin(), placed_.end(),
                               [id](const Placed& p) { return p.job.id == id; });
    if (placed != placed_.end()) {
      ledger_->Release(placed->placement);
      cancel_unstarted(placed->job);
      placed_.erase(placed);
    }
  }
}

void Worker::ServerTrouble(const server::ApiResult& r) {
  // Keep running jobs and their results; try again later, backing off.
  if (!trouble_logged_) Log("server trouble, will retry: " + api_.Describe(r));
  trouble_logged_ = true;
  trouble_backoff_ = std::clamp(trouble_backoff_ * 2, 0.25, 5.0);
  const double jitter = 0.8 + 0.4 * (static_cast<double>(std::rand()) / RAND_MAX);
  retry_at_ = Now() + trouble_backoff_ * jitter;
}

void Worker::Resync() {
  auto r = api_.Call("GET", base_ + "/workers/" + std::to_string(worker_id_) + "/jobs");
  if (r.status == 404 || r.status == 409) {
    resync_ = false;  // no lease any more: the heartbeat will find out and register again
    return;
  }
  if (!r.ok()) {
    ServerTrouble(r);
    return;
  }
  ServerOk();
  resync_ = false;
  int taken = 0;
  for (const auto& j : r.body["jobs"]) {
    if (j.value("status", "") != "claimed") continue;
    uint32_t id = j["id"], attempt = j["attempt"];
    bool known = false;
    for (const auto& [pid, run] : running_)
      known = known || (run.job.id == id && run.job.attempt == attempt);
    for (const auto& q : queue_) known = known || (q.id == id && q.attempt == attempt);
    for (const auto& p : placed_)
      known = known || (p.job.id == id && p.job.attempt == attempt);
    for (const auto& res : results_)
      known = known || (res["id"] == id && res["attempt"] == attempt);
    if (known) continue;
    queue_.push_back(ParseJob(j));
    ++taken;
  }
  if (taken > 0) Log("took back " + std::to_string(taken) + " job(s) claimed in a lost answer");
  LaunchQueued();
}

void Worker::ServerOk() {
  if (trouble_logged_) Log("the server answers again");
  trouble_logged_ = false;
  trouble_backoff_ = 0;
  retry_at_ = 0;
}

server::ApiResult Worker::RetryCall(const std::string& method, const std::string& path,
                                    const nlohmann::json& body) {
  server::ApiResult r;
  for (int attempt = 0; attempt < 30; ++attempt) {
    r = api_.Call(method, path, body);
    if (r.status != 0 && r.status != 503) return r;
    Stash(procs_.WaitForEvent(std::min(5.0, 0.1 * (1 << std::min(attempt, 5)))));
  }
  return r;
}

void Worker::Stash(WakeUp w) {
  for (auto& e : w.exits) stashed_.exits.push_back(std::move(e));
  if (w.signal && !stashed_.signal) stashed_.signal = w.signal;
}

void Worker::Log(const std::string& message) {
  if (!o_.quiet) std::fprintf(stderr, "torc worker: %s\n", message.c_str());
}

}  // namespace internal

int RunWorker(server::ApiClient& client, const WorkerOptions& options) {
  return internal::Worker(client, options).Run();
}

}  // namespace torc::worker
