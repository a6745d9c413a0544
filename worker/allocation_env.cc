// The real DiscoveryEnv (worker/allocation.h): the process environment,
// commands run with their stdout captured and a timeout, sysconf,
// /proc/meminfo and the hostname. Everything else in discovery is pure and
// lives in worker/allocation.cc.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "worker/allocation.h"

namespace torc::worker {
namespace {

/// How long a command run by discovery (squeue, scontrol) may take before it is killed.
constexpr int kRunTimeoutSeconds = 10;

using Clock = std::chrono::steady_clock;

// Reads fd to EOF into *out; false if the deadline passed first.
bool ReadUntil(int fd, Clock::time_point deadline, std::string* out) {
  char buf[4096];
  while (true) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return true;
    if (r == 0) continue;  // the deadline check above ends the loop
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EOF: the child (and anything it started) closed stdout
    out->append(buf, static_cast<size_t>(n));
  }
}

// Reaps pid, killing it at the deadline (it may have closed stdout and lived on).
// Returns its exit code, 128+signal, or -1 when killed or lost.
int WaitUntil(pid_t pid, Clock::time_point deadline) {
  int status = 0;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return -1;
    }
    if (r == 0) usleep(5000);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Runs argv with stdin from /dev/null and stdout captured; kills it after
// kRunTimeoutSeconds. Returns the exit code, 128+signal, or -1 when it could
// not be started or timed out.
int RunCaptured(const std::vector<std::string>& argv, std::string* out) {
  out->clear();
  if (argv.empty()) return -1;
  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid == 0) {
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  if (devnull >= 0) close(devnull);
  if (pid < 0) {
    close(fds[0]);
    return -1;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(kRunTimeoutSeconds);
  bool finished = ReadUntil(fds[0], deadline, out);
  close(fds[0]);
  return WaitUntil(pid, finished ? deadline : Clock::now());
}

int64_t MachineMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t value = 0;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemTotal:") return value * 1024;  // reported in kB
  }
  long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<int64_t>(pages) * page_size : 0;
}

std::string Hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

DiscoveryEnv DiscoveryEnv::Real() {
  DiscoveryEnv env;
  env.getenv = [](const char* name) -> const char* { return std::getenv(name); };
  env.run = RunCaptured;
  env.machine_cpus = []() -> int64_t {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
  };
  env.machine_memory_bytes = MachineMemoryBytes;
  env.hostname = Hostname;
  return env;
}

}  // namespace torc::worker
