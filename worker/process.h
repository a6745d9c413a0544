// Starting, signalling and reaping job processes. Each job runs in its own
// process group, so a signal reaches everything the job started. The worker's
// loop sleeps in WaitForEvent until a child exits, a signal arrives or the
// timeout passes (SIGCHLD through a signalfd: no polling between jobs).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace torc::worker {

/// What to start.
struct LaunchSpec {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (and overriding) the worker's environment
  std::string cwd;
  std::string stdout_path, stderr_path;    // "" = /dev/null; equal paths share one file
  /// Variables of the worker's environment the process does not get (a trailing '*': a prefix).
  std::vector<std::string> unset;
  /// The process writes to this process's own stdout and stderr (the paths are not used):
  /// `torc job-exec` hands its step's output to the job unchanged.
  bool inherit_output = false;
};

/// What the processes of one process group use at one moment.
struct GroupUsage {
  int64_t rss_bytes = 0;   // resident memory, summed over the group's processes
  double cpu_seconds = 0;  // user + system time so far, with the children they waited for
};

/// One pass over all of /proc: what each process group uses now, and (when `members` is given)
/// which processes each group has.
std::map<pid_t, GroupUsage> ScanGroupUsage(std::map<pid_t, std::vector<pid_t>>* members = nullptr);

/// What the given process groups use now, without a pass over all of /proc each time: such a
/// pass reads every process of the machine (thousands where many nodes or users share it), and
/// the worker looks twice a second. A full pass finds each group's processes at most every
/// kFullPassSeconds (the first one kFullPassSeconds after the first look), or less often when a
/// pass costs more than 1/kFullPassCostShare of that time in CPU (the pass measures its own). In
/// between only the processes the last pass found and each group's leader are read; a process a
/// job starts is counted from the next full pass on, and a group new since the last pass (a job
/// just started) is read through its leader.
class GroupUsageReader {
 public:
  static constexpr double kFullPassSeconds = 2.0;
  static constexpr double kFullPassCostShare = 200;

  std::map<pid_t, GroupUsage> Read(const std::vector<pid_t>& groups, double now);
  size_t full_passes() const { return full_passes_; }

 private:
  std::map<pid_t, std::vector<pid_t>> members_;  // from the last full pass
  double next_full_pass_ = 0;
  size_t full_passes_ = 0;
};

/// How a process ended, with what it used (from wait4's rusage).
struct ProcessExit {
  pid_t pid = 0;
  int exit_code = 0;    // 128 + signal when killed by a signal
  int signal = 0;
  double cpu_seconds = 0;
  int64_t peak_rss_bytes = 0;
  double ended_at = 0;  // when the worker saw it end (seconds since the epoch; 0: not set)
};

/// Where a program named without a slash is on a PATH. execvpe tries each PATH directory in
/// turn, a failed execve each (a dozen per job with a long module or pyenv PATH, about as costly
/// as a small job's own start on some machines); the worker looks a program up once and execs
/// its full path. An entry is kept kKeepSeconds, so a program installed earlier on PATH later
/// is found within that time; a program that is gone or cannot run by its path falls back to
/// execvpe in the child, which then does what it always does.
class ProgramPaths {
 public:
  static constexpr double kKeepSeconds = 10;
  static constexpr size_t kMaxEntries = 1024;
  /// The full path, or nullptr: a name with a slash, a PATH with an empty or relative entry
  /// before the program (the job's own directory decides), or no executable file found.
  const std::string* Find(const std::string& name, const std::string& path_value, double now);

 private:
  struct Entry {
    std::string path;
    double until = 0;
  };
  std::map<std::string, Entry> found_;
};

/// Events the loop wakes up for.
struct WakeUp {
  std::vector<ProcessExit> exits;
  int signal = 0;  // SIGTERM/SIGINT/SIGUSR1 received by the worker, else 0
};

/// What the worker loop starts, signals and waits for its processes through: the real table
/// (SystemProcessTable) or a fake one that tests drive with a fake clock.
class ProcessTable {
 public:
  virtual ~ProcessTable() = default;
  /// Starts a process in a new process group; returns its pid, or -1 with *error.
  virtual pid_t Start(const LaunchSpec& spec, std::string* error) = 0;
  /// Sends `sig` to the whole process group of `pid`.
  virtual void Signal(pid_t pid, int sig) = 0;
  /// Sleeps until a child exits, a signal arrives, or `timeout_seconds` pass;
  /// reaps every exited child.
  virtual WakeUp WaitForEvent(double timeout_seconds) = 0;
  /// Memory and CPU time of these process groups (a group with no process left is absent).
  virtual std::map<pid_t, GroupUsage> UsageByGroup(const std::vector<pid_t>& groups,
                                                   double now) = 0;
};

/// The processes of this machine: fork/exec, a signalfd for SIGCHLD and the worker's own
/// signals, wait4 for exits, /proc for memory.
class SystemProcessTable : public ProcessTable {
 public:
  /// Blocks SIGCHLD/SIGTERM/SIGINT/SIGUSR1 and routes them to a signalfd.
  SystemProcessTable();
  ~SystemProcessTable() override;

  pid_t Start(const LaunchSpec& spec, std::string* error) override;
  void Signal(pid_t pid, int sig) override;
  WakeUp WaitForEvent(double timeout_seconds) override;
  /// Through a GroupUsageReader: a full pass over /proc only every few seconds.
  std::map<pid_t, GroupUsage> UsageByGroup(const std::vector<pid_t>& groups,
                                           double now) override {
    return usage_.Read(groups, now);
  }
  size_t running() const { return running_; }

 private:
  int signal_fd_ = -1;
  size_t running_ = 0;
  GroupUsageReader usage_;
  ProgramPaths programs_;
};

}  // namespace torc::worker
