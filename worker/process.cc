#include "worker/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <ctime>

extern char** environ;

namespace torc::worker {
namespace {

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  // SIGUSR2: torc's stop relayed by srun to job-exec (worker/job_exec.h); a worker takes it
  // as a stop.
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  return set;
}

/// Everything the child needs, prepared before it exists.
struct ChildSetup {
  int devnull, out, err;
  const char* cwd;
  char* const* argv;
  char* const* envp;
  const char* resolved;  // argv[0]'s full path found on PATH (ProgramPaths), or nullptr
};

// vfork: the worker may be large (an embedded server, many threads), and
// copying its page tables for every job would cost more than the job. The
// child only makes system calls before exec, as posix_spawn's does.
pid_t SpawnChild(const ChildSetup& c) {
  sigset_t set = HandledSignals();
  pid_t pid = vfork();
  if (pid != 0) return pid;
  setpgid(0, 0);
  // If the worker dies (kill -9, node failure), its jobs die with it rather
  // than run on unaccounted while the server gives them to someone else.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  // A process that serves ignores SIGPIPE (the connection guard, also in `torc run`) and may
  // ignore SIGXFSZ, and an ignored signal stays ignored across exec: the job gets the defaults
  // (`yes | head` ends). vfork does not share the handler table: the worker's stay as they are.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  sigaction(SIGXFSZ, &dfl, nullptr);
  dup2(c.devnull, 0);
  dup2(c.out, 1);
  dup2(c.err, 2);
  if (c.cwd && chdir(c.cwd) != 0) {
    static const char kMsg[] = "torc: cannot enter the job's working directory\n";
    (void)!write(2, kMsg, sizeof kMsg - 1);
    _exit(126);
  }
  // The full path first; if it is gone or cannot run as it is, execvpe does what it always does.
  if (c.resolved) execve(c.resolved, c.argv, c.envp);
  execvpe(c.argv[0], c.argv, c.envp);
  // As bash reports it: 127 when there is no such program, 126 when it cannot be executed.
  const bool missing = errno == ENOENT || errno == ENOTDIR;
  static const char kPrefix[] = "torc: cannot run '";
  static const char kMissing[] = "': command not found\n";
  static const char kDenied[] = "': not executable\n";
  (void)!write(2, kPrefix, sizeof kPrefix - 1);
  (void)!write(2, c.argv[0], strlen(c.argv[0]));
  if (missing) (void)!write(2, kMissing, sizeof kMissing - 1);
  else (void)!write(2, kDenied, sizeof kDenied - 1);
  _exit(missing ? 127 : 126);
}

double MonotonicSeconds() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

int OpenOutput(const std::string& path) {
  if (path.empty()) return open("/dev/null", O_WRONLY);
  return open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
}

}  // namespace

SystemProcessTable::SystemProcessTable() {
  sigset_t set = HandledSignals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

SystemProcessTable::~SystemProcessTable() {
  if (signal_fd_ >= 0) close(signal_fd_);
}

pid_t SystemProcessTable::Start(const LaunchSpec& spec, std::string* error) {
  // Everything the child needs is prepared before fork: no allocation after it.
  std::vector<std::string> env_strings;
  auto dropped = [&spec](const std::string& key) {
    for (const auto& u : spec.unset) {
      if (!u.empty() && u.back() == '*' ? key.compare(0, u.size() - 1, u, 0, u.size() - 1) == 0
                                        : key == u)
        return true;
    }
    return false;
  };
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (!spec.env.count(key) && !dropped(key)) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out = spec.inherit_output ? dup(1) : OpenOutput(spec.stdout_path);
  int err = spec.inherit_output                   ? dup(2)
            : spec.stderr_path == spec.stdout_path ? dup(out)
                                                   : OpenOutput(spec.stderr_path);
  if (out < 0 || err < 0) {
    *error = "cannot open the output files (" + spec.stdout_path + ", " + spec.stderr_path +
             "): " + std::strerror(errno);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    return -1;
  }
  const char* path_value = nullptr;
  for (const auto& kv : env_strings)
    if (kv.compare(0, 5, "PATH=") == 0) path_value = kv.c_str() + 5;
  const std::string* resolved =
      path_value && !args.empty() ? programs_.Find(args[0], path_value, MonotonicSeconds()) : nullptr;
  ChildSetup child{open("/dev/null", O_RDONLY), out, err,
                   spec.cwd.empty() ? nullptr : spec.cwd.c_str(), argv.data(), envp.data(),
                   resolved ? resolved->c_str() : nullptr};
  pid_t pid = SpawnChild(child);
  int saved = errno;
  close(out);
  close(err);
  close(child.devnull);
  if (pid < 0) {
    *error = std::string("fork failed: ") + std::strerror(saved);
    return -1;
  }
  setpgid(pid, pid);  // also from the parent, so a signal right away reaches the group
  ++running_;
  return pid;
}

void SystemProcessTable::Signal(pid_t pid, int sig) {
  if (pid > 0) kill(-pid, sig);
}

WakeUp SystemProcessTable::WaitForEvent(double timeout_seconds) {
  WakeUp w;
  auto reap = [&] {
    while (true) {
      int status = 0;
      rusage ru{};
      pid_t pid = wait4(-1, &status, WNOHANG, &ru);
      if (pid <= 0) break;
      ProcessExit e;
      e.pid = pid;
      if (WIFEXITED(status)) {
        e.exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        e.signal = WTERMSIG(status);
        e.exit_code = 128 + e.signal;
      }
      e.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      e.peak_rss_bytes = static_cast<int64_t>(ru.ru_maxrss) * 1024;
      if (running_ > 0) --running_;
      w.exits.push_back(e);
    }
  };
  reap();
  if (!w.exits.empty()) return w;
  pollfd pfd{signal_fd_, POLLIN, 0};
  int ms = timeout_seconds <= 0 ? 0 : static_cast<int>(timeout_seconds * 1000) + 1;
  poll(&pfd, 1, ms);
  signalfd_siginfo info{};
  while (read(signal_fd_, &info, sizeof info) == sizeof info) {
    if (info.ssi_signo != SIGCHLD) w.signal = static_cast<int>(info.ssi_signo);
  }
  reap();
  return w;
}

namespace {

/// One process's /proc/PID/stat: its group, memory and CPU time. False if it is gone.
bool ReadProcessStat(const char* pid, pid_t* pgrp, GroupUsage* usage) {
  static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  char path[300], line[1024];
  std::snprintf(path, sizeof path, "/proc/%s/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, line, sizeof line - 1);
  close(fd);
  if (n <= 0) return false;
  line[n] = '\0';
  // Fields after "(comm)" (which may hold spaces and parentheses): state(3) ppid pgrp(5) ...
  // utime(14) stime cutime cstime(17) ... rss(24), 1-based.
  const char* p = std::strrchr(line, ')');
  if (!p) return false;
  ++p;
  long group = 0;
  double ticks = 0, rss = 0;
  for (int field = 3; field <= 24 && *p; ++field) {
    while (*p == ' ') ++p;
    char* end = nullptr;
    if (field == 5) group = std::strtol(p, &end, 10);
    else if (field >= 14 && field <= 17) ticks += std::strtod(p, &end);
    else if (field == 24) rss = std::strtod(p, &end);
    while (*p && *p != ' ') ++p;
  }
  *pgrp = static_cast<pid_t>(group);
  usage->rss_bytes = static_cast<int64_t>(rss * page);
  usage->cpu_seconds = ticks / tick;
  return true;
}

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

}  // namespace

std::map<pid_t, GroupUsage> ScanGroupUsage(std::map<pid_t, std::vector<pid_t>>* members) {
  std::map<pid_t, GroupUsage> total;
  DIR* proc = opendir("/proc");
  if (!proc) return total;
  while (dirent* d = readdir(proc)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    pid_t pgrp = 0;
    GroupUsage one;
    if (!ReadProcessStat(d->d_name, &pgrp, &one)) continue;
    GroupUsage& g = total[pgrp];
    g.rss_bytes += one.rss_bytes;
    g.cpu_seconds += one.cpu_seconds;
    if (members) (*members)[pgrp].push_back(static_cast<pid_t>(std::atol(d->d_name)));
  }
  closedir(proc);
  return total;
}

const std::string* ProgramPaths::Find(const std::string& name, const std::string& path_value,
                                      double now) {
  if (name.empty() || name.find('/') != std::string::npos) return nullptr;
  std::string key = path_value;
  key += '\0';
  key += name;
  auto it = found_.find(key);
  if (it != found_.end() && now < it->second.until) return &it->second.path;
  std::string full;
  size_t from = 0;
  while (from <= path_value.size()) {
    size_t colon = path_value.find(':', from);
    if (colon == std::string::npos) colon = path_value.size();
    const std::string dir = path_value.substr(from, colon - from);
    from = colon + 1;
    // An empty or relative entry is taken from the job's own directory: left to execvpe.
    if (dir.empty() || dir[0] != '/') return nullptr;
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      full = std::move(candidate);
      break;
    }
  }
  if (full.empty()) return nullptr;  // execvpe says what is wrong
  if (found_.size() > kMaxEntries) found_.clear();
  Entry& e = found_[key];
  e.path = std::move(full);
  e.until = now + kKeepSeconds;
  return &e.path;
}

std::map<pid_t, GroupUsage> GroupUsageReader::Read(const std::vector<pid_t>& groups, double now) {
  std::map<pid_t, GroupUsage> out;
  if (groups.empty()) return out;
  // The first pass waits a full interval too: a job's first looks read its leader, and a
  // `torc job-exec` that ends within the interval (most) never reads all of /proc.
  if (next_full_pass_ == 0) next_full_pass_ = now + kFullPassSeconds;
  if (now >= next_full_pass_) {
    const double cpu_before = ThreadCpuSeconds();
    std::map<pid_t, std::vector<pid_t>> all;
    std::map<pid_t, GroupUsage> usage = ScanGroupUsage(&all);
    const double cost = ThreadCpuSeconds() - cpu_before;
    ++full_passes_;
    next_full_pass_ = now + std::max(kFullPassSeconds, cost * kFullPassCostShare);
    members_.clear();
    for (pid_t g : groups) {
      auto u = usage.find(g);
      if (u == usage.end()) continue;
      out[g] = u->second;
      members_[g] = std::move(all[g]);
    }
    return out;
  }
  char pid_text[24];
  for (pid_t g : groups) {
    auto known = members_.find(g);
    std::vector<pid_t> leader_only{g};
    std::vector<pid_t>& pids = known != members_.end() ? known->second : leader_only;
    if (std::find(pids.begin(), pids.end(), g) == pids.end()) pids.push_back(g);
    GroupUsage sum;
    bool any = false;
    for (pid_t pid : pids) {
      std::snprintf(pid_text, sizeof pid_text, "%d", static_cast<int>(pid));
      pid_t pgrp = 0;
      GroupUsage one;
      // A pid that ended may have been reused by a process of another group: not counted.
      if (!ReadProcessStat(pid_text, &pgrp, &one) || pgrp != g) continue;
      any = true;
      sum.rss_bytes += one.rss_bytes;
      sum.cpu_seconds += one.cpu_seconds;
    }
    if (any) out[g] = sum;
  }
  // Groups that ended are forgotten with the next full pass.
  return out;
}

}  // namespace torc::worker
