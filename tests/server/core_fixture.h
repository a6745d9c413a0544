// The scheduling core's test fixture: a core over a plan written as YAML, with helpers that
// act as workers (register, claim, report). Shared by core_test.cc and recovery_test.cc.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server/core/core.h"

namespace torc::server::testing {

inline std::shared_ptr<const torc::spec::Plan> PlanOf(const std::string& yaml) {
  auto r = torc::spec::ParsePlan(yaml, "core_test.yaml");
  std::string errors;
  for (const auto& e : r.errors) errors += e.ToString() + "\n";
  REQUIRE_MESSAGE(r.ok(), errors);
  return std::make_shared<const torc::spec::Plan>(std::move(*r.plan));
}

/// A core plus helpers to act as workers.
struct Fixture {
  explicit Fixture(const std::string& yaml, CoreOptions options = {})
      : plan(PlanOf(yaml)), core(1, plan, options) {
    core.Start(now, &batch);
  }

  JobIndex J(const std::string& name) const {
    for (JobIndex j = 0; j < plan->jobs.size(); ++j)
      if (plan->jobs[j].name == name) return j;
    FAIL("no job " << name);
    return 0;
  }
  JobStatus S(const std::string& name) const { return core.job(J(name)).status; }

  WorkerId Worker(WorkerId id, int nodes = 1, int64_t cpus = 64) {
    WorkerRecord w;
    w.id = id;
    w.hostname = "host" + std::to_string(id);
    core.RegisterWorker(w, now, &batch);
    node_count[id] = nodes;
    node_cpus[id] = cpus;
    return id;
  }

  ClaimFilter Filter(WorkerId w, uint32_t max_jobs = 1000) {
    ClaimFilter f;
    f.max_jobs = max_jobs;
    for (int n = 0; n < node_count[w]; ++n) {
      NodeCapacity c;
      c.free_cpus = c.total_cpus = node_cpus[w];
      c.free_memory_bytes = c.total_memory_bytes = 1LL << 40;
      c.free_gpus = c.total_gpus = 8;
      c.idle = true;
      f.nodes.push_back(c);
    }
    return f;
  }

  std::vector<std::string> Claim(WorkerId w, uint32_t max_jobs = 1000) {
    return Names(core.Claim(w, Filter(w, max_jobs), now, &batch));
  }
  std::vector<std::string> Names(const std::vector<ClaimedJob>& claimed) {
    std::vector<std::string> out;
    for (const auto& c : claimed) out.push_back(plan->jobs[c.job].name);
    return out;
  }

  CompletionAnswer Finish(WorkerId w, const std::string& name, int exit_code = 0,
                          JobStatus status = JobStatus::kCompleted, std::string reason = "",
                          int attempt = 0) {
    AttemptResult r;
    r.job = J(name);
    r.attempt = attempt ? static_cast<uint32_t>(attempt) : core.job(r.job).attempt;
    r.status = exit_code != 0 && status == JobStatus::kCompleted ? JobStatus::kFailed : status;
    r.exit_code = exit_code;
    r.reason = std::move(reason);
    return core.Complete(w, {r}, now, &batch)[0];
  }

  bool HasEvent(const std::string& kind, const std::string& detail_part = "") const {
    for (const auto& e : batch.events)
      if (e.kind == kind && e.detail.find(detail_part) != std::string::npos) return true;
    return false;
  }

  double now = 1000;
  ChangeBatch batch;
  std::shared_ptr<const torc::spec::Plan> plan;
  WorkflowCore core;
  std::map<WorkerId, int> node_count;
  std::map<WorkerId, int64_t> node_cpus;
};

}  // namespace torc::server::testing
