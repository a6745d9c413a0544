// The worker loop (worker/worker.h) driven deterministically, as ninja's build tests drive its
// scheduler with a fake command runner: a fake server (WorkerApi), a fake clock, and a fake
// process table whose WaitForEvent moves the clock to the next exit or signal. No sleeps, no
// processes, no HTTP; only the job output directory is real (a temporary one).
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/protocol/messages.h"
#include "worker/worker.h"

namespace {

using namespace torc;
using protocol::AttemptReport;
using protocol::AttemptStatus;
using server::Acknowledged;
using server::ApiAnswer;

constexpr double kStart = 1'000'000;  // the fake clock's first reading

/// Time that moves only when the fake process table waits.
class FakeClock : public worker::Clock {
 public:
  double Now() override { return now; }
  double now = kStart;
};

/// How a fake job's process behaves.
struct Behaviour {
  double seconds = 1;  // runs this long, then exits with exit_code
  int exit_code = 0;
  bool ignores_sigterm = false;  // only SIGKILL ends it
  int64_t rss_bytes = 0;         // its resident memory while it runs
};

/// Pretend processes. A job's process (known by TORC_JOB_NAME) behaves as `behaviour` says for
/// its name; anything else (hook commands, recovery scripts) exits at once with 0. A signal
/// ends a process at once (SIGTERM not, when it ignores it). WaitForEvent moves the clock to
/// the next exit or worker signal, or by the timeout.
class FakeProcesses : public worker::ProcessTable {
 public:
  struct Process {
    worker::LaunchSpec spec;
    std::string job;  // "" when not a job
    double started_at = 0, ends_at = 0;
    int exit_code = 0, signal = 0;
    bool ignores_sigterm = false, reaped = false;
    int64_t rss_bytes = 0;
  };
  /// A signal the worker sent.
  struct Sent {
    double at;
    pid_t pid;
    int signal;
  };

  explicit FakeProcesses(FakeClock& clock) : clock_(clock) {}

  pid_t Start(const worker::LaunchSpec& spec, std::string* error) override {
    Process p;
    p.spec = spec;
    p.started_at = p.ends_at = clock_.now;
    auto name = spec.env.find("TORC_JOB_NAME");
    if (name != spec.env.end() && !spec.env.count("TORC_EXIT_CODE")) {  // not a recovery script
      p.job = name->second;
      if (unstartable.count(p.job)) {
        *error = "no such program";
        return -1;
      }
      Behaviour b = behaviour[p.job];
      p.ends_at += b.seconds;
      p.exit_code = b.exit_code;
      p.ignores_sigterm = b.ignores_sigterm;
      p.rss_bytes = b.rss_bytes;
    }
    pid_t pid = next_pid_++;
    processes[pid] = p;
    return pid;
  }

  void Signal(pid_t pid, int sig) override {
    sent.push_back({clock_.now, pid, sig});
    auto it = processes.find(pid);
    if (it == processes.end() || !Alive(it->second)) return;
    if (sig != SIGKILL && it->second.ignores_sigterm) return;
    it->second.ends_at = clock_.now;
    it->second.exit_code = 128 + sig;
    it->second.signal = sig;
  }

  worker::WakeUp WaitForEvent(double timeout_seconds) override {
    if (++waits > 1'000'000) throw std::runtime_error("the worker loop does not end");
    double next = clock_.now + std::max(0.0, timeout_seconds);
    for (const auto& [pid, p] : processes)
      if (!p.reaped) next = std::min(next, std::max(clock_.now, p.ends_at));
    for (const auto& [at, sig] : worker_signals) next = std::min(next, std::max(clock_.now, at));
    clock_.now = next;
    worker::WakeUp w;
    for (auto& [pid, p] : processes) {
      if (p.reaped || p.ends_at > clock_.now) continue;
      p.reaped = true;
      worker::ProcessExit e;
      e.pid = pid;
      e.exit_code = p.exit_code;
      e.signal = p.signal;
      e.peak_rss_bytes = p.rss_bytes;
      w.exits.push_back(e);
    }
    auto due = std::find_if(worker_signals.begin(), worker_signals.end(),
                            [this](const auto& s) { return s.first <= clock_.now; });
    if (due != worker_signals.end()) {
      w.signal = due->second;
      worker_signals.erase(due);
    }
    return w;
  }

  std::map<pid_t, worker::GroupUsage> UsageByGroup(const std::vector<pid_t>& groups,
                                                   double) override {
    ++rss_reads;
    std::map<pid_t, worker::GroupUsage> rss;
    for (pid_t pid : groups)
      if (auto p = processes.find(pid); p != processes.end() && Alive(p->second))
        rss[pid] = {p->second.rss_bytes, clock_.now - p->second.started_at};
    return rss;
  }

  /// The processes of the job named `job`, in start order.
  std::vector<const Process*> Of(const std::string& job) const {
    std::vector<const Process*> out;
    for (const auto& [pid, p] : processes)
      if (p.job == job) out.push_back(&p);
    return out;
  }
  /// The signals sent to the job's first process.
  std::vector<Sent> SentTo(const std::string& job) const {
    std::vector<Sent> out;
    for (const auto& s : sent)
      if (processes.at(s.pid).job == job) out.push_back(s);
    return out;
  }

  std::map<std::string, Behaviour> behaviour;          // by job name
  std::set<std::string> unstartable;                   // jobs whose Start fails
  std::vector<std::pair<double, int>> worker_signals;  // (when, signal) for the worker itself
  std::map<pid_t, Process> processes;
  std::vector<Sent> sent;
  int waits = 0;
  mutable int rss_reads = 0;

 private:
  bool Alive(const Process& p) const { return !p.reaped && p.ends_at > clock_.now; }

  FakeClock& clock_;
  pid_t next_pid_ = 100;
};

/// The server of one workflow, in memory: hands out its jobs in order, records what the
/// worker says, and answers as the real one does (every result is final; the workflow is
/// complete when each job has one). Tests script faults: a lost lease, canceled jobs,
/// malformed answers, results it refuses, a deleted workflow, a server that stops answering.
class FakeServer : public worker::WorkerApi {
 public:
  struct Job {
    protocol::ClaimedJob claimed;
    int64_t holder = 0;    // the worker that holds it, 0: nobody
    bool running = false;  // a start notice came
    bool done = false;
    bool withheld = false;  // never handed out (it cannot run on any worker)
  };
  /// What the next heartbeat answers.
  struct HeartbeatScript {
    bool lease_lost = false;
    bool malformed = false;
    std::vector<uint32_t> stop_jobs = {};
  };

  explicit FakeServer(FakeClock& clock) : clock_(clock) {}

  protocol::ClaimedJob& AddJob(const std::string& name) {
    Job j;
    j.claimed.id = static_cast<uint32_t>(jobs.size());
    j.claimed.name = name;
    j.claimed.command = "run_" + name;
    jobs.push_back(j);
    return jobs.back().claimed;
  }

  /// The accepted result of the job named `name` (the last one).
  const AttemptReport& ResultOf(const std::string& name) const {
    for (auto it = results.rbegin(); it != results.rend(); ++it)
      if (jobs[it->id].claimed.name == name) return *it;
    throw std::runtime_error("no result for " + name);
  }

  std::string url() const override { return "http://fake:1"; }

  void SetCallTimeout(double seconds) override { call_timeouts.push_back(seconds); }

  ApiAnswer<Acknowledged> Probe() override {
    probe_times.push_back(clock_.now);
    if (auto f = Fault<Acknowledged>()) return *f;
    return {200, Acknowledged{}, ""};
  }

  ApiAnswer<protocol::RegistrationAnswer> Register(const protocol::Registration& m) override {
    if (auto f = Fault<protocol::RegistrationAnswer>()) return *f;
    registrations.push_back(m);
    if (malformed_registration)
      return {200, std::nullopt,
              "the server's registration answer is malformed: 'worker_id' "
              "is required"};
    protocol::RegistrationAnswer a;
    a.worker_id = live_worker_ = next_worker_++;
    a.workflow_name = "wf";
    a.heartbeat_seconds = heartbeat_seconds;
    a.execution = execution;
    a.ignore_workflow_completion = ignore_workflow_completion;
    return {201, a, ""};
  }

  ApiAnswer<protocol::ClaimAnswer> Claim(const protocol::ClaimRequest& m) override {
    if (auto f = Fault<protocol::ClaimAnswer>()) return *f;
    claims.push_back(m);
    ApplyRestarts();
    if (holds_claims && m.wait_seconds > 0 && m.results.empty() && m.started.empty() &&
        Unfinished() > 0 && std::none_of(jobs.begin(), jobs.end(), [](const Job& j) {
          return !j.done && !j.holder && !j.withheld;
        })) {
      double until = clock_.now + m.wait_seconds;
      for (const auto& [when, job] : done_elsewhere) until = std::min(until, when);
      for (const auto& [when, job] : restarts) until = std::min(until, when);
      clock_.now = std::max(clock_.now, until);
      ApplyRestarts();
    }
    if (Refuses(m.results)) return {400, std::nullopt, kRefusal};
    if (m.worker_id != live_worker_) return {409, std::nullopt, "no lease; register again"};
    Started(m.started);
    Apply(m.worker_id, m.results);
    protocol::ClaimAnswer a;
    for (auto& j : jobs) {
      if (a.jobs.size() >= m.max_jobs) break;
      if (j.done || j.holder || j.withheld) continue;
      j.holder = m.worker_id;
      a.jobs.push_back(j.claimed);
    }
    a.workflow_complete = Unfinished() == 0;
    a.unfinished = Unfinished();
    // Withheld jobs are ready too: they only fit no worker.
    a.ready = std::count_if(jobs.begin(), jobs.end(),
                            [](const Job& j) { return !j.done && !j.holder; });
    a.worker_cpus = worker_cpus;
    a.blocked = blocked;
    if (a.jobs.empty()) a.runnable = runnable_when_idle.value_or(a.unfinished);
    if (malformed_claims > 0) {  // committed, but the worker cannot read the answer
      --malformed_claims;
      return {200, std::nullopt, "the server's claim answer is malformed: 'jobs' is required"};
    }
    return {200, a, ""};
  }

  ApiAnswer<protocol::StartAnswer> Start(const protocol::StartRequest& m) override {
    if (auto f = Fault<protocol::StartAnswer>()) return *f;
    ++start_calls;
    Started(m.jobs);
    return {200, protocol::StartAnswer{static_cast<int64_t>(m.jobs.size())}, ""};
  }

  ApiAnswer<protocol::CompleteAnswer> Complete(const protocol::CompleteRequest& m) override {
    if (auto f = Fault<protocol::CompleteAnswer>()) return *f;
    completes.push_back(m);
    if (Refuses(m.results)) return {400, std::nullopt, kRefusal};
    Started(m.started);
    size_t stale_before = stale.size();
    Apply(m.worker_id, m.results);
    if (stale.size() > stale_before) return {409, std::nullopt, "some results were rejected"};
    protocol::CompleteAnswer a;
    a.workflow_complete = Unfinished() == 0;
    return {200, a, ""};
  }

  ApiAnswer<protocol::HeartbeatAnswer> Heartbeat(int64_t worker_id) override {
    heartbeat_times.push_back(clock_.now);
    if (auto f = Fault<protocol::HeartbeatAnswer>()) return *f;
    ApplyRestarts();
    if (worker_id != live_worker_) return {409, std::nullopt, "no lease"};
    HeartbeatScript s;
    if (!heartbeats.empty()) {
      s = heartbeats.front();
      heartbeats.pop_front();
    }
    if (s.lease_lost) {
      // The lease expired: the worker's jobs go to others, as a new attempt.
      for (auto& j : jobs) {
        if (j.holder != worker_id || j.done) continue;
        j.holder = 0;
        j.running = false;
        ++j.claimed.attempt;
      }
      live_worker_ = 0;
      return {409, std::nullopt, "worker has no lease"};
    }
    if (s.malformed)
      return {200, std::nullopt,
              "the server's heartbeat answer is malformed: 'stop_jobs' must "
              "be an array"};
    return {200, protocol::HeartbeatAnswer{s.stop_jobs, Unfinished() == 0}, ""};
  }

  ApiAnswer<protocol::HeldJobs> HeldJobs(int64_t worker_id) override {
    ++held_calls;
    if (auto f = Fault<protocol::HeldJobs>()) return *f;
    protocol::HeldJobs held;
    for (const auto& j : jobs) {
      if (j.holder != worker_id || j.done) continue;
      held.jobs.push_back(j.claimed);
      held.jobs.back().status = j.running ? "running" : "claimed";
    }
    return {200, held, ""};
  }

  ApiAnswer<Acknowledged> Leave(int64_t, const protocol::LeaveNotice& m) override {
    if (auto f = Fault<Acknowledged>()) return *f;
    leaves.push_back(m.reason);
    return {200, Acknowledged{}, ""};
  }

  // What the workflow is like.
  std::vector<Job> jobs;
  protocol::ExecutionSettings execution;
  double heartbeat_seconds = 30;
  std::optional<int64_t> runnable_when_idle;  // the claim answer's runnable (default: unfinished)
  int64_t worker_cpus = 0;  // the claim answer's CPUs of all live workers (0: not said)
  int64_t blocked = 0;      // the claim answer's jobs waiting for others
  bool ignore_workflow_completion = false;    // the registration answer's
  /// Holds a claim that asks to wait (wait_seconds) and would get nothing, as the real server
  /// does: the fake clock moves on to the next job done elsewhere or restarted, or to the end
  /// of the wait.
  bool holds_claims = false;
  /// (when, job): `torc restart` of a done job at that time: it is ready again, a new attempt.
  std::vector<std::pair<double, uint32_t>> restarts;
  /// (when, job): another worker's result for the job arrives at that time.
  std::vector<std::pair<double, uint32_t>> done_elsewhere;
  // Faults to come.
  std::deque<HeartbeatScript> heartbeats;
  int malformed_claims = 0;
  bool malformed_registration = false;
  /// A request carrying a result of one of these jobs is refused whole (400), as the real
  /// server refuses a field it does not accept: nothing of it is applied.
  std::set<uint32_t> refused_results;
  double gone_at = 1e300;  // from then on every call answers 404: the workflow was deleted
  double down_at = 1e300;  // from then on no call is answered (status 0)
  static constexpr const char* kRefusal = "'reason' is too long (300 bytes, limit 256)";
  // What the worker said.
  std::vector<protocol::Registration> registrations;
  std::vector<protocol::ClaimRequest> claims;
  std::vector<protocol::CompleteRequest> completes;
  std::vector<protocol::StartNotice> started;
  std::vector<AttemptReport> results;  // accepted
  std::vector<double> result_times;    // when each accepted result came
  int start_calls = 0;                 // start notices sent alone
  std::vector<AttemptReport> stale;    // rejected: not the holder's current attempt
  std::vector<double> heartbeat_times;
  std::vector<double> probe_times;
  std::vector<std::string> leaves;  // the reason of each leave notice
  std::vector<double> call_timeouts;  // each SetCallTimeout
  int held_calls = 0;

 private:
  void ApplyRestarts() {
    for (auto it = done_elsewhere.begin(); it != done_elsewhere.end();) {
      if (it->first > clock_.now) {
        ++it;
        continue;
      }
      jobs.at(it->second).done = true;
      jobs.at(it->second).holder = 0;
      it = done_elsewhere.erase(it);
    }
    for (auto it = restarts.begin(); it != restarts.end();) {
      if (it->first > clock_.now) {
        ++it;
        continue;
      }
      Job& j = jobs.at(it->second);
      j.done = false;
      j.holder = 0;
      j.running = false;
      ++j.claimed.attempt;
      it = restarts.erase(it);
    }
  }
  int64_t Unfinished() const {
    return std::count_if(jobs.begin(), jobs.end(), [](const Job& j) { return !j.done; });
  }
  template <typename T>
  std::optional<ApiAnswer<T>> Fault() const {
    if (clock_.now >= down_at)
      return ApiAnswer<T>{0, std::nullopt, "cannot reach server at http://fake:1: refused"};
    if (clock_.now >= gone_at) return ApiAnswer<T>{404, std::nullopt, "no workflow 1"};
    return std::nullopt;
  }
  bool Refuses(const std::vector<AttemptReport>& reports) const {
    return std::any_of(reports.begin(), reports.end(),
                       [this](const AttemptReport& r) { return refused_results.count(r.id); });
  }
  void Started(const std::vector<protocol::StartNotice>& notices) {
    for (const auto& s : notices) {
      started.push_back(s);
      if (s.id < jobs.size() && jobs[s.id].claimed.attempt == s.attempt) jobs[s.id].running = true;
    }
  }
  void Apply(int64_t worker_id, const std::vector<AttemptReport>& reports) {
    for (const auto& r : reports) {
      Job& j = jobs.at(r.id);
      if (j.done || j.holder != worker_id || j.claimed.attempt != r.attempt) {
        stale.push_back(r);
        continue;
      }
      j.done = true;
      j.holder = 0;
      results.push_back(r);
      result_times.push_back(clock_.now);
    }
  }

  FakeClock& clock_;
  int64_t next_worker_ = 1, live_worker_ = 0;
};

/// A worker with its fakes, outside Slurm on a 4-CPU, 8 GiB machine unless the test sets
/// Slurm's variables (`vars`), answering Slurm's commands with `slurm`.
struct Harness {
  Harness() : processes(clock), server(clock) {
    char dir[] = "/tmp/torc-loop-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    output_dir = dir;
    options.workflow_id = 1;
    options.output_dir = output_dir;
    options.quiet = true;
    options.max_log_bytes = 0;
    options.idle_timeout_seconds = 60;
    options.on_log = [this](const std::string& line) { log.push_back(line); };
  }
  ~Harness() { std::filesystem::remove_all(output_dir); }

  /// Runs the worker to its end; returns its exit code.
  int Run() {
    worker::DiscoveryEnv env;
    env.getenv = [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
    env.run = [this](const std::vector<std::string>& argv, std::string* out) {
      slurm_commands.push_back(argv);
      return slurm ? slurm(argv, out) : 1;
    };
    env.machine_cpus = [] { return int64_t{4}; };
    env.machine_memory_bytes = [] { return int64_t{8} << 30; };
    env.hostname = [this] { return hostname; };
    return worker::RunWorker(options, {&server, &clock, &processes, env});
  }

  /// Inside a two-node Slurm allocation (n1, n2; 4 CPUs and 4 GiB each), this worker on n1.
  void InSlurm(const std::string& own_node = "n1") {
    vars = {{"SLURM_JOB_ID", "77"},
            {"SLURM_JOB_NODELIST", "n[1-2]"},
            {"SLURM_CPUS_ON_NODE", "4"},
            {"SLURM_MEM_PER_NODE", "4096"},
            {"SLURMD_NODENAME", own_node}};
  }

  FakeClock clock;
  FakeProcesses processes;
  FakeServer server;
  worker::WorkerOptions options;
  std::string output_dir;
  std::map<std::string, std::string> vars;
  std::string hostname = "node1";
  std::function<int(const std::vector<std::string>&, std::string*)> slurm;
  std::vector<std::vector<std::string>> slurm_commands;
  std::vector<std::string> log;  // the worker's log lines

  /// The log lines that contain `text`.
  std::vector<std::string> Logged(const std::string& text) const {
    std::vector<std::string> out;
    for (const auto& l : log)
      if (l.find(text) != std::string::npos) out.push_back(l);
    return out;
  }
};

// ---- claims and exits ------------------------------------------------------------------------
TEST_CASE("claimed jobs run, and their exits are reported as completed or failed") {
  Harness h;
  h.server.AddJob("ok");
  h.server.AddJob("bad");
  h.processes.behaviour["ok"] = {2, 0};
  h.processes.behaviour["bad"] = {3, 3};
  CHECK(h.Run() == 0);

  REQUIRE(h.server.results.size() == 2);
  const AttemptReport& ok = h.server.ResultOf("ok");
  CHECK(ok.status == AttemptStatus::kCompleted);
  CHECK(ok.exit_code == 0);
  CHECK(ok.end_time - ok.start_time == doctest::Approx(2));
  CHECK(ok.nodes == "node1");
  const AttemptReport& bad = h.server.ResultOf("bad");
  CHECK(bad.status == AttemptStatus::kFailed);
  CHECK(bad.exit_code == 3);
  CHECK(bad.reason == "");
  CHECK(bad.end_time - bad.start_time == doctest::Approx(3));
  // Both were announced as started, and each ran once, directly (no srun outside Slurm).
  CHECK(h.server.started.size() == 2);
  REQUIRE(h.processes.Of("ok").size() == 1);
  CHECK(h.processes.Of("ok")[0]->spec.argv == std::vector<std::string>{"run_ok"});
  CHECK(h.processes.Of("ok")[0]->spec.env.at("TORC_API_URL") == "http://fake:1");
  // It registered what it found and left without a complaint once the workflow was done.
  REQUIRE(h.server.registrations.size() == 1);
  CHECK(h.server.registrations[0].nodes[0].cpus == 4);
  CHECK(h.server.registrations[0].slurm_job_id == "");
  CHECK(h.server.leaves == std::vector<std::string>{""});
  CHECK(h.clock.now - kStart < 10);
}

TEST_CASE("the first claim offers the free resources and the result travels with a claim") {
  Harness h;
  h.server.AddJob("a").num_cpus = 2;
  h.server.AddJob("b");
  h.server.jobs.back().withheld = true;  // ready, but it fits no worker
  h.options.exit_when_stuck = true;
  CHECK(h.Run() == 0);
  REQUIRE(h.server.claims.size() >= 2);
  const protocol::ClaimRequest& first = h.server.claims[0];
  CHECK(first.worker_id == 1);
  CHECK(first.max_jobs == 4);
  REQUIRE(first.nodes.size() == 1);
  CHECK(first.nodes[0].free_cpus == 4);
  CHECK(first.nodes[0].idle);
  CHECK_FALSE(first.remaining_seconds.has_value());  // no walltime outside Slurm
  // The job's resources are held while it runs.
  CHECK(h.server.claims[1].nodes[0].free_cpus == 2);
  bool carried = false;
  for (const auto& c : h.server.claims) carried = carried || c.results.size() == 1;
  CHECK(carried);
  CHECK(h.server.completes.empty());
}

TEST_CASE("with nothing ready, an exit does not hurry an empty claim; the news go alone") {
  Harness h;
  for (int i = 0; i < 4; ++i) {
    const std::string name = "j" + std::to_string(i);
    h.server.AddJob(name);
    h.processes.behaviour[name] = {1.0 + 0.1 * i, 0};
  }
  CHECK(h.Run() == 0);
  CHECK(h.server.results.size() == 4);
  // The first claim takes all four, and its answer says nothing more is ready or blocked: no
  // claim follows at once, nor at the exits (0.1 s apart) while jobs still run; the next would
  // be 2 s later. Each exit made a claim before (five in all; three while the claim that got
  // the last ready jobs was followed by an empty one); now only the last exit does, carrying
  // the news, and its answer says the workflow is complete.
  INFO("claims " << h.server.claims.size() << ", completes " << h.server.completes.size());
  CHECK(h.server.claims.size() == 2);
  CHECK(h.server.completes.empty());
  CHECK(h.clock.now - kStart == doctest::Approx(1.3));
}

TEST_CASE("busy at a sweep's tail, a worker claims ever more rarely (2 s doubling to 30 s)") {
  Harness h;
  h.server.AddJob("long");
  h.processes.behaviour["long"] = {120.0, 0};
  h.server.AddJob("short");
  h.processes.behaviour["short"] = {0.5, 0};
  CHECK(h.Run() == 0);
  // Claims at 0 (both jobs; nothing more ready or blocked), then after 2, 4, 8, 16 and 30 s
  // while the long job runs, and at its exit: a claim every 2 s would have made 60.
  INFO("claims " << h.server.claims.size());
  CHECK(h.server.claims.size() >= 6);
  CHECK(h.server.claims.size() <= 10);
  CHECK(h.server.results.size() == 2);
}

TEST_CASE("an idle worker that got nothing claims again soon: it learns the workflow is done") {
  Harness h;
  h.server.AddJob("elsewhere");
  h.server.jobs[0].holder = 99;                 // another worker runs it...
  h.server.done_elsewhere = {{kStart + 0.3, 0}};  // ...and ends it 0.3 s after this one came
  CHECK(h.Run() == 0);
  // Nothing ready, nothing blocked, nothing of its own running: the backoff stays short
  // (0.05 s, doubling), not the 2 s of a busy worker at a sweep's tail, so it leaves soon
  // after the workflow completes (test slurm_e2e restart_requests_compute caught a worker
  // that did not: its server was gone by then).
  CHECK(h.server.leaves.size() == 1);
  CHECK(h.clock.now - kStart < 1.0);
}

TEST_CASE("with jobs blocked elsewhere, a worker that got nothing claims again soon") {
  Harness h;
  for (int i = 0; i < 4; ++i) {
    const std::string name = "j" + std::to_string(i);
    h.server.AddJob(name);
    h.processes.behaviour[name] = {1.0 + 0.5 * i, 0};
  }
  h.server.blocked = 3;  // jobs of another worker's make them ready: worth a look soon
  CHECK(h.Run() == 0);
  // Claims at 0, then at the first exit (1.0 s) and after 0.05, 0.1, 0.2, 0.4 s and so on.
  INFO("claims " << h.server.claims.size());
  CHECK(h.server.claims.size() >= 5);
}

/// Jobs j0..j{n-1} of 1 s and 1.35 s in turn (their exits do not come together); every tenth
/// one has dependents. The worker has 4 CPUs.
void AddSecondsJobs(Harness& h, int n) {
  for (int i = 0; i < n; ++i) {
    const std::string name = "j" + std::to_string(i);
    h.server.AddJob(name).has_dependents = i % 10 == 0;
    h.processes.behaviour[name] = {i % 2 ? 1.35 : 1.0, 0};
  }
}

TEST_CASE("an idle worker asks the server to hold its claim; a busy one never does") {
  Harness h;
  h.server.holds_claims = true;
  h.server.AddJob("elsewhere");
  h.server.jobs[0].holder = 99;
  h.server.done_elsewhere = {{kStart + 7.5, 0}};
  h.server.AddJob("mine");
  h.processes.behaviour["mine"] = {0.5, 0};
  CHECK(h.Run() == 0);
  // Claims: its job; at its exit with the result (answered at once, nothing ready); then held
  // 5 s, and held again until the other worker's result completes the workflow at 7.5 s: the
  // worker leaves then, not a backoff later.
  INFO("claims " << h.server.claims.size());
  CHECK(h.server.claims.size() <= 5);
  CHECK(h.clock.now - kStart < 7.6);
  int held = 0;
  for (const auto& c : h.server.claims) {
    if (c.wait_seconds == 0) continue;
    ++held;
    CHECK(c.wait_seconds == doctest::Approx(5));
    CHECK(c.results.empty());
    CHECK(c.started.empty());
  }
  CHECK(held == 2);
  CHECK(h.server.leaves.size() == 1);
  // A busy worker's claims (jobs of its own running) never ask to be held.
  Harness busy;
  busy.server.holds_claims = true;
  AddSecondsJobs(busy, 20);
  CHECK(busy.Run() == 0);
  for (const auto& c : busy.server.claims) CHECK(c.wait_seconds == 0);
}

/// Whether claim `c` offered capacity beyond the worker's one node: it claimed ahead.
bool ClaimsAhead(const protocol::ClaimRequest& c) { return c.nodes.size() > 1; }

TEST_CASE("jobs of seconds are claimed ahead, and their news travel together") {
  Harness h;
  AddSecondsJobs(h, 80);
  h.server.worker_cpus = 4;  // the only worker: all the ready jobs are its share
  CHECK(h.Run() == 0);
  REQUIRE(h.server.results.size() == 80);
  CHECK(std::any_of(h.server.claims.begin(), h.server.claims.end(), ClaimsAhead));
  for (const auto& c : h.server.claims) CHECK(c.total_cpus == 4);
  // Claiming one job per exit would be about 80 claims; ahead, a claim takes a round of four
  // and carries the news of several jobs.
  const size_t requests = h.server.claims.size() + h.server.completes.size() +
                          static_cast<size_t>(h.server.start_calls);
  INFO("claims " << h.server.claims.size() << ", completes " << h.server.completes.size()
                 << ", start notices alone " << h.server.start_calls);
  CHECK(requests <= 36);
  // A result waits for a request to carry it: at most 1.5 mean job lengths while jobs claimed
  // ahead wait (the queue empties and a claim follows within about one), 0.1 s when other jobs
  // wait for it.
  bool held = false;
  for (size_t k = 0; k < h.server.results.size(); ++k) {
    const AttemptReport& r = h.server.results[k];
    const double waited = h.server.result_times[k] - r.end_time;
    const bool urgent = h.server.jobs[r.id].claimed.has_dependents;
    INFO(h.server.jobs[r.id].claimed.name << " waited " << waited << " s");
    CHECK(waited <= (urgent ? 0.1 : 1.5 * 1.35) + 2e-3);
    held = held || waited > 0.1 + 2e-3;
  }
  CHECK(held);  // the hold is real: some news waited for company
  // Every job started when its slot freed: no round trip between jobs.
  for (const auto& r : h.server.results)
    CHECK(r.end_time - r.start_time == doctest::Approx(r.id % 2 ? 1.35 : 1.0));
  CHECK(h.clock.now - kStart < 80 * 1.175 / 4 + 3);
}

TEST_CASE("a worker claims ahead no more than its share of the ready jobs") {
  Harness h;
  AddSecondsJobs(h, 40);
  // 100 workers of 4 CPUs: a share of 40 ready jobs is 1.6 jobs, never a job ahead here.
  h.server.worker_cpus = 400;
  CHECK(h.Run() == 0);
  CHECK(h.server.results.size() == 40);
  CHECK(std::none_of(h.server.claims.begin(), h.server.claims.end(), ClaimsAhead));
  for (const auto& c : h.server.claims) CHECK(c.max_jobs <= 4);
}

TEST_CASE("jobs of a minute are not claimed ahead") {
  Harness h;
  for (int i = 0; i < 12; ++i) {
    const std::string name = "long" + std::to_string(i);
    h.server.AddJob(name);
    h.processes.behaviour[name] = {60.0 + i, 0};
  }
  h.server.worker_cpus = 4;
  CHECK(h.Run() == 0);
  CHECK(h.server.results.size() == 12);
  CHECK(std::none_of(h.server.claims.begin(), h.server.claims.end(), ClaimsAhead));
}

TEST_CASE("a job that cannot start is reported failed with exit code 127") {
  Harness h;
  h.server.AddJob("missing");
  h.processes.unstartable.insert("missing");
  CHECK(h.Run() == 0);
  const AttemptReport& r = h.server.ResultOf("missing");
  CHECK(r.status == AttemptStatus::kFailed);
  CHECK(r.exit_code == 127);
  CHECK(r.reason == "could not start: no such program");
}

// ---- limits -------------------------------------------------------------------------------------
TEST_CASE("a job over its runtime is signalled, then reported terminated with the timeout code") {
  Harness h;
  h.server.AddJob("long").runtime_seconds = 10;
  SUBCASE("it stops at SIGTERM") {
    h.processes.behaviour["long"] = {1000, 0};
    CHECK(h.Run() == 0);
    auto sent = h.processes.SentTo("long");
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].signal == SIGTERM);
    const double started = h.processes.Of("long")[0]->started_at;
    CHECK(sent[0].at >= started + 10);
    CHECK(sent[0].at <= started + 10.5);
    const AttemptReport& r = h.server.ResultOf("long");
    CHECK(r.status == AttemptStatus::kTerminated);
    CHECK(r.exit_code == protocol::kDefaultTimeoutExitCode);
    CHECK(r.signal == SIGTERM);
    CHECK(r.reason == "runtime");
  }
  SUBCASE("it ignores SIGTERM: SIGKILL after the grace time, the workflow's timeout code") {
    h.processes.behaviour["long"] = {.seconds = 1000, .ignores_sigterm = true};
    h.server.execution.timeout_exit_code = 99;
    CHECK(h.Run() == 0);
    auto sent = h.processes.SentTo("long");
    REQUIRE(sent.size() >= 2);
    CHECK(sent[0].signal == SIGTERM);
    CHECK(sent[1].signal == SIGKILL);
    CHECK(sent[1].at - sent[0].at == doctest::Approx(30).epsilon(0.02));
    const AttemptReport& r = h.server.ResultOf("long");
    CHECK(r.status == AttemptStatus::kTerminated);
    CHECK(r.exit_code == 99);
    CHECK(r.signal == SIGKILL);
  }
}

TEST_CASE("direct mode kills a job over its memory request; slurm mode leaves that to Slurm") {
  Harness h;
  auto& job = h.server.AddJob("hungry");
  job.memory_bytes = int64_t{1} << 30;
  h.processes.behaviour["hungry"] = {.seconds = 5, .rss_bytes = int64_t{2} << 30};
  SUBCASE("direct") {
    CHECK(h.Run() == 0);
    const AttemptReport& r = h.server.ResultOf("hungry");
    CHECK(r.status == AttemptStatus::kFailed);
    CHECK(r.exit_code == protocol::kDefaultOomExitCode);
    CHECK(r.reason == "memory");
    CHECK(h.processes.SentTo("hungry").at(0).signal == SIGKILL);
  }
  SUBCASE("slurm") {
    h.InSlurm();
    CHECK(h.Run() == 0);
    CHECK(h.server.ResultOf("hungry").status == AttemptStatus::kCompleted);
    CHECK(h.processes.rss_reads == 0);
  }
}

// ---- stopping -------------------------------------------------------------------------------
TEST_CASE("SIGTERM to the worker stops its jobs, reported terminated and 'stopped'") {
  Harness h;
  h.server.AddJob("a");
  h.server.AddJob("b");
  h.server.AddJob("later").num_cpus = 4;  // claimed, waits for room, never starts
  h.processes.behaviour["a"] = h.processes.behaviour["b"] = {1000, 0};
  h.processes.worker_signals = {{kStart + 5, SIGTERM}};
  CHECK(h.Run() == 0);
  CHECK(h.clock.now - kStart < 10);
  REQUIRE(h.server.results.size() == 2);
  for (const char* name : {"a", "b"}) {
    const AttemptReport& r = h.server.ResultOf(name);
    CHECK(r.status == AttemptStatus::kTerminated);
    CHECK(r.reason == "stopped");
    CHECK(r.exit_code == 128 + SIGTERM);
  }
  CHECK(h.processes.Of("later").empty());
  CHECK(h.server.leaves.size() == 1);
  CHECK(h.slurm_commands.empty());  // outside Slurm, nothing to ask
}

TEST_CASE("the allocation's walltime approaching stops the jobs as 'walltime'") {
  Harness h;
  h.options.discovery.time_limit_seconds = 100;  // sigterm_lead_seconds: 30
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {1000, 0};
  CHECK(h.Run() == 0);
  auto sent = h.processes.SentTo("a");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].at >= kStart + 70);
  CHECK(sent[0].at <= kStart + 70.5);
  const AttemptReport& r = h.server.ResultOf("a");
  CHECK(r.status == AttemptStatus::kTerminated);
  CHECK(r.reason == "walltime");
  // The claims said how long a job may run.
  REQUIRE(h.server.claims[0].remaining_seconds.has_value());
  CHECK(*h.server.claims[0].remaining_seconds == doctest::Approx(100));
  CHECK(h.server.registrations[0].end_time == doctest::Approx(kStart + 100));
}

TEST_CASE("sigkill_headroom_seconds keeps the allocation's last seconds free") {
  // Torc's rule: the termination signal at end - headroom - sigterm_lead, SIGKILL by
  // end - headroom, and the worker gone by then.
  Harness h;
  h.options.discovery.time_limit_seconds = 200;
  h.server.execution.sigterm_lead_seconds = 30;
  h.server.execution.sigkill_headroom_seconds = 60;
  h.server.AddJob("stubborn");
  h.processes.behaviour["stubborn"] = {.seconds = 1000, .ignores_sigterm = true};
  CHECK(h.Run() == 0);
  auto sent = h.processes.SentTo("stubborn");
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].signal == SIGTERM);
  CHECK(sent[0].at >= kStart + 110);  // 200 - 60 - 30
  CHECK(sent[0].at <= kStart + 110.5);
  CHECK(sent[1].signal == SIGKILL);
  CHECK(sent[1].at <= kStart + 140);  // by the headroom
  CHECK(h.server.ResultOf("stubborn").reason == "walltime");
  CHECK(h.clock.now <= kStart + 140 + 0.01);  // gone before the headroom starts
}

// ---- slurm mode -----------------------------------------------------------------------------
TEST_CASE("slurm mode starts jobs with srun, one per launch interval") {
  Harness h;
  h.InSlurm();
  h.server.execution.srun_launch_interval_ms = 200;
  for (const char* name : {"a", "b", "c"}) h.server.AddJob(name);
  CHECK(h.Run() == 0);
  auto a = h.processes.Of("a"), b = h.processes.Of("b"), c = h.processes.Of("c");
  REQUIRE((a.size() == 1 && b.size() == 1 && c.size() == 1));
  CHECK(a[0]->spec.argv[0] == "srun");
  CHECK(b[0]->started_at - a[0]->started_at >= 0.2 - 1e-6);
  CHECK(c[0]->started_at - b[0]->started_at >= 0.2 - 1e-6);
  CHECK(h.server.registrations[0].slurm_job_id == "77");
  CHECK(h.server.registrations[0].slurm_nodelist == "n[1-2]");
  CHECK(h.server.ResultOf("c").status == AttemptStatus::kCompleted);
}

TEST_CASE("SIGTERM or SIGUSR1 inside Slurm: what scontrol says decides the reason") {
  Harness h;
  h.InSlurm();
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {1000, 0};
  std::string scontrol, expected;
  int signal = SIGTERM;
  SUBCASE("time limit") {
    scontrol = "JobId=77 JobState=RUNNING Reason=TimeLimit PreemptTime=None";
    expected = "walltime";
  }
  SUBCASE("scancel") {
    scontrol = "JobId=77 JobState=CANCELLED Reason=None PreemptTime=None";
    expected = "stopped";
  }
  SUBCASE("preempted, during GraceTime") {
    scontrol = "JobId=77 JobState=RUNNING Reason=None PreemptTime=2026-12-06T18:24:21";
    expected = "preempted";
  }
  SUBCASE("preempted, PreemptParameters=send_user_signal (SIGUSR1)") {
    signal = SIGUSR1;
    scontrol = "JobId=77 JobState=RUNNING Reason=None PreemptTime=2026-12-06T18:24:21";
    expected = "preempted";
  }
  SUBCASE("the --signal warning before the time limit (SIGUSR1)") {
    signal = SIGUSR1;
    scontrol = "JobId=77 JobState=RUNNING Reason=None PreemptTime=None";
    expected = "walltime";
  }
  h.processes.worker_signals = {{kStart + 5, signal}};
  h.slurm = [&](const std::vector<std::string>& argv, std::string* out) {
    if (argv.size() < 3 || argv[1] != "show" || argv[2] != "job") return 1;
    *out = scontrol + "\n";
    return 0;
  };
  INFO(scontrol << " signal " << signal);
  CHECK(h.Run() == 0);
  const AttemptReport& r = h.server.ResultOf("a");
  CHECK(r.status == AttemptStatus::kTerminated);
  CHECK(r.reason == expected);
}

TEST_CASE("a preempted worker stays until Slurm ends the allocation (REQUEUE mode requeues it)") {
  Harness h;
  h.InSlurm();
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {1000, 0};
  std::string scontrol;
  double gone_by = 0;
  SUBCASE("preempted: until Slurm's next signal") {
    scontrol = "JobId=77 JobState=RUNNING Reason=None PreemptTime=2026-12-06T18:24:21";
    h.processes.worker_signals = {{kStart + 5, SIGTERM}, {kStart + 28, SIGTERM}};
    gone_by = kStart + 28;
  }
  SUBCASE("preempted, no signal comes: at most 120 s") {
    scontrol = "JobId=77 JobState=RUNNING Reason=None PreemptTime=2026-12-06T18:24:21";
    h.processes.worker_signals = {{kStart + 5, SIGTERM}};
    gone_by = kStart + 5 + 120;
  }
  SUBCASE("scancel: at once") {
    scontrol = "JobId=77 JobState=CANCELLED Reason=None PreemptTime=None";
    h.processes.worker_signals = {{kStart + 5, SIGTERM}};
    gone_by = kStart + 5;
  }
  h.slurm = [&](const std::vector<std::string>& argv, std::string* out) {
    if (argv.size() < 3 || argv[1] != "show" || argv[2] != "job") return 1;
    *out = scontrol + "\n";
    return 0;
  };
  CHECK(h.Run() == 0);
  INFO(scontrol);
  CHECK(h.clock.now >= gone_by - 0.01);
  CHECK(h.clock.now <= gone_by + 2);
}

TEST_CASE("inside Slurm, a failure just before the worker is stopped counts as the stop") {
  // Slurm signals the steps and the worker at about the same time: slurm mode holds any failure
  // a moment, direct mode only a death by signal.
  Harness h;
  h.InSlurm();
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {2, 1};  // fails at +2 s, the worker's SIGTERM comes at +2.5 s
  h.processes.worker_signals = {{kStart + 2.5, SIGTERM}};
  SUBCASE("slurm mode") {
    CHECK(h.Run() == 0);
    const AttemptReport& r = h.server.ResultOf("a");
    CHECK(r.status == AttemptStatus::kTerminated);
    CHECK(r.reason == "stopped");
  }
  SUBCASE("direct mode") {
    h.options.mode = "direct";
    CHECK(h.Run() == 0);
    CHECK(h.server.ResultOf("a").status == AttemptStatus::kFailed);
  }
}

// ---- Slurm's step limit (MaxStepCount) ---------------------------------------------------------
TEST_CASE("slurm mode stops claiming before Slurm's MaxStepCount and leaves saying why") {
  Harness h;
  h.InSlurm();
  for (int i = 0; i < 12; ++i) h.server.AddJob("j" + std::to_string(i));
  h.slurm = [](const std::vector<std::string>& argv, std::string* out) {
    if (argv.size() < 3 || argv[1] != "show" || argv[2] != "config") return 1;
    *out = "MaxNodeCount            = N/A\nMaxStepCount            = 6\n";
    return 0;
  };
  auto sruns = [&h] {
    return std::count_if(h.processes.processes.begin(), h.processes.processes.end(),
                         [](const auto& p) { return p.second.spec.argv[0] == "srun"; });
  };
  // Steps 0-5 exist; one is kept spare: 5 jobs per allocation.
  CHECK(h.Run() == 0);
  CHECK(sruns() == 5);
  CHECK(h.server.results.size() == 5);
  for (const auto& c : h.server.claims) CHECK(c.max_jobs <= 5);
  REQUIRE(h.server.leaves.size() == 1);
  CHECK(h.server.leaves[0] ==
        "this allocation reached Slurm's step limit (MaxStepCount=6): 5 job steps started; "
        "another allocation takes the rest");
  CHECK(h.Logged("claiming no more jobs").size() == 1);
  for (const auto& r : h.server.results) CHECK(r.status == AttemptStatus::kCompleted);
  // The next allocations take the rest.
  CHECK(h.Run() == 0);
  CHECK(h.server.results.size() == 10);
  CHECK(h.Run() == 0);
  CHECK(h.server.results.size() == 12);
  REQUIRE(h.server.leaves.size() == 3);
  CHECK(h.server.leaves[1] == h.server.leaves[0]);
  CHECK(h.server.leaves[2] == "");  // the last one finished the workflow: no complaint
  // A worker that runs in step 2 of its allocation has steps 0-2 behind it: 2 jobs.
  Harness in_step;
  in_step.InSlurm();
  in_step.vars["SLURM_STEP_ID"] = "2";
  in_step.slurm = h.slurm;
  for (int i = 0; i < 4; ++i) in_step.server.AddJob("k" + std::to_string(i));
  CHECK(in_step.Run() == 0);
  CHECK(in_step.server.results.size() == 2);
}

TEST_CASE("the step limit is slurm mode's: direct mode and unreadable settings do not stop") {
  Harness h;
  h.InSlurm();
  for (int i = 0; i < 8; ++i) h.server.AddJob("j" + std::to_string(i));
  bool asked = false;
  h.slurm = [&asked](const std::vector<std::string>& argv, std::string*) {
    asked = asked || (argv.size() >= 3 && argv[2] == "config");
    return 1;  // scontrol fails: Slurm's default, 40000
  };
  SUBCASE("direct mode") {
    h.options.mode = "direct";
    CHECK(h.Run() == 0);
    CHECK_FALSE(asked);
  }
  SUBCASE("slurm mode, scontrol fails") {
    CHECK(h.Run() == 0);
    CHECK(asked);
  }
  CHECK(h.server.results.size() == 8);
  CHECK(h.server.leaves == std::vector<std::string>{""});
}

TEST_CASE("a requeued allocation says so (SLURM_RESTART_COUNT)") {
  Harness h;
  h.InSlurm();
  h.vars["SLURM_RESTART_COUNT"] = "2";
  h.server.AddJob("a");
  CHECK(h.Run() == 0);
  CHECK(h.Logged("Slurm requeued this allocation 2 time(s) before").size() == 1);
  REQUIRE(h.server.registrations.size() == 1);
  CHECK(h.server.registrations[0].slurm_restart_count == 2);
}

TEST_CASE("direct mode in a multi-node allocation runs single-node jobs on its own node") {
  Harness h;
  h.InSlurm("n2");
  h.options.mode = "direct";
  h.server.AddJob("a").nodes = {0};  // the server suggests n1
  CHECK(h.Run() == 0);
  auto a = h.processes.Of("a");
  REQUIRE(a.size() == 1);
  CHECK(a[0]->spec.env.at("SLURM_JOB_NODELIST") == "n2");
  CHECK(std::filesystem::exists(a[0]->spec.env.at("SLURM_HOSTFILE")));
  CHECK(h.server.ResultOf("a").nodes == "n2");
}

// ---- the server's say -------------------------------------------------------------------------
TEST_CASE("a lost lease (heartbeat 409) kills the jobs and registers again") {
  Harness h;
  h.server.heartbeat_seconds = 5;
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {20, 0};
  h.server.heartbeats = {{.lease_lost = true}};
  CHECK(h.Run() == 0);
  CHECK(h.server.registrations.size() == 2);
  auto runs = h.processes.Of("a");
  REQUIRE(runs.size() == 2);
  auto sent = h.processes.SentTo("a");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].signal == SIGKILL);
  CHECK(std::abs(sent[0].at - (kStart + 5)) < 0.01);  // at the first heartbeat
  // The lost attempt is reported all the same (the server rejects it); the next one is new.
  REQUIRE(h.server.stale.size() == 1);
  CHECK(h.server.stale[0].attempt == 1);
  CHECK(h.server.stale[0].reason == "lease lost");
  const AttemptReport& r = h.server.ResultOf("a");
  CHECK(r.attempt == 2);
  CHECK(r.status == AttemptStatus::kCompleted);
}

TEST_CASE("a job the heartbeat says to stop is reported canceled") {
  Harness h;
  h.server.heartbeat_seconds = 5;
  h.server.AddJob("running");
  h.server.AddJob("waiting").num_cpus = 4;  // claimed, but no room while 'running' runs
  h.processes.behaviour["running"] = {100, 0};
  h.server.heartbeats = {{.stop_jobs = {0, 1}}};
  CHECK(h.Run() == 0);
  const AttemptReport& running = h.server.ResultOf("running");
  CHECK(running.status == AttemptStatus::kCanceled);
  CHECK(running.reason == "canceled");
  CHECK(std::abs(running.end_time - (kStart + 5)) < 0.01);  // at the first heartbeat
  CHECK(h.processes.SentTo("running").at(0).signal == SIGTERM);
  const AttemptReport& waiting = h.server.ResultOf("waiting");
  CHECK(waiting.status == AttemptStatus::kCanceled);
  CHECK(waiting.exit_code == 1);
  CHECK(h.processes.Of("waiting").empty());
}

TEST_CASE("the worker leaves with a reason when no unfinished job can run on it") {
  Harness h;
  h.server.AddJob("huge").num_nodes = 8;
  h.server.jobs[0].withheld = true;
  h.server.runnable_when_idle = 0;
  CHECK(h.Run() == 0);
  REQUIRE(h.server.leaves.size() == 1);
  CHECK(h.server.leaves[0].find("no unfinished job can run on its resources (1 node(s) x 4 "
                                "CPUs, 8.0 GiB, 0 GPUs)") == 0);
  CHECK(h.clock.now - kStart < 1);
}

TEST_CASE("the worker leaves when idle too long") {
  Harness h;
  h.server.AddJob("never");
  h.server.jobs[0].withheld = true;  // unfinished, 'runnable', never handed out
  h.options.idle_timeout_seconds = 20;
  CHECK(h.Run() == 0);
  REQUIRE(h.server.leaves.size() == 1);
  CHECK(h.server.leaves[0] == "idle for 20 s");
  CHECK(h.clock.now - kStart >= 20);
  CHECK(h.clock.now - kStart < 23);
}

TEST_CASE("an idle worker leaves at its idle timeout while unfinished work runs elsewhere") {
  // What an elastic allocation relies on (docs/slurm.md, "Elastic allocations"): 'other' is
  // unfinished and could run here (blocked behind work in flight elsewhere, or held by another
  // worker), yet this worker, idle since 'mine' ended, leaves after --idle-timeout; the server
  // asks for a new allocation when work is ready again.
  Harness h;
  h.server.AddJob("mine");
  h.server.AddJob("other");
  h.server.jobs[1].withheld = true;
  h.processes.behaviour["mine"] = {3, 0};
  h.options.idle_timeout_seconds = 15;
  CHECK(h.Run() == 0);
  CHECK(h.server.ResultOf("mine").status == AttemptStatus::kCompleted);
  REQUIRE(h.server.leaves.size() == 1);
  CHECK(h.server.leaves[0] == "idle for 15 s");
  const double idle_from = kStart + 3;
  CHECK(h.clock.now - idle_from >= 15);
  CHECK(h.clock.now - idle_from < 18);
}

TEST_CASE("malformed server answers do not crash the worker") {
  Harness h;
  h.server.heartbeat_seconds = 1;
  h.server.AddJob("a");
  h.server.AddJob("b");
  h.processes.behaviour["a"] = h.processes.behaviour["b"] = {3, 0};
  SUBCASE("a claim answer: the worker asks what it holds and runs it") {
    h.server.malformed_claims = 1;
    CHECK(h.Run() == 0);
    CHECK(h.server.held_calls >= 1);
    CHECK(h.server.ResultOf("a").status == AttemptStatus::kCompleted);
    CHECK(h.server.ResultOf("b").status == AttemptStatus::kCompleted);
    CHECK(h.processes.Of("a").size() == 1);
  }
  SUBCASE("a heartbeat answer: retried later, the jobs go on") {
    h.server.heartbeats = {{.malformed = true}};
    CHECK(h.Run() == 0);
    CHECK(h.server.heartbeat_times.size() >= 2);
    CHECK(h.server.results.size() == 2);
    CHECK(h.server.stale.empty());
  }
  SUBCASE("a registration answer: the worker gives up with exit code 1") {
    h.server.malformed_registration = true;
    CHECK(h.Run() == 1);
    CHECK(h.server.claims.empty());
    CHECK(h.processes.processes.empty());
  }
}

// ---- answers for good: refused results, a deleted workflow, stopping without a server ---------
TEST_CASE("a result the server refuses for good is dropped with a message; the others apply") {
  // The server refuses a whole request when one result in it is not what it accepts (400). The
  // worker sends that request's results again one at a time, drops the one refused, and goes on.
  Harness h;
  for (const char* name : {"ok1", "bad", "ok2"}) h.server.AddJob(name);
  for (const char* name : {"ok1", "bad", "ok2"}) h.processes.behaviour[name] = {2, 0};
  h.server.refused_results = {1};  // "bad"
  h.options.idle_timeout_seconds = 5;
  SUBCASE("carried by a claim") {}
  SUBCASE("sent on their own, by a stopping worker") {
    for (const char* name : {"ok1", "bad", "ok2"}) h.processes.behaviour[name] = {1000, 0};
    h.processes.worker_signals = {{kStart + 3, SIGTERM}};
  }
  CHECK(h.Run() == 0);
  // The three results travelled together and were refused together, then one at a time.
  bool together = false;
  for (const auto& c : h.server.claims) together = together || c.results.size() == 3;
  for (const auto& c : h.server.completes) together = together || c.results.size() == 3;
  CHECK(together);
  CHECK(h.server.results.size() == 2);
  CHECK(h.server.ResultOf("ok1").id == 0);
  CHECK(h.server.ResultOf("ok2").id == 2);
  CHECK_THROWS(h.server.ResultOf("bad"));
  auto dropped = h.Logged("dropped the result of job 1 attempt 1");
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].find("'reason' is too long") != std::string::npos);
  // It was sent alone once, and never again.
  size_t sent_alone = 0;
  for (const auto& c : h.server.completes)
    sent_alone += c.results.size() == 1 && c.results[0].id == 1;
  CHECK(sent_alone == 1);
  CHECK(h.clock.now - kStart < 15);
  CHECK(h.server.leaves.size() == 1);
}

TEST_CASE("a refused start notice or claim does not hold the worker") {
  Harness h;
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {2, 0};
  h.server.refused_results = {0};
  h.options.idle_timeout_seconds = 3;
  CHECK(h.Run() == 0);  // its only result dropped, it idles out
  CHECK(h.server.results.empty());
  CHECK(h.Logged("dropped the result of job 0 attempt 1").size() == 1);
  // Claims went on after the refusal, without the dropped result.
  REQUIRE(!h.server.claims.empty());
  CHECK(h.server.claims.back().results.empty());
  CHECK(h.clock.now - kStart < 10);
}

TEST_CASE("SIGTERM ends the worker within its stop lead when the server does not answer") {
  Harness h;
  h.server.execution.sigterm_lead_seconds = 20;
  h.server.heartbeat_seconds = 5;
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {1000, 0};
  h.server.down_at = kStart + 3;
  h.processes.worker_signals = {{kStart + 5, SIGTERM}};
  CHECK(h.Run() == 0);
  // Within the lead of the signal; the job was stopped, its result could not be reported.
  CHECK(h.clock.now - (kStart + 5) <= 20 + 0.01);
  CHECK(h.processes.SentTo("a").at(0).signal == SIGTERM);
  CHECK(h.server.results.empty());
  CHECK(h.Logged("the stop lead is over").size() == 1);
  // From the signal on, each call waits at most a few seconds for its answer, and less as the
  // deadline comes near.
  REQUIRE(!h.server.call_timeouts.empty());
  CHECK(*std::max_element(h.server.call_timeouts.begin(), h.server.call_timeouts.end()) <= 5);
  CHECK(h.server.call_timeouts.back() == 0.5);
}

TEST_CASE("SIGTERM ends the worker within its stop lead when its jobs ignore the signal") {
  Harness h;
  h.server.execution.sigterm_lead_seconds = 30;
  h.server.AddJob("stubborn");
  h.processes.behaviour["stubborn"] = {.seconds = 1000, .ignores_sigterm = true};
  h.processes.worker_signals = {{kStart + 5, SIGTERM}};
  CHECK(h.Run() == 0);
  auto sent = h.processes.SentTo("stubborn");
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].signal == SIGKILL);
  CHECK(sent[1].at - sent[0].at == doctest::Approx(10));
  CHECK(h.server.ResultOf("stubborn").reason == "stopped");
  CHECK(h.clock.now - (kStart + 5) < 30);
}

TEST_CASE("a deleted workflow (404) stops the worker's jobs and ends it with exit code 1") {
  Harness h;
  h.server.heartbeat_seconds = 5;
  h.server.AddJob("sleep");
  h.server.AddJob("waiting").num_cpus = 4;  // claimed, waits for room
  h.processes.behaviour["sleep"] = {1000, 0};
  h.server.gone_at = kStart + 3;
  CHECK(h.Run() == 1);
  auto sent = h.processes.SentTo("sleep");
  REQUIRE(!sent.empty());
  CHECK(sent[0].signal == SIGTERM);
  CHECK(sent[0].at <= kStart + 5.01);  // at the first heartbeat after the deletion
  CHECK(h.processes.Of("waiting").empty());
  CHECK(h.clock.now - kStart < 10);
  auto said = h.Logged("workflow 1 is gone from the server");
  REQUIRE(said.size() == 1);
  CHECK(said[0].find("no workflow 1") != std::string::npos);
  CHECK(h.server.leaves.empty());  // nobody to tell
}

TEST_CASE("a workflow deleted while results wait to be sent: the worker leaves at once") {
  Harness h;
  h.server.AddJob("a");
  h.server.AddJob("b");
  h.processes.behaviour["a"] = {2, 0};
  h.processes.behaviour["b"] = {1000, 0};
  h.server.gone_at = kStart + 1;
  CHECK(h.Run() == 1);
  CHECK(h.server.results.empty());
  CHECK(h.processes.SentTo("b").at(0).signal == SIGTERM);
  CHECK(h.clock.now - kStart < 15);
}

}  // namespace

// ---- slurm mode: the end of a step ------------------------------------------------------------
TEST_CASE("slurm mode: a step past its time gets the signal, then SIGINT (srun cancels it), "
          "SIGKILL only 10 s later") {
  Harness h;
  h.InSlurm();
  h.server.AddJob("long").runtime_seconds = 10;
  h.processes.behaviour["long"] = {.seconds = 1000, .ignores_sigterm = true};
  CHECK(h.Run() == 0);
  auto sent = h.processes.SentTo("long");
  REQUIRE(sent.size() >= 3);
  CHECK(sent[0].signal == SIGTERM);
  CHECK(sent[1].signal == SIGINT);  // srun --quit-on-interrupt: cancel the step, wait for it
  CHECK(sent[1].at - sent[0].at == doctest::Approx(30).epsilon(0.02));
  CHECK(sent[2].signal == SIGKILL);
  CHECK(sent[2].at - sent[1].at == doctest::Approx(10).epsilon(0.05));
  CHECK(std::any_of(h.log.begin(), h.log.end(), [](const std::string& line) {
    return line.find("srun has not ended 10 s after SIGINT") != std::string::npos;
  }));
  CHECK(h.server.ResultOf("long").reason == "runtime");
}

TEST_CASE("slurm mode with job-exec: torc's SIGTERM goes to srun as SIGUSR2 (relayed in the step)") {
  Harness h;
  h.InSlurm();
  h.options.job_exec = "/opt/torc/bin/torc";
  h.server.AddJob("long").runtime_seconds = 10;
  h.processes.behaviour["long"] = {.seconds = 1000, .ignores_sigterm = true};
  CHECK(h.Run() == 0);
  auto sent = h.processes.SentTo("long");
  REQUIRE(sent.size() >= 1);
  CHECK(sent[0].signal == SIGUSR2);
  auto argv = h.processes.Of("long").at(0)->spec.argv;
  CHECK(std::count(argv.begin(), argv.end(), "--stop-via-usr2") == 1);
}

TEST_CASE("slurm mode: steps failing together are one incident; two in a row lose the node") {
  // A --no-kill allocation whose node died: srun says "Communication connection failure".
  Harness h;
  h.InSlurm();
  h.server.execution.srun_launch_interval_ms = 0;
  for (const char* name : {"x1", "x2"}) {
    auto& x = h.server.AddJob(name);
    x.num_cpus = 2;
    x.nodes = {1};  // on n2
    h.processes.behaviour[name] = {1, 1};
  }
  h.server.AddJob("busy").num_cpus = 4;  // holds n1, so y goes to n2
  h.processes.behaviour["busy"] = {5, 0};
  h.server.AddJob("y").num_cpus = 2;
  h.processes.behaviour["y"] = {1, 1};
  for (const char* name : {"z1", "z2"}) {
    h.server.AddJob(name).num_cpus = 4;
    h.processes.behaviour[name] = {1, 0};
  }
  std::filesystem::create_directories(h.output_dir + "/1");
  for (const char* name : {"x1", "x2", "y"})
    std::ofstream(h.output_dir + "/1/" + name + ".1.err")
        << "srun: error: Communication connection failure\n";
  CHECK(h.Run() == 0);
  for (const char* name : {"x1", "x2", "y"}) {
    CHECK(h.server.ResultOf(name).status == AttemptStatus::kTerminated);
    CHECK(h.server.ResultOf(name).reason == "slurm: Communication connection failure, on n2");
  }
  auto on = [&](const std::string& job) {
    const auto& argv = h.processes.Of(job).at(0)->spec.argv;
    return std::find(argv.begin(), argv.end(), "--nodelist=n1") != argv.end() ? "n1" : "n2";
  };
  CHECK(std::string(on("y")) == "n2");
  // The node is lost after its second incident; the worker did not give up (one incident for
  // x1 and x2, one for y: two in a row, then the others ran).
  for (const char* name : {"z1", "z2"}) {
    CHECK(h.server.ResultOf(name).status == AttemptStatus::kCompleted);
    CHECK(std::string(on(name)) == "n1");
  }
  auto logged = [&](const std::string& part) {
    return std::any_of(h.log.begin(), h.log.end(), [&](const std::string& line) {
      return line.find(part) != std::string::npos;
    });
  };
  CHECK(logged("node n2: Slurm failed 2 steps there in a row"));
  CHECK_FALSE(logged("takes no more jobs"));
}

TEST_CASE("slurm mode: a node failure requeues the job as Slurm's and nothing more runs there") {
  Harness h;
  h.InSlurm();
  h.server.execution.srun_launch_interval_ms = 0;
  auto& lost = h.server.AddJob("lost");
  lost.num_cpus = 4;
  lost.nodes = {1};  // on n2
  for (const char* name : {"b", "c", "d"}) h.server.AddJob(name).num_cpus = 4;
  h.processes.behaviour["lost"] = {1, 1};
  for (const char* name : {"b", "c", "d"}) h.processes.behaviour[name] = {3, 0};
  // What srun writes to the job's stderr when a node of its step fails.
  std::filesystem::create_directories(h.output_dir + "/1");
  std::ofstream(h.output_dir + "/1/lost.1.err")
      << "srun: error: Node failure on n2\nsrun: error: n2: task 0: Killed\n";
  CHECK(h.Run() == 0);
  const AttemptReport& r = h.server.ResultOf("lost");
  CHECK(r.status == AttemptStatus::kTerminated);
  CHECK(r.reason == "slurm: Node failure on n2");
  auto on = [&](const std::string& job) {
    const auto& argv = h.processes.Of(job).at(0)->spec.argv;
    return std::find(argv.begin(), argv.end(), "--nodelist=n1") != argv.end() ? "n1" : "n2";
  };
  CHECK(std::string(on("lost")) == "n2");
  // b started beside it on n1; c and d waited for n1, never taking n2 again.
  for (const char* name : {"b", "c", "d"}) {
    CHECK(h.server.ResultOf(name).status == AttemptStatus::kCompleted);
    CHECK(std::string(on(name)) == "n1");
  }
  CHECK(h.processes.Of("d").at(0)->started_at - h.processes.Of("b").at(0)->started_at >= 6 - 1e-6);
  // srun's task line is gone from the job's stderr; its own line about the node stays.
  std::stringstream err;
  err << std::ifstream(h.output_dir + "/1/lost.1.err").rdbuf();
  CHECK(err.str() == "srun: error: Node failure on n2\n");
}

TEST_CASE("slurm mode: a node failure stays the reason when Slurm requeues the allocation too") {
  // Slurm lost n2 and requeues the whole allocation: the worker gets SIGTERM as the step on n2
  // dies. That job died of its node; the job on n1 was interrupted by the requeue.
  Harness h;
  h.InSlurm();
  h.server.execution.srun_launch_interval_ms = 0;
  auto& lost = h.server.AddJob("lost");
  lost.num_cpus = 4;
  lost.nodes = {1};  // on n2
  h.server.AddJob("b").num_cpus = 4;
  h.processes.behaviour["lost"] = {1000, 0};
  h.processes.behaviour["b"] = {1000, 0};
  std::filesystem::create_directories(h.output_dir + "/1");
  std::ofstream(h.output_dir + "/1/lost.1.err") << "srun: error: Node failure on n2\n";
  h.processes.worker_signals = {{kStart + 5, SIGTERM}, {kStart + 10, SIGTERM}};
  h.slurm = [&](const std::vector<std::string>& argv, std::string* out) {
    if (argv.size() < 3 || argv[1] != "show" || argv[2] != "job") return 1;
    *out = "JobId=77 JobState=PENDING Reason=BeginTime PreemptTime=None Restarts=1\n";
    return 0;
  };
  CHECK(h.Run() == 0);
  CHECK(h.server.ResultOf("lost").status == AttemptStatus::kTerminated);
  CHECK(h.server.ResultOf("lost").reason == "slurm: Node failure on n2");
  CHECK(h.server.ResultOf("b").status == AttemptStatus::kTerminated);
  CHECK(h.server.ResultOf("b").reason == "preempted");
}

// ---- an action's max_parallel_jobs, staggered_start, compute_node_ignore_workflow_completion --
namespace {
/// The most jobs whose processes ran at the same moment.
size_t MostAtOnce(const FakeProcesses& processes) {
  std::vector<std::pair<double, int>> edges;  // (time, +1 start / -1 end); ends first at a tie
  for (const auto& [pid, p] : processes.processes)
    if (!p.job.empty()) {
      edges.push_back({p.started_at, 1});
      edges.push_back({p.ends_at, -1});
    }
  std::sort(edges.begin(), edges.end());
  int now = 0, most = 0;
  for (const auto& [at, step] : edges) most = std::max(most, now += step);
  return static_cast<size_t>(most);
}

/// A hostname whose worker waits at least `least` s of a `window` s start-up window.
std::string HostWaiting(int64_t window, int64_t least) {
  for (int k = 0;; ++k) {
    std::string name = "host" + std::to_string(k);
    if (worker::StartupDelaySeconds(window, name, "", "", getpid()) >= least) return name;
  }
}
}  // namespace

TEST_CASE("--max-parallel-jobs: at most N jobs here at once, however many the resources hold") {
  Harness h;  // 4 CPUs
  for (int k = 0; k < 10; ++k) {
    const std::string name = "j" + std::to_string(k);
    h.server.AddJob(name);
    h.processes.behaviour[name] = {0.5, 0};  // short: the worker also claims ahead
  }
  SUBCASE("without it, the CPUs decide") {
    CHECK(h.Run() == 0);
    CHECK(MostAtOnce(h.processes) == 4);
  }
  SUBCASE("with it") {
    h.options.max_parallel_jobs = 2;
    CHECK(h.Run() == 0);
    CHECK(MostAtOnce(h.processes) == 2);
    CHECK(h.server.results.size() == 10);  // all ran, two at a time
    // No claim asks for more than the room left, claimed-ahead jobs counted.
    for (const auto& c : h.server.claims) CHECK(c.max_jobs <= 2);
  }
}

TEST_CASE("StartupDelaySeconds: deterministic, in [0, window), spread over nodes") {
  CHECK(worker::StartupDelaySeconds(0, "n1", "77", "0", 42) == 0);
  CHECK(worker::StartupDelaySeconds(1, "n1", "77", "0", 42) == 0);
  const int64_t one = worker::StartupDelaySeconds(60, "n1", "77", "0", 42);
  CHECK(one == worker::StartupDelaySeconds(60, "n1", "77", "0", 42));
  std::set<int64_t> seen;
  for (int node = 0; node < 100; ++node) {
    const int64_t d = worker::StartupDelaySeconds(60, "n1", "77", std::to_string(node), 42);
    CHECK(d >= 0);
    CHECK(d < 60);
    seen.insert(d);
  }
  CHECK(seen.size() >= 30);  // not all workers of an allocation at the same moment
  // The parts are kept apart: ("ab", "c") is not ("a", "bc").
  int same = 0;
  for (int pid = 1; pid <= 10; ++pid)
    same += worker::StartupDelaySeconds(60, "ab", "c", "", pid) ==
            worker::StartupDelaySeconds(60, "a", "bc", "", pid);
  CHECK(same < 5);
}

TEST_CASE("--startup-delay: the worker waits its delay before its first call, and a stop "
          "signal during it ends the worker at once") {
  Harness h;
  h.hostname = HostWaiting(60, 10);
  h.options.startup_delay_seconds = 60;
  const int64_t delay = worker::StartupDelaySeconds(60, h.hostname, "", "", getpid());
  h.server.AddJob("a");
  SUBCASE("it waits, then works as always") {
    CHECK(h.Run() == 0);
    REQUIRE_FALSE(h.server.probe_times.empty());
    CHECK(h.server.probe_times.front() == doctest::Approx(kStart + static_cast<double>(delay)));
    CHECK(h.server.results.size() == 1);
    CHECK(h.Logged("staggered start: waiting " + std::to_string(delay) + " s of a 60 s window")
              .size() == 1);
  }
  SUBCASE("SIGTERM during the wait") {
    h.processes.worker_signals = {{kStart + 3, SIGTERM}};
    CHECK(h.Run() == 0);
    CHECK(h.clock.now == doctest::Approx(kStart + 3));
    CHECK(h.server.probe_times.empty());
    CHECK(h.server.registrations.empty());
    CHECK(h.Logged("stopped by a signal during the start-up delay").size() == 1);
  }
  SUBCASE("SIGINT during the wait") {
    h.processes.worker_signals = {{kStart + 1, SIGINT}};
    CHECK(h.Run() == 0);
    CHECK(h.clock.now == doctest::Approx(kStart + 1));
    CHECK(h.server.probe_times.empty());
  }
}

TEST_CASE("compute_node_ignore_workflow_completion: the worker stays at completion until its "
          "idle timeout, and runs a job restarted meanwhile") {
  Harness h;
  h.options.idle_timeout_seconds = 60;
  h.server.ignore_workflow_completion = true;
  h.server.AddJob("a");
  h.processes.behaviour["a"] = {1, 0};
  SUBCASE("nothing comes: it leaves when idle for the timeout, not at completion") {
    CHECK(h.Run() == 0);
    CHECK(h.server.results.size() == 1);
    CHECK(h.clock.now - kStart >= 60);
    CHECK(h.clock.now - kStart < 65);
    CHECK(h.server.leaves == std::vector<std::string>{"idle for 60 s"});
    CHECK(h.Logged("the workflow is complete; staying for jobs made ready again").size() == 1);
    CHECK(h.Logged("compute_node_ignore_workflow_completion").size() == 1);
  }
  SUBCASE("a job restarted meanwhile runs here, and the idle timeout counts from its end") {
    h.server.restarts = {{kStart + 30, 0}};
    CHECK(h.Run() == 0);
    auto runs = h.processes.Of("a");
    REQUIRE(runs.size() == 2);
    CHECK(runs[1]->started_at >= kStart + 30);
    CHECK(runs[1]->started_at < kStart + 33);  // found by its claims within the 2 s backoff
    CHECK(h.server.ResultOf("a").attempt == 2);
    CHECK(h.clock.now - runs[1]->ends_at >= 60);
    CHECK(h.clock.now - runs[1]->ends_at < 65);
    CHECK(h.Logged("staying for jobs made ready again").size() == 2);  // once per complete spell
  }
  SUBCASE("torc run (leave_at_completion) leaves when the workflow is complete all the same") {
    h.options.idle_timeout_seconds = 1e9;
    h.options.leave_at_completion = true;
    CHECK(h.Run() == 0);
    CHECK(h.clock.now - kStart < 10);
    CHECK(h.server.leaves == std::vector<std::string>{""});
  }
}
