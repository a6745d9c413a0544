#include "server/problems.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "server/protocol/output_paths.h"
#include "server/sbatch_script.h"

namespace torc::server {
namespace {

constexpr size_t kMaxJobs = 20;

std::string Jobs(size_t n) { return std::to_string(n) + (n == 1 ? " job" : " jobs"); }

std::string Gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

/// The largest node (each resource on its own) and node count the workers reported.
struct LargestNode {
  int64_t cpus = 0, memory_bytes = 0, gpus = 0, nodes = 0;
  bool known = false;
};

LargestNode LargestReported(const WorkflowCore& core) {
  LargestNode m;
  for (const auto& [id, w] : core.workers()) {
    auto r = nlohmann::json::parse(w.resources_json, nullptr, false);
    if (!r.is_object() || !r.contains("nodes") || !r["nodes"].is_array()) continue;
    m.known = true;
    m.nodes = std::max<int64_t>(m.nodes, static_cast<int64_t>(r["nodes"].size()));
    for (const auto& n : r["nodes"]) {
      if (!n.is_object()) continue;
      m.cpus = std::max(m.cpus, n.value("cpus", int64_t{0}));
      m.memory_bytes = std::max(m.memory_bytes, n.value("memory_bytes", int64_t{0}));
      if (n.contains("gpus") && n["gpus"].is_array())
        m.gpus = std::max<int64_t>(m.gpus, static_cast<int64_t>(n["gpus"].size()));
    }
  }
  return m;
}

/// Jobs no scheduler of the plan can ever hold.
void FindCannotRun(const WorkflowCore& core, const spec::Plan& plan, const std::string& wf,
                   std::vector<Problem>* out) {
  Problem cannot{"cannot_run", "", {}};
  size_t stuck = 0;
  std::string first_reason;
  for (JobIndex j = 0; j < core.job_count(); ++j) {
    if (IsFinal(core.job(j).status)) continue;
    std::string why = core.UnclaimableReason(j);
    if (why.empty()) continue;
    if (first_reason.empty()) first_reason = plan.jobs[j].name + ": " + why;
    if (cannot.jobs.size() < kMaxJobs) cannot.jobs.push_back(plan.jobs[j].name);
    ++stuck;
  }
  if (stuck) {
    cannot.message = Jobs(stuck) + " can never run (" + first_reason +
                     "): give them a scheduler whose nodes and walltime hold them, or change "
                     "their resource_requirements, then 'torc restart " + wf + "'";
    out->push_back(std::move(cannot));
  }
}

/// Ready jobs bigger than any node a worker of this workflow had (known once one registered).
void FindCannotFit(const WorkflowCore& core, const spec::Plan& plan, std::vector<Problem>* out) {
  LargestNode largest = LargestReported(core);
  if (!largest.known) return;
  Problem big{"cannot_fit", "", {}};
  size_t n = 0;
  std::string first;
  for (JobIndex j = 0; j < core.job_count(); ++j) {
    if (core.job(j).status != JobStatus::kReady) continue;
    JobShape s = core.ShapeOf(j);
    if (s.cpus <= largest.cpus && s.memory_bytes <= largest.memory_bytes &&
        s.gpus <= largest.gpus && s.nodes <= largest.nodes)
      continue;
    if (first.empty())
      first = plan.jobs[j].name + " asks for " + std::to_string(s.nodes) + " node(s) x " +
              std::to_string(s.cpus) + " CPUs, " + Gib(s.memory_bytes) + ", " +
              std::to_string(s.gpus) +
              " GPUs; the largest a worker had: " + std::to_string(largest.nodes) + " node(s) x " +
              std::to_string(largest.cpus) + " CPUs, " + Gib(largest.memory_bytes) + ", " +
              std::to_string(largest.gpus) + " GPUs";
    if (big.jobs.size() < kMaxJobs) big.jobs.push_back(plan.jobs[j].name);
    ++n;
  }
  if (n) {
    big.message = Jobs(n) + (n == 1 ? " fits" : " fit") + " no node the workers had (" + first +
                  "): lower their "
                  "resource_requirements, or give them a scheduler with bigger nodes "
                  "(partition, gres, mem)";
    out->push_back(std::move(big));
  }
}

/// Allocation requests Slurm refused: the action's, or the last `torc slurm schedule`.
void FindFailedRequests(const WorkflowCore& core, const spec::Plan& plan, const ProblemContext& c,
                        const std::string& wf, std::vector<Problem>* out) {
  for (uint32_t a = 0; a < plan.actions.size(); ++a) {
    const spec::Action& action = plan.actions[a];
    if (action.type != spec::ActionType::kScheduleNodes ||
        core.action_status(a) != ActionStatus::kFailed)
      continue;
    std::string scheduler =
        action.scheduler == spec::kNone ? "" : plan.schedulers[action.scheduler].name;
    out->push_back({"allocation_request_failed",
                    "the allocation request of action " + std::to_string(a) + " (scheduler '" +
                        scheduler + "') failed: " + core.action_detail(a) +
                        ". Fix the scheduler (partition, account, qos...), then 'torc slurm "
                        "schedule " +
                        wf + " --scheduler " + scheduler + "'",
                    {}});
  }
  if (!c.failed_request.empty())
    out->push_back({"allocation_request_failed",
                    "the last allocation request failed: " + c.failed_request +
                        ". If it does not pass, fix the scheduler, then 'torc slurm schedule " +
                        wf + "'",
                    {}});
}

/// No worker connected: the last one left with work undone, or ready jobs with nothing that
/// will run them (no live allocation, no action about to ask for one).
void FindNoCompute(const WorkflowCore& core, const spec::Plan& plan, const ProblemContext& c,
                   const std::string& wf, std::vector<Problem>* out) {
  const uint64_t ready = core.Counts()[static_cast<int>(JobStatus::kReady)];
  bool worker = false, live = false, due = false;
  for (const auto& [id, w] : core.workers()) worker = worker || w.alive;
  for (const auto& a : c.allocations) live = live || a.state == "pending" || a.state == "running";
  // An elastic action that has fired asks for compute itself while ready jobs wait (its
  // autoscale line in torc status says what it does), unless it has given up.
  for (uint32_t a = 0; a < plan.actions.size(); ++a) {
    bool stopped = std::find(c.elastic_stopped.begin(), c.elastic_stopped.end(), a) !=
                   c.elastic_stopped.end();
    due = due || core.action_status(a) == ActionStatus::kDue ||
          (plan.actions[a].elastic() && core.action_status(a) == ActionStatus::kDone && !stopped);
  }
  if (!worker && !c.worker_left.empty()) out->push_back({"worker_left", c.worker_left, {}});
  if (ready > 0 && !worker && !live && !due) {
    Problem none{"no_compute", "", {}};
    for (JobIndex j = 0; j < core.job_count() && none.jobs.size() < kMaxJobs; ++j)
      if (core.job(j).status == JobStatus::kReady) none.jobs.push_back(plan.jobs[j].name);
    if (plan.schedulers.empty())
      none.message = Jobs(ready) + " ready, but the workflow has no slurm_schedulers and no "
                     "worker is connected, so nothing will run them: start one with 'torc worker "
                     "run --workflow " + wf + "' (or run the file with 'torc run'), or submit "
                     "the file with 'torc submit FILE --slurm', which adds the schedulers and "
                     "actions for the cluster (docs/slurm.md)";
    else
      none.message = Jobs(ready) + " ready, but no allocation is pending or running and no "
                     "worker is connected: ask for one with 'torc slurm schedule " + wf +
                     " [--scheduler NAME]'";
    out->push_back(std::move(none));
  }
}

/// The workflow's max_failures is reached: no job starts again until a restart. Said also once
/// every job has ended (the workflow is complete, but not as its author meant).
void FindFailureLimit(const WorkflowCore& core, const spec::Plan& plan, const std::string& wf,
                      std::vector<Problem>* out) {
  if (!core.FailureLimitReached()) return;
  const auto counts = core.Counts();
  const uint64_t failed = counts[static_cast<int>(JobStatus::kFailed)];
  const uint64_t canceled = counts[static_cast<int>(JobStatus::kCanceled)];
  const uint64_t running = counts[static_cast<int>(JobStatus::kRunning)];
  Problem limit{"max_failures", "", {}};
  for (JobIndex j = 0; j < core.job_count() && limit.jobs.size() < kMaxJobs; ++j)
    if (core.job(j).status == JobStatus::kFailed) limit.jobs.push_back(plan.jobs[j].name);
  limit.message = Jobs(failed) + " failed, reaching the workflow's max_failures (" +
                  std::to_string(*plan.max_failures) + "): no further job starts (" +
                  Jobs(canceled) + " canceled" +
                  (running ? ", " + std::to_string(running) + " still running" : "") +
                  "). See why with 'torc jobs list " + wf + " --status failed' and 'torc logs " +
                  wf + " JOB', fix it, then 'torc restart " + wf +
                  " --failed' to run the failed and canceled jobs again (add --memory-multiplier "
                  "or --runtime-multiplier for jobs that ran out)";
  out->push_back(std::move(limit));
}

/// An allocation Slurm runs from which no worker registered for a while: its nodes are held
/// and nothing runs there. Its batch output says why (the nodes cannot reach the server, torc
/// does not start on them, the batch script failed).
void FindSilentAllocations(const WorkflowCore& core, const WorkflowRow& row,
                           const ProblemContext& c, std::vector<Problem>* out) {
  if (c.now <= 0) return;
  // With staggered_start a worker may wait up to the start-up window before it registers.
  const double after = kNoWorkerAfterSeconds +
                       (core.plan().execution.staggered_start ? kMaxStartupWindowSeconds : 0);
  for (const auto& a : c.allocations) {
    if (a.state != "running" || a.started_at <= 0 || c.now - a.started_at < after) continue;
    bool seen = false;
    for (const auto& [id, w] : core.workers()) seen = seen || w.slurm_job_id == a.slurm_job_id;
    if (seen) continue;
    const std::string err =
        protocol::DefaultJobOutputDir(row.working_dir, core.id()) + "/slurm/" + a.slurm_job_id +
        ".err";
    out->push_back({"no_worker",
                    "allocation " + a.slurm_job_id + " has been running for " +
                        std::to_string(static_cast<int64_t>(c.now - a.started_at)) +
                        " s but no torc worker of it has registered: its nodes are held and "
                        "nothing runs there. Its batch output " + err +
                        " says why (usually the nodes cannot reach the server's URL: docs/"
                        "slurm.md); a worker that cannot reach the server gives up after its "
                        "--connect-timeout (300 s) and the allocation ends. 'scancel " +
                        a.slurm_job_id + "' ends it now",
                    {}});
  }
}

}  // namespace

/// A complete workflow whose workers stay by the workflow's choice
/// (compute_node_ignore_workflow_completion): their allocations stay allocated, doing nothing,
/// until the workers have been idle for their idle timeout. Not a stall, but held nodes a user
/// should be told of, with how to end them now.
void FindStayingWorkers(const WorkflowCore& core, const spec::Plan& plan,
                        std::vector<Problem>* out) {
  if (!plan.workers_ignore_completion) return;
  size_t live = 0;
  std::vector<std::string> allocations;
  for (const auto& [id, w] : core.workers()) {
    if (!w.alive) continue;
    ++live;
    if (!w.slurm_job_id.empty() &&
        std::find(allocations.begin(), allocations.end(), w.slurm_job_id) == allocations.end())
      allocations.push_back(w.slurm_job_id);
  }
  if (live == 0) return;
  std::sort(allocations.begin(), allocations.end());
  std::string message = std::to_string(live) + (live == 1 ? " worker stays" : " workers stay") +
                        " after completion, as the workflow asks "
                        "(compute_node_ignore_workflow_completion), for jobs made ready again "
                        "(torc restart), until idle for ";
  message += plan.worker_idle_timeout_seconds > 0
                 ? std::to_string(plan.worker_idle_timeout_seconds) + " s"
                 : std::string("their idle timeout");
  if (!allocations.empty()) {
    std::string ids;
    for (const auto& a : allocations) ids += (ids.empty() ? "" : " ") + a;
    message += "; their allocations hold their nodes meanwhile: scancel " + ids + " ends them now";
  }
  out->push_back({"staying_after_completion", message, {}});
}

std::vector<Problem> FindProblems(const WorkflowEntry& e, const ProblemContext& c) {
  std::vector<Problem> out;
  const WorkflowCore& core = *e.core;
  const spec::Plan& plan = *e.plan;
  const std::string wf = std::to_string(core.id());
  FindFailureLimit(core, plan, wf, &out);
  if (core.IsComplete()) {
    FindStayingWorkers(core, plan, &out);
    return out;
  }
  FindCannotRun(core, plan, wf, &out);
  FindCannotFit(core, plan, &out);
  FindFailedRequests(core, plan, c, wf, &out);
  FindNoCompute(core, plan, c, wf, &out);
  FindSilentAllocations(core, e.row, c, &out);
  return out;
}

}  // namespace torc::server
