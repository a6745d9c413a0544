// Lenient readers of the API's JSON shared by report.cc and report_svg.cc: a
// missing or mistyped field reads as a default instead of throwing.
#pragma once

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

namespace torc::server::report {

inline double Num(const nlohmann::json& j, const char* key, double fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

inline std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// The array under `key`, or an empty one.
inline const nlohmann::json& List(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

/// The request an attempt ran with: its "request" (R's key, -1 unknown), else the job's.
struct AttemptRequest {
  double memory_bytes = 0;     // per node; 0: not requested (a per-CPU share)
  double runtime_seconds = 0;  // 0: unknown
  double num_cpus = 1;         // per node
};
inline AttemptRequest RequestOf(const nlohmann::json& job, const nlohmann::json& attempt) {
  static const nlohmann::json kNone = nlohmann::json::object();
  auto it = attempt.find("request");
  const nlohmann::json& r = it != attempt.end() && it->is_object() ? *it : kNone;
  AttemptRequest out;
  out.memory_bytes = Num(r, "memory_bytes", -1);
  if (out.memory_bytes < 0) out.memory_bytes = Num(job, "memory_bytes");
  out.runtime_seconds = Num(r, "runtime_seconds", -1);
  if (out.runtime_seconds < 0) out.runtime_seconds = Num(job, "runtime_seconds");
  out.num_cpus = Num(r, "num_cpus", 0);
  if (out.num_cpus <= 0) out.num_cpus = Num(job, "num_cpus", 1);
  return out;
}

/// The nodes a job runs on (at least 1).
inline double NodesOf(const nlohmann::json& job) { return std::max(1.0, Num(job, "num_nodes", 1)); }

/// An attempt's peak RSS: the larger of "peak_rss_bytes" and its nodes' ("node_usage"); -1 unknown.
inline double PeakRss(const nlohmann::json& attempt) {
  double peak = Num(attempt, "peak_rss_bytes", -1);
  for (const auto& n : List(attempt, "node_usage")) peak = std::max(peak, Num(n, "peak_rss_bytes", -1));
  return peak;
}

/// An attempt's CPU time: "cpu_seconds" (the sum over its nodes), else the sum of its
/// "node_usage"; -1 unknown.
inline double CpuSeconds(const nlohmann::json& attempt) {
  double cpu = Num(attempt, "cpu_seconds", -1);
  if (cpu >= 0) return cpu;
  for (const auto& n : List(attempt, "node_usage"))
    if (Num(n, "cpu_seconds", -1) >= 0) cpu = std::max(cpu, 0.0) + Num(n, "cpu_seconds");
  return cpu;
}

/// The CPU time of the attempt's busiest node: the largest "node_usage" entry, else
/// CpuSeconds / nodes; -1 unknown.
inline double BusiestNodeCpuSeconds(const nlohmann::json& attempt, double nodes) {
  double busiest = -1;
  for (const auto& n : List(attempt, "node_usage")) busiest = std::max(busiest, Num(n, "cpu_seconds", -1));
  if (busiest >= 0) return busiest;
  double cpu = CpuSeconds(attempt);
  return cpu < 0 ? -1 : cpu / nodes;
}

inline double Wall(const nlohmann::json& a) { return Num(a, "end_time") - Num(a, "start_time"); }

inline bool Ended(const nlohmann::json& a) {
  return Num(a, "start_time") > 0 && Num(a, "end_time") >= Num(a, "start_time");
}

/// The attempt a job's CPU and memory use are judged by: its last ended one with measurements.
inline const nlohmann::json* MeasuredAttempt(const nlohmann::json& job) {
  const nlohmann::json* found = nullptr;
  for (const auto& a : List(job, "attempts"))
    if (Ended(a) && (CpuSeconds(a) >= 0 || PeakRss(a) >= 0)) found = &a;
  return found;
}

/// Ticks for a span of seconds: 1, 2, 5, 10, 15, 30 s, 1 min, ... (at most about 8 per span).
double NiceTimeStep(double span);

/// The string of printf-style `format`.
std::string Printf(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace torc::server::report
