// Parameter expansion: turns each job, file and user_data template of a
// RawWorkflow into its concrete entries. References stay names here; resolve.h
// turns them into indices.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "spec/schema.h"

namespace torc::spec {

/// The references of one expanded job, as rendered names and patterns.
struct JobRefs {
  LString requirements, scheduler, failure_handler;
  std::array<std::vector<LString>, kNumRefLists> refs;
};

/// The result of expansion: a Plan whose jobs have names, commands and
/// settings but no resolved references yet, plus what resolution needs.
struct Expansion {
  Plan plan;
  std::vector<uint32_t> job_template;  // per job: index into RawWorkflow::jobs
  /// Per job: its own references when its template is parameterized; null means
  /// "the template's references as written" (shared, resolved once).
  std::vector<std::unique_ptr<JobRefs>> job_refs;
  std::vector<Loc> file_locs, user_data_locs;
  uint64_t max_regex_tests = UINT64_MAX;  // LoadOptions::max_regex_tests, for resolution
};

/// Expands every template of `wf`. Errors go to `diags`.
void Expand(const RawWorkflow& wf, const LoadOptions& options, Expansion* out,
            Diagnostics* diags);

}  // namespace torc::spec
