// WorkflowCore's user operations (cancel, restart), action triggers and
// claimability queries; the rest of the class is defined in core.cc.
#include <algorithm>
#include <map>

#include "server/core/core.h"
#include "server/core/core_internal.h"

namespace torc::server {

using internal::MeetsTrigger;

namespace {

/// What a restart of `asked` (every job when empty) restarts: the failed, canceled and
/// terminated jobs among them, and their canceled dependents, in the order found;
/// (*in_set)[j] is 1 for each.
std::vector<JobIndex> JobsToRestart(const DependencyGraph& graph,
                                    const std::vector<JobDynamic>& jobs,
                                    const std::vector<JobIndex>& asked, std::vector<char>* in_set) {
  auto restartable = [&](JobIndex j) {
    JobStatus s = jobs[j].status;
    return s == JobStatus::kFailed || s == JobStatus::kCanceled || s == JobStatus::kTerminated;
  };
  in_set->assign(jobs.size(), 0);
  std::vector<JobIndex> set;
  auto add = [&](JobIndex j) {
    if (j < jobs.size() && !(*in_set)[j] && restartable(j)) {
      (*in_set)[j] = 1;
      set.push_back(j);
    }
  };
  if (asked.empty())
    for (JobIndex j = 0; j < jobs.size(); ++j) add(j);
  for (JobIndex j : asked) add(j);
  // Their canceled dependents come back too.
  for (size_t k = 0; k < set.size(); ++k) {
    JobIndex j = set[k];
    for (JobIndex c : graph.children[j])
      if (jobs[c].status == JobStatus::kCanceled) add(c);
    for (uint32_t g : graph.member_groups[j])
      for (JobIndex u : graph.group_users[g])
        if (jobs[u].status == JobStatus::kCanceled) add(u);
  }
  return set;
}

}  // namespace

// ---- user operations ---------------------------------------------------------------

size_t WorkflowCore::Cancel(const std::vector<JobIndex>& jobs, double now, ChangeBatch* batch) {
  const bool whole = jobs.empty();
  std::vector<JobIndex> targets = jobs;
  if (whole)
    for (JobIndex j = 0; j < jobs_.size(); ++j) targets.push_back(j);
  uint64_t canceled_before = counts_[static_cast<int>(JobStatus::kCanceled)];
  // Mark them all first, then propagate: dependents canceled here are the
  // user's doing, not a cascade worth an event each.
  std::vector<JobIndex> changed;
  for (JobIndex j : targets) {
    if (j >= jobs_.size() || IsFinal(jobs_[j].status)) continue;
    JobStatus before = jobs_[j].status;
    SetStatus(j, JobStatus::kCanceled, batch);
    if (before == JobStatus::kClaimed || before == JobStatus::kRunning)
      to_stop_[jobs_[j].worker].push_back(j);
    if (!whole) Event(batch, now, "canceled", j, jobs_[j].attempt, 0, "canceled by the user");
    changed.push_back(j);
  }
  for (JobIndex j : changed) OnFinal(j, now, batch);
  uint64_t count = counts_[static_cast<int>(JobStatus::kCanceled)] - canceled_before;
  if (whole && count > 0)
    Event(batch, now, "workflow_canceled", -1, 0, 0,
          std::to_string(count) + " jobs canceled by the user");
  return count;
}

size_t WorkflowCore::Restart(const std::vector<JobIndex>& jobs, double now, ChangeBatch* batch,
                             const RequestGrowth& growth) {
  std::vector<char> in_set;
  std::vector<JobIndex> set = JobsToRestart(graph_, jobs_, jobs, &in_set);
  if (set.empty()) return 0;
  for (JobIndex j : set) {
    // What ran out is grown; a canceled job never ran, so it comes back as it was.
    JobStatus s = jobs_[j].status;
    if (s == JobStatus::kFailed || s == JobStatus::kTerminated)
      GrowRequest(j, growth.memory_multiplier, growth.runtime_multiplier, now, 0,
                  jobs_[j].attempt, batch);
    ++jobs_[j].attempt;
    jobs_[j].retries = 0;
    jobs_[j].walltime_requeues = jobs_[j].interruptions = jobs_[j].slurm_requeues = 0;
    jobs_[j].worker = 0;
    SetStatus(j, JobStatus::kBlocked, batch);
  }
  RecomputeGroups();
  // Recount the reset jobs and the waiting children that counted them as ended.
  std::vector<JobIndex> recount = set;
  for (JobIndex j : set) {
    for (JobIndex c : graph_.children[j])
      if (!in_set[c] && !IsFinal(jobs_[c].status)) recount.push_back(c);
    for (uint32_t g : graph_.member_groups[j])
      for (JobIndex u : graph_.group_users[g])
        if (!in_set[u] && !IsFinal(jobs_[u].status)) recount.push_back(u);
  }
  std::sort(recount.begin(), recount.end());
  recount.erase(std::unique(recount.begin(), recount.end()), recount.end());
  for (JobIndex j : recount) {
    int64_t failed_parent = -1;
    unmet_[j] = CountUnmet(j, &failed_parent);
    JobStatus s = jobs_[j].status;
    if (failed_parent >= 0 && (s == JobStatus::kBlocked || s == JobStatus::kReady)) {
      SetStatus(j, JobStatus::kCanceled, batch);
      Event(batch, now, "canceled", j, jobs_[j].attempt, 0,
            "blocking job '" + plan_->jobs[static_cast<size_t>(failed_parent)].name +
                "' ended " + ToString(jobs_[static_cast<size_t>(failed_parent)].status));
      OnFinal(j, now, batch);
    } else if (unmet_[j] == 0 && s == JobStatus::kBlocked) {
      MakeReady(j, batch);
    } else if (unmet_[j] > 0 && s == JobStatus::kReady) {
      SetStatus(j, JobStatus::kBlocked, batch);  // its stale queue entry is skipped by token
      ++queue_token_[j];
    }
  }
  for (JobIndex j : set)
    Event(batch, now, "restarted", j, jobs_[j].attempt, 0, "restarted by the user");
  return set.size();
}

// ---- actions ------------------------------------------------------------------------

void WorkflowCore::MarkDue(uint32_t a, ChangeBatch* batch) {
  if (actions_[a].status != ActionStatus::kWaiting) return;
  actions_[a].status = ActionStatus::kDue;
  if (batch) batch->actions.push_back({a, ActionStatus::kDue, ""});
}

void WorkflowCore::UpdateActions(JobIndex j, JobStatus before, JobStatus after,
                                 ChangeBatch* batch) {
  for (uint32_t a : job_actions_[j]) {
    spec::TriggerType t = plan_->actions[a].trigger;
    bool was = MeetsTrigger(t, before), is = MeetsTrigger(t, after);
    if (was == is) continue;
    if (is) ++actions_[a].satisfied;
    else --actions_[a].satisfied;
    if (actions_[a].satisfied == plan_->actions[a].jobs.size()) MarkDue(a, batch);
  }
}

std::vector<uint32_t> WorkflowCore::DueActions() const {
  std::vector<uint32_t> out;
  bool complete = IsComplete();
  for (uint32_t a = 0; a < actions_.size(); ++a) {
    if (actions_[a].status == ActionStatus::kDue) out.push_back(a);
    else if (actions_[a].status == ActionStatus::kWaiting && complete &&
             plan_->actions[a].trigger == spec::TriggerType::kOnWorkflowComplete)
      out.push_back(a);
  }
  return out;
}

bool WorkflowCore::FinishAction(uint32_t a, ActionStatus status, const std::string& detail,
                                double now, ChangeBatch* batch) {
  if (a >= actions_.size()) return false;
  actions_[a].status = status;
  actions_[a].detail = detail;
  if (batch) batch->actions.push_back({a, status, detail});
  Event(batch, now, status == ActionStatus::kDone ? "action_done" : "action_failed", -1, 0, 0,
        std::string(spec::ToString(plan_->actions[a].trigger)) + " " +
            spec::ToString(plan_->actions[a].type) + (detail.empty() ? "" : ": " + detail));
  return true;
}

// ---- claimability ---------------------------------------------------------------------------

uint64_t WorkflowCore::RunnableCount(const ClaimFilter& filter) const {
  uint64_t count = 0;
  const bool in_flight = counts_[static_cast<int>(JobStatus::kClaimed)] +
                             counts_[static_cast<int>(JobStatus::kRunning)] > 0;
  // The placement rule's answer once per shape: jobs of one shape share it.
  for (const auto& [key, t] : tallies_) {
    // Blocked jobs wait for others: worth staying for only while something runs.
    const uint64_t n = in_flight ? t.unfinished : t.unfinished - t.blocked;
    if (n == 0) continue;
    const JobShape& s = t.shape;
    if (protocol::CanEverFit(s.Needs(), filter.nodes) &&
        static_cast<double>(s.runtime_seconds) <= filter.remaining_seconds &&
        (filter.scheduler == UINT32_MAX || s.scheduler == UINT32_MAX ||
         s.scheduler == filter.scheduler))
      count += n;
  }
  return count;
}

std::string WorkflowCore::UnclaimableReason(JobIndex j) const {
  const spec::Job& job = plan_->jobs[j];
  const auto& schedulers = plan_->schedulers;
  if (schedulers.empty()) return "";
  if (job.scheduler != spec::kNone) return spec::CannotHold(*plan_, job, schedulers[job.scheduler]);
  std::string first;
  for (const auto& s : schedulers) {
    std::string why = spec::CannotHold(*plan_, job, s);
    if (why.empty()) return "";
    if (first.empty()) first = why;
  }
  return first;
}

}  // namespace torc::server
