// The service's operations driven directly, as the API handlers call them: protocol messages
// in, protocol answers and ServiceStatus out, no HTTP.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>

#include "temp_dir.h"
#include "server/problems.h"
#include "server/service.h"

namespace fs = std::filesystem;
using namespace torc;
using namespace torc::server;

namespace {

/// A scratch directory for one test (tests/server/temp_dir.h).
struct TempDir : torc::testing::ScratchDir {
  TempDir() : ScratchDir("torc_service_test") {}
};

std::unique_ptr<Service> OpenService(const TempDir& dir) {
  StoreStatus st;
  auto store = Store::Open((dir.path / "torc.db").string(), {}, &st);
  REQUIRE_MESSAGE(store, st.message);
  ServiceStatus ss;
  auto service = Service::Open(std::move(store), {}, 1000.0, &ss);
  REQUIRE_MESSAGE(service, ss.message);
  return service;
}

WorkflowId Submit(Service& service, const char* spec) {
  SubmitRequest request;
  request.spec_text = spec;
  request.file_name = "wf.yaml";
  request.working_dir = "/work/dir";
  WorkflowId id = 0;
  ServiceStatus s = service.Submit(request, 1000.0, &id);
  REQUIRE_MESSAGE(s.ok(), s.message);
  return id;
}

const char* kChain = R"(name: chain
env: {A: workflow, B: workflow}
jobs:
  - {name: a, command: "echo a", env: {A: job}}
  - {name: b, command: "echo b", depends_on: [a]}
actions:
  - {trigger_type: on_worker_start, action_type: run_commands, commands: ["echo hi"]}
)";

const char* kScheduled = R"(name: scheduled
jobs:
  - {name: a, command: "true", scheduler: s}
  - {name: b, command: "true", scheduler: s}
slurm_schedulers:
  - {name: s, nodes: 1, walltime: "00:10:00"}
actions:
  - {trigger_type: on_workflow_start, action_type: schedule_nodes, scheduler: s,
     scheduler_type: slurm, num_allocations: 2, max_parallel_jobs: 3}
)";

protocol::ClaimRequest ClaimOf(int64_t worker) {
  protocol::ClaimRequest claim;
  claim.worker_id = worker;
  claim.max_jobs = 5;
  claim.nodes = {{4, 1 << 30, 0, 4, 1 << 30, 0, true}};
  return claim;
}

protocol::AttemptReport Completed(const protocol::ClaimedJob& job) {
  protocol::AttemptReport r;
  r.id = job.id;
  r.attempt = job.attempt;
  r.status = protocol::AttemptStatus::kCompleted;
  r.nodes = "n1";
  return r;
}

}  // namespace

TEST_CASE("a worker's round: register, claim with news, heartbeat, held jobs, complete, leave") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId wf = Submit(*service, kChain);

  protocol::Registration registration;
  registration.hostname = "n1";
  registration.nodes = {{"n1", 4, 1 << 30, {}}};
  registration.output_dir = "/out";
  protocol::RegistrationAnswer joined;
  REQUIRE(service->RegisterWorker(wf, registration, 1001, &joined).ok());
  const int64_t w = joined.worker_id;
  CHECK(w > 0);
  CHECK(joined.workflow_name == "chain");
  CHECK(joined.working_dir == "/work/dir");
  CHECK(joined.lease_seconds == service->options().core.lease_seconds());
  CHECK(joined.on_worker_start == std::vector<std::string>{"echo hi"});
  CHECK(joined.execution.oom_exit_code == protocol::kDefaultOomExitCode);
  CHECK_FALSE(joined.ignore_workflow_completion);

  // The first claim gets a (b waits for it), with the workflow's env under the job's own.
  protocol::ClaimAnswer first;
  REQUIRE(service->Claim(wf, ClaimOf(w), 1002, &first).ok());
  REQUIRE(first.jobs.size() == 1);
  const protocol::ClaimedJob a = first.jobs[0];
  CHECK(a.name == "a");
  CHECK(a.command == "echo a");
  CHECK(a.env == std::map<std::string, std::string>{{"A", "job"}, {"B", "workflow"}});
  CHECK(a.nodes == std::vector<uint32_t>{0});
  CHECK(a.failure_handler == -1);
  CHECK(first.unfinished == 2);
  CHECK(first.ready == 0);
  CHECK(!first.runnable);  // said only when no job was given
  CHECK(!first.workflow_complete);

  // The next claim carries a's start and result, and gets b.
  protocol::ClaimRequest next = ClaimOf(w);
  next.started = {{a.id, a.attempt, "n1"}};
  next.results = {Completed(a)};
  protocol::ClaimAnswer second;
  REQUIRE(service->Claim(wf, next, 1003, &second).ok());
  CHECK(second.applied == 1);
  CHECK(second.duplicate == 0);
  CHECK(second.rejected.empty());
  REQUIRE(second.jobs.size() == 1);
  const protocol::ClaimedJob b = second.jobs[0];
  CHECK(b.name == "b");
  CHECK(b.env == std::map<std::string, std::string>{{"A", "workflow"}, {"B", "workflow"}});

  protocol::HeartbeatAnswer beat;
  REQUIRE(service->Heartbeat(wf, w, 1004, &beat).ok());
  CHECK(beat.stop_jobs.empty());
  CHECK(!beat.workflow_complete);

  protocol::HeldJobs held;
  REQUIRE(service->HeldJobs(wf, w, &held).ok());
  REQUIRE(held.jobs.size() == 1);
  CHECK(held.jobs[0].name == "b");
  CHECK(held.jobs[0].status == "claimed");

  // b's result is recorded; a repeated one for a is a duplicate; a stale attempt is rejected.
  protocol::CompleteRequest done;
  done.worker_id = w;
  protocol::AttemptReport stale = Completed(a);
  stale.attempt = a.attempt + 5;
  done.results = {Completed(b), Completed(a), stale};
  protocol::CompleteAnswer recorded;
  REQUIRE(service->CompleteJobs(wf, done, 1005, &recorded).ok());
  CHECK(recorded.applied == 1);
  CHECK(recorded.duplicate == 1);
  REQUIRE(recorded.rejected.size() == 1);
  CHECK(recorded.rejected[0].id == a.id);
  CHECK(recorded.rejected[0].attempt == a.attempt + 5);
  CHECK(!recorded.rejected[0].reason.empty());

  protocol::HeartbeatAnswer last;
  REQUIRE(service->Heartbeat(wf, w, 1006, &last).ok());
  CHECK(last.workflow_complete);

  // Leaving with a reason: kept for `torc status`; then the worker has no lease.
  REQUIRE(service->UnregisterWorker(wf, w, {"nothing left to run"}, 1007).ok());
  CHECK(service->WorkerLeft(wf) == "worker " + std::to_string(w) + " left: nothing left to run");
  protocol::HeartbeatAnswer gone;
  CHECK(service->Heartbeat(wf, w, 1008, &gone).code == ServiceStatus::kConflict);
  protocol::ClaimAnswer refused;
  ServiceStatus s = service->Claim(wf, ClaimOf(w), 1008, &refused);
  CHECK(s.code == ServiceStatus::kConflict);
  CHECK(s.message.find("has no lease") != std::string::npos);

  // An unknown workflow is kNotFound for every operation.
  protocol::RegistrationAnswer nobody;
  CHECK(service->RegisterWorker(wf + 1, registration, 1009, &nobody).code ==
        ServiceStatus::kNotFound);
  protocol::HeldJobs none;
  CHECK(service->HeldJobs(wf + 1, w, &none).code == ServiceStatus::kNotFound);
}

TEST_CASE("claims say which jobs others wait for and the CPUs of all live workers") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId wf = Submit(*service, kChain);
  protocol::RegistrationAnswer one, two;
  REQUIRE(service->RegisterWorker(wf, {}, 1001, &one).ok());
  REQUIRE(service->RegisterWorker(wf, {}, 1001, &two).ok());
  protocol::ClaimRequest claim = ClaimOf(one.worker_id);
  claim.total_cpus = 4;
  protocol::ClaimAnswer first;
  REQUIRE(service->Claim(wf, claim, 1002, &first).ok());
  REQUIRE(first.jobs.size() == 1);
  const protocol::ClaimedJob a = first.jobs[0];
  CHECK(a.has_dependents);  // b depends on a
  CHECK(first.worker_cpus == 4);
  CHECK(first.ready == 0);
  CHECK(first.blocked == 1);  // b
  protocol::ClaimRequest other = ClaimOf(two.worker_id);
  other.total_cpus = 8;
  protocol::ClaimAnswer nothing;
  REQUIRE(service->Claim(wf, other, 1002.5, &nothing).ok());
  CHECK(nothing.jobs.empty());
  CHECK(nothing.worker_cpus == 12);

  // A complete request carries start notices, applied before its results.
  protocol::CompleteAnswer noted;
  REQUIRE(service->CompleteJobs(wf, {one.worker_id, {}, {{a.id, a.attempt, "n1"}}}, 1003, &noted)
              .ok());
  protocol::HeldJobs held;
  REQUIRE(service->HeldJobs(wf, one.worker_id, &held).ok());
  REQUIRE(held.jobs.size() == 1);
  CHECK(held.jobs[0].status == "running");
  CHECK(held.jobs[0].has_dependents);
  protocol::CompleteAnswer done;
  REQUIRE(service->CompleteJobs(wf, {one.worker_id, {Completed(a)}, {}}, 1004, &done).ok());
  CHECK(done.applied == 1);
  CHECK(!done.workflow_complete);

  // A worker that says nothing of its CPUs changes nothing; one that left counts no more (its
  // CPUs are taken out at most a second after the last time).
  REQUIRE(service->UnregisterWorker(wf, two.worker_id, {}, 1005).ok());
  protocol::ClaimAnswer second;
  REQUIRE(service->Claim(wf, ClaimOf(one.worker_id), 1005.5, &second).ok());
  REQUIRE(second.jobs.size() == 1);
  CHECK(!second.jobs[0].has_dependents);  // b: nothing waits for it
  CHECK(second.worker_cpus == 4);
  CHECK(second.blocked == 0);
  protocol::CompleteAnswer last;
  REQUIRE(service->CompleteJobs(wf, {one.worker_id, {Completed(second.jobs[0])}, {}}, 1006, &last)
              .ok());
  CHECK(last.workflow_complete);  // the worker that sent the last result can leave at once
}

TEST_CASE("a claim that gets nothing says how many jobs could ever run on the worker") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId wf = Submit(*service, kChain);
  protocol::RegistrationAnswer joined;
  REQUIRE(service->RegisterWorker(wf, {}, 1001, &joined).ok());
  protocol::ClaimRequest tiny = ClaimOf(joined.worker_id);
  tiny.nodes = {{0, 0, 0, 0, 0, 0, true}};  // no CPU at all
  protocol::ClaimAnswer answer;
  REQUIRE(service->Claim(wf, tiny, 1002, &answer).ok());
  CHECK(answer.jobs.empty());
  REQUIRE(answer.runnable);
  CHECK(*answer.runnable == 0);
}

TEST_CASE("a second report of one attempt is a duplicate only when it says the same") {
  // docs/api.md: duplicates are identical repeats (a worker resending after a lost answer).
  // "completed" and then "failed" for one attempt is a conflict: rejected (HTTP 409), and the
  // first report stands.
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId wf = Submit(*service, kChain);
  protocol::RegistrationAnswer joined;
  REQUIRE(service->RegisterWorker(wf, {}, 1001, &joined).ok());
  const int64_t w = joined.worker_id;
  protocol::ClaimAnswer claimed;
  REQUIRE(service->Claim(wf, ClaimOf(w), 1002, &claimed).ok());
  REQUIRE(claimed.jobs.size() == 1);
  const protocol::ClaimedJob a = claimed.jobs[0];
  protocol::CompleteAnswer first;
  REQUIRE(service->CompleteJobs(wf, {w, {Completed(a)}, {}}, 1003, &first).ok());
  CHECK(first.applied == 1);

  protocol::CompleteAnswer same;
  REQUIRE(service->CompleteJobs(wf, {w, {Completed(a)}, {}}, 1004, &same).ok());
  CHECK(same.duplicate == 1);
  CHECK(same.rejected.empty());

  protocol::AttemptReport failed = Completed(a);
  failed.status = protocol::AttemptStatus::kFailed;
  failed.exit_code = 3;
  protocol::CompleteAnswer conflict;
  REQUIRE(service->CompleteJobs(wf, {w, {failed}, {}}, 1005, &conflict).ok());
  CHECK(conflict.duplicate == 0);
  CHECK(conflict.applied == 0);
  REQUIRE(conflict.rejected.size() == 1);
  CHECK(conflict.rejected[0].id == a.id);
  CHECK(conflict.rejected[0].reason ==
        "job 0 attempt 1 was already reported completed (exit code 0); this report says "
        "failed (exit code 3)");
  // A different reason is a different report too.
  protocol::AttemptReport stopped = Completed(a);
  stopped.reason = "stopped";
  protocol::CompleteAnswer other;
  REQUIRE(service->CompleteJobs(wf, {w, {stopped}, {}}, 1006, &other).ok());
  CHECK(other.rejected.size() == 1);
  // The first report stands: b became ready and is handed out.
  protocol::ClaimAnswer next;
  REQUIRE(service->Claim(wf, ClaimOf(w), 1007, &next).ok());
  REQUIRE(next.jobs.size() == 1);
  CHECK(next.jobs[0].name == "b");
}

TEST_CASE("cancel and restart name jobs by index or name; canceling all scancels") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId wf = Submit(*service, kScheduled);
  AllocationRecord running;
  running.slurm_job_id = "77";
  running.scheduler = "s";
  running.state = "running";
  running.submitted_at = 1000;
  service->AddAllocation(wf, running);

  size_t canceled = 99;
  ServiceStatus s = service->CancelJobs(wf, {false, {{0, "nope"}}}, 1001, &canceled);
  CHECK(s.code == ServiceStatus::kNotFound);
  CHECK(s.message == "no job named 'nope'");
  s = service->CancelJobs(wf, {false, {{7, std::nullopt}}}, 1001, &canceled);
  CHECK(s.code == ServiceStatus::kNotFound);
  CHECK(s.message == "no job 7");
  REQUIRE(service->CancelJobs(wf, {false, {}}, 1001, &canceled).ok());  // an empty list
  CHECK(canceled == 0);

  // Some jobs: the allocations stay.
  REQUIRE(service->CancelJobs(wf, {false, {{0, "b"}}}, 1002, &canceled).ok());
  CHECK(canceled == 1);
  CHECK(service->TakeScancelRequests().empty());
  // The workflow: its live allocations are scanceled.
  REQUIRE(service->CancelJobs(wf, {}, 1003, &canceled).ok());
  CHECK(canceled == 1);
  CHECK(service->TakeScancelRequests() == std::vector<std::string>{"77"});

  // Restart without scheduling asks for nothing; with it, the action's allocations.
  RestartOutcome outcome;
  RestartRequest one;
  one.selection = {false, {{1, std::nullopt}}};
  one.schedule = false;
  REQUIRE(service->RestartJobs(wf, one, 1004, &outcome).ok());
  CHECK(outcome.restarted == 1);
  CHECK(outcome.allocations_requested == 0);
  REQUIRE(service->RestartJobs(wf, RestartRequest{}, 1005, &outcome).ok());
  CHECK(outcome.restarted == 1);
  CHECK(outcome.allocations_requested == 2);
  auto requests = service->TakeScheduleRequests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].first.num_allocations == 2);
  CHECK(requests[0].first.max_parallel_jobs == 3);  // the action's, for the restart's workers

  JobIndex j = 0;
  CHECK(ResolveJob(*requests[0].second.plan, {1, std::nullopt}, &j).ok());
  CHECK(j == 1);
  CHECK(ResolveJob(*requests[0].second.plan, {-1, std::nullopt}, &j).message == "no job -1");
}

TEST_CASE("compute_node_ignore_workflow_completion is told to each worker at registration") {
  TempDir dir;
  auto service = OpenService(dir);
  WorkflowId wf = Submit(*service, R"(name: stay
compute_node_ignore_workflow_completion: true
jobs:
  - {name: a, command: "true"}
)");
  protocol::RegistrationAnswer joined;
  REQUIRE(service->RegisterWorker(wf, {}, 1001, &joined).ok());
  CHECK(joined.ignore_workflow_completion);
}

TEST_CASE("torc status says when workers stay after completion by the workflow's choice") {
  TempDir dir;
  auto service = OpenService(dir);
  auto problems = [&](WorkflowId wf) {
    std::vector<Problem> out;
    REQUIRE(service->WithWorkflow(wf, [&](WorkflowEntry& e) {
      out = FindProblems(e, ProblemContext{});
      return ServiceStatus::Ok();
    }).ok());
    return out;
  };
  for (bool stay : {true, false}) {
    CAPTURE(stay);
    WorkflowId wf = Submit(*service, stay ? R"(name: stay
compute_node_ignore_workflow_completion: true
compute_node_wait_for_new_jobs_seconds: 120
jobs:
  - {name: a, command: "true"}
)"
                                          : R"(name: leave
jobs:
  - {name: a, command: "true"}
)");
    protocol::Registration registration;
    registration.slurm_job_id = "41";
    protocol::RegistrationAnswer joined;
    REQUIRE(service->RegisterWorker(wf, registration, 1001, &joined).ok());
    protocol::ClaimAnswer claimed;
    REQUIRE(service->Claim(wf, ClaimOf(joined.worker_id), 1002, &claimed).ok());
    REQUIRE(claimed.jobs.size() == 1);
    CHECK(problems(wf).empty());  // running: nothing to say
    protocol::CompleteRequest done;
    done.worker_id = joined.worker_id;
    done.results = {Completed(claimed.jobs[0])};
    protocol::CompleteAnswer recorded;
    REQUIRE(service->CompleteJobs(wf, done, 1003, &recorded).ok());
    const auto after = problems(wf);
    if (!stay) {
      CHECK(after.empty());  // the worker leaves at completion on its own
      continue;
    }
    REQUIRE(after.size() == 1);
    CHECK(after[0].kind == "staying_after_completion");
    CHECK(after[0].message.find("1 worker stays after completion") == 0);
    CHECK(after[0].message.find("until idle for 120 s") != std::string::npos);
    CHECK(after[0].message.find("scancel 41 ends them now") != std::string::npos);
    // Once it has left, nothing is held.
    REQUIRE(service->Mutate(wf, 1004, [&](WorkflowEntry& e, ChangeBatch* batch) {
      e.core->UnregisterWorker(joined.worker_id, 1004, batch);
      return ServiceStatus::Ok();
    }).ok());
    CHECK(problems(wf).empty());
  }
}

TEST_CASE("a grown request is what the next claim hands out, and survives a server restart") {
  TempDir dir;
  const char* spec = R"(name: grow
failure_handlers:
  - name: h
    rules:
      - {reasons: [memory], memory_multiplier: 2, max_retries: 2}
resource_requirements:
  - {name: small, memory: 100m, runtime: PT30S}
jobs:
  - {name: a, command: "true", failure_handler: h, resource_requirements: small}
)";
  constexpr int64_t kMiB = 1 << 20;
  WorkflowId wf = 0;
  {
    auto service = OpenService(dir);
    wf = Submit(*service, spec);
    protocol::RegistrationAnswer joined;
    REQUIRE(service->RegisterWorker(wf, {}, 1001, &joined).ok());
    protocol::ClaimAnswer first;
    REQUIRE(service->Claim(wf, ClaimOf(joined.worker_id), 1002, &first).ok());
    REQUIRE(first.jobs.size() == 1);
    CHECK(first.jobs[0].memory_bytes == 100 * kMiB);
    CHECK(first.jobs[0].runtime_seconds == 30);
    // Killed at its memory request: the next claim, carrying that result, gets twice as much.
    protocol::AttemptReport killed = Completed(first.jobs[0]);
    killed.status = protocol::AttemptStatus::kFailed;
    killed.exit_code = 137;
    killed.reason = "memory";
    protocol::ClaimRequest next = ClaimOf(joined.worker_id);
    next.results = {killed};
    protocol::ClaimAnswer second;
    REQUIRE(service->Claim(wf, next, 1003, &second).ok());
    REQUIRE(second.jobs.size() == 1);
    CHECK(second.jobs[0].attempt == 2);
    CHECK(second.jobs[0].memory_bytes == 200 * kMiB);
  }
  auto service = OpenService(dir);  // from the store: the job state and the attempt
  REQUIRE(service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    CHECK(e.core->ShapeOf(0).memory_bytes == 200 * kMiB);
    auto attempts = e.core->AttemptsOf(0);
    REQUIRE(attempts.size() == 1);
    CHECK(attempts[0]->memory_request == 100 * kMiB);
    CHECK(attempts[0]->runtime_request == 30);
    return ServiceStatus::Ok();
  }).ok());
}

TEST_CASE("\"@file\" parameter values: expanded from the files sent, again after a restart") {
  TempDir dir;
  const char* spec =
      "name: atfile\n"
      "jobs:\n"
      "  - name: j_{id}\n"
      "    command: echo {id}\n"
      "    parameters:\n"
      "      id: \"@ids.txt\"\n";
  auto job_names = [](Service& service, WorkflowId wf) {
    std::vector<std::string> names;
    REQUIRE(service.WithWorkflow(wf, [&](WorkflowEntry& e) {
      for (const auto& job : e.plan->jobs) names.push_back(job.name);
      return ServiceStatus::Ok();
    }).ok());
    return names;
  };
  using Names = std::vector<std::string>;
  WorkflowId wf = 0;
  {
    auto service = OpenService(dir);
    SubmitRequest request;
    request.spec_text = spec;
    request.file_name = "wf.yaml";
    // The server never reads its own disk: without the file's text the submit is refused.
    ServiceStatus refused = service->Submit(request, 1000.0, &wf);
    CHECK(refused.code == ServiceStatus::kBadRequest);
    REQUIRE(refused.details.size() == 1);
    CHECK(refused.details[0] ==
          "wf.yaml:6:11: parameter 'id': cannot read the parameter file 'ids.txt': it was not "
          "sent with the workflow ('parameter_files' of the submit request has no 'ids.txt'; "
          "the server reads no files of its own)");
    request.parameter_files = {{"ids.txt", "a\n# no\nb\n"}, {"unused.txt", "x\n"}};
    REQUIRE(service->Submit(request, 1000.0, &wf).ok());
    CHECK(job_names(*service, wf) == Names{"j_a", "j_b"});
    REQUIRE(service->WithWorkflow(wf, [&](WorkflowEntry& e) {
      CHECK(e.row.parameter_files == R"({"ids.txt":"a\n# no\nb\n"})");  // only what it reads
      return ServiceStatus::Ok();
    }).ok());
  }
  auto service = OpenService(dir);  // parses the stored text again, with the stored files
  CHECK(job_names(*service, wf) == Names{"j_a", "j_b"});
}

TEST_CASE("an update reruns what changed with the new definition, and survives a restart") {
  TempDir dir;
  WorkflowId wf = 0;
  std::string edited = kChain;
  edited.replace(edited.find("\"echo b\""), 8, "\"echo b2\"");
  {
    auto service = OpenService(dir);
    wf = Submit(*service, kChain);
    protocol::Registration registration;
    registration.hostname = "n1";
    registration.nodes = {{"n1", 4, 1 << 30, {}}};
    protocol::RegistrationAnswer joined;
    REQUIRE(service->RegisterWorker(wf, registration, 1001, &joined).ok());
    protocol::ClaimAnswer first;
    REQUIRE(service->Claim(wf, ClaimOf(joined.worker_id), 1002, &first).ok());
    REQUIRE(first.jobs.size() == 1);

    // A job is claimed: refused, nothing changes.
    UpdateRequest update;
    update.spec_text = edited;
    UpdateOutcome outcome;
    ServiceStatus s = service->Update(wf, update, 1003, &outcome);
    CHECK(s.code == ServiceStatus::kConflict);
    CHECK(s.message == "1 jobs of workflow 1 are running; wait for them or cancel them, then update");

    protocol::ClaimRequest next = ClaimOf(joined.worker_id);
    next.results = {Completed(first.jobs[0])};
    protocol::ClaimAnswer second;
    REQUIRE(service->Claim(wf, next, 1004, &second).ok());
    REQUIRE(second.jobs.size() == 1);
    next = ClaimOf(joined.worker_id);
    next.results = {Completed(second.jobs[0])};
    protocol::ClaimAnswer third;
    REQUIRE(service->Claim(wf, next, 1005, &third).ok());
    CHECK(third.workflow_complete);

    // Dry: says what would run again, changes nothing.
    update.dry_run = true;
    REQUIRE(service->Update(wf, update, 1006, &outcome).ok());
    CHECK(outcome.rerun == decltype(outcome.rerun){{"b", {"command changed"}}});
    CHECK(outcome.kept == 1);
    service->WithWorkflow(wf, [&](WorkflowEntry& e) {
      CHECK(e.core->job(1).status == JobStatus::kCompleted);
      CHECK(e.plan->jobs[1].command == "echo b");
      return ServiceStatus::Ok();
    });

    // Applied: b is ready at attempt 2 and is handed out with its new command.
    update.dry_run = false;
    REQUIRE(service->Update(wf, update, 1007, &outcome).ok());
    CHECK(outcome.rerun.size() == 1);
    protocol::ClaimAnswer again;
    REQUIRE(service->Claim(wf, ClaimOf(joined.worker_id), 1008, &again).ok());
    REQUIRE(again.jobs.size() == 1);
    CHECK(again.jobs[0].name == "b");
    CHECK(again.jobs[0].attempt == 2);
    CHECK(again.jobs[0].command == "echo b2");
  }
  // A restarted server reads the new file and the new states.
  auto service = OpenService(dir);
  service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    CHECK(e.plan->jobs[1].command == "echo b2");
    CHECK(e.core->job(0).status == JobStatus::kCompleted);
    CHECK(e.core->job(0).attempt == 1);
    CHECK(e.core->job(1).attempt == 2);
    CHECK(e.row.spec_text == edited);
    return ServiceStatus::Ok();
  });
  // Other jobs: refused as an update.
  UpdateRequest other;
  other.spec_text = "name: chain\njobs:\n  - {name: a, command: \"echo a\"}\n";
  UpdateOutcome outcome;
  ServiceStatus s = service->Update(wf, other, 2000, &outcome);
  CHECK(s.code == ServiceStatus::kBadRequest);
  CHECK(s.message.find("cannot be updated in place: the jobs changed (2 -> 1 jobs; removed 'b')") !=
        std::string::npos);
}
