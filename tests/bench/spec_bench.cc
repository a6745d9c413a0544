// Benchmark of the workflow loader: a 1,000,000-job sweep and a 10k x 10k
// all-to-all dependency. One case per process so peak memory is per case.
//
//   spec_bench sweep [N]        expand and plan an N-job sweep (default 1e6)
//   spec_bench all_to_all [N]   N jobs each depending on a regex matching N jobs
//   spec_bench baseline_sweep [N]  the floor: snprintf the same N names and commands
//
// Prints one JSON line: case, jobs, dependencies, seconds, peak_rss_mib.
// Exits non-zero if the plan is not what the case must produce.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "spec/plan.h"

namespace {

double PeakRssMiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

std::string SweepYaml(long n) {
  return "name: sweep\n"
         "jobs:\n"
         "  - name: job_{i}\n"
         "    command: python run.py --index {i} --out /scratch/out_{i:07d}.dat\n"
         "    parameters:\n"
         "      i: \"1:" + std::to_string(n) + "\"\n";
}

std::string AllToAllYaml(long n) {
  return "name: all_to_all\n"
         "jobs:\n"
         "  - name: stage1_{i}\n"
         "    command: produce {i}\n"
         "    parameters:\n"
         "      i: \"1:" + std::to_string(n) + "\"\n"
         "  - name: stage2_{i}\n"
         "    command: consume {i}\n"
         "    depends_on_regexes: ['^stage1_\\d+$']\n"
         "    parameters:\n"
         "      i: \"1:" + std::to_string(n) + "\"\n";
}

int Report(const char* name, size_t jobs, uint64_t deps, double seconds) {
  std::printf("{\"case\": \"%s\", \"jobs\": %zu, \"dependencies\": %llu, \"seconds\": %.3f, "
              "\"peak_rss_mib\": %.1f}\n",
              name, jobs, static_cast<unsigned long long>(deps), seconds, PeakRssMiB());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spec_bench sweep|all_to_all|baseline_sweep [N]\n");
    return 2;
  }
  std::string which = argv[1];
  long n = argc > 2 ? std::atol(argv[2]) : (which == "all_to_all" ? 10000 : 1000000);
  auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  if (which == "baseline_sweep") {
    std::vector<std::string> names, commands;
    names.reserve(static_cast<size_t>(n));
    commands.reserve(static_cast<size_t>(n));
    char buf[256];
    for (long i = 1; i <= n; ++i) {
      std::snprintf(buf, sizeof buf, "job_%ld", i);
      names.emplace_back(buf);
      std::snprintf(buf, sizeof buf, "python run.py --index %ld --out /scratch/out_%07ld.dat", i, i);
      commands.emplace_back(buf);
    }
    return Report("baseline_sweep", names.size(), 0, seconds());
  }
  std::string text = which == "sweep" ? SweepYaml(n) : AllToAllYaml(n);
  torc::spec::LoadOptions options;
  options.max_jobs = 100'000'000;
  torc::spec::LoadResult r = torc::spec::ParsePlan(text, which + ".yaml",
                                                   torc::spec::Format::kYaml, options);
  double s = seconds();
  if (!r.ok()) {
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
    return 1;
  }
  const torc::spec::Plan& plan = *r.plan;
  uint64_t deps = plan.DependencyCount();
  if (which == "sweep") {
    char expect[128];
    std::snprintf(expect, sizeof expect, "python run.py --index %ld --out /scratch/out_%07ld.dat", n, n);
    if (plan.jobs.size() != static_cast<size_t>(n) || plan.jobs.back().command != expect) {
      std::fprintf(stderr, "wrong plan: %zu jobs, last command '%s'\n", plan.jobs.size(),
                   plan.jobs.back().command.c_str());
      return 1;
    }
  } else if (which == "all_to_all") {
    if (plan.jobs.size() != static_cast<size_t>(2 * n) ||
        deps != static_cast<uint64_t>(n) * static_cast<uint64_t>(n) ||
        plan.dependency_groups.size() != 1) {
      std::fprintf(stderr, "wrong plan: %zu jobs, %llu dependencies, %zu groups\n",
                   plan.jobs.size(), static_cast<unsigned long long>(deps),
                   plan.dependency_groups.size());
      return 1;
    }
  } else {
    std::fprintf(stderr, "unknown case %s\n", which.c_str());
    return 2;
  }
  return Report(which.c_str(), plan.jobs.size(), deps, s);
}
