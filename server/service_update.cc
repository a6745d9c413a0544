// Service::Update: a workflow's file read again (docs/rerun.md). The rule is server/rerun.h;
// here it is applied: the new plan replaces the old one, the out-of-date jobs and what is
// downstream of them run again, and the workflow's entry is rebuilt from the new plan and the
// kept states the way the server loads a workflow when it starts (WorkflowCore::Restore).
#include <algorithm>

#include "server/service.h"

namespace torc::server {
namespace {

/// A job that runs again: a new attempt, from blocked, with its requeue budgets back. A grown
/// request stays unless the job's resources changed (then the file's request holds).
void ResetForRerun(const std::vector<std::string>& reasons, JobDynamic* d) {
  ++d->attempt;
  d->status = JobStatus::kBlocked;
  d->retries = d->walltime_requeues = d->interruptions = d->slurm_requeues = 0;
  d->worker = 0;
  if (std::find(reasons.begin(), reasons.end(), "resources changed") != reasons.end())
    d->memory_request = d->runtime_request = -1;
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

ServiceStatus Service::Update(WorkflowId id, const UpdateRequest& request, double now,
                              UpdateOutcome* outcome) {
  *outcome = {};
  WorkflowRow probe;
  probe.spec_text = request.spec_text;
  probe.file_name = request.file_name;
  probe.parameter_files = ParameterFilesJson(request.parameter_files);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workflows_.find(id);
    if (it == workflows_.end())
      return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
    if (probe.file_name.empty()) probe.file_name = it->second->row.file_name;
  }
  // Parse outside the lock, as a submit does: a big sweep must not stall the workers.
  spec::LoadResult parsed = ParseWorkflow(probe, options_.limits);
  if (!parsed.ok()) return ParseFailure(parsed);
  auto plan = std::make_shared<const spec::Plan>(std::move(*parsed.plan));

  std::lock_guard<std::mutex> lock(mu_);
  last_now_ = now;
  if (ServiceStatus fresh = FreshLocked(now); !fresh.ok()) return fresh;
  auto it = workflows_.find(id);
  if (it == workflows_.end())
    return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
  WorkflowEntry& entry = *it->second;
  if (std::string problem = UpdateScopeProblem(*entry.plan, *plan); !problem.empty())
    return ServiceStatus::Error(ServiceStatus::kBadRequest,
                                "workflow " + std::to_string(id) + " cannot be updated in place: " +
                                    problem + "; submit the file as a new workflow");
  auto counts = entry.core->Counts();
  uint64_t active = counts[static_cast<int>(JobStatus::kClaimed)] +
                    counts[static_cast<int>(JobStatus::kRunning)];
  if (active > 0)
    return ServiceStatus::Error(ServiceStatus::kConflict,
                                std::to_string(active) + " jobs of workflow " + std::to_string(id) +
                                    " are running; wait for them or cancel them, then update");

  FileStamps old_stamps;
  std::string ignored;
  // A row written before stamps were kept reads as none recorded.
  (void)ParseStamps(nlohmann::json::parse(entry.row.input_stamps, nullptr, false), &old_stamps,
                    &ignored);
  RerunFacts facts{entry.plan.get(), plan.get(),      &old_stamps,
                   &request.input_stamps, &request.missing_outputs, &entry.core->jobs()};
  RerunDecision decision = DecideReruns(facts);
  outcome->total = plan->jobs.size();
  outcome->kept = plan->jobs.size() - decision.rerun.size();
  for (const auto& r : decision.rerun) outcome->rerun.push_back({plan->jobs[r.job].name, r.reasons});
  if (request.dry_run) return ServiceStatus::Ok();

  // The kept states with the reruns reset, restored into a core of the new plan.
  std::vector<JobDynamic> jobs = entry.core->jobs();
  for (const auto& r : decision.rerun) ResetForRerun(r.reasons, &jobs[r.job]);
  for (JobIndex j : decision.wait_again) jobs[j].status = JobStatus::kBlocked;
  std::vector<WorkerRecord> workers;
  for (const auto& [wid, w] : entry.core->workers()) workers.push_back(w);
  std::vector<ActionState> actions;
  for (uint32_t a = 0; a < plan->actions.size(); ++a)
    actions.push_back({a, entry.core->action_status(a), entry.core->action_detail(a)});
  auto core = std::make_unique<WorkflowCore>(id, plan, options_.core);
  ChangeBatch batch;
  batch.workflow = id;
  batch.time = now;
  std::string damage;
  if (!core->Restore(jobs, entry.core->results(), workers, actions, now, &batch, &damage))
    return ServiceStatus::Error(ServiceStatus::kInternal, "updating workflow " +
                                                              std::to_string(id) + ": " + damage);
  // Restore logged only what it healed (blocked jobs whose parents have ended became ready):
  // the final state of every job this update touched goes in after it.
  for (const auto& r : decision.rerun) {
    batch.jobs.push_back({r.job, core->job(r.job)});
    batch.events.push_back({0, id, now, "rerun", r.job, core->job(r.job).attempt, 0,
                            Joined(r.reasons)});
  }
  for (JobIndex j : decision.wait_again) batch.jobs.push_back({j, core->job(j)});
  batch.events.push_back({0, id, now, "workflow_updated", -1, 0, 0,
                          std::to_string(decision.rerun.size()) + " of " +
                              std::to_string(plan->jobs.size()) + " jobs run again (" +
                              probe.file_name + ")"});
  for (auto& e : batch.events) e.seq = next_event_seq_++;

  WorkflowRow row = entry.row;
  row.spec_text = request.spec_text;
  row.file_name = probe.file_name;
  row.name = plan->name;
  row.input_stamps = StampsJson(request.input_stamps).dump();
  row.parameter_files = ParameterFilesJson(plan->parameter_files);  // only those it reads
  // Row and states in one transaction; memory changes only once they are on disk.
  if (ServiceStatus s = FromStore(store_->UpdateWorkflow(row, batch), "updating the workflow");
      !s.ok())
    return s;
  entry.row = std::move(row);
  entry.plan = plan;
  entry.core = std::move(core);
  entry.running_on.clear();
  entry.changes_since_checkpoint += batch.jobs.size();
  if (commit_observer_) commit_observer_(batch);
  WakeActionsForLocked(entry, batch, false);
  WakeClaimsForLocked(entry, batch);
  return ServiceStatus::Ok();
}

}  // namespace torc::server
