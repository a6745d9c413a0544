// What a job used: its peak memory and CPU time on each node and, when the workflow asks for a
// time series (resource_monitor), samples of CPU % and RSS. Direct mode measures in the worker
// (wait4 and /proc); slurm mode measures inside the step, where `torc job-exec` runs the command
// and leaves one small file per node (NodeUsageReport) that the worker reads when srun ends.
// Documented in docs/worker.md, "What a job used".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/protocol/messages.h"
#include "worker/process.h"

namespace torc::worker {

/// The peak memory and the samples of one job on one node, from what its process group uses
/// at the moments the caller looks (GroupUsage).
class UsageRecorder {
 public:
  /// Starts at `start` (seconds since the epoch); a sample is due every `interval` seconds
  /// after it (0: no samples, only the peak).
  void Begin(double start, double interval);
  /// Whether a sample is due at `now`.
  bool SampleDue(double now) const { return interval_ > 0 && now >= next_sample_; }
  /// When the next sample is due (a large number when none will be).
  double next_sample() const { return interval_ > 0 ? next_sample_ : 1e300; }
  /// Takes what the job's processes use at `now`: the peak, and a sample when one is due.
  void Observe(double now, const GroupUsage& usage);
  int64_t peak_rss_bytes() const { return peak_rss_; }
  std::vector<protocol::ResourceSample>& samples() { return samples_; }
  const std::vector<protocol::ResourceSample>& samples() const { return samples_; }

 private:
  double start_ = 0, interval_ = 0, next_sample_ = 0;
  double last_time_ = 0, last_cpu_ = 0;
  int64_t peak_rss_ = 0;
  std::vector<protocol::ResourceSample> samples_;
};

/// What `torc job-exec` measured of a job on its node, handed to the worker in a file.
struct NodeUsageReport {
  std::string node;
  int64_t peak_rss_bytes = -1;
  double cpu_seconds = -1;
  /// torc's memory limit killed the job, or the kernel's OOM killer did (the step's cgroup).
  bool memory_killed = false;
  double started_at = 0;  // when the command started (seconds since the epoch)
  std::vector<protocol::ResourceSample> samples;  // t: seconds since started_at
  /// The command's exit status, what job-exec exited with (-1: unknown, a report written
  /// before job-exec told it).
  int exit_code = -1;
  /// The first signal job-exec received (from Slurm: srun forwarding torc's stop, scancel, a
  /// preemption) and passed to the command; 0: none.
  int slurm_signal = 0;
  /// job-exec's own runtime limit (--runtime-limit) stopped the command.
  bool runtime_killed = false;
};

/// The file prefix `torc job-exec --report` gets for an attempt: <dir>/usage/<id>.<attempt>.
std::string UsageReportPrefix(const std::string& job_output_dir, uint32_t id, uint32_t attempt);
/// The file of one node: <prefix>.<node>.json.
std::string UsageReportPath(const std::string& prefix, const std::string& node);
/// Writes `report` to `path` (through a temporary file and a rename); false with *error.
bool WriteNodeUsageReport(const std::string& path, const NodeUsageReport& report,
                          std::string* error);
/// Reads a node's file; nullopt when it is missing or unreadable.
std::optional<NodeUsageReport> ReadNodeUsageReport(const std::string& path);

/// The last `max_bytes` of the file at `path` ("" when it cannot be read).
std::string FileTail(const std::string& path, size_t max_bytes);

/// Whether the kernel's OOM killer killed a process of this process's cgroup (memory.events of
/// cgroup v2, memory.oom_control of v1); false when neither can be read.
bool CgroupSawOomKill();

}  // namespace torc::worker
