// The scheduling core's recovery, driven directly: failure-handler rules matched by reason,
// the requests they grow and the caps on them, restarts that grow by hand, and the
// workflow's failure limit (max_failures).
#include <doctest/doctest.h>

#include <string>

#include "core_fixture.h"
#include "server/core/core.h"

using namespace torc::server;
using torc::server::testing::Fixture;

namespace {

constexpr int64_t kMiB = 1 << 20;

const char* kGrowMemory = R"(
name: grow
failure_handlers:
  - name: h
    rules:
      - {reasons: [memory], memory_multiplier: 2, max_retries: 3}
resource_requirements:
  - {name: small, memory: 100m, runtime: PT10S}
jobs:
  - {name: a, command: x, failure_handler: h, resource_requirements: small}
)";

/// A registered worker whose one node has `memory` bytes (what caps grown memory).
WorkerId WorkerWithMemory(Fixture& f, WorkerId id, int64_t memory) {
  WorkerRecord w;
  w.id = id;
  w.hostname = "big" + std::to_string(id);
  w.resources_json = R"({"nodes": [{"name": "n1", "cpus": 4, "memory_bytes": )" +
                     std::to_string(memory) + R"(, "gpus": []}]})";
  f.core.RegisterWorker(w, f.now, &f.batch);
  f.node_count[id] = 1;
  f.node_cpus[id] = 4;
  return id;
}

/// The memory each claim of `job` is given, per attempt, after failing `failures` times for
/// memory (exit code 137, reason memory).
std::vector<int64_t> MemoryPerAttempt(Fixture& f, WorkerId w, const std::string& job,
                                      int failures) {
  std::vector<int64_t> out;
  for (int k = 0; k < failures; ++k) {
    REQUIRE(f.Claim(w) == std::vector<std::string>{job});
    out.push_back(f.core.ShapeOf(f.J(job)).memory_bytes);
    f.Finish(w, job, 137, JobStatus::kFailed, "memory");
  }
  return out;
}

}  // namespace

TEST_CASE("a rule matches a failed attempt by its reason, and by exit code as before") {
  Fixture f(R"(
name: reasons
failure_handlers:
  - name: h
    rules:
      - {exit_codes: [3], max_retries: 1}
      - {reasons: [memory], max_retries: 1}
jobs:
  - {name: oom, command: x, failure_handler: h}
  - {name: code, command: x, failure_handler: h}
  - {name: other, command: x, failure_handler: h}
)");
  const torc::spec::FailureHandler& h = f.plan->failure_handlers[0];
  CHECK(h.Match(3) == &h.rules[0]);
  CHECK(h.Match(137, "memory") == &h.rules[1]);
  CHECK(h.Match(0, "memory") == &h.rules[1]);
  CHECK(h.Match(137) == nullptr);
  CHECK(h.Match(0) == nullptr);
  CHECK(h.MatchReason("runtime") == nullptr);
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "oom", 137, JobStatus::kFailed, "memory");
  f.Finish(w, "code", 3);
  f.Finish(w, "other", 137);
  CHECK(f.S("oom") == JobStatus::kReady);
  CHECK(f.HasEvent("retry", "exit code 137 (memory); retry 1 of 1"));
  CHECK(f.S("code") == JobStatus::kReady);
  CHECK(f.S("other") == JobStatus::kFailed);
}

TEST_CASE("memory_multiplier grows each retry's memory; claims and attempts carry it") {
  Fixture f(kGrowMemory);
  WorkerId w = f.Worker(1);
  CHECK(MemoryPerAttempt(f, w, "a", 3) == std::vector<int64_t>{100 * kMiB, 200 * kMiB, 400 * kMiB});
  // The fourth attempt has 800 MiB and completes.
  REQUIRE(f.Claim(w).size() == 1);
  CHECK(f.core.ShapeOf(f.J("a")).memory_bytes == 800 * kMiB);
  f.Finish(w, "a");
  CHECK(f.S("a") == JobStatus::kCompleted);
  std::vector<int64_t> recorded;
  for (const AttemptResult* r : f.core.AttemptsOf(f.J("a"))) recorded.push_back(r->memory_request);
  CHECK(recorded == std::vector<int64_t>{100 * kMiB, 200 * kMiB, 400 * kMiB, 800 * kMiB});
  CHECK(f.core.AttemptsOf(f.J("a"))[0]->runtime_request == 10);
  CHECK(f.HasEvent("request_grown", "memory 100 MiB -> 200 MiB"));
  // The grown request is part of the job's persisted state.
  bool persisted = false;
  for (const auto& [j, d] : f.batch.jobs) persisted = persisted || d.memory_request == 800 * kMiB;
  CHECK(persisted);
}

TEST_CASE("grown memory never exceeds the largest node a worker reported; an event says so") {
  Fixture f(kGrowMemory);
  WorkerId w = WorkerWithMemory(f, 7, 300 * kMiB);
  CHECK(MemoryPerAttempt(f, w, "a", 3) == std::vector<int64_t>{100 * kMiB, 200 * kMiB, 300 * kMiB});
  CHECK(f.HasEvent("request_grown",
                   "memory 200 MiB -> 300 MiB (capped at the largest node a worker reported, "
                   "300 MiB)"));
  CHECK(f.core.job(f.J("a")).retries == 3);  // all used: a fourth failure is final
  REQUIRE(f.Claim(w).size() == 1);
  f.Finish(w, "a", 137, JobStatus::kFailed, "memory");
  CHECK(f.S("a") == JobStatus::kFailed);
}

TEST_CASE("grown memory stops at the scheduler's mem; grown runtime at its walltime") {
  Fixture f(R"(
name: caps
slurm_schedulers:
  - {name: s, account: a, walltime: "00:00:25", mem: 250}
failure_handlers:
  - name: h
    rules:
      - {reasons: [memory, runtime], memory_multiplier: 2, runtime_multiplier: 1.5, max_retries: 5}
resource_requirements:
  - {name: r, memory: 100m, runtime: PT10S}
jobs:
  - {name: a, command: x, failure_handler: h, resource_requirements: r, scheduler: s}
)");
  WorkerId w = WorkerWithMemory(f, 1, 1LL << 40);  // a worker's big node does not lift `mem`
  f.Claim(w);
  f.Finish(w, "a", 152, JobStatus::kTerminated, "runtime");
  JobShape s = f.core.ShapeOf(f.J("a"));
  CHECK(s.runtime_seconds == 15);
  CHECK(s.memory_bytes == 200 * kMiB);  // the rule grows both, whatever ran out
  CHECK(f.core.job(f.J("a")).retries == 1);  // a retry of the rule, not a walltime requeue
  CHECK(f.core.job(f.J("a")).walltime_requeues == 0);
  f.Claim(w);
  f.Finish(w, "a", 152, JobStatus::kTerminated, "runtime");
  s = f.core.ShapeOf(f.J("a"));
  CHECK(s.runtime_seconds == 23);  // 22.5 rounded up
  CHECK(s.memory_bytes == 250 * kMiB);
  CHECK(f.HasEvent("request_grown", "memory 200 MiB -> 250 MiB (capped at the mem of scheduler "
                                    "'s', 250 MiB)"));
  f.Claim(w);
  f.Finish(w, "a", 152, JobStatus::kTerminated, "runtime");
  CHECK(f.core.ShapeOf(f.J("a")).runtime_seconds == 25);
  CHECK(f.HasEvent("request_grown", "runtime 23 s -> 25 s (capped at the walltime of scheduler "
                                    "'s', 25 s)"));
}

TEST_CASE("a runtime overrun without a rule listing it is requeued as before, not grown") {
  Fixture f(R"(
name: plain
failure_handlers:
  - name: h
    rules:
      - {match_all_exit_codes: true, runtime_multiplier: 2, max_retries: 2}
resource_requirements:
  - {name: r, runtime: PT10S}
jobs:
  - {name: a, command: x, failure_handler: h, resource_requirements: r}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 152, JobStatus::kTerminated, "runtime");
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.core.job(f.J("a")).walltime_requeues == 1);
  CHECK(f.core.job(f.J("a")).retries == 0);
  CHECK(f.core.ShapeOf(f.J("a")).runtime_seconds == 10);
}

TEST_CASE("a job that requests no memory is not grown in memory; the event says why") {
  Fixture f(R"(
name: share
failure_handlers:
  - name: h
    rules:
      - {reasons: [memory], memory_multiplier: 2, max_retries: 1}
jobs:
  - {name: a, command: x, failure_handler: h}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 137, JobStatus::kFailed, "memory");
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.core.ShapeOf(f.J("a")).memory_bytes == 0);
  CHECK(f.HasEvent("request_grown", "memory not grown: the job requests none"));
}

TEST_CASE("restart with multipliers grows the failed and terminated jobs, not the canceled") {
  Fixture f(R"(
name: by_hand
resource_requirements:
  - {name: r, memory: 1g, runtime: PT1M}
jobs:
  - {name: a, command: x, resource_requirements: r}
  - {name: b, command: x, resource_requirements: r, depends_on: [a]}
  - {name: t, command: x, resource_requirements: r}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 1);
  f.core.Cancel({f.J("t")}, f.now, &f.batch);
  CHECK(f.S("b") == JobStatus::kCanceled);
  RequestGrowth growth;
  growth.memory_multiplier = 1.5;
  growth.runtime_multiplier = 3;
  CHECK(f.core.Restart({}, f.now, &f.batch, growth) == 3);
  CHECK(f.core.ShapeOf(f.J("a")).memory_bytes == 1536 * kMiB);
  CHECK(f.core.ShapeOf(f.J("a")).runtime_seconds == 180);
  CHECK(f.core.ShapeOf(f.J("b")).memory_bytes == 1024 * kMiB);
  CHECK(f.core.ShapeOf(f.J("t")).runtime_seconds == 60);
  // A plain restart keeps what was grown.
  f.Claim(w);
  f.Finish(w, "a", 1);
  CHECK(f.core.Restart({f.J("a")}, f.now, &f.batch) == 2);
  CHECK(f.core.ShapeOf(f.J("a")).memory_bytes == 1536 * kMiB);
}

TEST_CASE("restore keeps grown requests and the largest node workers reported") {
  Fixture f(kGrowMemory);
  WorkerId w = WorkerWithMemory(f, 3, 300 * kMiB);
  MemoryPerAttempt(f, w, "a", 1);
  std::vector<AttemptResult> results;
  for (const AttemptResult* r : f.core.AttemptsOf(f.J("a"))) results.push_back(*r);
  std::vector<WorkerRecord> workers;
  for (const auto& [id, rec] : f.core.workers()) workers.push_back(rec);
  WorkflowCore restored(1, f.plan);
  std::string error;
  ChangeBatch batch;
  REQUIRE(restored.Restore(f.core.jobs(), results, workers, {}, f.now, &batch, &error));
  CHECK(restored.ShapeOf(f.J("a")).memory_bytes == 200 * kMiB);
  // The next growth is capped by the worker known from the store.
  ClaimFilter filter = f.Filter(w);
  REQUIRE(restored.Claim(w, filter, f.now, &batch).size() == 1);
  AttemptResult r;
  r.job = f.J("a");
  r.attempt = restored.job(r.job).attempt;
  r.status = JobStatus::kFailed;
  r.exit_code = 137;
  r.reason = "memory";
  restored.Complete(w, {r}, f.now, &batch);
  CHECK(restored.ShapeOf(f.J("a")).memory_bytes == 300 * kMiB);
}

namespace {

/// 20 jobs in a chain of priorities (one claimed at a time), every fourth one failing.
std::string TwentyJobs(int max_failures) {
  std::string yaml = "name: limit\nmax_failures: " + std::to_string(max_failures) + "\njobs:\n";
  for (int k = 0; k < 20; ++k)
    yaml += "  - {name: j" + std::to_string(k) + ", command: x, priority: " +
            std::to_string(100 - k) + "}\n";
  return yaml;
}

}  // namespace

TEST_CASE("max_failures: at the limit the jobs not started are canceled and claims stop") {
  Fixture f(TwentyJobs(2));
  WorkerId w = f.Worker(1);
  WorkerId other = f.Worker(2);
  int failed = 0, ran = 0;
  while (true) {
    auto claimed = f.Claim(w, 1);
    if (claimed.empty()) break;
    ++ran;
    bool fail = ran % 4 == 0;
    f.Finish(w, claimed[0], fail ? 1 : 0);
    failed += fail;
    if (ran == 7) {
      // Another worker holds a job it has not started, and one it runs, when the limit hits.
      REQUIRE(f.Claim(other, 2).size() == 2);
      f.core.Started(other, {{f.J("j8"), 1}}, f.now, &f.batch);
    }
  }
  auto counts = f.core.Counts();
  CHECK(failed == 2);
  CHECK(counts[static_cast<int>(JobStatus::kFailed)] == 2);
  CHECK(counts[static_cast<int>(JobStatus::kCompleted)] == 6);
  CHECK(counts[static_cast<int>(JobStatus::kRunning)] == 1);  // j8 runs on
  CHECK(counts[static_cast<int>(JobStatus::kCanceled)] == 11);
  CHECK(f.core.FailureLimitReached());
  CHECK(f.HasEvent("max_failures", "2 jobs failed (max_failures 2): 11 jobs that had not started "
                                   "are canceled, 1 running end as they end"));
  CHECK(f.Claim(other).empty());
  // The claimed one (j7) is stopped through the heartbeat; the running one ends as it ends.
  std::vector<JobIndex> to_stop;
  REQUIRE(f.core.Heartbeat(other, f.now, &f.batch, &to_stop));
  CHECK(to_stop == std::vector<JobIndex>{f.J("j7")});
  f.Finish(other, "j8");
  CHECK(f.S("j8") == JobStatus::kCompleted);
  CHECK(f.core.RunnableCount(f.Filter(other)) == 0);  // nothing left: workers leave
  CHECK(f.core.IsComplete());
  // A restart of the failed (and canceled) jobs takes them out of the count: work resumes.
  CHECK(f.core.Restart({}, f.now, &f.batch) == 13);
  CHECK_FALSE(f.core.FailureLimitReached());
  CHECK(f.Claim(w, 1).size() == 1);
}

TEST_CASE("max_failures: a retry or requeue after the limit is not run") {
  Fixture f(R"(
name: limit
max_failures: 1
failure_handlers:
  - name: h
    rules:
      - {match_all_exit_codes: true, max_retries: 3}
jobs:
  - {name: a, command: x}
  - {name: b, command: x, failure_handler: h}
  - {name: c, command: x}
)");
  WorkerId w = f.Worker(1);
  REQUIRE(f.Claim(w).size() == 3);
  f.core.Started(w, {{f.J("a"), 1}, {f.J("b"), 1}, {f.J("c"), 1}}, f.now, &f.batch);
  f.Finish(w, "a", 1);
  CHECK(f.core.FailureLimitReached());
  f.Finish(w, "b", 1);  // its rule would retry it: not at the limit
  CHECK(f.S("b") == JobStatus::kFailed);
  f.Finish(w, "c", 143, JobStatus::kTerminated, "walltime");  // would be requeued
  CHECK(f.S("c") == JobStatus::kCanceled);
  CHECK(f.HasEvent("canceled", "max_failures (1) is reached: not run again"));
  CHECK(f.core.IsComplete());
}
