#include "worker/worker.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>

#include "server/client.h"
#include "spec/plan.h"
#include "worker/command.h"
#include "worker/ledger.h"
#include "worker/process.h"

namespace torc::worker {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!partial.empty()) mkdir(partial.c_str(), 0755);
    }
    if (i < path.size()) partial += path[i];
  }
}

int SignalNumber(const std::string& name) {
  static const std::map<std::string, int> kSignals = {
      {"SIGTERM", SIGTERM}, {"TERM", SIGTERM}, {"SIGINT", SIGINT}, {"INT", SIGINT},
      {"SIGUSR1", SIGUSR1}, {"USR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"USR2", SIGUSR2},
      {"SIGHUP", SIGHUP},   {"HUP", SIGHUP},   {"SIGKILL", SIGKILL}, {"KILL", SIGKILL}};
  auto it = kSignals.find(name);
  return it == kSignals.end() ? SIGTERM : it->second;
}

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
  OutputPaths outputs;
  pid_t recovery_pid = -1;  // running the failure handler's recovery script
  ProcessExit exit;         // the job's exit, kept while recovering
};

class Worker {
 public:
  Worker(server::ApiClient& api, const WorkerOptions& o) : api_(api), o_(o) {}

  int Run() {
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
    api_.Call("DELETE", base_ + "/workers/" + std::to_string(worker_id_));
    return rc;
  }

 private:
  // ---- setup ------------------------------------------------------------------
  bool Register() {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : alloc_.nodes)
      nodes.push_back({{"name", n.name}, {"cpus", n.cpus}, {"memory_bytes", n.memory_bytes},
                       {"gpus", n.gpus}});
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    base_ = "/workflows/" + std::to_string(o_.workflow_id);
    auto r = RetryCall("POST", base_ + "/workers",
                       {{"hostname", host},
                        {"slurm_job_id", alloc_.slurm_job_id},
                        {"pid", getpid()},
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
    for (const auto& h : b["failure_handlers"]) {
      spec::FailureHandler fh;
      fh.name = h["name"];
      for (const auto& rule : h["rules"]) {
        spec::FailureRule fr;
        fr.exit_codes = rule["exit_codes"].get<std::vector<int64_t>>();
        fr.match_all_exit_codes = rule["match_all_exit_codes"];
        fr.max_retries = rule["max_retries"];
        fr.recovery_script = rule["recovery_script"];
        fh.rules.push_back(fr);
      }
      handlers_.push_back(fh);
    }
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
    job_output_dir_ = o_.output_dir + "/" + std::to_string(o_.workflow_id);
    MakeDirs(job_output_dir_);
    Log("worker " + std::to_string(worker_id_) + " registered: " +
        std::to_string(alloc_.nodes.size()) + " node(s) x " + std::to_string(alloc_.nodes[0].cpus) +
        " CPUs, " + (direct_ ? "direct" : "slurm") + " mode");
    return true;
  }

  void RunHookCommands(const std::vector<std::string>& commands) {
    for (const auto& c : commands) {
      LaunchSpec spec{{"bash", "-c", c}, {}, working_dir_, "", ""};
      std::string error;
      pid_t pid = procs_.Start(spec, &error);
      if (pid < 0) continue;
      while (true) {
        WakeUp w = procs_.WaitForEvent(1.0);
        bool done = false;
        for (const auto& e : w.exits) done = done || e.pid == pid;
        if (done) break;
      }
    }
  }

  // ---- the loop -------------------------------------------------------------------
  int Loop() {
    double next_heartbeat = Now() + heartbeat_seconds_;
    double idle_since = Now();
    while (true) {
      double now = Now();
      CheckLimits(now);
      if (now >= next_heartbeat) {
        Heartbeat();
        next_heartbeat = now + heartbeat_seconds_;
      }
      // Refill free slots from the queue first: no round trip between jobs.
      LaunchQueued();
      // A claim carries the results and start notices; otherwise they are sent
      // alone, a few at a time (see FlushDue).
      if (!draining_ && now >= next_claim_) Claim(now);
      else if (FlushDue(now)) Flush();
      LaunchQueued();
      if (!running_.empty() || !results_.empty() || !queue_.empty()) idle_since = now;
      if (running_.empty() && results_.empty() && queue_.empty()) {
        if (workflow_complete_) {
          Log("the workflow is complete");
          return 0;
        }
        if (draining_) return stop_code_;
        if (nothing_fits_ && !workflow_complete_) {
          Log("no unfinished job can run on this worker's resources; stopping");
          return 0;
        }
        if (stuck_ && o_.exit_when_stuck) {
          Log("nothing more can run here");
          return 0;
        }
        if (now - idle_since > o_.idle_timeout_seconds) {
          Log("idle for " + std::to_string(static_cast<int>(o_.idle_timeout_seconds)) +
              " s; stopping");
          return 0;
        }
      }
      if (o_.on_progress) o_.on_progress(static_cast<int>(running_.size()), done_);
      double wait = std::min(next_heartbeat, next_claim_) - Now();
      if (!results_.empty() || !started_.empty()) wait = std::min(wait, kFlushDelaySeconds);
      if (!running_.empty()) wait = std::min(wait, 0.5);  // runtime/memory/kill checks
      wait = std::max(0.0, std::min(wait, 5.0));
      if (!deferred_.empty()) wait = std::min(wait, 0.2);
      WakeUp w = procs_.WaitForEvent(wait);
      if (w.signal) Stop(w.signal == SIGUSR1 ? "walltime" : "stopped");
      for (const auto& e : w.exits) OnExit(e);
      FinishDeferred(Now());
      if (!w.exits.empty()) {
        LaunchQueued();
        next_claim_ = 0;  // resources freed: claim (if anything is free still) at once
      }
    }
  }

  // An srun step killed by a signal may be the allocation going away (scancel,
  // walltime): Slurm signals the steps and the worker at about the same time.
  // Such an exit waits a moment; if the worker is stopped meanwhile the job is
  // reported as terminated (requeued, no retry used), not as failed.
  void FinishDeferred(double now) {
    for (auto it = deferred_.begin(); it != deferred_.end();) {
      Running& r = running_[it->first];
      if (draining_ && r.end_reason.empty()) r.end_reason = "stopped";
      if (draining_ || now >= it->second.deadline) {
        Finish(r, it->second.exit);
        running_.erase(it->first);
        it = deferred_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Claim(double now) {
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
    bool prefetch = queue_.empty() && jobs_measured_ >= 4 && mean_job_seconds_ < kPrefetchBelowSeconds;
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
    if (alloc_.end_time) body["remaining_seconds"] = *alloc_.end_time - now - sigterm_lead_;
    auto r = api_.Call("POST", base_ + "/claim", body);
    if (!r.ok()) {
      ServerTrouble(r);
      return;
    }
    results_ = nlohmann::json::array();
    started_ = nlohmann::json::array();
    first_pending_ = 0;
    workflow_complete_ = r.body.value("workflow_complete", false);
    const auto& jobs = r.body["jobs"];
    for (const auto& j : jobs) queue_.push_back(ParseJob(j));
    LaunchQueued();
    stuck_ = jobs.empty() && running_.empty() && queue_.empty() &&
             r.body.value("unfinished", 0) > 0;
    nothing_fits_ = jobs.empty() && running_.empty() && queue_.empty() &&
                    r.body.value("runnable", int64_t{1}) == 0;
    if (jobs.empty()) {
      claim_backoff_ = std::min(2.0, std::max(0.05, claim_backoff_ * 2));
      next_claim_ = now + claim_backoff_;
    } else {
      claim_backoff_ = 0;
      next_claim_ = now;  // there may be more that fits
    }
  }

  JobToRun ParseJob(const nlohmann::json& j) {
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

  /// Starts the queued jobs that fit now, in claim order.
  void LaunchQueued() {
    if (draining_) return;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (!ledger_->CanEverFit(it->needs)) {
        Running none;
        Report(*it, "failed", 1, 0, "does not fit this worker's nodes", Now(), Now(), none);
        it = queue_.erase(it);
        continue;
      }
      Placement p;
      // Direct mode runs processes here: a single-node job can only use this
      // node. (A multi-node job holds whole nodes and runs its command once,
      // here, e.g. mpirun spreading it.)
      bool local_only = direct_ && alloc_.nodes.size() > 1 && it->needs.nodes == 1;
      std::vector<uint32_t> preferred =
          local_only ? std::vector<uint32_t>{own_node_} : it->suggested_nodes;
      if (!ledger_->Place(it->needs, preferred, &p)) {
        ++it;
        continue;
      }
      if (local_only && p.nodes[0] != own_node_) {
        ledger_->Release(p);
        ++it;
        continue;
      }
      JobToRun job = std::move(*it);
      it = queue_.erase(it);
      uint32_t id = job.id, attempt = job.attempt;
      if (Launch(std::move(job), p)) started_.push_back({{"id", id}, {"attempt", attempt}});
    }
  }

  bool Launch(JobToRun job, const Placement& placement) {
    Running r;
    double now = Now();
    r.placement = placement;
    r.nodes = NodeListOf(r.placement, alloc_.nodes);
    r.outputs = OutputsFor(job, job_output_dir_);
    JobContext ctx{o_.workflow_id, job_output_dir_, api_.url(), direct_,
                   !alloc_.nodes[r.placement.nodes[0]].gpus.empty()};
    LaunchSpec spec;
    spec.argv = direct_ ? DirectArgs(job) : SrunArgs(job, r.placement, alloc_.nodes, srun_);
    spec.env = JobEnvironment(job, r.placement, ctx);
    spec.cwd = working_dir_;
    spec.stdout_path = r.outputs.stdout_path;
    spec.stderr_path = r.outputs.stderr_path;
    std::string error;
    r.pid = procs_.Start(spec, &error);
    r.start_time = now;
    r.runtime_deadline = now + static_cast<double>(job.runtime_seconds);
    r.job = std::move(job);
    if (r.pid < 0) {
      Log("cannot start " + r.job.name + ": " + error);
      ledger_->Release(r.placement);
      Report(r.job, "failed", 127, 0, "could not start: " + error, now, now, r);
      return false;
    }
    running_[r.pid] = std::move(r);
    return true;
  }

  // ---- limits, signals, exits ------------------------------------------------------
  void Terminate(Running& r, const std::string& reason, double grace) {
    if (!r.end_reason.empty()) return;
    r.end_reason = reason;
    procs_.Signal(r.pid, reason == "memory" ? SIGKILL : term_signal_);
    r.kill_at = Now() + grace;
  }

  void CheckLimits(double now) {
    bool walltime_near = alloc_.end_time && now >= *alloc_.end_time - sigterm_lead_;
    if (walltime_near && !draining_) {
      Log("the allocation ends in " + std::to_string(static_cast<int>(*alloc_.end_time - now)) +
          " s: stopping jobs");
      Stop("walltime");
    }
    for (auto& [pid, r] : running_) {
      if (r.recovery_pid > 0) continue;
      if (r.end_reason.empty() && now >= r.runtime_deadline)
        Terminate(r, "runtime", std::min<double>(sigterm_lead_, 30));
      if (r.end_reason.empty() && direct_ && limit_resources_ && r.job.needs.memory_bytes > 0 &&
          procs_.GroupRss(pid) > r.job.needs.memory_bytes)
        Terminate(r, "memory", 0);
      if (r.kill_at > 0 && now >= r.kill_at) procs_.Signal(pid, SIGKILL);
    }
  }

  void Stop(const std::string& reason) {
    draining_ = true;
    double grace = alloc_.end_time ? std::max(1.0, std::min<double>(sigterm_lead_ - 5,
                                                                    *alloc_.end_time - Now() - 5))
                                   : 10.0;
    for (auto& [pid, r] : running_) Terminate(r, reason, grace);
  }

  void OnExit(const ProcessExit& e) {
    // A recovery script finished: now the failure is reported.
    for (auto it = running_.begin(); it != running_.end(); ++it) {
      if (it->second.recovery_pid == e.pid) {
        Finish(it->second, it->second.exit);
        running_.erase(it);
        return;
      }
    }
    auto it = running_.find(e.pid);
    if (it == running_.end()) return;
    Running& r = it->second;
    if (!direct_ && r.end_reason.empty() && e.exit_code >= 128 && !draining_) {
      deferred_[e.pid] = {e, Now() + 1.5};
      return;
    }
    if (r.end_reason.empty() && e.exit_code != 0 && StartRecovery(r, e)) return;
    Finish(r, e);
    running_.erase(it);
  }

  bool StartRecovery(Running& r, const ProcessExit& e) {
    if (r.job.failure_handler < 0 || static_cast<size_t>(r.job.failure_handler) >= handlers_.size())
      return false;
    const spec::FailureRule* rule = handlers_[r.job.failure_handler].Match(e.exit_code);
    if (!rule || rule->recovery_script.empty()) return false;
    LaunchSpec spec;
    spec.argv = {"bash", "-c", rule->recovery_script};
    JobContext ctx{o_.workflow_id, job_output_dir_, api_.url(), direct_, false};
    spec.env = JobEnvironment(r.job, r.placement, ctx);
    spec.env["TORC_EXIT_CODE"] = std::to_string(e.exit_code);
    spec.cwd = working_dir_;
    spec.stdout_path = spec.stderr_path =
        job_output_dir_ + "/" + r.job.name + "." + std::to_string(r.job.attempt) + ".recovery.log";
    std::string error;
    r.recovery_pid = procs_.Start(spec, &error);
    if (r.recovery_pid < 0) return false;
    r.exit = e;
    return true;
  }

  void Finish(Running& r, const ProcessExit& e) {
    double now = Now();
    ledger_->Release(r.placement);
    std::string status = "completed";
    int exit_code = e.exit_code;
    if (r.end_reason == "memory") {
      status = "failed";
      exit_code = oom_exit_code_;
    } else if (r.end_reason == "runtime") {
      status = "terminated";
      exit_code = timeout_exit_code_;
    } else if (r.end_reason == "walltime" || r.end_reason == "stopped") {
      status = "terminated";
    } else if (r.end_reason == "canceled") {
      status = "canceled";
    } else if (e.exit_code != 0) {
      status = "failed";
    }
    Report(r.job, status, exit_code, e.signal,
           r.end_reason == "stopped" ? "walltime" : r.end_reason, r.start_time, now, r, &e);
    double took = now - r.start_time;
    mean_job_seconds_ = jobs_measured_++ == 0 ? took : 0.8 * mean_job_seconds_ + 0.2 * took;
    if (status == "completed" && r.job.delete_on_success) {
      if (!r.outputs.stdout_path.empty()) unlink(r.outputs.stdout_path.c_str());
      if (!r.outputs.stderr_path.empty()) unlink(r.outputs.stderr_path.c_str());
    }
    ++done_;
  }

  void Report(const JobToRun& job, const std::string& status, int exit_code, int signal,
              const std::string& reason, double start, double end, const Running& r,
              const ProcessExit* e = nullptr) {
    nlohmann::json res = {{"id", job.id},         {"attempt", job.attempt}, {"status", status},
                          {"exit_code", status == "completed" ? 0 : (exit_code ? exit_code : 1)},
                          {"signal", signal},     {"reason", reason},       {"start_time", start},
                          {"end_time", end},      {"nodes", r.nodes}};
    if (e) {
      res["peak_rss_bytes"] = e->peak_rss_bytes;
      res["cpu_seconds"] = e->cpu_seconds;
    }
    results_.push_back(std::move(res));
  }

  // ---- talking to the server ----------------------------------------------------------
  /// Results and start notices wait a little to travel together, unless
  /// nothing else is going on.
  bool FlushDue(double now) {
    if (results_.empty() && started_.empty()) return false;
    if (running_.empty() || results_.size() >= 256) return true;
    if (first_pending_ == 0) first_pending_ = now;
    return now - first_pending_ >= kFlushDelaySeconds;
  }

  void Flush() {
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
      return;
    }
    ServerTrouble(r);
  }

  void Heartbeat() {
    auto r = api_.Call("POST", base_ + "/workers/" + std::to_string(worker_id_) + "/heartbeat");
    if (r.status == 409) {
      // The lease expired (the server was unreachable too long): the jobs were
      // given to others, so ours must not go on. Start over.
      Log("lease lost; stopping this worker's jobs and registering again");
      for (auto& [pid, run] : running_) procs_.Signal(pid, SIGKILL);
      lease_lost_ = true;
      Register();
      return;
    }
    if (!r.ok()) {
      ServerTrouble(r);
      return;
    }
    workflow_complete_ = r.body.value("workflow_complete", false);
    for (const auto& id : r.body["stop_jobs"]) {
      for (auto& [pid, run] : running_)
        if (run.job.id == id.get<uint32_t>()) Terminate(run, "canceled", 5);
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->id != id.get<uint32_t>()) continue;
        Running none;
        Report(*it, "canceled", 1, 0, "canceled", Now(), Now(), none);
        queue_.erase(it);
        break;
      }
    }
  }

  void ServerTrouble(const server::ApiResult& r) {
    // Keep running jobs and results; try again a little later.
    if (!trouble_logged_) Log("server trouble, will retry: " + api_.Describe(r));
    trouble_logged_ = true;
    next_claim_ = Now() + 1.0;
  }

  server::ApiResult RetryCall(const std::string& method, const std::string& path,
                              const nlohmann::json& body) {
    server::ApiResult r;
    for (int attempt = 0; attempt < 30; ++attempt) {
      r = api_.Call(method, path, body);
      if (r.status != 0 && r.status != 503) return r;
      procs_.WaitForEvent(std::min(5.0, 0.1 * (1 << std::min(attempt, 5))));
    }
    return r;
  }

  void Log(const std::string& message) {
    if (!o_.quiet) std::fprintf(stderr, "torc worker: %s\n", message.c_str());
  }

  server::ApiClient& api_;
  WorkerOptions o_;
  Allocation alloc_;
  std::unique_ptr<NodeLedger> ledger_;
  ProcessTable procs_;
  std::map<pid_t, Running> running_;
  std::deque<JobToRun> queue_;
  struct Deferred {
    ProcessExit exit;
    double deadline;
  };
  std::map<pid_t, Deferred> deferred_;  // exits waiting to see if the allocation is ending  // claimed, waiting for room (prefetched or not fitting yet)
  static constexpr double kPrefetchBelowSeconds = 2.0;
  static constexpr double kFlushDelaySeconds = 0.1;
  double first_pending_ = 0;  // when the oldest unsent result or start notice appeared
  double mean_job_seconds_ = 0;  // moving average of recent jobs' run times
  int64_t jobs_measured_ = 0;
  uint32_t own_node_ = 0;  // the node this worker runs on (direct mode starts processes here)
  nlohmann::json results_ = nlohmann::json::array();  // ended attempts not yet reported
  nlohmann::json started_ = nlohmann::json::array();  // launched jobs not yet reported
  std::vector<spec::FailureHandler> handlers_;
  std::vector<std::string> on_start_, on_complete_;
  SrunOptions srun_;
  std::string base_, workflow_name_, working_dir_, job_output_dir_;
  int64_t worker_id_ = 0;
  double heartbeat_seconds_ = 30;
  bool direct_ = true, limit_resources_ = true;
  int term_signal_ = SIGTERM;
  int64_t sigterm_lead_ = 30;
  int oom_exit_code_ = 137, timeout_exit_code_ = 152;
  double next_claim_ = 0, claim_backoff_ = 0;
  bool nothing_fits_ = false;
  bool workflow_complete_ = false, draining_ = false, stuck_ = false, lease_lost_ = false,
       trouble_logged_ = false;
  int stop_code_ = 0;
  int64_t done_ = 0;
};

}  // namespace

int RunWorker(server::ApiClient& client, const WorkerOptions& options) {
  return Worker(client, options).Run();
}

}  // namespace torc::worker
