// The report renderer on fixed JSON input (what GET /workflows/{id} and
// GET /workflows/{id}/attempts return): timeline bars, flags, graph, and a page
// that needs no network.
#include <doctest/doctest.h>


#include "html_check.h"
#include "server/report/report.h"

using nlohmann::json;
using namespace torc::server;

namespace {

constexpr double kT0 = 1'800'000'000;
constexpr int64_t kGiB = 1LL << 30;

json Attempt(int n, const char* status, double start, double end, double cpu, int64_t rss,
             const char* nodes, const char* reason = "") {
  return {{"attempt", n},          {"worker", 1},         {"status", status},
          {"exit_code", std::string(status) == "completed" ? 0 : 1},
          {"signal", 0},           {"reason", reason},    {"start_time", kT0 + start},
          {"end_time", kT0 + end}, {"peak_rss_bytes", rss}, {"cpu_seconds", cpu},
          {"nodes", nodes}};
}

json Job(int id, const char* name, const char* status, int cpus, int64_t memory, json attempts,
         json parents = json::array()) {
  return {{"id", id},           {"name", name},         {"status", status},
          {"attempt", attempts.empty() ? 1 : attempts.size()},
          {"num_cpus", cpus},   {"memory_bytes", memory}, {"num_gpus", 0},
          {"num_nodes", 1},     {"runtime_seconds", 120}, {"attempts", attempts},
          {"parents", parents}};
}

/// A diamond: prep -> (lazy, hungry) -> <b>post</b>; lazy asks 8 CPUs / 16 GiB and uses
/// 1 CPU / 1 GiB; hungry asks 1 GiB and peaks at 3 GiB after a memory kill; post runs.
json Attempts() {
  json jobs = json::array();
  jobs.push_back(Job(0, "prep", "completed", 1, 0, {Attempt(1, "completed", 0, 10, 9.5, 50 << 20, "n1")}));
  jobs.push_back(Job(1, "lazy", "completed", 8, 16 * kGiB,
                     {Attempt(1, "completed", 10, 110, 120, kGiB, "n[1-2]")}, {0}));
  jobs.push_back(Job(2, "hungry", "completed", 1, kGiB,
                     {Attempt(1, "failed", 10, 20, 9, 2 * kGiB, "n2", "memory"),
                      Attempt(2, "completed", 20, 60, 39, 3 * kGiB, "n2")},
                     {0}));
  json post = Job(3, "<b>post</b>", "running", 1, 0, json::array(), {1, 2});
  post["current"] = {{"attempt", 1}, {"status", "running"}, {"worker", 1},
                     {"hostname", "n3"}, {"start_time", kT0 + 110}};
  jobs.push_back(post);
  return {{"workflow_id", 7}, {"now", kT0 + 130}, {"total", 4}, {"jobs", jobs}};
}

json Summary() {
  return {{"workflow_id", 7},
          {"name", "diamond"},
          {"owner", "alice"},
          {"created_at", kT0 - 5},
          {"file_name", "diamond.yaml"},
          {"total", 4},
          {"complete", false},
          {"counts", {{"blocked", 0}, {"ready", 0}, {"claimed", 0}, {"running", 1},
                      {"completed", 3}, {"failed", 0}, {"canceled", 0}, {"terminated", 0},
                      {"disabled", 0}}},
          {"allocations", json::array()}};
}


size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("usage flags: over- and under-requests by the thresholds") {
  json data = Attempts();
  auto lazy = JudgeUsage(data["jobs"][1]);
  REQUIRE(lazy.size() == 2);
  CHECK(lazy[0].kind == "cpu-over");
  CHECK(lazy[0].message == "used 1.2 of 8 CPUs (15%)");
  CHECK(lazy[1].kind == "memory-over");
  CHECK(lazy[0].over());

  auto hungry = JudgeUsage(data["jobs"][2]);
  REQUIRE(hungry.size() == 1);
  CHECK(hungry[0].kind == "memory-under");
  CHECK(hungry[0].message == "peak 3.0 GiB of 1.0 GiB (300%)");
  CHECK_FALSE(hungry[0].over());

  // prep uses what it asked for; post has not ended.
  CHECK(JudgeUsage(data["jobs"][0]).empty());
  CHECK(JudgeUsage(data["jobs"][3]).empty());

  // The thresholds decide: at 10% lazy's CPU use (15%) is fine.
  UsageThresholds loose;
  loose.cpu_over_efficiency = 0.1;
  auto relaxed = JudgeUsage(data["jobs"][1], loose);
  REQUIRE(relaxed.size() == 1);
  CHECK(relaxed[0].kind == "memory-over");

  // A kill for memory flags the request even without a measurement above it.
  json killed = Job(9, "k", "failed", 1, kGiB, {Attempt(1, "failed", 0, 1, 0.5, -1, "n1", "memory")});
  auto k = JudgeUsage(killed);
  REQUIRE(k.size() == 1);
  CHECK(k[0].kind == "memory-under");

  // Ended by the walltime: its runtime request was too small. Stopped with its worker
  // (scancel): nothing to say about the request.
  json walltime = Job(10, "w", "ready", 1, kGiB,
                      {Attempt(1, "terminated", 0, 1, 0.5, -1, "n1", "walltime")});
  auto wk = JudgeUsage(walltime);
  REQUIRE(wk.size() == 1);
  CHECK(wk[0].kind == "runtime-under");
  json stopped = Job(11, "s", "ready", 1, kGiB,
                     {Attempt(1, "terminated", 0, 1, 0.5, -1, "n1", "stopped")});
  CHECK(JudgeUsage(stopped).empty());
}

TEST_CASE("timeline: one bar per attempt per node, running bars up to now") {
  std::string svg = RenderTimelineSvg(Attempts());
  // prep 1 + lazy on n1 and n2 + hungry 2 attempts + post running = 6 bars on 3 rows.
  CHECK(Count(svg, "<rect class=\"bar\"") == 6);
  CHECK(svg.find("data-bars=\"6\"") != std::string::npos);
  CHECK(svg.find("data-rows=\"3\"") != std::string::npos);
  CHECK(Count(svg, "data-state=\"running\"") == 1);
  CHECK(Count(svg, "data-state=\"failed\"") == 1);
  CHECK(Count(svg, "data-job=\"lazy\"") == 2);
  CHECK(svg.find("fill=\"#d62728\" data-state=\"failed\"") != std::string::npos);
  // The job name is escaped, never markup.
  CHECK(svg.find("<b>post</b>") == std::string::npos);
  CHECK(svg.find("&lt;b&gt;post&lt;/b&gt;") != std::string::npos);
  // Nothing started: a message instead of an empty chart.
  json empty = {{"now", kT0}, {"jobs", json::array({Job(0, "a", "ready", 1, 0, json::array())})}};
  CHECK(RenderTimelineSvg(empty).find("No attempt has started yet") != std::string::npos);
}

TEST_CASE("timeline legend: jobs per state, not bars") {
  // lazy ran on two nodes (two bars); hungry failed once then completed; a job that failed
  // twice on three nodes is one failed job.
  json data = Attempts();
  data["jobs"].push_back(Job(
      4, "twice", "failed", 1, 0,
      {Attempt(1, "failed", 0, 5, 1, 1, "n[1-3]"), Attempt(2, "failed", 5, 9, 1, 1, "n[1-3]")}));
  std::string svg = RenderTimelineSvg(data);
  CHECK(Count(svg, "data-state=\"completed\"") == 4);  // prep, lazy x2, hungry #2
  CHECK(Count(svg, "data-state=\"failed\"") == 7);     // hungry #1, twice 2 x 3 nodes
  CHECK(svg.find("data-legend-state=\"completed\" data-jobs=\"3\">completed (3 jobs)</text>") !=
        std::string::npos);
  CHECK(svg.find("data-legend-state=\"failed\" data-jobs=\"2\">failed (2 jobs)</text>") !=
        std::string::npos);
  CHECK(svg.find("data-legend-state=\"running\" data-jobs=\"1\">running (1 job)</text>") !=
        std::string::npos);
  CHECK(Count(svg, "class=\"legend\"") == 3);
}

TEST_CASE("timeline: at most 20,000 bars, the rest counted") {
  json jobs = json::array();
  for (int i = 0; i < 20003; ++i)
    jobs.push_back(Job(i, "j", "completed", 1, 0, {Attempt(1, "completed", i, i + 1, 1, 1, "n1")}));
  std::string svg = RenderTimelineSvg({{"now", kT0 + 30000}, {"jobs", jobs}});
  CHECK(svg.find("data-bars=\"20000\"") != std::string::npos);
  CHECK(svg.find("3 more bars not drawn.") != std::string::npos);
  // The legend counts every job, drawn or not.
  CHECK(svg.find("completed (20003 jobs)") != std::string::npos);
}

TEST_CASE("dependency graph: small workflows only") {
  std::string svg = RenderDagSvg(Attempts());
  CHECK(Count(svg, "class=\"dag-node\"") == 4);
  CHECK(Count(svg, "<path ") == 4);  // prep->lazy, prep->hungry, lazy->post, hungry->post
  CHECK(RenderDagSvg(Attempts(), 3).empty());
  json no_parents = Attempts();
  for (auto& j : no_parents["jobs"]) j.erase("parents");
  CHECK(RenderDagSvg(no_parents).empty());
}

TEST_CASE("report: summary, timeline, graph, flags; self-contained") {
  ReportOptions options;
  options.generated_at = kT0 + 200;
  std::string html = RenderReportHtml(Summary(), Attempts(), options);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("torc report: diamond (workflow 7)") != std::string::npos);
  CHECK(Count(html, "<rect class=\"bar\"") == 6);
  CHECK(Count(html, "class=\"dag-node\"") == 4);
  CHECK(html.find("data-flag=\"cpu-over\"") != std::string::npos);
  CHECK(html.find("data-flag=\"memory-over\"") != std::string::npos);
  CHECK(html.find("data-flag=\"memory-under\"") != std::string::npos);
  CHECK(html.find("<tr><th>jobs with flagged requests</th><td>2</td></tr>") != std::string::npos);
  CHECK(html.find("<span class=\"chip\" data-state=\"completed\"") != std::string::npos);
  CHECK(html.find("<b>post</b>") == std::string::npos);
  // No external resource: no src/href to http(s), no <script src>, no <link>, no @import.
  CHECK_FALSE(torc::testing::HasExternalReference(html));
  CHECK(torc::testing::HasExternalReference("<img SRC = 'https://cdn.example/x.png'>"));  // the check itself
  CHECK(torc::testing::HasExternalReference("<script src=//cdn.example/x.js>"));
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
}

TEST_CASE("host lists expand like Slurm's") {
  CHECK(ExpandHostList("n[1-3],m") == std::vector<std::string>{"n1", "n2", "n3", "m"});
  CHECK(ExpandHostList("gpu[08-10,12]") ==
        std::vector<std::string>{"gpu08", "gpu09", "gpu10", "gpu12"});
  CHECK(ExpandHostList("").empty());
  CHECK(ExpandHostList("host") == std::vector<std::string>{"host"});
}
