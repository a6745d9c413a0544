#include "server/protocol/messages.h"

#include <climits>

#include "server/protocol/json_writer.h"
#include "spec/plan_json.h"

namespace torc::protocol {
namespace {

using nlohmann::json;

// Each element of an array field, checked to be an object (else FieldError(`not_object`)),
// decoded by `decode`.
template <typename T, typename Decode>
std::vector<T> Each(const json& obj, const char* key, bool required, size_t max_items,
                    const char* not_object, Decode decode) {
  std::vector<T> out;
  const json& arr = GetArray(obj, key, required, max_items);
  out.reserve(arr.size());
  for (const auto& e : arr) {
    if (!e.is_object()) throw FieldError(not_object);
    out.push_back(decode(e));
  }
  return out;
}

std::vector<std::string> Strings(const json& obj, const char* key) {
  std::vector<std::string> out;
  for (const auto& s : GetArray(obj, key, false)) {
    if (!s.is_string()) throw FieldError(std::string("'") + key + "' must hold strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<uint32_t> Indices(const json& obj, const char* key) {
  std::vector<uint32_t> out;
  for (const auto& n : GetArray(obj, key, false)) {
    if (!n.is_number_unsigned() || n.get<uint64_t>() > UINT32_MAX)
      throw FieldError(std::string("'") + key + "' must hold non-negative integers");
    out.push_back(n.get<uint32_t>());
  }
  return out;
}

uint32_t JobId(const json& j) { return static_cast<uint32_t>(GetInt(j, "id", 0, UINT32_MAX)); }
uint32_t AttemptOf(const json& j) {
  return static_cast<uint32_t>(GetInt(j, "attempt", 1, UINT32_MAX));
}

json OptionalNumber(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

NodeResources NodeResourcesFromJson(const json& n) {
  NodeResources r;
  r.name = GetString(n, "name", "", kMaxHostnameBytes);
  r.cpus = GetInt(n, "cpus", 0, 1 << 24, 1);
  r.memory_bytes = GetInt(n, "memory_bytes", 0, INT64_MAX, 0);
  for (const auto& g : GetArray(n, "gpus", false, 4096)) {
    if (!g.is_number_integer() || g.get<int64_t>() < 0 || g.get<int64_t>() > INT_MAX)
      throw FieldError("'gpus' of a node must hold device indices");
    r.gpus.push_back(g.get<int>());
  }
  return r;
}

StartNotice StartNoticeFromJson(const json& j) {
  return {JobId(j), AttemptOf(j), GetString(j, "nodes", "", kMaxNodesBytes)};
}

json ToJson(const StartNotice& s) {
  return {{"id", s.id}, {"attempt", s.attempt}, {"nodes", FitText(s.nodes, kMaxNodesBytes)}};
}

std::optional<AttemptStatus> AttemptStatusNamed(const std::string& s) {
  for (auto v : {AttemptStatus::kCompleted, AttemptStatus::kFailed, AttemptStatus::kTerminated,
                 AttemptStatus::kCanceled})
    if (s == ToString(v)) return v;
  return std::nullopt;
}

}  // namespace

AttemptReport AttemptReportFromJson(const json& r) {
  AttemptReport a;
  a.id = JobId(r);
  a.attempt = AttemptOf(r);
  std::string status = GetString(r, "status", std::nullopt, 32);
  auto s = AttemptStatusNamed(status);
  if (!s)
    throw FieldError("'status' of a result must be completed, failed, terminated or canceled, "
                     "not '" + status + "'");
  a.status = *s;
  a.exit_code = static_cast<int32_t>(GetInt(r, "exit_code", INT32_MIN, INT32_MAX, 0));
  a.signal = static_cast<int32_t>(GetInt(r, "signal", 0, 1024, 0));
  a.reason = GetString(r, "reason", "", kMaxReasonBytes);
  a.start_time = GetNumber(r, "start_time", 0.0);
  a.end_time = GetNumber(r, "end_time", 0.0);
  a.peak_rss_bytes = GetInt(r, "peak_rss_bytes", -1, INT64_MAX, -1);
  a.cpu_seconds = GetNumber(r, "cpu_seconds", -1.0);
  a.nodes = GetString(r, "nodes", "", kMaxNodesBytes);
  a.node_usage = Each<NodeUsage>(r, "node_usage", false, kMaxNodeUsage,
                                 "each of 'node_usage' must be an object", [](const json& n) {
                                   return NodeUsage{
                                       GetString(n, "node", "", kMaxHostnameBytes),
                                       GetInt(n, "peak_rss_bytes", -1, INT64_MAX, -1),
                                       GetNumber(n, "cpu_seconds", -1.0)};
                                 });
  for (const auto& s : GetArray(r, "samples", false, kMaxSamples)) {
    if (!s.is_array() || s.size() != 3 || !s[0].is_number() || !s[1].is_number() ||
        !s[2].is_number_integer())
      throw FieldError("each of 'samples' must be [t, cpu_percent, rss_bytes]");
    a.samples.push_back({s[0].get<double>(), s[1].get<double>(), s[2].get<int64_t>()});
  }
  if (a.status == AttemptStatus::kCompleted && a.exit_code != 0)
    throw FieldError("a completed result must have exit code 0");
  return a;
}

json ToJson(const AttemptReport& a) {
  json j = {{"id", a.id},         {"attempt", a.attempt},       {"status", ToString(a.status)},
            {"exit_code", a.exit_code}, {"signal", a.signal},
            {"reason", FitText(a.reason, kMaxReasonBytes)},
            {"start_time", a.start_time}, {"end_time", a.end_time},
            {"nodes", FitText(a.nodes, kMaxNodesBytes)}};
  if (a.peak_rss_bytes >= 0) j["peak_rss_bytes"] = a.peak_rss_bytes;
  if (a.cpu_seconds >= 0) j["cpu_seconds"] = a.cpu_seconds;
  if (!a.node_usage.empty()) {
    json& usage = j["node_usage"] = json::array();
    for (const auto& n : a.node_usage) {
      json u = {{"node", FitText(n.node, kMaxHostnameBytes)}};
      if (n.peak_rss_bytes >= 0) u["peak_rss_bytes"] = n.peak_rss_bytes;
      if (n.cpu_seconds >= 0) u["cpu_seconds"] = n.cpu_seconds;
      usage.push_back(std::move(u));
    }
  }
  if (!a.samples.empty()) {
    json& samples = j["samples"] = json::array();
    for (const auto& s : ThinSamples(a.samples))
      samples.push_back(json::array({s.t, s.cpu_percent, s.rss_bytes}));
  }
  return j;
}

namespace {

NodeCapacity NodeCapacityFromJson(const json& n) {
  NodeCapacity cap;
  cap.free_cpus = GetInt(n, "free_cpus", 0, 1 << 24);
  cap.free_memory_bytes = GetInt(n, "free_memory_bytes", 0, INT64_MAX);
  cap.free_gpus = GetInt(n, "free_gpus", 0, 1 << 16, 0);
  cap.total_cpus = GetInt(n, "total_cpus", 0, 1 << 24, cap.free_cpus);
  cap.total_memory_bytes = GetInt(n, "total_memory_bytes", 0, INT64_MAX, cap.free_memory_bytes);
  cap.total_gpus = GetInt(n, "total_gpus", 0, 1 << 16, cap.free_gpus);
  cap.idle = GetBool(n, "idle", false);
  return cap;
}

json ToJson(const NodeCapacity& c) {
  return {{"free_cpus", c.free_cpus},   {"free_memory_bytes", c.free_memory_bytes},
          {"free_gpus", c.free_gpus},   {"total_cpus", c.total_cpus},
          {"total_memory_bytes", c.total_memory_bytes}, {"total_gpus", c.total_gpus},
          {"idle", c.idle}};
}

std::vector<Rejection> RejectionsFromJson(const json& j) {
  return Each<Rejection>(
      j, "rejected", false, 1'000'000, "each rejected result must be an object", [](const json& r) {
        return Rejection{JobId(r), static_cast<uint32_t>(GetInt(r, "attempt", 0, UINT32_MAX)),
                         GetString(r, "reason", "")};
      });
}

json ToJson(const std::vector<Rejection>& rs) {
  json out = json::array();
  for (const auto& r : rs) out.push_back({{"id", r.id}, {"attempt", r.attempt}, {"reason", r.reason}});
  return out;
}

}  // namespace

// ---- registration ------------------------------------------------------------------------
json Registration::ResourcesJson() const {
  json r = {{"end_time", OptionalNumber(end_time)}};
  // No "nodes" when it reported none: such a worker tells nothing of node sizes (`torc status`
  // judges "fits no node" only by workers that reported theirs).
  if (!nodes.empty()) {
    json& nodes_json = r["nodes"] = json::array();
    for (const auto& n : nodes)
      nodes_json.push_back({{"name", FitText(n.name, kMaxHostnameBytes)},
                            {"cpus", n.cpus},
                            {"memory_bytes", n.memory_bytes},
                            {"gpus", n.gpus}});
  }
  if (!output_dir.empty()) r["output_dir"] = output_dir;
  return r;
}

json ToJson(const Registration& m) {
  json r = m.ResourcesJson();
  r.erase("output_dir");
  json out = {{"hostname", FitText(m.hostname, kMaxHostnameBytes)},
              {"slurm_job_id", FitText(m.slurm_job_id, kMaxSlurmJobIdBytes)},
              {"slurm_nodelist", FitText(m.slurm_nodelist, kMaxSlurmNodeListBytes)},
              {"pid", m.pid},
              {"output_dir", FitText(m.output_dir, kMaxPathBytes)},
              {"resources", r}};
  if (m.slurm_restart_count > 0) out["slurm_restart_count"] = m.slurm_restart_count;
  return out;
}

Registration RegistrationFromJson(const json& j) {
  AsObject(j, "the request body");
  Registration m;
  m.hostname = GetString(j, "hostname", "", kMaxHostnameBytes);
  m.slurm_job_id = GetString(j, "slurm_job_id", "", kMaxSlurmJobIdBytes);
  m.slurm_nodelist = GetString(j, "slurm_nodelist", "", kMaxSlurmNodeListBytes);
  m.pid = GetInt(j, "pid", 0, INT64_MAX, 0);
  m.output_dir = GetString(j, "output_dir", "", kMaxPathBytes);
  m.slurm_restart_count =
      static_cast<uint32_t>(GetInt(j, "slurm_restart_count", 0, UINT32_MAX, 0));
  auto res = j.find("resources");
  if (res != j.end() && !res->is_null()) {
    if (!res->is_object()) throw FieldError("'resources' must be an object");
    m.nodes =
        Each<NodeResources>(*res, "nodes", false, 100000,
                            "each node of 'resources' must be an object", NodeResourcesFromJson);
    if (auto e = res->find("end_time"); e != res->end() && !e->is_null())
      m.end_time = GetNumber(*res, "end_time");
    // An older worker put its output directory inside "resources".
    if (m.output_dir.empty()) m.output_dir = GetString(*res, "output_dir", "", kMaxPathBytes);
  }
  return m;
}

ExecutionSettings ExecutionSettingsOf(const spec::ExecutionConfig& x) {
  ExecutionSettings s;
  s.mode = spec::ToString(x.mode);
  s.limit_resources = x.limit_resources;
  s.termination_signal = x.termination_signal;
  s.sigterm_lead_seconds = x.sigterm_lead_seconds;
  s.oom_exit_code = x.oom_exit_code ? *x.oom_exit_code : kDefaultOomExitCode;
  s.timeout_exit_code = x.timeout_exit_code ? *x.timeout_exit_code : kDefaultTimeoutExitCode;
  s.srun_termination_signal = x.srun_termination_signal;
  s.enable_cpu_bind = x.enable_cpu_bind;
  s.srun_launch_interval_ms = x.srun_launch_interval_ms;
  s.sigkill_headroom_seconds = x.sigkill_headroom_seconds;
  s.srun_mpi = x.srun_mpi;
  return s;
}

MonitorSettings MonitorSettingsOf(const spec::ResourceMonitor& m) {
  return {m.enabled, m.time_series, m.sample_interval_seconds};
}

std::vector<ResourceSample> ThinSamples(std::vector<ResourceSample> samples, size_t max) {
  if (samples.size() <= max || max == 0) return samples;
  if (max == 1) return {samples.back()};
  std::vector<ResourceSample> out;
  out.reserve(max);
  const double step = static_cast<double>(samples.size() - 1) / static_cast<double>(max - 1);
  for (size_t i = 0; i < max; ++i)
    out.push_back(samples[static_cast<size_t>(static_cast<double>(i) * step + 0.5)]);
  return out;
}

json ToJson(const RegistrationAnswer& m) {
  const ExecutionSettings& x = m.execution;
  return {{"worker_id", m.worker_id},
          {"workflow_name", m.workflow_name},
          {"working_dir", m.working_dir},
          {"heartbeat_seconds", m.heartbeat_seconds},
          {"lease_seconds", m.lease_seconds},
          {"failure_handlers", spec::FailureHandlersToJson(m.failure_handlers)},
          {"schedulers", m.schedulers},
          {"on_worker_start", m.on_worker_start},
          {"on_worker_complete", m.on_worker_complete},
          {"execution",
           {{"mode", x.mode},
            {"limit_resources", x.limit_resources},
            {"termination_signal", x.termination_signal},
            {"sigterm_lead_seconds", x.sigterm_lead_seconds},
            {"oom_exit_code", x.oom_exit_code},
            {"timeout_exit_code", x.timeout_exit_code},
            {"srun_termination_signal", x.srun_termination_signal},
            {"enable_cpu_bind", x.enable_cpu_bind},
            {"srun_launch_interval_ms", x.srun_launch_interval_ms},
            {"sigkill_headroom_seconds", x.sigkill_headroom_seconds},
            {"srun_mpi", x.srun_mpi}}},
          {"monitor",
           {{"enabled", m.monitor.enabled},
            {"time_series", m.monitor.time_series},
            {"sample_interval_seconds", m.monitor.sample_interval_seconds}}},
          {"ignore_workflow_completion", m.ignore_workflow_completion}};
}

RegistrationAnswer RegistrationAnswerFromJson(const json& j) {
  AsObject(j, "the registration answer");
  RegistrationAnswer m;
  m.worker_id = GetInt(j, "worker_id", 1, INT64_MAX);
  m.workflow_name = GetString(j, "workflow_name", "workflow");
  m.working_dir = GetString(j, "working_dir", "");
  m.heartbeat_seconds = GetNumber(j, "heartbeat_seconds", 30.0);
  m.lease_seconds = GetNumber(j, "lease_seconds", 90.0);
  const json& handlers = GetArray(j, "failure_handlers", false);
  try {
    m.failure_handlers = spec::FailureHandlersFromJson(handlers);
  } catch (const nlohmann::json::exception& e) {
    throw FieldError(std::string("'failure_handlers' is malformed: ") + e.what());
  }
  m.schedulers = Strings(j, "schedulers");
  m.on_worker_start = Strings(j, "on_worker_start");
  m.on_worker_complete = Strings(j, "on_worker_complete");
  static const json kNone = json::object();
  auto it = j.find("execution");
  const json& x = it == j.end() || it->is_null() ? kNone : *it;
  AsObject(x, "'execution'");
  ExecutionSettings d;
  ExecutionSettings& s = m.execution;
  s.mode = GetString(x, "mode", d.mode, 16);
  if (s.mode != "auto" && s.mode != "slurm" && s.mode != "direct")
    throw FieldError("'mode' must be auto, slurm or direct, not '" + s.mode + "'");
  s.limit_resources = GetBool(x, "limit_resources", d.limit_resources);
  s.termination_signal = GetString(x, "termination_signal", d.termination_signal, 32);
  s.sigterm_lead_seconds = GetInt(x, "sigterm_lead_seconds", 0, INT32_MAX, d.sigterm_lead_seconds);
  s.oom_exit_code = GetInt(x, "oom_exit_code", INT32_MIN, INT32_MAX, d.oom_exit_code);
  s.timeout_exit_code = GetInt(x, "timeout_exit_code", INT32_MIN, INT32_MAX, d.timeout_exit_code);
  s.srun_termination_signal = GetString(x, "srun_termination_signal", "", 64);
  s.enable_cpu_bind = GetBool(x, "enable_cpu_bind", d.enable_cpu_bind);
  s.srun_launch_interval_ms =
      GetInt(x, "srun_launch_interval_ms", 0, 3'600'000, d.srun_launch_interval_ms);
  s.sigkill_headroom_seconds =
      GetInt(x, "sigkill_headroom_seconds", 0, INT32_MAX, d.sigkill_headroom_seconds);
  s.srun_mpi = GetString(x, "srun_mpi", "", 64);
  // An older server sends no "monitor": measure, no time series.
  auto mon = j.find("monitor");
  const json& mj = mon == j.end() || mon->is_null() ? kNone : *mon;
  AsObject(mj, "'monitor'");
  const MonitorSettings md;
  m.monitor.enabled = GetBool(mj, "enabled", md.enabled);
  m.monitor.time_series = GetBool(mj, "time_series", md.time_series);
  m.monitor.sample_interval_seconds =
      GetInt(mj, "sample_interval_seconds", 1, 3600, md.sample_interval_seconds);
  // An older server sends none: the worker leaves when the workflow is complete.
  m.ignore_workflow_completion = GetBool(j, "ignore_workflow_completion", false);
  return m;
}

// ---- claims --------------------------------------------------------------------------------
const char* ToString(AttemptStatus s) {
  switch (s) {
    case AttemptStatus::kCompleted: return "completed";
    case AttemptStatus::kFailed: return "failed";
    case AttemptStatus::kTerminated: return "terminated";
    case AttemptStatus::kCanceled: return "canceled";
  }
  return "failed";
}

json ToJson(const ClaimRequest& m) {
  json nodes = json::array();
  for (const auto& n : m.nodes) nodes.push_back(ToJson(n));
  json j = {{"worker_id", m.worker_id}, {"max_jobs", m.max_jobs}, {"nodes", nodes}};
  if (m.remaining_seconds) j["remaining_seconds"] = *m.remaining_seconds;
  if (!m.scheduler.empty()) j["scheduler"] = FitText(m.scheduler, kMaxSchedulerBytes);
  if (m.total_cpus > 0) j["total_cpus"] = m.total_cpus;
  if (m.wait_seconds > 0) j["wait_seconds"] = m.wait_seconds;
  if (!m.started.empty()) {
    j["started"] = json::array();
    for (const auto& s : m.started) j["started"].push_back(ToJson(s));
  }
  if (!m.results.empty()) {
    j["results"] = json::array();
    for (const auto& r : m.results) j["results"].push_back(ToJson(r));
  }
  return j;
}

ClaimRequest ClaimRequestFromJson(const json& j) {
  AsObject(j, "the request body");
  ClaimRequest m;
  m.worker_id = GetInt(j, "worker_id", 1, INT64_MAX);
  m.max_jobs = static_cast<uint32_t>(GetInt(j, "max_jobs", 0, 100000, 1));
  if (auto it = j.find("remaining_seconds"); it != j.end() && !it->is_null())
    m.remaining_seconds = GetNumber(j, "remaining_seconds");
  m.nodes = Each<NodeCapacity>(j, "nodes", true, 100000, "each of 'nodes' must be an object",
                               NodeCapacityFromJson);
  m.scheduler = GetString(j, "scheduler", "", kMaxSchedulerBytes);
  m.total_cpus = GetInt(j, "total_cpus", 0, INT64_MAX, 0);
  m.wait_seconds = GetNumber(j, "wait_seconds", 0.0);
  if (m.wait_seconds < 0 || m.wait_seconds > kMaxClaimWaitSeconds)
    throw FieldError("'wait_seconds' must be between 0 and " +
                     std::to_string(static_cast<int>(kMaxClaimWaitSeconds)) + ", not " +
                     nlohmann::json(m.wait_seconds).dump());
  m.started =
      Each<StartNotice>(j, "started", false, 1'000'000,
                        "each started job must be an object {id, attempt}", StartNoticeFromJson);
  m.results = Each<AttemptReport>(j, "results", false, 1'000'000,
                                  "each of 'results' must be an object", AttemptReportFromJson);
  return m;
}

void WriteJson(const ClaimedJob& c, JsonWriter& w) {
  w.Raw("{").Key("id", true).Int(c.id).Key("name").String(c.name);
  w.Key("attempt").Int(c.attempt).Key("command").String(c.command);
  if (!c.invocation_script.empty()) w.Key("invocation_script").String(c.invocation_script);
  if (!c.env.empty()) {
    w.Key("env").Raw("{");
    bool first = true;
    for (const auto& [k, v] : c.env) {
      w.Key(k, first).String(v);
      first = false;
    }
    w.Raw("}");
  }
  w.Key("num_cpus").Int(c.num_cpus).Key("memory_bytes").Int(c.memory_bytes);
  w.Key("num_gpus").Int(c.num_gpus).Key("num_nodes").Int(c.num_nodes);
  w.Key("runtime_seconds").Int(c.runtime_seconds);
  w.Key("nodes").Raw("[");
  for (size_t k = 0; k < c.nodes.size(); ++k) {
    if (k) w.Raw(",");
    w.Int(c.nodes[k]);
  }
  w.Raw("]");
  if (c.stdio_mode != spec::StdioMode::kSeparate || c.delete_on_success)
    w.Key("stdio").Raw("{").Key("mode", true).String(spec::ToString(c.stdio_mode))
        .Key("delete_on_success").Bool(c.delete_on_success).Raw("}");
  if (c.failure_handler >= 0) w.Key("failure_handler").Int(c.failure_handler);
  if (c.has_dependents) w.Key("has_dependents").Bool(true);
  if (!c.status.empty()) w.Key("status").String(c.status);
  w.Raw("}");
}

json ToJson(const ClaimedJob& m) {
  std::string text;
  JsonWriter w(&text);
  WriteJson(m, w);
  return json::parse(text);
}

ClaimedJob ClaimedJobFromJson(const json& j) {
  AsObject(j, "a claimed job");
  ClaimedJob c;
  c.id = JobId(j);
  c.name = GetString(j, "name");
  c.attempt = AttemptOf(j);
  c.command = GetString(j, "command");
  c.invocation_script = GetString(j, "invocation_script", "");
  if (auto env = j.find("env"); env != j.end() && !env->is_null()) {
    if (!env->is_object()) throw FieldError("'env' must be an object");
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string()) throw FieldError("'env' value of " + k + " must be a string");
      c.env[k] = v.get<std::string>();
    }
  }
  c.num_cpus = GetInt(j, "num_cpus", 0, 1 << 24);
  c.memory_bytes = GetInt(j, "memory_bytes", 0, INT64_MAX);
  c.num_gpus = GetInt(j, "num_gpus", 0, 1 << 16);
  c.num_nodes = GetInt(j, "num_nodes", 1, 1 << 20);
  c.runtime_seconds = GetInt(j, "runtime_seconds", 0, INT64_MAX);
  c.nodes = Indices(j, "nodes");
  if (auto io = j.find("stdio"); io != j.end() && !io->is_null()) {
    AsObject(*io, "'stdio'");
    std::string mode = GetString(*io, "mode", "separate", 32);
    c.stdio_mode = spec::StdioModeNamed(mode);
    if (spec::ToString(c.stdio_mode) != mode)
      throw FieldError("'mode' of 'stdio' is not a stdio mode: '" + mode + "'");
    c.delete_on_success = GetBool(*io, "delete_on_success", false);
  }
  c.failure_handler = GetInt(j, "failure_handler", -1, INT32_MAX, -1);
  c.has_dependents = GetBool(j, "has_dependents", false);
  c.status = GetString(j, "status", "", 32);
  return c;
}

std::string EncodeClaimAnswer(const ClaimAnswer& m) {
  std::string out;
  out.reserve(128 + m.jobs.size() * 160);
  JsonWriter w(&out);
  w.Raw("{").Key("jobs", true).Raw("[");
  for (size_t k = 0; k < m.jobs.size(); ++k) {
    if (k) w.Raw(",");
    WriteJson(m.jobs[k], w);
  }
  w.Raw("]").Key("workflow_complete").Bool(m.workflow_complete);
  w.Key("unfinished").Int(m.unfinished).Key("ready").Int(m.ready).Key("blocked").Int(m.blocked);
  if (m.worker_cpus > 0) w.Key("worker_cpus").Int(m.worker_cpus);
  if (m.runnable) w.Key("runnable").Int(*m.runnable);
  w.Key("applied").Int(m.applied).Key("duplicate").Int(m.duplicate);
  w.Key("rejected").Raw(ToJson(m.rejected).dump());
  w.Raw("}");
  return out;
}

ClaimAnswer ClaimAnswerFromJson(const json& j) {
  AsObject(j, "the claim answer");
  ClaimAnswer m;
  m.jobs = Each<ClaimedJob>(j, "jobs", true, 1'000'000, "each claimed job must be an object",
                            ClaimedJobFromJson);
  m.workflow_complete = GetBool(j, "workflow_complete", false);
  m.unfinished = GetInt(j, "unfinished", 0, INT64_MAX, 0);
  m.ready = GetInt(j, "ready", 0, INT64_MAX, 0);
  m.blocked = GetInt(j, "blocked", 0, INT64_MAX, 0);
  m.worker_cpus = GetInt(j, "worker_cpus", 0, INT64_MAX, 0);
  if (auto it = j.find("runnable"); it != j.end() && !it->is_null())
    m.runnable = GetInt(j, "runnable", 0, INT64_MAX);
  m.applied = GetInt(j, "applied", 0, INT64_MAX, 0);
  m.duplicate = GetInt(j, "duplicate", 0, INT64_MAX, 0);
  m.rejected = RejectionsFromJson(j);
  return m;
}

// ---- start, complete, heartbeat, held jobs, leaving -----------------------------------------
json ToJson(const StartRequest& m) {
  json jobs = json::array();
  for (const auto& s : m.jobs) jobs.push_back(ToJson(s));
  return {{"worker_id", m.worker_id}, {"jobs", jobs}};
}

StartRequest StartRequestFromJson(const json& j) {
  AsObject(j, "the request body");
  StartRequest m;
  m.worker_id = GetInt(j, "worker_id", 1, INT64_MAX);
  m.jobs =
      Each<StartNotice>(j, "jobs", true, 1'000'000,
                        "each started job must be an object {id, attempt}", StartNoticeFromJson);
  return m;
}

json ToJson(const StartAnswer& m) { return {{"started", m.started}}; }
StartAnswer StartAnswerFromJson(const json& j) {
  AsObject(j, "the start answer");
  return {GetInt(j, "started", 0, INT64_MAX, 0)};
}

json ToJson(const CompleteRequest& m) {
  json results = json::array();
  for (const auto& r : m.results) results.push_back(ToJson(r));
  json j = {{"worker_id", m.worker_id}, {"results", results}};
  if (!m.started.empty()) {
    j["started"] = json::array();
    for (const auto& s : m.started) j["started"].push_back(ToJson(s));
  }
  return j;
}

CompleteRequest CompleteRequestFromJson(const json& j) {
  AsObject(j, "the request body");
  CompleteRequest m;
  m.worker_id = GetInt(j, "worker_id", 1, INT64_MAX);
  m.results = Each<AttemptReport>(j, "results", true, 1'000'000,
                                  "each of 'results' must be an object", AttemptReportFromJson);
  m.started =
      Each<StartNotice>(j, "started", false, 1'000'000,
                        "each started job must be an object {id, attempt}", StartNoticeFromJson);
  return m;
}

json ToJson(const CompleteAnswer& m) {
  return {{"applied", m.applied}, {"duplicate", m.duplicate}, {"rejected", ToJson(m.rejected)},
          {"workflow_complete", m.workflow_complete}};
}

CompleteAnswer CompleteAnswerFromJson(const json& j) {
  AsObject(j, "the complete answer");
  CompleteAnswer m;
  m.applied = GetInt(j, "applied", 0, INT64_MAX, 0);
  m.duplicate = GetInt(j, "duplicate", 0, INT64_MAX, 0);
  m.rejected = RejectionsFromJson(j);
  m.workflow_complete = GetBool(j, "workflow_complete", false);
  return m;
}

json ToJson(const HeartbeatAnswer& m) {
  return {{"ok", true}, {"stop_jobs", m.stop_jobs}, {"workflow_complete", m.workflow_complete}};
}

HeartbeatAnswer HeartbeatAnswerFromJson(const json& j) {
  AsObject(j, "the heartbeat answer");
  return {Indices(j, "stop_jobs"), GetBool(j, "workflow_complete", false)};
}

json ToJson(const HeldJobs& m) {
  json jobs = json::array();
  for (const auto& c : m.jobs) jobs.push_back(ToJson(c));
  return {{"jobs", jobs}};
}

HeldJobs HeldJobsFromJson(const json& j) {
  AsObject(j, "the held jobs answer");
  return {Each<ClaimedJob>(j, "jobs", true, 1'000'000, "each held job must be an object",
                           ClaimedJobFromJson)};
}

json ToJson(const LeaveNotice& m) {
  return m.reason.empty() ? json(nullptr)
                          : json{{"reason", FitText(m.reason, kMaxLeaveReasonBytes)}};
}

LeaveNotice LeaveNoticeFromJson(const json& j) {
  if (j.is_null()) return {};
  AsObject(j, "the request body");
  return {GetString(j, "reason", "", kMaxLeaveReasonBytes)};
}

}  // namespace torc::protocol
