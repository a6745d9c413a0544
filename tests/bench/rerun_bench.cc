// Benchmark of the up-to-date check of `torc run` again (docs/rerun.md): a sweep pipeline of N
// jobs (prep -> train_{i} reading prep's output and writing model_{i} -> report after every
// train), unchanged, every job completed. One check is what the server does for an update:
// parse the stored text and the new text, check the scope, decide the reruns (none).
//
//   rerun_bench [N] [REPEATS]   default 100000 jobs, 5 repeats
//
// Prints one JSON line: jobs, repeats, median_seconds, min_seconds, max_seconds (the whole
// check), median_compare_seconds (scope and rule alone, both plans parsed) and
// median_server_seconds (the new text parsed, then compared: the stored plan is in memory).
// Exits non-zero when the check finds anything out of date (it must find nothing).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "server/rerun.h"

namespace {

std::string PipelineYaml(long trains) {
  std::string n = std::to_string(trains);
  return "name: sweep_pipeline\n"
         "files:\n"
         "  - {name: raw, path: data/raw.csv}\n"
         "  - {name: clean, path: out/clean.csv}\n"
         "  - {name: 'model_{i}', path: 'models/m{i:06d}.bin', parameters: {i: \"1:" + n + "\"}}\n"
         "jobs:\n"
         "  - {name: prep, command: python prep.py data/raw.csv, input_files: [raw],"
         " output_files: [clean]}\n"
         "  - name: train_{i}\n"
         "    command: python train.py --index {i} --out models/m{i:06d}.bin\n"
         "    input_files: [clean]\n"
         "    output_files: ['model_{i}']\n"
         "    parameters: {i: \"1:" + n + "\"}\n"
         "  - name: report\n"
         "    command: python report.py models\n"
         "    depends_on_regexes: ['^train_\\d+$']\n";
}

}  // namespace

int main(int argc, char** argv) {
  long jobs = argc > 1 ? std::atol(argv[1]) : 100000;
  int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  if (jobs < 3 || repeats < 1) {
    std::fprintf(stderr, "usage: rerun_bench [N >= 3] [REPEATS >= 1]\n");
    return 2;
  }
  const std::string text = PipelineYaml(jobs - 2);
  const torc::server::FileStamps stamps{{"data/raw.csv", {1234, 1700000000123456789, ""}}};
  const std::set<std::string> missing;
  // The whole check; the comparison alone; what the server does (it holds the stored plan in
  // memory: it parses only the new text, then compares).
  std::vector<double> times, compare_times, server_times;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto stored = torc::spec::ParsePlan(text, "stored.yaml");
    auto t_stored = std::chrono::steady_clock::now();
    auto now = torc::spec::ParsePlan(text, "pipeline.yaml");
    if (!stored.ok() || !now.ok()) {
      std::fprintf(stderr, "the benchmark's workflow does not parse\n");
      return 1;
    }
    auto t1 = std::chrono::steady_clock::now();
    std::string scope = torc::server::UpdateScopeProblem(*stored.plan, *now.plan);
    std::vector<torc::server::JobDynamic> states(now.plan->jobs.size(),
                                                 {torc::server::JobStatus::kCompleted, 1});
    torc::server::RerunFacts facts{&*stored.plan, &*now.plan, &stamps, &stamps, &missing, &states};
    torc::server::RerunDecision d = torc::server::DecideReruns(facts);
    auto t2 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double>(t2 - t0).count());
    compare_times.push_back(std::chrono::duration<double>(t2 - t1).count());
    server_times.push_back(std::chrono::duration<double>(t2 - t_stored).count());
    if (!scope.empty() || !d.rerun.empty() || now.plan->jobs.size() != static_cast<size_t>(jobs)) {
      std::fprintf(stderr, "the unchanged workflow is not up to date: %s, %zu reruns, %zu jobs\n",
                   scope.c_str(), d.rerun.size(), now.plan->jobs.size());
      return 1;
    }
  }
  std::sort(times.begin(), times.end());
  std::sort(compare_times.begin(), compare_times.end());
  std::sort(server_times.begin(), server_times.end());
  std::printf("{\"jobs\": %ld, \"repeats\": %d, \"median_seconds\": %.3f, \"min_seconds\": %.3f, "
              "\"max_seconds\": %.3f, \"median_compare_seconds\": %.3f, "
              "\"median_server_seconds\": %.3f}\n",
              jobs, repeats, times[times.size() / 2], times.front(), times.back(),
              compare_times[compare_times.size() / 2], server_times[server_times.size() / 2]);
  return 0;
}
