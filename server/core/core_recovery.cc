// WorkflowCore's recovery: how an ended attempt is applied (requeued within its reason's budget,
// retried, or final), failure-handler retries that grow what ran out (memory, runtime) within
// what a node and the walltime allow, and the workflow's failure limit (max_failures). The rest
// of the class is in core.cc, core_operations.cc and core_workers.cc.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "server/core/core.h"
#include "spec/units.h"

namespace torc::server {
namespace {

// "slurm: Job credential expired" -> "Job credential expired".
std::string SlurmMessage(const std::string& reason) {
  size_t start = reason.find_first_not_of(' ', 6);
  return start == std::string::npos ? std::string() : reason.substr(start);
}

constexpr int64_t kMiB = 1 << 20;
constexpr int64_t kNoCap = INT64_MAX;

/// `value` times `factor`, rounded up to a whole `unit` (memory: MiB, runtime: seconds);
/// the tiny slack keeps 100 MiB x 1.1 at 110 MiB, not 111.
int64_t Multiplied(int64_t value, double factor, int64_t unit) {
  double units = std::ceil(static_cast<double>(value) * factor / static_cast<double>(unit) - 1e-9);
  double limit = static_cast<double>(kNoCap / unit);
  if (units >= limit) return kNoCap / unit * unit;
  return static_cast<int64_t>(units) * unit;
}

std::string Mib(int64_t bytes) {
  char text[48];
  std::snprintf(text, sizeof text, "%.0f MiB", static_cast<double>(bytes) / kMiB);
  return text;
}

/// A scheduler's `mem` in bytes (Slurm's unit without a suffix is MB); 0 when it asks for
/// all of a node's memory (empty or 0) or cannot be read.
int64_t SchedulerMemory(const std::string& mem) {
  if (mem.empty()) return 0;
  int64_t bytes = 0;
  std::string error;
  if (std::all_of(mem.begin(), mem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (!spec::ParseMemory(mem + "m", &bytes, &error)) return 0;
  } else if (!spec::ParseMemory(mem, &bytes, &error)) {
    return 0;
  }
  return bytes;
}

}  // namespace

// ---- grown requests ---------------------------------------------------------------------

void WorkflowCore::NoteWorkerNodes(const WorkerRecord& worker) {
  auto r = nlohmann::json::parse(worker.resources_json, nullptr, false);
  if (!r.is_object() || !r.contains("nodes") || !r["nodes"].is_array()) return;
  for (const auto& n : r["nodes"]) {
    if (!n.is_object() || !n.contains("memory_bytes") || !n["memory_bytes"].is_number_integer())
      continue;
    largest_worker_memory_ = std::max(largest_worker_memory_, n["memory_bytes"].get<int64_t>());
  }
}

int64_t WorkflowCore::MemoryCap(JobIndex j, std::string* why) const {
  const spec::Job& job = plan_->jobs[j];
  // The schedulers whose allocations may run the job: its own, or any when it names none.
  std::vector<const spec::SlurmScheduler*> candidates;
  if (job.scheduler != spec::kNone) candidates.push_back(&plan_->schedulers[job.scheduler]);
  else
    for (const auto& s : plan_->schedulers) candidates.push_back(&s);
  bool whole_nodes = candidates.empty();
  int64_t cap = 0;
  for (const auto* s : candidates) {
    int64_t mem = SchedulerMemory(s->mem);
    if (mem <= 0) {
      whole_nodes = true;  // --mem=0: all of a node, whose size only its worker knows
    } else if (mem > cap) {
      cap = mem;
      *why = "the mem of scheduler '" + s->name + "'";
    }
  }
  if (!whole_nodes) return cap;
  if (largest_worker_memory_ <= 0) return kNoCap;
  if (largest_worker_memory_ > cap) {
    cap = largest_worker_memory_;
    *why = "the largest node a worker reported";
  }
  return cap;
}

int64_t WorkflowCore::RuntimeCap(JobIndex j, std::string* why) const {
  const spec::Job& job = plan_->jobs[j];
  int64_t cap = kNoCap;
  auto consider = [&](const spec::SlurmScheduler& s) {
    if (cap == kNoCap || s.walltime_seconds > cap) {
      cap = s.walltime_seconds;
      *why = "the walltime of scheduler '" + s.name + "'";
    }
  };
  if (job.scheduler != spec::kNone) consider(plan_->schedulers[job.scheduler]);
  else
    for (const auto& s : plan_->schedulers) consider(s);
  return cap;
}

void WorkflowCore::GrowRequest(JobIndex j, double memory_multiplier, double runtime_multiplier,
                               double now, WorkerId worker, uint32_t attempt, ChangeBatch* batch) {
  if (memory_multiplier <= 1 && runtime_multiplier <= 1) return;
  const JobShape before = ShapeOf(j);
  JobDynamic& d = jobs_[j];
  Tally(j, d.status, -1);  // its shape changes below
  std::string detail;
  auto add = [&](const std::string& part) { detail += (detail.empty() ? "" : "; ") + part; };
  if (memory_multiplier > 1 && before.memory_bytes <= 0) {
    add("memory not grown: the job requests none (it gets a per-CPU share of a node)");
  } else if (memory_multiplier > 1) {
    std::string cap_why;
    const int64_t cap = MemoryCap(j, &cap_why);
    const int64_t want = Multiplied(before.memory_bytes, memory_multiplier, kMiB);
    d.memory_request = std::max(before.memory_bytes, std::min(want, cap));
    std::string part = "memory " + Mib(before.memory_bytes) + " -> " + Mib(d.memory_request);
    if (want > cap) part += " (capped at " + cap_why + ", " + Mib(cap) + ")";
    add(part);
  }
  if (runtime_multiplier > 1) {
    std::string cap_why;
    const int64_t cap = RuntimeCap(j, &cap_why);
    const int64_t want = Multiplied(before.runtime_seconds, runtime_multiplier, 1);
    d.runtime_request = std::max(before.runtime_seconds, std::min(want, cap));
    std::string part = "runtime " + std::to_string(before.runtime_seconds) + " s -> " +
                       std::to_string(d.runtime_request) + " s";
    if (want > cap) part += " (capped at " + cap_why + ", " + std::to_string(cap) + " s)";
    add(part);
  }
  Tally(j, d.status, +1);
  // Not recorded here: the caller changes the job's status next, which records it.
  Event(batch, now, "request_grown", j, attempt, worker, detail);
}

void WorkflowCore::RetryOrEnd(const AttemptResult& r, const spec::FailureRule* rule, double now,
                              ChangeBatch* batch) {
  const JobIndex j = r.job;
  JobDynamic& d = jobs_[j];
  std::string what = "exit code " + std::to_string(r.exit_code);
  if (r.signal) what += ", signal " + std::to_string(r.signal);
  if (!r.reason.empty()) what += " (" + r.reason + ")";
  if (rule && d.retries < rule->max_retries && !FailureLimitReached()) {
    ++d.retries;
    Event(batch, now, "retry", j, r.attempt, r.worker,
          what + "; retry " + std::to_string(d.retries) + " of " +
              std::to_string(rule->max_retries));
    GrowRequest(j, rule->memory_multiplier, rule->runtime_multiplier, now, r.worker, r.attempt,
                batch);
    Requeue(j, true, now, batch);
    return;
  }
  const JobStatus status =
      r.status == JobStatus::kTerminated ? JobStatus::kTerminated : JobStatus::kFailed;
  SetStatus(j, status, batch);
  Event(batch, now, ToString(status), j, r.attempt, r.worker, what);
  OnFinal(j, now, batch);
  if (status == JobStatus::kFailed && FailureLimitReached()) StopAtFailureLimit(now, batch);
}

// ---- the failure limit --------------------------------------------------------------------

bool WorkflowCore::FailureLimitReached() const {
  return plan_->max_failures &&
         counts_[static_cast<int>(JobStatus::kFailed)] >=
             static_cast<uint64_t>(*plan_->max_failures);
}

void WorkflowCore::StopAtFailureLimit(double now, ChangeBatch* batch) {
  // Mark them all first, then propagate (as a cancel of the workflow does).
  std::vector<JobIndex> changed;
  for (JobIndex j = 0; j < jobs_.size(); ++j) {
    JobStatus s = jobs_[j].status;
    if (s != JobStatus::kBlocked && s != JobStatus::kReady && s != JobStatus::kClaimed) continue;
    // A claimed job has not started: its worker is told to drop it (as for a cancel).
    if (s == JobStatus::kClaimed) to_stop_[jobs_[j].worker].push_back(j);
    SetStatus(j, JobStatus::kCanceled, batch);
    changed.push_back(j);
  }
  for (JobIndex j : changed) OnFinal(j, now, batch);
  const uint64_t failed = counts_[static_cast<int>(JobStatus::kFailed)];
  const uint64_t running = counts_[static_cast<int>(JobStatus::kRunning)];
  if (changed.empty() && failed > static_cast<uint64_t>(*plan_->max_failures)) return;
  Event(batch, now, "max_failures", -1, 0, 0,
        std::to_string(failed) + " jobs failed (max_failures " +
            std::to_string(*plan_->max_failures) + "): " + std::to_string(changed.size()) +
            " jobs that had not started are canceled, " + std::to_string(running) +
            " running end as they end");
}

// ---- how an ended attempt is applied: completed, requeued within a budget, retried, final ----

std::optional<WorkflowCore::RequeueBudget> WorkflowCore::BudgetOf(const std::string& reason,
                                                                  JobDynamic* d) const {
  // Not the job's doing: requeued without using a retry, each kind of cause within its own
  // budget (docs/job-states.md, "Requeues").
  if (reason == "walltime" || reason == "runtime")
    return RequeueBudget{&d->walltime_requeues, options_.walltime_requeue_limit, "requeue",
                         "terminated by " + reason};
  if (reason == "preempted" || reason == "stopped")
    return RequeueBudget{&d->interruptions, options_.interruption_requeue_limit, "interruption",
                         reason == "stopped" ? "stopped with its worker"
                                             : "its allocation was preempted"};
  if (reason.rfind("slurm:", 0) == 0)
    return RequeueBudget{&d->slurm_requeues, options_.slurm_requeue_limit, "Slurm requeue",
                         "Slurm could not run its step (" + SlurmMessage(reason) + ")"};
  return std::nullopt;
}

void WorkflowCore::ApplyEndedAttempt(const AttemptResult& r, double now, ChangeBatch* batch) {
  const JobIndex j = r.job;
  JobDynamic& d = jobs_[j];
  const spec::Job& job = plan_->jobs[j];
  const spec::FailureHandler* handler =
      job.failure_handler == spec::kNone ? nullptr : &plan_->failure_handlers[job.failure_handler];
  if (r.status == JobStatus::kCompleted) {
    SetStatus(j, JobStatus::kCompleted, batch);
    OnFinal(j, now, batch);
  } else if (std::optional<RequeueBudget> budget =
                 r.status == JobStatus::kTerminated ? BudgetOf(r.reason, &d) : std::nullopt) {
    // A rule that lists the reason decides (a runtime overrun has no exit code of its own);
    // without one, the job is requeued without using a retry, within the reason's budget.
    if (const spec::FailureRule* rule = handler ? handler->MatchReason(r.reason) : nullptr)
      return RetryOrEnd(r, rule, now, batch);
    if (*budget->used < budget->limit) {
      ++*budget->used;
      Requeue(j, true, now, batch);
      if (d.status == JobStatus::kReady)
        Event(batch, now, "requeued", j, r.attempt, r.worker,
              budget->why + "; " + budget->name + " " + std::to_string(*budget->used) + " of " +
                  std::to_string(budget->limit));
    } else {
      SetStatus(j, JobStatus::kTerminated, batch);
      Event(batch, now, "terminated", j, r.attempt, r.worker,
            budget->why + " and its " + budget->name + " limit (" +
                std::to_string(budget->limit) + ") is used up");
      OnFinal(j, now, batch);
    }
  } else if (r.status == JobStatus::kCanceled || r.status == JobStatus::kTerminated) {
    SetStatus(j, r.status, batch);
    OnFinal(j, now, batch);
  } else {
    RetryOrEnd(r, handler ? handler->Match(r.exit_code, r.reason) : nullptr, now, batch);
  }
}

}  // namespace torc::server
