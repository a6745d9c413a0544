#include "worker/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>

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
  dup2(c.devnull, 0);
  dup2(c.out, 1);
  dup2(c.err, 2);
  if (c.cwd && chdir(c.cwd) != 0) {
    static const char kMsg[] = "torc: cannot enter the job's working directory\n";
    (void)!write(2, kMsg, sizeof kMsg - 1);
    _exit(126);
  }
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
  ChildSetup child{open("/dev/null", O_RDONLY), out, err,
                   spec.cwd.empty() ? nullptr : spec.cwd.c_str(), argv.data(), envp.data()};
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

std::map<pid_t, GroupUsage> ScanGroupUsage() {
  std::map<pid_t, GroupUsage> total;
  DIR* proc = opendir("/proc");
  if (!proc) return total;
  static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  char path[300], line[1024];
  while (dirent* d = readdir(proc)) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%s/stat", d->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    if (n <= 0) continue;
    line[n] = '\0';
    // Fields after "(comm)" (which may hold spaces and parentheses): state(3) ppid pgrp(5) ...
    // utime(14) stime cutime cstime(17) ... rss(24), 1-based.
    const char* p = std::strrchr(line, ')');
    if (!p) continue;
    ++p;
    long pgrp = 0;
    double ticks = 0, rss = 0;
    for (int field = 3; field <= 24 && *p; ++field) {
      while (*p == ' ') ++p;
      char* end = nullptr;
      if (field == 5) pgrp = std::strtol(p, &end, 10);
      else if (field >= 14 && field <= 17) ticks += std::strtod(p, &end);
      else if (field == 24) rss = std::strtod(p, &end);
      while (*p && *p != ' ') ++p;
    }
    GroupUsage& g = total[static_cast<pid_t>(pgrp)];
    g.rss_bytes += static_cast<int64_t>(rss * page);
    g.cpu_seconds += ticks / tick;
  }
  closedir(proc);
  return total;
}

}  // namespace torc::worker
