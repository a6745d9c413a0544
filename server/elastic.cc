#include "server/elastic.h"

#include <algorithm>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "server/service.h"

namespace torc::server {
namespace {

std::string Count(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

int64_t CeilDiv(int64_t a, int64_t b) { return b <= 0 ? 0 : (a + b - 1) / b; }

/// Allocations in a row, newest first, that ended before any worker of theirs registered.
int FailedStarts(const std::vector<ElasticAllocation>& allocations) {
  int failed = 0;
  for (auto it = allocations.rbegin(); it != allocations.rend(); ++it) {
    if (it->live && !it->workers_gone) continue;  // not ended (yet)
    if (it->registered) break;
    ++failed;
  }
  return failed;
}

/// "2 node(s) x 4 CPUs" for the sentence; "" when the node size is not known.
std::string AllocationSize(const ElasticInput& in) {
  if (in.node_cpus <= 0) return "";
  std::string size = std::to_string(in.nodes_per_allocation) + " node(s) x " +
                     Count(in.node_cpus, "CPU", "CPUs");
  if (in.node_gpus > 0) size += ", " + Count(in.node_gpus, "GPU", "GPUs");
  return size;
}

}  // namespace

ElasticDecision DecideElastic(const ElasticInput& in) {
  ElasticDecision d;
  const int64_t per = std::max<int64_t>(1, in.nodes_per_allocation);
  int64_t live = 0, ending = 0, waiting = 0;
  for (const auto& a : in.allocations) {
    if (!a.live) continue;
    if (a.workers_gone) {
      // Its batch script has ended: it takes no more jobs. Until squeue says it ended it
      // still counts against the limits, for a short while.
      if (a.workers_gone_at > 0 && in.now - a.workers_gone_at < kElasticEndingGraceSeconds)
        ++ending;
      continue;
    }
    ++live;
    ++(a.started ? d.running : d.pending);
    if (!a.claimed) ++waiting;
  }
  d.nodes = (live + ending) * per;
  const std::string sched = "scheduler '" + in.scheduler + "'";
  if (in.finished) {
    d.why = "not asking: the workflow is complete";
    return d;
  }
  if (int failed = FailedStarts(in.allocations); failed >= kElasticMaxFailedStarts) {
    d.stopped = true;
    d.why = "stopped: the last " + std::to_string(failed) +
            " allocations ended before a worker of theirs registered; their batch output "
            "(torc_output/<workflow>/slurm/<job id>.err) says why";
    return d;
  }
  if (in.ready_jobs == 0) {
    d.why = "not asking: no job for " + sched + " is ready";
    if (in.blocked_jobs > 0)
      d.why += " (" + Count(static_cast<int64_t>(in.blocked_jobs), "job waits for its",
                            "jobs wait for their") +
               " dependencies)";
    return d;
  }
  const int64_t ready = static_cast<int64_t>(in.ready_jobs);
  d.needed = 1;  // node size unknown: one allocation is taken to hold them all
  if (in.node_cpus > 0) {
    d.needed = std::max<int64_t>(1, CeilDiv(in.ready_cpus, in.node_cpus * per));
    if (in.ready_gpus > 0 && in.node_gpus > 0)
      d.needed = std::max(d.needed, CeilDiv(in.ready_gpus, in.node_gpus * per));
  }
  const std::string jobs = Count(ready, "ready job", "ready jobs");
  const int64_t uncovered = d.needed - waiting;
  if (uncovered <= 0) {
    d.why = "not asking: " + Count(waiting, "allocation", "allocations") +
            " pending or starting will take the " + jobs;
    return d;
  }
  d.uncovered = true;
  int64_t room = in.max_allocations - (live + ending);
  if (room <= 0) {
    d.why = "not asking: " + std::to_string(live + ending) + " allocations pending or running, " +
            "max_allocations " + std::to_string(in.max_allocations) + " (" + jobs + " wait)";
    return d;
  }
  if (in.max_nodes > 0 && (in.max_nodes - d.nodes) / per < room) {
    room = (in.max_nodes - d.nodes) / per;
    if (room <= 0) {
      d.why = "not asking: the live allocations have " + std::to_string(d.nodes) +
              " nodes, max_nodes " + std::to_string(in.max_nodes) + " (" + jobs + " wait)";
      return d;
    }
  }
  const std::string need = jobs + " need about " + Count(d.needed, "allocation", "allocations") +
                           (in.node_cpus > 0 ? " of " + AllocationSize(in) : "") +
                           (waiting > 0 ? ", " + std::to_string(waiting) + " pending or starting"
                                        : "");
  // With allocations at work, a job that has just become ready is usually claimed at once.
  if (live > 0 && (in.uncovered_since <= 0 || in.now - in.uncovered_since < kElasticSettleSeconds)) {
    d.why = "about to ask: " + need + " (if they stay unclaimed)";
    return d;
  }
  d.request = std::min(uncovered, room);
  d.why = "asking for " + std::to_string(d.request) + " more: " + need;
  return d;
}

ElasticInput GatherElastic(const WorkflowEntry& e, uint32_t action_index,
                           const std::vector<AllocationRecord>& allocations,
                           const std::map<std::string, double>& workers_gone_at,
                           double uncovered_since, double now) {
  const spec::Plan& plan = *e.plan;
  const WorkflowCore& core = *e.core;
  const spec::Action& action = plan.actions[action_index];
  const spec::SlurmScheduler& scheduler = plan.schedulers[action.scheduler];
  ElasticInput in;
  in.scheduler = scheduler.name;
  in.max_allocations = action.max_allocations;
  in.max_nodes = action.max_nodes;
  in.nodes_per_allocation = scheduler.nodes;
  in.finished = core.IsComplete();
  in.uncovered_since = uncovered_since;
  in.now = now;

  std::unordered_map<std::string, size_t> mine;  // Slurm job id -> index in in.allocations
  std::unordered_map<std::string, bool> same_scheduler;
  for (const auto& r : allocations) {
    if (r.scheduler == scheduler.name) same_scheduler[r.slurm_job_id] = true;
    if (r.action != action_index) continue;
    ElasticAllocation a;
    a.slurm_job_id = r.slurm_job_id;
    a.live = r.state == "pending" || r.state == "running";
    a.started = r.state == "running";
    a.submitted_at = r.submitted_at;
    mine[r.slurm_job_id] = in.allocations.size();
    in.allocations.push_back(a);
  }
  std::vector<int> alive(in.allocations.size(), 0);
  std::unordered_map<WorkerId, size_t> worker_allocation;
  for (const auto& [id, w] : core.workers()) {
    if (w.slurm_job_id.empty() || !same_scheduler.count(w.slurm_job_id)) continue;
    // What one node of this scheduler's allocations holds, as its workers reported it.
    auto r = nlohmann::json::parse(w.resources_json, nullptr, false);
    if (r.is_object() && r.contains("nodes") && r["nodes"].is_array())
      for (const auto& n : r["nodes"]) {
        if (!n.is_object()) continue;
        in.node_cpus = std::max(in.node_cpus, n.value("cpus", int64_t{0}));
        if (n.contains("gpus") && n["gpus"].is_array())
          in.node_gpus = std::max<int64_t>(in.node_gpus, static_cast<int64_t>(n["gpus"].size()));
      }
    auto it = mine.find(w.slurm_job_id);
    if (it == mine.end()) continue;
    ElasticAllocation& a = in.allocations[it->second];
    a.registered = true;
    if (!w.alive) continue;
    ++alive[it->second];
    if (now - w.registered_at >= kElasticClaimGraceSeconds) a.claimed = true;
    worker_allocation[id] = it->second;
  }
  for (size_t i = 0; i < in.allocations.size(); ++i) {
    ElasticAllocation& a = in.allocations[i];
    a.started = a.started || a.registered;
    a.workers_gone = a.registered && alive[i] == 0;
    if (auto g = workers_gone_at.find(a.slurm_job_id); a.workers_gone && g != workers_gone_at.end())
      a.workers_gone_at = g->second;
  }

  for (JobIndex j = 0; j < core.job_count(); ++j) {
    const JobDynamic& d = core.job(j);
    if ((d.status == JobStatus::kClaimed || d.status == JobStatus::kRunning) && d.worker != 0) {
      if (auto it = worker_allocation.find(d.worker); it != worker_allocation.end())
        in.allocations[it->second].claimed = true;
      continue;
    }
    if (d.status != JobStatus::kReady && d.status != JobStatus::kBlocked) continue;
    const spec::Job& job = plan.jobs[j];
    if (!action.jobs.empty() && !std::binary_search(action.jobs.begin(), action.jobs.end(), j))
      continue;
    bool holds = job.scheduler == action.scheduler ||
                 (job.scheduler == spec::kNone && spec::CannotHold(plan, job, scheduler).empty());
    if (!holds) continue;
    if (d.status == JobStatus::kBlocked) {
      ++in.blocked_jobs;
      continue;
    }
    const JobShape shape = core.ShapeOf(j);
    // A job larger than the nodes the workers reported fits none of them (torc status says
    // so as cannot_fit): more allocations of the same nodes would not run it.
    if (in.node_cpus > 0 && (shape.cpus > in.node_cpus || shape.gpus > in.node_gpus)) continue;
    ++in.ready_jobs;
    in.ready_cpus += shape.cpus * shape.nodes;
    in.ready_gpus += shape.gpus * shape.nodes;
  }
  return in;
}

}  // namespace torc::server
