// Over- and under-requests: a job's true figures (peak RSS, CPU time, wall time, per node
// when known) against the request each attempt ran with, and the request to ask for instead.
#include <algorithm>
#include <cmath>

#include "server/report/report.h"
#include "server/report/report_internal.h"

namespace torc::server {

using report::List;
using report::Num;
using report::Printf;
using report::Str;
using report::Ended;
using report::MeasuredAttempt;
using report::Wall;

namespace {

std::string Percent(double fraction) { return Printf("%.0f%%", fraction * 100); }

/// What every attempt of a job says, beyond the judged one.
struct History {
  double max_peak = -1;            // the highest peak RSS of any ended attempt
  double max_completed_wall = -1;  // the longest completed attempt
  // Killed for exceeding a request: the largest of the killed attempts' figure and request.
  bool killed_memory = false, killed_runtime = false;
  double killed_memory_at = -1, killed_runtime_at = -1;
};

History ReadHistory(const nlohmann::json& job) {
  History h;
  for (const auto& a : List(job, "attempts")) {
    if (!Ended(a)) continue;
    report::AttemptRequest req = report::RequestOf(job, a);
    h.max_peak = std::max(h.max_peak, report::PeakRss(a));
    if (Str(a, "status") == "completed") h.max_completed_wall = std::max(h.max_completed_wall, Wall(a));
    std::string reason = Str(a, "reason");
    if (reason == "memory") {
      h.killed_memory = true;
      h.killed_memory_at = std::max({h.killed_memory_at, report::PeakRss(a),
                                     req.memory_bytes > 0 ? req.memory_bytes : -1.0});
    }
    if (reason == "runtime" || reason == "walltime") {
      h.killed_runtime = true;
      h.killed_runtime_at = std::max({h.killed_runtime_at, Wall(a), req.runtime_seconds});
    }
  }
  return h;
}

SuggestedRequest SuggestCpus(double cpus) {
  double n = std::max(1.0, std::ceil(cpus - 1e-9));
  return {"num_cpus", Printf("%.0f", n), n};
}

}  // namespace

SuggestedRequest SuggestMemory(double bytes) {
  constexpr double kMiB = 1 << 20, kGiB = 1 << 30;
  double step = bytes <= kGiB ? 64 * kMiB : 512 * kMiB;
  double v = std::max(step, std::ceil(bytes / step - 1e-9) * step);
  std::string text = v < kGiB               ? Printf("%.0fm", v / kMiB)
                     : std::fmod(v, kGiB) == 0 ? Printf("%.0fg", v / kGiB)
                                               : Printf("%.1fg", v / kGiB);
  return {"memory", text, v};
}

SuggestedRequest SuggestRuntime(double seconds) {
  double step = seconds <= 3600 ? 60 : 900;
  double v = std::max(step, std::ceil(seconds / step - 1e-9) * step);
  int64_t h = static_cast<int64_t>(v) / 3600, m = static_cast<int64_t>(v) % 3600 / 60;
  std::string text = "PT";
  if (h) text += std::to_string(h) + "H";
  if (m) text += std::to_string(m) + "M";
  return {"runtime", text, v};
}

std::vector<UsageFlag> JudgeUsage(const nlohmann::json& job, const UsageThresholds& t) {
  std::vector<UsageFlag> flags;
  History h = ReadHistory(job);
  const nlohmann::json* a = MeasuredAttempt(job);
  const double nodes = report::NodesOf(job);
  if (a) {
    report::AttemptRequest req = report::RequestOf(job, *a);
    double wall = Wall(*a), cpus = req.num_cpus * nodes;
    double cpu = report::CpuSeconds(*a), peak = report::PeakRss(*a);
    if (cpu >= 0 && wall >= t.cpu_min_wall_seconds && cpus > 0) {
      double eff = cpu / (cpus * wall);
      std::string used = Printf("used %.1f of %.0f CPUs (", cpu / wall, cpus) + Percent(eff) + ")";
      // CPUs are asked per node: the busiest node decides.
      SuggestedRequest s = SuggestCpus(report::BusiestNodeCpuSeconds(*a, nodes) / wall);
      if (eff < t.cpu_over_efficiency && cpus >= 2) flags.push_back({"cpu-over", used, s});
      if (eff > t.cpu_under_efficiency) flags.push_back({"cpu-under", used, s});
    }
    if (peak >= 0 && req.memory_bytes > 0) {
      std::string used = "peak " + FormatBytes(peak) + " of " + FormatBytes(req.memory_bytes) +
                         " (" + Percent(peak / req.memory_bytes) + ")";
      SuggestedRequest s = SuggestMemory(std::max(peak, h.max_peak) * t.headroom);
      if (peak >= req.memory_bytes) flags.push_back({"memory-under", used, s});
      else if (peak < t.memory_over_fraction * req.memory_bytes &&
               req.memory_bytes - peak >= static_cast<double>(t.memory_over_min_bytes))
        flags.push_back({"memory-over", used, s});
    }
  }
  // Runtime: the completed attempts (a failed one may have stopped early).
  const nlohmann::json* done = nullptr;
  for (const auto& x : List(job, "attempts"))
    if (Ended(x) && Str(x, "status") == "completed") done = &x;
  if (done) {
    double runtime = report::RequestOf(job, *done).runtime_seconds, wall = Wall(*done);
    std::string used = "ran " + FormatDuration(wall) + " of " + FormatDuration(runtime) + " (" +
                       (runtime > 0 ? Percent(wall / runtime) : std::string("-")) + ")";
    if (runtime > 0 && wall > runtime)
      flags.push_back({"runtime-under", used, SuggestRuntime(h.max_completed_wall * t.headroom)});
    else if (runtime > 0 && runtime != t.runtime_default_seconds &&
             h.max_completed_wall < t.runtime_over_fraction * runtime &&
             runtime - h.max_completed_wall >= t.runtime_over_min_seconds)
      flags.push_back({"runtime-over", "longest " + used,
                       SuggestRuntime(h.max_completed_wall * t.headroom)});
  }
  auto has = [&](const char* kind) {
    return std::any_of(flags.begin(), flags.end(), [&](const UsageFlag& f) { return f.kind == kind; });
  };
  if (h.killed_memory && !has("memory-under")) {
    // Killed at the request: the true need is above it, by how much is not known.
    double need = std::max(h.killed_memory_at, h.max_peak);
    flags.push_back({"memory-under", "killed for exceeding its memory request",
                     need > 0 ? SuggestMemory(need * t.headroom) : SuggestedRequest{}});
  }
  if (h.killed_runtime && !has("runtime-under")) {
    double need = std::max(h.killed_runtime_at, h.max_completed_wall);
    flags.push_back({"runtime-under", "killed for exceeding its runtime or the walltime",
                     need > 0 ? SuggestRuntime(need * t.headroom) : SuggestedRequest{}});
  }
  return flags;
}

}  // namespace torc::server
