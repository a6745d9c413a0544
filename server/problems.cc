#include "server/problems.h"

namespace torc::server {
namespace {

constexpr size_t kMaxJobs = 20;

std::string Jobs(size_t n) { return std::to_string(n) + (n == 1 ? " job" : " jobs"); }

}  // namespace

std::vector<Problem> FindProblems(const WorkflowEntry& e, const ProblemContext& c) {
  std::vector<Problem> out;
  const WorkflowCore& core = *e.core;
  const spec::Plan& plan = *e.plan;
  if (core.IsComplete()) return out;
  const std::string wf = std::to_string(core.id());

  // Jobs no scheduler of the plan can ever hold.
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
    out.push_back(std::move(cannot));
  }

  // Allocation requests Slurm refused: the action's, or the last `torc slurm schedule`.
  for (uint32_t a = 0; a < plan.actions.size(); ++a) {
    const spec::Action& action = plan.actions[a];
    if (action.type != spec::ActionType::kScheduleNodes ||
        core.action_status(a) != ActionStatus::kFailed)
      continue;
    std::string scheduler =
        action.scheduler == spec::kNone ? "" : plan.schedulers[action.scheduler].name;
    out.push_back({"allocation_request_failed",
                   "the allocation request of action " + std::to_string(a) + " (scheduler '" +
                       scheduler + "') failed: " + core.action_detail(a) +
                       ". Fix the scheduler (partition, account, qos...), then 'torc slurm "
                       "schedule " + wf + " --scheduler " + scheduler + "'",
                   {}});
  }
  if (!c.failed_request.empty())
    out.push_back({"allocation_request_failed",
                   "the last 'torc slurm schedule' failed: " + c.failed_request, {}});

  // Ready jobs and nothing that will run them: no worker, no live allocation, no action
  // about to ask for one.
  const uint64_t ready = core.Counts()[static_cast<int>(JobStatus::kReady)];
  bool worker = false, live = false, due = false;
  for (const auto& [id, w] : core.workers()) worker = worker || w.alive;
  for (const auto& a : c.allocations) live = live || a.state == "pending" || a.state == "running";
  for (uint32_t a = 0; a < plan.actions.size(); ++a)
    due = due || core.action_status(a) == ActionStatus::kDue;
  if (ready > 0 && !worker && !live && !due) {
    Problem none{"no_compute", "", {}};
    for (JobIndex j = 0; j < core.job_count() && none.jobs.size() < kMaxJobs; ++j)
      if (core.job(j).status == JobStatus::kReady) none.jobs.push_back(plan.jobs[j].name);
    if (plan.schedulers.empty())
      none.message = Jobs(ready) + " ready, but the workflow has no slurm_schedulers and no "
                     "worker is connected, so nothing will run them: start one with 'torc worker "
                     "run --workflow " + wf + "' (or run the file with 'torc run'), or add "
                     "slurm_schedulers and schedule_nodes actions";
    else
      none.message = Jobs(ready) + " ready, but no allocation is pending or running and no "
                     "worker is connected: ask for one with 'torc slurm schedule " + wf +
                     " [--scheduler NAME]'";
    out.push_back(std::move(none));
  }
  return out;
}

}  // namespace torc::server
