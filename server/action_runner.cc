#include "server/action_runner.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "server/protocol/output_paths.h"
#include "server/util/data_dir.h"

namespace torc::server {

std::string AllocationState(const std::string& slurm) {
  // Not an end: the job waits to (re)start, or runs, or is between the two. Its workers
  // keep their leases (a requeued job's workers are gone, and their leases run out).
  static const std::set<std::string> kPending = {"PENDING", "CONFIGURING", "REQUEUED",
                                                 "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                                                 "SPECIAL_EXIT"};
  static const std::set<std::string> kRunning = {"RUNNING", "COMPLETING", "SIGNALING", "STOPPED",
                                                 "SUSPENDED", "RESIZING", "STAGE_OUT"};
  static const std::set<std::string> kFailed = {"FAILED", "TIMEOUT", "NODE_FAIL",
                                                "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
                                                "REVOKED"};
  if (kPending.count(slurm)) return "pending";
  if (kRunning.count(slurm)) return "running";
  if (slurm == "COMPLETED") return "done";
  if (slurm == "CANCELLED") return "canceled";
  // Another job took its nodes (PreemptMode=CANCEL; in REQUEUE mode it is PENDING again).
  if (slurm == "PREEMPTED") return "preempted";
  if (kFailed.count(slurm)) return "failed";
  return "";  // a state this torc does not know: no change, rather than a wrong end
}

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
  return protocol::DefaultJobOutputDir(due.row.working_dir, due.workflow);
}

bool ActionRunner::Refused(const DueAction& due, std::string* why) const {
  if (options_.only_owner.empty() || due.row.owner == options_.only_owner) return false;
  *why = "not run: a multi-user server runs no commands and submits no allocations for a "
         "workflow of another user ('" + due.row.owner + "'); see docs/security.md";
  return true;
}

namespace {

/// The allocations a schedule_nodes action asks for (an elastic one: one of them).
AllocationOrder OrderOf(const DueAction& due, int64_t count = 0) {
  const spec::Action& action = due.plan->actions[due.index];
  AllocationOrder order;
  order.scheduler = action.scheduler;
  order.count = count > 0 ? count : action.num_allocations;
  order.one_worker_per_node = action.start_one_worker_per_node;
  order.idle_timeout_seconds = action.idle_timeout_seconds;
  order.max_parallel_jobs = action.max_parallel_jobs;
  order.script_name = "action_" + std::to_string(due.index);
  return order;
}

}  // namespace

void ActionRunner::Execute(const DueAction& due, double now) {
  const spec::Action& action = due.plan->actions[due.index];
  if (std::string why; Refused(due, &why)) {
    service_->FinishAction(due.workflow, due.index, ActionStatus::kFailed, why, now);
    return;
  }
  std::string out_dir = OutputDir(due);
  std::string ignored;
  util::MakeDirectories(out_dir + "/slurm", 0755, &ignored);
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
  if (action.elastic()) {
    // From now on the elastic pass asks for its allocations, this very tick the first time.
    service_->FinishAction(due.workflow, due.index, ActionStatus::kDone,
                           "elastic: allocations follow the ready jobs, up to " +
                               std::to_string(action.max_allocations) + " at once",
                           now);
    next_elastic_ = now;
    return;
  }
  std::string ids, error;
  if (!SubmitAllocations(due, OrderOf(due), now, &ids, &error)) {
    service_->NoteScheduleFailure(due.workflow, "");  // the failed action is the problem now
    service_->FinishAction(due.workflow, due.index, ActionStatus::kFailed,
                           error + (ids.empty() ? "" : " (submitted before: " + ids + ")"), now);
  } else
    service_->FinishAction(due.workflow, due.index, ActionStatus::kDone, "slurm jobs " + ids, now);
}

bool ActionRunner::SubmitAllocations(const DueAction& due, const AllocationOrder& order,
                                     double now, std::string* ids, std::string* error) {
  if (Refused(due, error)) return false;
  const spec::SlurmScheduler& scheduler = due.plan->schedulers[order.scheduler];
  std::string out_dir = OutputDir(due);
  std::string ignored;
  util::MakeDirectories(out_dir + "/slurm", 0755, &ignored);
  ScriptContext ctx;
  ctx.torc_binary = options_.torc_binary;
  ctx.api_url = options_.api_url;
  ctx.data_dir = options_.data_dir;
  ctx.workflow_id = due.workflow;
  ctx.output_dir = out_dir;
  ctx.working_dir = due.row.working_dir;
  ctx.one_worker_per_node = order.one_worker_per_node;
  ctx.srun = slurm_.paths().srun;
  // The action's idle_timeout, else the workflow's compute_node_wait_for_new_jobs_seconds.
  ctx.idle_timeout_seconds = order.idle_timeout_seconds > 0
                                 ? order.idle_timeout_seconds
                                 : due.plan->worker_idle_timeout_seconds;
  ctx.max_parallel_jobs = order.max_parallel_jobs;
  ctx.allocations = order.count;
  std::string path = out_dir + "/slurm/" + order.script_name + ".sh";
  {
    std::ofstream script(path);
    script << SbatchScript(*due.plan, scheduler, ctx);
  }
  chmod(path.c_str(), 0755);
  for (int64_t k = 0; k < order.count; ++k) {
    SubmittedJob job;
    // A problem from the first failure on, also while sbatch is retried (torc status).
    bool ok = slurm_.Submit(path, &job, error, [&](const std::string& retrying) {
      service_->NoteScheduleFailure(due.workflow, retrying);
    });
    if (!job.messages.empty())
      std::fprintf(stderr, "torc server: workflow %lld: sbatch said: %s\n",
                   static_cast<long long>(due.workflow), job.messages.c_str());
    if (!ok) return false;
    *ids += (ids->empty() ? "" : " ") + job.id;
    AllocationRecord record;
    record.slurm_job_id = job.id;
    record.scheduler = scheduler.name;
    record.action = due.index;
    record.submitted_at = now;
    record.cluster = job.cluster;
    service_->AddAllocation(due.workflow, std::move(record));
  }
  return true;
}

void ActionRunner::Reconcile(double now) {
  auto live = service_->LiveAllocations();
  if (live.empty()) return;
  std::vector<std::string> refs;
  for (const auto& [wf, a] : live) refs.push_back(a.SlurmRef());
  std::map<std::string, std::string> states;
  std::string error;
  if (!slurm_.Query(refs, &states, &error)) return;  // try again next time
  for (const auto& [wf, a] : live) {
    auto it = states.find(a.slurm_job_id);
    // Gone from squeue altogether: it ended long ago (or was purged).
    std::string state = it == states.end() ? "done" : AllocationState(it->second);
    if (!state.empty()) service_->UpdateAllocation(wf, a.slurm_job_id, state, now);
  }
}

void ActionRunner::RequestElastic(double now) {
  for (const auto& request : service_->TakeElasticRequests(now)) {
    const DueAction& due = request.due;
    std::string ids, error;
    if (!SubmitAllocations(due, OrderOf(due, request.count), now, &ids, &error)) {
      // The action stops asking; torc status shows its failure (allocation_request_failed).
      service_->NoteScheduleFailure(due.workflow, "");
      service_->FinishAction(due.workflow, due.index, ActionStatus::kFailed,
                             error + (ids.empty() ? "" : " (submitted before: " + ids + ")"),
                             now);
      continue;
    }
    service_->RecordEvent(due.workflow, "autoscale",
                          "action " + std::to_string(due.index) + ": " + request.why +
                              "; slurm jobs " + ids,
                          now);
  }
}

void ActionRunner::Tick(double now) {
  for (const auto& due : service_->TakeDueActions()) Execute(due, now);
  if (now >= next_elastic_) {
    next_elastic_ = now + options_.elastic_seconds;
    RequestElastic(now);
  }
  for (const auto& [request, due] : service_->TakeScheduleRequests()) {
    std::string ids, error;
    AllocationOrder order;
    order.scheduler = request.scheduler;
    order.count = request.num_allocations;
    order.one_worker_per_node = request.one_worker_per_node;
    order.idle_timeout_seconds = request.idle_timeout_seconds;
    order.max_parallel_jobs = request.max_parallel_jobs;
    order.script_name = "scheduled";
    bool ok = SubmitAllocations(due, order, now, &ids, &error);
    if (!ok) {
      // (an action's failure is its own problem: the action's outcome)
      service_->RecordEvent(due.workflow, "sbatch_failed",
                            error + (ids.empty() ? "" : " (submitted before: " + ids + ")"), now);
      service_->NoteScheduleFailure(due.workflow, error);
    }
    std::vector<std::string> list;
    std::istringstream words(ids);
    for (std::string id; words >> id;) list.push_back(id);
    request.outcome->Finish(ok, std::move(list), error);
  }
  auto cancel = service_->TakeScancelRequests();
  if (!cancel.empty()) {
    std::string error;
    slurm_.Cancel(cancel, &error);
  }
  bool requested = service_->TakeReconcileRequest();
  if (requested) {
    // An allocation ending goes through COMPLETING first: look again shortly.
    followups_ = {now + 2, now + 6};
  }
  bool followup = !followups_.empty() && now >= followups_.front();
  if (followup) followups_.erase(followups_.begin());
  if (now >= next_reconcile_ || requested || followup) {
    next_reconcile_ = now + options_.reconcile_seconds;
    Reconcile(now);
  }
}

}  // namespace torc::server
