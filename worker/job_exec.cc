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
  // The runtime limit: the termination signal at `deadline`, SIGKILL at `kill_at` (0: not yet).
  const double deadline = o.runtime_limit_seconds > 0 ? start + o.runtime_limit_seconds : 1e300;
  double kill_at = 0;
  int first_signal = 0;
  ProcessExit exit;
  while (true) {
    const double now = WallNow();
    double wake = std::min({next_check, usage.next_sample(), kill_at > 0 ? kill_at : deadline});
    WakeUp w = table.WaitForEvent(std::max(0.0, wake - now));
    // Slurm signals the step's tasks (scancel, a preemption, torc's stop through srun): the
    // job runs in its own process group and gets them from here. The first one is reported:
    // the worker tells a stop of its own from Slurm's by it.
    if (w.signal == SIGUSR2 && o.stop_via_usr2) {
      table.Signal(pid, o.term_signal);  // torc's stop, not Slurm's: not reported as a signal
    } else if (w.signal) {
      table.Signal(pid, w.signal);
      if (!first_signal) first_signal = w.signal;
    }
    if (const double at = WallNow(); kill_at == 0 && at >= deadline) {
      table.Signal(pid, o.term_signal);
      kill_at = at + std::max(0.0, o.kill_after_seconds);
    } else if (kill_at > 0 && at >= kill_at) {
      table.Signal(pid, SIGKILL);
      kill_at = 1e300;
    }
    auto own = std::find_if(w.exits.begin(), w.exits.end(),
                            [pid](const ProcessExit& e) { return e.pid == pid; });
    if (own != w.exits.end()) {
      exit = *own;
      break;
    }
    const double at = WallNow();
    if (at < next_check && !usage.SampleDue(at)) continue;
    if (at >= next_check) next_check = at + check_every;
    const auto groups = table.UsageByGroup({pid}, at);
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
  report.exit_code = killed_for_memory ? o.oom_exit_code : exit.exit_code;
  report.slurm_signal = first_signal;
  report.runtime_killed = kill_at > 0 && !killed_for_memory;
  if (!o.report_prefix.empty() &&
      !WriteNodeUsageReport(UsageReportPath(o.report_prefix, report.node), report, &error))
    std::fprintf(stderr, "torc job-exec: %s\n", error.c_str());
  return report.exit_code;
}

}  // namespace torc::worker
