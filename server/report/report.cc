// `torc report`'s HTML page: summary, timeline, graph, and resource use
// against the requests with the over- and under-requests flagged.
#include "server/report/report.h"
#include "server/report/report_internal.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace torc::server {

using report::List;
using report::Num;
using report::Str;
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Percent(double fraction) { return Fixed(fraction * 100, 0) + "%"; }

std::string Timestamp(double t) {
  if (t <= 0) return "-";
  std::time_t s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

const char* kStates[] = {"blocked", "ready",    "claimed",    "running", "completed",
                         "failed",  "canceled", "terminated", "disabled"};

}  // namespace

namespace {

const char* kStyle = R"css(
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.chip{display:inline-block;padding:2px 8px;margin:2px;border-radius:10px;font-size:13px;color:#fff}
.flag{display:inline-block;padding:1px 6px;margin:1px;border-radius:4px;font-size:12px}
.flag.over{background:#fff3cd;border:1px solid #e0b000}
.flag.under{background:#f8d7da;border:1px solid #d62728}
.scroll{overflow:auto;border:1px solid #eee;max-height:80vh}
.muted{color:#777;font-size:12px}
.suggest{display:inline-block;padding:1px 6px;margin:1px;border-radius:4px;font-size:12px;background:#e8f4ea;border:1px solid #2e9e44}
h3{font-size:14px;margin:16px 0 2px} .job-usage svg{margin-right:12px}
)css";

void Summary(std::ostringstream& out, const nlohmann::json& wf, const nlohmann::json& data,
             size_t flagged) {
  double first = 0, last = 0, cpu = 0, reserved = 0;
  size_t attempts = 0, retried = 0;
  for (const auto& job : List(data, "jobs")) {
    const auto& list = List(job, "attempts");
    retried += list.size() > 1 ? 1 : 0;
    double cpus = Num(job, "num_cpus", 1) * std::max(1.0, Num(job, "num_nodes", 1));
    for (const auto& a : list) {
      ++attempts;
      double s = Num(a, "start_time"), e = Num(a, "end_time");
      if (s <= 0) continue;
      first = first == 0 ? s : std::min(first, s);
      last = std::max(last, e);
      if (report::CpuSeconds(a) > 0) cpu += report::CpuSeconds(a);
      reserved += cpus * std::max(0.0, e - s);
    }
  }
  out << "<table class=\"summary\">";
  auto row = [&](const std::string& k, const std::string& v) {
    out << "<tr><th>" << k << "</th><td>" << v << "</td></tr>";
  };
  row("workflow", HtmlEscape(std::to_string(static_cast<int64_t>(Num(wf, "workflow_id"))) + " — " +
                             Str(wf, "name")));
  row("owner", HtmlEscape(Str(wf, "owner")));
  row("file", HtmlEscape(Str(wf, "file_name")));
  row("submitted", Timestamp(Num(wf, "created_at")));
  row("jobs", std::to_string(static_cast<int64_t>(Num(wf, "total"))) +
                  (wf.value("complete", false) ? " (complete)" : " (not complete)"));
  row("attempts", std::to_string(attempts) + " (" + std::to_string(retried) + " jobs ran more than once)");
  row("first start / last end", Timestamp(first) + " / " + Timestamp(last));
  row("makespan", first > 0 ? FormatDuration(last - first) : "-");
  row("CPU time used / reserved",
      FormatDuration(cpu) + " / " + FormatDuration(reserved) +
          (reserved > 0 ? " (" + Percent(cpu / reserved) + ")" : ""));
  row("allocations", std::to_string(List(wf, "allocations").size()));
  row("jobs with flagged requests", std::to_string(flagged));
  out << "</table>\n<p class=\"counts\">";
  const auto& counts = wf.value("counts", nlohmann::json::object());
  for (const char* s : kStates) {
    double n = Num(counts, s);
    if (n > 0)
      out << "<span class=\"chip\" data-state=\"" << s << "\" style=\"background:" << StateColor(s)
          << "\">" << s << " " << static_cast<int64_t>(n) << "</span>";
  }
  out << "</p>\n";
}

/// The true figures of a job's judged attempt, against the request it ran with.
struct UsageRow {
  const nlohmann::json* job;
  std::vector<UsageFlag> flags;
};

void UsageRowHtml(std::ostringstream& out, const UsageRow& row) {
  const auto& job = *row.job;
  const nlohmann::json* a = report::MeasuredAttempt(job);
  const nlohmann::json& last = a ? *a : List(job, "attempts").back();
  report::AttemptRequest req = report::RequestOf(job, last);
  double wall = a ? report::Wall(*a) : -1;
  double cpu = a ? report::CpuSeconds(*a) : -1, peak = a ? report::PeakRss(*a) : -1;
  double cpus = req.num_cpus * report::NodesOf(job);
  std::string status = Str(job, "status");
  out << "<tr class=\"" << (row.flags.empty() ? "ok" : "flagged") << "\" data-job=\""
      << HtmlEscape(Str(job, "name")) << "\"><td>" << HtmlEscape(Str(job, "name"))
      << "</td><td><span class=\"chip\" style=\"background:" << StateColor(status) << "\">"
      << HtmlEscape(status) << "</span></td><td class=\"num\">" << List(job, "attempts").size()
      << "</td><td class=\"num\">" << (wall >= 0 ? FormatDuration(wall) : "-")
      << "</td><td class=\"num\">" << (cpu >= 0 ? FormatDuration(cpu) : "-")
      << "</td><td class=\"num\">" << Fixed(cpus, 0) << "</td><td class=\"num\">"
      << (cpu >= 0 && wall > 0 ? Percent(cpu / (cpus * wall)) : "-") << "</td><td class=\"num\">"
      << (peak >= 0 ? FormatBytes(peak) : "-") << "</td><td class=\"num\">"
      << (req.memory_bytes > 0 ? FormatBytes(req.memory_bytes) : "-") << "</td><td class=\"num\">"
      << (req.runtime_seconds > 0 ? FormatDuration(req.runtime_seconds) : "-") << "</td><td>";
  for (const auto& f : row.flags)
    out << "<span class=\"flag " << (f.over() ? "over" : "under") << "\" data-flag=\"" << f.kind
        << "\" title=\"" << HtmlEscape(f.message) << "\">" << f.kind << ": "
        << HtmlEscape(f.message) << "</span>";
  out << "</td><td>";
  std::vector<std::string> keys;  // one suggestion per key (a kill and a measurement may both say)
  for (const auto& f : row.flags) {
    const auto& sg = f.suggestion;
    if (sg.key.empty() || std::find(keys.begin(), keys.end(), sg.key) != keys.end()) continue;
    keys.push_back(sg.key);
    out << "<span class=\"suggest\" data-key=\"" << sg.key << "\" data-value=\""
        << Fixed(sg.value, 0) << "\">" << sg.key << ": " << HtmlEscape(sg.text) << "</span> ";
  }
  out << "</td></tr>\n";
}

void UsageTable(std::ostringstream& out, const nlohmann::json& data, const UsageThresholds& t) {
  std::vector<UsageRow> rows;
  for (const auto& job : List(data, "jobs"))
    if (!List(job, "attempts").empty()) rows.push_back({&job, JudgeUsage(job, t)});
  std::stable_sort(rows.begin(), rows.end(), [](const UsageRow& a, const UsageRow& b) {
    return a.flags.size() > b.flags.size();
  });
  constexpr size_t kMaxRows = 2000;
  out << "<p class=\"muted\">CPU and memory are judged by each job's last ended attempt with "
         "measurements, runtime by its completed attempts, each against the request it ran with. "
         "Over-request: CPU use below "
      << Percent(t.cpu_over_efficiency) << " of the CPUs asked for (2+ CPUs, runs of "
      << FormatDuration(t.cpu_min_wall_seconds) << " or more); peak memory below "
      << Percent(t.memory_over_fraction) << " of the request with "
      << FormatBytes(double(t.memory_over_min_bytes))
      << " or more unused; the longest run below " << Percent(t.runtime_over_fraction)
      << " of a runtime other than the default " << FormatDuration(t.runtime_default_seconds)
      << ", with " << FormatDuration(t.runtime_over_min_seconds)
      << " or more unused. Under-request: CPU use above " << Percent(t.cpu_under_efficiency)
      << ", peak memory at or above the request, wall time above the runtime, or killed for "
         "either. Suggested: memory and runtime "
      << Fixed(t.headroom, 1)
      << " × the largest measured (memory rounded up to 64 MiB below 1 GiB, else 512 MiB; runtime to "
         "a minute below 1 h, else 15 min), CPUs per node = CPU time of the busiest node / wall "
         "time, rounded up.</p>\n";
  if (rows.empty()) {
    out << "<p>No attempt has ended yet.</p>\n";
    return;
  }
  out << "<div class=\"scroll\"><table class=\"usage\"><tr><th>job</th><th>status</th>"
         "<th>attempts</th><th>wall</th><th>CPU time</th><th>CPUs</th><th>CPU use</th>"
         "<th>peak memory</th><th>memory asked</th><th>runtime asked</th><th>flags</th>"
         "<th>suggested request</th></tr>\n";
  for (size_t k = 0; k < rows.size() && k < kMaxRows; ++k) UsageRowHtml(out, rows[k]);
  out << "</table></div>\n";
  if (rows.size() > kMaxRows)
    out << "<p class=\"muted\">" << rows.size() - kMaxRows << " more jobs not listed.</p>\n";
}

/// The request lines of a job's chart: each distinct request with the attempts that ran with
/// it. A multi-node attempt's samples are summed over its nodes (docs/worker.md), so the line is
/// the request of all its nodes: memory x nodes, CPUs x nodes x 100 %.
std::vector<RequestLine> RequestLines(const nlohmann::json& job, ChartKind kind) {
  const double nodes = report::NodesOf(job);
  std::vector<std::pair<double, std::vector<int64_t>>> groups;
  for (const auto& a : List(job, "attempts")) {
    if (!a.contains("sample_series")) continue;
    report::AttemptRequest req = report::RequestOf(job, a);
    double v = (kind == ChartKind::kMemory ? req.memory_bytes : req.num_cpus * 100) * nodes;
    if (v <= 0) continue;  // no memory request: a per-CPU share, no line
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == v; });
    if (it == groups.end()) it = groups.insert(groups.end(), {v, {}});
    it->second.push_back(static_cast<int64_t>(Num(a, "attempt")));
  }
  std::vector<RequestLine> lines;
  for (const auto& [v, attempts] : groups) {
    std::string label = "request ";
    label += kind == ChartKind::kMemory ? FormatBytes(v) : Fixed(v, 0) + " %";
    if (nodes > 1) {
      label += " (" + Fixed(nodes, 0) + " nodes × ";
      label += kind == ChartKind::kMemory ? FormatBytes(v / nodes) : Fixed(v / nodes, 0) + " %";
      label += ")";
    }
    if (groups.size() > 1) {
      label += attempts.size() == 1 ? ", attempt " : ", attempts ";
      for (size_t k = 0; k < attempts.size(); ++k) {
        if (k) label += ", ";
        label += std::to_string(attempts[k]);
      }
    }
    lines.push_back({v, label});
  }
  return lines;
}

void UsageCharts(std::ostringstream& out, const nlohmann::json& data, const ReportOptions& options) {
  auto charted = ChartedAttempts(data, options);
  size_t with_samples = 0;
  for (const auto& job : List(data, "jobs"))
    for (const auto& a : List(job, "attempts"))
      if (Num(a, "samples") > 0) {
        ++with_samples;
        break;
      }
  if (charted.empty()) {
    out << "<p class=\"muted\">No attempt has samples: a workflow gets them with "
           "<code>resource_monitor: {granularity: time_series}</code>.</p>\n";
    return;
  }
  out << "<p class=\"muted\">Samples of each attempt's memory (RSS) and CPU use (100 % = one "
         "CPU) over the time since the attempt's start; the dashed line is the request it ran "
         "with (of all its nodes: a multi-node attempt's samples are summed over them; CPU: CPUs × 100 %).</p>\n";
  const auto& jobs = List(data, "jobs");
  size_t drawn = 0;
  for (size_t k = 0; k < charted.size();) {
    size_t j = charted[k].first;
    std::vector<SampleSeries> series;
    std::vector<int64_t> numbers;
    std::string counts;
    for (; k < charted.size() && charted[k].first == j; ++k) {
      const auto& a = jobs[j]["attempts"][charted[k].second];
      auto it = a.find("sample_series");
      if (it == a.end()) continue;  // not fetched
      series.push_back(ReadSampleSeries(*it));
      numbers.push_back(static_cast<int64_t>(Num(a, "attempt")));
      SeriesSummary sum = Summarize(series.back());
      if (!counts.empty()) counts += "; ";
      counts += "attempt " + std::to_string(numbers.back()) + ": ";
      counts += std::to_string(sum.count) + " samples every ";
      counts += FormatDuration(sum.interval_seconds) + ", peak ";
      counts += FormatBytes(sum.peak_rss_bytes) + ", peak CPU ";
      counts += Fixed(sum.peak_cpu_percent, 0) + " %";
    }
    if (series.empty()) continue;
    std::vector<ChartCurve> curves;
    for (size_t c = 0; c < series.size(); ++c) curves.push_back({numbers[c], &series[c]});
    const auto& job = jobs[j];
    out << "<div class=\"job-usage\" data-job=\"" << HtmlEscape(Str(job, "name")) << "\"><h3>"
        << HtmlEscape(Str(job, "name")) << "</h3><p class=\"muted\">" << HtmlEscape(counts)
        << "</p>" << RenderUsageChartSvg(ChartKind::kMemory, curves, RequestLines(job, ChartKind::kMemory))
        << RenderUsageChartSvg(ChartKind::kCpu, curves, RequestLines(job, ChartKind::kCpu))
        << "</div>\n";
    ++drawn;
  }
  if (with_samples > drawn)
    out << "<p class=\"muted\">" << with_samples - drawn
        << " more jobs with samples not drawn (at most " << options.max_chart_jobs
        << ", flagged jobs first).</p>\n";
}

}  // namespace

std::vector<std::pair<size_t, size_t>> ChartedAttempts(const nlohmann::json& data,
                                                       const ReportOptions& options) {
  struct Candidate {
    size_t job;
    bool flagged;
  };
  std::vector<Candidate> jobs;
  const auto& list = List(data, "jobs");
  for (size_t j = 0; j < list.size(); ++j)
    for (const auto& a : List(list[j], "attempts"))
      if (Num(a, "samples") > 0) {
        jobs.push_back({j, !JudgeUsage(list[j], options.thresholds).empty()});
        break;
      }
  std::stable_sort(jobs.begin(), jobs.end(),
                   [](const Candidate& a, const Candidate& b) { return a.flagged && !b.flagged; });
  if (jobs.size() > options.max_chart_jobs) jobs.resize(options.max_chart_jobs);
  std::vector<std::pair<size_t, size_t>> out;
  for (const auto& c : jobs) {
    const auto& attempts = List(list[c.job], "attempts");
    for (size_t k = 0; k < attempts.size(); ++k)
      if (Num(attempts[k], "samples") > 0) out.push_back({c.job, k});
  }
  return out;
}

std::string RenderReportHtml(const nlohmann::json& wf, const nlohmann::json& data,
                             const ReportOptions& options) {
  size_t flagged = 0;
  for (const auto& job : List(data, "jobs"))
    flagged += JudgeUsage(job, options.thresholds).empty() ? 0 : 1;
  std::ostringstream out;
  std::string title = "torc report: " + Str(wf, "name") + " (workflow " +
                      std::to_string(static_cast<int64_t>(Num(wf, "workflow_id"))) + ")";
  out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
      << HtmlEscape(title) << "</title><style>" << kStyle << "</style></head><body>\n<h1>"
      << HtmlEscape(title) << "</h1>\n<p class=\"muted\">Generated " << Timestamp(options.generated_at)
      << " by torc report. Self-contained: no network needed.</p>\n<h2>Summary</h2>\n";
  Summary(out, wf, data, flagged);
  out << "<h2>Timeline</h2>\n<p class=\"muted\">Every attempt per node (an attempt on several "
         "nodes has a bar on each; hover for details); colour by state. The legend counts jobs "
         "with an attempt in each state.</p>\n<div class=\"scroll\">"
      << RenderTimelineSvg(data) << "</div>\n<h2>Dependency graph</h2>\n";
  std::string dag = RenderDagSvg(data, options.max_dag_jobs);
  if (dag.empty())
    out << "<p class=\"muted\">Drawn for workflows of up to " << options.max_dag_jobs
        << " jobs; this one has " << List(data, "jobs").size() << ".</p>\n";
  else
    out << "<div class=\"scroll\">" << dag << "</div>\n";
  out << "<h2>Resource use against requests</h2>\n";
  UsageTable(out, data, options.thresholds);
  out << "<h2>Resource use over time</h2>\n";
  UsageCharts(out, data, options);
  out << "</body></html>\n";
  return out.str();
}

}  // namespace torc::server
