#include "server/core/core.h"

#include <algorithm>

#include "server/core/core_internal.h"

namespace torc::server {
namespace {

bool IsDone(JobStatus s) { return s == JobStatus::kCompleted; }

// Prefix of the reason of attempts the server gave up on (lease expired, worker
// left): their late reports are rejected, not taken as duplicates.
constexpr const char* kAbandoned = "abandoned: ";

// Whether two reports of one attempt say the same: status, exit code, signal and reason.
bool SameOutcome(const AttemptResult& a, const AttemptResult& b) {
  // An attempt the server ended itself (exit code -1: a preempted allocation's, seen in squeue
  // before its worker could report) is the same as the worker's report of the same end.
  if (a.exit_code == -1 && a.signal == 0) return a.status == b.status && a.reason == b.reason;
  return a.status == b.status && a.exit_code == b.exit_code && a.signal == b.signal &&
         a.reason == b.reason;
}

std::string OutcomeText(const AttemptResult& r) {
  std::string s = std::string(ToString(r.status)) + " (exit code " + std::to_string(r.exit_code);
  if (r.signal) s += ", signal " + std::to_string(r.signal);
  if (!r.reason.empty()) s += ", reason '" + r.reason + "'";
  return s + ")";
}

std::string ConflictReason(const AttemptResult& recorded, const AttemptResult& again) {
  return "job " + std::to_string(again.job) + " attempt " + std::to_string(again.attempt) +
         " was already reported " + OutcomeText(recorded) + "; this report says " +
         OutcomeText(again);
}

// A final state that is not success: dependents that require success are canceled.
bool IsFailedForGood(JobStatus s) { return IsFinal(s) && s != JobStatus::kCompleted; }

}  // namespace

using internal::MeetsTrigger;

WorkflowCore::WorkflowCore(WorkflowId id, std::shared_ptr<const spec::Plan> plan,
                           CoreOptions options)
    : id_(id), plan_(std::move(plan)), options_(options), graph_(DependencyGraph::Build(*plan_)) {
  const size_t n = plan_->jobs.size();
  jobs_.assign(n, JobDynamic{});
  unmet_.assign(n, 0);
  queue_token_.assign(n, 0);
  last_result_.assign(n, -1);
  actions_.resize(plan_->actions.size());
  job_actions_.resize(n);
  for (uint32_t a = 0; a < plan_->actions.size(); ++a)
    for (JobIndex j : plan_->actions[a].jobs) job_actions_[j].push_back(a);
}

bool WorkflowCore::HasDependents(JobIndex j) const {
  if (!graph_.children[j].empty()) return true;
  for (uint32_t g : graph_.member_groups[j])
    if (!graph_.group_users[g].empty()) return true;
  return false;
}

JobShape WorkflowCore::ShapeOf(JobIndex j) const {
  const spec::Job& job = plan_->jobs[j];
  const spec::ResourceRequirements& rr = plan_->RequirementsOf(job);
  const JobDynamic& d = jobs_[j];
  return {job.priority,
          rr.num_gpus,
          d.runtime_request >= 0 ? d.runtime_request : rr.runtime_seconds,
          d.memory_request >= 0 ? d.memory_request : rr.memory_bytes,
          rr.num_cpus,
          rr.num_nodes,
          job.scheduler};
}

void WorkflowCore::Record(JobIndex j, ChangeBatch* batch) {
  if (batch) batch->jobs.push_back({j, jobs_[j]});
}

void WorkflowCore::SetStatus(JobIndex j, JobStatus status, ChangeBatch* batch) {
  JobStatus before = jobs_[j].status;
  --counts_[static_cast<int>(before)];
  ++counts_[static_cast<int>(status)];
  // Only moves between final, blocked and the other unfinished states change a tally.
  auto kind = [](JobStatus s) { return IsFinal(s) ? 0 : s == JobStatus::kBlocked ? 1 : 2; };
  if (kind(before) != kind(status)) {
    Tally(j, before, -1);
    Tally(j, status, +1);
  }
  jobs_[j].status = status;
  if (!job_actions_[j].empty()) UpdateActions(j, before, status, batch);
  Record(j, batch);
}

void WorkflowCore::Tally(JobIndex j, JobStatus status, int sign) {
  if (IsFinal(status)) return;
  const JobShape shape = ShapeOf(j);
  auto [it, added] = tallies_.try_emplace(shape.Key());
  ShapeTally& t = it->second;
  if (added) t.shape = shape;
  const uint64_t blocked = status == JobStatus::kBlocked ? 1 : 0;
  if (sign > 0) {
    ++t.unfinished;
    t.blocked += blocked;
  } else {
    --t.unfinished;
    t.blocked -= blocked;
  }
  if (t.unfinished == 0) tallies_.erase(it);
}

void WorkflowCore::RebuildTallies() {
  tallies_.clear();
  for (JobIndex j = 0; j < jobs_.size(); ++j) Tally(j, jobs_[j].status, +1);
}

void WorkflowCore::MakeReady(JobIndex j, ChangeBatch* batch) {
  jobs_[j].worker = 0;
  SetStatus(j, JobStatus::kReady, batch);
  ready_.Push(j, ++queue_token_[j], ShapeOf(j));
}

void WorkflowCore::Event(ChangeBatch* batch, double now, std::string kind, int64_t job,
                         uint32_t attempt, WorkerId worker, std::string detail) {
  if (!batch) return;
  server::Event e;
  e.workflow = id_;
  e.time = now;
  e.kind = std::move(kind);
  e.job = job;
  e.attempt = attempt;
  e.worker = worker;
  e.detail = std::move(detail);
  batch->events.push_back(std::move(e));
}

void WorkflowCore::Start(double now, ChangeBatch* batch) {
  counts_ = {};
  counts_[static_cast<int>(JobStatus::kBlocked)] = jobs_.size();
  RebuildTallies();
  group_remaining_.resize(plan_->dependency_groups.size());
  group_failed_.assign(plan_->dependency_groups.size(), 0);
  for (size_t g = 0; g < plan_->dependency_groups.size(); ++g)
    group_remaining_[g] = static_cast<uint32_t>(plan_->dependency_groups[g].members.size());
  for (JobIndex j = 0; j < jobs_.size(); ++j) {
    const spec::Job& job = plan_->jobs[j];
    unmet_[j] = static_cast<uint32_t>(job.depends_on.size() + job.dependency_groups.size());
    if (unmet_[j] == 0) MakeReady(j, nullptr);
  }
  for (uint32_t a = 0; a < actions_.size(); ++a) {
    // on_jobs_ready over root jobs became due just above (the initial job states are stored
    // with the workflow, not as changes): record it as a change all the same, so the due
    // state is stored and the action runner is woken.
    if (actions_[a].status == ActionStatus::kDue && batch)
      batch->actions.push_back({a, ActionStatus::kDue, ""});
    else if (plan_->actions[a].trigger == spec::TriggerType::kOnWorkflowStart)
      MarkDue(a, batch);
  }
  (void)now;
}

// ---- dependency propagation -------------------------------------------------

void WorkflowCore::OnFinal(JobIndex first, double now, ChangeBatch* batch) {
  // A worklist, not recursion: cancellation can cascade down a million-job chain.
  std::vector<JobIndex> work{first};
  auto cancel = [&](JobIndex c, JobIndex parent) {
    if (IsFinal(jobs_[c].status)) return;
    SetStatus(c, JobStatus::kCanceled, batch);
    Event(batch, now, "canceled", c, jobs_[c].attempt, 0,
          "blocking job '" + plan_->jobs[parent].name + "' ended " +
              ToString(jobs_[parent].status));
    work.push_back(c);
  };
  auto satisfy = [&](JobIndex c) {
    if (jobs_[c].status != JobStatus::kBlocked) return;
    if (--unmet_[c] == 0) MakeReady(c, batch);
  };
  while (!work.empty()) {
    JobIndex j = work.back();
    work.pop_back();
    bool ok = IsDone(jobs_[j].status);
    for (JobIndex c : graph_.children[j]) {
      if (ok || !plan_->jobs[c].cancel_on_blocking_job_failure) satisfy(c);
      else cancel(c, j);
    }
    for (uint32_t g : graph_.member_groups[j]) {
      --group_remaining_[g];
      if (!ok) ++group_failed_[g];
      for (JobIndex u : graph_.group_users[g]) {
        bool tolerant = !plan_->jobs[u].cancel_on_blocking_job_failure;
        if (!ok && !tolerant) cancel(u, j);
        else if (group_remaining_[g] == 0 && (tolerant || group_failed_[g] == 0)) satisfy(u);
      }
    }
  }
}

uint32_t WorkflowCore::CountUnmet(JobIndex j, int64_t* cancel_parent) const {
  const spec::Job& job = plan_->jobs[j];
  bool tolerant = !job.cancel_on_blocking_job_failure;
  uint32_t unmet = 0;
  *cancel_parent = -1;
  for (JobIndex p : job.depends_on) {
    JobStatus s = jobs_[p].status;
    if (IsDone(s) || (tolerant && IsFinal(s))) continue;
    if (IsFailedForGood(s) && !tolerant) *cancel_parent = p;
    ++unmet;
  }
  for (uint32_t g : job.dependency_groups) {
    if (group_failed_[g] > 0 && !tolerant) {
      for (JobIndex m : plan_->dependency_groups[g].members)
        if (IsFailedForGood(jobs_[m].status)) *cancel_parent = m;
    }
    if (group_remaining_[g] > 0 || (!tolerant && group_failed_[g] > 0)) ++unmet;
  }
  return unmet;
}

void WorkflowCore::RecomputeGroups() {
  const auto& groups = plan_->dependency_groups;
  group_remaining_.assign(groups.size(), 0);
  group_failed_.assign(groups.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (JobIndex m : groups[g].members) {
      JobStatus s = jobs_[m].status;
      if (!IsFinal(s)) ++group_remaining_[g];
      else if (!IsDone(s)) ++group_failed_[g];
    }
  }
}

// ---- restore ------------------------------------------------------------------

void WorkflowCore::RebuildDerived(double now) {
  counts_ = {};
  for (const auto& d : jobs_) ++counts_[static_cast<int>(d.status)];
  RebuildTallies();
  RecomputeGroups();
  int64_t ignored = 0;
  for (JobIndex j = 0; j < jobs_.size(); ++j) {
    unmet_[j] = CountUnmet(j, &ignored);
    if (jobs_[j].status == JobStatus::kReady) ready_.Push(j, ++queue_token_[j], ShapeOf(j));
    if (jobs_[j].status == JobStatus::kClaimed || jobs_[j].status == JobStatus::kRunning)
      worker_jobs_[jobs_[j].worker].push_back(j);
  }
  for (uint32_t a = 0; a < actions_.size(); ++a) {
    actions_[a].satisfied = 0;
    for (JobIndex j : plan_->actions[a].jobs)
      if (MeetsTrigger(plan_->actions[a].trigger, jobs_[j].status)) ++actions_[a].satisfied;
  }
  (void)now;
}

std::string WorkflowCore::CheckStoredState(const std::vector<JobDynamic>& jobs,
                                           const std::vector<AttemptResult>& results,
                                           const std::vector<ActionState>& actions) const {
  if (jobs.size() != plan_->jobs.size()) {
    return "the store holds " + std::to_string(jobs.size()) + " job states for a plan of " +
           std::to_string(plan_->jobs.size()) + " jobs";
  }
  for (JobIndex j = 0; j < jobs.size(); ++j) {
    if (static_cast<int>(jobs[j].status) >= kNumJobStatuses || jobs[j].attempt == 0)
      return "job " + std::to_string(j) + " has an impossible state (status " +
             std::to_string(static_cast<int>(jobs[j].status)) + ", attempt " +
             std::to_string(jobs[j].attempt) + ")";
  }
  for (const AttemptResult& r : results) {
    std::string key = "attempts row (job " + std::to_string(r.job) + ", attempt " +
                      std::to_string(r.attempt) + ")";
    if (r.job >= jobs.size())
      return key + ": the workflow has " + std::to_string(jobs.size()) + " jobs";
    if (static_cast<int>(r.status) >= kNumJobStatuses)
      return key + ": status " + std::to_string(static_cast<int>(r.status)) + " is no job status";
    // A result is recorded for the job's current attempt, in the same commit that makes the
    // job final or starts its next attempt: a result of the current attempt of a job that is
    // not final, or of a later attempt, means the job states lost commits.
    const JobDynamic& d = jobs[r.job];
    if (r.attempt > d.attempt || (r.attempt == d.attempt && !IsFinal(d.status))) {
      return key + " says the attempt ended, but job '" + plan_->jobs[r.job].name +
             "' is " + ToString(d.status) + " at attempt " + std::to_string(d.attempt) +
             ": the stored job states lost changes (a changed checkpoint_seq, a lost job_log "
             "row); started from them, finished jobs would run again";
    }
  }
  for (const ActionState& a : actions) {
    if (a.action >= actions_.size())
      return "actions row (action " + std::to_string(a.action) + "): the plan has " +
             std::to_string(actions_.size()) + " actions";
    if (a.status > ActionStatus::kFailed)
      return "actions row (action " + std::to_string(a.action) + "): status " +
             std::to_string(static_cast<int>(a.status)) + " is no action status";
  }
  return "";
}

bool WorkflowCore::Restore(const std::vector<JobDynamic>& jobs,
                           const std::vector<AttemptResult>& results,
                           const std::vector<WorkerRecord>& workers,
                           const std::vector<ActionState>& actions, double now,
                           ChangeBatch* batch, std::string* error) {
  *error = CheckStoredState(jobs, results, actions);
  if (!error->empty()) return false;
  jobs_ = jobs;
  for (const auto& r : results) AddResult(r, nullptr);
  for (const auto& w : workers) {
    NoteWorkerNodes(w);
    WorkerRecord rec = w;
    if (rec.alive) {
      rec.lease_expires = now + options_.lease_seconds();
      next_expiry_ = std::min(next_expiry_, rec.lease_expires);
    }
    workers_[rec.id] = rec;
  }
  for (const auto& a : actions) {
    actions_[a.action].status = a.status;
    actions_[a.action].detail = a.detail;
  }
  RebuildDerived(now);
  // Heal blocked jobs whose parents have all ended (nothing should leave them
  // so, but a stuck job is the worst outcome of any inconsistency).
  for (JobIndex j = 0; j < jobs_.size(); ++j) {
    if (jobs_[j].status != JobStatus::kBlocked) continue;
    int64_t failed_parent = -1;
    unmet_[j] = CountUnmet(j, &failed_parent);
    if (failed_parent >= 0) {
      SetStatus(j, JobStatus::kCanceled, batch);
      OnFinal(j, now, batch);
    } else if (unmet_[j] == 0) {
      MakeReady(j, batch);
    }
  }
  // Claimed/running jobs of workers that are gone (or unknown) go back to ready.
  for (JobIndex j = 0; j < jobs_.size(); ++j) {
    JobStatus s = jobs_[j].status;
    if (s != JobStatus::kClaimed && s != JobStatus::kRunning) continue;
    if (!IsLiveWorker(jobs_[j].worker)) AbandonAttempt(j, "its worker is gone", now, batch);
  }
  return true;
}

// ---- requeueing (workers and their leases: core_workers.cc) -----------------------

void WorkflowCore::Requeue(JobIndex j, bool new_attempt, double now, ChangeBatch* batch) {
  if (FailureLimitReached()) {
    jobs_[j].worker = 0;
    SetStatus(j, JobStatus::kCanceled, batch);
    Event(batch, now, "canceled", j, jobs_[j].attempt, 0,
          "max_failures (" + std::to_string(*plan_->max_failures) +
              ") is reached: not run again");
    OnFinal(j, now, batch);
    return;
  }
  if (new_attempt) ++jobs_[j].attempt;
  MakeReady(j, batch);
}

void WorkflowCore::AbandonAttempt(JobIndex j, const char* why, double now, ChangeBatch* batch) {
  JobDynamic& d = jobs_[j];
  uint32_t lost = d.attempt;
  WorkerId w = d.worker;
  AttemptResult r;
  r.job = j;
  r.attempt = lost;
  r.worker = w;
  r.status = JobStatus::kTerminated;
  r.exit_code = -1;
  r.reason = std::string(kAbandoned) + why;
  r.start_time = r.end_time = now;
  const JobShape shape = ShapeOf(j);
  r.memory_request = shape.memory_bytes;
  r.runtime_request = shape.runtime_seconds;
  AddResult(r, batch);
  Requeue(j, true, now, batch);
  if (d.status == JobStatus::kReady)
    Event(batch, now, "requeued", j, lost, w,
          std::string(why) + "; attempt " + std::to_string(lost) +
              " abandoned, the job runs again as attempt " + std::to_string(d.attempt));
}

// ---- claims and results ---------------------------------------------------------------

std::vector<ClaimedJob> WorkflowCore::Claim(WorkerId w, const ClaimFilter& filter, double now,
                                            ChangeBatch* batch) {
  std::vector<ClaimedJob> out;
  if (!IsLiveWorker(w)) return out;
  workers_[w].lease_expires = now + options_.lease_seconds();
  auto placements = ready_.Take(filter, [&](JobIndex j, uint32_t token) {
    return jobs_[j].status == JobStatus::kReady && queue_token_[j] == token;
  });
  auto& held = worker_jobs_[w];
  for (auto& p : placements) {
    jobs_[p.job].worker = w;
    SetStatus(p.job, JobStatus::kClaimed, batch);
    held.push_back(p.job);
    out.push_back({p.job, jobs_[p.job].attempt, std::move(p.nodes)});
  }
  (void)now;
  return out;
}

size_t WorkflowCore::Started(WorkerId w, const std::vector<std::pair<JobIndex, uint32_t>>& jobs,
                             double now, ChangeBatch* batch) {
  size_t applied = 0;
  for (auto [j, attempt] : jobs) {
    if (j >= jobs_.size()) continue;
    JobDynamic& d = jobs_[j];
    if (d.worker != w || d.attempt != attempt || d.status != JobStatus::kClaimed) continue;
    SetStatus(j, JobStatus::kRunning, batch);
    ++applied;
  }
  (void)now;
  return applied;
}

void WorkflowCore::AddResult(const AttemptResult& r, ChangeBatch* batch) {
  prev_result_.push_back(last_result_[r.job]);
  last_result_[r.job] = static_cast<int32_t>(results_.size());
  results_.push_back(r);
  if (batch) batch->results.push_back(r);
}

std::vector<const AttemptResult*> WorkflowCore::AttemptsOf(JobIndex j) const {
  std::vector<const AttemptResult*> out;
  for (int32_t k = last_result_[j]; k >= 0; k = prev_result_[static_cast<size_t>(k)])
    out.push_back(&results_[static_cast<size_t>(k)]);
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<CompletionAnswer> WorkflowCore::Complete(WorkerId w,
                                                     const std::vector<AttemptResult>& results,
                                                     double now, ChangeBatch* batch) {
  std::vector<CompletionAnswer> answers;
  answers.reserve(results.size());
  if (IsLiveWorker(w)) workers_[w].lease_expires = now + options_.lease_seconds();
  for (const AttemptResult& in : results) {
    CompletionAnswer ans;
    if (in.job >= jobs_.size()) {
      answers.push_back({CompletionOutcome::kRejected, "unknown job " + std::to_string(in.job)});
      continue;
    }
    JobDynamic& d = jobs_[in.job];
    int32_t last = last_result_[in.job];
    const AttemptResult* prev = last >= 0 ? &results_[static_cast<size_t>(last)] : nullptr;
    bool recorded = prev && prev->attempt == in.attempt && prev->worker == w &&
                    prev->reason.rfind(kAbandoned, 0) != 0;
    if (recorded) {
      // A repeat (the worker resends when an answer was lost) is a duplicate only when it says
      // the same (docs/api.md); "completed" and then "failed" for one attempt is a conflict.
      if (SameOutcome(*prev, in)) answers.push_back({CompletionOutcome::kDuplicate, ""});
      else answers.push_back({CompletionOutcome::kRejected, ConflictReason(*prev, in)});
      continue;
    }
    if (in.attempt != d.attempt || d.worker != w) {
      answers.push_back({CompletionOutcome::kRejected,
                         "job " + std::to_string(in.job) + " attempt " +
                             std::to_string(in.attempt) + " is not held by worker " +
                             std::to_string(w) + " (current attempt " +
                             std::to_string(d.attempt) + ")"});
      continue;
    }
    AttemptResult r = in;
    r.worker = w;
    // The request the attempt was given (grown requests change only between attempts).
    const JobShape shape = ShapeOf(in.job);
    r.memory_request = shape.memory_bytes;
    r.runtime_request = shape.runtime_seconds;
    bool active = d.status == JobStatus::kClaimed || d.status == JobStatus::kRunning;
    if (!active) {
      // Canceled while it ran: keep the record, the state stays as the user set it.
      AddResult(r, batch);
      answers.push_back(ans);
      continue;
    }
    AddResult(r, batch);
    ApplyEndedAttempt(r, now, batch);
    answers.push_back(ans);
  }
  return answers;
}

// ---- queries ------------------------------------------------------------------------------

bool WorkflowCore::IsComplete() const {
  uint64_t final_count = 0;
  for (int s = 0; s < kNumJobStatuses; ++s)
    if (IsFinal(static_cast<JobStatus>(s))) final_count += counts_[s];
  return final_count == jobs_.size();
}

}  // namespace torc::server
