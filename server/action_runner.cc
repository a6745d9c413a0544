#include "server/action_runner.h"

#include "server/data_dir.h"

#include <sys/stat.h>

#include <fstream>

namespace torc::server {
namespace {

// Slurm's states mapped to torc's allocation states.
std::string AllocationState(const std::string& slurm) {
  if (slurm == "PENDING" || slurm == "CONFIGURING" || slurm == "REQUEUED") return "pending";
  if (slurm == "RUNNING" || slurm == "COMPLETING" || slurm == "SUSPENDED") return "running";
  if (slurm == "COMPLETED") return "done";
  if (slurm == "CANCELLED") return "canceled";
  return "failed";  // FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY, BOOT_FAIL, ...
}

}  // namespace

void Wakeup::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  cv_.notify_one();
}

void Wakeup::Wait(std::chrono::milliseconds max) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, max, [this] { return notified_ || closed_; });
  notified_ = false;
}

void Wakeup::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

std::string ActionRunner::OutputDir(const DueAction& due) const {
  std::string base = due.row.working_dir.empty() ? "." : due.row.working_dir;
  return base + "/torc_output/" + std::to_string(due.workflow);
}

bool ActionRunner::Refused(const DueAction& due, std::string* why) const {
  if (options_.only_owner.empty() || due.row.owner == options_.only_owner) return false;
  *why = "not run: a multi-user server runs no commands and submits no allocations for a "
         "workflow of another user ('" + due.row.owner + "'); see docs/security.md";
  return true;
}

void ActionRunner::Execute(const DueAction& due, double now) {
  const spec::Action& action = due.plan->actions[due.index];
  if (std::string why; Refused(due, &why)) {
    service_->FinishAction(due.workflow, due.index, ActionStatus::kFailed, why, now);
    return;
  }
  std::string out_dir = OutputDir(due);
  std::string ignored;
  MakeDirectories(out_dir + "/slurm", 0755, &ignored);
  if (action.type == spec::ActionType::kRunCommands) {
    std::string log = out_dir + "/action_" + std::to_string(due.index) + ".log";
    std::ofstream out(log, std::ios::app);
    for (const auto& command : action.commands) {
      std::string output;
      int rc = RunCommand({"bash", "-c", "cd " + ShellQuote(due.row.working_dir) + " && " + command},
                          &output, 3600);
      out << "$ " << command << "\n" << output;
      if (rc != 0) {
        service_->FinishAction(due.workflow, due.index, ActionStatus::kFailed,
                               "'" + command + "' exited " + std::to_string(rc) + "; see " + log,
                               now);
        return;
      }
    }
    service_->FinishAction(due.workflow, due.index, ActionStatus::kDone,
                           std::to_string(action.commands.size()) + " command(s) ran", now);
    return;
  }
  const spec::SlurmScheduler& scheduler = due.plan->schedulers[action.scheduler];
  std::string ids, error;
  if (!SubmitAllocations(due, scheduler, action.num_allocations, action.start_one_worker_per_node,
                         "action_" + std::to_string(due.index), now, &ids, &error))
    service_->FinishAction(due.workflow, due.index, ActionStatus::kFailed,
                           error + (ids.empty() ? "" : " (submitted before: " + ids + ")"), now);
  else
    service_->FinishAction(due.workflow, due.index, ActionStatus::kDone, "slurm jobs " + ids, now);
}

bool ActionRunner::SubmitAllocations(const DueAction& due, const spec::SlurmScheduler& scheduler,
                                     int64_t count, bool one_worker_per_node,
                                     const std::string& script_name, double now,
                                     std::string* ids, std::string* error) {
  if (Refused(due, error)) return false;
  std::string out_dir = OutputDir(due);
  std::string ignored;
  MakeDirectories(out_dir + "/slurm", 0755, &ignored);
  ScriptContext ctx;
  ctx.torc_binary = options_.torc_binary;
  ctx.api_url = options_.api_url;
  ctx.data_dir = options_.data_dir;
  ctx.workflow_id = due.workflow;
  ctx.output_dir = out_dir;
  ctx.working_dir = due.row.working_dir;
  ctx.one_worker_per_node = one_worker_per_node;
  ctx.srun = slurm_.paths().srun;
  std::string path = out_dir + "/slurm/" + script_name + ".sh";
  {
    std::ofstream script(path);
    script << SbatchScript(*due.plan, scheduler, ctx);
  }
  chmod(path.c_str(), 0755);
  for (int64_t k = 0; k < count; ++k) {
    std::string id;
    if (!slurm_.Submit(path, &id, error)) return false;
    *ids += (ids->empty() ? "" : " ") + id;
    service_->AddAllocation(due.workflow, {id, scheduler.name, due.index, "pending", now});
  }
  return true;
}

void ActionRunner::Reconcile(double now) {
  auto live = service_->LiveAllocations();
  if (live.empty()) return;
  std::vector<std::string> ids;
  for (const auto& [wf, id] : live) ids.push_back(id);
  std::map<std::string, std::string> states;
  std::string error;
  if (!slurm_.Query(ids, &states, &error)) return;  // try again next time
  for (const auto& [wf, id] : live) {
    auto it = states.find(id);
    // Gone from squeue altogether: it ended long ago (or was purged).
    std::string state = it == states.end() ? "done" : AllocationState(it->second);
    service_->UpdateAllocation(wf, id, state, now);
  }
}

void ActionRunner::Tick(double now) {
  for (const auto& due : service_->TakeDueActions()) Execute(due, now);
  for (const auto& [request, due] : service_->TakeScheduleRequests()) {
    std::string ids, error;
    SubmitAllocations(due, due.plan->schedulers[request.scheduler], request.num_allocations,
                      request.one_worker_per_node, "scheduled", now, &ids, &error);
  }
  auto cancel = service_->TakeScancelRequests();
  if (!cancel.empty()) {
    std::string error;
    slurm_.Cancel(cancel, &error);
  }
  if (now >= next_reconcile_ || service_->TakeReconcileRequest()) {
    next_reconcile_ = now + options_.reconcile_seconds;
    Reconcile(now);
  }
}

}  // namespace torc::server
