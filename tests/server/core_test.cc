// The scheduling core, driven directly: every transition, retries, leases,
// group dependencies, priorities and the claim order.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <set>

#include "server/core/core.h"
#include "core_fixture.h"

using namespace torc::server;
using torc::server::testing::Fixture;

namespace {

const char* kDiamond = R"(
name: diamond
jobs:
  - {name: a, command: x}
  - {name: b, command: x, depends_on: [a]}
  - {name: c, command: x, depends_on: [a]}
  - {name: d, command: x, depends_on: [b, c]}
)";

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("start: jobs without parents are ready, the rest blocked") {
  Fixture f(kDiamond);
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.S("b") == JobStatus::kBlocked);
  CHECK(f.S("d") == JobStatus::kBlocked);
  auto counts = f.core.Counts();
  CHECK(counts[static_cast<int>(JobStatus::kReady)] == 1);
  CHECK(counts[static_cast<int>(JobStatus::kBlocked)] == 3);
  CHECK_FALSE(f.core.IsComplete());
}

TEST_CASE("completion unblocks children; the diamond runs in order") {
  Fixture f(kDiamond);
  WorkerId w = f.Worker(7);
  CHECK(f.Claim(w) == V{"a"});
  CHECK(f.S("a") == JobStatus::kClaimed);
  CHECK(f.core.Started(w, {{f.J("a"), 1}}, f.now, &f.batch) == 1);
  CHECK(f.S("a") == JobStatus::kRunning);
  CHECK(f.Claim(w).empty());
  CHECK(f.Finish(w, "a").outcome == CompletionOutcome::kApplied);
  CHECK(f.S("b") == JobStatus::kReady);
  CHECK(f.S("c") == JobStatus::kReady);
  CHECK(f.Claim(w) == V{"b", "c"});
  f.Finish(w, "b");
  CHECK(f.S("d") == JobStatus::kBlocked);
  f.Finish(w, "c");
  CHECK(f.Claim(w) == V{"d"});
  f.Finish(w, "d");
  CHECK(f.core.IsComplete());
  CHECK(f.core.Counts()[static_cast<int>(JobStatus::kCompleted)] == 4);
  CHECK(f.core.AttemptsOf(f.J("d")).size() == 1);
}

TEST_CASE("duplicate completions are idempotent; stale and foreign ones are rejected") {
  Fixture f(kDiamond);
  WorkerId w1 = f.Worker(1), w2 = f.Worker(2);
  f.Claim(w1);
  CHECK(f.Finish(w2, "a").outcome == CompletionOutcome::kRejected);  // not w2's job
  CHECK(f.Finish(w1, "a").outcome == CompletionOutcome::kApplied);
  size_t results = f.batch.results.size();
  CHECK(f.Finish(w1, "a", 0, JobStatus::kCompleted, "", 1).outcome == CompletionOutcome::kDuplicate);
  CHECK(f.batch.results.size() == results);
  CHECK(f.Finish(w1, "b", 0, JobStatus::kCompleted, "", 1).outcome == CompletionOutcome::kRejected);
  AttemptResult unknown;
  unknown.job = 99;
  CHECK(f.core.Complete(w1, {unknown}, f.now, &f.batch)[0].outcome == CompletionOutcome::kRejected);
}

TEST_CASE("a failure cancels dependents transitively, naming the parent; afterany still runs") {
  Fixture f(R"(
name: fail
jobs:
  - {name: a, command: x}
  - {name: b, command: x, depends_on: [a]}
  - {name: c, command: x, depends_on: [b]}
  - {name: cleanup, command: x, depends_on: [a], cancel_on_blocking_job_failure: false}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 3);
  CHECK(f.S("a") == JobStatus::kFailed);
  CHECK(f.S("b") == JobStatus::kCanceled);
  CHECK(f.S("c") == JobStatus::kCanceled);
  CHECK(f.S("cleanup") == JobStatus::kReady);
  CHECK(f.HasEvent("canceled", "blocking job 'a' ended failed"));
  CHECK(f.HasEvent("canceled", "blocking job 'b' ended canceled"));
  CHECK(f.HasEvent("failed", "exit code 3"));
  CHECK(f.Claim(w) == V{"cleanup"});
  f.Finish(w, "cleanup");
  CHECK(f.core.IsComplete());
}

TEST_CASE("failure handlers retry matching exit codes until max_retries") {
  Fixture f(R"(
name: retry
failure_handlers:
  - name: h
    rules:
      - {exit_codes: [10], max_retries: 2}
      - {match_all_exit_codes: true, max_retries: 1}
jobs:
  - {name: a, command: x, failure_handler: h}
  - {name: b, command: x, failure_handler: h}
  - {name: c, command: x}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 10);
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.core.job(f.J("a")).attempt == 2);
  CHECK(f.core.job(f.J("a")).retries == 1);
  CHECK(f.HasEvent("retry", "exit code 10; retry 1 of 2"));
  f.Claim(w);
  f.Finish(w, "a", 10);
  CHECK(f.core.job(f.J("a")).attempt == 3);
  f.Claim(w);
  f.Finish(w, "a", 10);
  CHECK(f.S("a") == JobStatus::kFailed);
  CHECK(f.core.AttemptsOf(f.J("a")).size() == 3);
  // match_all catches other codes, once
  f.Finish(w, "b", 1);
  CHECK(f.S("b") == JobStatus::kReady);
  f.Claim(w);
  f.Finish(w, "b", 1);
  CHECK(f.S("b") == JobStatus::kFailed);
  // no handler: no retry
  f.Finish(w, "c", 10);
  CHECK(f.S("c") == JobStatus::kFailed);
}

TEST_CASE("walltime terminations requeue without using retries, up to the limit") {
  CoreOptions options;
  options.walltime_requeue_limit = 2;
  Fixture f("name: w\njobs:\n  - {name: a, command: x}\n", options);
  WorkerId w = f.Worker(1);
  for (int k = 0; k < 2; ++k) {
    f.Claim(w);
    f.Finish(w, "a", 143, JobStatus::kTerminated, "walltime");
    CHECK(f.S("a") == JobStatus::kReady);
    CHECK(f.core.job(f.J("a")).retries == 0);
  }
  CHECK(f.HasEvent("requeued", "terminated by walltime; requeue 2 of 2"));
  f.Claim(w);
  f.Finish(w, "a", 143, JobStatus::kTerminated, "runtime");
  CHECK(f.S("a") == JobStatus::kTerminated);
  CHECK(f.core.job(f.J("a")).attempt == 3);
}

TEST_CASE("preempted or stopped with its worker: requeued without retries, own budget") {
  CoreOptions options;
  options.walltime_requeue_limit = 1;
  options.interruption_requeue_limit = 3;
  Fixture f("name: w\njobs:\n  - {name: a, command: x}\n", options);
  WorkerId w = f.Worker(1);
  // The walltime budget is not the interruptions': one walltime requeue, then three
  // interruptions, and the job is still ready.
  f.Claim(w);
  f.Finish(w, "a", 143, JobStatus::kTerminated, "walltime");
  CHECK(f.S("a") == JobStatus::kReady);
  f.Claim(w);
  f.Finish(w, "a", 143, JobStatus::kTerminated, "stopped");
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.HasEvent("requeued", "stopped with its worker; interruption 1 of 3"));
  for (int k = 0; k < 2; ++k) {
    f.Claim(w);
    f.Finish(w, "a", 143, JobStatus::kTerminated, "preempted");
    CHECK(f.S("a") == JobStatus::kReady);
  }
  CHECK(f.HasEvent("requeued", "its allocation was preempted; interruption 3 of 3"));
  CHECK(f.core.job(f.J("a")).retries == 0);
  CHECK(f.core.job(f.J("a")).walltime_requeues == 1);
  CHECK(f.core.job(f.J("a")).interruptions == 3);
  f.Claim(w);
  f.Finish(w, "a", 143, JobStatus::kTerminated, "preempted");
  CHECK(f.S("a") == JobStatus::kTerminated);
  CHECK(f.HasEvent("terminated",
                   "its allocation was preempted and its interruption limit (3) is used up"));
}

TEST_CASE("a preempted allocation seen in squeue ends its workers' running attempts as preempted") {
  Fixture f("name: w\njobs:\n  - {name: a, command: x}\n  - {name: b, command: x}\n");
  WorkerRecord rec;
  rec.id = 7;
  rec.slurm_job_id = "55";
  f.core.RegisterWorker(rec, f.now, &f.batch);
  f.node_count[7] = 1;
  f.node_cpus[7] = 64;
  REQUIRE(f.Claim(7).size() == 2);
  f.core.Started(7, {{f.J("a"), 1}}, f.now, &f.batch);  // b claimed, never started
  f.core.DropWorkersOfAllocation("55", f.now, &f.batch, "preempted");
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.S("b") == JobStatus::kReady);
  CHECK(f.core.job(f.J("a")).attempt == 2);
  CHECK(f.core.job(f.J("a")).interruptions == 1);
  CHECK(f.core.job(f.J("a")).retries == 0);
  auto attempts = f.core.AttemptsOf(f.J("a"));
  REQUIRE(attempts.size() == 1);
  CHECK(attempts[0]->reason == "preempted");
  CHECK(f.HasEvent("requeued", "its allocation was preempted; interruption 1 of 10"));
  CHECK_FALSE(f.core.IsLiveWorker(7));
  // The worker's own report of that end, arriving late, is the same outcome.
  CHECK(f.Finish(7, "a", 143, JobStatus::kTerminated, "preempted", 1).outcome ==
        CompletionOutcome::kDuplicate);
}

TEST_CASE("Slurm failing to run a step: requeued without retries or handler, own budget") {
  CoreOptions options;
  options.slurm_requeue_limit = 2;
  Fixture f(R"(name: w
failure_handlers:
  - name: h
    rules:
      - {exit_codes: [1], max_retries: 5}
jobs:
  - {name: a, command: x, failure_handler: h}
)",
            options);
  WorkerId w = f.Worker(1);
  for (int k = 0; k < 2; ++k) {
    f.Claim(w);
    f.Finish(w, "a", 1, JobStatus::kTerminated, "slurm: Job credential expired");
    CHECK(f.S("a") == JobStatus::kReady);
    CHECK(f.core.job(f.J("a")).retries == 0);  // the handler's exit code 1 did not match
  }
  CHECK(f.HasEvent("requeued",
                   "Slurm could not run its step (Job credential expired); Slurm requeue 2 of 2"));
  f.Claim(w);
  f.Finish(w, "a", 1, JobStatus::kTerminated, "slurm: Step limit reached for this job");
  CHECK(f.S("a") == JobStatus::kTerminated);
  // A restart gives every budget back.
  f.core.Restart({f.J("a")}, f.now, &f.batch);
  CHECK(f.core.job(f.J("a")).slurm_requeues == 0);
  CHECK(f.core.job(f.J("a")).interruptions == 0);
}

TEST_CASE("a rule listing preempted or slurm takes such a result over") {
  Fixture f(R"(name: w
failure_handlers:
  - name: h
    rules:
      - {reasons: [preempted, slurm], max_retries: 1}
jobs:
  - {name: a, command: x, failure_handler: h}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 1, JobStatus::kTerminated, "slurm: Node failure on n3");
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.core.job(f.J("a")).retries == 1);
  f.Claim(w);
  f.Finish(w, "a", 143, JobStatus::kTerminated, "preempted");
  CHECK(f.S("a") == JobStatus::kTerminated);  // its one retry is used
}

TEST_CASE("an expired lease gives the jobs back with a new attempt; the old attempt is rejected") {
  CoreOptions options;
  options.heartbeat_seconds = 10;
  options.missed_heartbeats = 3;
  Fixture f("name: l\njobs:\n  - {name: a, command: x}\n  - {name: b, command: x}\n", options);
  WorkerId w1 = f.Worker(1), w2 = f.Worker(2);
  CHECK(f.Claim(w1).size() == 2);
  f.core.Started(w1, {{f.J("a"), 1}}, f.now, &f.batch);
  f.now += 20;
  std::vector<JobIndex> stop;
  CHECK(f.core.Heartbeat(w2, f.now, &f.batch, &stop));
  f.core.ExpireLeases(f.now, &f.batch);
  CHECK(f.S("a") == JobStatus::kRunning);  // w1's lease still has 10 s
  f.now += 11;
  f.core.ExpireLeases(f.now, &f.batch);
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.S("b") == JobStatus::kReady);
  CHECK(f.core.job(f.J("a")).attempt == 2);
  CHECK(f.HasEvent("lease_expired"));
  CHECK(f.HasEvent("requeued", "lease expired; attempt 1 abandoned"));
  CHECK_FALSE(f.core.IsLiveWorker(w1));
  CHECK_FALSE(f.core.Heartbeat(w1, f.now, &f.batch, &stop));
  CHECK(f.Finish(w1, "a", 0, JobStatus::kCompleted, "", 1).outcome == CompletionOutcome::kRejected);
  CHECK(f.Claim(w1).empty());  // a dead worker claims nothing
  CHECK(f.Claim(w2).size() == 2);
  CHECK(f.Finish(w2, "a").outcome == CompletionOutcome::kApplied);
  auto attempts = f.core.AttemptsOf(f.J("a"));
  REQUIRE(attempts.size() == 2);
  CHECK(attempts[0]->reason == "abandoned: lease expired");
  CHECK(attempts[1]->attempt == 2);
}

// ExpireLeases walks the workers only once a lease can have run out (next_expiry_): leases
// renewed, workers registered between passes and a restore must still expire on time.
TEST_CASE("leases expire on time however registrations, renewals and passes interleave") {
  CoreOptions options;
  options.heartbeat_seconds = 10;
  options.missed_heartbeats = 3;  // a lease of 30 s
  Fixture f("name: l\njobs:\n  - {name: a, command: x}\n", options);
  std::vector<JobIndex> stop;
  f.now = 0;
  WorkerId w1 = f.Worker(1);  // lease to 30
  f.core.ExpireLeases(1, &f.batch);
  f.now = 5;
  WorkerId w2 = f.Worker(2);  // lease to 35
  CHECK(f.core.Heartbeat(w1, 20, &f.batch, &stop));  // lease to 50
  f.core.ExpireLeases(20, &f.batch);
  f.core.ExpireLeases(31, &f.batch);
  CHECK(f.core.IsLiveWorker(w1));
  CHECK(f.core.IsLiveWorker(w2));
  f.core.ExpireLeases(35.5, &f.batch);
  CHECK(f.core.IsLiveWorker(w1));
  CHECK_FALSE(f.core.IsLiveWorker(w2));
  f.now = 40;
  WorkerId w3 = f.Worker(3);  // lease to 70
  f.core.ExpireLeases(49, &f.batch);
  CHECK(f.core.IsLiveWorker(w1));
  f.core.ExpireLeases(50.5, &f.batch);
  CHECK_FALSE(f.core.IsLiveWorker(w1));
  CHECK(f.core.IsLiveWorker(w3));
  // A restore gives live workers a fresh lease from its own time.
  std::vector<WorkerRecord> workers;
  for (const auto& [id, rec] : f.core.workers()) workers.push_back(rec);
  WorkflowCore restored(1, f.plan, options);
  ChangeBatch batch;
  std::string error;
  REQUIRE_MESSAGE(restored.Restore(f.core.jobs(), f.core.results(), workers, {}, 100, &batch,
                                   &error),
                  error);
  restored.ExpireLeases(129, &batch);
  CHECK(restored.IsLiveWorker(w3));
  restored.ExpireLeases(130.5, &batch);
  CHECK_FALSE(restored.IsLiveWorker(w3));
  CHECK_FALSE(restored.IsLiveWorker(w1));
  // No live worker left, then a new one: its lease still runs out.
  f.core.ExpireLeases(70.5, &f.batch);
  CHECK_FALSE(f.core.IsLiveWorker(w3));
  f.now = 80;
  WorkerId w4 = f.Worker(4);  // lease to 110
  f.core.ExpireLeases(109, &f.batch);
  CHECK(f.core.IsLiveWorker(w4));
  f.core.ExpireLeases(110.5, &f.batch);
  CHECK_FALSE(f.core.IsLiveWorker(w4));
}

TEST_CASE("a leaving worker hands back its claimed jobs unchanged; running ones are abandoned") {
  Fixture f("name: l\njobs:\n  - {name: a, command: x}\n  - {name: b, command: x}\n");
  WorkerId w1 = f.Worker(1), w2 = f.Worker(2);
  CHECK(f.Claim(w1).size() == 2);
  f.core.Started(w1, {{f.J("a"), 1}}, f.now, &f.batch);
  f.core.UnregisterWorker(w1, f.now, &f.batch);
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.S("b") == JobStatus::kReady);
  // a ran (as far as the server knows): a new attempt, the old one recorded as abandoned
  CHECK(f.core.job(f.J("a")).attempt == 2);
  REQUIRE(f.core.AttemptsOf(f.J("a")).size() == 1);
  CHECK(f.core.AttemptsOf(f.J("a"))[0]->reason == "abandoned: worker left");
  // b never started: same attempt, nothing recorded
  CHECK(f.core.job(f.J("b")).attempt == 1);
  CHECK(f.core.AttemptsOf(f.J("b")).empty());
  CHECK(f.HasEvent("released", "worker left before starting it; attempt 1 unchanged"));
  CHECK(f.Finish(w1, "b", 0, JobStatus::kCompleted, "", 1).outcome == CompletionOutcome::kRejected);
  CHECK(f.Claim(w2).size() == 2);
  CHECK(f.Finish(w2, "b").outcome == CompletionOutcome::kApplied);
  CHECK(f.core.AttemptsOf(f.J("b")).size() == 1);
}

TEST_CASE("cancel: every unfinished job, running ones are stopped through the heartbeat") {
  Fixture f(kDiamond);
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.core.Started(w, {{f.J("a"), 1}}, f.now, &f.batch);
  CHECK(f.core.Cancel({}, f.now, &f.batch) == 4);
  for (const char* j : {"a", "b", "c", "d"}) CHECK(f.S(j) == JobStatus::kCanceled);
  std::vector<JobIndex> stop;
  CHECK(f.core.Heartbeat(w, f.now, &f.batch, &stop));
  CHECK(stop == std::vector<JobIndex>{f.J("a")});
  stop.clear();
  f.core.Heartbeat(w, f.now, &f.batch, &stop);
  CHECK(stop.empty());
  // The worker reports the killed attempt: recorded, the state stays canceled.
  CHECK(f.Finish(w, "a", -15, JobStatus::kCanceled, "canceled").outcome ==
        CompletionOutcome::kApplied);
  CHECK(f.S("a") == JobStatus::kCanceled);
  CHECK(f.core.AttemptsOf(f.J("a")).size() == 1);
  CHECK(f.core.IsComplete());
}

TEST_CASE("restart: failed jobs and their canceled dependents come back with attempt+1") {
  Fixture f(R"(
name: r
jobs:
  - {name: a, command: x}
  - {name: b, command: x, depends_on: [a]}
  - {name: c, command: x, depends_on: [b]}
  - {name: ok, command: x}
  - {name: any, command: x, depends_on: [a, ok], cancel_on_blocking_job_failure: false}
)");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 1);
  CHECK(f.S("c") == JobStatus::kCanceled);
  CHECK(f.S("any") == JobStatus::kBlocked);  // still waits for ok
  CHECK(f.core.Restart({}, f.now, &f.batch) == 3);
  CHECK(f.S("a") == JobStatus::kReady);
  CHECK(f.S("b") == JobStatus::kBlocked);
  CHECK(f.S("c") == JobStatus::kBlocked);
  CHECK(f.core.job(f.J("a")).attempt == 2);
  CHECK(f.core.job(f.J("c")).attempt == 2);
  CHECK(f.HasEvent("restarted"));
  f.Finish(w, "ok");
  CHECK(f.S("any") == JobStatus::kBlocked);  // a runs again first
  CHECK(f.Claim(w) == V{"a"});
  f.Finish(w, "a");
  CHECK(f.S("b") == JobStatus::kReady);
  CHECK(f.S("any") == JobStatus::kReady);
  CHECK(f.core.Restart({}, f.now, &f.batch) == 0);
}

TEST_CASE("restart of one job without its failed parent cancels it again") {
  Fixture f("name: r\njobs:\n  - {name: a, command: x}\n  - {name: b, command: x, depends_on: [a]}\n");
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a", 1);
  CHECK(f.core.Restart({f.J("b")}, f.now, &f.batch) == 1);
  CHECK(f.S("b") == JobStatus::kCanceled);
  CHECK(f.S("a") == JobStatus::kFailed);
}

TEST_CASE("group dependencies are counted, not expanded") {
  Fixture f(R"(
name: g
jobs:
  - {name: "m_{i}", command: x, parameters: {i: "1:3"}}
  - {name: strict, command: x, depends_on_regexes: ["^m_"]}
  - {name: tolerant, command: x, depends_on_regexes: ["^m_"], cancel_on_blocking_job_failure: false}
  - {name: after, command: x, depends_on: [strict]}
)");
  REQUIRE(f.plan->dependency_groups.size() == 1);
  WorkerId w = f.Worker(1);
  CHECK(f.Claim(w).size() == 3);
  f.Finish(w, "m_1");
  f.Finish(w, "m_3");
  CHECK(f.S("strict") == JobStatus::kBlocked);
  f.Finish(w, "m_2");
  CHECK(f.S("strict") == JobStatus::kReady);
  CHECK(f.S("tolerant") == JobStatus::kReady);

  Fixture g(R"(
name: g
jobs:
  - {name: "m_{i}", command: x, parameters: {i: "1:3"}}
  - {name: strict, command: x, depends_on_regexes: ["^m_"]}
  - {name: tolerant, command: x, depends_on_regexes: ["^m_"], cancel_on_blocking_job_failure: false}
  - {name: after, command: x, depends_on: [strict]}
)");
  WorkerId w2 = g.Worker(1);
  g.Claim(w2);
  g.Finish(w2, "m_2", 1);
  CHECK(g.S("strict") == JobStatus::kCanceled);
  CHECK(g.S("after") == JobStatus::kCanceled);
  CHECK(g.S("tolerant") == JobStatus::kBlocked);
  g.Finish(w2, "m_1");
  g.Finish(w2, "m_3");
  CHECK(g.S("tolerant") == JobStatus::kReady);
  // Restart the failed member: the group's users come back and wait again.
  CHECK(g.core.Restart({g.J("m_2")}, g.now, &g.batch) == 3);
  CHECK(g.S("strict") == JobStatus::kBlocked);
  CHECK(g.S("tolerant") == JobStatus::kBlocked);
  g.Claim(w2);
  g.Finish(w2, "m_2");
  CHECK(g.S("strict") == JobStatus::kReady);
}

TEST_CASE("claim order: priority, then GPUs, runtime, memory, CPUs, then submission order") {
  Fixture f(R"(
name: order
resource_requirements:
  - {name: gpu, num_cpus: 1, num_gpus: 1}
  - {name: long, num_cpus: 1, runtime: PT5H}
  - {name: big, num_cpus: 1, memory: 8g}
  - {name: wide, num_cpus: 4}
jobs:
  - {name: plain1, command: x}
  - {name: wide, command: x, resource_requirements: wide}
  - {name: big, command: x, resource_requirements: big}
  - {name: long, command: x, resource_requirements: long}
  - {name: gpu, command: x, resource_requirements: gpu}
  - {name: urgent, command: x, priority: 5}
  - {name: plain2, command: x}
)");
  WorkerId w = f.Worker(1);
  CHECK(f.Claim(w) == V{"urgent", "gpu", "long", "big", "wide", "plain1", "plain2"});
}

TEST_CASE("claims pack per node and never exceed what the worker has") {
  Fixture f(R"(
name: pack
resource_requirements:
  - {name: three, num_cpus: 3}
jobs:
  - {name: "j_{i}", command: x, resource_requirements: three, parameters: {i: "1:10"}}
)");
  WorkerId w = f.Worker(1, /*nodes=*/2, /*cpus=*/4);
  auto claimed = f.core.Claim(w, f.Filter(w), f.now, &f.batch);
  REQUIRE(claimed.size() == 2);  // one 3-CPU job per 4-CPU node
  CHECK(claimed[0].nodes != claimed[1].nodes);
  CHECK(f.Claim(w, 0).empty());
  CHECK(f.Claim(w, 3).size() == 2);
}

TEST_CASE("multi-node jobs need whole idle nodes") {
  Fixture f(R"(
name: mn
resource_requirements:
  - {name: two, num_cpus: 1, num_nodes: 2}
jobs:
  - {name: small, command: x, priority: 9}
  - {name: multi, command: x, resource_requirements: two}
)");
  WorkerId w = f.Worker(1, 2, 4);
  auto claimed = f.core.Claim(w, f.Filter(w), f.now, &f.batch);
  // small lands on node 0, so only one idle node is left: multi waits.
  REQUIRE(claimed.size() == 1);
  CHECK(f.plan->jobs[claimed[0].job].name == "small");
  ClaimFilter idle = f.Filter(w);
  claimed = f.core.Claim(w, idle, f.now, &f.batch);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].nodes == std::vector<uint32_t>{0, 1});
}

TEST_CASE("claims respect the scheduler and the remaining walltime") {
  Fixture f(R"(
name: s
slurm_schedulers:
  - {name: a, nodes: 1}
  - {name: b, nodes: 1}
resource_requirements:
  - {name: hour, num_cpus: 1, runtime: PT1H}
  - {name: minute, num_cpus: 1, runtime: PT1M}
jobs:
  - {name: for_a, command: x, scheduler: a, resource_requirements: minute}
  - {name: for_b, command: x, scheduler: b, resource_requirements: minute}
  - {name: anywhere_long, command: x, resource_requirements: hour}
)");
  WorkerId w = f.Worker(1);
  ClaimFilter filter = f.Filter(w);
  filter.scheduler = 0;
  filter.remaining_seconds = 600;
  CHECK(f.Names(f.core.Claim(w, filter, f.now, &f.batch)) == V{"for_a"});
  filter.remaining_seconds = 7200;
  CHECK(f.Names(f.core.Claim(w, filter, f.now, &f.batch)) == V{"anywhere_long"});
  filter.scheduler = UINT32_MAX;
  CHECK(f.Names(f.core.Claim(w, filter, f.now, &f.batch)) == V{"for_b"});
}

TEST_CASE("two workers never get the same job") {
  Fixture f(R"(
name: many
jobs:
  - {name: "j_{i}", command: x, parameters: {i: "1:500"}}
)");
  WorkerId w1 = f.Worker(1, 1, 7), w2 = f.Worker(2, 1, 5);
  std::set<std::string> seen;
  size_t total = 0;
  for (int round = 0; round < 200 && total < 500; ++round) {
    for (WorkerId w : {w1, w2}) {
      for (const auto& name : f.Claim(w, 7)) {
        CHECK(seen.insert(name).second);
        ++total;
        f.Finish(w, name);
      }
    }
  }
  CHECK(total == 500);
  CHECK(f.core.IsComplete());
}

TEST_CASE("actions become due on their triggers") {
  Fixture f(R"(
name: act
slurm_schedulers:
  - {name: s, nodes: 1}
jobs:
  - {name: a, command: x}
  - {name: b, command: x, depends_on: [a]}
actions:
  - {trigger_type: on_workflow_start, action_type: run_commands, commands: ["echo start"]}
  - {trigger_type: on_jobs_ready, action_type: schedule_nodes, scheduler: s, jobs: [b]}
  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [a, b], commands: [x]}
  - {trigger_type: on_workflow_complete, action_type: run_commands, commands: ["echo done"]}
  - {trigger_type: on_worker_start, action_type: run_commands, commands: ["hostname"]}
)");
  CHECK(f.core.DueActions() == std::vector<uint32_t>{0});
  CHECK(f.core.FinishAction(0, ActionStatus::kDone, "ran", f.now, &f.batch));
  CHECK(f.core.DueActions().empty());
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a");
  CHECK(f.core.DueActions() == std::vector<uint32_t>{1});
  f.Claim(w);
  f.Finish(w, "b");
  CHECK(f.core.DueActions() == std::vector<uint32_t>{1, 2, 3});
  CHECK(f.core.action_status(4) == ActionStatus::kWaiting);  // run by workers themselves
}

TEST_CASE("restore rebuilds the same state from what was persisted") {
  Fixture f(kDiamond);
  WorkerId w = f.Worker(1);
  WorkerId gone = f.Worker(2);
  std::vector<JobDynamic> persisted = f.core.jobs();
  auto apply = [&] {
    for (const auto& [j, d] : f.batch.jobs) persisted[j] = d;
  };
  f.batch = {};
  f.Claim(w);
  f.Finish(w, "a");
  f.Claim(gone, 1);  // b, held by a worker that will not come back
  apply();
  std::vector<WorkerRecord> workers;
  for (const auto& [id, rec] : f.core.workers()) workers.push_back(rec);
  workers[0].alive = workers[0].id == w;
  workers[1].alive = workers[1].id == w;
  std::vector<AttemptResult> results;
  for (const auto* r : f.core.AttemptsOf(f.J("a"))) results.push_back(*r);

  WorkflowCore restored(1, f.plan);
  ChangeBatch batch;
  std::string error;
  // (kDiamond has no actions: restoring one is refused, see the next test.)
  bool restored_ok = restored.Restore(persisted, results, workers, {}, f.now + 500, &batch, &error);
  REQUIRE_MESSAGE(restored_ok, error);
  CHECK(restored.job(f.J("a")).status == JobStatus::kCompleted);
  CHECK(restored.job(f.J("b")).status == JobStatus::kReady);  // its worker is gone
  CHECK(restored.job(f.J("b")).attempt == 2);
  CHECK(restored.job(f.J("c")).status == JobStatus::kReady);
  CHECK(restored.job(f.J("d")).status == JobStatus::kBlocked);
  CHECK(restored.AttemptsOf(f.J("a")).size() == 1);
  CHECK(restored.IsLiveWorker(w));  // fresh lease despite 500 s of downtime
  restored.ExpireLeases(f.now + 500 + 1, &batch);
  CHECK(restored.IsLiveWorker(w));
  bool recorded = std::any_of(batch.jobs.begin(), batch.jobs.end(),
                              [&](const auto& e) { return e.first == f.J("b"); });
  CHECK(recorded);
  // The restored core continues where the old one stopped.
  ClaimFilter filter = f.Filter(w);
  auto claimed = restored.Claim(w, filter, f.now + 501, &batch);
  CHECK(claimed.size() == 2);
}

TEST_CASE("restore refuses stored state that contradicts the plan or itself, changing nothing") {
  Fixture f(kDiamond);
  WorkerId w = f.Worker(1);
  f.Claim(w);
  f.Finish(w, "a");  // a: completed at attempt 1, with its result recorded
  std::vector<JobDynamic> jobs = f.core.jobs();
  std::vector<AttemptResult> results;
  for (const auto* r : f.core.AttemptsOf(f.J("a"))) results.push_back(*r);
  std::vector<WorkerRecord> workers;
  for (const auto& [id, rec] : f.core.workers()) workers.push_back(rec);
  auto refused = [&](std::vector<JobDynamic> j, std::vector<AttemptResult> r,
                     std::vector<ActionState> a = {}) {
    WorkflowCore restored(1, f.plan);
    ChangeBatch batch;
    std::string error;
    bool ok = restored.Restore(j, r, workers, a, f.now, &batch, &error);
    CHECK(batch.empty());
    CHECK(restored.jobs().size() == 4);
    for (JobIndex k = 0; k < 4; ++k) CHECK(restored.AttemptsOf(k).empty());
    return ok ? std::string("accepted") : error;
  };
  {
    WorkflowCore restored(1, f.plan);
    ChangeBatch batch;
    std::string error;
    CHECK(restored.Restore(jobs, results, workers, {}, f.now, &batch, &error));
  }
  auto with_job = [&](uint32_t job) {
    auto r = results;
    r[0].job = job;
    return r;
  };
  // A job index past the end, -1 and 2^32 (as the store's old narrowing made them).
  CHECK(refused(jobs, with_job(4)).find("(job 4, attempt 1): the workflow has 4 jobs") !=
        std::string::npos);
  CHECK(refused(jobs, with_job(UINT32_MAX)).find("the workflow has 4 jobs") != std::string::npos);
  // A completed job turned back (its job_log change lost): the recorded result of its current
  // attempt contradicts it; restored, it would run again.
  std::vector<JobDynamic> rolled_back = jobs;
  rolled_back[f.J("a")].status = JobStatus::kRunning;
  rolled_back[f.J("a")].worker = w;
  CHECK(refused(rolled_back, results).find("job 'a' is running at attempt 1") !=
        std::string::npos);
  rolled_back[f.J("a")].status = JobStatus::kReady;
  CHECK(refused(rolled_back, results).find("lost changes") != std::string::npos);
  auto later = results;
  later[0].attempt = 2;
  CHECK(refused(jobs, later).find("(job 0, attempt 2) says the attempt ended") !=
        std::string::npos);
  // Too few job states; an action the plan does not have; an impossible job state.
  CHECK(refused({jobs.begin(), jobs.end() - 1}, results).find("3 job states for a plan of 4") !=
        std::string::npos);
  CHECK(refused(jobs, results, {{7, ActionStatus::kDone, ""}}).find("the plan has 0 actions") !=
        std::string::npos);
  std::vector<JobDynamic> zero = jobs;
  zero[1].attempt = 0;
  CHECK(refused(zero, {}).find("job 1 has an impossible state") != std::string::npos);
}

TEST_CASE("status explains jobs no scheduler can take") {
  Fixture f(R"(
name: why
slurm_schedulers:
  - {name: small, nodes: 2, walltime: "01:00:00"}
resource_requirements:
  - {name: long, num_cpus: 1, runtime: PT2H}
jobs:
  - {name: too_long, command: x, resource_requirements: long}
  - {name: fine, command: x}
)");
  CHECK(f.core.UnclaimableReason(f.J("too_long")) ==
        "runtime 7200 s exceeds the walltime of 'small' (01:00:00)");
  CHECK(f.core.UnclaimableReason(f.J("fine")).empty());
}

TEST_CASE("RunnableCount: a worker stays only for work it can still get") {
  Fixture f(R"(name: w
resource_requirements:
  - {name: big, num_cpus: 8}
  - {name: small, num_cpus: 1}
jobs:
  - {name: huge, command: x, resource_requirements: big}
  - {name: after_huge, command: x, resource_requirements: small, depends_on: [huge]}
  - {name: free, command: x, resource_requirements: small}
  - {name: after_free, command: x, resource_requirements: small, depends_on: [free]}
)");
  WorkerId w = f.Worker(1, 1, 4);  // one 4-CPU node: huge never fits
  // free is ready and fits; after_free may follow once it ran.
  CHECK(f.core.RunnableCount(f.Filter(w)) == 1);
  REQUIRE(f.Claim(w) == std::vector<std::string>{"free"});
  // free is claimed (it counts), and the blocked jobs that fit may come after it.
  CHECK(f.core.RunnableCount(f.Filter(w)) == 3);
  f.Finish(w, "free");
  CHECK(f.S("after_free") == JobStatus::kReady);
  CHECK(f.core.RunnableCount(f.Filter(w)) == 1);
  REQUIRE(f.Claim(w) == std::vector<std::string>{"after_free"});
  f.Finish(w, "after_free");
  // Only huge (fits no node here) and its dependent are left, nothing runs: leave.
  CHECK(f.core.RunnableCount(f.Filter(w)) == 0);
}

// RunnableCount keeps per-shape tallies instead of scanning the jobs (every empty claim asks
// it): after any sequence of claims, results (failures that grow requests), cancels and a
// restore, it must say what a scan of the jobs says.
TEST_CASE("RunnableCount equals a scan of the jobs through claims, growth, cancels, restore") {
  const std::string yaml = R"(name: tally
failure_handlers:
  - name: h
    rules:
      - {reasons: [memory], memory_multiplier: 2, max_retries: 2}
      - {exit_codes: [3], max_retries: 1}
resource_requirements:
  - {name: one, num_cpus: 1, memory: 100m, runtime: PT10S}
  - {name: four, num_cpus: 4, memory: 1g, runtime: PT1H}
  - {name: wide, num_cpus: 2, num_nodes: 2, runtime: PT2M}
jobs:
  - {name: "a_{i}", command: x, failure_handler: h, resource_requirements: one,
     parameters: {i: "1:12"}}
  - {name: "b_{i}", command: x, failure_handler: h, resource_requirements: four,
     depends_on: ["a_{i}"], parameters: {i: "1:12"}}
  - {name: "c_{i}", command: x, resource_requirements: wide, depends_on: ["b_{i}"],
     parameters: {i: "1:6"}}
)";
  auto scan = [](const WorkflowCore& core, const ClaimFilter& filter) {
    auto counts = core.Counts();
    const bool in_flight = counts[static_cast<int>(JobStatus::kClaimed)] +
                               counts[static_cast<int>(JobStatus::kRunning)] > 0;
    uint64_t n = 0;
    for (JobIndex j = 0; j < core.job_count(); ++j) {
      const JobStatus s = core.job(j).status;
      if (IsFinal(s) || (s == JobStatus::kBlocked && !in_flight)) continue;
      const JobShape shape = core.ShapeOf(j);
      if (torc::protocol::CanEverFit(shape.Needs(), filter.nodes) &&
          static_cast<double>(shape.runtime_seconds) <= filter.remaining_seconds)
        ++n;
    }
    return n;
  };
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    Fixture f(yaml);
    std::mt19937 rng(seed);
    const WorkerId small = f.Worker(1, 1, 2), big = f.Worker(2, 2, 8);
    std::vector<ClaimFilter> filters = {f.Filter(small), f.Filter(big)};
    ClaimFilter short_time = f.Filter(big);
    short_time.remaining_seconds = 60;
    filters.push_back(short_time);
    std::unique_ptr<WorkflowCore> restored;
    WorkflowCore* core = &f.core;
    auto check_all = [&] {
      for (const auto& filter : filters)
        REQUIRE(core->RunnableCount(filter) == scan(*core, filter));
    };
    check_all();
    for (int step = 0; step < 200 && !core->IsComplete(); ++step) {
      const WorkerId w = rng() % 2 ? small : big;
      auto claimed = core->Claim(w, f.Filter(w, 1 + rng() % 4), f.now, &f.batch);
      check_all();
      std::vector<AttemptResult> results;
      for (const auto& c : claimed) {
        AttemptResult r;
        r.job = c.job;
        r.attempt = core->job(c.job).attempt;
        switch (rng() % 4) {
          case 0:
            r.status = JobStatus::kFailed;
            r.exit_code = 137;
            r.reason = "memory";  // grows the request (a new shape)
            break;
          case 1:
            r.status = JobStatus::kFailed;
            r.exit_code = 3;
            break;
          default:
            r.status = JobStatus::kCompleted;
        }
        results.push_back(r);
      }
      f.now += 1;
      core->Complete(w, results, f.now, &f.batch);
      check_all();
      if (step % 37 == 36) {
        std::vector<JobIndex> some;
        for (JobIndex j = 0; j < core->job_count(); j += 7 + rng() % 5) some.push_back(j);
        core->Cancel(some, f.now, &f.batch);
        check_all();
      }
      if (step == 50) {  // the tallies are rebuilt from restored state
        std::vector<WorkerRecord> workers;
        for (const auto& [id, rec] : core->workers()) workers.push_back(rec);
        auto next = std::make_unique<WorkflowCore>(1, f.plan);
        ChangeBatch batch;
        std::string error;
        REQUIRE_MESSAGE(next->Restore(core->jobs(), core->results(), workers, {}, f.now, &batch,
                                      &error),
                        error);
        restored = std::move(next);
        core = restored.get();
        check_all();
      }
    }
  }
}
