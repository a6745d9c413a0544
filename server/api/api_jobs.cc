// Job endpoints: the filtered, paged job list and one job with its attempts.
#include <re2/re2.h>

#include "server/api/api_internal.h"

namespace torc::server::api {

nlohmann::json AttemptJson(const AttemptResult& r) {
  return {{"attempt", r.attempt},           {"worker", r.worker},
          {"status", ToString(r.status)},   {"exit_code", r.exit_code},
          {"signal", r.signal},             {"reason", r.reason},
          {"start_time", r.start_time},     {"end_time", r.end_time},
          {"peak_rss_bytes", r.peak_rss_bytes}, {"cpu_seconds", r.cpu_seconds},
          {"nodes", r.nodes},
          // The store checks that it is an array; "[]" when unknown.
          {"node_usage", nlohmann::json::parse(r.node_usage, nullptr, false)},
          {"samples", r.samples}};
}

nlohmann::json AttemptRequestJson(const AttemptResult& r, int64_t num_cpus) {
  return {{"memory_bytes", r.memory_request},
          {"runtime_seconds", r.runtime_request},
          {"num_cpus", num_cpus}};
}

ServiceStatus FindJobByText(const spec::Plan& plan, const std::string& ref, JobIndex* job) {
  JobRef r{0, ref};
  if (!ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos && ref.size() < 10) {
    // A number is an index unless a job has exactly that name.
    bool named = false;
    for (const auto& j : plan.jobs) named = named || j.name == ref;
    if (!named) r = {std::stoll(ref), std::nullopt};
  }
  return ResolveJob(plan, r, job);
}

namespace {

/// The nodes a running job runs on (from its worker's start notice), or "".
const std::string& RunningOn(const WorkflowEntry& e, JobIndex j) {
  static const std::string kNone;
  const JobDynamic& d = e.core->job(j);
  if (d.status != JobStatus::kRunning) return kNone;
  auto it = e.running_on.find(j);
  return it != e.running_on.end() && it->second.first == d.attempt ? it->second.second : kNone;
}

nlohmann::json JobRow(const WorkflowEntry& e, JobIndex j) {
  const WorkflowCore& core = *e.core;
  const JobDynamic& d = core.job(j);
  auto attempts = core.AttemptsOf(j);
  nlohmann::json exit_code = nullptr;
  if (!attempts.empty()) exit_code = attempts.back()->exit_code;
  nlohmann::json row = {
      {"id", j},
      {"name", core.plan().jobs[j].name},
      {"status", ToString(d.status)},
      {"attempt", d.attempt},
      {"exit_code", exit_code},
      {"worker", d.worker == 0 ? nlohmann::json(nullptr) : nlohmann::json(d.worker)}};
  if (const std::string& nodes = RunningOn(e, j); !nodes.empty()) row["nodes"] = nodes;
  return row;
}

HttpResponse List(Call& c, WorkflowId wf) {
  std::optional<JobStatus> status;
  auto st = c.http.query.find("status");
  if (st != c.http.query.end() && !st->second.empty()) {
    status = ParseJobStatus(st->second);
    if (!status) throw ApiError(400, "unknown status '" + st->second + "'");
  }
  std::unique_ptr<RE2> name_re;
  auto nm = c.http.query.find("name");
  if (nm != c.http.query.end() && !nm->second.empty()) {
    if (nm->second.size() > spec::kMaxRegexBytes)
      throw ApiError(400, "the name regex is too long (" + std::to_string(nm->second.size()) +
                              " bytes, limit " + std::to_string(spec::kMaxRegexBytes) + ")");
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(8 << 20);
    name_re = std::make_unique<RE2>(nm->second, opts);
    if (!name_re->ok()) throw ApiError(400, "invalid name regex: " + name_re->error());
  }
  int64_t offset = QueryInt(c, "offset", 0, INT64_MAX, 0);
  int64_t limit = QueryInt(c, "limit", 1, 100000, 1000);
  nlohmann::json jobs = nlohmann::json::array();
  int64_t matched = 0;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    for (JobIndex j = 0; j < e.core->job_count(); ++j) {
      if (status && e.core->job(j).status != *status) continue;
      if (name_re && !RE2::PartialMatch(e.plan->jobs[j].name, *name_re)) continue;
      if (matched >= offset && matched < offset + limit) jobs.push_back(JobRow(e, j));
      ++matched;
    }
    return ServiceStatus::Ok();
  }));
  return Json(200, {{"total", matched}, {"offset", offset}, {"limit", limit}, {"jobs", jobs}});
}

/// Adds "hostname" and "output_dir" (the directory of its job logs, reported at
/// registration; null when unknown) of worker `w` to `row`.
void AddWorkerPlace(const WorkflowCore& core, WorkerId w, nlohmann::json* row) {
  (*row)["hostname"] = nullptr;
  (*row)["output_dir"] = nullptr;
  auto it = core.workers().find(w);
  if (it == core.workers().end()) return;
  (*row)["hostname"] = it->second.hostname;
  auto reported = nlohmann::json::parse(it->second.resources_json, nullptr, false);
  if (reported.is_object() && reported.contains("output_dir") && reported["output_dir"].is_string())
    (*row)["output_dir"] = reported["output_dir"];
}

HttpResponse Show(Call& c, WorkflowId wf, const std::string& ref) {
  nlohmann::json out;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    JobIndex j = 0;
    if (ServiceStatus found = FindJobByText(*e.plan, ref, &j); !found.ok()) return found;
    const spec::Plan& plan = *e.plan;
    const spec::Job& job = plan.jobs[j];
    const auto& rr = plan.RequirementsOf(job);
    out = JobRow(e, j);
    out["command"] = job.command;
    out["invocation_script"] = job.invocation_script;
    out["num_cpus"] = rr.num_cpus;
    // Memory and runtime as the next attempt gets them (grown by failure handlers, restarts).
    const JobShape shape = e.core->ShapeOf(j);
    out["memory_bytes"] = shape.memory_bytes;
    out["num_gpus"] = rr.num_gpus;
    out["num_nodes"] = rr.num_nodes;
    out["runtime_seconds"] = shape.runtime_seconds;
    out["priority"] = job.priority;
    out["retries"] = e.core->job(j).retries;
    out["scheduler"] = job.scheduler == spec::kNone ? nlohmann::json(nullptr)
                                                    : nlohmann::json(plan.schedulers[job.scheduler].name);
    nlohmann::json deps = nlohmann::json::array();
    auto parents = plan.AllParents(job);
    for (size_t k = 0; k < parents.size() && k < 1000; ++k) deps.push_back(plan.jobs[parents[k]].name);
    out["depends_on"] = deps;
    out["depends_on_count"] = parents.size();
    // Where each attempt ran and wrote its logs (the worker's registration), and the
    // attempt a worker holds now.
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto* a : e.core->AttemptsOf(j)) {
      nlohmann::json row = AttemptJson(*a);
      row["request"] = AttemptRequestJson(*a, rr.num_cpus);
      AddWorkerPlace(*e.core, a->worker, &row);
      attempts.push_back(std::move(row));
    }
    out["attempts"] = attempts;
    const JobDynamic& d = e.core->job(j);
    out["current"] = nullptr;
    if (d.status == JobStatus::kClaimed || d.status == JobStatus::kRunning) {
      nlohmann::json current = {{"attempt", d.attempt}, {"worker", d.worker}};
      AddWorkerPlace(*e.core, d.worker, &current);
      out["current"] = std::move(current);
    }
    const spec::StdioConfig& io = job.stdio ? *job.stdio : plan.execution.stdio;
    out["stdio"] = {{"mode", spec::ToString(io.mode)}, {"delete_on_success", io.delete_on_success}};
    return ServiceStatus::Ok();
  }));
  return Json(200, out);
}

/// GET /workflows/W/jobs/J/attempts/A/samples: the attempt's time series, read from the store.
HttpResponse Samples(Call& c, WorkflowId wf, const std::string& ref, const std::string& number) {
  JobIndex j = 0;
  const uint32_t attempt = static_cast<uint32_t>(ParseId(number, "attempt number"));
  double plan_interval = 0;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    if (ServiceStatus found = FindJobByText(*e.plan, ref, &j); !found.ok()) return found;
    bool known = false;
    for (const auto* a : e.core->AttemptsOf(j)) known = known || a->attempt == attempt;
    if (!known) {
      std::string message = "job " + e.plan->jobs[j].name;
      message += " has no ended attempt ";
      message += std::to_string(attempt);
      return ServiceStatus::Error(ServiceStatus::kNotFound, message);
    }
    plan_interval = static_cast<double>(e.plan->resource_monitor.sample_interval_seconds);
    return ServiceStatus::Ok();
  }));
  AttemptSamples stored;
  Check(c.service->AttemptSamplesOf(wf, j, attempt, &stored));
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& s : nlohmann::json::parse(stored.samples_json, nullptr, false))
    if (s.is_array() && s.size() == 3)
      samples.push_back({{"t", s[0]}, {"cpu_percent", s[1]}, {"rss_bytes", s[2]}});
  const double interval = stored.interval_seconds > 0 ? stored.interval_seconds : plan_interval;
  return Json(200, {{"interval_seconds", interval}, {"samples", samples}});
}

}  // namespace

HttpResponse JobEndpoints(Call& c, WorkflowId wf) {
  if (c.parts.size() == 5 && c.parts[4] == "log") return MonitorEndpoints(c, wf);
  if (c.http.method != "GET") throw ApiError(405, "use GET on jobs");
  if (c.parts.size() == 7 && c.parts[4] == "attempts" && c.parts[6] == "samples")
    return Samples(c, wf, c.parts[3], c.parts[5]);
  if (c.parts.size() == 3) return List(c, wf);
  if (c.parts.size() == 4) return Show(c, wf, c.parts[3]);
  throw ApiError(404, "no endpoint GET " + c.http.path);
}

}  // namespace torc::server::api
