// WorkflowCore's workers: registration, heartbeats and leases, leaving, and what happens to the
// jobs a worker held when it goes (lease expired, unregistered, its allocation ended). The rest
// of the class is in core.cc, core_operations.cc and core_recovery.cc.
#include <algorithm>
#include <limits>

#include "server/core/core.h"

namespace torc::server {

bool WorkflowCore::IsLiveWorker(WorkerId w) const {
  auto it = workers_.find(w);
  return it != workers_.end() && it->second.alive;
}

std::vector<ClaimedJob> WorkflowCore::HeldBy(WorkerId w) const {
  std::vector<ClaimedJob> out;
  auto it = worker_jobs_.find(w);
  if (it == worker_jobs_.end()) return out;
  std::vector<JobIndex> held = it->second;
  std::sort(held.begin(), held.end());
  held.erase(std::unique(held.begin(), held.end()), held.end());
  for (JobIndex j : held) {
    const JobDynamic& d = jobs_[j];
    if (d.worker == w && (d.status == JobStatus::kClaimed || d.status == JobStatus::kRunning))
      out.push_back({j, d.attempt, {}});
  }
  return out;
}

void WorkflowCore::RegisterWorker(const WorkerRecord& worker, double now, ChangeBatch* batch) {
  WorkerRecord rec = worker;
  rec.workflow = id_;
  rec.alive = true;
  rec.registered_at = now;
  rec.lease_expires = now + options_.lease_seconds();
  next_expiry_ = std::min(next_expiry_, rec.lease_expires);
  workers_[rec.id] = rec;
  NoteWorkerNodes(rec);
  if (batch) batch->workers.push_back(rec);
  Event(batch, now, "worker_registered", -1, 0, rec.id,
        rec.hostname + (rec.slurm_job_id.empty() ? "" : " (slurm job " + rec.slurm_job_id + ")"));
}

bool WorkflowCore::Heartbeat(WorkerId w, double now, ChangeBatch* batch,
                             std::vector<JobIndex>* to_stop) {
  auto it = workers_.find(w);
  if (it == workers_.end() || !it->second.alive) return false;
  it->second.lease_expires = now + options_.lease_seconds();
  if (batch) batch->workers.push_back(it->second);
  auto stop = to_stop_.find(w);
  if (stop != to_stop_.end()) {
    *to_stop = std::move(stop->second);
    to_stop_.erase(stop);
  }
  return true;
}

void WorkflowCore::ReleaseWorkerJobs(WorkerId w, const char* why, double now, ChangeBatch* batch,
                                     bool claimed_never_ran) {
  auto it = worker_jobs_.find(w);
  if (it == worker_jobs_.end()) return;
  for (JobIndex j : it->second) {
    const JobDynamic& d = jobs_[j];
    if (d.worker != w) continue;
    if (claimed_never_ran && d.status == JobStatus::kClaimed) {
      // Back as it was, attempt number and all, with no record of a run that never was.
      Requeue(j, false, now, batch);
      if (d.status == JobStatus::kReady)
        Event(batch, now, "released", j, d.attempt, w,
              std::string(why) + " before starting it; attempt " + std::to_string(d.attempt) +
                  " unchanged");
    } else if (d.status == JobStatus::kClaimed || d.status == JobStatus::kRunning) {
      AbandonAttempt(j, why, now, batch);
    }
  }
  worker_jobs_.erase(it);
}

void WorkflowCore::UnregisterWorker(WorkerId w, double now, ChangeBatch* batch) {
  auto it = workers_.find(w);
  if (it == workers_.end()) return;
  // A worker leaves only once every job it started has ended and been reported
  // (docs/worker.md), so the jobs it still holds as claimed never ran.
  ReleaseWorkerJobs(w, "worker left", now, batch, /*claimed_never_ran=*/true);
  it->second.alive = false;
  if (batch) batch->workers.push_back(it->second);
  Event(batch, now, "worker_left", -1, 0, w, it->second.hostname);
  to_stop_.erase(w);
}

void WorkflowCore::DropWorkersOfAllocation(const std::string& slurm_job_id, double now,
                                           ChangeBatch* batch, const std::string& ended_by) {
  for (auto& [id, rec] : workers_) {
    if (!rec.alive || rec.slurm_job_id != slurm_job_id) continue;
    if (!ended_by.empty()) EndRunningAttempts(id, ended_by, now, batch);
    rec.lease_expires = now - 1;
    next_expiry_ = std::min(next_expiry_, rec.lease_expires);
  }
  ExpireLeases(now, batch);
}

void WorkflowCore::EndRunningAttempts(WorkerId w, const std::string& reason, double now,
                                      ChangeBatch* batch) {
  auto it = worker_jobs_.find(w);
  if (it == worker_jobs_.end()) return;
  const std::vector<JobIndex> held(it->second.begin(), it->second.end());  // changes below
  for (JobIndex j : held) {
    const JobDynamic& d = jobs_[j];
    if (d.worker != w || d.status != JobStatus::kRunning) continue;
    AttemptResult r;
    r.job = j;
    r.attempt = d.attempt;
    r.worker = w;
    r.status = JobStatus::kTerminated;
    r.exit_code = -1;
    r.reason = reason;
    r.start_time = r.end_time = now;
    const JobShape shape = ShapeOf(j);
    r.memory_request = shape.memory_bytes;
    r.runtime_request = shape.runtime_seconds;
    AddResult(r, batch);
    ApplyEndedAttempt(r, now, batch);
  }
}

void WorkflowCore::ExpireLeases(double now, ChangeBatch* batch) {
  // Asked at every request; the loop runs only once a lease can have run out.
  if (now < next_expiry_) return;
  next_expiry_ = std::numeric_limits<double>::infinity();
  for (auto& [id, rec] : workers_) {
    if (rec.alive && rec.lease_expires > now)
      next_expiry_ = std::min(next_expiry_, rec.lease_expires);
    if (!rec.alive || rec.lease_expires > now) continue;
    rec.alive = false;
    if (batch) batch->workers.push_back(rec);
    Event(batch, now, "lease_expired", -1, 0, id,
          rec.hostname + ": no heartbeat since " +
              std::to_string(rec.lease_expires - options_.lease_seconds()));
    ReleaseWorkerJobs(id, "lease expired", now, batch);
    to_stop_.erase(id);
  }
}

}  // namespace torc::server
