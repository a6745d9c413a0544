// The elastic rule (server/elastic.h) as a pure function: how many allocations an elastic
// schedule_nodes action asks for, given its limits, the ready work and its allocations.
#include <doctest/doctest.h>

#include "server/elastic.h"

using namespace torc::server;

namespace {

constexpr double kNow = 10'000;

/// An action with max_allocations 3 of a 1-node scheduler whose nodes have 4 CPUs, and
/// `ready` ready 1-CPU jobs.
ElasticInput Input(uint64_t ready, int64_t node_cpus = 4) {
  ElasticInput in;
  in.scheduler = std::string(1, 's');  // (= "s": g++ -O2 sees a false -Wrestrict in that)
  in.max_allocations = 3;
  in.nodes_per_allocation = 1;
  in.ready_jobs = ready;
  in.ready_cpus = static_cast<int64_t>(ready);
  in.node_cpus = node_cpus;
  in.now = kNow;
  return in;
}

ElasticAllocation Pending() {
  ElasticAllocation a;
  a.live = true;
  a.submitted_at = kNow - 20;
  return a;
}

/// Started, its worker registered long enough ago to have claimed what fits it.
ElasticAllocation Working() {
  ElasticAllocation a = Pending();
  a.started = a.registered = a.claimed = true;
  return a;
}

/// Started (squeue RUNNING, or its worker registered a moment ago) but nothing claimed yet.
ElasticAllocation Starting() {
  ElasticAllocation a = Pending();
  a.started = true;
  return a;
}

/// Ended (squeue said so); `registered`: a worker of it ran.
ElasticAllocation Ended(bool registered = true) {
  ElasticAllocation a;
  a.registered = registered;
  a.started = registered;
  a.submitted_at = kNow - 100;
  return a;
}

/// Its batch script ended (every worker left) `ago` seconds ago; squeue has not said so yet.
ElasticAllocation WorkersGone(double ago) {
  ElasticAllocation a = Working();
  a.claimed = false;
  a.workers_gone = true;
  a.workers_gone_at = kNow - ago;
  return a;
}

}  // namespace

TEST_CASE("elastic: the first request covers the ready jobs, within max_allocations") {
  // Node size unknown (no worker yet): one allocation is taken to hold every ready job.
  ElasticDecision d = DecideElastic(Input(60, /*node_cpus=*/0));
  CHECK(d.request == 1);
  CHECK(d.why.find("asking for 1 more: 60 ready jobs need about 1 allocation") == 0);
  // Known: 60 one-CPU jobs fill 15 allocations of 4 CPUs; 3 at most.
  d = DecideElastic(Input(60));
  CHECK(d.needed == 15);
  CHECK(d.request == 3);
  CHECK(d.why.find("asking for 3 more: 60 ready jobs need about 15 allocations of 1 node(s) x "
                   "4 CPUs") == 0);
  // Few jobs: only what they fill.
  d = DecideElastic(Input(5));
  CHECK(d.request == 2);
  d = DecideElastic(Input(1));
  CHECK(d.request == 1);
}

TEST_CASE("elastic: never above max_allocations or max_nodes") {
  ElasticInput in = Input(100);
  in.allocations = {Working(), Working(), Pending()};
  in.uncovered_since = kNow - 60;
  ElasticDecision d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK(d.uncovered);
  CHECK(d.pending == 1);
  CHECK(d.running == 2);
  CHECK(d.why == "not asking: 3 allocations pending or running, max_allocations 3 (100 ready "
                 "jobs wait)");
  // Room for 7 more allocations, but max_nodes: allocations of 2 nodes, 7 nodes live of 9.
  in.max_allocations = 10;
  in.nodes_per_allocation = 2;
  in.max_nodes = 9;
  in.allocations = {Working(), Working(), Working()};
  d = DecideElastic(in);
  CHECK(d.nodes == 6);
  CHECK(d.request == 1);  // (9 - 6) / 2
  in.max_nodes = 7;
  d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK(d.why == "not asking: the live allocations have 6 nodes, max_nodes 7 (100 ready jobs "
                 "wait)");
  // Over many looks with the allocations it asked for added each time, the count never
  // passes the limits.
  for (int64_t max_nodes : {0, 3, 5}) {
    ElasticInput grow = Input(1000);
    grow.max_allocations = 4;
    grow.max_nodes = max_nodes;
    for (int look = 0; look < 10; ++look) {
      ElasticDecision g = DecideElastic(grow);
      for (int64_t k = 0; k < g.request; ++k) grow.allocations.push_back(Working());
      int64_t live = static_cast<int64_t>(grow.allocations.size());
      CHECK(live <= 4);
      if (max_nodes > 0) CHECK(live <= max_nodes);
      grow.uncovered_since = g.uncovered ? kNow - 60 : 0;
    }
  }
}

TEST_CASE("elastic: never for blocked jobs") {
  ElasticInput in = Input(0);
  in.blocked_jobs = 40;
  ElasticDecision d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK_FALSE(d.uncovered);
  CHECK(d.why == "not asking: no job for scheduler 's' is ready (40 jobs wait for their "
                 "dependencies)");
}

TEST_CASE("elastic: stops when the ready jobs are covered") {
  // Two pending allocations of 4 CPUs take 8 ready one-CPU jobs.
  ElasticInput in = Input(8);
  in.allocations = {Pending(), Pending()};
  ElasticDecision d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK_FALSE(d.uncovered);
  CHECK(d.why == "not asking: 2 allocations pending or starting will take the 8 ready jobs");
  // A ninth job is one allocation more, once it has stayed unclaimed a moment.
  in = Input(9);
  in.allocations = {Pending(), Pending()};
  d = DecideElastic(in);
  CHECK(d.uncovered);
  CHECK(d.request == 0);
  CHECK(d.why.find("about to ask: 9 ready jobs need about 3 allocations") == 0);
  in.uncovered_since = kNow - kElasticSettleSeconds;
  d = DecideElastic(in);
  CHECK(d.request == 1);
  // Node size unknown: one pending allocation is taken to hold them all.
  in = Input(50, 0);
  in.allocations = {Pending()};
  in.uncovered_since = kNow - 60;
  CHECK(DecideElastic(in).request == 0);
  // The workflow is complete: nothing more, whatever else holds.
  in = Input(50);
  in.finished = true;
  d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK(d.why == "not asking: the workflow is complete");
}

TEST_CASE("elastic: a started allocation whose worker has not claimed yet is still to take jobs") {
  // 4 ready jobs, one allocation Slurm started (squeue RUNNING) whose worker has not claimed:
  // it will take them, so no second one.
  ElasticInput in = Input(4);
  in.allocations = {Starting()};
  in.uncovered_since = kNow - 60;
  ElasticDecision d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK(d.running == 1);
  CHECK(d.why == "not asking: 1 allocation pending or starting will take the 4 ready jobs");
  // Once it has claimed (it holds 4 jobs), 4 ready jobs left over need one more.
  in.allocations = {Working()};
  d = DecideElastic(in);
  CHECK(d.request == 1);
}

TEST_CASE("elastic: asks again after allocations end with ready work left") {
  ElasticInput in = Input(6);
  in.allocations = {Ended(), Ended(), Ended()};
  ElasticDecision d = DecideElastic(in);
  CHECK(d.pending + d.running == 0);
  CHECK(d.request == 2);  // no live allocation: at once
  // Workers all left, squeue not asked yet: as good as ended for the ready jobs; for the limit
  // it still counts a few seconds (Slurm is finishing it).
  in.allocations = {Working(), Working(), WorkersGone(1)};
  in.uncovered_since = kNow - 60;
  d = DecideElastic(in);
  CHECK(d.running == 2);
  CHECK(d.request == 0);
  CHECK(d.why.find("not asking: 3 allocations pending or running, max_allocations 3") == 0);
  in.allocations = {Working(), Working(), WorkersGone(kElasticEndingGraceSeconds)};
  d = DecideElastic(in);
  CHECK(d.request == 1);
  // Gone at a time not known (a server restart): ended.
  in.allocations = {Working(), Working(), WorkersGone(kNow)};
  in.allocations.back().workers_gone_at = 0;
  CHECK(DecideElastic(in).request == 1);
}

TEST_CASE("elastic: stops after allocations in a row ended before a worker registered") {
  ElasticInput in = Input(10);
  in.allocations = {Ended(), Ended(false), Ended(false)};
  CHECK(DecideElastic(in).request > 0);  // two failed starts: try again
  in.allocations.push_back(Ended(false));
  ElasticDecision d = DecideElastic(in);
  CHECK(d.request == 0);
  CHECK(d.why.find("stopped: the last 3 allocations ended before a worker of theirs "
                   "registered") == 0);
}

TEST_CASE("elastic: GPU jobs are counted against the GPUs of a node") {
  ElasticInput in = Input(0);
  in.ready_jobs = 4;
  in.ready_cpus = 4;
  in.ready_gpus = 4;
  in.node_cpus = 16;
  in.node_gpus = 2;
  in.max_allocations = 5;
  ElasticDecision d = DecideElastic(in);
  CHECK(d.needed == 2);
  CHECK(d.request == 2);
}
