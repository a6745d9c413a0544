#include "server/service.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace torc::server {

ServiceStatus ParseFailure(const spec::LoadResult& parsed) {
  ServiceStatus s = ServiceStatus::Error(
      ServiceStatus::kBadRequest,
      "the workflow file has " + std::to_string(parsed.errors.size()) + " error(s)");
  for (const auto& e : parsed.errors) s.details.push_back(e.ToString());
  return s;
}

std::string ParameterFilesJson(const std::map<std::string, std::string>& files) {
  return nlohmann::json(files).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

spec::LoadResult ParseWorkflow(const WorkflowRow& row, const spec::LoadOptions& limits) {
  spec::LoadOptions options = limits;
  // Never this machine's files (the server may be elsewhere, the files changed since): those
  // sent with the workflow, stored beside its text.
  auto files = std::make_shared<const nlohmann::json>(
      nlohmann::json::parse(row.parameter_files, nullptr, /*allow_exceptions=*/false));
  options.read_parameter_file = [files](const std::string& path, std::string* contents,
                                        std::string* error) {
    auto it = files->is_object() ? files->find(path) : files->end();
    if (it != files->end() && it->is_string()) {
      *contents = it->get<std::string>();
      return true;
    }
    *error = "it was not sent with the workflow ('parameter_files' of the submit request has no '";
    *error += path;
    *error += "'; the server reads no files of its own)";
    return false;
  };
  return spec::ParsePlan(row.spec_text, row.file_name.empty() ? "workflow" : row.file_name,
                         spec::Format::kAuto, options);
}

std::string NamesDigest(const spec::Plan& plan) {
  // FNV-1a over the names in order: cheap, and any change of expansion shows.
  uint64_t h = 1469598103934665603ULL;
  for (const auto& job : plan.jobs) {
    for (unsigned char c : job.name) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf) + ":" + std::to_string(plan.jobs.size());
}

ServiceStatus Service::FromStore(const StoreStatus& s, const std::string& doing) {
  if (s.ok()) return ServiceStatus::Ok();
  auto code = s.error == StoreError::kBusy || s.error == StoreError::kFull
                  ? ServiceStatus::kUnavailable
                  : ServiceStatus::kInternal;
  return ServiceStatus::Error(code, "storage error while " + doing + ": " + s.message);
}

std::unique_ptr<Service> Service::Open(std::unique_ptr<Store> store, ServiceOptions options,
                                       double now, ServiceStatus* status) {
  std::unique_ptr<Service> service(new Service(std::move(store), options));
  *status = service->Load(now);
  if (!status->ok()) return nullptr;
  return service;
}

ServiceStatus Service::Load(double now) {
  std::vector<LoadedWorkflow> loaded;
  ServiceStatus s = FromStore(store_->LoadAll(&loaded), "loading the workflows");
  if (!s.ok()) return s;
  workflows_.clear();
  next_event_seq_ = store_->MaxEventSeq() + 1;
  for (auto& lw : loaded) {
    spec::LoadResult parsed = ParseWorkflow(lw.row, options_.limits);
    if (!parsed.ok() || NamesDigest(*parsed.plan) != lw.row.names_digest) {
      std::fprintf(stderr,
                   "torc server: workflow %lld (%s) no longer expands as it did when submitted; "
                   "it is not loaded\n",
                   static_cast<long long>(lw.row.id), lw.row.name.c_str());
      continue;
    }
    auto entry = std::make_unique<WorkflowEntry>();
    entry->row = lw.row;
    entry->plan = std::make_shared<const spec::Plan>(std::move(*parsed.plan));
    entry->core = std::make_unique<WorkflowCore>(lw.row.id, entry->plan, options_.core);
    for (const auto& w : lw.workers) next_worker_id_ = std::max(next_worker_id_, w.id + 1);
    ChangeBatch batch;
    batch.workflow = lw.row.id;
    batch.time = now;
    std::string damage;
    if (!entry->core->Restore(lw.jobs, lw.results, lw.workers, lw.actions, now, &batch,
                              &damage)) {
      workflows_.clear();
      return ServiceStatus::Error(ServiceStatus::kInternal,
                                  "workflow " + std::to_string(lw.row.id) + " in the store: " +
                                      damage + "; " + kDamagedStoreAdvice);
    }
    // What Restore changes (healing) follows from the stored state alone, so
    // it is derived again at the next load if it cannot be saved now (a full
    // disk): keep the workflow either way. No reload here: that would recurse.
    s = AppendLocked(*entry, &batch);
    if (!s.ok())
      std::fprintf(stderr, "torc server: workflow %lld: %s (derived again at the next load)\n",
                   static_cast<long long>(lw.row.id), s.message.c_str());
    workflows_[lw.row.id] = std::move(entry);
  }
  LoadAllocations();
  return ServiceStatus::Ok();
}

ServiceStatus Service::FreshLocked(double now) {
  if (!stale_) return ServiceStatus::Ok();
  ServiceStatus s = Load(now);
  if (!s.ok())
    return ServiceStatus::Error(ServiceStatus::kUnavailable,
                                "the state could not be reloaded from the database: " + s.message);
  stale_ = false;
  return s;
}

ServiceStatus Service::CommitLocked(WorkflowEntry& entry, ChangeBatch* batch) {
  ServiceStatus s = AppendLocked(entry, batch);
  if (s.ok()) return s;
  // Memory is ahead of the disk: rebuild everything from what was committed.
  // If that fails too, every later call tries again before using memory.
  stale_ = true;
  ServiceStatus reload = FreshLocked(batch->time);
  if (!reload.ok()) s.message += "; " + reload.message;
  return s;
}

ServiceStatus Service::AppendLocked(WorkflowEntry& entry, ChangeBatch* batch) {
  if (batch->empty()) return ServiceStatus::Ok();
  bool expired = false;
  for (auto& e : batch->events) {
    e.seq = next_event_seq_++;
    // A lost worker of a Slurm allocation: ask squeue about the allocations now.
    if (e.kind == "lease_expired") reconcile_requested_ = expired = true;
  }
  ServiceStatus s = FromStore(store_->Append(*batch), "saving changes");
  if (!s.ok()) return s;
  if (commit_observer_) commit_observer_(*batch);
  WakeActionsForLocked(entry, *batch, expired);
  WakeClaimsForLocked(entry, *batch);
  entry.changes_since_checkpoint += batch->jobs.size();
  uint64_t threshold = std::max<uint64_t>(options_.checkpoint_every_changes, entry.row.job_count);
  if (entry.changes_since_checkpoint >= threshold) {
    // A failed checkpoint loses nothing (the log stays); try again later.
    if (store_->Checkpoint(entry.row.id, entry.core->jobs()).ok())
      entry.changes_since_checkpoint = 0;
  }
  return ServiceStatus::Ok();
}

void Service::SetCommitObserver(std::function<void(const ChangeBatch&)> observer) {
  std::lock_guard<std::mutex> lock(mu_);
  commit_observer_ = std::move(observer);
}

void Service::SetActionWakeup(std::function<void()> wakeup) {
  std::lock_guard<std::mutex> lock(mu_);
  action_wakeup_ = std::move(wakeup);
}

void Service::SetClaimWakeup(std::function<void()> wakeup) {
  std::lock_guard<std::mutex> lock(mu_);
  claim_wakeup_ = std::move(wakeup);
}

void Service::WakeClaimsForLocked(const WorkflowEntry& entry, const ChangeBatch& batch) {
  if (!claim_wakeup_ || batch.jobs.empty()) return;
  const bool ready = std::any_of(batch.jobs.begin(), batch.jobs.end(), [](const auto& j) {
    return j.second.status == JobStatus::kReady;
  });
  if (ready || entry.core->IsComplete()) claim_wakeup_();
}

void Service::WakeActionsForLocked(const WorkflowEntry& entry, const ChangeBatch& batch,
                                   bool lease_expired) {
  bool due = std::any_of(batch.actions.begin(), batch.actions.end(),
                         [](const ActionState& a) { return a.status == ActionStatus::kDue; });
  // on_workflow_complete is due once the workflow is complete (WorkflowCore::DueActions).
  bool completed = !batch.jobs.empty() && entry.core->IsComplete();
  if (due || completed || lease_expired) WakeActionsLocked();
}

ServiceStatus Service::Submit(const SubmitRequest& request, double now, WorkflowId* id) {
  WorkflowRow row;
  row.spec_text = request.spec_text;
  row.file_name = request.file_name;
  row.working_dir = request.working_dir;
  row.owner = request.owner;
  row.created_at = now;
  row.parameter_files = ParameterFilesJson(request.parameter_files);
  row.input_stamps = StampsJson(request.input_stamps).dump();
  // Parse outside the lock: a big sweep must not stall the workers.
  spec::LoadResult parsed = ParseWorkflow(row, options_.limits);
  if (!parsed.ok()) return ParseFailure(parsed);
  auto entry = std::make_unique<WorkflowEntry>();
  entry->plan = std::make_shared<const spec::Plan>(std::move(*parsed.plan));
  row.name = entry->plan->name;
  // Only the files the workflow reads are kept (a request may carry more).
  if (entry->plan->parameter_files.size() != request.parameter_files.size())
    row.parameter_files = ParameterFilesJson(entry->plan->parameter_files);
  row.job_count = static_cast<uint32_t>(entry->plan->jobs.size());
  row.names_digest = NamesDigest(*entry->plan);

  // The initial states (ready roots) go into the same transaction as the row.
  entry->core = std::make_unique<WorkflowCore>(0, entry->plan, options_.core);
  ChangeBatch batch;
  batch.time = now;
  entry->core->Start(now, &batch);

  std::lock_guard<std::mutex> lock(mu_);
  last_now_ = now;
  ServiceStatus s = FreshLocked(now);
  if (!s.ok()) return s;
  batch.events.push_back({0, 0, now, "workflow_created", -1, 0, 0,
                          std::to_string(row.job_count) + " jobs from " + row.file_name});
  for (auto& e : batch.events) e.seq = next_event_seq_++;
  // Row, initial states and first batch in one transaction: all or nothing.
  s = FromStore(store_->CreateWorkflow(row, entry->core->jobs(), batch, id),
                "creating the workflow");
  if (!s.ok()) return s;
  row.id = *id;
  entry->row = row;
  entry->core->set_id(*id);
  batch.workflow = *id;
  if (commit_observer_) commit_observer_(batch);
  WakeActionsForLocked(*entry, batch, false);
  workflows_[*id] = std::move(entry);
  return ServiceStatus::Ok();
}

ServiceStatus Service::Delete(WorkflowId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ServiceStatus fresh = FreshLocked(last_now_); !fresh.ok()) return fresh;
  if (!workflows_.count(id))
    return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
  ServiceStatus s = FromStore(store_->DeleteWorkflow(id), "deleting the workflow");
  if (s.ok()) {
    workflows_.erase(id);
    workers_gone_at_.erase(id);
  }
  return s;
}

std::vector<WorkflowId> Service::WorkflowIds() {
  std::lock_guard<std::mutex> lock(mu_);
  (void)FreshLocked(last_now_);  // callers read each one with WithWorkflow, which reports it
  std::vector<WorkflowId> ids;
  for (const auto& [id, e] : workflows_) ids.push_back(id);
  return ids;
}

WorkerId Service::NextWorkerId() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_worker_id_++;
}

void Service::ExpireAll(double now) {
  std::lock_guard<std::mutex> lock(mu_);
  last_now_ = now;
  if (!FreshLocked(now).ok()) return;  // try again next tick
  for (auto& [id, entry] : workflows_) {
    ChangeBatch batch;
    batch.workflow = id;
    batch.time = now;
    entry->core->ExpireLeases(now, &batch);
    if (!CommitLocked(*entry, &batch).ok()) return;  // reloaded; try again next tick
  }
}

ServiceStatus Service::EventsSince(WorkflowId id, int64_t after, int limit,
                                   std::vector<Event>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workflows_.count(id))
    return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
  return FromStore(store_->EventsSince(id, after, limit, out), "reading events");
}

ServiceStatus Service::AttemptSamplesOf(WorkflowId id, JobIndex job, uint32_t attempt,
                                        AttemptSamples* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!workflows_.count(id))
    return ServiceStatus::Error(ServiceStatus::kNotFound, "no workflow " + std::to_string(id));
  bool found = false;
  ServiceStatus s =
      FromStore(store_->ReadSamples(id, job, attempt, out, &found), "reading samples");
  if (s.ok() && !found) *out = {job, attempt, 0, "[]"};
  return s;
}

}  // namespace torc::server

namespace torc::server {

std::vector<DueAction> Service::TakeDueActions() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<DueAction> out;
  for (auto& [id, e] : workflows_) {
    for (uint32_t a : e->core->DueActions()) {
      auto key = std::make_pair(id, a);
      if (actions_in_flight_.count(key)) continue;
      actions_in_flight_[key] = true;
      out.push_back({id, a, e->plan, e->row});
    }
  }
  return out;
}

ServiceStatus Service::FinishAction(WorkflowId id, uint32_t action, ActionStatus status,
                                    const std::string& detail, double now) {
  ServiceStatus s = Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->FinishAction(action, status, detail, now, batch);
    return ServiceStatus::Ok();
  });
  std::lock_guard<std::mutex> lock(mu_);
  actions_in_flight_.erase({id, action});
  return s;
}

// Allocations are recorded as events ("allocation_submitted", then
// "allocation_<state>"), durable like every other change, and rebuilt from
// them when the server starts.
void Service::RecordEvent(WorkflowId id, const std::string& kind, const std::string& detail,
                          double now) {
  Mutate(id, now, [&](WorkflowEntry&, ChangeBatch* batch) {
    batch->events.push_back({0, id, now, kind, -1, 0, 0, detail});
    return ServiceStatus::Ok();
  });
}

void Service::AddAllocation(WorkflowId id, AllocationRecord record) {
  RecordEvent(id, "allocation_submitted",
              record.slurm_job_id + " " + record.scheduler + " " + std::to_string(record.action) +
                  (record.cluster.empty() ? "" : " " + record.cluster),
              record.submitted_at);
  std::lock_guard<std::mutex> lock(mu_);
  allocations_[id].push_back(std::move(record));
  schedule_failures_.erase(id);
}

void Service::NoteScheduleFailure(WorkflowId id, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (message.empty()) schedule_failures_.erase(id);
  else schedule_failures_[id] = message;
}

void Service::NoteWorkerLeft(WorkflowId id, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  workers_left_[id] = message;
}

std::string Service::WorkerLeft(WorkflowId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_left_.find(id);
  return it == workers_left_.end() ? "" : it->second;
}

std::string Service::ScheduleFailure(WorkflowId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = schedule_failures_.find(id);
  return it == schedule_failures_.end() ? "" : it->second;
}

void Service::LoadAllocations() {
  allocations_.clear();
  for (const auto& [id, e] : workflows_) {
    std::vector<Event> events;
    // Only the allocation events, all of them: a workflow can have any number of others.
    if (!store_->EventsSince(id, 0, std::numeric_limits<int>::max(), &events, "allocation_").ok())
      continue;
    for (const auto& ev : events) {
      std::istringstream in(ev.detail);
      std::string slurm_id;
      in >> slurm_id;
      if (ev.kind == "allocation_submitted") {
        AllocationRecord r;
        r.slurm_job_id = slurm_id;
        in >> r.scheduler >> r.action >> r.cluster;
        r.submitted_at = ev.time;
        allocations_[id].push_back(r);
      } else {
        std::string nodes;
        in >> nodes;
        for (auto& a : allocations_[id])
          if (a.slurm_job_id == slurm_id) Apply(&a, ev.kind.substr(11), ev.time, nodes);
      }
    }
  }
}

std::vector<AllocationRecord> Service::Allocations(WorkflowId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = allocations_.find(id);
  return it == allocations_.end() ? std::vector<AllocationRecord>() : it->second;
}

std::vector<std::pair<WorkflowId, AllocationRecord>> Service::LiveAllocations() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<WorkflowId, AllocationRecord>> out;
  for (const auto& [id, list] : allocations_)
    for (const auto& a : list)
      if (a.state == "pending" || a.state == "running") out.push_back({id, a});
  return out;
}

void Service::Apply(AllocationRecord* a, const std::string& state, double time,
                    const std::string& nodes) {
  a->state = state;
  if (state == "running" && a->started_at == 0) a->started_at = time;
  if (state != "pending" && state != "running") a->ended_at = time;
  if (!nodes.empty()) a->nodes = nodes;
}

void Service::UpdateAllocation(WorkflowId id, const std::string& slurm_job_id,
                               const std::string& state, double now, const std::string& nodes) {
  bool ended = state != "pending" && state != "running";
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // An end is final: a reconciliation that read squeue before a cancel cannot undo it.
    for (auto& a : allocations_[id])
      if (a.slurm_job_id == slurm_job_id && a.state != state &&
          (a.state == "pending" || a.state == "running")) {
        Apply(&a, state, now, nodes);
        changed = true;
      }
  }
  if (changed)
    RecordEvent(id, "allocation_" + state, slurm_job_id + (nodes.empty() ? "" : " " + nodes), now);
  if (!ended) return;
  // A vanished allocation's workers are gone: give their jobs back now, not
  // after the lease runs out. A preempted one's running jobs were preempted.
  Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->DropWorkersOfAllocation(slurm_job_id, now, batch,
                                    state == "preempted" ? "preempted" : "");
    return ServiceStatus::Ok();
  });
}

void Service::RequestScancel(WorkflowId id, double now) {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& a : allocations_[id]) {
      if (a.state == "pending" || a.state == "running") {
        scancel_requests_.push_back(a.SlurmRef());
        ids.push_back(a.slurm_job_id);
        a.state = "canceled";
      }
    }
    if (!ids.empty()) WakeActionsLocked();
  }
  for (const auto& sid : ids) RecordEvent(id, "allocation_canceled", sid, now);
}

void Service::RequestReconcile() {
  std::lock_guard<std::mutex> lock(mu_);
  reconcile_requested_ = true;
  WakeActionsLocked();
}

bool Service::TakeReconcileRequest() {
  std::lock_guard<std::mutex> lock(mu_);
  bool r = reconcile_requested_;
  reconcile_requested_ = false;
  return r;
}

std::vector<std::string> Service::TakeScancelRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(scancel_requests_);
}

}  // namespace torc::server

namespace torc::server {

ServiceStatus Service::RequestSchedule(const ScheduleRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workflows_.find(request.workflow);
  if (it == workflows_.end())
    return ServiceStatus::Error(ServiceStatus::kNotFound,
                                "no workflow " + std::to_string(request.workflow));
  schedule_requests_.push_back(request);
  WakeActionsLocked();
  return ServiceStatus::Ok();
}

void ScheduleOutcome::Finish(bool success, std::vector<std::string> ids, std::string why) {
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    ok = success;
    job_ids = std::move(ids);
    error = std::move(why);
  }
  cv.notify_all();
}

bool ScheduleOutcome::Wait(std::chrono::milliseconds max) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, max, [this] { return done; });
}

std::vector<std::pair<ScheduleRequest, DueAction>> Service::TakeScheduleRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<ScheduleRequest, DueAction>> out;
  for (const auto& r : schedule_requests_) {
    auto it = workflows_.find(r.workflow);
    if (it == workflows_.end()) {
      r.outcome->Finish(false, {}, "workflow " + std::to_string(r.workflow) + " was deleted");
      continue;
    }
    out.push_back({r, {r.workflow, UINT32_MAX, it->second->plan, it->second->row}});
  }
  schedule_requests_.clear();
  return out;
}

ServiceStatus ResolveJob(const spec::Plan& plan, const JobRef& ref, JobIndex* job) {
  if (!ref.name) {
    if (ref.index < 0 || static_cast<uint64_t>(ref.index) >= plan.jobs.size())
      return ServiceStatus::Error(ServiceStatus::kNotFound, "no job " + std::to_string(ref.index));
    *job = static_cast<JobIndex>(ref.index);
    return ServiceStatus::Ok();
  }
  for (JobIndex j = 0; j < plan.jobs.size(); ++j)
    if (plan.jobs[j].name == *ref.name) {
      *job = j;
      return ServiceStatus::Ok();
    }
  return ServiceStatus::Error(ServiceStatus::kNotFound, "no job named '" + *ref.name + "'");
}

namespace {

/// The jobs a selection names (none when it selects all: the core's "every job").
ServiceStatus ResolveSelection(const spec::Plan& plan, const JobSelection& selection,
                               std::vector<JobIndex>* jobs) {
  for (const auto& ref : selection.jobs) {
    JobIndex j = 0;
    if (ServiceStatus s = ResolveJob(plan, ref, &j); !s.ok()) return s;
    jobs->push_back(j);
  }
  return ServiceStatus::Ok();
}

}  // namespace

ServiceStatus Service::CancelJobs(WorkflowId id, const JobSelection& selection, double now,
                                  size_t* canceled) {
  *canceled = 0;
  ServiceStatus s = Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    if (!selection.all && selection.jobs.empty()) return ServiceStatus::Ok();
    std::vector<JobIndex> jobs;
    if (ServiceStatus r = ResolveSelection(*e.plan, selection, &jobs); !r.ok()) return r;
    *canceled = e.core->Cancel(jobs, now, batch);
    return ServiceStatus::Ok();
  });
  // Canceling the workflow also gives back its Slurm allocations.
  if (s.ok() && selection.all) RequestScancel(id, now);
  return s;
}

ServiceStatus Service::RestartJobs(WorkflowId id, const RestartRequest& request, double now,
                                   RestartOutcome* outcome) {
  *outcome = {};
  std::vector<ScheduleRequest> requests;
  const JobSelection& selection = request.selection;
  ServiceStatus s = Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    if (!selection.all && selection.jobs.empty()) return ServiceStatus::Ok();
    std::vector<JobIndex> jobs;
    if (ServiceStatus r = ResolveSelection(*e.plan, selection, &jobs); !r.ok()) return r;
    outcome->restarted = e.core->Restart(jobs, now, batch, request.growth);
    if (outcome->restarted > 0 && request.schedule) {
      static const std::vector<AllocationRecord> kNone;
      auto it = allocations_.find(id);
      requests = RestartSchedules(e, it == allocations_.end() ? kNone : it->second);
    }
    return ServiceStatus::Ok();
  });
  if (!s.ok()) return s;
  for (const auto& r : requests)
    if (RequestSchedule(r).ok()) outcome->allocations_requested += r.num_allocations;
  return s;
}

// Compute follows a restart (docs/api.md).
std::vector<ScheduleRequest> RestartSchedules(const WorkflowEntry& e,
                                              const std::vector<AllocationRecord>& allocations) {
  std::set<uint32_t> wanted;
  for (JobIndex j = 0; j < e.core->job_count(); ++j)
    if (e.core->job(j).status == JobStatus::kReady && e.plan->jobs[j].scheduler != spec::kNone)
      wanted.insert(e.plan->jobs[j].scheduler);
  for (const auto& a : allocations)
    if (a.state == "pending" || a.state == "running")
      for (uint32_t s = 0; s < e.plan->schedulers.size(); ++s)
        if (e.plan->schedulers[s].name == a.scheduler) wanted.erase(s);
  std::vector<ScheduleRequest> out;
  for (uint32_t s : wanted)
    for (uint32_t a = 0; a < e.plan->actions.size(); ++a) {
      const spec::Action& action = e.plan->actions[a];
      if (action.type == spec::ActionType::kScheduleNodes && action.scheduler == s) {
        // An elastic action that has fired asks for the restarted jobs itself.
        if (action.elastic() && e.core->action_status(a) == ActionStatus::kDone) break;
        ScheduleRequest r;
        r.workflow = e.core->id();
        r.scheduler = s;
        r.num_allocations = action.num_allocations;
        r.one_worker_per_node = action.start_one_worker_per_node;
        r.idle_timeout_seconds = action.idle_timeout_seconds;
        r.max_parallel_jobs = action.max_parallel_jobs;
        out.push_back(std::move(r));
        break;
      }
    }
  return out;
}

}  // namespace torc::server
