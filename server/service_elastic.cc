// The service's side of elastic schedule_nodes actions (server/elastic.h): which have fired,
// what the rule says for each, for the action runner and for the status.
#include "server/service.h"

namespace torc::server {

std::vector<AutoscaleEntry> Service::AutoscaleLocked(WorkflowId id, const WorkflowEntry& e,
                                                     double now) {
  std::vector<AutoscaleEntry> out;
  static const std::vector<AllocationRecord> kNoAllocations;
  static const std::map<std::string, double> kNoneGone;
  for (uint32_t a = 0; a < e.plan->actions.size(); ++a) {
    const spec::Action& action = e.plan->actions[a];
    // Active from the moment its trigger fired (the first request is the action's own
    // execution) for the life of the workflow, restarts of the server included: the
    // action's status is stored.
    if (!action.elastic() || action.type != spec::ActionType::kScheduleNodes ||
        action.scheduler == spec::kNone || e.core->action_status(a) != ActionStatus::kDone)
      continue;
    auto allocations = allocations_.find(id);
    auto gone = workers_gone_at_.find(id);
    auto since = uncovered_since_.find({id, a});
    ElasticInput in = GatherElastic(
        e, a, allocations == allocations_.end() ? kNoAllocations : allocations->second,
        gone == workers_gone_at_.end() ? kNoneGone : gone->second,
        since == uncovered_since_.end() ? 0 : since->second, now);
    AutoscaleEntry entry;
    entry.action = a;
    entry.scheduler = in.scheduler;
    entry.max_allocations = action.max_allocations;
    entry.max_nodes = action.max_nodes;
    entry.ready_jobs = in.ready_jobs;
    entry.decision = DecideElastic(in);
    out.push_back(std::move(entry));
  }
  return out;
}

std::vector<AutoscaleEntry> Service::Autoscale(WorkflowId id, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workflows_.find(id);
  if (it == workflows_.end()) return {};
  return AutoscaleLocked(id, *it->second, now);
}

std::vector<ElasticRequest> Service::TakeElasticRequests(double now) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ElasticRequest> out;
  for (auto& [id, e] : workflows_) {
    for (const auto& entry : AutoscaleLocked(id, *e, now)) {
      auto key = std::make_pair(id, entry.action);
      if (!entry.decision.uncovered) uncovered_since_.erase(key);
      else if (!uncovered_since_.count(key)) uncovered_since_[key] = now;
      if (entry.decision.request <= 0) continue;
      uncovered_since_.erase(key);  // the new allocations are to take them
      out.push_back({{id, entry.action, e->plan, e->row}, entry.decision.request,
                     entry.decision.why});
    }
  }
  return out;
}

}  // namespace torc::server
