#include "cmd/attempt_samples.h"

#include "cmd/client_support.h"
#include "server/report/report.h"

namespace torc::cmd {

bool HasSamples(const nlohmann::json& attempt) {
  auto it = attempt.find("samples");
  return it != attempt.end() && it->is_number() && it->get<double>() > 0;
}

nlohmann::json FetchSampleSeries(server::ApiClient& client, int64_t workflow,
                                 const std::string& job, int64_t attempt) {
  std::string path = WorkflowPath(workflow) + "/jobs/" + server::UrlEncode(job) + "/attempts/" +
                     std::to_string(attempt) + "/samples";
  server::ApiResult r = client.Call("GET", path);
  if (r.status == 404) {
    Warn("no samples for attempt " + std::to_string(attempt) + " of job '" + job + "': " +
         client.Describe(r));
    return nullptr;
  }
  if (!r.ok()) DieOfCall(client, r);
  nlohmann::json out = std::move(r.body);
  if (!out.is_object()) out = nlohmann::json::object();
  server::SeriesSummary s = server::Summarize(server::ReadSampleSeries(out));
  out["count"] = s.count;
  out["duration_seconds"] = s.duration_seconds;
  out["peak_rss_bytes"] = static_cast<int64_t>(s.peak_rss_bytes);
  out["peak_cpu_percent"] = s.peak_cpu_percent;
  return out;
}

}  // namespace torc::cmd
