// libFuzzer target for the workflow file reader: parse, expand, resolve and validate arbitrary
// bytes as YAML, JSON, JSON5 and KDL (spec/plan.h ParsePlan). Any crash, leak, sanitizer report,
// hang or out-of-memory is a bug; a refused file must come back with at least one error.
//
// Input: one byte picks the format ('J': JSON, '5': JSON5, 'K': KDL, anything else: YAML), the
// rest is the file text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "spec/plan.h"

torc::spec::LoadOptions FuzzLimits() {
  torc::spec::LoadOptions o;
  o.max_jobs = 20000;
  o.max_parameter_values = 20000;
  o.max_combinations = 100000;
  o.max_data_values = 20000;
  o.max_regex_tests = 2'000'000;
  return o;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto format = data[0] == 'J'   ? torc::spec::Format::kJson
                      : data[0] == '5' ? torc::spec::Format::kJson5
                      : data[0] == 'K' ? torc::spec::Format::kKdl
                                       : torc::spec::Format::kYaml;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The default limits (10 million jobs, ...) are deliberate capacities, not bugs: reaching them
  // under ASan takes minutes. Small limits keep each input fast and still exercise the checks.
  const torc::spec::LoadOptions options = FuzzLimits();
  torc::spec::LoadResult result = torc::spec::ParsePlan(
      text,
      format == torc::spec::Format::kJson    ? "fuzz.json"
      : format == torc::spec::Format::kJson5 ? "fuzz.json5"
      : format == torc::spec::Format::kKdl   ? "fuzz.kdl"
                                             : "fuzz.yaml",
      format, options);
  if (result.ok() == !result.errors.empty()) std::abort();  // exactly one of plan and errors
  for (const auto& e : result.errors)
    if (e.message.empty()) std::abort();
  if (result.ok()) {
    const auto& plan = *result.plan;
    if (plan.jobs.empty() || plan.jobs.size() > options.max_jobs) std::abort();
    for (const auto& job : plan.jobs) {
      // Every reference resolved into range.
      if (job.requirements != torc::spec::kNone && job.requirements >= plan.resource_requirements.size())
        std::abort();
      if (job.scheduler != torc::spec::kNone && job.scheduler >= plan.schedulers.size()) std::abort();
      if (job.failure_handler != torc::spec::kNone && job.failure_handler >= plan.failure_handlers.size())
        std::abort();
      for (auto p : plan.AllParents(job))
        if (p >= plan.jobs.size()) std::abort();
    }
    (void)plan.DependencyCount();
  }
  return 0;
}
