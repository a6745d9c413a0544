#include "worker/usage.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace torc::worker {

using nlohmann::json;

void UsageRecorder::Begin(double start, double interval) {
  start_ = last_time_ = start;
  interval_ = interval;
  next_sample_ = start + interval;
  last_cpu_ = 0;
  peak_rss_ = 0;
  samples_.clear();
}

void UsageRecorder::Observe(double now, const GroupUsage& usage) {
  peak_rss_ = std::max(peak_rss_, usage.rss_bytes);
  if (!SampleDue(now)) return;
  const double span = now - last_time_;
  double cpu_percent = span > 0 ? (usage.cpu_seconds - last_cpu_) / span * 100 : 0;
  // A process leaving the group takes its CPU time with it: never a negative share.
  samples_.push_back({now - start_, std::max(0.0, cpu_percent), usage.rss_bytes});
  last_time_ = now;
  last_cpu_ = usage.cpu_seconds;
  // The next one on the interval's grid, without catching up samples a late look missed.
  next_sample_ += interval_;
  if (next_sample_ <= now) next_sample_ = now + interval_;
}

std::string UsageReportPrefix(const std::string& job_output_dir, uint32_t id, uint32_t attempt) {
  std::string prefix = job_output_dir + "/usage/";
  prefix += std::to_string(id);
  prefix += '.';
  prefix += std::to_string(attempt);
  return prefix;
}

std::string UsageReportPath(const std::string& prefix, const std::string& node) {
  std::string path = prefix + ".";
  path += node;
  path += ".json";
  return path;
}

bool WriteNodeUsageReport(const std::string& path, const NodeUsageReport& r, std::string* error) {
  json samples = json::array();
  for (const auto& s : r.samples) samples.push_back(json::array({s.t, s.cpu_percent, s.rss_bytes}));
  const json j = {{"node", r.node},
                  {"peak_rss_bytes", r.peak_rss_bytes},
                  {"cpu_seconds", r.cpu_seconds},
                  {"memory_killed", r.memory_killed},
                  {"started_at", r.started_at},
                  {"exit_code", r.exit_code},
                  {"slurm_signal", r.slurm_signal},
                  {"runtime_killed", r.runtime_killed},
                  {"samples", samples}};
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  out << j.dump();
  out.close();
  if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot write " + path;
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<NodeUsageReport> ReadNodeUsageReport(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    NodeUsageReport r;
    r.node = j.value("node", "");
    r.peak_rss_bytes = j.value("peak_rss_bytes", int64_t{-1});
    r.cpu_seconds = j.value("cpu_seconds", -1.0);
    r.memory_killed = j.value("memory_killed", false);
    r.started_at = j.value("started_at", 0.0);
    r.exit_code = j.value("exit_code", -1);
    r.slurm_signal = j.value("slurm_signal", 0);
    r.runtime_killed = j.value("runtime_killed", false);
    for (const auto& s : j.value("samples", json::array()))
      r.samples.push_back({s.at(0).get<double>(), s.at(1).get<double>(), s.at(2).get<int64_t>()});
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string FileTail(const std::string& path, size_t max_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size > static_cast<off_t>(max_bytes) ? size - static_cast<off_t>(max_bytes) : 0;
  std::string text(static_cast<size_t>(size - from), '\0');
  ssize_t n = size > 0 ? pread(fd, text.data(), text.size(), from) : 0;
  close(fd);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return text;
}

bool CgroupSawOomKill() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    // "0::/path" (v2) or "N:memory:/path" (v1).
    const size_t first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string dir = line.substr(second + 1);
    std::string file = controllers.empty() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
    if (!controllers.empty() && controllers != "memory") continue;
    file += dir;
    file += controllers.empty() ? "/memory.events" : "/memory.oom_control";
    std::ifstream events(file);
    std::string key;
    int64_t count = 0;
    while (events >> key >> count)
      if (key == "oom_kill" && count > 0) return true;
  }
  return false;
}

}  // namespace torc::worker
