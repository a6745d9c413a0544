#include "worker/job_exec.h"

#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "worker/process.h"
#include "worker/usage.h"

namespace torc::worker {
namespace {

double WallNow() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

std::string NodeName() {
  if (const char* node = std::getenv("SLURMD_NODENAME"); node && *node) return node;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

// How often the job's processes are looked at when no sample is due: often enough for the
// memory limit to catch a job that grows (as the worker's own check in direct mode), and for
// the peak of a job that runs for more than a moment.
constexpr double kMemoryCheckSeconds = 0.5;
constexpr double kPeakCheckSeconds = 1.0;

}  // namespace

int RunJobExec(const JobExecOptions& o) {
  SystemProcessTable table;
  LaunchSpec spec;
  spec.argv = o.argv;
  spec.inherit_output = true;
  const double start = WallNow();
  std::string error;
  const pid_t pid = table.Start(spec, &error);
  if (pid < 0) {
    std::fprintf(stderr, "torc job-exec: cannot start the job: %s\n", error.c_str());
    return 127;
  }
  UsageRecorder usage;
  usage.Begin(start, o.sample_interval_seconds);
  const double check_every = o.memory_limit_bytes > 0 ? kMemoryCheckSeconds : kPeakCheckSeconds;
  double next_check = start + check_every;
  bool killed_for_memory = false;
  ProcessExit exit;
  while (true) {
    const double now = WallNow();
    WakeUp w = table.WaitForEvent(std::max(0.0, std::min(next_check, usage.next_sample()) - now));
    // Slurm signals the step's tasks (scancel, --signal, the runtime limit through srun): the
    // job runs in its own process group and gets them from here.
    if (w.signal) table.Signal(pid, w.signal);
    auto own = std::find_if(w.exits.begin(), w.exits.end(),
                            [pid](const ProcessExit& e) { return e.pid == pid; });
    if (own != w.exits.end()) {
      exit = *own;
      break;
    }
    const double at = WallNow();
    if (at < next_check && !usage.SampleDue(at)) continue;
    if (at >= next_check) next_check = at + check_every;
    const auto groups = table.UsageByGroup();
    const auto group = groups.find(pid);
    if (group == groups.end()) continue;
    usage.Observe(at, group->second);
    if (o.memory_limit_bytes > 0 && !killed_for_memory &&
        group->second.rss_bytes > o.memory_limit_bytes) {
      table.Signal(pid, SIGKILL);
      killed_for_memory = true;
    }
  }
  NodeUsageReport report;
  report.node = NodeName();
  report.peak_rss_bytes = std::max(usage.peak_rss_bytes(), exit.peak_rss_bytes);
  report.cpu_seconds = exit.cpu_seconds;
  report.started_at = start;
  // Killed by torc's limit, or by the kernel for the step's cgroup limit (Slurm's).
  report.memory_killed =
      killed_for_memory || (exit.signal == SIGKILL && CgroupSawOomKill());
  report.samples = std::move(usage.samples());
  if (!o.report_prefix.empty() &&
      !WriteNodeUsageReport(UsageReportPath(o.report_prefix, report.node), report, &error))
    std::fprintf(stderr, "torc job-exec: %s\n", error.c_str());
  return killed_for_memory ? o.oom_exit_code : exit.exit_code;
}

}  // namespace torc::worker
