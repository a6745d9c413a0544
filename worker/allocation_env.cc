// The real DiscoveryEnv (worker/allocation.h): the process environment,
// commands run with their stdout captured and a timeout, sysconf,
// /proc/meminfo and the hostname. Everything else in discovery is pure and
// lives in worker/allocation.cc.

#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "server/util/subprocess.h"
#include "worker/allocation.h"

namespace torc::worker {
namespace {

/// How long a command run by discovery (squeue, scontrol) may take before it is killed.
constexpr int kRunTimeoutSeconds = 10;

// Runs argv with stdout captured (stderr is dropped: warnings must not reach the parsers);
// killed after kRunTimeoutSeconds.
int RunCaptured(const std::vector<std::string>& argv, std::string* out) {
  std::string errors;
  return util::RunCaptured(argv, out, &errors, kRunTimeoutSeconds);
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
