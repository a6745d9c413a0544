// The action runner's wake-up (server/action_runner.h, Service::SetActionWakeup):
// a workflow whose on_workflow_start action is due must reach sbatch at once,
// not on the action thread's next 200 ms poll. A fake sbatch records its calls.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "temp_dir.h"
#include "server/action_runner.h"
#include "server/problems.h"
#include "server/service.h"

namespace fs = std::filesystem;
using namespace torc::server;

namespace {

/// A scratch directory for one test (tests/server/temp_dir.h).
struct TempDir : torc::testing::ScratchDir {
  TempDir() : ScratchDir("torc_action_test") {}
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

AllocationRecord Allocation(const std::string& id, double submitted_at, const std::string& cluster) {
  AllocationRecord r;
  r.slurm_job_id = id;
  r.scheduler = "s";
  r.submitted_at = submitted_at;
  r.cluster = cluster;
  return r;
}

std::unique_ptr<Service> OpenService(const TempDir& dir) {
  StoreStatus st;
  auto store = Store::Open((dir.path / "torc.db").string(), {}, &st);
  REQUIRE_MESSAGE(store, st.message);
  ServiceStatus ss;
  auto service = Service::Open(std::move(store), {}, 1000.0, &ss);
  REQUIRE_MESSAGE(service, ss.message);
  return service;
}

const char* kWithAction = R"(name: wf
jobs:
  - {name: a, command: "true", scheduler: s}
  - {name: b, command: "true", depends_on: [a]}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s, scheduler_type: slurm}
  - {trigger_type: on_jobs_complete, jobs: [a], action_type: run_commands, commands: ["true"]}
)";

const char* kWithoutAction = R"(name: plain
jobs:
  - {name: a, command: "true"}
)";

}  // namespace

TEST_CASE("the action runner is woken when an action becomes due, and only then") {
  TempDir dir;
  auto service = OpenService(dir);
  int wakeups = 0;
  service->SetActionWakeup([&] { ++wakeups; });

  WorkflowId plain = 0, id = 0;
  REQUIRE(service->Submit({kWithoutAction, "plain.yaml", dir.path.string(), "u"}, 1001.0, &plain)
              .ok());
  CHECK(wakeups == 0);
  CHECK(service->TakeDueActions().empty());

  REQUIRE(service->Submit({kWithAction, "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  CHECK(wakeups == 1);  // on_workflow_start is due the moment the workflow exists
  auto due = service->TakeDueActions();
  REQUIRE(due.size() == 1);
  CHECK(due[0].workflow == id);
  CHECK(due[0].index == 0);

  // Explicit requests wake it too: more allocations, an early squeue.
  ScheduleRequest more;
  more.workflow = id;
  REQUIRE(service->RequestSchedule(more).ok());
  CHECK(wakeups == 2);
  service->RequestReconcile();
  CHECK(wakeups == 3);

  // Finishing an action changes its state but makes nothing due: no wake-up.
  REQUIRE(service->FinishAction(id, 0, ActionStatus::kDone, "submitted", 1003.0).ok());
  CHECK(wakeups == 3);
}

TEST_CASE("on_jobs_ready over jobs that are ready at submit is due, stored and wakes at once") {
  TempDir dir;
  WorkflowId id = 0;
  {
    auto service = OpenService(dir);
    int wakeups = 0;
    service->SetActionWakeup([&] { ++wakeups; });
    const char* spec = R"(name: ready_at_once
jobs:
  - {name: a, command: "true"}
  - {name: b, command: "true", depends_on: [a]}
actions:
  - {trigger_type: on_jobs_ready, jobs: [a], action_type: run_commands, commands: ["true"]}
  - {trigger_type: on_jobs_ready, jobs: [b], action_type: run_commands, commands: ["true"]}
)";
    REQUIRE(service->Submit({spec, "r.yaml", dir.path.string(), "u"}, 1001.0, &id).ok());
    CHECK(wakeups == 1);
  }
  // After a restart the action is still due (its state was stored with the workflow).
  auto reopened = OpenService(dir);
  auto due = reopened->TakeDueActions();
  REQUIRE(due.size() == 1);
  CHECK(due[0].workflow == id);
  CHECK(due[0].index == 0);
}

TEST_CASE("Wakeup: a notification ends the wait at once; without one the wait lasts its interval") {
  using Clock = std::chrono::steady_clock;
  Wakeup wakeup;
  wakeup.Notify();
  auto t0 = Clock::now();
  wakeup.Wait(std::chrono::seconds(30));
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));

  // The notification was consumed: the next wait runs its course.
  t0 = Clock::now();
  wakeup.Wait(std::chrono::milliseconds(60));
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(50));

  // A notification from another thread while waiting.
  std::thread notifier([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    wakeup.Notify();
  });
  t0 = Clock::now();
  wakeup.Wait(std::chrono::seconds(30));
  notifier.join();
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));

  wakeup.Close();  // shutdown: every later wait returns at once
  t0 = Clock::now();
  wakeup.Wait(std::chrono::seconds(30));
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("a due schedule_nodes action is submitted by the action thread as soon as it is woken") {
  TempDir dir;
  auto service = OpenService(dir);
  fs::path calls = dir.path / "sbatch_calls";
  fs::path fake = dir.path / "sbatch";
  std::ofstream(fake) << "#!/bin/sh\necho \"$@\" >> '" << calls.string() << "'\necho 77\n";
  fs::permissions(fake, fs::perms::owner_all);

  SlurmPaths paths;
  paths.sbatch = fake.string();
  paths.squeue = "/bin/false";  // reconciliation fails quietly and is retried later
  ActionRunnerOptions options;
  options.torc_binary = "/usr/local/bin/torc";
  options.api_url = "http://127.0.0.1:1";
  options.data_dir = dir.path.string();
  options.reconcile_seconds = 3600;
  ActionRunner runner(service.get(), SlurmClient(paths), options);

  // The server's loop with a poll interval far longer than the test allows:
  // only the wake-up can make the submit happen in time.
  Wakeup wakeup;
  service->SetActionWakeup([&] { wakeup.Notify(); });
  std::atomic<bool> stop{false};
  std::atomic<int> ticks{0};
  std::thread thread([&] {
    while (!stop) {
      runner.Tick(2000.0);
      ++ticks;
      wakeup.Wait(std::chrono::seconds(60));
    }
  });
  // Submit only after the first Tick: only the wake-up can then run the action in time.
  while (ticks == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  WorkflowId id = 0;
  REQUIRE(service->Submit({kWithAction, "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (service->Allocations(id).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  wakeup.Close();
  thread.join();
  service->SetActionWakeup(nullptr);

  auto allocations = service->Allocations(id);
  REQUIRE(allocations.size() == 1);
  CHECK(allocations[0].slurm_job_id == "77");
  std::string recorded = Slurp(calls);
  CHECK(recorded.find("--parsable") != std::string::npos);
  CHECK(recorded.find("action_0.sh") != std::string::npos);
}

TEST_CASE("allocations and their states come back after a restart, among other events") {
  TempDir dir;
  WorkflowId id = 0;
  {
    auto service = OpenService(dir);
    REQUIRE(service->Submit({kWithAction, "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
    service->AddAllocation(id, Allocation("101", 1003.0, ""));
    // other events in between (a worker coming and going) must not confuse the rebuild
    WorkerRecord w;
    w.id = 5;
    w.hostname = "h";
    w.slurm_job_id = "101";
    REQUIRE(service->Mutate(id, 1004.0, [&](WorkflowEntry& e, ChangeBatch* batch) {
      e.core->RegisterWorker(w, 1004.0, batch);
      return ServiceStatus::Ok();
    }).ok());
    service->AddAllocation(id, Allocation("102", 1005.0, "c2"));
    service->UpdateAllocation(id, "101", "running", 1006.0, "n[1-2]");
    REQUIRE(service->Mutate(id, 1007.0, [&](WorkflowEntry& e, ChangeBatch* batch) {
      e.core->UnregisterWorker(5, 1007.0, batch);
      return ServiceStatus::Ok();
    }).ok());
    service->UpdateAllocation(id, "101", "done", 1008.0);
  }
  auto service = OpenService(dir);
  auto allocations = service->Allocations(id);
  REQUIRE(allocations.size() == 2);
  CHECK(allocations[0].slurm_job_id == "101");
  CHECK(allocations[0].state == "done");
  CHECK(allocations[0].scheduler == "s");
  CHECK(allocations[0].started_at == doctest::Approx(1006.0));
  CHECK(allocations[0].ended_at == doctest::Approx(1008.0));
  CHECK(allocations[0].nodes == "n[1-2]");
  CHECK(allocations[1].started_at == 0);
  CHECK(allocations[1].slurm_job_id == "102");
  CHECK(allocations[1].state == "pending");
  CHECK(allocations[1].submitted_at == doctest::Approx(1005.0));
  auto live = service->LiveAllocations();
  REQUIRE(live.size() == 1);
  CHECK(live[0].second.slurm_job_id == "102");
  CHECK(live[0].second.cluster == "c2");
  CHECK(live[0].second.SlurmRef() == "102;c2");
  CHECK(allocations[0].SlurmRef() == "101");
}

// ---- sbatch, squeue and scancel as sites run them ---------------------------------------

namespace {

/// An executable shell script at dir/name.
fs::path Script(const TempDir& dir, const std::string& name, const std::string& body) {
  fs::path p = dir.path / name;
  std::ofstream(p) << "#!/bin/bash\n" << body;
  fs::permissions(p, fs::perms::owner_all);
  return p;
}

}  // namespace

TEST_CASE("the job id comes from the last id line of standard output") {
  std::string id, cluster;
  CHECK(ParseSbatchOutput("1234\n", &id, &cluster));
  CHECK((id == "1234" && cluster.empty()));
  CHECK(ParseSbatchOutput("Welcome to the cluster, job 99 of 100\n5678;west\n", &id, &cluster));
  CHECK((id == "5678" && cluster == "west"));
  CHECK(ParseSbatchOutput("  42  \r\n", &id, &cluster));
  CHECK(id == "42");
  CHECK_FALSE(ParseSbatchOutput("", &id, &cluster));
  CHECK_FALSE(ParseSbatchOutput("Submitted batch job 12\n", &id, &cluster));
  CHECK_FALSE(ParseSbatchOutput("12;\n", &id, &cluster));
  CHECK_FALSE(ParseSbatchOutput("12;a b\n", &id, &cluster));
}

TEST_CASE("transient and permanent sbatch failures") {
  CHECK(IsTransientSbatchFailure("sbatch: error: Batch job submission failed: Socket timed out "
                                 "on send/recv operation"));
  CHECK(IsTransientSbatchFailure("sbatch: error: Slurm temporarily unable to accept job, "
                                 "sleeping and retrying"));
  CHECK(IsTransientSbatchFailure("sbatch: error: Unable to contact slurm controller"));
  CHECK_FALSE(IsTransientSbatchFailure(
      "sbatch: error: Batch job submission failed: Invalid partition name specified"));
  CHECK_FALSE(IsTransientSbatchFailure("sbatch: error: invalid partition specified: nope"));
}

TEST_CASE("squeue states that are not an end keep the allocation alive") {
  for (const char* s : {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
    CHECK_MESSAGE(AllocationState(s) == "pending", s);
  for (const char* s : {"RUNNING", "COMPLETING", "SIGNALING", "STOPPED", "RESIZING", "SUSPENDED"})
    CHECK_MESSAGE(AllocationState(s) == "running", s);
  CHECK(AllocationState("COMPLETED") == "done");
  CHECK(AllocationState("CANCELLED") == "canceled");
  CHECK(AllocationState("PREEMPTED") == "preempted");
  for (const char* s : {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"})
    CHECK_MESSAGE(AllocationState(s) == "failed", s);
  CHECK(AllocationState("SOME_NEW_STATE") == "");
}

TEST_CASE("sbatch: banners on stderr are not the id; a timeout is retried, a bad partition is not") {
  TempDir dir;
  fs::path count = dir.path / "count";
  SlurmPaths paths;
  paths.sbatch = Script(dir, "sbatch",
                        "echo x >> '" + count.string() + "'\n"
                        "echo 'Welcome to Cluster! 3 jobs max' >&2\n"
                        "if [ $(wc -l < '" + count.string() + "') = 1 ]; then\n"
                        "  echo 'sbatch: error: Batch job submission failed: Socket timed out on "
                        "send/recv operation' >&2; exit 1\nfi\n"
                        "echo '321;cluster2'\n").string();
  std::vector<std::string> logged;
  SlurmClient slurm(paths, {3, 0.01}, [&](const std::string& m) { logged.push_back(m); });
  SubmittedJob job;
  std::string error;
  REQUIRE_MESSAGE(slurm.Submit("script.sh", &job, &error), error);
  CHECK(job.id == "321");
  CHECK(job.cluster == "cluster2");
  CHECK(job.messages == "Welcome to Cluster! 3 jobs max");
  CHECK(Slurp(count) == "x\nx\n");
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].find("Socket timed out") != std::string::npos);

  paths.sbatch = Script(dir, "sbatch_bad",
                        "echo x >> '" + (dir.path / "bad").string() + "'\n"
                        "echo 'sbatch: error: invalid partition specified: nope' >&2; exit 1\n")
                     .string();
  SlurmClient bad(paths, {3, 0.01});
  CHECK_FALSE(bad.Submit("script.sh", &job, &error));
  CHECK(error == "sbatch failed (exit 1): sbatch: error: invalid partition specified: nope");
  CHECK(Slurp(dir.path / "bad") == "x\n");  // not retried

  // Slurm's error lines, without the banner around them.
  paths.sbatch = Script(dir, "sbatch_banner",
                        "echo '*** Welcome ***' >&2\necho 'sbatch: error: Batch job submission "
                        "failed: Invalid account' >&2\necho 'Have a nice day' >&2\nexit 1\n")
                     .string();
  CHECK_FALSE(SlurmClient(paths, {3, 0.01}).Submit("script.sh", &job, &error));
  CHECK(error == "sbatch failed (exit 1): sbatch: error: Batch job submission failed: Invalid account");

  paths.sbatch = Script(dir, "sbatch_slow", "echo 'Socket timed out' >&2; exit 1\n").string();
  SlurmClient slow(paths, {3, 0.01});
  std::vector<std::string> retries;
  CHECK_FALSE(slow.Submit("script.sh", &job, &error,
                          [&](const std::string& m) { retries.push_back(m); }));
  CHECK(error.find("Socket timed out") != std::string::npos);
  // Heard before each retry (not after the last try): torc status shows it meanwhile.
  REQUIRE(retries.size() == 2);
  CHECK(retries[0] == "sbatch failed (attempt 1 of 3), retrying: Socket timed out");
}

TEST_CASE("squeue and scancel name the cluster of a job submitted to another one") {
  TempDir dir;
  fs::path calls = dir.path / "calls";
  SlurmPaths paths;
  paths.squeue = Script(dir, "squeue",
                        "echo \"squeue $*\" >> '" + calls.string() + "'\n"
                        "if [ \"$1\" = -M ]; then echo \"CLUSTER: $2\"; echo '7 RUNNING';\n"
                        "else echo '5 PENDING'; echo '6 COMPLETING'; fi\n").string();
  paths.scancel = Script(dir, "scancel", "echo \"scancel $*\" >> '" + calls.string() + "'\n")
                      .string();
  SlurmClient slurm(paths);
  std::map<std::string, std::string> states;
  std::string error;
  REQUIRE(slurm.Query({"5", "6", "7;west"}, &states, &error));
  CHECK(states == std::map<std::string, std::string>{
                      {"5", "PENDING"}, {"6", "COMPLETING"}, {"7", "RUNNING"}});
  REQUIRE(slurm.Cancel({"5", "7;west"}, &error));
  CHECK(Slurp(calls) == "squeue -h -t all -j 5,6 -o %i %T\n"
                        "squeue -M west -h -t all -j 7 -o %i %T\n"
                        "scancel 5\n"
                        "scancel -M west 7\n");
}

TEST_CASE("a schedule request's outcome: the job ids, or sbatch's message and an event") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({kWithAction, "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  SlurmPaths paths;
  paths.squeue = "/bin/false";
  paths.sbatch = Script(dir, "sbatch", "echo 555\n").string();
  ActionRunnerOptions options;
  options.torc_binary = "/usr/local/bin/torc";
  options.reconcile_seconds = 3600;
  {
    ActionRunner runner(service.get(), SlurmClient(paths, {1, 0.01}), options);
    runner.Tick(2000.0);  // the workflow's own on_workflow_start action
    ScheduleRequest ok;
    ok.workflow = id;
    ok.num_allocations = 2;
    REQUIRE(service->RequestSchedule(ok).ok());
    runner.Tick(2001.0);
    REQUIRE(ok.outcome->Wait(std::chrono::milliseconds(0)));
    CHECK(ok.outcome->ok);
    CHECK(ok.outcome->job_ids == std::vector<std::string>{"555", "555"});
  }
  // A transient failure is a problem while sbatch is retried, gone once it passed.
  {
    fs::path count = dir.path / "flaky_count";
    paths.sbatch = Script(dir, "sbatch_flaky",
                          "echo x >> '" + count.string() + "'\n"
                          "if [ $(wc -l < '" + count.string() + "') = 1 ]; then echo 'Socket "
                          "timed out' >&2; exit 1; fi\necho 556\n").string();
    std::vector<std::string> seen;
    ActionRunner flaky(service.get(),
                       SlurmClient(paths, {3, 0.01}, [&](const std::string&) {
                         seen.push_back(service->ScheduleFailure(id));
                       }),
                       options);
    ScheduleRequest r;
    r.workflow = id;
    REQUIRE(service->RequestSchedule(r).ok());
    flaky.Tick(2001.5);
    REQUIRE(seen.size() == 1);  // the log line comes after the note
    CHECK(seen[0] == "sbatch failed (attempt 1 of 3), retrying: Socket timed out");
    CHECK(r.outcome->ok);
    CHECK(service->ScheduleFailure(id).empty());
    paths.sbatch =
        Script(dir, "sbatch_bad", "echo 'sbatch: error: invalid partition specified: x' >&2\nexit 1\n")
            .string();
  }
  ActionRunner runner(service.get(), SlurmClient(paths, {1, 0.01}), options);
  ScheduleRequest bad;
  bad.workflow = id;
  REQUIRE(service->RequestSchedule(bad).ok());
  runner.Tick(2002.0);
  REQUIRE(bad.outcome->Wait(std::chrono::milliseconds(0)));
  CHECK_FALSE(bad.outcome->ok);
  CHECK(bad.outcome->error == "sbatch failed (exit 1): sbatch: error: invalid partition specified: x");
  std::vector<Event> events;
  REQUIRE(service->EventsSince(id, 0, 1000, &events).ok());
  bool recorded = false;
  for (const auto& e : events)
    recorded = recorded || (e.kind == "sbatch_failed" &&
                            e.detail.find("invalid partition specified: x") != std::string::npos);
  CHECK(recorded);
}

// ---- problems: why a workflow cannot make progress (server/problems.h) -------------------

namespace {

std::vector<Problem> ProblemsOf(Service& service, WorkflowId id, double now = 0) {
  std::vector<Problem> out;
  ProblemContext context{service.Allocations(id), service.ScheduleFailure(id),
                         service.WorkerLeft(id), now};
  for (const auto& a : service.Autoscale(id, now))  // as the status call does
    if (a.decision.stopped) context.elastic_stopped.push_back(a.action);
  REQUIRE(service.WithWorkflow(id, [&](WorkflowEntry& e) {
    out = FindProblems(e, context);
    return ServiceStatus::Ok();
  }).ok());
  return out;
}

const Problem* Kind(const std::vector<Problem>& problems, const std::string& kind) {
  for (const auto& p : problems)
    if (p.kind == kind) return &p;
  return nullptr;
}

}  // namespace

TEST_CASE("problems: ready jobs with no scheduler and no worker") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({"name: w\njobs:\n  - {name: a, command: 'true'}\n  - {name: b, command: "
                           "'true'}\n", "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  auto problems = ProblemsOf(*service, id);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].kind == "no_compute");
  CHECK(problems[0].message.find("2 jobs ready, but the workflow has no slurm_schedulers") == 0);
  CHECK(problems[0].message.find("torc worker run --workflow " + std::to_string(id)) !=
        std::string::npos);
  CHECK(problems[0].jobs == std::vector<std::string>{"a", "b"});
  // A connected worker will run them: no problem.
  WorkerRecord w;
  w.id = 1;
  REQUIRE(service->Mutate(id, 1003.0, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->RegisterWorker(w, 1003.0, batch);
    return ServiceStatus::Ok();
  }).ok());
  CHECK(ProblemsOf(*service, id).empty());
}

TEST_CASE("problems: an allocation that runs with no worker of it, for a minute") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({"name: w\nslurm_schedulers:\n  - {name: s, account: a}\njobs:\n"
                           "  - {name: a, command: 'true', scheduler: s}\n", "wf.yaml",
                           dir.path.string(), "u"}, 1000.0, &id).ok());
  service->AddAllocation(id, Allocation("41", 1000.0, ""));
  service->UpdateAllocation(id, "41", "running", 1010.0);  // squeue: RUNNING
  CHECK(Kind(ProblemsOf(*service, id, 1060.0), "no_worker") == nullptr);  // 50 s: starting up
  const std::vector<Problem> problems = ProblemsOf(*service, id, 1080.0);
  const Problem* p = Kind(problems, "no_worker");
  REQUIRE(p != nullptr);
  CHECK(p->message.find("allocation 41 has been running for 70 s but no torc worker of it has "
                        "registered") == 0);
  CHECK(p->message.find("/torc_output/" + std::to_string(id) + "/slurm/41.err") !=
        std::string::npos);
  CHECK(p->message.find("'scancel 41'") != std::string::npos);
  // A worker of it registered (alive or gone since): the allocation was used.
  WorkerRecord w;
  w.id = 1;
  w.slurm_job_id = "41";
  REQUIRE(service->Mutate(id, 1081.0, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->RegisterWorker(w, 1081.0, batch);
    return ServiceStatus::Ok();
  }).ok());
  CHECK(Kind(ProblemsOf(*service, id, 1090.0), "no_worker") == nullptr);
}

TEST_CASE("problems: with staggered_start, no_worker waits out the start-up window too") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({"name: w\nexecution_config: {staggered_start: true}\n"
                           "slurm_schedulers:\n  - {name: s, account: a}\njobs:\n"
                           "  - {name: a, command: 'true', scheduler: s}\n", "wf.yaml",
                           dir.path.string(), "u"}, 1000.0, &id).ok());
  service->AddAllocation(id, Allocation("41", 1000.0, ""));
  service->UpdateAllocation(id, "41", "running", 1010.0);
  // 110 s: a worker may still be waiting out a 60 s window, then starting up.
  CHECK(Kind(ProblemsOf(*service, id, 1120.0), "no_worker") == nullptr);
  CHECK(Kind(ProblemsOf(*service, id, 1140.0), "no_worker") != nullptr);  // 130 s
}

TEST_CASE("problems: a refused allocation request, then nothing to run the ready jobs") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({kWithAction, "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  // The on_workflow_start action is due: it is about to ask for compute. (Job a's default
  // runtime, PT1H, exceeds the scheduler's 10 minutes: that one is cannot_run.)
  CHECK(Kind(ProblemsOf(*service, id), "no_compute") == nullptr);
  CHECK(Kind(ProblemsOf(*service, id), "cannot_run") != nullptr);
  auto due = service->TakeDueActions();
  REQUIRE(due.size() == 1);
  REQUIRE(service->FinishAction(id, 0, ActionStatus::kFailed,
                                "sbatch failed (exit 1): sbatch: error: invalid partition "
                                "specified: nope", 1003.0).ok());
  auto problems = ProblemsOf(*service, id);
  const Problem* failed = Kind(problems, "allocation_request_failed");
  REQUIRE(failed);
  CHECK(failed->message.find("invalid partition specified: nope") != std::string::npos);
  CHECK(failed->message.find("torc slurm schedule " + std::to_string(id) + " --scheduler s") !=
        std::string::npos);
  const Problem* none = Kind(problems, "no_compute");
  REQUIRE(none);
  CHECK(none->message.find("1 job ready, but no allocation is pending or running") == 0);
  // A pending allocation will run them; the failed request stays a problem.
  service->AddAllocation(id, Allocation("9", 1004.0, ""));
  problems = ProblemsOf(*service, id);
  CHECK(Kind(problems, "no_compute") == nullptr);
  CHECK(Kind(problems, "allocation_request_failed") != nullptr);
  // ... until it ended.
  service->UpdateAllocation(id, "9", "done", 1005.0);
  CHECK(Kind(ProblemsOf(*service, id), "no_compute") != nullptr);
  // A failed `torc slurm schedule` is one too, until an allocation is submitted.
  service->NoteScheduleFailure(id, "sbatch failed (exit 1): sbatch: error: Invalid account");
  CHECK(Kind(ProblemsOf(*service, id), "allocation_request_failed") != nullptr);
  problems = ProblemsOf(*service, id);
  CHECK(std::count_if(problems.begin(), problems.end(), [](const Problem& p) {
          return p.kind == "allocation_request_failed" &&
                 p.message.find("Invalid account") != std::string::npos;
        }) == 1);
  service->AddAllocation(id, Allocation("10", 1006.0, ""));
  CHECK(service->ScheduleFailure(id).empty());
}

TEST_CASE("problems: jobs no scheduler can hold") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({R"(name: w
resource_requirements:
  - {name: long, runtime: PT2H}
  - {name: short, runtime: PT5M}
jobs:
  - {name: too_long, command: "true", resource_requirements: long, scheduler: s}
  - {name: fits, command: "true", resource_requirements: short, scheduler: s}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
)", "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  auto problems = ProblemsOf(*service, id);
  const Problem* cannot = Kind(problems, "cannot_run");
  REQUIRE(cannot);
  CHECK(cannot->jobs == std::vector<std::string>{"too_long"});
  CHECK(cannot->message.find("1 job can never run (too_long: runtime 7200 s exceeds the walltime "
                             "of 's' (00:10:00))") == 0);
  // No action, no allocation: both jobs are ready with nothing to run them.
  CHECK(Kind(problems, "no_compute") != nullptr);
}

TEST_CASE("problems: max_failures reached, said even once every job has ended") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId id = 0;
  REQUIRE(service->Submit({R"(name: w
max_failures: 1
jobs:
  - {name: a, command: "false", priority: 1}
  - {name: b, command: "true", depends_on: [a]}
  - {name: c, command: "true"}
)", "wf.yaml", dir.path.string(), "u"}, 1002.0, &id).ok());
  WorkerRecord w;
  w.id = 1;
  REQUIRE(service->Mutate(id, 1003.0, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->RegisterWorker(w, 1003.0, batch);
    ClaimFilter one;
    one.nodes = {{4, 1 << 30, 0, 4, 1 << 30, 0, true}};
    REQUIRE(e.core->Claim(1, one, 1003.0, batch).size() == 1);  // a (priority 1 before c)
    AttemptResult failed;
    failed.job = 0;
    failed.attempt = 1;
    failed.status = JobStatus::kFailed;
    failed.exit_code = 1;
    e.core->Complete(1, {failed}, 1003.0, batch);
    return ServiceStatus::Ok();
  }).ok());
  auto problems = ProblemsOf(*service, id);
  const Problem* limit = Kind(problems, "max_failures");
  REQUIRE(limit);
  CHECK(limit->jobs == std::vector<std::string>{"a"});
  CHECK(limit->message.find("1 job failed, reaching the workflow's max_failures (1): no further "
                            "job starts (2 jobs canceled)") == 0);
  CHECK(limit->message.find("torc restart " + std::to_string(id) + " --failed") !=
        std::string::npos);
  REQUIRE(service->WithWorkflow(id, [&](WorkflowEntry& e) {
    CHECK(e.core->IsComplete());
    return ServiceStatus::Ok();
  }).ok());
  // A restart takes the failed job out of the count: the problem is gone.
  RestartOutcome outcome;
  REQUIRE(service->RestartJobs(id, RestartRequest{}, 1004.0, &outcome).ok());
  CHECK(outcome.restarted == 3);
  CHECK(Kind(ProblemsOf(*service, id), "max_failures") == nullptr);
}

// ---- elastic schedule_nodes actions (server/elastic.h) ----------------------------------

namespace {

const char* kElastic = R"(name: elastic
jobs:
  - {name: "w_{i}", command: "true", scheduler: s, parameters: {i: "1:10"}}
  - {name: sum, command: "true", scheduler: s, depends_on_regexes: ["^w_"]}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,
     max_allocations: 2, idle_timeout: 15}
)";

/// A worker of Slurm allocation `slurm_id` on one 4-CPU node registers; returns its id.
int64_t RegisterIn(Service& service, WorkflowId wf, const std::string& slurm_id, double now) {
  torc::protocol::Registration r;
  r.hostname = "n" + slurm_id;
  r.slurm_job_id = slurm_id;
  r.nodes = {{"n" + slurm_id, 4, 1 << 30, {}}};
  torc::protocol::RegistrationAnswer answer;
  REQUIRE(service.RegisterWorker(wf, r, now, &answer).ok());
  return answer.worker_id;
}

/// The worker's claim with the results of `done` (completed), on its 4 free CPUs minus
/// `busy`; returns the jobs it got.
std::vector<torc::protocol::ClaimedJob> ClaimIn(Service& service, WorkflowId wf, int64_t worker,
                                                const std::vector<torc::protocol::ClaimedJob>& done,
                                                int64_t busy, double now) {
  torc::protocol::ClaimRequest claim;
  claim.worker_id = worker;
  claim.max_jobs = 10;
  claim.scheduler = "s";
  claim.nodes = {{4 - busy, 1 << 30, 0, 4, 1 << 30, 0, busy == 0}};
  for (const auto& j : done) {
    claim.started.push_back({j.id, j.attempt, "n1"});
    torc::protocol::AttemptReport r;
    r.id = j.id;
    r.attempt = j.attempt;
    r.status = torc::protocol::AttemptStatus::kCompleted;
    r.nodes = "n1";
    claim.results.push_back(r);
  }
  torc::protocol::ClaimAnswer answer;
  REQUIRE(service.Claim(wf, claim, now, &answer).ok());
  return answer.jobs;
}

}  // namespace

TEST_CASE("elastic action: allocations follow the ready jobs, within max_allocations, across a "
          "server restart") {
  TempDir dir;
  fs::path count = dir.path / "count";
  SlurmPaths paths;
  // Slurm job ids 1, 2, 3, ...; squeue fails (allocation states change only by the workers).
  paths.sbatch = Script(dir, "sbatch",
                        "n=$(( $(cat '" + count.string() + "' 2>/dev/null || echo 0) + 1 ))\n"
                        "echo $n > '" + count.string() + "'\necho $n\n").string();
  paths.squeue = "/bin/false";
  ActionRunnerOptions options;
  options.torc_binary = "/usr/local/bin/torc";
  options.api_url = "http://127.0.0.1:1";
  options.data_dir = dir.path.string();
  options.reconcile_seconds = 3600;
  WorkflowId wf = 0;
  auto why = [&](Service& service, double now) {
    auto entries = service.Autoscale(wf, now);
    REQUIRE(entries.size() == 1);
    return entries[0].decision.why;
  };
  {
    auto service = OpenService(dir);
    ActionRunner runner(service.get(), SlurmClient(paths), options);
    REQUIRE(service->Submit({kElastic, "wf.yaml", dir.path.string(), "u"}, 1000.0, &wf).ok());
    CHECK(service->Autoscale(wf, 1000.0).empty());  // not fired until the runner executes it

    // The trigger: the first allocation at once. Nothing is known of its nodes yet, so one is
    // taken to hold every ready job.
    runner.Tick(1001.0);
    REQUIRE(service->Allocations(wf).size() == 1);
    CHECK(service->Allocations(wf)[0].action == 0);
    std::string script = Slurp(dir.path / "torc_output" / "1" / "slurm" / "action_0.sh");
    CHECK(script.find(" --scheduler 's' --idle-timeout 15\n") != std::string::npos);
    runner.Tick(1003.0);
    CHECK(service->Allocations(wf).size() == 1);
    CHECK(why(*service, 1003.0) ==
          "not asking: 1 allocation pending or starting will take the 10 ready jobs");

    // Its worker (4 CPUs) takes 4 jobs; 6 ready jobs need about 2 allocations more, 1 fits
    // under max_allocations 2, asked for once they have stayed unclaimed a moment.
    const int64_t w1 = RegisterIn(*service, wf, "1", 1004.0);
    auto first = ClaimIn(*service, wf, w1, {}, 0, 1004.0);
    CHECK(first.size() == 4);
    runner.Tick(1005.0);
    CHECK(service->Allocations(wf).size() == 1);
    CHECK(why(*service, 1005.0).find("about to ask: 6 ready jobs need about 2 allocations of 1 "
                                     "node(s) x 4 CPUs") == 0);
    runner.Tick(1007.5);
    REQUIRE(service->Allocations(wf).size() == 2);
    for (double t = 1009; t < 1020; t += 1.5) runner.Tick(t);
    CHECK(service->Allocations(wf).size() == 2);  // max_allocations
    auto entries = service->Autoscale(wf, 1020.0);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].decision.pending == 1);
    CHECK(entries[0].decision.running == 1);
    CHECK(entries[0].ready_jobs == 6);
    CHECK(entries[0].decision.why ==
          "not asking: 2 allocations pending or running, max_allocations 2 (6 ready jobs wait)");

    // Worker 1 runs 4 more, worker 2 the last 2: nothing is ready, 'sum' is blocked: no request
    // although max_allocations leaves room once one ends.
    auto second = ClaimIn(*service, wf, w1, first, 0, 1021.0);
    CHECK(second.size() == 4);
    const int64_t w2 = RegisterIn(*service, wf, "2", 1022.0);
    auto last = ClaimIn(*service, wf, w2, {}, 0, 1022.0);
    CHECK(last.size() == 2);
    CHECK(ClaimIn(*service, wf, w1, second, 0, 1025.0).empty());
    REQUIRE(service->UnregisterWorker(wf, w1, {"idle for 15 s"}, 1026.0).ok());
    runner.Tick(1027.0);
    CHECK(why(*service, 1027.0) ==
          "not asking: no job for scheduler 's' is ready (1 job waits for its dependencies)");
    // The last two end: 'sum' is ready; worker 2 leaves all the same (its idle timeout raced).
    // squeue has not said that either allocation ended: they count against max_allocations a
    // few seconds, then as ended, and a third allocation is asked for 'sum'.
    CHECK(ClaimIn(*service, wf, w2, last, 4, 1030.0).empty());  // (no CPU free: claims none)
    REQUIRE(service->UnregisterWorker(wf, w2, {"idle for 15 s"}, 1030.5).ok());
    runner.Tick(1031.0);
    CHECK(service->Allocations(wf).size() == 2);
    runner.Tick(1035.5);
    CHECK(service->Allocations(wf).size() == 2);  // allocation 1's worker left 9.5 s ago
    runner.Tick(1036.5);
    REQUIRE(service->Allocations(wf).size() == 3);
    CHECK(service->Allocations(wf)[2].submitted_at == 1036.5);
    for (double t = 1038; t < 1050; t += 1.5) runner.Tick(t);
    CHECK(service->Allocations(wf).size() == 3);  // the third takes 'sum'; 2 ended for good
  }
  // A restart of the server: the action is still elastic and active (its status is stored),
  // the allocations come back, and the pending third one covers 'sum': no fourth.
  auto service = OpenService(dir);
  ActionRunner runner(service.get(), SlurmClient(paths), options);
  for (double t = 1100; t < 1110; t += 1.5) runner.Tick(t);
  CHECK(service->Allocations(wf).size() == 3);
  CHECK(why(*service, 1110.0) ==
        "not asking: 1 allocation pending or starting will take the 1 ready job");
  const int64_t w3 = RegisterIn(*service, wf, "3", 1111.0);
  auto sum = ClaimIn(*service, wf, w3, {}, 0, 1111.0);
  REQUIRE(sum.size() == 1);
  ClaimIn(*service, wf, w3, sum, 0, 1112.0);
  runner.Tick(1113.0);
  CHECK(why(*service, 1113.0) == "not asking: the workflow is complete");
  CHECK(service->Allocations(wf).size() == 3);
}

TEST_CASE("compute_node_wait_for_new_jobs_seconds is the workers' idle timeout unless the action "
          "has its own") {
  TempDir dir;
  SlurmPaths paths;
  paths.sbatch = Script(dir, "sbatch", "echo 7\n").string();
  paths.squeue = "/bin/false";
  ActionRunnerOptions options;
  options.torc_binary = "/usr/local/bin/torc";
  options.api_url = "http://127.0.0.1:1";
  options.data_dir = dir.path.string();
  options.reconcile_seconds = 3600;
  auto service = OpenService(dir);
  ActionRunner runner(service.get(), SlurmClient(paths), options);
  WorkflowId wf = 0;
  REQUIRE(service->Submit({R"(name: idle
compute_node_wait_for_new_jobs_seconds: 45
jobs:
  - {name: a, command: "true", scheduler: s}
  - {name: b, command: "true", scheduler: t}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
  - {name: t, nodes: 1, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s}
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: t, idle_timeout: 15}
)", "wf.yaml", dir.path.string(), "u"},
                          1000.0, &wf)
              .ok());
  runner.Tick(1001.0);
  const fs::path slurm = dir.path / "torc_output" / std::to_string(wf) / "slurm";
  CHECK(Slurp(slurm / "action_0.sh").find(" --scheduler 's' --idle-timeout 45\n") !=
        std::string::npos);
  CHECK(Slurp(slurm / "action_1.sh").find(" --scheduler 't' --idle-timeout 15\n") !=
        std::string::npos);
}

TEST_CASE("an action's max_parallel_jobs and the workflow's staggered_start reach its workers") {
  TempDir dir;
  SlurmPaths paths;
  paths.sbatch = Script(dir, "sbatch", "echo 7\n").string();
  paths.squeue = "/bin/false";
  ActionRunnerOptions options;
  options.torc_binary = "/usr/local/bin/torc";
  options.api_url = "http://127.0.0.1:1";
  options.data_dir = dir.path.string();
  options.reconcile_seconds = 3600;
  auto service = OpenService(dir);
  ActionRunner runner(service.get(), SlurmClient(paths), options);
  WorkflowId wf = 0;
  REQUIRE(service->Submit({R"(name: capped
execution_config: {staggered_start: true, mode: direct}
jobs:
  - {name: a, command: "true", scheduler: s}
  - {name: b, command: "true", scheduler: t}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
  - {name: t, nodes: 3, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,
     num_allocations: 4, max_parallel_jobs: 3}
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: t,
     num_allocations: 5, start_one_worker_per_node: true}
)", "wf.yaml", dir.path.string(), "u"},
                          1000.0, &wf)
              .ok());
  runner.Tick(1001.0);
  const fs::path slurm = dir.path / "torc_output" / std::to_string(wf) / "slurm";
  // 4 allocations of one worker: a 4 s window; each worker runs at most 3 jobs.
  const std::string s = Slurp(slurm / "action_0.sh");
  CHECK(s.find(" --scheduler 's' --max-parallel-jobs 3 --startup-delay 4\n") != std::string::npos);
  // 5 allocations of 3 nodes, a worker per node: 15 workers, 10 + 5 * 50 / 90 = 12 s; no cap.
  const std::string t = Slurp(slurm / "action_1.sh");
  CHECK(t.find(" --scheduler 't' --startup-delay 12 --mode direct") != std::string::npos);
  CHECK(t.find("--max-parallel-jobs") == std::string::npos);
}

TEST_CASE("an elastic action that gave up does not hide no_compute") {
  TempDir dir;
  fs::path count = dir.path / "count";
  SlurmPaths paths;
  paths.sbatch = Script(dir, "sbatch",
                        "n=$(( $(cat '" + count.string() + "' 2>/dev/null || echo 0) + 1 ))\n"
                        "echo $n > '" + count.string() + "'\necho $n\n").string();
  paths.squeue = "/bin/false";
  ActionRunnerOptions options;
  options.torc_binary = "/usr/local/bin/torc";
  options.api_url = "http://127.0.0.1:1";
  options.data_dir = dir.path.string();
  options.reconcile_seconds = 3600;
  auto service = OpenService(dir);
  ActionRunner runner(service.get(), SlurmClient(paths), options);
  WorkflowId wf = 0;
  REQUIRE(service->Submit({kElastic, "wf.yaml", dir.path.string(), "u"}, 1000.0, &wf).ok());
  // Each allocation ends before a worker of it registers (a batch script that cannot start
  // torc); the action asks again, and after kElasticMaxFailedStarts it stops.
  double now = 1001.0;
  for (int k = 1; k <= kElasticMaxFailedStarts; ++k) {
    runner.Tick(now);
    REQUIRE(service->Allocations(wf).size() == static_cast<size_t>(k));
    CHECK(Kind(ProblemsOf(*service, wf, now), "no_compute") == nullptr);  // it is asking
    service->UpdateAllocation(wf, std::to_string(k), "failed", now + 1);
    now += 20;
  }
  runner.Tick(now);
  CHECK(service->Allocations(wf).size() == static_cast<size_t>(kElasticMaxFailedStarts));
  auto entries = service->Autoscale(wf, now);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].decision.stopped);
  const auto problems = ProblemsOf(*service, wf, now);  // Kind points into it
  const Problem* none = Kind(problems, "no_compute");
  REQUIRE(none != nullptr);
  CHECK(none->message.find("torc slurm schedule") != std::string::npos);
}
