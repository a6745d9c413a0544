// The pictures and the report of a workflow, rendered from the JSON the API
// serves (GET /workflows/{id} and GET /workflows/{id}/attempts, see
// docs/api.md): an attempt timeline (SVG), the dependency graph of a small
// workflow (SVG), per-job resource use against the request, and the whole
// self-contained HTML page of `torc report`. Pure functions of their input;
// docs/dashboard.md describes the contents and the flag thresholds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace torc::server {

/// When a job's use of what it asked for is flagged (docs/dashboard.md).
struct UsageThresholds {
  /// CPU time / (num_cpus * num_nodes * wall time) below this, with 2+ CPUs: over-request.
  double cpu_over_efficiency = 0.5;
  /// ... above this: under-request (it used more CPUs than it asked for).
  double cpu_under_efficiency = 1.1;
  /// Attempts shorter than this are not judged on CPU (start-up dominates).
  double cpu_min_wall_seconds = 5;
  /// Peak memory below this fraction of the request, and at least
  /// memory_over_min_bytes unused: over-request. Above the request (or killed
  /// for memory): under-request.
  double memory_over_fraction = 0.5;
  int64_t memory_over_min_bytes = 256LL << 20;
  // Runtime: wall time above the request (or killed for runtime/walltime) is an
  // under-request. A short run is not flagged: most files leave the 1 h default.
};

/// One finding about a job's requests.
struct UsageFlag {
  std::string kind;     // "cpu-over", "cpu-under", "memory-over", "memory-under", "runtime-under"
  std::string message;  // e.g. "used 0.4 of 8 CPUs (5%)"
  bool over() const { return kind.size() > 5 && kind.compare(kind.size() - 5, 5, "-over") == 0; }
};

/// Judges one job of the attempts JSON by its last ended attempt with measurements.
std::vector<UsageFlag> JudgeUsage(const nlohmann::json& job, const UsageThresholds& thresholds = {});

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
  double generated_at = 0;  // seconds since the epoch, shown in the footer
};

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
