// Endpoints for watching a workflow from the dashboard and `torc report`:
// every job with all its attempts in one request, the attempt timeline as SVG,
// and the tail of a job's stdout/stderr file.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/api/api_internal.h"
#include "server/api/metrics.h"
#include "server/protocol/output_paths.h"
#include "server/report/report.h"

namespace torc::server::api {
namespace {

/// Jobs with requests and attempts; the one currently held by a worker as "current".
nlohmann::json AttemptsJson(const Call& c, WorkflowEntry& e, int64_t offset, int64_t limit,
                            bool parents, bool only_active) {
  const spec::Plan& plan = *e.plan;
  const WorkflowCore& core = *e.core;
  nlohmann::json jobs = nlohmann::json::array();
  for (JobIndex j = static_cast<JobIndex>(std::min<int64_t>(offset, core.job_count()));
       j < core.job_count() && static_cast<int64_t>(jobs.size()) < limit; ++j) {
    const JobDynamic& d = core.job(j);
    auto attempts = core.AttemptsOf(j);
    bool held = d.status == JobStatus::kClaimed || d.status == JobStatus::kRunning;
    if (only_active && attempts.empty() && !held) continue;
    const auto& rr = plan.RequirementsOf(plan.jobs[j]);
    const JobShape shape = core.ShapeOf(j);  // memory and runtime as grown
    nlohmann::json row = {{"id", j},
                          {"name", plan.jobs[j].name},
                          {"status", ToString(d.status)},
                          {"attempt", d.attempt},
                          {"num_cpus", rr.num_cpus},
                          {"memory_bytes", shape.memory_bytes},
                          {"num_gpus", rr.num_gpus},
                          {"num_nodes", rr.num_nodes},
                          {"runtime_seconds", shape.runtime_seconds}};
    nlohmann::json list = nlohmann::json::array();
    for (const auto* a : attempts) {
      list.push_back(AttemptJson(*a));
      list.back()["request"] = AttemptRequestJson(*a, rr.num_cpus);
    }
    row["attempts"] = std::move(list);
    if (held) {
      nlohmann::json current = {{"attempt", d.attempt},
                                {"status", ToString(d.status)},
                                {"worker", d.worker},
                                {"hostname", nullptr},
                                {"start_time", nullptr}};
      auto w = core.workers().find(d.worker);
      if (w != core.workers().end()) current["hostname"] = w->second.hostname;
      if (c.metrics && d.status == JobStatus::kRunning)
        if (auto since = c.metrics->RunningSince(core.id(), j)) current["start_time"] = *since;
      row["current"] = std::move(current);
    }
    if (parents) {
      nlohmann::json p = nlohmann::json::array();
      for (auto parent : plan.AllParents(plan.jobs[j])) p.push_back(parent);
      row["parents"] = std::move(p);
    }
    jobs.push_back(std::move(row));
  }
  return {{"workflow_id", core.id()}, {"now", c.now},   {"total", core.job_count()},
          {"offset", offset},         {"limit", limit}, {"jobs", std::move(jobs)}};
}

bool QueryFlag(const Call& c, const char* key) {
  auto it = c.http.query.find(key);
  if (it == c.http.query.end()) return false;
  if (it->second == "1" || it->second == "true") return true;
  if (it->second.empty() || it->second == "0" || it->second == "false") return false;
  throw ApiError(400, std::string("query parameter '") + key + "' must be true or false");
}

HttpResponse Attempts(Call& c, WorkflowId wf) {
  int64_t offset = QueryInt(c, "offset", 0, INT64_MAX, 0);
  int64_t limit = QueryInt(c, "limit", 1, 100000, 10000);
  bool parents = QueryFlag(c, "parents");
  nlohmann::json out;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    out = AttemptsJson(c, e, offset, limit, parents, false);
    return ServiceStatus::Ok();
  }));
  return Json(200, out);
}

HttpResponse Timeline(Call& c, WorkflowId wf) {
  nlohmann::json data;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    data = AttemptsJson(c, e, 0, INT64_MAX, false, true);
    return ServiceStatus::Ok();
  }));
  return {200, RenderTimelineSvg(data), "image/svg+xml"};
}

}  // namespace

// <output dir of the attempt's worker>/<job>.<attempt>.out|.err (protocol::AttemptOutputPaths, as the
// worker names them)
std::string JobLogPath(const WorkflowEntry& e, JobIndex j, uint32_t attempt, bool err) {
  const spec::Job& job = e.plan->jobs[j];
  spec::StdioMode mode = job.stdio ? job.stdio->mode : e.plan->execution.stdio.mode;
  if (mode == spec::StdioMode::kNone) return "";
  // The directory the attempt's worker reported at registration (`output_dir`), else the
  // default of `torc worker run` started in the workflow's working directory.
  WorkerId w = 0;
  for (const auto* a : e.core->AttemptsOf(j))
    if (a->attempt == attempt) w = a->worker;
  if (w == 0 && e.core->job(j).attempt == attempt) w = e.core->job(j).worker;
  std::string dir;
  if (auto it = e.core->workers().find(w); it != e.core->workers().end()) {
    auto reported = nlohmann::json::parse(it->second.resources_json, nullptr, false);
    if (reported.is_object() && reported.contains("output_dir") && reported["output_dir"].is_string())
      dir = reported["output_dir"].get<std::string>();
  }
  if (dir.empty())
    dir = protocol::DefaultJobOutputDir(e.row.working_dir, e.row.id);
  protocol::AttemptOutputs logs = protocol::AttemptOutputPaths(dir, job.name, attempt, mode);
  return err ? logs.err : logs.out;
}

namespace {

HttpResponse Log(Call& c, WorkflowId wf, const std::string& ref) {
  auto stream = c.http.query.find("stream");
  std::string which = stream == c.http.query.end() || stream->second.empty() ? "out" : stream->second;
  if (which != "out" && which != "err") throw ApiError(400, "'stream' must be out or err");
  constexpr int64_t kMaxBytes = 1 << 20;
  int64_t limit = QueryInt(c, "limit", 1, kMaxBytes, kMaxBytes);
  int64_t offset = QueryInt(c, "offset", -1, INT64_MAX, -1);
  // 0: the current attempt; checked against it below (inside the service call, as a status).
  const int64_t asked = QueryInt(c, "attempt", 1, UINT32_MAX, 0);
  std::string path, name, owner;
  uint32_t attempt = 0;
  Check(c.service->WithWorkflow(wf, [&](WorkflowEntry& e) {
    JobIndex j = 0;
    if (ServiceStatus found = FindJobByText(*e.plan, ref, &j); !found.ok()) return found;
    uint32_t current = e.core->job(j).attempt;
    if (asked > current)
      return ServiceStatus::Error(ServiceStatus::kBadRequest,
                                  "query parameter 'attempt' must be an integer between 1 and " +
                                      std::to_string(current));
    attempt = asked == 0 ? current : static_cast<uint32_t>(asked);
    name = e.plan->jobs[j].name;
    owner = e.row.owner;
    path = JobLogPath(e, j, attempt, which == "err");
    return ServiceStatus::Ok();
  }));
  if (path.empty())
    throw ApiError(404, "job '" + name + "' writes no std" + which + " file (its stdio mode)");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  int open_error = errno;
  struct stat st {};
  if (fd < 0 && (open_error == ENOENT || open_error == ENOTDIR))
    throw ApiError(404, "no std" + which + " file for attempt " + std::to_string(attempt) +
                            " of job '" + name + "' at " + path +
                            " (not started, deleted on success, or written elsewhere)",
                   {{"path", path}});
  // Something is there, but not what the server serves (docs/api.md): a symbolic link (it
  // could lead anywhere the server's account may read), a FIFO, a directory, a device.
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    std::string why = fd < 0 && open_error == ELOOP ? "it is a symbolic link"
                      : fd < 0                      ? std::strerror(open_error)
                                                    : "it is not a regular file";
    throw ApiError(403,
                   "the server does not serve " + path + ": " + why +
                       " (only a regular file owned by the workflow's owner is served)",
                   {{"path", path}});
  }
  // The server reads as its own account: serve only files of the workflow's owner (the
  // server's account when the owner is no Unix user), not whatever a path leads to.
  uid_t expected = geteuid();
  if (!owner.empty()) {
    struct passwd pwd {}, *pw = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(owner.c_str(), &pwd, buf.data(), buf.size(), &pw) == 0 && pw) expected = pw->pw_uid;
  }
  if (st.st_uid != expected) {
    close(fd);
    throw ApiError(403, path + " does not belong to the workflow's owner" +
                            (owner.empty() ? std::string() : " (" + owner + ")"));
  }
  int64_t size = st.st_size;
  // Without an offset: the last `limit` bytes; with one: from there, `limit` bytes at most.
  int64_t start = offset < 0 ? std::max<int64_t>(0, size - limit) : std::min(offset, size);
  int64_t count = std::min(limit, size - start);
  std::string content(static_cast<size_t>(count), '\0');
  ssize_t got = pread(fd, content.data(), static_cast<size_t>(count), start);
  close(fd);
  content.resize(static_cast<size_t>(std::max<ssize_t>(0, got)));
  nlohmann::json out = {{"job", name},  {"attempt", attempt}, {"stream", which},
                        {"path", path}, {"size", size},       {"offset", start},
                        {"next_offset", start + static_cast<int64_t>(content.size())},
                        {"content", std::move(content)}};
  // Output need not be UTF-8: invalid bytes become U+FFFD instead of failing the dump.
  return {200, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          "application/json"};
}

}  // namespace

HttpResponse MonitorEndpoints(Call& c, WorkflowId wf) {
  const auto& p = c.parts;
  if (c.http.method != "GET") throw ApiError(405, "use GET on " + c.http.path);
  if (p[2] == "attempts" && p.size() == 3) return Attempts(c, wf);
  if (p[2] == "timeline" && p.size() == 3) return Timeline(c, wf);
  if (p[2] == "jobs" && p.size() == 5 && p[4] == "log") return Log(c, wf, p[3]);
  throw ApiError(404, "no endpoint GET " + c.http.path);
}

}  // namespace torc::server::api
