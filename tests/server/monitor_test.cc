// The monitoring endpoints on a real `torc server run`: /metrics after known
// work (claims, starts, results, a worker leaving, a lease expiring), the
// dashboard page without a token, the attempts and timeline endpoints, and
// job logs read from disk.
#include <doctest/doctest.h>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "server/util/clock.h"
#include "html_check.h"
#include "server_process.h"

using namespace torc;
using nlohmann::json;

namespace {

std::string ReadToken(const std::string& dir) {
  std::ifstream in(dir + "/token");
  std::string token;
  std::getline(in, token);
  return token;
}


/// The value of one series in a Prometheus text exposition; -1 when absent.
double Metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

json Ok(server::ApiResult r) {
  INFO(r.status << " " << r.error);
  REQUIRE(r.ok());
  return r.body;
}

json Nodes() {
  return json::array({{{"free_cpus", 3}, {"free_memory_bytes", 1LL << 34}, {"idle", true}}});
}

json Result(int64_t id, const char* status, int exit_code, double start, double end) {
  return {{"id", id},           {"attempt", 1},      {"status", status},
          {"exit_code", exit_code}, {"start_time", start}, {"end_time", end},
          {"peak_rss_bytes", 1 << 20}, {"cpu_seconds", 0.25}, {"nodes", "n1"}};
}

}  // namespace

TEST_CASE("metrics, dashboard, attempts, timeline and logs on a real server") {
  testing::TempDir dir;
  // Leases of 3 x 2 s: a silent worker expires within seconds (worker 1 heartbeats).
  testing::ServerProcess server(TORC_BINARY, dir.path(), {"--heartbeat-seconds", "2"});
  server.Start();
  std::string token = ReadToken(dir.path());
  auto http = server::MakeHttpClient(server.url(), token, std::chrono::seconds(30));
  auto anonymous = server::MakeHttpClient(server.url(), "", std::chrono::seconds(30));
  auto client = server.Client();

  // The dashboard page needs no token and holds no data; /metrics needs the token.
  auto page = anonymous->Request("GET", "/");
  CHECK(page.status == 200);
  CHECK(page.body.find("<title>torc dashboard</title>") != std::string::npos);
  CHECK(page.body.find("sessionStorage") != std::string::npos);
  CHECK_FALSE(torc::testing::HasExternalReference(page.body));
  CHECK(anonymous->Request("GET", "/metrics").status == 401);
  CHECK(anonymous->Request("GET", "/api/v1/workflows/1/attempts").status == 401);
  CHECK(http->Request("POST", "/metrics").status == 405);

  std::string work = dir.path() + "/work";
  mkdir(work.c_str(), 0755);
  std::string spec = R"(name: monitored
jobs:
  - name: a_{i}
    command: "echo {i}"
    parameters: {i: "0:4"}
  - name: last
    command: "true"
    depends_on: [a_0]
)";
  json sub = Ok(client->Call("POST", "/workflows",
                             {{"spec_text", spec}, {"file_name", "m.yaml"}, {"working_dir", work}}));
  REQUIRE(sub["workflow_id"] == 1);

  // Worker 1 claims 3 jobs, starts them, reports one completed and one failed.
  // Worker 1 writes its logs elsewhere and says so at registration.
  std::string logdir = work + "/elsewhere/1";
  json w1 = Ok(client->Call("POST", "/workflows/1/workers",
                            {{"hostname", "n1"}, {"resources", {{"output_dir", logdir}}}}));
  json claim = Ok(client->Call("POST", "/workflows/1/claim",
                               {{"worker_id", w1["worker_id"]}, {"max_jobs", 3}, {"nodes", Nodes()}}));
  REQUIRE(claim["jobs"].size() == 3);
  json started = json::array();
  for (const auto& j : claim["jobs"]) started.push_back({{"id", j["id"]}, {"attempt", 1}});
  Ok(client->Call("POST", "/workflows/1/start", {{"worker_id", w1["worker_id"]}, {"jobs", started}}));
  double now = util::WallClockNow();
  int64_t done = claim["jobs"][0]["id"], failed = claim["jobs"][1]["id"], running = claim["jobs"][2]["id"];
  Ok(client->Call("POST", "/workflows/1/complete",
                  {{"worker_id", w1["worker_id"]},
                   {"results", {Result(done, "completed", 0, now - 2, now - 1),
                                Result(failed, "failed", 3, now - 2, now)}}}));

  std::string beat = "/workflows/1/workers/" + std::to_string(w1["worker_id"].get<int64_t>()) + "/heartbeat";
  Ok(client->Call("POST", beat, json::object()));
  auto metrics = http->Request("GET", "/metrics");
  REQUIRE(metrics.status == 200);
  const std::string& m = metrics.body;
  CHECK(Metric(m, "torc_workflows") == 1);
  CHECK(Metric(m, "torc_claims_total") == 3);
  CHECK(Metric(m, "torc_jobs_started_total") == 3);
  CHECK(Metric(m, "torc_jobs_completed_total") == 1);
  CHECK(Metric(m, "torc_attempts_ended_total{status=\"failed\"}") == 1);
  CHECK(Metric(m, "torc_lease_expiries_total") == 0);
  CHECK(Metric(m, "torc_jobs{workflow=\"1\",state=\"running\"}") == 1);
  CHECK(Metric(m, "torc_jobs{workflow=\"1\",state=\"completed\"}") == 1);
  CHECK(Metric(m, "torc_jobs{workflow=\"1\",state=\"failed\"}") == 1);
  CHECK(Metric(m, "torc_workers{workflow=\"1\"}") == 1);
  CHECK(Metric(m, "torc_allocations{workflow=\"1\",state=\"pending\"}") == 0);
  CHECK(Metric(m, "torc_workflow_info{workflow=\"1\",name=\"monitored\",owner=\"\"}") == 1);
  CHECK(Metric(m, "torc_http_request_duration_seconds_count{route=\"claim\"}") == 1);
  CHECK(Metric(m, "torc_http_request_duration_seconds_bucket{route=\"claim\",le=\"+Inf\"}") == 1);
  CHECK(Metric(m, "torc_http_requests_total{route=\"complete\",code=\"2xx\"}") == 1);
  CHECK(Metric(m, "torc_http_requests_total{route=\"metrics\",code=\"4xx\"}") == 2);  // 401, 405
  CHECK(m.find("# TYPE torc_http_request_duration_seconds histogram") != std::string::npos);
  CHECK(m.find("# TYPE torc_claims_total counter") != std::string::npos);

  // The bulk endpoint: every job, its attempts, the running one with its start and host.
  json att = Ok(client->Call("GET", "/workflows/1/attempts?parents=true"));
  REQUIRE(att["jobs"].size() == 6);
  CHECK(att["total"] == 6);
  const json& run = att["jobs"][running];
  CHECK(run["status"] == "running");
  CHECK(run["current"]["hostname"] == "n1");
  CHECK(run["current"]["start_time"].is_number());
  CHECK(att["jobs"][failed]["attempts"][0]["exit_code"] == 3);
  CHECK(att["jobs"][5]["name"] == "last");
  CHECK(att["jobs"][5]["parents"] == json::array({0}));
  CHECK(att["jobs"][0].contains("num_cpus"));
  CHECK(Ok(client->Call("GET", "/workflows/1/attempts?offset=4&limit=1"))["jobs"].size() == 1);
  CHECK(client->Call("GET", "/workflows/1/attempts?parents=maybe").status == 400);
  CHECK(client->Call("GET", "/workflows/9/attempts").status == 404);

  // The timeline: the two ended attempts and the running one.
  auto svg = http->Request("GET", "/api/v1/workflows/1/timeline");
  CHECK(svg.status == 200);
  CHECK(svg.body.rfind("<svg", 0) == 0);
  CHECK(svg.body.find("data-bars=\"3\"") != std::string::npos);
  CHECK(svg.body.find("data-state=\"running\"") != std::string::npos);

  Ok(client->Call("POST", beat, json::object()));
  // Logs: read from <the worker's output dir>/<job>.<attempt>.out, tail by default.
  std::string name = att["jobs"][done]["name"];
  REQUIRE(system(("mkdir -p '" + logdir + "'").c_str()) == 0);
  std::ofstream(logdir + "/" + name + ".1.out") << "hello from the job\n";
  json log = Ok(client->Call("GET", "/workflows/1/jobs/" + name + "/log"));
  CHECK(log["content"] == "hello from the job\n");
  CHECK(log["size"] == 19);
  CHECK(log["path"] == logdir + "/" + name + ".1.out");
  json tail = Ok(client->Call("GET", "/workflows/1/jobs/" + name + "/log?limit=4"));
  CHECK(tail["content"] == "job\n");
  CHECK(tail["offset"] == 15);
  json from = Ok(client->Call("GET", "/workflows/1/jobs/" + std::to_string(done) + "/log?offset=6&limit=4"));
  CHECK(from["content"] == "from");
  CHECK(from["next_offset"] == 10);
  auto missing = client->Call("GET", "/workflows/1/jobs/" + name + "/log?stream=err");
  CHECK(missing.status == 404);
  CHECK(missing.error.find(name + ".1.err") != std::string::npos);
  CHECK(client->Call("GET", "/workflows/1/jobs/" + name + "/log?stream=both").status == 400);
  CHECK(client->Call("GET", "/workflows/1/jobs/" + name + "/log?attempt=2").status == 400);
  CHECK(client->Call("GET", "/workflows/1/jobs/nosuchjob/log").status == 404);

  // Worker 1 leaves (its running job is requeued); worker 2 claims and goes silent.
  Ok(client->Call("DELETE", "/workflows/1/workers/" + std::to_string(w1["worker_id"].get<int64_t>())));
  json w2 = Ok(client->Call("POST", "/workflows/1/workers", {{"hostname", "n2"}}));
  json claim2 = Ok(client->Call("POST", "/workflows/1/claim",
                                {{"worker_id", w2["worker_id"]}, {"max_jobs", 1}, {"nodes", Nodes()}}));
  REQUIRE(claim2["jobs"].size() == 1);
  // Worker 2 named no output dir: its attempt's log is looked for in the default place.
  std::string name2 = claim2["jobs"][0]["name"];
  auto default_place = client->Call("GET", "/workflows/1/jobs/" + name2 + "/log");
  CHECK(default_place.status == 404);
  CHECK(default_place.body["path"] == work + "/torc_output/1/" + name2 + "." +
                                          std::to_string(claim2["jobs"][0]["attempt"].get<int>()) + ".out");
  double expiries = 0;
  for (int i = 0; i < 300 && expiries < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    expiries = Metric(http->Request("GET", "/metrics").body, "torc_lease_expiries_total");
  }
  std::string after = http->Request("GET", "/metrics").body;
  CHECK(Metric(after, "torc_lease_expiries_total") == 1);
  CHECK(Metric(after, "torc_requeues_total") == 2);
  CHECK(Metric(after, "torc_claims_total") == 4);
  CHECK(Metric(after, "torc_attempts_ended_total{status=\"terminated\"}") == 2);
  CHECK(Metric(after, "torc_workers{workflow=\"1\"}") == 0);
  CHECK(Metric(after, "torc_jobs{workflow=\"1\",state=\"running\"}") == 0);
}

TEST_CASE("a job log is served only when the workflow's owner owns the file") {
  struct passwd* nobody = getpwnam("nobody");
  if (geteuid() != 0 || !nobody) {
    MESSAGE("needs root and a user 'nobody' (chown)");
    return;
  }
  testing::TempDir dir;
  testing::ServerProcess server(TORC_BINARY, dir.path());
  server.Start();
  auto client = server.Client();
  std::string spec = "name: owned\njobs:\n  - name: a\n    command: \"true\"\n";
  Ok(client->Call("POST", "/workflows",
                  {{"spec_text", spec}, {"working_dir", dir.path()}, {"owner", "nobody"}}));
  json w = Ok(client->Call("POST", "/workflows/1/workers", {{"hostname", "n1"}}));
  REQUIRE(Ok(client->Call("POST", "/workflows/1/claim",
                          {{"worker_id", w["worker_id"]}, {"max_jobs", 1}, {"nodes", Nodes()}}))["jobs"]
              .size() == 1);
  std::string logdir = dir.path() + "/torc_output/1", log = logdir + "/a.1.out";
  REQUIRE(system(("mkdir -p '" + logdir + "'").c_str()) == 0);
  std::ofstream(log) << "secret of root\n";
  // Written by root, asked for as nobody's workflow: refused.
  auto refused = client->Call("GET", "/workflows/1/jobs/a/log");
  CHECK(refused.status == 403);
  CHECK(refused.error.find("does not belong to the workflow's owner (nobody)") != std::string::npos);
  // Owned by nobody: served.
  REQUIRE(chown(log.c_str(), nobody->pw_uid, nobody->pw_gid) == 0);
  CHECK(Ok(client->Call("GET", "/workflows/1/jobs/a/log"))["content"] == "secret of root\n");
  // A symlink in the last component is not followed: 403, as docs/api.md says.
  REQUIRE(rename(log.c_str(), (logdir + "/real").c_str()) == 0);
  REQUIRE(symlink((logdir + "/real").c_str(), log.c_str()) == 0);
  CHECK(client->Call("GET", "/workflows/1/jobs/a/log").status == 403);
}
