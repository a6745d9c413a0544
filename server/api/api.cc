#include "server/api/api.h"

#include <charconv>
#include <chrono>
#include <map>

#include "server/api/api_internal.h"
#include "server/api/metrics.h"
#include "server/problems.h"
#include "server/users.h"
#include "server/api/web_assets.h"

namespace torc::server {

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Walk the longer length so the time does not reveal a prefix match.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

namespace api {

const nlohmann::json& Object(const Call& c) {
  return protocol::AsObject(c.body, "the request body");
}

int64_t ParseId(const std::string& text, const char* what) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < 0)
    throw ApiError(400, std::string("invalid ") + what + " '" + text + "'");
  return v;
}

int64_t QueryInt(const Call& c, const char* key, int64_t min, int64_t max, int64_t fallback) {
  auto it = c.http.query.find(key);
  if (it == c.http.query.end() || it->second.empty()) return fallback;
  int64_t v = 0;
  auto r = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (r.ec != std::errc() || r.ptr != it->second.data() + it->second.size() || v < min || v > max)
    throw ApiError(400, std::string("query parameter '") + key + "' must be an integer between " +
                            std::to_string(min) + " and " + std::to_string(max));
  return v;
}

void Fail(const ServiceStatus& s) {
  int status = 500;
  switch (s.code) {
    case ServiceStatus::kOk: status = 200; break;
    case ServiceStatus::kBadRequest: status = 400; break;
    case ServiceStatus::kNotFound: status = 404; break;
    case ServiceStatus::kConflict: status = 409; break;
    case ServiceStatus::kUnavailable: status = 503; break;
    case ServiceStatus::kInternal: status = 500; break;
  }
  nlohmann::json extra = nullptr;
  if (!s.details.empty()) extra = {{"errors", s.details}};
  if (s.code == ServiceStatus::kUnavailable) {
    // Busy or full storage passes: nothing was changed, the same request may be sent again.
    extra = nlohmann::json::object();
    extra["retry"] = true;
    throw ApiError(status, s.message + " (temporary: nothing was changed; retry)", extra);
  }
  throw ApiError(status, s.message, extra);
}

JobRef JobRefOf(const nlohmann::json& ref) {
  if (ref.is_number_integer()) return {ref.get<int64_t>(), std::nullopt};
  if (!ref.is_string()) throw ApiError(400, "a job is given by its index or its name");
  return {0, ref.get<std::string>()};
}

namespace {

nlohmann::json CountsJson(const WorkflowCore& core) {
  nlohmann::json counts = nlohmann::json::object();
  auto c = core.Counts();
  for (int s = 0; s < kNumJobStatuses; ++s) counts[ToString(static_cast<JobStatus>(s))] = c[s];
  return counts;
}

nlohmann::json WorkflowSummary(const WorkflowEntry& e) {
  return {{"workflow_id", e.row.id},
          {"name", e.row.name},
          {"owner", e.row.owner},
          {"created_at", e.row.created_at},
          {"file_name", e.row.file_name},
          {"working_dir", e.row.working_dir},
          {"total", e.core->job_count()},
          {"counts", CountsJson(*e.core)},
          {"complete", e.core->IsComplete()}};
}

nlohmann::json EventJson(const Event& e, const spec::Plan* plan) {
  nlohmann::json j = {{"seq", e.seq},       {"time", e.time},     {"kind", e.kind},
                      {"job", e.job},       {"attempt", e.attempt}, {"worker", e.worker},
                      {"detail", e.detail}};
  if (plan && e.job >= 0 && static_cast<size_t>(e.job) < plan->jobs.size())
    j["job_name"] = plan->jobs[static_cast<size_t>(e.job)].name;
  return j;
}

}  // namespace

/// `parameter_files` of a submit: an object of path (as the workflow writes it after '@') ->
/// the file's text, at most spec::kMaxWorkflowFileBytes in all; absent or null: none.
std::map<std::string, std::string> ParameterFiles(const nlohmann::json& body) {
  std::map<std::string, std::string> files;
  auto it = body.find("parameter_files");
  if (it == body.end() || it->is_null()) return files;
  if (!it->is_object())
    throw ApiError(400, "'parameter_files' must be an object of paths to the files' texts");
  int64_t bytes = 0;
  for (const auto& [path, text] : it->items()) {
    if (!text.is_string())
      throw ApiError(400, "'parameter_files' entry '" + path.substr(0, 200) +
                              "' must be a string (the file's text)");
    if (path.empty() || path.size() > 4096)
      throw ApiError(400, "'parameter_files' has a path of " + std::to_string(path.size()) +
                              " bytes (1 to 4096)");
    bytes += static_cast<int64_t>(path.size() + text.get_ref<const std::string&>().size());
    if (bytes > spec::kMaxWorkflowFileBytes)
      throw ApiError(400, "'parameter_files' holds more than " +
                              std::to_string(spec::kMaxWorkflowFileBytes) +
                              " bytes (64 MiB), the limit for all parameter files together");
    files.emplace(path, text.get<std::string>());
  }
  return files;
}

namespace {

HttpResponse Submit(Call& c) {
  const auto& body = Object(c);
  SubmitRequest req;
  req.spec_text = GetString(body, "spec_text", std::nullopt, spec::kMaxWorkflowFileBytes);
  req.parameter_files = ParameterFiles(body);
  req.file_name = GetString(body, "file_name", "workflow.yaml", 4096);
  req.working_dir = GetString(body, "working_dir", "", 4096);
  req.owner = GetString(body, "owner", "", 256);
  req.input_stamps = InputStampsOf(body);
  if (!c.admin) req.owner = c.user;  // multi-user: the token says who, never the body
  WorkflowId id = 0;
  Check(c.service->Submit(req, c.now, &id));
  size_t jobs = 0;
  c.service->WithWorkflow(id, [&](WorkflowEntry& e) {
    jobs = e.core->job_count();
    return ServiceStatus::Ok();
  });
  return Json(201, {{"workflow_id", id}, {"jobs", jobs}});
}

/// Multi-user mode: another user's workflow answers 404 like one that does
/// not exist, so its existence is not revealed.
void CheckOwner(const Call& c, WorkflowId wf) {
  bool mine = false;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    mine = e.row.owner == c.user;
    return ServiceStatus::Ok();
  }));
  if (!mine) throw ApiError(404, "no workflow " + std::to_string(wf));
}

HttpResponse ListWorkflows(Call& c) {
  nlohmann::json out = nlohmann::json::array();
  for (WorkflowId id : c.service->WorkflowIds()) {
    ServiceStatus s = c.service->WithWorkflow(id, [&](WorkflowEntry& e) {
      if (c.admin || e.row.owner == c.user) out.push_back(WorkflowSummary(e));
      return ServiceStatus::Ok();
    });
    if (s.code == ServiceStatus::kUnavailable) Fail(s);
  }
  return Json(200, {{"workflows", out}});
}

HttpResponse Status(Call& c, WorkflowId wf) {
  nlohmann::json out;
  ProblemContext context{c.service->Allocations(wf), c.service->ScheduleFailure(wf),
                         c.service->WorkerLeft(wf), c.now};
  const std::vector<AutoscaleEntry> scaling = c.service->Autoscale(wf, c.now);
  for (const auto& a : scaling)
    if (a.decision.stopped) context.elastic_stopped.push_back(a.action);
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    out = WorkflowSummary(e);
    nlohmann::json workers = nlohmann::json::array();
    for (const auto& [id, w] : e.core->workers())
      if (w.alive)
        workers.push_back({{"worker_id", id},
                           {"hostname", w.hostname},
                           {"slurm_job_id", w.slurm_job_id},
                           {"lease_expires", w.lease_expires}});
    out["workers"] = workers;
    // Why unfinished jobs cannot run anywhere (first few).
    nlohmann::json stuck = nlohmann::json::array();
    for (JobIndex j = 0; j < e.core->job_count() && stuck.size() < 20; ++j) {
      if (IsFinal(e.core->job(j).status)) continue;
      std::string why = e.core->UnclaimableReason(j);
      if (!why.empty()) stuck.push_back({{"job", e.plan->jobs[j].name}, {"reason", why}});
    }
    out["unclaimable"] = stuck;
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : FindProblems(e, context))
      problems.push_back({{"kind", p.kind}, {"message", p.message}, {"jobs", p.jobs}});
    out["problems"] = problems;
    nlohmann::json actions = nlohmann::json::array();
    for (uint32_t a = 0; a < e.plan->actions.size(); ++a)
      actions.push_back({{"index", a},
                         {"trigger_type", spec::ToString(e.plan->actions[a].trigger)},
                         {"action_type", spec::ToString(e.plan->actions[a].type)},
                         {"status", ToString(e.core->action_status(a))}});
    out["actions"] = actions;
    return ServiceStatus::Ok();
  }));
  nlohmann::json allocations = nlohmann::json::array();
  for (const auto& a : context.allocations)
    allocations.push_back({{"slurm_job_id", a.slurm_job_id}, {"scheduler", a.scheduler},
                           // null: asked for by hand (torc slurm schedule) or by a restart
                           {"action", a.action == UINT32_MAX ? nlohmann::json(nullptr)
                                                             : nlohmann::json(a.action)},
                           {"state", a.state},
                           {"submitted_at", a.submitted_at},
                           {"started_at", a.started_at ? nlohmann::json(a.started_at) : nullptr},
                           {"ended_at", a.ended_at ? nlohmann::json(a.ended_at) : nullptr},
                           {"nodes", a.nodes}});
  out["allocations"] = allocations;
  // The elastic actions that have fired: how many allocations they have and why they ask for
  // more, or do not (docs/api.md).
  nlohmann::json autoscale = nlohmann::json::array();
  for (const auto& a : scaling) {
    const ElasticDecision& d = a.decision;
    autoscale.push_back({{"action", a.action},
                         {"scheduler", a.scheduler},
                         {"max_allocations", a.max_allocations},
                         {"max_nodes", a.max_nodes > 0 ? nlohmann::json(a.max_nodes) : nullptr},
                         {"pending", d.pending},
                         {"running", d.running},
                         {"nodes", d.nodes},
                         {"ready_jobs", a.ready_jobs},
                         {"requesting", d.request > 0},
                         {"why", d.why}});
  }
  out["autoscale"] = autoscale;
  return Json(200, out);
}

/// The jobs a cancel or restart body names: all of them when it has no "jobs".
JobSelection SelectedJobs(const Call& c) {
  if (!c.body.is_null()) Object(c);  // no body selects all; a malformed one must not
  JobSelection selection;
  if (!c.body.is_object() || !c.body.contains("jobs")) return selection;
  selection.all = false;
  for (const auto& ref : GetArray(c.body, "jobs", false)) selection.jobs.push_back(JobRefOf(ref));
  return selection;
}

HttpResponse Cancel(Call& c, WorkflowId wf) {
  JobSelection selection = SelectedJobs(c);
  size_t n = 0;
  Check(c.service->CancelJobs(wf, selection, c.now, &n));
  return Json(200, {{"canceled", n}});
}

/// A restart body's "memory_multiplier" / "runtime_multiplier": 1 when absent, else a number
/// greater than 1 and at most spec::kMaxRequestMultiplier.
double RestartMultiplier(const Call& c, const char* key) {
  if (!c.body.is_object()) return 1;
  double m = protocol::GetNumber(c.body, key, 1.0);
  if (c.body.contains(key) && !c.body[key].is_null() && !(m > 1 && m <= spec::kMaxRequestMultiplier))
    throw ApiError(400, std::string("'") + key + "' must be a number greater than 1 and at most " +
                            "100, not " + c.body[key].dump());
  return m;
}

HttpResponse Restart(Call& c, WorkflowId wf) {
  RestartRequest request;
  request.selection = SelectedJobs(c);
  // "failed": true is every failed, canceled and terminated job, as no "jobs" is.
  if (c.body.is_object() && protocol::GetBool(c.body, "failed", false)) {
    if (!request.selection.all)
      throw ApiError(400, "'failed': true restarts every failed, canceled and terminated job; "
                          "give it without 'jobs'");
  }
  request.growth.memory_multiplier = RestartMultiplier(c, "memory_multiplier");
  request.growth.runtime_multiplier = RestartMultiplier(c, "runtime_multiplier");
  bool schedule = !c.body.is_object() || protocol::GetBool(c.body, "schedule", true);
  // A user of a multi-user server gets no allocations (sbatch would run as the server's account).
  request.schedule = schedule && c.admin;
  RestartOutcome outcome;
  Check(c.service->RestartJobs(wf, request, c.now, &outcome));
  return Json(200, {{"restarted", outcome.restarted},
                    {"allocations_requested", outcome.allocations_requested}});
}

HttpResponse Events(Call& c, WorkflowId wf) {
  int64_t after = QueryInt(c, "after", 0, INT64_MAX, 0);
  int64_t limit = QueryInt(c, "limit", 1, 10000, 1000);
  std::vector<Event> events;
  Check(c.service->EventsSince(wf, after, static_cast<int>(limit), &events));
  std::shared_ptr<const spec::Plan> plan;
  c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    plan = e.plan;
    return ServiceStatus::Ok();
  });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : events) out.push_back(EventJson(e, plan.get()));
  return Json(200, {{"events", out}, {"cursor", events.empty() ? after : events.back().seq}});
}

HttpResponse Actions(Call& c, WorkflowId wf) {
  nlohmann::json out = nlohmann::json::array();
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    for (uint32_t a : e.core->DueActions()) {
      const spec::Action& act = e.plan->actions[a];
      nlohmann::json jobs = nlohmann::json::array();
      for (JobIndex j : act.jobs) jobs.push_back(e.plan->jobs[j].name);
      out.push_back({{"index", a},
                     {"trigger_type", spec::ToString(act.trigger)},
                     {"action_type", spec::ToString(act.type)},
                     {"scheduler", act.scheduler == spec::kNone
                                       ? nlohmann::json(nullptr)
                                       : nlohmann::json(e.plan->schedulers[act.scheduler].name)},
                     {"num_allocations", act.num_allocations},
                     {"start_one_worker_per_node", act.start_one_worker_per_node},
                     {"commands", act.commands},
                     {"jobs", jobs}});
    }
    return ServiceStatus::Ok();
  }));
  return Json(200, {{"actions", out}});
}

HttpResponse FinishAction(Call& c, WorkflowId wf, int64_t action) {
  const auto& body = Object(c);
  std::string status = GetString(body, "status", "done", 16);
  if (status != "done" && status != "failed")
    throw ApiError(400, "'status' must be 'done' or 'failed'");
  std::string detail = GetString(body, "detail", "", 64 << 10);
  Check(c.service->Mutate(wf, c.now, [&](WorkflowEntry& e, ChangeBatch* batch) {
    if (static_cast<uint64_t>(action) >= e.plan->actions.size())
      return ServiceStatus::Error(ServiceStatus::kNotFound, "no action " + std::to_string(action));
    e.core->FinishAction(static_cast<uint32_t>(action),
                         status == "done" ? ActionStatus::kDone : ActionStatus::kFailed, detail,
                         c.now, batch);
    return ServiceStatus::Ok();
  }));
  return Json(200, {{"ok", true}});
}

// Asks for allocations now (`torc slurm schedule`), e.g. for the work left
// after an allocation ended.
HttpResponse Schedule(Call& c, WorkflowId wf) {
  if (!c.admin)
    throw ApiError(403, "a multi-user server submits no Slurm allocations for users (sbatch would "
                        "run as the server's account): submit the script of 'torc slurm script' "
                        "with sbatch yourself");
  const auto& body = Object(c);
  std::string name = GetString(body, "scheduler", "", 256);
  ScheduleRequest req;
  req.workflow = wf;
  req.num_allocations = GetInt(body, "num_allocations", 1, 1000, 1);
  auto per_node = body.find("start_one_worker_per_node");
  req.one_worker_per_node = per_node != body.end() && per_node->is_boolean() && per_node->get<bool>();
  bool found = false;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    for (uint32_t s = 0; s < e.plan->schedulers.size(); ++s)
      if (name.empty() ? s == 0 : e.plan->schedulers[s].name == name) {
        req.scheduler = s;
        found = true;
        break;
      }
    return ServiceStatus::Ok();
  }));
  if (!found) throw ApiError(400, "no slurm scheduler '" + name + "' in this workflow");
  Check(c.service->RequestSchedule(req));
  // The action thread runs sbatch (with its retries) in moments: the answer says how it went.
  // A busy controller can take longer; then 202, and the outcome goes to the events.
  ScheduleOutcome& out = *req.outcome;
  if (!out.Wait(std::chrono::milliseconds(static_cast<int64_t>(c.schedule_wait_seconds * 1000))))
    return Json(202, {{"requested", req.num_allocations}, {"pending", true}});
  std::lock_guard<std::mutex> lock(out.mu);
  if (!out.ok)
    throw ApiError(502, out.error + (out.job_ids.empty() ? "" : " (submitted before that: " +
                                                                   std::to_string(out.job_ids.size()) +
                                                                   ")"));
  return Json(201, {{"requested", req.num_allocations}, {"slurm_job_ids", out.job_ids}});
}

HttpResponse Route(Call& c) {
  const auto& p = c.parts;
  const std::string& m = c.http.method;
  if (p.size() == 1 && p[0] == "workflows") {
    if (m == "GET") return ListWorkflows(c);
    if (m == "POST") return Submit(c);
    throw ApiError(405, "use GET or POST on /workflows");
  }
  if (p.size() >= 2 && p[0] == "workflows") {
    WorkflowId wf = ParseId(p[1], "workflow id");
    if (!c.admin) CheckOwner(c, wf);
    if (p.size() == 2) {
      if (m == "GET") return Status(c, wf);
      if (m == "DELETE") {
        Check(c.service->Delete(wf));
        return Json(200, {{"deleted", wf}});
      }
      throw ApiError(405, "use GET or DELETE on a workflow");
    }
    const std::string& what = p[2];
    // The server reads job logs as its own account, so never for a user of a multi-user
    // server: a symbolic link in their directory could point at any file it can read.
    if (!c.admin && what == "jobs" && p.size() == 5 && p[4] == "log")
      throw ApiError(403, "a multi-user server does not read job logs for users; read the file "
                          "yourself (torc_output/<workflow>/<job>.<attempt>.out in the working dir)");
    if (what == "status" && p.size() == 3 && m == "GET") return Status(c, wf);
    if (what == "cancel" && p.size() == 3 && m == "POST") return Cancel(c, wf);
    if (what == "restart" && p.size() == 3 && m == "POST") return Restart(c, wf);
    if (what == "update" && p.size() == 3 && m == "POST") return Update(c, wf);
    if (what == "events" && p.size() == 3 && m == "GET") return Events(c, wf);
    if (what == "actions" && p.size() == 4 && p[3] == "due" && m == "GET") return Actions(c, wf);
    if (what == "actions" && p.size() == 5 && p[4] == "done" && m == "POST")
      return FinishAction(c, wf, ParseId(p[3], "action index"));
    if (what == "jobs") return JobEndpoints(c, wf);
    if (what == "allocations" && p.size() == 3 && m == "POST") return Schedule(c, wf);
    if ((what == "attempts" || what == "timeline") && p.size() == 3) return MonitorEndpoints(c, wf);
    if (what == "workers" || what == "claim" || what == "start" || what == "complete")
      return WorkerEndpoints(c, wf, what);
  }
  throw ApiError(404, "no endpoint " + m + " /api/v1/" + [&] {
    std::string s;
    for (const auto& part : p) s += (s.empty() ? "" : "/") + part;
    return s;
  }());
}

/// An error answer. Messages may quote request bytes (a path segment, a query value) that are
/// not UTF-8; replace them instead of letting dump() throw.
HttpResponse ErrorJson(int status, const nlohmann::json& body) {
  return {status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          "application/json"};
}

void CheckToken(const HttpRequest& http, const std::string& token) {
  const std::string bearer = "Bearer ";
  if (http.authorization.rfind(bearer, 0) != 0 ||
      !ConstantTimeEquals(http.authorization.substr(bearer.size()), token))
    throw ApiError(401, http.authorization.empty()
                            ? "missing access token (Authorization: Bearer <token>)"
                            : "invalid access token");
}

/// Who sends the request: "" for the server's own token (the admin), or, in
/// multi-user mode, the name of the user whose token it is; 401 otherwise.
std::string Authenticate(const HttpRequest& http, const ApiOptions& options) {
  const std::string bearer = "Bearer ";
  if (options.users && http.authorization.rfind(bearer, 0) == 0) {
    std::string presented = http.authorization.substr(bearer.size());
    if (ConstantTimeEquals(presented, options.token)) return "";
    std::string user = options.users->Find(presented);
    if (!user.empty()) return user;
  }
  CheckToken(http, options.token);
  return "";
}

/// The dashboard page (no data in it: no token needed) and the metrics (token needed).
HttpResponse WebEndpoints(Service* service, const ApiOptions& options, const HttpRequest& http) {
  if (http.path == "/metrics") {
    if (http.method != "GET") throw ApiError(405, "use GET on /metrics");
    CheckToken(http, options.token);
    if (!options.metrics) throw ApiError(404, "this server keeps no metrics");
    return {200, options.metrics->Render(*service), "text/plain; version=0.0.4; charset=utf-8"};
  }
  if (http.method != "GET") throw ApiError(405, "use GET on " + http.path);
  return {200, DashboardHtml(), "text/html; charset=utf-8"};
}

HttpResponse HandleRequest(Service* service, const ApiOptions& options, const HttpRequest& http) {
  try {
    const std::string prefix = "/api/v1/";
    if (http.path == "/api/v1/health" || http.path == "/api/v1/health/")
      return api::Json(200, {{"status", "ok"}});
    if (http.path == "/" || http.path == "/index.html" || http.path == "/metrics")
      return WebEndpoints(service, options, http);
    if (http.path.rfind(prefix, 0) != 0)
      throw api::ApiError(404, "no endpoint " + http.path + " (the API is under /api/v1)");
    std::string user = Authenticate(http, options);
    api::Call call{http, {}, nullptr, options.now(), service, options.metrics};
    call.schedule_wait_seconds = options.schedule_wait_seconds;
    call.user = user;
    call.admin = user.empty();
    std::string rest = http.path.substr(prefix.size());
    size_t pos = 0;
    while (pos <= rest.size()) {
      size_t slash = rest.find('/', pos);
      std::string part = rest.substr(pos, slash == std::string::npos ? slash : slash - pos);
      if (!part.empty()) call.parts.push_back(part);
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    // The worker protocol's busiest requests read their own body (api_worker.cc).
    if (!http.body.empty() && !api::ReadsOwnBody(call)) call.body = api::ParseBody(http.body);
    return api::Route(call);
  } catch (const api::ApiError& e) {
    nlohmann::json body = {{"error", e.what()}};
    if (e.extra.is_object()) body.update(e.extra);
    return api::ErrorJson(e.status, body);
  } catch (const protocol::FieldError& e) {
    // A request that is not what the protocol says (a missing, mistyped or out-of-range field).
    return api::ErrorJson(400, {{"error", e.what()}});
  } catch (const nlohmann::json::exception& e) {
    return api::ErrorJson(400, {{"error", std::string("bad request: ") + e.what()}});
  } catch (const std::bad_alloc&) {
    return api::ErrorJson(503, {{"error", "out of memory"}});
  } catch (const std::exception& e) {
    return api::ErrorJson(500, {{"error", std::string("internal error: ") + e.what()}});
  }
}

}  // namespace
}  // namespace api

HttpHandler MakeApiHandler(Service* service, ApiOptions options) {
  return [service, options](const HttpRequest& http) -> HttpResponse {
    if (!options.metrics) return api::HandleRequest(service, options, http);
    auto start = std::chrono::steady_clock::now();
    HttpResponse response = api::HandleRequest(service, options, http);
    if (response.wait.count() > 0) return response;  // counted once, when answered
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    options.metrics->ObserveRequest(RouteClass(http.method, http.path), response.status,
                                    took.count());
    return response;
  };
}

}  // namespace torc::server
