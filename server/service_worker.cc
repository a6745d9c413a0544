// The service's worker operations: register, claim, start, complete, heartbeat, held jobs,
// leave. Each decodes nothing and encodes nothing: it takes a protocol message, changes the
// workflow's core in one commit, and fills in the protocol answer.
#include "server/service.h"

#include "server/protocol/json_writer.h"

namespace torc::server {
namespace {

JobStatus JobStatusOf(protocol::AttemptStatus s) {
  switch (s) {
    case protocol::AttemptStatus::kCompleted: return JobStatus::kCompleted;
    case protocol::AttemptStatus::kFailed: return JobStatus::kFailed;
    case protocol::AttemptStatus::kTerminated: return JobStatus::kTerminated;
    case protocol::AttemptStatus::kCanceled: return JobStatus::kCanceled;
  }
  return JobStatus::kFailed;
}

AttemptResult ResultOf(const protocol::AttemptReport& r) {
  AttemptResult a;
  a.job = r.id;
  a.attempt = r.attempt;
  a.status = JobStatusOf(r.status);
  a.exit_code = r.exit_code;
  a.signal = r.signal;
  a.reason = r.reason;
  a.start_time = r.start_time;
  a.end_time = r.end_time;
  a.peak_rss_bytes = r.peak_rss_bytes;
  a.cpu_seconds = r.cpu_seconds;
  a.nodes = r.nodes;
  if (!r.node_usage.empty()) {
    // Without a DOM: every result of direct mode has it (docs/benchmarks.md, session 19).
    a.node_usage.clear();
    protocol::JsonWriter w(&a.node_usage);
    w.Raw("[");
    for (size_t k = 0; k < r.node_usage.size(); ++k) {
      const auto& n = r.node_usage[k];
      w.Raw(k ? ",{" : "{").Key("node", true).String(n.node);
      w.Key("peak_rss_bytes").Int(n.peak_rss_bytes).Key("cpu_seconds").Double(n.cpu_seconds);
      w.Raw("}");
    }
    w.Raw("]");
  }
  a.samples = static_cast<uint32_t>(r.samples.size());
  return a;
}

/// The time series of a report, as the store keeps it. The interval is the workflow's, or the
/// mean spacing when the worker thinned a longer series to the protocol's limit.
AttemptSamples SamplesOf(const protocol::AttemptReport& r, const spec::Plan& plan) {
  AttemptSamples s;
  s.job = r.id;
  s.attempt = r.attempt;
  s.interval_seconds = static_cast<double>(plan.resource_monitor.sample_interval_seconds);
  const auto& v = r.samples;
  if (v.size() >= protocol::kMaxSamples && v.back().t > v.front().t)
    s.interval_seconds = (v.back().t - v.front().t) / static_cast<double>(v.size() - 1);
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& x : v) samples.push_back(nlohmann::json::array({x.t, x.cpu_percent, x.rss_bytes}));
  s.samples_json = samples.dump();
  return s;
}

std::vector<AttemptResult> ResultsOf(const std::vector<protocol::AttemptReport>& reports) {
  std::vector<AttemptResult> out;
  out.reserve(reports.size());
  for (const auto& r : reports) out.push_back(ResultOf(r));
  return out;
}

/// A job handed to a worker as the protocol describes it: the plan's command, environment
/// (the workflow's, overridden by the job's own), resources (memory and runtime as grown by
/// failure handlers and restarts), stdio and failure handler.
protocol::ClaimedJob ClaimedJobOf(const WorkflowCore& core, const ClaimedJob& c) {
  const spec::Plan& plan = core.plan();
  const spec::Job& job = plan.jobs[c.job];
  const auto& rr = plan.RequirementsOf(job);
  const JobShape shape = core.ShapeOf(c.job);
  protocol::ClaimedJob m;
  m.id = c.job;
  m.name = job.name;
  m.attempt = c.attempt;
  m.command = job.command;
  m.invocation_script = job.invocation_script;
  for (const auto& [k, v] : plan.env) m.env[k] = v;
  for (const auto& [k, v] : job.env) m.env[k] = v;
  m.num_cpus = rr.num_cpus;
  m.memory_bytes = shape.memory_bytes;
  m.num_gpus = rr.num_gpus;
  m.num_nodes = rr.num_nodes;
  m.runtime_seconds = shape.runtime_seconds;
  m.nodes = c.nodes;
  const spec::StdioConfig& io = job.stdio ? *job.stdio : plan.execution.stdio;
  m.stdio_mode = io.mode;
  m.delete_on_success = io.delete_on_success;
  m.failure_handler =
      job.failure_handler == spec::kNone ? -1 : static_cast<int64_t>(job.failure_handler);
  m.has_dependents = core.HasDependents(c.job);
  return m;
}

/// Records the CPUs worker `w` said it has and returns the sum over the workflow's live
/// workers. Workers that left are taken out at most once a second (a walk over all of them).
int64_t WorkerCpus(WorkflowEntry& e, WorkerId w, int64_t cpus, double now) {
  if (cpus > 0) {
    int64_t& mine = e.worker_cpus[w];
    e.worker_cpus_sum += cpus - mine;
    mine = cpus;
  }
  if (now - e.worker_cpus_swept_at >= 1) {
    e.worker_cpus_swept_at = now;
    for (auto it = e.worker_cpus.begin(); it != e.worker_cpus.end();) {
      if (e.core->IsLiveWorker(it->first)) {
        ++it;
        continue;
      }
      e.worker_cpus_sum -= it->second;
      it = e.worker_cpus.erase(it);
    }
  }
  return e.worker_cpus_sum;
}

/// What a registered worker needs of its workflow.
protocol::RegistrationAnswer RegistrationAnswerOf(const WorkflowEntry& e, WorkerId worker,
                                                  const CoreOptions& core) {
  const spec::Plan& plan = *e.plan;
  protocol::RegistrationAnswer m;
  m.worker_id = worker;
  m.workflow_name = plan.name;
  m.working_dir = e.row.working_dir;
  m.heartbeat_seconds = core.heartbeat_seconds;
  m.lease_seconds = core.lease_seconds();
  m.failure_handlers = plan.failure_handlers;
  m.monitor = protocol::MonitorSettingsOf(plan.resource_monitor);
  for (const auto& s : plan.schedulers) m.schedulers.push_back(s.name);
  for (const auto& a : plan.actions) {
    if (a.type != spec::ActionType::kRunCommands) continue;
    if (a.trigger == spec::TriggerType::kOnWorkerStart)
      m.on_worker_start.insert(m.on_worker_start.end(), a.commands.begin(), a.commands.end());
    if (a.trigger == spec::TriggerType::kOnWorkerComplete)
      m.on_worker_complete.insert(m.on_worker_complete.end(), a.commands.begin(), a.commands.end());
  }
  m.execution = protocol::ExecutionSettingsOf(plan.execution);
  m.ignore_workflow_completion = plan.workers_ignore_completion;
  return m;
}

/// Applies start notices and remembers where each job runs. Returns how many applied.
size_t ApplyStarted(WorkflowEntry& e, WorkerId w, const std::vector<protocol::StartNotice>& s,
                    double now, ChangeBatch* batch) {
  std::vector<std::pair<JobIndex, uint32_t>> jobs;
  jobs.reserve(s.size());
  for (const auto& n : s) jobs.push_back({n.id, n.attempt});
  size_t applied = e.core->Started(w, jobs, now, batch);
  for (const auto& n : s) {
    if (n.nodes.empty() || n.id >= e.core->plan().jobs.size()) continue;
    const JobDynamic& d = e.core->job(n.id);
    if (d.status == JobStatus::kRunning && d.attempt == n.attempt && d.worker == w)
      e.running_on[n.id] = {n.attempt, n.nodes};
  }
  return applied;
}

/// Applies the results of ended attempts (`reports`, decoded as `results`), with the time
/// series of the applied ones; counts the outcomes and lists the rejected ones.
void ApplyResults(WorkflowEntry& e, WorkerId w, const std::vector<protocol::AttemptReport>& reports,
                  const std::vector<AttemptResult>& results, double now, ChangeBatch* batch,
                  int64_t* applied, int64_t* duplicate,
                  std::vector<protocol::Rejection>* rejected) {
  auto out = e.core->Complete(w, results, now, batch);
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].outcome == CompletionOutcome::kApplied) {
      ++*applied;
      if (!reports[k].samples.empty()) batch->samples.push_back(SamplesOf(reports[k], *e.plan));
      e.running_on.erase(results[k].job);  // the attempt ended: keep only running ones
    } else if (out[k].outcome == CompletionOutcome::kDuplicate) {
      ++*duplicate;
    } else {
      rejected->push_back({results[k].job, results[k].attempt, out[k].reason});
    }
  }
}

/// The claim filter of a request, but for the scheduler (an index into the plan).
ClaimFilter ClaimFilterOf(const protocol::ClaimRequest& request) {
  ClaimFilter filter;
  filter.max_jobs = request.max_jobs;
  if (request.remaining_seconds) filter.remaining_seconds = *request.remaining_seconds;
  filter.nodes = request.nodes;  // the core claims with the protocol's figures
  return filter;
}

/// Index of the named scheduler in the plan; UINT32_MAX (any) for "" or an unknown name.
uint32_t SchedulerIndex(const spec::Plan& plan, const std::string& name) {
  uint32_t index = UINT32_MAX;
  if (name.empty()) return index;
  for (uint32_t s = 0; s < plan.schedulers.size(); ++s)
    if (plan.schedulers[s].name == name) index = s;
  return index;
}

ServiceStatus NoLease(WorkerId w) {
  return ServiceStatus::Error(ServiceStatus::kConflict,
                              "worker " + std::to_string(w) + " has no lease; register again");
}

}  // namespace

ServiceStatus Service::RegisterWorker(WorkflowId id, const protocol::Registration& registration,
                                      double now, protocol::RegistrationAnswer* answer) {
  WorkerRecord w;
  w.hostname = registration.hostname;
  w.slurm_job_id = registration.slurm_job_id;
  w.pid = registration.pid;
  w.resources_json = registration.ResourcesJson().dump();
  w.id = NextWorkerId();
  ServiceStatus s = Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->RegisterWorker(w, now, batch);
    *answer = RegistrationAnswerOf(e, w.id, options_.core);
    return ServiceStatus::Ok();
  });
  if (!s.ok()) return s;
  // Its allocation runs: say so now, not at the next squeue (nothing happens for a worker
  // outside Slurm, or of an allocation this server did not submit).
  if (!w.slurm_job_id.empty())
    UpdateAllocation(id, w.slurm_job_id, "running", now, registration.slurm_nodelist);
  // Slurm requeued the allocation (preemption in REQUEUE mode, a node failure) and started it
  // again: the attempts its first run left were requeued when they were reported, or when
  // that run's worker's lease expired.
  if (registration.slurm_restart_count > 0)
    RecordEvent(id, "allocation_restarted",
                "Slurm started allocation " + w.slurm_job_id + " again (SLURM_RESTART_COUNT=" +
                    std::to_string(registration.slurm_restart_count) + "); worker " +
                    std::to_string(w.id) + " on " + w.hostname,
                now);
  return s;
}

ServiceStatus Service::Claim(WorkflowId id, const protocol::ClaimRequest& request, double now,
                             protocol::ClaimAnswer* answer) {
  const WorkerId w = request.worker_id;
  ClaimFilter filter = ClaimFilterOf(request);
  std::vector<AttemptResult> results = ResultsOf(request.results);
  return Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    if (!e.core->IsLiveWorker(w)) return NoLease(w);
    // A claim may carry the worker's news since its last request (jobs it started, results
    // of jobs that ended), so one request per loop suffices.
    if (!request.started.empty()) ApplyStarted(e, w, request.started, now, batch);
    if (!results.empty())
      ApplyResults(e, w, request.results, results, now, batch, &answer->applied,
                   &answer->duplicate, &answer->rejected);
    filter.scheduler = SchedulerIndex(*e.plan, request.scheduler);
    std::vector<ClaimedJob> claimed = e.core->Claim(w, filter, now, batch);
    answer->jobs.reserve(claimed.size());
    for (const auto& c : claimed) answer->jobs.push_back(ClaimedJobOf(*e.core, c));
    auto counts = e.core->Counts();
    for (int s = 0; s < kNumJobStatuses; ++s)
      if (!IsFinal(static_cast<JobStatus>(s)))
        answer->unfinished += static_cast<int64_t>(counts[s]);
    answer->ready = static_cast<int64_t>(counts[static_cast<int>(JobStatus::kReady)]);
    answer->blocked = static_cast<int64_t>(counts[static_cast<int>(JobStatus::kBlocked)]);
    answer->worker_cpus = WorkerCpus(e, w, request.total_cpus, now);
    answer->workflow_complete = e.core->IsComplete();
    // When nothing was given, say whether anything left could ever fit this worker, so it
    // can leave instead of idling (e.g. a 4-node job, 2 nodes here).
    if (claimed.empty()) answer->runnable = static_cast<int64_t>(e.core->RunnableCount(filter));
    return ServiceStatus::Ok();
  });
}

ServiceStatus Service::StartJobs(WorkflowId id, const protocol::StartRequest& request, double now,
                                 protocol::StartAnswer* answer) {
  return Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    answer->started =
        static_cast<int64_t>(ApplyStarted(e, request.worker_id, request.jobs, now, batch));
    return ServiceStatus::Ok();
  });
}

ServiceStatus Service::CompleteJobs(WorkflowId id, const protocol::CompleteRequest& request,
                                    double now, protocol::CompleteAnswer* answer) {
  std::vector<AttemptResult> results = ResultsOf(request.results);
  return Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    if (!request.started.empty()) ApplyStarted(e, request.worker_id, request.started, now, batch);
    ApplyResults(e, request.worker_id, request.results, results, now, batch, &answer->applied,
                 &answer->duplicate, &answer->rejected);
    answer->workflow_complete = e.core->IsComplete();
    return ServiceStatus::Ok();
  });
}

ServiceStatus Service::Heartbeat(WorkflowId id, WorkerId worker, double now,
                                 protocol::HeartbeatAnswer* answer) {
  return Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    std::vector<JobIndex> stop;
    if (!e.core->Heartbeat(worker, now, batch, &stop))
      return ServiceStatus::Error(ServiceStatus::kConflict,
                                  "worker " + std::to_string(worker) +
                                      " has no lease (expired or unknown); its jobs were given "
                                      "back; register again");
    answer->stop_jobs.assign(stop.begin(), stop.end());
    answer->workflow_complete = e.core->IsComplete();
    return ServiceStatus::Ok();
  });
}

ServiceStatus Service::HeldJobs(WorkflowId id, WorkerId worker, protocol::HeldJobs* out) {
  return WithWorkflow(id, [&](WorkflowEntry& e) {
    for (const auto& c : e.core->HeldBy(worker)) {
      out->jobs.push_back(ClaimedJobOf(*e.core, c));
      out->jobs.back().status = ToString(e.core->job(c.job).status);
    }
    return ServiceStatus::Ok();
  });
}

ServiceStatus Service::UnregisterWorker(WorkflowId id, WorkerId worker,
                                        const protocol::LeaveNotice& notice, double now) {
  bool in_slurm = false;
  ServiceStatus s = Mutate(id, now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    auto it = e.core->workers().find(worker);
    in_slurm = it != e.core->workers().end() && !it->second.slurm_job_id.empty();
    if (!notice.reason.empty() && it != e.core->workers().end())
      batch->events.push_back(
          {0, id, now, "worker_left", -1, 0, worker, it->second.hostname + ": " + notice.reason});
    e.core->UnregisterWorker(worker, now, batch);
    if (in_slurm) {
      // The allocation's last worker is gone: its batch script ends, and an elastic action
      // may ask for another before squeue says it ended (server/elastic.h).
      const std::string& job = it->second.slurm_job_id;
      bool others = false;
      for (const auto& [other, w] : e.core->workers())
        others = others || (w.alive && w.slurm_job_id == job);
      if (!others) workers_gone_at_[id][job] = now;  // under the lock (Mutate holds it)
    }
    return ServiceStatus::Ok();
  });
  if (!s.ok()) return s;
  if (!notice.reason.empty())
    NoteWorkerLeft(id, "worker " + std::to_string(worker) + " left: " + notice.reason);
  // A worker leaving may be its allocation ending: ask Slurm now, not in 30 s, so that
  // status (allocations, problems) is right at once.
  if (in_slurm) RequestReconcile();
  return s;
}

}  // namespace torc::server
