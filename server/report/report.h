// The pictures and the report of a workflow, rendered from the JSON the API
// serves (GET /workflows/{id} and GET /workflows/{id}/attempts, see
// docs/api.md): an attempt timeline (SVG), the dependency graph of a small
// workflow (SVG), per-job resource use against the request, and the whole
// self-contained HTML page of `torc report`. Pure functions of their input;
// docs/dashboard.md describes the contents and the flag thresholds.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace torc::server {

/// When a job's use of what it asked for is flagged (docs/dashboard.md, "Flags").
struct UsageThresholds {
  /// CPU time / (num_cpus * num_nodes * wall time) below this, with 2+ CPUs: over-request.
  double cpu_over_efficiency = 0.5;
  /// ... above this: under-request (it used more CPUs than it asked for).
  double cpu_under_efficiency = 1.1;
  /// Attempts shorter than this are not judged on CPU (start-up dominates).
  double cpu_min_wall_seconds = 5;
  /// Peak memory below this fraction of the request, and at least
  /// memory_over_min_bytes unused: over-request. At or above the request (or killed
  /// for memory): under-request.
  double memory_over_fraction = 0.5;
  int64_t memory_over_min_bytes = 256LL << 20;
  /// The longest completed attempt below this fraction of the runtime request, with at least
  /// runtime_over_min_seconds unused: over-request. A request equal to the default (PT1H) is not
  /// judged: most files keep it. Above the request (or killed for runtime or the walltime):
  /// under-request.
  double runtime_over_fraction = 0.25;
  double runtime_over_min_seconds = 600;
  double runtime_default_seconds = 3600;
  /// A suggested memory or runtime is the true figure times this, rounded up to a tidy unit.
  double headroom = 1.2;
};

/// A request the report suggests instead of the one a flag is about.
struct SuggestedRequest {
  std::string key;    // the workflow file's key: "memory", "runtime" or "num_cpus"
  std::string text;   // as the file writes it: "4g", "PT15M", "3"
  double value = 0;   // bytes, seconds or CPUs
};

/// One finding about a job's requests.
struct UsageFlag {
  std::string kind;     // "cpu-over", "cpu-under", "memory-over", "memory-under",
                        // "runtime-over", "runtime-under"
  std::string message;  // e.g. "used 0.4 of 8 CPUs (5%)"
  SuggestedRequest suggestion;  // key empty: none (a kill without a measured figure)
  bool over() const { return kind.size() > 5 && kind.compare(kind.size() - 5, 5, "-over") == 0; }
};

/// Judges one job of the attempts JSON: the true figures of its attempts (peak_rss_bytes,
/// cpu_seconds, node_usage, wall time) against the request each ran with ("request", else the
/// job's), each flag with a suggested request.
std::vector<UsageFlag> JudgeUsage(const nlohmann::json& job, const UsageThresholds& thresholds = {});

/// "128m", "1.5g", "4g": `bytes` rounded up to 64 MiB below 1 GiB, else to 512 MiB.
SuggestedRequest SuggestMemory(double bytes);
/// "PT12M", "PT1H15M": `seconds` rounded up to a minute below 1 h, else to 15 min.
SuggestedRequest SuggestRuntime(double seconds);

/// An attempt's time series, as GET /workflows/W/jobs/J/attempts/A/samples answers it
/// (docs/api.md): samples at `t` seconds after the attempt's start.
struct SampleSeries {
  double interval_seconds = 0;
  std::vector<double> t, cpu_percent, rss_bytes;
  size_t size() const { return t.size(); }
};
/// Reads the samples answer; entries that are not {"t", "cpu_percent", "rss_bytes"} objects
/// (or [t, cpu_percent, rss_bytes] arrays) with numbers are skipped.
SampleSeries ReadSampleSeries(const nlohmann::json& answer);

/// What `torc jobs show` says about a series: its size and peaks.
struct SeriesSummary {
  size_t count = 0;
  double interval_seconds = 0, duration_seconds = 0;  // duration: the last sample's t
  double peak_rss_bytes = 0, peak_cpu_percent = 0;
};
SeriesSummary Summarize(const SampleSeries& series);

/// `values` as at most `width` block characters (U+2581..U+2588), each the maximum of its
/// share of the values, scaled from 0 to the largest value; "" when there are none.
std::string Sparkline(const std::vector<double>& values, size_t width = 40);

/// The request line of a chart: its value (bytes or CPU %) and the attempts it applies to.
struct RequestLine {
  double value = 0;
  std::string label;  // e.g. "request 1.0 GiB (attempt 1)"
};
/// One curve of a chart: an attempt's samples.
struct ChartCurve {
  int64_t attempt = 0;
  const SampleSeries* series = nullptr;
};
enum class ChartKind { kMemory, kCpu };
/// A line chart of RSS (MiB/GiB axis) or CPU % over seconds since each attempt's start, one
/// polyline per attempt, each request a dashed horizontal line, as an <svg> element.
std::string RenderUsageChartSvg(ChartKind kind, const std::vector<ChartCurve>& curves,
                                const std::vector<RequestLine>& requests);

/// The Gantt chart of every attempt per node (rows: nodes, colour: state), as
/// an <svg> element; running attempts end at the input's "now".
std::string RenderTimelineSvg(const nlohmann::json& attempts);

/// The dependency graph, in layers, nodes coloured by state, as an <svg>
/// element; "" when the input has no "parents" or more than max_jobs jobs.
std::string RenderDagSvg(const nlohmann::json& attempts, size_t max_jobs = 200);

/// What RenderReportHtml needs besides the API's JSON: thresholds, DAG size limit, time.
struct ReportOptions {
  UsageThresholds thresholds;
  size_t max_dag_jobs = 200;
  size_t max_chart_jobs = 100;  // jobs with samples drawn (flagged first); see ChartedAttempts
  double generated_at = 0;  // seconds since the epoch, shown in the footer
};

/// The attempts (job index in "jobs", attempt index in its "attempts") whose samples the report
/// draws: every attempt with "samples" > 0 of the first options.max_chart_jobs jobs that have
/// some, flagged jobs first. The caller fetches each and puts the samples answer in the
/// attempt as "sample_series" before RenderReportHtml.
std::vector<std::pair<size_t, size_t>> ChartedAttempts(const nlohmann::json& attempts,
                                                       const ReportOptions& options = {});

/// The whole report: one HTML file with inline CSS and SVG, no external references.
std::string RenderReportHtml(const nlohmann::json& workflow, const nlohmann::json& attempts,
                             const ReportOptions& options = {});

// Formatting shared by the renderers.
std::string HtmlEscape(const std::string& text);
std::string FormatDuration(double seconds);  // "0.5 s", "2 min 5 s", "3 h 2 min"
std::string FormatBytes(double bytes);       // "512 MiB"
/// The fill colour of a job or attempt state.
const char* StateColor(const std::string& state);
/// Node names of a Slurm host list: "n[1-3],m" -> n1 n2 n3 m (at most 4096 names).
std::vector<std::string> ExpandHostList(const std::string& list);

}  // namespace torc::server
