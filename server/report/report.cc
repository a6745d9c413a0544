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

/// The attempt a job is judged by: its last ended one with measurements.
const nlohmann::json* MeasuredAttempt(const nlohmann::json& job) {
  const nlohmann::json* found = nullptr;
  for (const auto& a : List(job, "attempts"))
    if (Num(a, "start_time") > 0 && Num(a, "end_time") >= Num(a, "start_time") &&
        (Num(a, "cpu_seconds", -1) >= 0 || Num(a, "peak_rss_bytes", -1) >= 0))
      found = &a;
  return found;
}

const char* kStates[] = {"blocked", "ready",    "claimed",    "running", "completed",
                         "failed",  "canceled", "terminated", "disabled"};

}  // namespace

std::vector<UsageFlag> JudgeUsage(const nlohmann::json& job, const UsageThresholds& t) {
  std::vector<UsageFlag> flags;
  // Killed for exceeding a request, in any attempt: that request was too small.
  bool killed_memory = false, killed_runtime = false;
  for (const auto& a : List(job, "attempts")) {
    std::string reason = Str(a, "reason");
    killed_memory = killed_memory || reason == "memory";
    killed_runtime = killed_runtime || reason == "runtime" || reason == "walltime";
  }
  const nlohmann::json* a = MeasuredAttempt(job);
  double cpus = Num(job, "num_cpus", 1) * std::max(1.0, Num(job, "num_nodes", 1));
  double memory = Num(job, "memory_bytes"), runtime = Num(job, "runtime_seconds");
  if (a) {
    double wall = Num(*a, "end_time") - Num(*a, "start_time");
    double cpu = Num(*a, "cpu_seconds", -1), peak = Num(*a, "peak_rss_bytes", -1);
    if (cpu >= 0 && wall >= t.cpu_min_wall_seconds && cpus > 0) {
      double eff = cpu / (cpus * wall);
      std::string used = "used " + Fixed(cpu / wall, 1) + " of " + Fixed(cpus, 0) + " CPUs (" +
                         Percent(eff) + ")";
      if (eff < t.cpu_over_efficiency && cpus >= 2) flags.push_back({"cpu-over", used});
      if (eff > t.cpu_under_efficiency) flags.push_back({"cpu-under", used});
    }
    if (peak >= 0 && memory > 0) {
      std::string used = "peak " + FormatBytes(peak) + " of " + FormatBytes(memory) + " (" +
                         Percent(peak / memory) + ")";
      if (peak > memory) flags.push_back({"memory-under", used});
      else if (peak < t.memory_over_fraction * memory &&
               memory - peak >= static_cast<double>(t.memory_over_min_bytes))
        flags.push_back({"memory-over", used});
    }
    if (runtime > 0 && Str(*a, "status") == "completed") {
      std::string used = "ran " + FormatDuration(wall) + " of " + FormatDuration(runtime) + " (" +
                         Percent(wall / runtime) + ")";
      if (wall > runtime) flags.push_back({"runtime-under", used});
    }
  }
  auto has = [&](const char* kind) {
    return std::any_of(flags.begin(), flags.end(), [&](const UsageFlag& f) { return f.kind == kind; });
  };
  if (killed_memory && !has("memory-under"))
    flags.push_back({"memory-under", "killed for exceeding its memory request"});
  if (killed_runtime && !has("runtime-under"))
    flags.push_back({"runtime-under", "killed for exceeding its runtime or the walltime"});
  return flags;
}

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
      if (Num(a, "cpu_seconds", -1) > 0) cpu += Num(a, "cpu_seconds");
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

void UsageTable(std::ostringstream& out, const nlohmann::json& data, const UsageThresholds& t) {
  struct Row {
    const nlohmann::json* job;
    std::vector<UsageFlag> flags;
  };
  std::vector<Row> rows;
  for (const auto& job : List(data, "jobs"))
    if (MeasuredAttempt(job) || !List(job, "attempts").empty())
      rows.push_back({&job, JudgeUsage(job, t)});
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.flags.size() > b.flags.size(); });
  constexpr size_t kMaxRows = 2000;
  out << "<p class=\"muted\">Judged by each job's last ended attempt with measurements. Over-request: "
         "CPU use below "
      << Percent(t.cpu_over_efficiency) << " of the CPUs asked for (2+ CPUs, runs of "
      << FormatDuration(t.cpu_min_wall_seconds) << " or more); peak memory below "
      << Percent(t.memory_over_fraction) << " of the request with " << FormatBytes(double(t.memory_over_min_bytes))
      << " or more unused. Under-request: CPU use above " << Percent(t.cpu_under_efficiency)
      << ", peak memory above the request, wall time above the runtime, or killed for either."
      << "</p>\n";
  if (rows.empty()) {
    out << "<p>No attempt has ended yet.</p>\n";
    return;
  }
  out << "<div class=\"scroll\"><table class=\"usage\"><tr><th>job</th><th>status</th>"
         "<th>attempts</th><th>wall</th><th>CPU time</th><th>CPUs</th><th>CPU use</th>"
         "<th>peak memory</th><th>memory asked</th><th>runtime asked</th><th>flags</th></tr>\n";
  for (size_t k = 0; k < rows.size() && k < kMaxRows; ++k) {
    const auto& job = *rows[k].job;
    const nlohmann::json* a = MeasuredAttempt(job);
    double wall = a ? Num(*a, "end_time") - Num(*a, "start_time") : -1;
    double cpu = a ? Num(*a, "cpu_seconds", -1) : -1, peak = a ? Num(*a, "peak_rss_bytes", -1) : -1;
    double cpus = Num(job, "num_cpus", 1) * std::max(1.0, Num(job, "num_nodes", 1));
    double memory = Num(job, "memory_bytes"), runtime = Num(job, "runtime_seconds");
    std::string status = Str(job, "status");
    out << "<tr class=\"" << (rows[k].flags.empty() ? "ok" : "flagged") << "\"><td>"
        << HtmlEscape(Str(job, "name")) << "</td><td><span class=\"chip\" style=\"background:"
        << StateColor(status) << "\">" << HtmlEscape(status) << "</span></td><td class=\"num\">"
        << List(job, "attempts").size() << "</td><td class=\"num\">"
        << (wall >= 0 ? FormatDuration(wall) : "-") << "</td><td class=\"num\">"
        << (cpu >= 0 ? FormatDuration(cpu) : "-") << "</td><td class=\"num\">" << Fixed(cpus, 0)
        << "</td><td class=\"num\">" << (cpu >= 0 && wall > 0 ? Percent(cpu / (cpus * wall)) : "-")
        << "</td><td class=\"num\">" << (peak >= 0 ? FormatBytes(peak) : "-")
        << "</td><td class=\"num\">" << (memory > 0 ? FormatBytes(memory) : "-")
        << "</td><td class=\"num\">" << (runtime > 0 ? FormatDuration(runtime) : "-") << "</td><td>";
    for (const auto& f : rows[k].flags)
      out << "<span class=\"flag " << (f.over() ? "over" : "under") << "\" data-flag=\"" << f.kind
          << "\" title=\"" << HtmlEscape(f.message) << "\">" << f.kind << ": "
          << HtmlEscape(f.message) << "</span>";
    out << "</td></tr>\n";
  }
  out << "</table></div>\n";
  if (rows.size() > kMaxRows)
    out << "<p class=\"muted\">" << rows.size() - kMaxRows << " more jobs not listed.</p>\n";
}

}  // namespace

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
  out << "</body></html>\n";
  return out.str();
}

}  // namespace torc::server
