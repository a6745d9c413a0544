// The report renderer on fixed JSON input (what GET /workflows/{id} and
// GET /workflows/{id}/attempts return): timeline bars, flags, graph, and a page
// that needs no network.
#include <doctest/doctest.h>

#include <fstream>


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

// ---- Resource truth (issue #18): requests per attempt, node usage, samples --------------------
// tests/server/fixtures/usage/: what GET /workflows/3, GET /workflows/3/attempts and
// GET /workflows/3/jobs/J/attempts/A/samples answer (docs/api.md), shared with the CLI test.
namespace {

json Fixture(const std::string& name) {
  std::ifstream in(std::string(TORC_USAGE_FIXTURES) + "/" + name);
  REQUIRE(in.good());
  return json::parse(in);
}

const UsageFlag* FlagOf(const std::vector<UsageFlag>& flags, const std::string& kind) {
  for (const auto& f : flags)
    if (f.kind == kind) return &f;
  return nullptr;
}

/// The attribute `name` of the first element in `svg` that contains `marker`.
std::string Attribute(const std::string& svg, const std::string& marker, const std::string& name) {
  size_t at = svg.find(marker);
  if (at == std::string::npos) return "<no " + marker + ">";
  size_t open = svg.rfind('<', at), close = svg.find('>', at);
  std::string element = svg.substr(open, close - open);
  size_t p = element.find(" " + name + "=\"");
  if (p == std::string::npos) return "<no " + name + ">";
  p += name.size() + 3;
  return element.substr(p, element.find('"', p) - p);
}

}  // namespace

TEST_CASE("usage flags: true figures against each attempt's request, with suggestions") {
  json data = Fixture("attempts.json");
  // grower: killed for memory at 100 MiB, then peaked at 300 MiB of its grown 400 MiB (not an
  // over-request against the request it ran with); a 10 s run of a 30 min runtime.
  auto grower = JudgeUsage(data["jobs"][0]);
  REQUIRE(grower.size() == 2);
  CHECK(grower[0].kind == "runtime-over");
  CHECK(grower[0].message == "longest ran 10 s of 30 min 0 s (1%)");
  CHECK(grower[0].suggestion.key == "runtime");
  CHECK(grower[0].suggestion.text == "PT1M");  // 12 s, rounded up to a minute
  CHECK(grower[1].kind == "memory-under");
  CHECK(grower[1].message == "killed for exceeding its memory request");
  CHECK(grower[1].suggestion.text == "384m");  // 300 MiB x 1.2 = 360 MiB -> 64 MiB steps
  CHECK(grower[1].suggestion.value == 384.0 * (1 << 20));

  // wide: 2 nodes x 4 CPUs, 150 CPU s (100 + 50 per node) in 100 s; peak 768 MiB of 2 GiB.
  auto wide = JudgeUsage(data["jobs"][1]);
  REQUIRE(wide.size() == 2);
  CHECK(wide[0].kind == "cpu-over");
  CHECK(wide[0].message == "used 1.5 of 8 CPUs (19%)");
  CHECK(wide[0].suggestion.key == "num_cpus");
  CHECK(wide[0].suggestion.text == "1");  // the busiest node used 1.0 CPU
  CHECK(wide[1].kind == "memory-over");
  CHECK(wide[1].message == "peak 768 MiB of 2.0 GiB (38%)");
  CHECK(wide[1].suggestion.text == "960m");
  // The default runtime (PT1H) is not judged as an over-request.
  CHECK(FlagOf(wide, "runtime-over") == nullptr);

  // hot: 45 CPU s in 20 s on 1 CPU, 1 GiB peak of 1 GiB, 20 s of a 15 s runtime.
  auto hot = JudgeUsage(data["jobs"][3]);
  REQUIRE(hot.size() == 3);
  CHECK(hot[0].kind == "cpu-under");
  CHECK(hot[0].suggestion.text == "3");
  CHECK(hot[1].kind == "memory-under");  // at the request counts
  CHECK(hot[1].message == "peak 1.0 GiB of 1.0 GiB (100%)");
  CHECK(hot[1].suggestion.text == "1.5g");
  CHECK(hot[2].kind == "runtime-under");
  CHECK(hot[2].message == "ran 20 s of 15 s (133%)");
  CHECK(hot[2].suggestion.text == "PT1M");

  // quick: an older server's attempt (no request, node_usage, samples): judged by the job.
  CHECK(JudgeUsage(data["jobs"][2]).empty());

  // node_usage alone carries the figures when the attempt's own are unknown.
  json only_nodes = data["jobs"][1];
  only_nodes["attempts"][0]["peak_rss_bytes"] = -1;
  only_nodes["attempts"][0]["cpu_seconds"] = -1;
  auto from_nodes = JudgeUsage(only_nodes);
  REQUIRE(from_nodes.size() == 2);
  CHECK(from_nodes[0].message == "used 1.5 of 8 CPUs (19%)");
  CHECK(from_nodes[1].message == "peak 768 MiB of 2.0 GiB (38%)");

  // The attempt's own request decides, not the job's: grower's last attempt against the job's
  // 100 MiB would be an under-request.
  json no_request = data["jobs"][0];
  for (auto& a : no_request["attempts"]) a.erase("request");
  auto old = JudgeUsage(no_request);
  REQUIRE(FlagOf(old, "memory-under") != nullptr);
  CHECK(FlagOf(old, "memory-under")->message == "peak 300 MiB of 100 MiB (300%)");
}

TEST_CASE("suggested requests round up to tidy units") {
  constexpr double kMiB = 1 << 20, kGiB = 1 << 30;
  CHECK(SuggestMemory(1).text == "64m");
  CHECK(SuggestMemory(64 * kMiB).text == "64m");
  CHECK(SuggestMemory(65 * kMiB).text == "128m");
  CHECK(SuggestMemory(kGiB).text == "1g");
  CHECK(SuggestMemory(kGiB + 1).text == "1.5g");
  CHECK(SuggestMemory(3.6 * kGiB).text == "4g");
  CHECK(SuggestMemory(3.6 * kGiB).value == 4 * kGiB);
  CHECK(SuggestRuntime(1).text == "PT1M");
  CHECK(SuggestRuntime(61).text == "PT2M");
  CHECK(SuggestRuntime(3600).text == "PT1H");
  CHECK(SuggestRuntime(3601).text == "PT1H15M");
  CHECK(SuggestRuntime(7200 * 1.2).text == "PT2H30M");
}

TEST_CASE("samples: read, summarized, sparkline") {
  SampleSeries s = ReadSampleSeries(Fixture("samples_grower_2.json"));
  REQUIRE(s.size() == 6);
  SeriesSummary sum = Summarize(s);
  CHECK(sum.count == 6);
  CHECK(sum.interval_seconds == 2);
  CHECK(sum.duration_seconds == 10);
  CHECK(sum.peak_rss_bytes == 300.0 * (1 << 20));
  CHECK(sum.peak_cpu_percent == 100);
  // 50 150 250 300 300 200 MiB of a 300 MiB peak: eighths rounded up.
  CHECK(Sparkline(s.rss_bytes) == "▂▄▇██▆");
  CHECK(Sparkline({}) == "");
  // Thinned to the width, each block the peak of its share.
  std::vector<double> many(100, 1.0);
  many[57] = 8;
  std::string line = Sparkline(many, 10);
  CHECK(line == "▁▁▁▁▁█▁▁▁▁");
  // Entries that are not samples are skipped; the wire's arrays are read too.
  json odd = {{"interval_seconds", 5},
              {"samples", {{{"t", 0}, {"cpu_percent", 10}, {"rss_bytes", 7}}, "junk",
                           {{"t", 1}}, {5, 20, 9}}}};
  SampleSeries o = ReadSampleSeries(odd);
  REQUIRE(o.size() == 2);
  CHECK(o.t[1] == 5);
  CHECK(o.rss_bytes[1] == 9);
  CHECK(ReadSampleSeries(json()).size() == 0);
}

TEST_CASE("usage charts: one polyline per attempt, the request as a line at its value") {
  SampleSeries a1 = ReadSampleSeries(Fixture("samples_grower_1.json"));
  SampleSeries a2 = ReadSampleSeries(Fixture("samples_grower_2.json"));
  constexpr double kMiB = 1 << 20;
  std::string svg = RenderUsageChartSvg(ChartKind::kMemory, {{1, &a1}, {2, &a2}},
                                        {{100 * kMiB, "request 100 MiB"}, {400 * kMiB, "request 400 MiB"}});
  CHECK(Count(svg, "<polyline class=\"series\"") == 2);
  CHECK(Attribute(svg, "data-attempt=\"1\"", "data-points") == "5");
  CHECK(Attribute(svg, "data-attempt=\"2\"", "data-points") == "6");
  // Axis: 400 MiB x 1.1 -> ticks of 200 MiB up to 600 MiB; time 0..10 s over x 72..540.
  CHECK(Attribute(svg, "class=\"usage-chart\"", "data-top") == "600");
  CHECK(Attribute(svg, "class=\"usage-chart\"", "data-unit") == "MiB");
  CHECK(svg.find(">600 MiB</text>") != std::string::npos);
  CHECK(Attribute(svg, "data-attempt=\"1\"", "points") ==
        "72.0,180.7 118.8,172.8 165.6,164.9 212.4,159.7 259.2,159.7");
  CHECK(Attribute(svg, "data-attempt=\"2\"", "points").rfind("72.0,172.8 165.6,146.5 ", 0) == 0);
  CHECK(Count(svg, "<line class=\"request\"") == 2);
  CHECK(Attribute(svg, "data-value=\"104857600\"", "y1") == "159.7");  // 186 - 100/600 x 158
  CHECK(Attribute(svg, "data-value=\"419430400\"", "y1") == "80.7");
  CHECK(svg.find(">request 400 MiB</text>") != std::string::npos);
  CHECK(svg.find(">time since the attempt's start</text>") != std::string::npos);

  std::string cpu = RenderUsageChartSvg(ChartKind::kCpu, {{2, &a2}}, {{100, "request 100 %"}});
  CHECK(Attribute(cpu, "class=\"usage-chart\"", "data-top") == "150");  // 110 -> ticks of 50
  CHECK(Attribute(cpu, "class=\"request\"", "y1") == "80.7");
  CHECK(Attribute(cpu, "data-attempt=\"2\"", "points").rfind("72.0,85.9 ", 0) == 0);  // 95 %
  CHECK(cpu.find(">150 %</text>") != std::string::npos);

  // Thousands of samples: at most 500 points, the peak kept.
  SampleSeries big;
  for (int k = 0; k < 5000; ++k) {
    big.t.push_back(k);
    big.cpu_percent.push_back(50);
    big.rss_bytes.push_back(k == 4321 ? 500 * kMiB : 100 * kMiB);
  }
  std::string thin = RenderUsageChartSvg(ChartKind::kMemory, {{1, &big}}, {});
  CHECK(Attribute(thin, "data-attempt=\"1\"", "data-points") == "500");
  CHECK(Count(Attribute(thin, "data-attempt=\"1\"", "points"), ",") == 500);
  CHECK(Attribute(thin, "class=\"usage-chart\"", "data-top") == "600");  // 550 -> 600: the peak
}

TEST_CASE("report: charts of the jobs with samples, suggestions in the table") {
  json data = Fixture("attempts.json");
  auto charted = ChartedAttempts(data);
  // grower's 2 attempts and wide's 1 have samples; hot ("samples": 0) and quick (none) not.
  REQUIRE(charted.size() == 3);
  CHECK(charted[0] == std::pair<size_t, size_t>{0, 0});
  CHECK(charted[1] == std::pair<size_t, size_t>{0, 1});
  CHECK(charted[2] == std::pair<size_t, size_t>{1, 0});
  ReportOptions one;
  one.max_chart_jobs = 1;
  CHECK(ChartedAttempts(data, one).size() == 2);

  const char* names[] = {"grower_1", "grower_2", "wide_1"};
  for (size_t k = 0; k < charted.size(); ++k)
    data["jobs"][charted[k].first]["attempts"][charted[k].second]["sample_series"] =
        Fixture(std::string("samples_") + names[k] + ".json");
  std::string html = RenderReportHtml(Fixture("workflow.json"), data);
  CHECK(Count(html, "<div class=\"job-usage\"") == 2);
  CHECK(Count(html, "class=\"usage-chart\" data-kind=\"memory\"") == 2);
  CHECK(Count(html, "class=\"usage-chart\" data-kind=\"cpu\"") == 2);
  CHECK(Count(html, "<polyline class=\"series\"") == 6);  // grower 2 x 2 charts, wide 1 x 2
  // grower's requests grew: one line per request on the memory chart, one CPU line.
  CHECK(html.find(">request 100 MiB, attempt 1</text>") != std::string::npos);
  CHECK(html.find(">request 400 MiB, attempt 2</text>") != std::string::npos);
  CHECK(Count(html, ">request 100 %</text>") == 1);
  // wide's samples are summed over its 2 nodes: the line is both nodes' request.
  CHECK(html.find(">request 4.0 GiB (2 nodes × 2.0 GiB)</text>") != std::string::npos);
  CHECK(html.find(">request 800 % (2 nodes × 400 %)</text>") != std::string::npos);
  CHECK(html.find("attempt 2: 6 samples every 2.0 s, peak 300 MiB, peak CPU 100 %") !=
        std::string::npos);
  // Suggestions beside the flags.
  CHECK(html.find("<span class=\"suggest\" data-key=\"memory\" data-value=\"402653184\">memory: "
                  "384m</span>") != std::string::npos);
  CHECK(html.find("data-key=\"runtime\" data-value=\"60\">runtime: PT1M</span>") != std::string::npos);
  CHECK(html.find("data-key=\"num_cpus\" data-value=\"3\">num_cpus: 3</span>") != std::string::npos);
  CHECK(html.find("data-flag=\"runtime-over\"") != std::string::npos);
  CHECK(html.find("<tr><th>jobs with flagged requests</th><td>3</td></tr>") != std::string::npos);
  CHECK_FALSE(torc::testing::HasExternalReference(html));

  // Fewer charts than jobs with samples: said so. No samples at all: how to get them.
  ReportOptions options;
  options.max_chart_jobs = 1;
  std::string one_chart = RenderReportHtml(Fixture("workflow.json"), data, options);
  CHECK(Count(one_chart, "<div class=\"job-usage\"") == 1);
  CHECK(one_chart.find("1 more jobs with samples not drawn (at most 1, flagged jobs first)") !=
        std::string::npos);
  std::string none = RenderReportHtml(Summary(), Attempts());
  CHECK(none.find("No attempt has samples") != std::string::npos);
}
