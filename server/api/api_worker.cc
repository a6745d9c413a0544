// Worker endpoints: register, heartbeat, unregister, claim, start, complete.
// The hot path: claims and completions are batched, one commit per request.
#include "server/api/api_internal.h"
#include "server/protocol/json_writer.h"

using torc::protocol::JsonWriter;
#include "spec/plan_json.h"

namespace torc::server::api {
namespace {

// The claim answer's job object, written directly (no DOM): this is the
// hottest serialization in the server. Empty fields are left out.
void WriteClaimedJob(const spec::Plan& plan, const ClaimedJob& c, JsonWriter& w) {
  const spec::Job& job = plan.jobs[c.job];
  const auto& rr = plan.RequirementsOf(job);
  w.Raw("{").Key("id", true).Int(c.job).Key("name").String(job.name);
  w.Key("attempt").Int(c.attempt).Key("command").String(job.command);
  if (!job.invocation_script.empty()) w.Key("invocation_script").String(job.invocation_script);
  if (!plan.env.empty() || !job.env.empty()) {
    w.Key("env").Raw("{");
    bool first = true;
    auto put = [&](const std::string& k, const std::string& v) {
      w.Key(k, first).String(v);
      first = false;
    };
    for (const auto& [k, v] : plan.env) {
      bool overridden = false;
      for (const auto& jv : job.env) overridden = overridden || jv.first == k;
      if (!overridden) put(k, v);
    }
    for (const auto& [k, v] : job.env) put(k, v);
    w.Raw("}");
  }
  w.Key("num_cpus").Int(rr.num_cpus).Key("memory_bytes").Int(rr.memory_bytes);
  w.Key("num_gpus").Int(rr.num_gpus).Key("num_nodes").Int(rr.num_nodes);
  w.Key("runtime_seconds").Int(rr.runtime_seconds);
  w.Key("nodes").Raw("[");
  for (size_t k = 0; k < c.nodes.size(); ++k) {
    if (k) w.Raw(",");
    w.Int(c.nodes[k]);
  }
  w.Raw("]");
  const spec::StdioConfig& io = job.stdio ? *job.stdio : plan.execution.stdio;
  if (io.mode != spec::StdioMode::kSeparate || io.delete_on_success)
    w.Key("stdio").Raw("{").Key("mode", true).String(spec::ToString(io.mode))
        .Key("delete_on_success").Bool(io.delete_on_success).Raw("}");
  if (job.failure_handler != spec::kNone) w.Key("failure_handler").Int(job.failure_handler);
  w.Raw("}");
}

nlohmann::json ClaimedJobJson(const spec::Plan& plan, const ClaimedJob& c) {
  std::string text;
  JsonWriter w(&text);
  WriteClaimedJob(plan, c, w);
  return nlohmann::json::parse(text);
}

WorkerId WorkerOf(const nlohmann::json& body) {
  return GetInt(body, "worker_id", 1, INT64_MAX);
}

HttpResponse Register(Call& c, WorkflowId wf) {
  const auto& body = Object(c);
  WorkerRecord w;
  w.hostname = GetString(body, "hostname", "", 256);
  w.slurm_job_id = GetString(body, "slurm_job_id", "", 64);
  w.pid = GetInt(body, "pid", 0, INT64_MAX, 0);
  auto res = body.find("resources");
  nlohmann::json reported = res == body.end() ? nlohmann::json::object() : *res;
  // Where its jobs' stdout/stderr files go: kept with what it reported, for `torc logs`.
  std::string output_dir = GetString(body, "output_dir", "", 4096);
  if (!output_dir.empty() && reported.is_object()) reported["output_dir"] = output_dir;
  w.resources_json = reported.dump();
  w.id = c.service->NextWorkerId();
  nlohmann::json out;
  Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    e.core->RegisterWorker(w, c.now, batch);
    const spec::Plan& plan = *e.plan;
    nlohmann::json handlers = spec::FailureHandlersToJson(plan.failure_handlers);
    nlohmann::json worker_start = nlohmann::json::array(), worker_complete = nlohmann::json::array();
    for (const auto& a : plan.actions) {
      if (a.type != spec::ActionType::kRunCommands) continue;
      if (a.trigger == spec::TriggerType::kOnWorkerStart)
        for (const auto& cmd : a.commands) worker_start.push_back(cmd);
      if (a.trigger == spec::TriggerType::kOnWorkerComplete)
        for (const auto& cmd : a.commands) worker_complete.push_back(cmd);
    }
    const auto& x = plan.execution;
    nlohmann::json schedulers = nlohmann::json::array();
    for (const auto& s : plan.schedulers) schedulers.push_back(s.name);
    out = {{"worker_id", w.id},
           {"workflow_name", plan.name},
           {"working_dir", e.row.working_dir},
           {"heartbeat_seconds", c.service->options().core.heartbeat_seconds},
           {"lease_seconds", c.service->options().core.lease_seconds()},
           {"failure_handlers", handlers},
           {"schedulers", schedulers},
           {"on_worker_start", worker_start},
           {"on_worker_complete", worker_complete},
           {"execution",
            {{"mode", spec::ToString(x.mode)},
             {"limit_resources", x.limit_resources},
             {"termination_signal", x.termination_signal},
             {"sigterm_lead_seconds", x.sigterm_lead_seconds},
             {"oom_exit_code", x.oom_exit_code ? *x.oom_exit_code : 137},
             {"timeout_exit_code", x.timeout_exit_code ? *x.timeout_exit_code : 152},
             {"srun_termination_signal", x.srun_termination_signal},
             {"enable_cpu_bind", x.enable_cpu_bind},
             {"srun_launch_interval_ms", x.srun_launch_interval_ms}}}};
    return ServiceStatus::Ok();
  }));
  // Its allocation runs: say so now, not at the next squeue (nothing happens for a worker
  // outside Slurm, or of an allocation this server did not submit).
  if (!w.slurm_job_id.empty())
    c.service->UpdateAllocation(wf, w.slurm_job_id, "running", c.now,
                                GetString(body, "slurm_nodelist", "", 4096));
  return Json(201, out);
}

HttpResponse Heartbeat(Call& c, WorkflowId wf, WorkerId w) {
  nlohmann::json out;
  Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    std::vector<JobIndex> stop;
    if (!e.core->Heartbeat(w, c.now, batch, &stop))
      return ServiceStatus::Error(ServiceStatus::kConflict,
                                  "worker " + std::to_string(w) +
                                      " has no lease (expired or unknown); its jobs were given "
                                      "back; register again");
    out = {{"ok", true}, {"stop_jobs", stop}, {"workflow_complete", e.core->IsComplete()}};
    return ServiceStatus::Ok();
  }));
  return Json(200, out);
}

HttpResponse Held(Call& c, WorkflowId wf, WorkerId w) {
  nlohmann::json jobs = nlohmann::json::array();
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    for (const auto& cj : e.core->HeldBy(w)) {
      nlohmann::json j = ClaimedJobJson(*e.plan, cj);
      j["status"] = ToString(e.core->job(cj.job).status);
      jobs.push_back(std::move(j));
    }
    return ServiceStatus::Ok();
  }));
  return Json(200, {{"jobs", jobs}});
}

AttemptResult ParseResult(const nlohmann::json& r) {
  if (!r.is_object()) throw ApiError(400, "each of 'results' must be an object");
  AttemptResult a;
  a.job = static_cast<JobIndex>(GetInt(r, "id", 0, UINT32_MAX));
  a.attempt = static_cast<uint32_t>(GetInt(r, "attempt", 1, UINT32_MAX));
  std::string status = GetString(r, "status", std::nullopt, 32);
  auto s = ParseJobStatus(status);
  if (!s || (*s != JobStatus::kCompleted && *s != JobStatus::kFailed &&
             *s != JobStatus::kTerminated && *s != JobStatus::kCanceled))
    throw ApiError(400, "'status' of a result must be completed, failed, terminated or canceled, "
                        "not '" + status + "'");
  a.status = *s;
  a.exit_code = static_cast<int32_t>(GetInt(r, "exit_code", INT32_MIN, INT32_MAX, 0));
  a.signal = static_cast<int32_t>(GetInt(r, "signal", 0, 1024, 0));
  a.reason = GetString(r, "reason", "", 256);
  a.start_time = GetNumber(r, "start_time", 0);
  a.end_time = GetNumber(r, "end_time", 0);
  a.peak_rss_bytes = GetInt(r, "peak_rss_bytes", -1, INT64_MAX, -1);
  a.cpu_seconds = GetNumber(r, "cpu_seconds", -1);
  a.nodes = GetString(r, "nodes", "", 4096);
  if (a.status == JobStatus::kCompleted && a.exit_code != 0)
    throw ApiError(400, "a completed result must have exit code 0");
  return a;
}

/// Start notices: {id, attempt} plus, optionally, the node list the job runs on.
struct StartedJobs {
  std::vector<std::pair<JobIndex, uint32_t>> jobs;
  std::vector<std::string> nodes;  // parallel to jobs; empty when not given
  bool empty() const { return jobs.empty(); }
};

StartedJobs ParseStarted(const nlohmann::json& arr) {
  StartedJobs out;
  for (const auto& j : arr) {
    if (!j.is_object()) throw ApiError(400, "each started job must be an object {id, attempt}");
    out.jobs.push_back({static_cast<JobIndex>(GetInt(j, "id", 0, UINT32_MAX)),
                        static_cast<uint32_t>(GetInt(j, "attempt", 1, UINT32_MAX))});
    out.nodes.push_back(GetString(j, "nodes", std::string(), 1 << 16));
  }
  return out;
}

/// Applies start notices and remembers where each job runs.
size_t ApplyStarted(WorkflowEntry& e, WorkerId w, const StartedJobs& s, double now,
                    ChangeBatch* batch) {
  size_t n = e.core->Started(w, s.jobs, now, batch);
  for (size_t k = 0; k < s.jobs.size(); ++k) {
    const auto& [job, attempt] = s.jobs[k];
    if (s.nodes[k].empty() || job >= e.core->plan().jobs.size()) continue;
    const JobDynamic& d = e.core->job(job);
    if (d.status == JobStatus::kRunning && d.attempt == attempt && d.worker == w)
      e.running_on[job] = {attempt, s.nodes[k]};
  }
  return n;
}

/// Outcomes of reported results: counts, and the rejected ones listed.
struct Tally {
  int64_t applied = 0, duplicate = 0;
  nlohmann::json rejected = nlohmann::json::array();

  void Apply(WorkflowEntry& e, WorkerId w, const std::vector<AttemptResult>& results,
             double now, ChangeBatch* batch) {
    auto out = e.core->Complete(w, results, now, batch);
    for (size_t k = 0; k < out.size(); ++k) {
      if (out[k].outcome == CompletionOutcome::kApplied) {
        ++applied;
        e.running_on.erase(results[k].job);  // the attempt ended: keep only running ones
      } else if (out[k].outcome == CompletionOutcome::kDuplicate) {
        ++duplicate;
      } else {
        rejected.push_back({{"id", results[k].job}, {"attempt", results[k].attempt},
                            {"reason", out[k].reason}});
      }
    }
  }
};

HttpResponse Claim(Call& c, WorkflowId wf) {
  const auto& body = Object(c);
  WorkerId w = WorkerOf(body);
  ClaimFilter filter;
  filter.max_jobs = static_cast<uint32_t>(GetInt(body, "max_jobs", 0, 100000, 1));
  filter.remaining_seconds = GetNumber(body, "remaining_seconds", 1e18);
  for (const auto& n : GetArray(body, "nodes", true, 100000)) {
    if (!n.is_object()) throw ApiError(400, "each of 'nodes' must be an object");
    NodeCapacity cap;
    cap.free_cpus = GetInt(n, "free_cpus", 0, 1 << 24);
    cap.free_memory_bytes = GetInt(n, "free_memory_bytes", 0, INT64_MAX);
    cap.free_gpus = GetInt(n, "free_gpus", 0, 1 << 16, 0);
    cap.total_cpus = GetInt(n, "total_cpus", 0, 1 << 24, cap.free_cpus);
    cap.total_memory_bytes = GetInt(n, "total_memory_bytes", 0, INT64_MAX, cap.free_memory_bytes);
    cap.total_gpus = GetInt(n, "total_gpus", 0, 1 << 16, cap.free_gpus);
    auto idle = n.find("idle");
    cap.idle = idle != n.end() && idle->is_boolean() ? idle->get<bool>() : false;
    filter.nodes.push_back(cap);
  }
  std::string scheduler = GetString(body, "scheduler", "", 256);
  // A claim may carry the worker's news since its last request (jobs it
  // started, results of jobs that ended), so one request per loop suffices.
  auto started = ParseStarted(GetArray(body, "started", false));
  std::vector<AttemptResult> results;
  for (const auto& r : GetArray(body, "results", false)) results.push_back(ParseResult(r));
  Tally tally;
  std::string out;
  Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    if (!e.core->IsLiveWorker(w))
      return ServiceStatus::Error(ServiceStatus::kConflict,
                                  "worker " + std::to_string(w) + " has no lease; register again");
    if (!started.empty()) ApplyStarted(e, w, started, c.now, batch);
    if (!results.empty()) tally.Apply(e, w, results, c.now, batch);
    if (!scheduler.empty()) {
      for (uint32_t s = 0; s < e.plan->schedulers.size(); ++s)
        if (e.plan->schedulers[s].name == scheduler) filter.scheduler = s;
    }
    auto claimed = e.core->Claim(w, filter, c.now, batch);
    auto counts = e.core->Counts();
    uint64_t unfinished = 0;
    for (int s = 0; s < kNumJobStatuses; ++s)
      if (!IsFinal(static_cast<JobStatus>(s))) unfinished += counts[s];
    out.reserve(128 + claimed.size() * 160);
    JsonWriter jw(&out);
    jw.Raw("{").Key("jobs", true).Raw("[");
    for (size_t k = 0; k < claimed.size(); ++k) {
      if (k) jw.Raw(",");
      WriteClaimedJob(*e.plan, claimed[k], jw);
    }
    jw.Raw("]").Key("workflow_complete").Bool(e.core->IsComplete());
    jw.Key("unfinished").Int(static_cast<int64_t>(unfinished));
    jw.Key("ready").Int(static_cast<int64_t>(counts[static_cast<int>(JobStatus::kReady)]));
    // When nothing was given, say whether anything left could ever fit this
    // worker, so it can leave instead of idling (e.g. a 4-node job, 2 nodes here).
    if (claimed.empty()) jw.Key("runnable").Int(static_cast<int64_t>(e.core->RunnableCount(filter)));
    jw.Key("applied").Int(tally.applied).Key("duplicate").Int(tally.duplicate);
    jw.Key("rejected").Raw(tally.rejected.dump());
    jw.Raw("}");
    return ServiceStatus::Ok();
  }));
  return {200, std::move(out), "application/json"};
}

HttpResponse Start(Call& c, WorkflowId wf) {
  const auto& body = Object(c);
  WorkerId w = WorkerOf(body);
  auto jobs = ParseStarted(GetArray(body, "jobs", true));
  size_t n = 0;
  Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    n = ApplyStarted(e, w, jobs, c.now, batch);
    return ServiceStatus::Ok();
  }));
  return Json(200, {{"started", n}});
}

HttpResponse Complete(Call& c, WorkflowId wf) {
  const auto& body = Object(c);
  WorkerId w = WorkerOf(body);
  std::vector<AttemptResult> results;
  for (const auto& r : GetArray(body, "results", true)) results.push_back(ParseResult(r));
  // The answer counts the outcomes and lists only the rejected results: a
  // result not listed was recorded (now or by an earlier identical report).
  Tally tally;
  Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    tally.Apply(e, w, results, c.now, batch);
    return ServiceStatus::Ok();
  }));
  nlohmann::json answer = {{"applied", tally.applied}, {"duplicate", tally.duplicate},
                           {"rejected", tally.rejected}};
  if (!tally.rejected.empty()) {
    answer["error"] = "some results were rejected (stale attempt or not this worker's job); the "
                      "others were recorded";
    return Json(409, answer);
  }
  return Json(200, answer);
}

}  // namespace

HttpResponse WorkerEndpoints(Call& c, WorkflowId wf, const std::string& what) {
  const auto& p = c.parts;
  const std::string& m = c.http.method;
  if (what == "claim" && p.size() == 3 && m == "POST") return Claim(c, wf);
  if (what == "start" && p.size() == 3 && m == "POST") return Start(c, wf);
  if (what == "complete" && p.size() == 3 && m == "POST") return Complete(c, wf);
  if (what == "workers") {
    if (p.size() == 3 && m == "POST") return Register(c, wf);
    if (p.size() >= 4) {
      WorkerId w = ParseId(p[3], "worker id");
      if (p.size() == 5 && p[4] == "heartbeat" && m == "POST") return Heartbeat(c, wf, w);
      if (p.size() == 5 && p[4] == "jobs" && m == "GET") return Held(c, wf, w);
      if (p.size() == 4 && m == "DELETE") {
        bool in_slurm = false;
        std::string reason;
        if (c.body.is_object()) reason = GetString(c.body, "reason", "", 1024);
        Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
          auto it = e.core->workers().find(w);
          in_slurm = it != e.core->workers().end() && !it->second.slurm_job_id.empty();
          if (!reason.empty() && it != e.core->workers().end())
            batch->events.push_back({0, wf, c.now, "worker_left", -1, 0, w,
                                     it->second.hostname + ": " + reason});
          e.core->UnregisterWorker(w, c.now, batch);
          return ServiceStatus::Ok();
        }));
        if (!reason.empty()) c.service->NoteWorkerLeft(wf, "worker " + std::to_string(w) +
                                                               " left: " + reason);
        // A worker leaving may be its allocation ending: ask Slurm now, not in 30 s, so that
        // status (allocations, problems) is right at once.
        if (in_slurm) c.service->RequestReconcile();
        return Json(200, {{"ok", true}});
      }
    }
  }
  throw ApiError(404, "no endpoint " + m + " " + c.http.path);
}

}  // namespace torc::server::api
